"""The job kinds. Adding a kind: one module with a ``make(policy, clients)`` factory, and one
line in :data:`REGISTRY`. Modules are imported only when a kind is used (cold start)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from jobjanitor.model import JobKindName

if TYPE_CHECKING:
    from jobjanitor.clients import Clients
    from jobjanitor.kinds.base import JobKind
    from jobjanitor.policy import Policy

REGISTRY: dict[JobKindName, str] = {
    JobKindName.NEPTUNE_LOADER: "jobjanitor.kinds.neptune_loader",
    JobKindName.NEPTUNE_ML_DATAPROCESSING: "jobjanitor.kinds.neptune_ml_dataprocessing",
    JobKindName.NEPTUNE_ML_TRAINING: "jobjanitor.kinds.neptune_ml_training",
    JobKindName.NEPTUNE_ML_TRANSFORM: "jobjanitor.kinds.neptune_ml_transform",
    JobKindName.GLUE_ML_TASK_RUN: "jobjanitor.kinds.glue_ml_task_run",
    JobKindName.NEPTUNE_ML_ENDPOINT: "jobjanitor.kinds.neptune_ml_endpoint",
}


def make_kind(name: JobKindName, policy: Policy, clients: Clients) -> JobKind:
    module = importlib.import_module(REGISTRY[name])
    kind: JobKind = module.make(policy, clients)
    return kind


def make_kinds(policy: Policy, clients: Clients) -> list[JobKind]:
    """The policy's kinds, in registry order."""
    return [make_kind(name, policy, clients) for name in REGISTRY if name in policy.kinds]
