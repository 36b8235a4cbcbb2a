"""One sweeper invocation: classify the trigger, decide the policy, sweep once, report.

- A schedule (Scheduler or a classic rule) sweeps the configured scope, narrowed by the
  schedule's input, cancelling outstanding jobs older than the max age. Neptune ML jobs have
  no start time in their API: they are dated by the SageMaker jobs doing their work
  (CreationTime), or by their first sighting while they name none yet (:mod:`jobjanitor.ages`).
- A stack deletion sweeps the scope the stack declares in its tags (``<prefix>neptune-endpoint``,
  ``<prefix>job-id-prefix``, ``<prefix>glue-transforms``, ``<prefix>kinds``), with no age limit:
  the stack is going. A stack without such tags is ignored; a declared scope must fit inside
  the configured one and must name a job-id prefix or Glue transforms (never "everything").
- Idempotency per trigger key (Powertools, DynamoDB): a duplicate after completion gets the
  first result and sweeps nothing; a duplicate while the first runs returns at once; a run
  that timed out is retried once its in-progress record expires with the Lambda deadline.
- The engine's deadline is the Lambda's remaining time less a margin: it never runs past it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

from jobjanitor import engine
from jobjanitor.ages import Dating, DynamoDBFirstSeen, FirstSeen
from jobjanitor.clients import ClientCache
from jobjanitor.config import parse_kinds, parse_list
from jobjanitor.deadline import Deadline
from jobjanitor.errors import ConfigError
from jobjanitor.model import JobKindName
from jobjanitor.observability import log_progress, publish_report
from jobjanitor.policy import Policy
from jobjanitor.report import Report
from jobjanitor.sagemaker_dating import SageMakerDating
from jobjanitor.sweeper.config import SweeperConfig
from jobjanitor.sweeper.events import Trigger, classify

log = logging.getLogger("jobjanitor.sweeper")

# Stop this long before the Lambda deadline: the result, the metrics and the idempotency
# record still have to be written.
DEADLINE_MARGIN_SECONDS = 10.0
IDEMPOTENCY_EXPIRES_SECONDS = 6 * 3600
STACK_TAGS = ("neptune-endpoint", "job-id-prefix", "glue-transforms", "kinds")


class Sweeper:
    def __init__(
        self, config: SweeperConfig, *, first_seen: FirstSeen | None = None, dating: Dating | None = None
    ) -> None:
        self.config = config
        self.clients = ClientCache()  # kept for this execution environment
        self.dating = dating if dating is not None else SageMakerDating()  # its client: on first use
        self.first_seen = first_seen
        if first_seen is None and config.table_name:
            self.first_seen = DynamoDBFirstSeen(config.table_name)
        self.idempotency: IdempotencyConfig | None = None
        self._sweep_once: Callable[..., dict[str, Any]] = self._sweep
        if config.table_name:
            self.idempotency = IdempotencyConfig(
                event_key_jmespath="key",
                raise_on_no_idempotency_key=True,
                expires_after_seconds=IDEMPOTENCY_EXPIRES_SECONDS,
            )
            decorate = idempotent_function(
                data_keyword_argument="trigger",
                persistence_store=DynamoDBPersistenceLayer(table_name=config.table_name),
                config=self.idempotency,
            )
            self._sweep_once = decorate(self._sweep)
        else:
            log.warning("IDEMPOTENCY_TABLE_NAME is not set: duplicate deliveries will sweep again")

    def handle(self, event: object, context: Any) -> dict[str, Any]:
        trigger = classify(event)
        if trigger is None:
            log.info("stack status change other than DELETE_IN_PROGRESS: ignored")
            return {"status": "ignored"}
        policy = self.policy_for(trigger)
        if policy is None:
            return {"status": "not-opted-in", "stack": trigger.stack_id}
        deadline = Deadline.from_lambda_context(context, margin_s=DEADLINE_MARGIN_SECONDS)
        policy = replace(policy, max_wait=max(1.0, deadline.remaining()))
        if self.idempotency is not None:
            self.idempotency.register_lambda_context(context)
        trigger_data = {"kind": trigger.kind, "key": trigger.key}
        try:
            return self._sweep_once(trigger=trigger_data, policy=policy, deadline=deadline)
        except IdempotencyAlreadyInProgressError:
            log.warning("duplicate delivery while the first is still sweeping: nothing to do", extra=trigger_data)
            return {"status": "duplicate-in-progress", "key": trigger.key}

    def _sweep(self, *, trigger: dict[str, str], policy: Policy, deadline: Deadline) -> dict[str, Any]:
        report = engine.sweep(
            policy,
            deadline=deadline,
            clients=self.clients.for_policy(policy),
            progress=log_progress,
            first_seen=self.first_seen,
            dating=self.dating,
        )
        publish_report(report, source=f"sweeper-{trigger['kind']}", target=_target(policy))
        return result_of(trigger, policy, report)

    # -- policies -------------------------------------------------------------------------
    def policy_for(self, trigger: Trigger) -> Policy | None:
        if trigger.stack_id is not None:  # a stack deletion
            return self.stack_policy(trigger.stack_id)
        return self.config.narrowed(trigger.narrow)

    def stack_policy(self, stack_id: str) -> Policy | None:
        stacks = boto3.client("cloudformation").describe_stacks(StackName=stack_id)["Stacks"]
        tags = {t["Key"]: t["Value"] for t in (stacks[0].get("Tags") or [])} if stacks else {}
        prefix = self.config.stack_tag_prefix
        declared = {k[len(prefix) :]: v.strip() for k, v in tags.items() if k.startswith(prefix)}
        if not declared:
            log.info("stack did not opt in (no %s tags): ignored", prefix, extra={"stack": stack_id})
            return None
        for name in declared:
            if name not in STACK_TAGS:
                raise ConfigError(f"tag {prefix}{name}", f"unknown (allowed: {', '.join(STACK_TAGS)})")
        base = self.config.policy
        job_prefix = declared.get("job-id-prefix") or None
        transforms = parse_list(f"tag {prefix}glue-transforms", _words(declared.get("glue-transforms")))
        if not job_prefix and not transforms:
            raise ConfigError(
                f"tag {prefix}job-id-prefix", "a stack must declare a job-id prefix or its Glue transforms"
            )
        endpoint = declared.get("neptune-endpoint") or (base.neptune_endpoint if job_prefix else None)
        if endpoint and endpoint.rstrip("/") != base.neptune_endpoint:
            raise ConfigError(f"tag {prefix}neptune-endpoint", "is not the endpoint this sweeper is configured for")
        if transforms and not set(transforms) <= set(base.glue_transform_ids):
            raise ConfigError(f"tag {prefix}glue-transforms", "names transforms this sweeper is not configured for")
        kinds = declared.get("kinds")
        policy = Policy.build(
            kinds=_words(kinds) if kinds else None,
            neptune_endpoint=endpoint,
            neptune_iam_role_arn=base.neptune_iam_role_arn,
            glue_region=base.glue_region,
            glue_transform_ids=list(transforms),
            job_id_prefix=job_prefix,
            clean=base.clean,
            dry_run=base.dry_run,
            concurrency=base.concurrency,
            labels={"kinds": f"tag {prefix}kinds", "job_id_prefix": f"tag {prefix}job-id-prefix"},
        )
        outside = policy.kinds - base.kinds
        if outside:
            names = ", ".join(sorted(outside))
            raise ConfigError(f"tag {prefix}kinds", f"kinds this sweeper is not configured for: {names}")
        return policy


def result_of(trigger: dict[str, str], policy: Policy, report: Report) -> dict[str, Any]:
    """What the invocation returns (and the idempotency record keeps): small, no job list."""
    return {
        "status": "swept",
        "trigger": trigger["kind"],
        "key": trigger["key"],
        "dryRun": policy.dry_run,
        "ok": report.ok,
        "summary": report.summary(),
        "byKind": report.counts_by_kind(),
        "warnings": report.warnings[:10],
        "errors": report.errors[:10],
    }


def _words(value: str | None) -> str | None:
    """Tag values cannot hold commas: lists in tags are space-separated."""
    return ",".join(value.split()) if value else None


def _target(policy: Policy) -> str | None:
    if policy.neptune_endpoint and any(k.is_neptune for k in policy.kinds):
        return policy.neptune_endpoint
    if policy.kinds == {JobKindName.GLUE_ML_TASK_RUN} and len(policy.glue_transform_ids) == 1:
        return policy.glue_transform_ids[0]
    return None


__all__ = ["Sweeper", "parse_kinds", "result_of"]
