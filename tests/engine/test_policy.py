"""Policy validation and the shared coercion helpers (every edge uses them)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from jobjanitor.config import parse_bool, parse_duration, parse_int, parse_kinds, parse_list, parse_tags
from jobjanitor.errors import ConfigError
from jobjanitor.model import JobKindName
from jobjanitor.policy import NEPTUNE_KINDS, Policy

NEPTUNE = "https://db.cluster-abc.us-east-1.neptune.amazonaws.com"


def test_parsers() -> None:
    assert parse_bool("Clean", "TRUE") is True
    assert parse_bool("Clean", "false") is False
    assert parse_int("MaxWaitSeconds", "900", 1, 3600) == 900
    assert parse_duration("min_age", "90s") == timedelta(seconds=90)
    assert parse_duration("min_age", "15m") == timedelta(minutes=15)
    assert parse_duration("min_age", "2h") == timedelta(hours=2)
    assert parse_duration("min_age", "1d") == timedelta(days=1)
    assert parse_duration("min_age", "3600") == timedelta(hours=1)
    assert parse_list("JobIds", " a, b,,a ") == ("a", "b")
    assert parse_list("JobIds", ["x", "y"]) == ("x", "y")
    # Every job kind; inference endpoints only by name (deleting one is an opt-in).
    assert parse_kinds("Kinds", "all") == frozenset(JobKindName) - {JobKindName.NEPTUNE_ML_ENDPOINT}
    assert parse_kinds("Kinds", "neptune-loader,GLUE-ML-TASK-RUN") == {
        JobKindName.NEPTUNE_LOADER,
        JobKindName.GLUE_ML_TASK_RUN,
    }
    assert parse_tags("tags", "team=ml, env=dev") == {"team": "ml", "env": "dev"}


@pytest.mark.parametrize(
    ("call", "text"),
    [
        (
            lambda: parse_int("MaxWaitSeconds", "abc", 1, 3600),
            "MaxWaitSeconds: must be an integer between 1 and 3600, got 'abc'",
        ),
        (lambda: parse_bool("Clean", "maybe"), "Clean: must be true or false"),
        (lambda: parse_duration("min_age", "2 weeks"), "min_age: must be a duration"),
        (lambda: parse_kinds("Kinds", "neptune-foo"), "Kinds: unknown job kind 'neptune-foo'"),
    ],
)
def test_parser_errors_name_the_field(call: object, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        call()  # type: ignore[operator]
    assert str(info.value).startswith(text)


def test_policy_build_defaults_and_inference() -> None:
    policy = Policy.build(neptune_endpoint="https://db.cluster-x.eu-west-1.neptune.amazonaws.com:8182/")
    assert policy.kinds == NEPTUNE_KINDS - {JobKindName.NEPTUNE_ML_ENDPOINT}  # endpoints: only by name
    assert policy.neptune_endpoint == "https://db.cluster-x.eu-west-1.neptune.amazonaws.com:8182"
    assert (policy.wait, policy.dry_run, policy.clean, policy.concurrency) == (True, False, False, 16)
    glue = Policy.build(glue_transform_ids="tfm-1,tfm-2", glue_region="eu-west-1")
    assert glue.kinds == {JobKindName.GLUE_ML_TASK_RUN}
    assert glue.glue_transform_ids == ("tfm-1", "tfm-2")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kinds": "neptune-loader"}, "neptune_endpoint"),
        ({"neptune_endpoint": "db.example.com:8182"}, "neptune_endpoint"),
        ({"neptune_endpoint": f"{NEPTUNE}:99999"}, "neptune_endpoint"),
        ({"kinds": "glue-ml-task-run"}, "glue_transform_ids"),
        ({"glue_transform_ids": "t", "glue_region": "Europe"}, "glue_region"),
        ({"neptune_endpoint": NEPTUNE, "neptune_iam_role_arn": "role"}, "neptune_iam_role_arn"),
        ({"neptune_endpoint": NEPTUNE, "max_wait": "0"}, "max_wait"),
        ({"neptune_endpoint": NEPTUNE, "concurrency": "1000"}, "concurrency"),
        ({}, "neptune_endpoint"),
    ],
)
def test_policy_errors_name_the_field(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        Policy.build(**kwargs)
    assert info.value.field == field


def test_labels_rename_fields() -> None:
    with pytest.raises(ConfigError, match=r"^MaxWaitSeconds: must be an integer between 1 and 86400, got 'abc'$"):
        Policy.build(neptune_endpoint=NEPTUNE, max_wait="abc", labels={"max_wait": "MaxWaitSeconds"})


def test_a_prefix_scoped_default_leaves_loads_out() -> None:
    # Load ids are Neptune's: a prefix cannot scope them, so by default a prefix-scoped
    # policy must not reach every load on a possibly shared cluster.
    endpoint = f"{NEPTUNE}:8182"
    scoped = Policy.build(neptune_endpoint=endpoint, job_id_prefix="stack-a-")
    assert JobKindName.NEPTUNE_LOADER not in scoped.kinds
    assert JobKindName.NEPTUNE_ML_TRAINING in scoped.kinds
    assert JobKindName.NEPTUNE_LOADER in Policy.build(neptune_endpoint=endpoint).kinds
    explicit = Policy.build(neptune_endpoint=endpoint, job_id_prefix="stack-a-", kinds="neptune-loader")
    assert explicit.kinds == frozenset({JobKindName.NEPTUNE_LOADER})
