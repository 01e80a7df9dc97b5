"""CORS on AWS: with `-c cors_origins=...` the gateway answers preflights itself (no function, no credential,
the named origins only) and the functions are told the same origins for their own answers; without it,
no origin is admitted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import InfraConfigError
from tests.infra.synth import Synthesized, synthesize

ORIGINS = "https://ui.example.com,https://os.agno.com"


@pytest.fixture(scope="module")
def cors_stack(tmp_path_factory: pytest.TempPathFactory, layer_path: Path) -> Synthesized:
    return synthesize({"layer_path": str(layer_path), "cors_origins": ORIGINS}, tmp_path_factory.mktemp("cdk-cors"))


def _preflights(stack: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        path: method
        for path, methods in stack.methods_by_path().items()
        for method in methods
        if method["HttpMethod"] == "OPTIONS"
    }


def test_the_gateway_answers_preflights_for_the_named_origins_without_a_credential(cors_stack: Synthesized) -> None:
    assert cors_stack.error is None, cors_stack.error
    preflights = _preflights(cors_stack)
    assert "/agents/{proxy+}" in preflights
    assert "/sessions" in preflights
    for path, method in preflights.items():
        assert method["AuthorizationType"] == "NONE", path
        integration = method["Integration"]
        assert integration["Type"] == "MOCK", path  # no function runs for a preflight
        headers = integration["IntegrationResponses"][0]["ResponseParameters"]
        allowed = headers["method.response.header.Access-Control-Allow-Origin"]
        assert "https://ui.example.com" in allowed, path
        assert "Authorization" in headers["method.response.header.Access-Control-Allow-Headers"]
    # a browser's MCP or A2A client sends its protocol's headers with every request
    mcp_allowed = _preflights(cors_stack)["/mcp"]["Integration"]["IntegrationResponses"][0]["ResponseParameters"]
    for header in ("Mcp-Protocol-Version", "A2A-Version"):
        assert header in mcp_allowed["method.response.header.Access-Control-Allow-Headers"]


def test_the_functions_are_told_the_same_origins(cors_stack: Synthesized, api_key_stack: Synthesized) -> None:
    assert cors_stack.function("agent_runs")["Environment"]["Variables"]["STRATUS_CORS_ORIGINS"] == ORIGINS
    # without the context value: no preflight method, and the functions admit no origin
    assert _preflights(api_key_stack) == {}
    assert api_key_stack.function("agent_runs")["Environment"]["Variables"]["STRATUS_CORS_ORIGINS"] == ""


def test_a_malformed_origin_is_a_clear_error(tmp_path: Path, layer_path: Path) -> None:
    with pytest.raises(InfraConfigError, match="not an origin"):
        synthesize({"layer_path": str(layer_path), "cors_origins": "ui.example.com/app"}, tmp_path)


def test_with_one_origin_the_gateways_refusals_carry_it(tmp_path: Path, layer_path: Path) -> None:
    stack = synthesize({"layer_path": str(layer_path), "cors_origins": "https://ui.example.com"}, tmp_path)
    responses = stack.of_type("AWS::ApiGateway::GatewayResponse").values()
    for response in responses:
        headers = response["Properties"]["ResponseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"] == "'https://ui.example.com'"
