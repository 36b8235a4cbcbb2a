pytest_plugins = ["jobjanitor_testbed.pytest_plugin"]


from collections.abc import Callable  # noqa: E402 - below the plugin line, which must come first

import pytest  # noqa: E402


@pytest.fixture
def still_starting() -> Callable[[object, str, str], None]:
    """``still_starting(bed, api_kind, job_id)``: make a seeded Neptune ML job one that names no
    SageMaker job yet (a job still starting). The test bed starts a job's SageMaker jobs with
    it and has no such phase, so this drops them from the job (and from moto), through the
    emulator's state."""

    def make(bed: object, kind: str, job_id: str) -> None:
        from jobjanitor_testbed import moto_sagemaker

        state = bed.neptune.state  # type: ignore[attr-defined]
        with state._lock:
            job = state._ml[kind][job_id]
            moto_sagemaker.remove_linked(state.account, state.region, job.sagemaker)
            job.sagemaker = []

    return make
