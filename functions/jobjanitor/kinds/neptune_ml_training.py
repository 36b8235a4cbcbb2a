"""Neptune ML model-training jobs (/ml/modeltraining)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobjanitor.kinds._neptune_ml import NeptuneMLKind
from jobjanitor.model import JobKindName

if TYPE_CHECKING:
    from jobjanitor.clients import Clients
    from jobjanitor.policy import Policy


class NeptuneMLModelTrainingKind(NeptuneMLKind):
    name = JobKindName.NEPTUNE_ML_TRAINING
    list_op = "list_ml_model_training_jobs"
    get_op = "get_ml_model_training_job"
    cancel_op = "cancel_ml_model_training_job"


def make(policy: Policy, clients: Clients) -> NeptuneMLModelTrainingKind:
    return NeptuneMLModelTrainingKind(policy, clients)
