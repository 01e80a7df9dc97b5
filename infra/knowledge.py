"""Vector knowledge: an OpenSearch Serverless collection of type VECTORSEARCH, with the encryption, network
and data-access policies a collection needs."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_opensearchserverless as aoss
from constructs import Construct

__all__ = ["COLLECTION_READ_PERMISSIONS", "COLLECTION_WRITE_PERMISSIONS", "Knowledge"]

COLLECTION_READ_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "collection": ("aoss:DescribeCollectionItems",),
    "index": ("aoss:DescribeIndex", "aoss:ReadDocument"),
}
"""What a reader may do, by resource type: search and fetch documents."""

COLLECTION_WRITE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "collection": ("aoss:DescribeCollectionItems",),
    "index": ("aoss:CreateIndex", "aoss:UpdateIndex", "aoss:DescribeIndex", "aoss:WriteDocument"),
}
"""What a writer may do, by resource type: create and map indexes, write and delete documents."""


class Knowledge(Construct):
    """The collection and its policies. Data access is granted per role after the functions exist, with
    `grant_data_access`.

    Attributes:
        collection: The VECTORSEARCH collection.
        name: Its name (also the prefix of its policies' names).
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.name = _collection_name(Stack.of(self).stack_name)
        encryption = self._build_encryption_policy()
        network = self._build_network_policy()
        self.collection = self._build_collection()
        # A collection can only be created once a policy covers its name.
        self.collection.add_resource_dependency(encryption)
        self.collection.add_resource_dependency(network)

    @property
    def arn(self) -> str:
        return self.collection.attr_arn

    @property
    def endpoint(self) -> str:
        return self.collection.attr_collection_endpoint

    def _build_encryption_policy(self) -> aoss.CfnSecurityPolicy:
        return aoss.CfnSecurityPolicy(
            self,
            "EncryptionPolicy",
            name=f"{self.name}-enc",
            type="encryption",
            policy=Stack.of(self).to_json_string(
                {"Rules": [{"ResourceType": "collection", "Resource": [self._resource]}], "AWSOwnedKey": True}
            ),
        )

    def _build_network_policy(self) -> aoss.CfnSecurityPolicy:
        # The functions run outside a VPC, so the endpoint is public; every request still needs SigV4 from a
        # role that both IAM (aoss:APIAccessAll) and the data-access policy allow.
        return aoss.CfnSecurityPolicy(
            self,
            "NetworkPolicy",
            name=f"{self.name}-net",
            type="network",
            policy=Stack.of(self).to_json_string(
                [{"Rules": [{"ResourceType": "collection", "Resource": [self._resource]}], "AllowFromPublic": True}]
            ),
        )

    def _build_collection(self) -> aoss.CfnCollection:
        return aoss.CfnCollection(
            self,
            "Collection",
            name=self.name,
            type="VECTORSEARCH",
            description="stratus knowledge: embedded chunks of ingested content",
        )

    def grant_data_access(self, *, readers: Sequence[iam.Role], writers: Sequence[iam.Role]) -> None:
        """Let `readers` search the collection's indexes and `writers` create indexes and write documents;
        nothing else, and nowhere else."""
        rules = [
            self._access_rule("readers", COLLECTION_READ_PERMISSIONS, readers),
            self._access_rule("writers", COLLECTION_WRITE_PERMISSIONS, writers),
        ]
        policy = [rule for rule in rules if rule is not None]
        if not policy:
            return  # no function touches the collection: a policy with no principal is invalid
        aoss.CfnAccessPolicy(
            self,
            "DataAccessPolicy",
            name=f"{self.name}-access",
            type="data",
            policy=Stack.of(self).to_json_string(policy),
        )

    def _access_rule(
        self, description: str, permissions: dict[str, tuple[str, ...]], roles: Sequence[iam.Role]
    ) -> dict[str, object] | None:
        if not roles:
            return None
        resources = {"collection": [self._resource], "index": [f"index/{self.name}/*"]}
        return {
            "Description": f"stratus functions: {description}",
            "Rules": [
                {"ResourceType": kind, "Resource": resources[kind], "Permission": list(actions)}
                for kind, actions in permissions.items()
            ],
            "Principal": [role.role_arn for role in roles],
        }

    @property
    def _resource(self) -> str:
        return f"collection/{self.name}"


def _collection_name(stack_name: str) -> str:
    # Collection names: 3-32 characters, lowercase letters, digits and hyphens, starting with a letter;
    # the policies add up to 7 characters ("-access") to it within the same 32.
    base = re.sub(r"[^a-z0-9-]+", "-", stack_name.lower()).strip("-")[:15] or "stratus"
    if not base[0].isalpha():
        base = f"s-{base}"[:15]
    return f"{base}-knowledge"
