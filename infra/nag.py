"""Findings acknowledged in code, each on the narrowest construct and with its reason, so the next one that
is not fails the check: cdk-nag's (v3: CDK's own `Validations` API, at synthesis) and checkov's (CloudFormation
metadata `checkov: skip`, read by `make check-iac`)."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Acknowledgment, CfnElement, CfnResource, Stack, Validations
from constructs import IConstruct

__all__ = ["CFN_LINT_METADATA", "CHECKOV_METADATA", "acknowledge", "arn_of", "ignore_cfn_lint", "skip_checkov"]

CHECKOV_METADATA = "checkov"
"""The resource metadata key checkov reads its suppressions from: `{"skip": [{"id": ..., "comment": ...}]}`."""

CFN_LINT_METADATA = "cfn-lint"
"""The resource metadata key cfn-lint reads its per-resource configuration from."""


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge the cdk-nag finding `rule` (e.g. `AwsSolutions-SMG4` or `AwsSolutions-IAM5[Resource::*]`)
    on `construct` and everything below it."""
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a reason")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def skip_checkov(construct: IConstruct, check: str, reason: str) -> None:
    """Suppress checkov's `check` (e.g. `CKV_AWS_117`) on the CloudFormation resource of `construct`, saying
    why in the template itself (checkov reports the reason with the skipped check)."""
    if not reason.strip():
        raise ValueError(f"skipping {check} needs a reason")
    resource = _resource_of(construct)
    metadata = cast(dict[str, Any], resource.get_metadata(CHECKOV_METADATA) or {})
    skips = [entry for entry in cast(list[dict[str, str]], metadata.get("skip", [])) if entry["id"] != check]
    resource.add_metadata(CHECKOV_METADATA, {**metadata, "skip": [*skips, {"id": check, "comment": reason}]})


def ignore_cfn_lint(construct: IConstruct, rule: str, reason: str) -> None:
    """Have cfn-lint ignore `rule` (e.g. `W3005`) on the resource of `construct`. cfn-lint's metadata has no
    place for a reason, so `reason` is required here, where the code says why."""
    if not reason.strip():
        raise ValueError(f"ignoring {rule} needs a reason")
    resource = _resource_of(construct)
    metadata = cast(dict[str, Any], resource.get_metadata(CFN_LINT_METADATA) or {})
    config = cast(dict[str, Any], metadata.get("config", {}))
    rules = [*cast(list[str], config.get("ignore_checks", [])), rule]
    resource.add_metadata(CFN_LINT_METADATA, {**metadata, "config": {**config, "ignore_checks": sorted(set(rules))}})


def arn_of(resource: CfnElement) -> str:
    """How cdk-nag spells `resource`'s `Arn` attribute in a finding: `<LogicalId.Arn>`."""
    return f"<{Stack.of(resource).resolve(resource.logical_id)}.Arn>"


def _resource_of(construct: IConstruct) -> CfnResource:
    if isinstance(construct, CfnResource):
        return construct
    child = construct.node.default_child
    if not isinstance(child, CfnResource):
        raise TypeError(f"{construct.node.path} has no CloudFormation resource of its own")
    return child
