"""One Lambda function per `stratus.aws.functions.FUNCTIONS` entry (the authorizer only with API-key auth), each
with its own least-privilege role (granted strictly from its `access`), its own log group, X-Ray tracing, a
reserved concurrency (CDK context `max_concurrency`) and an alarm on its errors. Where SnapStart fits
(`SNAP_START_KINDS`, unless `-c snap_start=false`), a function is invoked through the alias `live` of its
latest published version, whose snapshot new execution environments resume from instead of running INIT."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import CfnCondition, CfnElement, CfnParameter, Duration, Fn, RemovalPolicy, Stack, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.bedrock import MODEL_REGION_VARIABLE, foundation_model_arns, model_statements
from infra.config import AuthMode, StratusConfig
from infra.credentials import Secrets
from infra.data import Data
from infra.knowledge import Knowledge
from infra.monitoring import ALARM_PERIOD, Monitoring
from infra.nag import acknowledge, arn_of, ignore_cfn_lint, skip_checkov
from infra.naming import pascal
from infra.queues import Queues
from infra.staging import RUN_SCRIPT, CodeStager
from infra.typing_compat import as_function, as_principal, as_role, as_version
from stratus import settings
from stratus.aws.functions import FUNCTIONS, QUEUES, Access, FunctionKind, FunctionSpec
from stratus.knowledge.embedders import STRATUS_EMBEDDER
from stratus.knowledge.vectordb import STRATUS_VECTOR_DB
from stratus.storage import keys

__all__ = [
    "LIVE_ALIAS",
    "LOG_RETENTION",
    "RUNTIME",
    "SNAP_START_KINDS",
    "TABLE_READ_ACTIONS",
    "TABLE_WRITE_ACTIONS",
    "WEB_ADAPTER_ENVIRONMENT",
    "WEB_ADAPTER_LAYER_PARAMETER",
    "Functions",
    "deployed_functions",
]

RUNTIME = lambda_.Runtime.PYTHON_3_12
"""The layer's wheels are built for CPython 3.12 on manylinux2014 x86_64: the functions must match."""

ARCHITECTURE = lambda_.Architecture.X86_64

LOG_RETENTION = logs.RetentionDays.ONE_MONTH

METRICS_NAMESPACE = "Stratus"

TABLE_READ_ACTIONS = (  # no Scan: every read the functions make is a key lookup or a Query
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:DescribeTable",
)
TABLE_WRITE_ACTIONS = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    # TransactWriteItems needs no action of its own: DynamoDB authorizes each item's Put/Update/Delete/Check.
    "dynamodb:ConditionCheckItem",
)
BUCKET_READ_ACTIONS = ("s3:GetObject",)
BUCKET_WRITE_ACTIONS = ("s3:PutObject", "s3:DeleteObject")
QUEUE_SEND_ACTIONS = ("sqs:SendMessage",)
SECRET_READ_ACTIONS = ("secretsmanager:GetSecretValue",)
COLLECTION_ACTIONS = ("aoss:APIAccessAll",)

WEB_ADAPTER_LAYER_PARAMETER = "LambdaWebAdapterLayerArn"
"""The stack parameter naming the AWS Lambda Web Adapter layer; empty selects AWS's own layer in the region."""

WEB_ADAPTER_DEFAULT_LAYER = "arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerX86:26"

WEB_ADAPTER_PORT = "8080"

WEB_ADAPTER_ENVIRONMENT = {
    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
    "AWS_LWA_INVOKE_MODE": "response_stream",
    "AWS_LWA_PORT": WEB_ADAPTER_PORT,
    "AWS_LWA_READINESS_CHECK_PATH": "/health",
}
"""What makes a streamed function start its `run.sh` under the Web Adapter and stream its responses."""

SNAP_START_KINDS = frozenset({FunctionKind.API, FunctionKind.QUEUE, FunctionKind.AUTHORIZER})
"""The functions SnapStart fits: the Python runtime runs their handler in its own process, so its hooks
(`stratus.aws.snapstart`) reseed randomness and drop clients and cached secrets after each restore. Not the
streamed ones (FunctionKind.STREAM): there the Web Adapter replaces the runtime (`AWS_LAMBDA_EXEC_WRAPPER`) and
uvicorn serves the app in a child process that the runtime's hooks never reach; the adapter relays SnapStart to
the app over HTTP only from v1.1.0, newer than the pinned layer (version 26), and response streaming under
SnapStart is unverified. None of the stack's functions has provisioned concurrency, EFS or more than 512 MB
of ephemeral storage, which SnapStart does not support."""

LIVE_ALIAS = "live"
"""The alias every SnapStart function is invoked through: SnapStart applies to published versions only, never
to $LATEST, so API Gateway, the authorizer and the SQS event sources all name this alias."""

_QUEUE_SENDS = {
    Access.RUN_QUEUE_SEND: "runs",
    Access.KNOWLEDGE_QUEUE_SEND: "knowledge",
    Access.LEARNING_QUEUE_SEND: "learning",
}
"""Which queue each send access is for."""

_BATCH_SIZES = {"runs": 1, "knowledge": 1}
"""Records per invocation by queue (default 10): a background run, or a large document's ingestion, may take
the whole 15 minutes alone."""

EMBEDDING_MODEL = "amazon.titan-embed-text-v2:0"
"""The embedder on AWS (the local model is not in the layer): Titan Text Embeddings v2 on Bedrock."""

EMBEDDINGS_ACTIONS = ("bedrock:InvokeModel",)

_DEFAULT_BATCH_SIZE = 10

_XRAY_REASON = (
    "Active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords, which X-Ray only grants on "
    "Resource '*' (it has no resource-level permissions)."
)
_RUNTIME_REASON = (
    "The shared layer's binary wheels are built for CPython 3.12 (manylinux2014_x86_64, without Docker); "
    "the runtime must match them, so it moves when the layer's build does."
)
_WEB_ADAPTER_LAYER_REASON = (
    f"The {WEB_ADAPTER_LAYER_PARAMETER} parameter's empty default selects AWS's Web Adapter layer in the "
    "region through Fn::If; the validator checks the empty branch of the Fn::If as if it were the ARN."
)
_LOG_GROUP_REASON = (
    "CloudWatch Logs encrypts every log group at rest with keys it manages. A KMS key would need a key policy "
    "for the regional logs service and a monthly fee, and the logs hold no key material: secrets come from "
    "Secrets Manager, bearer keys are never logged and API Gateway data tracing is off."
)
_VPC_REASON = (
    "The function reaches only AWS service APIs (DynamoDB, S3, SQS, Secrets Manager, Bedrock, OpenSearch "
    "Serverless), over TLS with SigV4 and a least-privilege role, and no resource inside a VPC. Attaching it to "
    "a VPC would need NAT gateways or interface endpoints (billed per hour and AZ) and protect no resource."
)
_ENVIRONMENT_REASON = (
    "Lambda encrypts environment variables at rest with its AWS managed key. They hold only names, ARNs and "
    "URLs: secret values are read from Secrets Manager at run time, so a customer managed key would protect "
    "nothing secret and add a KMS grant and calls to every cold start."
)
_SYNC_DLQ_REASON = (
    "API Gateway invokes this function synchronously and receives its error; a Lambda dead-letter queue only "
    "ever receives failed asynchronous invocations, which this function never has."
)
_QUEUE_DLQ_REASON = (
    "The SQS event source invokes this function synchronously; a message it fails goes back to its queue and, "
    "after the queue's max_receive_count, to that queue's own dead-letter queue (alarmed). A Lambda DLQ only "
    "receives failed asynchronous invocations, which this function never has."
)
_DEPENDS_ON_REASON = (
    "CDK makes each function depend on its role and the role's policy (so the policy exists before the "
    "function first runs); the role dependency is also implied by the Role GetAtt, which W3005 reports."
)
_BUCKET_REASON = (
    "Run bodies are stored under keys made of session and run ids known only at run time, so the grant "
    "covers the objects of this one bucket (object actions only, no bucket-level or s3:* action)."
)


class Functions(Construct):
    """Every function of `FUNCTIONS`, keyed by name, with its role.

    Args:
        config: The app to serve, auth mode, where the code and the layer are.
        staging_root: Where the code is staged for its assets.
        data: The table and the run-body bucket.
        queues: The queues (their URLs for senders, their messages for consumers).
        secrets: The secrets whose ARNs the functions receive.
        knowledge: The vector collection.
        monitoring: Where the error alarms go.

    Attributes:
        functions: The Lambda functions.
        targets: What to invoke for each: its alias `live` with SnapStart, else the function ($LATEST).
        roles: Each function's own role.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StratusConfig,
        staging_root: Path,
        data: Data,
        queues: Queues,
        secrets: Secrets,
        knowledge: Knowledge,
        monitoring: Monitoring,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._data = data
        self._queues = queues
        self._secrets = secrets
        self._knowledge = knowledge
        self._monitoring = monitoring
        self._code = CodeStager(config, staging_root)
        self._layer = self._build_layer()
        self._web_adapter: lambda_.ILayerVersion | None = None
        self.functions: dict[str, lambda_.Function] = {}
        self.targets: dict[str, lambda_.IFunction] = {}
        self.roles: dict[str, iam.Role] = {}
        for spec in deployed_functions(config):
            role = self._build_role(spec)
            function = self._build_function(spec, role, self._build_log_group(spec, role))
            target = as_function(self._build_alias(spec, function) if self.snap_starts(spec) else function)
            self._build_event_source(spec, target)
            self._build_alarm(spec, function)
            self.roles[spec.name] = role
            self.functions[spec.name] = function
            self.targets[spec.name] = target

    def snap_starts(self, spec: FunctionSpec) -> bool:
        """Whether `spec`'s function runs with SnapStart (and is invoked through its alias)."""
        return self._config.snap_start and spec.kind in SNAP_START_KINDS

    def roles_with(self, access: Access) -> list[iam.Role]:
        """The roles of the functions granted `access`."""
        return [self.roles[spec.name] for spec in deployed_functions(self._config) if access in spec.access]

    def _build_layer(self) -> lambda_.LayerVersion:
        return lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(self._config.layer_path)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="stratus and its dependencies (built by `make layer`)",
        )

    def _web_adapter_layer(self) -> lambda_.ILayerVersion:
        """The Web Adapter layer, from the stack parameter (created the first time a streamed function asks)."""
        if self._web_adapter is None:
            stack = Stack.of(self)
            parameter = CfnParameter(
                stack,
                WEB_ADAPTER_LAYER_PARAMETER,
                type="String",
                default="",
                description="ARN of the AWS Lambda Web Adapter layer (x86_64); empty: AWS's published layer in "
                "this region",
            )
            # A parameter's default cannot hold ${AWS::Region}, so an empty value selects the regional default.
            use_default = CfnCondition(
                stack, "UseDefaultWebAdapterLayer", expression=Fn.condition_equals(parameter.value_as_string, "")
            )
            arn = Token.as_string(
                Fn.condition_if(use_default.logical_id, Fn.sub(WEB_ADAPTER_DEFAULT_LAYER), parameter.value_as_string)
            )
            self._web_adapter = lambda_.LayerVersion.from_layer_version_arn(self, "WebAdapter", arn)
        return self._web_adapter

    def _build_role(self, spec: FunctionSpec) -> iam.Role:
        role = iam.Role(
            self,
            f"{pascal(spec.name)}Role",
            assumed_by=as_principal(iam.ServicePrincipal("lambda.amazonaws.com")),
            description=f"stratus {spec.name} function: only what its access allows",
        )
        for statement in self._statements(spec):
            role.add_to_policy(statement)
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]", _XRAY_REASON)
        if spec.access & {Access.BUCKET_READ, Access.BUCKET_WRITE}:
            bucket = self._data.bucket.node.default_child
            assert isinstance(bucket, CfnElement)
            acknowledge(role, f"AwsSolutions-IAM5[Resource::{arn_of(bucket)}/*]", _BUCKET_REASON)
        model = self._config.model
        if Access.MODEL_INVOKE in spec.access and model.inference_profile:
            (models,) = foundation_model_arns(self, model)
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{_nag_spelling(Stack.of(self), models)}]",
                f"The cross-region inference profile {model.model_id} routes each request to {model.foundation_model}"
                " in a region of its geography that AWS chooses (and adds to); the grant names that one model in "
                "any region, and only through that profile (condition bedrock:InferenceProfileArn).",
            )
        return role

    def _statements(self, spec: FunctionSpec) -> list[iam.PolicyStatement]:
        """The statements `spec.access` implies, one per access, on the named resources only."""
        table, objects = self._data.table, self._data.bucket.arn_for_objects("*")
        grants = {
            Access.TABLE_READ: _statement(
                TABLE_READ_ACTIONS,
                table.table_arn,
                *(f"{table.table_arn}/index/{index.name}" for index in keys.INDEXES),
            ),
            Access.TABLE_WRITE: _statement(TABLE_WRITE_ACTIONS, table.table_arn),
            Access.BUCKET_READ: _statement(BUCKET_READ_ACTIONS, objects),
            Access.BUCKET_WRITE: _statement(BUCKET_WRITE_ACTIONS, objects),
            Access.API_KEYS_READ: _statement(SECRET_READ_ACTIONS, self._secrets.api_keys.secret_arn),
            Access.EMBEDDINGS_INVOKE: _statement(
                EMBEDDINGS_ACTIONS,
                Stack.of(self).format_arn(
                    service="bedrock", account="", resource="foundation-model", resource_name=EMBEDDING_MODEL
                ),
            ),
        }
        for access, queue in _QUEUE_SENDS.items():
            grants[access] = _statement(QUEUE_SEND_ACTIONS, self._queues.queues[queue].queue_arn)
        if self._secrets.model_keys is not None:  # only a model with a key of its own (OpenAI) has the secret
            grants[Access.MODEL_SECRETS_READ] = _statement(SECRET_READ_ACTIONS, self._secrets.model_keys.secret_arn)
        statements = [grants[access] for access in sorted(spec.access) if access in grants]
        if Access.MODEL_INVOKE in spec.access and self._config.model.bedrock:
            statements += model_statements(self, self._config.model)
        if spec.access & {Access.COLLECTION_READ, Access.COLLECTION_WRITE}:
            # IAM only opens the collection's API; what a role may do inside is the data-access policy's.
            statements.append(_statement(COLLECTION_ACTIONS, self._knowledge.arn))
        return statements

    def _build_log_group(self, spec: FunctionSpec, role: iam.Role) -> logs.LogGroup:
        log_group = logs.LogGroup(self, f"{pascal(spec.name)}Logs", retention=LOG_RETENTION)
        log_group.grant_write(role)  # its own log group only, instead of the managed basic-execution policy
        skip_checkov(log_group, "CKV_AWS_158", _LOG_GROUP_REASON)
        return log_group

    def _build_function(self, spec: FunctionSpec, role: iam.Role, log_group: logs.LogGroup) -> lambda_.Function:
        stream = spec.kind is FunctionKind.STREAM
        layers: list[lambda_.ILayerVersion] = [self._layer]
        if stream:
            layers.append(self._web_adapter_layer())
        function = lambda_.Function(
            self,
            pascal(spec.name),
            description=f"stratus {spec.name} ({spec.kind.value})",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=lambda_.Code.from_asset(str(self._code.directory_for(spec))),
            handler=RUN_SCRIPT if stream else spec.handler,
            layers=layers,
            role=as_role(role),
            log_group=log_group,
            timeout=Duration.seconds(spec.timeout_seconds),
            memory_size=spec.memory_mb,
            # What one caller, or a flood of them, can run at once: the bound on compute and model spend.
            reserved_concurrent_executions=self._config.concurrency_of(spec),
            tracing=lambda_.Tracing.ACTIVE,
            environment=self._environment(spec),
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if self.snap_starts(spec) else None,
            # Each deploy publishes a version (and a snapshot, cached at a price): the one it replaces goes.
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.DESTROY),
        )
        acknowledge(function, "AwsSolutions-L1", _RUNTIME_REASON)
        skip_checkov(function, "CKV_AWS_117", _VPC_REASON)
        skip_checkov(function, "CKV_AWS_173", _ENVIRONMENT_REASON)
        skip_checkov(
            function, "CKV_AWS_116", _QUEUE_DLQ_REASON if spec.kind is FunctionKind.QUEUE else _SYNC_DLQ_REASON
        )
        ignore_cfn_lint(function, "W3005", _DEPENDS_ON_REASON)
        if stream:
            for rule in ("CloudFormation-Validate::F3031", "CloudFormation-Validate::F3033"):
                acknowledge(function, rule, _WEB_ADAPTER_LAYER_REASON)
        return function

    def _environment(self, spec: FunctionSpec) -> dict[str, str]:
        """Names and ARNs only: a secret's value is read from Secrets Manager at run time, never put here."""
        data, stack, model = self._data, Stack.of(self), self._config.model
        environment = {
            settings.STRATUS_AUTH: self._config.auth.value,
            "POWERTOOLS_SERVICE_NAME": f"stratus-{spec.name}",
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        if spec.kind is not FunctionKind.AUTHORIZER:  # the authorizer loads neither the app nor its store
            environment[settings.STRATUS_APP] = self._config.app
            environment[settings.STRATUS_DB] = (
                f"dynamodb://{data.table.table_name}?region={stack.region}&bucket={data.bucket.bucket_name}"
            )
            # Every function that loads the app describes (and, with MODEL_INVOKE, calls) the same model.
            environment[settings.STRATUS_MODEL] = model.spec
            # The origins the gateway answers preflights for; the functions add the headers to their answers.
            environment[settings.STRATUS_CORS_ORIGINS] = ",".join(self._config.cors_origins)
            if model.region is not None:
                environment[MODEL_REGION_VARIABLE] = model.region
        if Access.API_KEYS_READ in spec.access:
            environment[settings.STRATUS_API_KEYS_SECRET] = self._secrets.api_keys.secret_arn
        if Access.MODEL_SECRETS_READ in spec.access and self._secrets.model_keys is not None:
            environment[settings.STRATUS_SECRETS] = stack.to_json_string(
                {settings.OPENAI_API_KEY: self._secrets.model_keys.secret_arn}
            )
        for access, queue in _QUEUE_SENDS.items():
            if access in spec.access:
                environment[QUEUES[queue].url_variable] = self._queues.queues[queue].queue_url
        if spec.access & {Access.COLLECTION_READ, Access.COLLECTION_WRITE}:
            host = Fn.select(1, Fn.split("https://", self._knowledge.endpoint))  # the endpoint is a URL
            environment[STRATUS_VECTOR_DB] = f"opensearch://{host}?service=aoss&region={stack.region}"
        if Access.EMBEDDINGS_INVOKE in spec.access:
            environment[STRATUS_EMBEDDER] = f"bedrock:{EMBEDDING_MODEL}"
        if spec.kind is FunctionKind.STREAM:
            environment.update(WEB_ADAPTER_ENVIRONMENT)
        return environment

    def _build_alias(self, spec: FunctionSpec, function: lambda_.Function) -> lambda_.Alias:
        """The alias `live` of the version this deploy publishes (a new one whenever the code or the
        configuration changes): SnapStart snapshots it when it is published."""
        return lambda_.Alias(
            self,
            f"{pascal(spec.name)}Live",
            alias_name=LIVE_ALIAS,
            version=as_version(function.current_version),
            description=f"stratus {spec.name}: the published version, resumed from its SnapStart snapshot",
        )

    def _build_event_source(self, spec: FunctionSpec, target: lambda_.IFunction) -> None:
        if spec.kind is not FunctionKind.QUEUE or spec.queue is None:
            return
        target.add_event_source(
            event_sources.SqsEventSource(
                self._queues.queues[spec.queue],
                batch_size=_BATCH_SIZES.get(spec.queue, _DEFAULT_BATCH_SIZE),
                report_batch_item_failures=True,  # one failed message is retried alone, not its whole batch
                # No more pollers than the function may run: a throttled delivery would count as a failed
                # receive, and enough of them move a healthy message to the dead-letter queue.
                max_concurrency=self._config.concurrency_of(spec),
            )
        )

    def _build_alarm(self, spec: FunctionSpec, function: lambda_.Function) -> None:
        self._monitoring.alarm_when_positive(
            self,
            f"{pascal(spec.name)}ErrorsAlarm",
            function.metric_errors(period=ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
            f"The stratus {spec.name} function failed (an unhandled error or a timeout)",
        )


def deployed_functions(config: StratusConfig) -> list[FunctionSpec]:
    """The functions `config` deploys: every one, but the API-key authorizer only with API-key auth."""
    return [spec for spec in FUNCTIONS if spec.kind is not FunctionKind.AUTHORIZER or config.auth is AuthMode.API_KEY]


def _statement(actions: Sequence[str], *resources: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(effect=iam.Effect.ALLOW, actions=list(actions), resources=list(resources))


def _nag_spelling(stack: Stack, arn: str) -> str:
    """How cdk-nag spells an ARN token in a finding: pseudo parameters as `<AWS::Partition>`."""
    resolved = stack.resolve(arn)
    if isinstance(resolved, str):
        return resolved
    parts = resolved["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else f"<{part['Ref']}>" for part in parts)
