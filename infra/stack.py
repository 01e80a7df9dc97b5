"""The stratus stack: it only composes the constructs, one per concern, and names its outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.api import Api
from infra.config import StratusConfig
from infra.credentials import Secrets
from infra.data import Data
from infra.knowledge import Knowledge
from infra.lambdas import Functions
from infra.monitoring import Monitoring
from infra.naming import pascal
from infra.queues import Queues
from stratus.aws.functions import Access

__all__ = ["StratusStack"]


class StratusStack(Stack):
    """Everything one stratus deployment needs.

    Args:
        config: The deployment's settings (see `StratusConfig.from_context`).
        staging_root: Where the functions' code is staged (a directory of the cloud assembly).
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StratusConfig, staging_root: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.monitoring = Monitoring(self, "Monitoring", alarm_email=config.alarm_email)
        self.data = Data(self, "Data", listing_indexes=config.listing_indexes)
        self.queues = Queues(self, "Queues", monitoring=self.monitoring)
        self.secrets = Secrets(self, "Secrets", model_key=config.model.needs_api_key)
        self.knowledge = Knowledge(self, "Knowledge")
        self.functions = Functions(
            self,
            "Functions",
            config=config,
            staging_root=staging_root,
            data=self.data,
            queues=self.queues,
            secrets=self.secrets,
            knowledge=self.knowledge,
            monitoring=self.monitoring,
        )
        self.knowledge.grant_data_access(
            readers=self.functions.roles_with(Access.COLLECTION_READ),
            writers=self.functions.roles_with(Access.COLLECTION_WRITE),
        )
        self.api = Api(self, "Api", config=config, functions=self.functions)
        self._build_outputs()

    def _build_outputs(self) -> None:
        outputs = {
            "ApiUrl": self.api.rest_api.url,
            "TableName": self.data.table.table_name,
            "BucketName": self.data.bucket.bucket_name,
            "ApiKeysSecretArn": self.secrets.api_keys.secret_arn,
            "CollectionEndpoint": self.knowledge.endpoint,
            "AlarmTopicArn": self.monitoring.topic.topic_arn,
        }
        if self.secrets.model_keys is not None:
            outputs["ModelKeysSecretArn"] = self.secrets.model_keys.secret_arn
        for name, queue in self.queues.queues.items():
            outputs[f"{pascal(name)}QueueUrl"] = queue.queue_url
            outputs[f"{pascal(name)}DeadLetterQueueUrl"] = self.queues.dead_letter_queues[name].queue_url
        if self.api.user_pool is not None:
            outputs["UserPoolId"] = self.api.user_pool.user_pool_id
        if self.api.user_pool_client is not None:
            outputs["UserPoolClientId"] = self.api.user_pool_client.user_pool_client_id
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
