"""Neptune ML model-transform jobs (/ml/modeltransform)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobjanitor.kinds._neptune_ml import NeptuneMLKind
from jobjanitor.model import JobKindName

if TYPE_CHECKING:
    from jobjanitor.clients import Clients
    from jobjanitor.policy import Policy


class NeptuneMLModelTransformKind(NeptuneMLKind):
    name = JobKindName.NEPTUNE_ML_TRANSFORM
    list_op = "list_ml_model_transform_jobs"
    get_op = "get_ml_model_transform_job"
    cancel_op = "cancel_ml_model_transform_job"


def make(policy: Policy, clients: Clients) -> NeptuneMLModelTransformKind:
    return NeptuneMLModelTransformKind(policy, clients)
