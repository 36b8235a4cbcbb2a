"""Fuzzing the guard with Hypothesis-generated custom-resource events, valid and malformed.

Properties: every event gets exactly one well-formed response (the whole contract checked
by :func:`contract_violations`), and a Delete never answers FAILED unless FailOnError is
true. ``JOBJANITOR_FUZZ_EXAMPLES`` sets the size: small in ``make test``, 1,000+ in
``make bench``.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jobjanitor.errors import ConfigError
from jobjanitor.guard.config import GuardConfig, physical_id
from jobjanitor_testbed.cfn import ResponseReceiver, contract_violations, custom_resource_event, stack_id
from jobjanitor_testbed.guard_driver import invoke, lambda_permissions, polling_rules

EXAMPLES = int(os.environ.get("JOBJANITOR_FUZZ_EXAMPLES", "120"))

text = st.text(min_size=0, max_size=40)
junk = st.one_of(
    text,
    st.integers(-5, 10_000),
    st.booleans(),
    st.none(),
    st.lists(text, max_size=3),
    st.dictionaries(text, text, max_size=2),
)


def prop_values(neptune_url: str) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "NeptuneEndpoint": st.one_of(st.just(neptune_url), st.just("http://127.0.0.1:9"), st.just("ftp://x"), junk),
        "NeptuneIamRoleArn": st.one_of(st.just("arn:aws:iam::123456789012:role/neptune-ml"), junk),
        "Kinds": st.one_of(
            st.just("all"),
            st.just("neptune-loader,neptune-ml-training"),
            st.just("glue-ml-task-run"),
            st.just("neptune-ml-transform,spark"),
            junk,
        ),
        "JobIdPrefix": st.one_of(st.just("stack-a-"), text, junk),
        "JobIds": st.one_of(st.lists(st.just("stack-a-1"), max_size=2), junk),
        "GlueTransformIds": st.one_of(st.just(["tfm-1"]), st.just("tfm-1,tfm-2"), junk),
        "GlueRegion": st.one_of(st.just("us-east-1"), st.just("moon-1"), junk),
        "Clean": st.one_of(st.sampled_from(["true", "false", "TRUE", "maybe"]), junk),
        "MaxWaitSeconds": st.one_of(st.sampled_from(["1", "2", "900", "0", "99999", "abc"]), junk),
        "FailOnError": st.one_of(st.sampled_from(["true", "false", "yes", "nope"]), junk),
        "Preflight": st.one_of(st.sampled_from(["true", "false"]), junk),
        "ServiceTimeout": st.one_of(st.sampled_from(["3600", "120", "30"]), junk),
        "Colour": text,
    }


@st.composite
def events(draw: st.DrawFn, neptune_url: str) -> dict[str, Any]:
    values = prop_values(neptune_url)
    keys = draw(st.sets(st.sampled_from(sorted(values)), max_size=len(values)))
    props = {key: draw(values[key]) for key in keys}
    request_type = draw(st.sampled_from(["Create", "Update", "Delete", "Delete", "Destroy"]))
    stack = stack_id()
    event = custom_resource_event(
        request_type if request_type != "Destroy" else "Create",
        props,
        response_url="http://placeholder",
        stack=stack,
        physical_id="placeholder" if request_type in ("Update", "Delete") else None,
    )
    event["RequestType"] = request_type
    if request_type in ("Update", "Delete", "Destroy"):
        own = None
        with contextlib.suppress(ConfigError):  # invalid properties have no id of their own
            GuardConfig.from_properties(event["ResourceProperties"])
            own = physical_id(event)
        choices = [f"jobjanitor-guard-failed-{'0' * 16}", "consumer_Guard_ABCDEFGH"] + ([own] if own else [])
        event["PhysicalResourceId"] = draw(st.sampled_from(choices))
    if draw(st.integers(0, 9)) == 0:  # occasionally break the envelope too
        event.pop(draw(st.sampled_from(["StackId", "LogicalResourceId", "ResourceProperties"])))
    return event


def _fail_on_error(event: dict[str, Any]) -> bool:
    """FailOnError as CloudFormation users can write it: "true"/"yes"/"1"/"on" (any case), or a
    JSON true; anything unreadable counts as false."""
    props = event.get("ResourceProperties")
    value = props.get("FailOnError") if isinstance(props, dict) else None
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "on")


def test_every_event_gets_exactly_one_well_formed_response(guard_env: Any, receiver: ResponseReceiver) -> None:
    testbed = guard_env
    seen = {"n": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=os.environ.get("JOBJANITOR_FUZZ_RANDOM") != "1",
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(event=events(testbed.neptune_url))
    def check(event: dict[str, Any]) -> None:
        event["ResponseURL"] = receiver.url_for(event["RequestId"])
        invoke(event, timeout=30)
        responses = receiver.responses(event["RequestId"])
        assert len(responses) == 1, f"{len(responses)} responses for {event['RequestType']}"
        problems = contract_violations(responses[0])
        assert problems == [], problems
        body = responses[0].body
        for key in ("StackId", "RequestId", "LogicalResourceId"):
            assert body[key] == str(event.get(key, ""))
        if event["RequestType"] == "Delete" and body["Status"] == "FAILED":
            assert _fail_on_error(event), f"Delete answered FAILED without FailOnError: {body['Reason']}"
        if event["RequestType"] == "Delete" and event.get("PhysicalResourceId"):
            assert body["PhysicalResourceId"] == event["PhysicalResourceId"]
        seen["n"] += 1

    check()
    # Hypothesis runs exactly max_examples valid examples (no filters here): all of them ran.
    assert seen["n"] >= EXAMPLES
    report = os.environ.get("JOBJANITOR_FUZZ_REPORT")
    if report:  # `make bench` reads how many events were checked
        with open(report, "w") as out:
            out.write(str(seen["n"]))
    assert polling_rules() == []
    assert lambda_permissions() == []
