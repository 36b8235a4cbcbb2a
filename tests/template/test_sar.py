"""The Serverless Application Repository metadata `sam publish` reads."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def test_sar_metadata_is_complete_and_in_step_with_the_project(template: dict[str, Any]) -> None:
    app = template["Metadata"]["AWS::ServerlessRepo::Application"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert app["Name"] == project["name"]
    assert app["SemanticVersion"] == project["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", app["SemanticVersion"])
    assert app["SpdxLicenseId"] == project["license"]["text"] == "Apache-2.0"
    for local in ("LicenseUrl", "ReadmeUrl"):
        assert (REPO / app[local]).is_file(), f"{local} names a missing file"
    assert "Apache License" in (REPO / app["LicenseUrl"]).read_text()
    assert app["Author"]
    assert 0 < len(app["Description"]) <= 256
    for url in ("HomePageUrl", "SourceCodeUrl"):
        assert app[url].startswith("https://")
