"""Casts for the places where pyright cannot match a CDK class to the jsii interface it implements.

jsii renders CDK interfaces as `typing.Protocol`s; some classes name a method's parameters differently
(`_topic` against `topic`), which pyright reports as a mismatch though the call is correct at run time.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions

__all__ = ["alarm_action", "as_function", "as_key", "as_principal", "as_role", "as_version", "email_subscription"]


def as_principal(principal: iam.PrincipalBase) -> iam.IPrincipal:
    return cast(iam.IPrincipal, principal)


def as_role(role: iam.Role) -> iam.IRole:
    return cast(iam.IRole, role)


def as_function(function: lambda_.Function | lambda_.Alias) -> lambda_.IFunction:
    return cast(lambda_.IFunction, function)


def as_version(version: lambda_.Version) -> lambda_.IVersion:
    return cast(lambda_.IVersion, version)


def as_key(key: kms.Key) -> kms.IKey:
    return cast(kms.IKey, key)


def email_subscription(address: str) -> sns.ITopicSubscription:
    return cast(sns.ITopicSubscription, subscriptions.EmailSubscription(address))


def alarm_action(topic: sns.Topic) -> cloudwatch.IAlarmAction:
    """An alarm action that publishes to `topic`."""
    return cast(cloudwatch.IAlarmAction, cloudwatch_actions.SnsAction(cast(sns.ITopic, topic)))
