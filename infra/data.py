"""Where sessions, runs, memories, learnings and knowledge records live: one DynamoDB table laid out by
`stratus.storage.keys`, and an S3 bucket for run bodies too large for one item."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.nag import acknowledge, skip_checkov
from stratus.storage import keys

__all__ = ["Data"]


class Data(Construct):
    """The table, the bucket of offloaded run bodies, and the bucket of that bucket's access logs.

    Attributes:
        table: The single table (keys, indexes and TTL from `stratus.storage.keys`).
        bucket: Run bodies too large for a DynamoDB item even compressed.
        access_logs: The server access logs of `bucket`.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, listing_indexes: int = len(keys.LISTING_INDEXES)
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = self._build_table(listing_indexes)
        self.access_logs = self._build_access_log_bucket()
        self.bucket = self._build_bucket(self.access_logs)

    def _build_table(self, listing_indexes: int) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=keys.PK, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=keys.SK, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # The AWS managed key: encrypted at rest, and functions need no KMS grant to use the table.
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=keys.TTL_ATTRIBUTE,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # gsi1 finds records by id; the others serve the listings. Each carries a few small attributes, never
        # a record's body. CloudFormation adds one index per update of an existing table, so a table made
        # before the listing indexes gets them one deploy at a time: `-c listing_indexes=1`, 2, 3, then all.
        for index in (keys.GSI1_INDEX, *keys.LISTING_INDEXES[:listing_indexes]):
            table.add_global_secondary_index(
                index_name=index.name,
                partition_key=dynamodb.Attribute(name=index.pk, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=index.sk, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.INCLUDE,
                non_key_attributes=list(index.projected),
            )
        skip_checkov(
            table,
            "CKV_AWS_119",
            "Encrypted at rest with DynamoDB's AWS managed key (aws/dynamodb). A customer managed key would add a "
            "monthly key fee, KMS calls on every cold read and a KMS grant on every function's role; a deployment "
            "whose policy requires one sets TableEncryption.CUSTOMER_MANAGED here.",
        )
        return table

    def _build_access_log_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,  # the only encryption S3 log delivery supports
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,  # a log deleted or overwritten by mistake (or on purpose) can still be read
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs", expiration=Duration.days(90), noncurrent_version_expiration=Duration.days(30)
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        reason = (
            "This bucket receives the run-body bucket's server access logs; logging it too would need yet "
            "another bucket, or log its own log deliveries in a loop."
        )
        acknowledge(bucket, "AwsSolutions-S1", reason)
        skip_checkov(bucket, "CKV_AWS_18", reason)
        return bucket

    def _build_bucket(self, access_logs: s3.IBucket) -> s3.Bucket:
        return s3.Bucket(
            self,
            "RunBodies",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,  # no KMS grant needed by the functions
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,  # a deleted or overwritten run body can be recovered for a while
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="run-bodies/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="tidy-up",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    noncurrent_version_expiration=Duration.days(30),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
