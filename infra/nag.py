"""Acknowledging cdk-nag findings (v3: CDK's own `Validations` API), each on the narrowest construct and with
its reason, so the next unacknowledged finding fails synthesis."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct

__all__ = ["acknowledge", "arn_of"]


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge the cdk-nag finding `rule` (e.g. `AwsSolutions-SMG4` or `AwsSolutions-IAM5[Resource::*]`)
    on `construct` and everything below it."""
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a reason")
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def arn_of(resource: CfnElement) -> str:
    """How cdk-nag spells `resource`'s `Arn` attribute in a finding: `<LogicalId.Arn>`."""
    return f"<{Stack.of(resource).resolve(resource.logical_id)}.Arn>"
