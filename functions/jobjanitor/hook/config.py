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
from dataclasses import dataclass, field

from jobjanitor.config import parse_bool, parse_int, parse_list
from jobjanitor.errors import ConfigError
from jobjanitor.hook._pending import CLUSTERS_ENV, validate_neptune_endpoint
from jobjanitor.policy import MAX_CONCURRENCY
from jobjanitor.sweeper.config import ENV as SHARED_ENV

MODE = "JOBJANITOR_HOOK_MODE"
CALLBACK_DELAY = "JOBJANITOR_HOOK_CALLBACK_DELAY_SECONDS"
CONCURRENCY = "JOBJANITOR_HOOK_CONCURRENCY"
ROUTES = "JOBJANITOR_NEPTUNE_ROUTES"
TABLE = "IDEMPOTENCY_TABLE_NAME"

MODES = ("Warn", "Fail")
DEFAULT_CALLBACK_DELAY_SECONDS = 30
# The largest callbackDelaySeconds CloudFormation accepts is not documented: stay modest.
MAX_CALLBACK_DELAY_SECONDS = 300
DEFAULT_CONCURRENCY = 32
_TRANSFORM_ID = re.compile(r"^[^\s,]{1,255}$")


@dataclass(frozen=True, slots=True)
class HookConfig:
    """``mode``: what a non-success means (the LambdaHook's FailureMode is set from the same
    template parameter): ``Warn`` the delete proceeds with a warning, ``Fail`` it stops."""

    mode: str = "Fail"
    clusters_setting: str = ""
    glue_transform_ids: tuple[str, ...] = ()
    glue_transform_name_prefix: str | None = None
    glue_region: str | None = None
    neptune_iam_role_arn: str | None = None
    clean: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    callback_delay_seconds: int = DEFAULT_CALLBACK_DELAY_SECONDS
    # Derived data-API endpoint -> where to connect instead (a tunnel, or the local test bed).
    # Every right-hand side passed endpoint validation.
    routes: Mapping[str, str] = field(default_factory=dict)
    table_name: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HookConfig:
        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        mode = get(MODE) or "Fail"
        if mode not in MODES:
            raise ConfigError(MODE, f"must be Warn or Fail, got {mode!r}")
        ids = parse_list(SHARED_ENV["glue_transform_ids"], get(SHARED_ENV["glue_transform_ids"]))
        for transform_id in ids:
            if not _TRANSFORM_ID.match(transform_id):
                raise ConfigError(SHARED_ENV["glue_transform_ids"], f"not a Glue transform id: {transform_id!r}")
        return cls(
            mode=mode,
            clusters_setting=env.get(CLUSTERS_ENV, "").strip(),
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
            routes=parse_routes(get(ROUTES)),
            table_name=get(TABLE),
        )


def parse_routes(value: str | None) -> dict[str, str]:
    """``https://cluster-endpoint:8182=http://127.0.0.1:9000,...``: connect to the right for
    the left. The right-hand side must pass :func:`validate_neptune_endpoint` (an https Neptune
    host, or one the test bed's allow-list admits)."""
    routes: dict[str, str] = {}
    for item in parse_list(ROUTES, value):
        left, sep, right = item.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise ConfigError(ROUTES, f"each route must look like <endpoint>=<endpoint>, got {item!r}")
        routes[left.strip().rstrip("/")] = validate_neptune_endpoint(right.strip(), field=ROUTES)
    return routes
