"""Neptune ML data-processing jobs (/ml/dataprocessing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobjanitor.kinds._neptune_ml import NeptuneMLKind
from jobjanitor.model import JobKindName

if TYPE_CHECKING:
    from jobjanitor.clients import Clients
    from jobjanitor.policy import Policy


class NeptuneMLDataProcessingKind(NeptuneMLKind):
    name = JobKindName.NEPTUNE_ML_DATAPROCESSING
    list_op = "list_ml_data_processing_jobs"
    get_op = "get_ml_data_processing_job"
    cancel_op = "cancel_ml_data_processing_job"


def make(policy: Policy, clients: Clients) -> NeptuneMLDataProcessingKind:
    return NeptuneMLDataProcessingKind(policy, clients)
