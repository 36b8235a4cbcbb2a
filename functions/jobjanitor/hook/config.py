"""The hook's settings: environment variables, validated once per execution environment.

Which resources the hook may act on is the deployment's configuration, shared with the
sweeper: the Neptune clusters (``JOBJANITOR_NEPTUNE_CLUSTERS``, resolved by
:mod:`jobjanitor.clusters`) and the Glue ML transforms (``JOBJANITOR_GLUE_TRANSFORM_IDS``,
``JOBJANITOR_GLUE_TRANSFORM_NAME_PREFIX``). Anything else a stack deletes is answered SUCCESS
at once and left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from jobjanitor.clusters import CLUSTERS_ENV, parse_cluster_list
from jobjanitor.config import SHARED_ENV, parse_bool, parse_int, parse_list
from jobjanitor.errors import ConfigError
from jobjanitor.policy import MAX_CONCURRENCY

MODE = "JOBJANITOR_HOOK_MODE"
CALLBACK_DELAY = "JOBJANITOR_HOOK_CALLBACK_DELAY_SECONDS"
CONCURRENCY = "JOBJANITOR_HOOK_CONCURRENCY"
TABLE = "IDEMPOTENCY_TABLE_NAME"

AUDIT = "Audit"
MODES = (AUDIT, "Warn", "Fail")  # template.yaml TeardownHook AllowedValues, less Disabled
DEFAULT_CALLBACK_DELAY_SECONDS = 30
# The largest callbackDelaySeconds CloudFormation accepts is not documented: stay modest.
MAX_CALLBACK_DELAY_SECONDS = 300
DEFAULT_CONCURRENCY = 32
_TRANSFORM_ID = re.compile(r"^[^\s,]{1,255}$")


@dataclass(frozen=True, slots=True)
class HookConfig:
    """``mode``: ``Audit`` reports what the hook would cancel, cancels nothing and always answers
    SUCCESS; otherwise what a final FAILED means (the LambdaHook's FailureMode is set from the
    same template parameter): ``Warn`` the delete proceeds with a warning, ``Fail`` it stops."""

    mode: str = "Fail"
    clusters: tuple[str, ...] = ()  # identifiers or resource ids, as configured
    glue_transform_ids: tuple[str, ...] = ()
    glue_transform_name_prefix: str | None = None
    glue_region: str | None = None
    neptune_iam_role_arn: str | None = None
    clean: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    callback_delay_seconds: int = DEFAULT_CALLBACK_DELAY_SECONDS
    table_name: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HookConfig:
        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        mode = get(MODE) or "Fail"
        if mode not in MODES:
            raise ConfigError(MODE, f"must be Audit, Warn or Fail, got {mode!r}")
        ids = parse_list(SHARED_ENV["glue_transform_ids"], get(SHARED_ENV["glue_transform_ids"]))
        for transform_id in ids:
            if not _TRANSFORM_ID.match(transform_id):
                raise ConfigError(SHARED_ENV["glue_transform_ids"], f"not a Glue transform id: {transform_id!r}")
        return cls(
            mode=mode,
            clusters=parse_cluster_list(env.get(CLUSTERS_ENV)),
            glue_transform_ids=ids,
            glue_transform_name_prefix=get(SHARED_ENV["glue_transform_name_prefix"]),
            glue_region=get(SHARED_ENV["glue_region"]),
            neptune_iam_role_arn=get(SHARED_ENV["neptune_iam_role_arn"]),
            clean=parse_bool(SHARED_ENV["clean"], get(SHARED_ENV["clean"]) or "false"),
            concurrency=parse_int(CONCURRENCY, get(CONCURRENCY) or str(DEFAULT_CONCURRENCY), 1, MAX_CONCURRENCY),
            callback_delay_seconds=parse_int(
                CALLBACK_DELAY,
                get(CALLBACK_DELAY) or str(DEFAULT_CALLBACK_DELAY_SECONDS),
                1,
                MAX_CALLBACK_DELAY_SECONDS,
            ),
            table_name=get(TABLE),
        )
