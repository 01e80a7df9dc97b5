"""Synthesizing the stratus app once per mode, and reading what the tests check from the cloud assembly."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk.assertions import Template

from infra.app import build, create_app

__all__ = ["Synthesized", "synthesize"]

ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"


@dataclass
class Synthesized:
    """One synthesized stack: its template, the validation report and every acknowledgement.

    Attributes:
        outdir: The cloud assembly's directory.
        template: The CloudFormation template.
        report: `validation-report.json`, if the validation plugins wrote one.
        error: The synthesis error, if validation failed (the assembly is still written).
        acknowledgements: Construct path -> {rule id: reason}, from the stack's metadata.
    """

    outdir: Path
    template: dict[str, Any]
    report: dict[str, Any] | None
    error: str | None
    acknowledgements: dict[str, dict[str, str]] = field(default_factory=dict[str, dict[str, str]])

    @cached_property
    def assertions(self) -> Template:
        return Template.from_json(self.template)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template["Resources"]

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        """The resources of CloudFormation type `kind`, by logical id."""
        return {name: resource for name, resource in self.resources.items() if resource["Type"] == kind}

    def violations(self) -> list[dict[str, Any]]:
        """Every unacknowledged finding of every validation plugin (cdk-nag's included)."""
        if self.report is None:
            return []
        return [violation for plugin in self.report["pluginReports"] for violation in plugin["violations"]]

    def function_id(self, name: str) -> str:
        """The logical id of the Lambda function of `FunctionSpec` `name` (by its Powertools service name)."""
        for logical_id, function in self.of_type("AWS::Lambda::Function").items():
            variables = function["Properties"].get("Environment", {}).get("Variables", {})
            if variables.get("POWERTOOLS_SERVICE_NAME") == f"stratus-{name}":
                return logical_id
        raise AssertionError(f"no function for {name!r}")

    def function(self, name: str) -> dict[str, Any]:
        return self.resources[self.function_id(name)]["Properties"]

    def alias_id(self, name: str) -> str | None:
        """The logical id of the alias function `name` is invoked through (SnapStart), or None."""
        function_ref = {"Ref": self.function_id(name)}
        aliases = [
            i for i, a in self.of_type("AWS::Lambda::Alias").items() if a["Properties"]["FunctionName"] == function_ref
        ]
        assert len(aliases) <= 1, f"{name} has several aliases: {aliases}"
        return aliases[0] if aliases else None

    def invoked(self, name: str) -> dict[str, Any]:
        """What API Gateway and the event sources name to invoke function `name`: its alias's ARN (`Ref` of an
        alias) with SnapStart, else the function's ARN."""
        alias = self.alias_id(name)
        return {"Ref": alias} if alias is not None else {"Fn::GetAtt": [self.function_id(name), "Arn"]}

    def event_source_of(self, name: str) -> dict[str, Any]:
        """The properties of the SQS event source mapping that invokes function `name`: by its alias's
        qualified name (`<function>:live`) with SnapStart, else by the function."""
        alias = self.alias_id(name)
        if alias is None:
            wanted: Any = {"Ref": self.function_id(name)}
        else:  # CDK names the alias as the function's name (the 7th field of the alias's ARN) and its own
            wanted = {"Fn::Join": ["", [{"Fn::Select": [6, {"Fn::Split": [":", {"Ref": alias}]}]}, ":live"]]}
        mappings = self.of_type("AWS::Lambda::EventSourceMapping").values()
        (mapping,) = [m["Properties"] for m in mappings if m["Properties"]["FunctionName"] == wanted]
        return mapping

    def output_ref(self, output: str) -> str:
        """The logical id an output's value refers to (`Ref` or `Fn::GetAtt`)."""
        value = self.template["Outputs"][output]["Value"]
        if "Ref" in value:
            return value["Ref"]
        return value["Fn::GetAtt"][0]

    def role_statements(self, role_id: str) -> Iterator[dict[str, Any]]:
        """Every statement of the policies attached to the role `role_id`, inline ones included."""
        role = self.resources[role_id]["Properties"]
        for policy in role.get("Policies", []):
            yield from policy["PolicyDocument"]["Statement"]
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"]["Roles"]:
                yield from policy["Properties"]["PolicyDocument"]["Statement"]

    def api_paths(self) -> dict[str, str]:
        """API Gateway resource logical id -> its full path (`/agents/{proxy+}`)."""
        resources = self.of_type("AWS::ApiGateway::Resource")

        def path(logical_id: str) -> str:
            properties = resources[logical_id]["Properties"]
            parent = properties["ParentId"]
            prefix = path(parent["Ref"]) if "Ref" in parent else ""
            return f"{prefix}/{properties['PathPart']}"

        return {logical_id: path(logical_id) for logical_id in resources}

    def methods_by_path(self) -> dict[str, list[dict[str, Any]]]:
        """Full path -> the methods on that resource."""
        paths = self.api_paths()
        methods: dict[str, list[dict[str, Any]]] = {}
        for method in self.of_type("AWS::ApiGateway::Method").values():
            resource = method["Properties"]["ResourceId"]
            if "Ref" in resource:
                methods.setdefault(paths[resource["Ref"]], []).append(method["Properties"])
        return methods

    def asset_directory(self, function_name: str) -> Path:
        """The staged code asset of a function, as the assembly holds it."""
        key = self.function(function_name)["Code"]["S3Key"]
        return self.outdir / f"asset.{key.removesuffix('.zip')}"


def synthesize(
    context: Mapping[str, Any], outdir: Path, *, extend: Callable[[Stack], object] | None = None
) -> Synthesized:
    """Synthesize the stratus app with `context` into `outdir` (after `extend` adds to the stack, if given).
    A validation failure does not raise: it is kept in `error` and `report`, so one test reports the findings
    and the template tests still run."""
    app = create_app(context, str(outdir))
    stack = build(app)
    if extend is not None:
        extend(stack)
    error: str | None = None
    try:
        app.synth()
    except RuntimeError as exc:  # validation plugins fail synthesis after writing the assembly
        error = str(exc)
    report_path = outdir / "validation-report.json"
    metadata = json.loads((outdir / f"{stack.artifact_id}.metadata.json").read_text(encoding="utf-8"))
    acknowledgements: dict[str, dict[str, str]] = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == ACKNOWLEDGED_RULES:
                acknowledgements.setdefault(path, {}).update(entry["data"])
    return Synthesized(
        outdir=outdir,
        template=json.loads((outdir / stack.template_file).read_text(encoding="utf-8")),
        report=json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else None,
        error=error,
        acknowledgements=acknowledgements,
    )
