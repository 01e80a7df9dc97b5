"""SnapStart in the stack: on for the functions it fits (buffered API functions, queue workers, the authorizer),
each invoked through the alias `live` of its published version by API Gateway, the authorizer and the SQS
event sources; off for the streamed functions under the Web Adapter, still invoked as $LATEST; and off
everywhere with `-c snap_start=false`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from infra.config import InfraConfigError, StratusConfig
from infra.lambdas import LIVE_ALIAS, SNAP_START_KINDS
from stratus.aws.functions import FUNCTIONS, FunctionKind, FunctionSpec
from tests.infra.synth import Synthesized, synthesize

SNAP_STARTED = [spec for spec in FUNCTIONS if spec.kind in SNAP_START_KINDS]
STREAMED = [spec for spec in FUNCTIONS if spec.kind is FunctionKind.STREAM]


@pytest.fixture(scope="module")
def without_snap_start(tmp_path_factory: pytest.TempPathFactory, layer_path: Path) -> Synthesized:
    return synthesize(
        {"layer_path": str(layer_path), "snap_start": "false"}, tmp_path_factory.mktemp("cdk-no-snapstart")
    )


def uris_of(stack: Synthesized, spec: FunctionSpec) -> list[list[Any]]:
    """The integration URI parts of every method of `spec`'s paths."""
    methods = stack.methods_by_path()
    return [method["Integration"]["Uri"]["Fn::Join"][1] for path in spec.paths for method in methods[path]]


def test_snap_start_fits_every_kind_but_the_streamed_one() -> None:
    assert set(FunctionKind) - SNAP_START_KINDS == {FunctionKind.STREAM}


@pytest.mark.parametrize("spec", SNAP_STARTED, ids=lambda spec: spec.name)
def test_the_function_snap_starts_and_is_invoked_through_its_latest_published_version(
    api_key_stack: Synthesized, spec: FunctionSpec
) -> None:
    function_id = api_key_stack.function_id(spec.name)
    assert api_key_stack.function(spec.name)["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    alias_id = api_key_stack.alias_id(spec.name)
    assert alias_id is not None
    alias = api_key_stack.resources[alias_id]["Properties"]
    assert alias["Name"] == LIVE_ALIAS
    version_id, attribute = alias["FunctionVersion"]["Fn::GetAtt"]
    assert attribute == "Version"
    version = api_key_stack.resources[version_id]
    assert version["Type"] == "AWS::Lambda::Version"
    assert version["Properties"]["FunctionName"] == {"Ref": function_id}
    assert version["DeletionPolicy"] == "Delete"  # a replaced version (and its cached snapshot) goes
    # SnapStart supports none of these (the stack sets none of them)
    properties = api_key_stack.function(spec.name)
    assert "FileSystemConfigs" not in properties
    assert properties.get("EphemeralStorage", {"Size": 512})["Size"] <= 512
    assert "ProvisionedConcurrencyConfig" not in alias


@pytest.mark.parametrize("spec", [spec for spec in SNAP_STARTED if spec.paths], ids=lambda spec: spec.name)
def test_the_gateway_invokes_and_may_invoke_only_the_alias(api_key_stack: Synthesized, spec: FunctionSpec) -> None:
    alias = {"Ref": api_key_stack.alias_id(spec.name)}
    function_arn = {"Fn::GetAtt": [api_key_stack.function_id(spec.name), "Arn"]}
    for uri in uris_of(api_key_stack, spec):
        assert alias in uri
        assert function_arn not in uri
    permitted = [
        permission["Properties"]["FunctionName"]
        for permission in api_key_stack.of_type("AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert alias in permitted
    assert function_arn not in permitted  # $LATEST, which has no snapshot, cannot be invoked by the gateway


def test_the_authorizer_runs_its_alias(api_key_stack: Synthesized) -> None:
    (authorizer,) = api_key_stack.of_type("AWS::ApiGateway::Authorizer").values()
    uri = authorizer["Properties"]["AuthorizerUri"]["Fn::Join"][1]
    assert {"Ref": api_key_stack.alias_id("authorizer")} in uri


@pytest.mark.parametrize("spec", [spec for spec in FUNCTIONS if spec.queue], ids=lambda spec: spec.name)
def test_each_queue_invokes_its_workers_alias(api_key_stack: Synthesized, spec: FunctionSpec) -> None:
    assert api_key_stack.alias_id(spec.name) is not None
    mapping = api_key_stack.event_source_of(spec.name)  # by `<function>:live`, the alias's qualified name
    assert mapping["FunctionName"]["Fn::Join"][1][-1] == f":{LIVE_ALIAS}"
    mappings = api_key_stack.of_type("AWS::Lambda::EventSourceMapping").values()
    assert {"Ref": api_key_stack.function_id(spec.name)} not in [m["Properties"]["FunctionName"] for m in mappings]


@pytest.mark.parametrize("spec", STREAMED, ids=lambda spec: spec.name)
def test_streamed_functions_under_the_web_adapter_run_latest_without_snap_start(
    api_key_stack: Synthesized, spec: FunctionSpec
) -> None:
    assert "SnapStart" not in api_key_stack.function(spec.name)
    assert api_key_stack.alias_id(spec.name) is None
    for uri in uris_of(api_key_stack, spec):
        assert {"Fn::GetAtt": [api_key_stack.function_id(spec.name), "Arn"]} in uri


def test_snap_start_off_leaves_no_snapshot_and_no_alias(without_snap_start: Synthesized) -> None:
    assert without_snap_start.of_type("AWS::Lambda::Alias") == {}
    for spec in FUNCTIONS:
        assert "SnapStart" not in without_snap_start.function(spec.name)
        for uri in uris_of(without_snap_start, spec) if spec.paths else []:
            assert {"Fn::GetAtt": [without_snap_start.function_id(spec.name), "Arn"]} in uri
    functions = {without_snap_start.function_id(spec.name) for spec in FUNCTIONS if spec.queue}
    mappings = without_snap_start.of_type("AWS::Lambda::EventSourceMapping").values()
    assert {m["Properties"]["FunctionName"]["Ref"] for m in mappings} == functions
    assert without_snap_start.violations() == []


def test_snap_start_takes_only_true_or_false(layer_path: Path) -> None:
    app = App(context={"layer_path": str(layer_path), "snap_start": "sometimes"})

    with pytest.raises(InfraConfigError, match="snap_start='sometimes': expected true or false"):
        StratusConfig.from_context(app.node)
