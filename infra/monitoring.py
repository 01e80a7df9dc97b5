"""Where alarms go: one SNS topic, encrypted with a key CloudWatch may use, optionally mailed to someone."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.typing_compat import alarm_action, as_key, email_subscription

__all__ = ["ALARM_PERIOD", "Monitoring"]

ALARM_PERIOD = Duration.minutes(5)
"""The period of the alarms' metrics."""


class Monitoring(Construct):
    """The alarm topic, and a helper that makes "more than zero in a period" alarms publish to it.

    Args:
        alarm_email: An address to subscribe to the topic (it must confirm the subscription).

    Attributes:
        topic: Every alarm of the stack notifies it.
    """

    def __init__(self, scope: Construct, construct_id: str, *, alarm_email: str | None = None) -> None:
        super().__init__(scope, construct_id)
        self.topic = self._build_topic(self._build_key())
        if alarm_email:
            self.topic.add_subscription(email_subscription(alarm_email))

    def _build_key(self) -> kms.Key:
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the stratus alarm topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,  # it only protects alarm notifications in flight
        )
        # CloudWatch publishes to an encrypted topic only if the key lets it (an AWS managed key would not).
        key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
        return key

    def _build_topic(self, key: kms.Key) -> sns.Topic:
        return sns.Topic(self, "AlarmTopic", display_name="stratus alarms", master_key=as_key(key), enforce_ssl=True)

    def alarm_when_positive(
        self, scope: Construct, construct_id: str, metric: cloudwatch.IMetric, description: str
    ) -> cloudwatch.Alarm:
        """An alarm, notifying the topic, on `metric` rising above zero in one evaluation period."""
        alarm = cloudwatch.Alarm(
            scope,
            construct_id,
            metric=metric,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,  # no data means nothing failed
            alarm_description=description,
        )
        alarm.add_alarm_action(alarm_action(self.topic))
        return alarm
