"""The CLI installs alone: a wheel built from the checkout, installed into a clean venv with only
the locked runtime set (no dev set, no test bed), runs `jobjanitor --help`; `jobjanitor-testbed`
there says which extra it needs. The test bed is the optional extra `jobjanitor[testbed]`.

Built and installed with the project's uv (`.tools/uv`, which `make venv` installs), from its
cache where it can (the runtime set is what .venv already holds): offline once cached, the
package index otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UV = REPO / ".tools" / "uv" / "bin" / "uv"


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our tools, our paths
        [str(a) for a in args], capture_output=True, text=True, cwd=REPO, timeout=600, check=False, env=env
    )


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not UV.exists():
        pytest.skip("uv is not installed in .tools (make venv installs it)")
    tmp = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "UV_PYTHON": sys.executable, "UV_PYTHON_DOWNLOADS": "never"}
    built = run(UV, "build", "--wheel", "--out-dir", tmp / "dist", env=env)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("jobjanitor-*.whl")
    requirements = run(UV, "export", "--frozen", "--no-emit-project", "--format", "requirements-txt", env=env)
    assert requirements.returncode == 0, requirements.stderr
    (tmp / "runtime.txt").write_text(requirements.stdout)
    venv = tmp / "venv"
    for step in (
        (UV, "venv", venv),
        (UV, "pip", "install", "--python", venv / "bin" / "python", "-r", tmp / "runtime.txt"),
        (UV, "pip", "install", "--python", venv / "bin" / "python", "--no-deps", wheel),
    ):
        done = run(*step, env=env)
        assert done.returncode == 0, (step, done.stderr)
    return wheel, venv


def test_the_wheel_declares_the_test_bed_as_an_optional_extra(clean_venv: tuple[Path, Path]) -> None:
    wheel, _venv = clean_venv
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    requires = [line for line in text.splitlines() if line.startswith("Requires-Dist:")]
    assert "Provides-Extra: testbed" in text
    moto = [line for line in requires if "moto" in line]
    assert moto, requires
    assert all("extra == " in line for line in moto), moto  # never a plain runtime requirement


def test_the_cli_runs_from_a_clean_venv_without_the_dev_set(clean_venv: tuple[Path, Path]) -> None:
    _wheel, venv = clean_venv
    shown = run(venv / "bin" / "jobjanitor", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "usage: jobjanitor" in shown.stdout
    for absent in ("moto", "pytest", "hypothesis"):
        probe = run(venv / "bin" / "python", "-c", f"import {absent}")
        assert probe.returncode != 0, f"{absent} is installed in the clean venv"


def test_the_test_bed_without_its_extra_says_which_extra_to_install(clean_venv: tuple[Path, Path]) -> None:
    _wheel, venv = clean_venv
    done = run(venv / "bin" / "jobjanitor-testbed", "--seed", "1")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "pip install 'jobjanitor[testbed]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
