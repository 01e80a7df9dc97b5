"""The deployment's secrets, in Secrets Manager: functions get their ARNs, never their values."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.nag import acknowledge

__all__ = ["Secrets"]


class Secrets(Construct):
    """The API keys secret and the model keys secret.

    Attributes:
        api_keys: JSON `{"keys": [{"sha256": "<hex>", "user_id": "<user>"}]}`: the SHA-256 hash of each API key
            and the user it stands for (keys themselves are never stored). Created with no key.
        model_keys: The model provider's API key (e.g. OpenAI's), as the secret's plain value. Created with a
            random placeholder that the operator replaces after deploying.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.api_keys = self._build_api_keys()
        self.model_keys = self._build_model_keys()

    def _build_api_keys(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "ApiKeys",
            description="stratus: SHA-256 hashes of the API keys and the user each stands for",
            # No key yet, so the template reveals nothing: keys are added (hashed) after deploying.
            secret_string_value=SecretValue.unsafe_plain_text(json.dumps({"keys": []})),
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Holds hashes of API keys that their users hold; keys are issued and revoked by editing this list, "
            "which a rotation function could not do on their behalf.",
        )
        return secret

    def _build_model_keys(self) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            "ModelKeys",
            description="stratus: the model provider's API key (e.g. OpenAI's); set it after deploying",
            generate_secret_string=secretsmanager.SecretStringGenerator(exclude_punctuation=True),
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Holds a key issued by a third-party model provider, which Secrets Manager cannot rotate; the "
            "operator rotates it at the provider and stores the new value here.",
        )
        return secret
