"""The neptune-ml-endpoint kind against the test bed (real clients, real HTTP): discover, describe
(Neptune's Get, then SageMaker's DescribeEndpoint), delete outcomes, and the policy that scopes it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from jobjanitor.clients import Clients
from jobjanitor.config import parse_kinds
from jobjanitor.errors import ConfigError
from jobjanitor.kinds import make_kind
from jobjanitor.model import JobKindName, JobRef, Outcome
from jobjanitor.policy import Policy
from jobjanitor_testbed.clock import FakeClock
from jobjanitor_testbed.server import TestBed

ENDPOINT = JobKindName.NEPTUNE_ML_ENDPOINT
START = 1_700_000_000.0


@pytest.fixture
def endpoints(make_policy: Callable[..., Policy], make_clients: Callable[[Policy], Clients]) -> object:
    policy = make_policy(kinds="neptune-ml-endpoint", job_id_prefix="*")
    return make_kind(ENDPOINT, policy, make_clients(policy))


def _ref(bed: TestBed, endpoint_id: str) -> JobRef:
    return JobRef(ENDPOINT, endpoint_id, bed.neptune_url)


def test_discover_lists_every_endpoint_and_reports_the_cap(aws_env: TestBed, endpoints: object) -> None:
    bed = aws_env
    for i in range(3):
        bed.neptune.seed_ml_endpoint(f"ep-{i}")
    found = endpoints.discover()  # type: ignore[attr-defined]
    assert [r.job_id for r in found.refs] == ["ep-2", "ep-1", "ep-0"]
    assert found.capped == []
    for i in range(3, 1024):
        bed.neptune.seed_ml_endpoint(f"ep-{i}")
    capped = endpoints.discover()  # type: ignore[attr-defined]
    assert len(capped.refs) == 1024
    assert capped.capped == [
        "neptune-ml-endpoint: ListMLEndpoints returned its cap of 1024 ids; other endpoints cannot be seen"
    ]


def test_describe_dates_by_the_sagemaker_endpoint(
    aws_env: TestBed, endpoints: object, testbed_clock: FakeClock
) -> None:
    bed = aws_env
    bed.neptune.seed_ml_endpoint("old", created_at=START - 3 * 86400)
    state = endpoints.describe(_ref(bed, "old"))  # type: ignore[attr-defined]
    assert (state.status, state.outstanding) == ("InService", True)
    assert state.started_at == datetime.fromtimestamp(START, UTC) - timedelta(days=3)
    assert [u.member for u in state.underlying] == ["endpoint", "endpointConfig"]
    assert state.underlying[0].name == "old-endpoint"
    assert bed.aws_log.count(operation="DescribeEndpoint") == 1


def test_a_sagemaker_endpoint_gone_is_finished_whatever_neptune_says(
    aws_env: TestBed, endpoints: object, sagemaker_client: object
) -> None:
    bed = aws_env
    bed.neptune.seed_ml_endpoint("orphan", status="InService")
    sagemaker_client.delete_endpoint(EndpointName="orphan-endpoint")  # type: ignore[attr-defined]
    state = endpoints.describe(_ref(bed, "orphan"))  # type: ignore[attr-defined]
    assert (state.status, state.outstanding) == ("Deleted", False)
    assert endpoints.is_finished("Deleted")  # type: ignore[attr-defined]


def test_describe_of_an_unknown_endpoint_is_gone(aws_env: TestBed, endpoints: object) -> None:
    state = endpoints.describe(_ref(aws_env, "nope"))  # type: ignore[attr-defined]
    assert (state.status, state.outstanding) == (None, False)


@pytest.mark.parametrize("style", ["400", "404"])
def test_delete_outcomes(aws_env: TestBed, endpoints: object, testbed_clock: FakeClock, style: str) -> None:
    bed = aws_env
    bed.neptune.ml_not_found_style = style  # type: ignore[assignment]
    bed.lifecycle.stop_delay = 10.0
    bed.neptune.seed_ml_endpoint("live", status="InService")
    bed.neptune.seed_ml_endpoint("broken", status="Failed")
    bed.neptune.seed_ml_endpoint("going", status="Deleting")

    result = endpoints.cancel(_ref(bed, "live"), True)  # type: ignore[attr-defined]
    assert (result.outcome, result.status) == (Outcome.CANCELLED, "Deleting")
    view = bed.neptune.ml_endpoint("live")
    assert (view.status, view.clean) == ("Deleting", True)
    assert endpoints.is_stopping("Deleting")  # type: ignore[attr-defined]
    # A Failed endpoint exists (and may hold resources): deleted like the others.
    assert endpoints.cancel(_ref(bed, "broken"), False).outcome is Outcome.CANCELLED  # type: ignore[attr-defined]
    assert endpoints.cancel(_ref(bed, "nope"), False).outcome is Outcome.NOT_FOUND  # type: ignore[attr-defined]
    testbed_clock.advance(10)
    state = endpoints.describe(_ref(bed, "live"))  # type: ignore[attr-defined]
    assert (state.status, state.outstanding) == (None, False)  # deleted: Neptune no longer knows it
    assert bed.neptune_log.count(operation="DeleteMLEndpoint") == 3  # no retries of 400/404 answers


def test_a_refused_delete_of_a_live_endpoint_is_a_failure(aws_env: TestBed, endpoints: object) -> None:
    bed = aws_env
    bed.neptune.seed_ml_endpoint("live", status="InService")
    bed.faults_neptune.inject("InvalidParameterException", operations={"DeleteMLEndpoint"}, message="bad role")
    result = endpoints.cancel(_ref(bed, "live"), False)  # type: ignore[attr-defined]
    assert (result.outcome, result.status) == (Outcome.FAILED, "InService")
    assert result.error
    assert "bad role" in result.error
    assert bed.neptune.ml_endpoint("live").status == "InService"


def test_the_kind_is_chosen_only_by_name_and_only_with_a_scope(aws_env: TestBed) -> None:
    url = aws_env.neptune_url
    assert ENDPOINT not in Policy.build(neptune_endpoint=url).kinds  # not a default
    assert ENDPOINT not in parse_kinds("kinds", "all")  # nor part of "all"
    assert ENDPOINT in parse_kinds("kinds", "all,neptune-ml-endpoint")
    with pytest.raises(ConfigError, match="deletes inference endpoints") as caught:
        Policy.build(neptune_endpoint=url, kinds="neptune-ml-endpoint")
    assert caught.value.field == "job_id_prefix"
    assert Policy.build(neptune_endpoint=url, kinds="neptune-ml-endpoint", job_id_prefix="stack-a-").job_id_prefix
    assert Policy.build(neptune_endpoint=url, kinds="neptune-ml-endpoint", job_ids="ep-1").job_ids == {"ep-1"}
    every = Policy.build(neptune_endpoint=url, kinds="neptune-ml-endpoint", job_id_prefix="*")
    assert (every.every_id, every.job_id_prefix) == (True, None)
    aged = Policy.build(
        neptune_endpoint=url,
        kinds="neptune-ml-training,neptune-ml-endpoint",
        job_ids="x",
        min_age="6h",
        endpoint_min_age="7d",
    )
    assert aged.min_age_for(ENDPOINT) == timedelta(days=7)
    assert aged.min_age_for(JobKindName.NEPTUNE_ML_TRAINING) == timedelta(hours=6)
    with pytest.raises(ConfigError, match="blank") as blank:
        Policy.build(neptune_endpoint=url, endpoint_min_age=" ")
    assert blank.value.field == "endpoint_min_age"
