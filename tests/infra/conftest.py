"""One synthesis per auth mode for the whole infra suite (each takes seconds), with a stand-in layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.synth import Synthesized, synthesize


@pytest.fixture(scope="session")
def layer_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for `make layer`'s output: synthesis only needs a non-empty directory to package."""
    layer = tmp_path_factory.mktemp("layer")
    (layer / "python").mkdir()
    (layer / "python" / "placeholder.txt").write_text("the real layer is built by `make layer`\n")
    return layer


@pytest.fixture(scope="session")
def api_key_stack(tmp_path_factory: pytest.TempPathFactory, layer_path: Path) -> Synthesized:
    """The default deployment: the demo app, API-key auth."""
    return synthesize({"layer_path": str(layer_path)}, tmp_path_factory.mktemp("cdk-api-key"))


@pytest.fixture(scope="session")
def cognito_stack(tmp_path_factory: pytest.TempPathFactory, layer_path: Path) -> Synthesized:
    """The same deployment with a Cognito user pool authorizing the API."""
    return synthesize({"layer_path": str(layer_path), "auth": "cognito"}, tmp_path_factory.mktemp("cdk-cognito"))


@pytest.fixture(scope="session")
def openai_stack(tmp_path_factory: pytest.TempPathFactory, layer_path: Path) -> Synthesized:
    """The default deployment with an OpenAI model: its key in a secret of its own, no Bedrock model grant."""
    return synthesize(
        {"layer_path": str(layer_path), "model": "openai:gpt-4o-mini"}, tmp_path_factory.mktemp("cdk-openai")
    )
