"""Every function is built the same way from the lock: artifact/Makefile (BuildMethod makefile,
run from the repository root), its dependencies from the one shared layer (docs/build.md)."""

from __future__ import annotations

from typing import Any

from artifact import build, built

BUILD_METADATA = {"BuildMethod": "makefile", "ContextPath": "artifact", "WorkingDirectory": "."}


def test_every_function_is_built_by_the_artifact_makefile(resources: dict[str, Any]) -> None:
    functions = {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == set(built.FUNCTIONS)
    for name, function in functions.items():
        # artifact/Makefile's `build-%Function` rule serves it.
        assert name.endswith("Function"), f"{name}: artifact/Makefile builds logical ids ending in Function"
        assert function.get("Metadata", {}) | BUILD_METADATA == function.get("Metadata"), (
            f"{name} needs Metadata {BUILD_METADATA} (docs/build.md)"
        )
        assert "Layers" not in function["Properties"], f"{name}: the dependencies layer comes from Globals"


def test_the_dependencies_layer_is_built_for_the_functions_runtime_and_architecture(template: dict[str, Any]) -> None:
    globals_ = template["Globals"]["Function"]
    assert globals_["Layers"] == [{"Ref": built.LAYER}]
    layer = template["Resources"][built.LAYER]
    assert layer["Metadata"] == {**BUILD_METADATA, "BuildArchitecture": "arm64"}
    assert globals_["Architectures"] == ["arm64"] == layer["Properties"]["CompatibleArchitectures"]
    runtime = f"python{build.PYTHON[0]}.{build.PYTHON[1]}"
    assert globals_["Runtime"] == runtime
    assert layer["Properties"]["CompatibleRuntimes"] == [runtime]
