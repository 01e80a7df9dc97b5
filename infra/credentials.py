"""The deployment's secrets, in Secrets Manager: functions get their ARNs, never their values."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy, SecretValue
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.nag import acknowledge, skip_checkov

__all__ = ["Secrets"]

_AWS_MANAGED_KEY_REASON = (
    "Encrypted with Secrets Manager's AWS managed key (aws/secretsmanager), which every reading role may use "
    "through Secrets Manager only. A customer managed key would add a monthly key fee, per-read KMS calls and a "
    "kms:Decrypt grant on each reader, and protect nothing more here: who may read is the secret's IAM grant."
)


class Secrets(Construct):
    """The API keys secret and, when the model needs one, the model key secret.

    Args:
        model_key: Whether the deployment's model is called with a key of its own (OpenAI's); Bedrock needs none.

    Attributes:
        api_keys: JSON `{"keys": [{"sha256": "<hex>", "user_id": "<user>"}]}`: the SHA-256 hash of each API key
            and the user it stands for (keys themselves are never stored). Created with no key.
        model_keys: The model provider's API key (OpenAI's), as the secret's plain value, or None. Created with
            a random placeholder that the operator replaces after deploying.
    """

    def __init__(self, scope: Construct, construct_id: str, *, model_key: bool = False) -> None:
        super().__init__(scope, construct_id)
        self.api_keys = self._build_api_keys()
        self.model_keys = self._build_model_keys() if model_key else None

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
        skip_checkov(secret, "CKV_AWS_149", _AWS_MANAGED_KEY_REASON)
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
        skip_checkov(secret, "CKV_AWS_149", _AWS_MANAGED_KEY_REASON)
        return secret
