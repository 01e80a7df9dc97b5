"""The IAM grant that lets a function call the deployment's Bedrock model, and only that model.

A foundation model id (`amazon.nova-lite-v1:0`) is granted on its ARN in the model's region. A cross-region
inference profile id (`us.amazon.nova-lite-v1:0`) needs two statements: the profile's ARN, and the foundation
model's ARNs in every region the profile routes a request to. Those regions are AWS's to choose and grow, so
the second statement names the model in any region (`bedrock:*::foundation-model/<id>`) and is fenced by the
condition `bedrock:InferenceProfileArn` = that profile: it allows nothing but requests through the profile.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.config import ModelConfig
from stratus import settings

__all__ = ["MODEL_ACTIONS", "MODEL_REGION_VARIABLE", "foundation_model_arns", "model_statements", "profile_arn"]

MODEL_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")
"""Converse is authorized as InvokeModel, ConverseStream as InvokeModelWithResponseStream."""

MODEL_REGION_VARIABLE = settings.STRATUS_MODEL_REGION
"""The region Bedrock is called in, set only when the context `model_region` names one (default: the
function's own region); `BedrockChat` reads it before `AWS_REGION`."""


def profile_arn(scope: Construct, model: ModelConfig) -> str:
    """The ARN of `model`'s inference profile, in its region and this account."""
    stack = Stack.of(scope)
    return stack.format_arn(
        service="bedrock",
        region=model.region or stack.region,
        resource="inference-profile",
        resource_name=model.model_id,
    )


def foundation_model_arns(scope: Construct, model: ModelConfig) -> list[str]:
    """The foundation model's ARN in the model's region, or in any region for a cross-region profile."""
    stack = Stack.of(scope)
    region = "*" if model.inference_profile else (model.region or stack.region)
    return [
        stack.format_arn(
            service="bedrock",
            region=region,
            account="",
            resource="foundation-model",
            resource_name=model.foundation_model,
        )
    ]


def model_statements(scope: Construct, model: ModelConfig) -> list[iam.PolicyStatement]:
    """What invoking `model` (a Bedrock model) takes, on its own ARNs only."""
    actions = list(MODEL_ACTIONS)
    models = foundation_model_arns(scope, model)
    if not model.inference_profile:
        return [iam.PolicyStatement(effect=iam.Effect.ALLOW, actions=actions, resources=models)]
    profile = profile_arn(scope, model)
    return [
        iam.PolicyStatement(effect=iam.Effect.ALLOW, actions=actions, resources=[profile]),
        iam.PolicyStatement(
            effect=iam.Effect.ALLOW,
            actions=actions,
            resources=models,
            conditions={"StringEquals": {"bedrock:InferenceProfileArn": profile}},
        ),
    ]
