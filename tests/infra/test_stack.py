"""The default deployment (`examples.demo:app`, API-key auth, Bedrock), asserted on its synthesized template:
routes, queues, least-privilege roles, the table's schema, secrets kept out of environment variables, cdk-nag."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template

from infra.app import create_app
from infra.config import DEFAULT_MODEL, InfraConfigError, StratusConfig
from infra.data import Data
from infra.naming import pascal
from stratus import settings
from stratus.aws.functions import FUNCTIONS, QUEUES, Access, FunctionKind, FunctionSpec, function
from stratus.storage import keys
from tests.infra.synth import Synthesized, synthesize

TABLE_READ = {  # no Scan: the stores list with Queries, so no function may scan the table
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:DescribeTable",
}
TABLE_WRITE = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
}
QUEUE_CONSUME = {
    "sqs:ReceiveMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueUrl",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
}
WEB_ADAPTER_ENVIRONMENT = {
    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
    "AWS_LWA_INVOKE_MODE": "response_stream",
    "AWS_LWA_PORT": "8080",
    "AWS_LWA_READINESS_CHECK_PATH": "/health",
}
WEB_ADAPTER_PARAMETER = "LambdaWebAdapterLayerArn"
MODEL_PROFILE = DEFAULT_MODEL.removeprefix("bedrock:")  # us.amazon.nova-lite-v1:0
MODEL_ACTIONS = ("bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream")

APP_FUNCTIONS = [spec for spec in FUNCTIONS if spec.kind is not FunctionKind.AUTHORIZER]
"""The functions that load the app (the authorizer loads neither it nor the store)."""

Grant = tuple[str, str]
"""(IAM action, what it applies to: "table", "table/index/gsi1", "bucket/*", "queue:runs", "*", ...)."""


def expected_grants(
    spec: FunctionSpec, *, bedrock_profile: str | None = MODEL_PROFILE, model_key: bool = False
) -> set[Grant]:
    """What `spec.access` (and its kind) implies, and nothing else, with the deployment's model: a Bedrock
    cross-region profile (the default), or none and a model key secret (an OpenAI model)."""
    grants: set[Grant] = {
        ("logs:CreateLogStream", "own log group"),
        ("logs:PutLogEvents", "own log group"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    }
    access = spec.access
    if Access.TABLE_READ in access:
        grants |= {(action, "table") for action in TABLE_READ}
        grants |= {(action, f"table/index/{index.name}") for action in TABLE_READ for index in keys.INDEXES}
    if Access.TABLE_WRITE in access:
        grants |= {(action, "table") for action in TABLE_WRITE}
    if Access.BUCKET_READ in access:
        grants.add(("s3:GetObject", "bucket/*"))
    if Access.BUCKET_WRITE in access:
        grants |= {("s3:PutObject", "bucket/*"), ("s3:DeleteObject", "bucket/*")}
    if Access.RUN_QUEUE_SEND in access:
        grants.add(("sqs:SendMessage", "queue:runs"))
    if Access.KNOWLEDGE_QUEUE_SEND in access:
        grants.add(("sqs:SendMessage", "queue:knowledge"))
    if Access.LEARNING_QUEUE_SEND in access:
        grants.add(("sqs:SendMessage", "queue:learning"))
    if Access.EMBEDDINGS_INVOKE in access:
        grants.add(("bedrock:InvokeModel", "foundation-model/amazon.titan-embed-text-v2:0"))
    if Access.API_KEYS_READ in access:
        grants.add(("secretsmanager:GetSecretValue", "secret:api_keys"))
    if Access.MODEL_SECRETS_READ in access and model_key:
        grants.add(("secretsmanager:GetSecretValue", "secret:model_keys"))
    if Access.MODEL_INVOKE in access and bedrock_profile is not None:
        model = bedrock_profile.split(".", 1)[1]
        grants |= {(action, f"inference-profile/{bedrock_profile}") for action in MODEL_ACTIONS}
        grants |= {(action, f"foundation-model/{model} in any region") for action in MODEL_ACTIONS}
    if access & {Access.COLLECTION_READ, Access.COLLECTION_WRITE}:
        grants.add(("aoss:APIAccessAll", "collection"))
    if spec.kind is FunctionKind.QUEUE:
        grants |= {(action, f"queue:{spec.queue}") for action in QUEUE_CONSUME}
    return grants


def resource_names(stack: Synthesized, spec: FunctionSpec) -> dict[str, str]:
    """Logical id -> the name `expected_grants` uses for it."""
    names = {
        stack.output_ref("TableName"): "table",
        stack.output_ref("BucketName"): "bucket",
        stack.output_ref("ApiKeysSecretArn"): "secret:api_keys",
        stack.function(spec.name)["LoggingConfig"]["LogGroup"]["Ref"]: "own log group",
    }
    if "ModelKeysSecretArn" in stack.template["Outputs"]:
        names[stack.output_ref("ModelKeysSecretArn")] = "secret:model_keys"
    names.update(dict.fromkeys(stack.of_type("AWS::OpenSearchServerless::Collection"), "collection"))
    for name in QUEUES:
        names[stack.output_ref(f"{pascal(name)}QueueUrl")] = f"queue:{name}"
        names[stack.output_ref(f"{pascal(name)}DeadLetterQueueUrl")] = f"dead letters:{name}"
    return names


def describe(resource: Any, names: dict[str, str]) -> str:
    """A statement's resource in `expected_grants`' words; anything unexpected stays as its JSON."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict) and "Fn::Join" in resource:
        text = "".join(p if isinstance(p, str) else "" for p in resource["Fn::Join"][1])
        if ":bedrock:*::foundation-model/" in text:  # one model, in whichever region a profile routes to
            return "foundation-model/" + text.rsplit("::foundation-model/", 1)[1] + " in any region"
        if ":bedrock:" in text and "::foundation-model/" in text:  # one model, in the stack's region
            return "foundation-model/" + text.rsplit("::foundation-model/", 1)[1]
        if ":bedrock:" in text and ":inference-profile/" in text:  # one profile, in the stack's region
            return "inference-profile/" + text.rsplit(":inference-profile/", 1)[1]
    if isinstance(resource, dict):
        if "Ref" in resource and resource["Ref"] in names:
            return names[resource["Ref"]]
        if "Fn::GetAtt" in resource and resource["Fn::GetAtt"][0] in names:
            return names[resource["Fn::GetAtt"][0]]
        parts = resource.get("Fn::Join", [None, []])[1]
        if len(parts) == 2 and isinstance(parts[1], str):
            return describe(parts[0], names) + parts[1]
    return json.dumps(resource)


def granted(stack: Synthesized, spec: FunctionSpec) -> set[Grant]:
    role = stack.function(spec.name)["Role"]["Fn::GetAtt"][0]
    names = resource_names(stack, spec)
    grants: set[Grant] = set()
    for statement in stack.role_statements(role):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        grants |= {(action, describe(resource, names)) for action in actions for resource in resources}
    return grants


def all_statements(stack: Synthesized) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in stack.of_type("AWS::IAM::Policy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    for role in stack.of_type("AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            statements += policy["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- the API ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [spec for spec in FUNCTIONS if spec.paths], ids=lambda spec: spec.name)
def test_every_path_of_a_function_is_a_resource_whose_method_invokes_that_function(
    api_key_stack: Synthesized, spec: FunctionSpec
) -> None:
    methods = api_key_stack.methods_by_path()
    function_arn = api_key_stack.invoked(spec.name)  # its SnapStart alias, or the function
    for path in spec.paths:
        assert path in methods, f"{path} is not an API Gateway resource with a method"
        (method,) = methods[path]
        assert method["HttpMethod"] == "ANY"
        integration = method["Integration"]
        assert integration["Type"] == "AWS_PROXY"
        uri_parts = integration["Uri"]["Fn::Join"][1]
        assert function_arn in uri_parts
        if spec.kind is FunctionKind.STREAM:
            assert integration["ResponseTransferMode"] == "STREAM"
            assert uri_parts[-1] == "/response-streaming-invocations"
            assert integration["TimeoutInMillis"] == spec.timeout_seconds * 1000
        else:
            assert integration.get("ResponseTransferMode", "BUFFERED") == "BUFFERED"
            assert uri_parts[-1] == "/invocations"


def test_the_api_has_no_route_that_no_function_declares(api_key_stack: Synthesized) -> None:
    declared = {path for spec in FUNCTIONS for path in spec.paths}
    assert set(api_key_stack.methods_by_path()) == declared


def test_with_api_key_auth_the_gateway_runs_the_authorizer_and_the_functions_check_the_key_again(
    api_key_stack: Synthesized,
) -> None:
    (authorizer_id,) = api_key_stack.of_type("AWS::ApiGateway::Authorizer")
    for path, methods in api_key_stack.methods_by_path().items():
        for method in methods:
            if path == "/health":
                assert method["AuthorizationType"] == "NONE"
            else:
                assert method["AuthorizationType"] == "CUSTOM", path
                assert method["AuthorizerId"] == {"Ref": authorizer_id}, path
    for spec in FUNCTIONS:  # defence in depth: every function still verifies the bearer key itself
        assert api_key_stack.function(spec.name)["Environment"]["Variables"][settings.STRATUS_AUTH] == "api_key"


def test_the_prod_stage_is_traced_throttled_and_access_logged(api_key_stack: Synthesized) -> None:
    (stage,) = api_key_stack.of_type("AWS::ApiGateway::Stage").values()
    properties = stage["Properties"]
    assert properties["StageName"] == "prod"
    assert properties["TracingEnabled"] is True
    log_group = properties["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]
    assert api_key_stack.resources[log_group]["Properties"]["RetentionInDays"] > 0
    (settings_for_all,) = [s for s in properties["MethodSettings"] if s["ResourcePath"] == "/*"]
    assert settings_for_all["ThrottlingRateLimit"] > 0
    assert settings_for_all["ThrottlingBurstLimit"] > 0
    assert settings_for_all["DataTraceEnabled"] is False


# --- the functions ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", APP_FUNCTIONS, ids=lambda spec: spec.name)
def test_each_function_is_built_from_its_spec(api_key_stack: Synthesized, spec: FunctionSpec) -> None:
    properties = api_key_stack.function(spec.name)
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["x86_64"]
    assert properties["Timeout"] == spec.timeout_seconds
    assert properties["MemorySize"] == spec.memory_mb
    assert properties["TracingConfig"] == {"Mode": "Active"}
    (layer,) = api_key_stack.of_type("AWS::Lambda::LayerVersion")
    assert properties["Layers"][0] == {"Ref": layer}
    variables = properties["Environment"]["Variables"]
    assert variables[settings.STRATUS_APP] == "examples.demo:app"
    assert variables["POWERTOOLS_SERVICE_NAME"] == f"stratus-{spec.name}"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Stratus"
    table, bucket = api_key_stack.output_ref("TableName"), api_key_stack.output_ref("BucketName")
    assert variables[settings.STRATUS_DB] == {
        "Fn::Join": [
            "",
            ["dynamodb://", {"Ref": table}, "?region=", {"Ref": "AWS::Region"}, "&bucket=", {"Ref": bucket}],
        ]
    }
    if spec.kind is not FunctionKind.STREAM:
        assert properties["Handler"] == spec.handler
        assert not set(WEB_ADAPTER_ENVIRONMENT) & set(variables)
        assert len(properties["Layers"]) == 1


def test_the_shared_layer_matches_the_functions_runtime(api_key_stack: Synthesized) -> None:
    (layer,) = api_key_stack.of_type("AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]


@pytest.mark.parametrize(
    "spec", [spec for spec in FUNCTIONS if spec.kind is FunctionKind.STREAM], ids=lambda spec: spec.name
)
def test_streamed_functions_run_uvicorn_under_the_lambda_web_adapter(
    api_key_stack: Synthesized, spec: FunctionSpec
) -> None:
    properties = api_key_stack.function(spec.name)
    assert properties["Handler"] == "run.sh"
    variables = properties["Environment"]["Variables"]
    assert {name: variables[name] for name in WEB_ADAPTER_ENVIRONMENT} == WEB_ADAPTER_ENVIRONMENT
    (adapter,) = properties["Layers"][1:]
    condition, default, chosen = adapter["Fn::If"]
    assert chosen == {"Ref": WEB_ADAPTER_PARAMETER}
    assert default == {"Fn::Sub": "arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerX86:26"}
    assert api_key_stack.template["Conditions"][condition] == {"Fn::Equals": [{"Ref": WEB_ADAPTER_PARAMETER}, ""]}
    assert api_key_stack.template["Parameters"][WEB_ADAPTER_PARAMETER]["Type"] == "String"
    script = api_key_stack.asset_directory(spec.name) / "run.sh"
    assert script.read_text().startswith("#!/bin/sh\n")
    assert f"exec python -m uvicorn functions.{spec.name}:app --host 127.0.0.1 --port" in script.read_text()
    assert script.stat().st_mode & stat.S_IXUSR


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.name)
def test_the_code_asset_holds_the_handlers_and_the_app_package(api_key_stack: Synthesized, spec: FunctionSpec) -> None:
    asset = api_key_stack.asset_directory(spec.name)
    assert (asset / "functions" / f"{spec.name}.py").is_file()
    assert (asset / "examples" / "demo.py").is_file()
    assert not list(asset.rglob("__pycache__"))


def test_queue_functions_consume_their_queue_one_run_at_a_time_with_partial_failures(
    api_key_stack: Synthesized,
) -> None:
    mappings = api_key_stack.of_type("AWS::Lambda::EventSourceMapping").values()
    consumers = [spec for spec in FUNCTIONS if spec.kind is FunctionKind.QUEUE]
    assert len(mappings) == len(consumers)
    for spec in consumers:
        assert spec.queue is not None
        mapping = api_key_stack.event_source_of(spec.name)  # its SnapStart alias's, if any
        queue = api_key_stack.output_ref(f"{pascal(spec.queue)}QueueUrl")
        assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        if spec.queue == "runs":
            assert mapping["BatchSize"] == 1


def test_every_function_has_its_own_role_without_managed_policies_and_its_own_log_group(
    api_key_stack: Synthesized,
) -> None:
    roles = [api_key_stack.function(spec.name)["Role"]["Fn::GetAtt"][0] for spec in FUNCTIONS]
    log_groups = [api_key_stack.function(spec.name)["LoggingConfig"]["LogGroup"]["Ref"] for spec in FUNCTIONS]
    assert len(set(roles)) == len(FUNCTIONS)
    assert len(set(log_groups)) == len(FUNCTIONS)
    for role in roles:
        assert "ManagedPolicyArns" not in api_key_stack.resources[role]["Properties"]
    for log_group in log_groups:
        assert api_key_stack.resources[log_group]["Properties"]["RetentionInDays"] > 0


def test_every_function_alarms_on_its_errors(api_key_stack: Synthesized) -> None:
    alarms = [alarm["Properties"] for alarm in api_key_stack.of_type("AWS::CloudWatch::Alarm").values()]
    for spec in FUNCTIONS:
        function_ref = {"Ref": api_key_stack.function_id(spec.name)}
        assert any(
            alarm["MetricName"] == "Errors"
            and alarm["Dimensions"] == [{"Name": "FunctionName", "Value": function_ref}]
            and alarm["Threshold"] == 0
            and alarm["ComparisonOperator"] == "GreaterThanThreshold"
            and alarm["AlarmActions"]
            for alarm in alarms
        ), spec.name


# --- least privilege ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.name)
def test_each_role_grants_exactly_what_the_functions_access_implies(
    api_key_stack: Synthesized, spec: FunctionSpec
) -> None:
    assert granted(api_key_stack, spec) == expected_grants(spec)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.name)
def test_with_an_openai_model_each_role_reads_the_model_key_instead_of_invoking_bedrock(
    openai_stack: Synthesized, spec: FunctionSpec
) -> None:
    assert granted(openai_stack, spec) == expected_grants(spec, bedrock_profile=None, model_key=True)


def test_memories_can_neither_send_runs_nor_read_model_keys(api_key_stack: Synthesized) -> None:
    # /optimize-memories, which asks a model, is the evals function's: the memories function holds no model grant.
    grants = granted(api_key_stack, function("memories"))
    assert not {grant for grant in grants if grant[0].startswith("sqs:")}
    assert ("secretsmanager:GetSecretValue", "secret:model_keys") not in grants
    variables = api_key_stack.function("memories")["Environment"]["Variables"]
    assert settings.STRATUS_RUN_QUEUE_URL not in variables
    assert settings.STRATUS_SECRETS not in variables


def test_health_touches_neither_the_table_nor_the_bucket(api_key_stack: Synthesized) -> None:
    grants = granted(api_key_stack, function("health"))
    assert not {grant for grant in grants if grant[0].startswith(("dynamodb:", "s3:"))}


def test_no_statement_allows_every_action_of_a_data_service(api_key_stack: Synthesized) -> None:
    for statement in all_statements(api_key_stack):
        for action in as_list(statement["Action"]):
            assert action != "*"
            assert action not in {"dynamodb:*", "sqs:*", "aoss:*", "s3:*", "secretsmanager:*", "kms:*"}


def test_no_statement_on_the_table_queues_or_collection_uses_a_wildcard_action(api_key_stack: Synthesized) -> None:
    guarded = {api_key_stack.output_ref("TableName")}
    guarded |= set(api_key_stack.of_type("AWS::SQS::Queue"))
    guarded |= set(api_key_stack.of_type("AWS::OpenSearchServerless::Collection"))
    for statement in all_statements(api_key_stack):
        touched = json.dumps(statement["Resource"])
        if any(f'"{logical_id}"' in touched for logical_id in guarded):
            assert not [action for action in as_list(statement["Action"]) if "*" in action], statement


# --- data ---------------------------------------------------------------------------------------------------


def test_the_table_follows_the_shared_key_schema(api_key_stack: Synthesized) -> None:
    table = api_key_stack.resources[api_key_stack.output_ref("TableName")]
    properties = table["Properties"]
    assert properties["KeySchema"] == [
        {"AttributeName": keys.PK, "KeyType": "HASH"},
        {"AttributeName": keys.SK, "KeyType": "RANGE"},
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in properties["AttributeDefinitions"]} == {
        (name, "S") for name in (keys.PK, keys.SK, *(n for index in keys.INDEXES for n in (index.pk, index.sk)))
    }
    built = {index["IndexName"]: index for index in properties["GlobalSecondaryIndexes"]}
    assert list(built) == [index.name for index in keys.INDEXES]
    for expected in keys.INDEXES:
        index = built[expected.name]
        assert index["KeySchema"] == [
            {"AttributeName": expected.pk, "KeyType": "HASH"},
            {"AttributeName": expected.sk, "KeyType": "RANGE"},
        ]
        assert index["Projection"]["ProjectionType"] == "INCLUDE"  # keys and small attributes, never a body
        assert sorted(index["Projection"]["NonKeyAttributes"]) == sorted(expected.projected)
    assert properties["TimeToLiveSpecification"] == {"AttributeName": keys.TTL_ATTRIBUTE, "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


def test_the_run_body_bucket_is_private_encrypted_logged_and_tidied(api_key_stack: Synthesized) -> None:
    bucket_id = api_key_stack.output_ref("BucketName")
    bucket = api_key_stack.resources[bucket_id]
    properties = bucket["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert properties["LoggingConfiguration"]["DestinationBucketName"]["Ref"] in api_key_stack.resources
    assert properties["LifecycleConfiguration"]["Rules"]
    assert bucket["DeletionPolicy"] == "Retain"
    (policy,) = [
        p
        for p in api_key_stack.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    assert any(
        statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    )


# --- queues -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", QUEUES)
def test_every_queue_has_its_own_dead_letter_queue_and_the_specs_redrive(api_key_stack: Synthesized, name: str) -> None:
    spec = QUEUES[name]
    queue = api_key_stack.resources[api_key_stack.output_ref(f"{pascal(name)}QueueUrl")]["Properties"]
    dead_letters_id = api_key_stack.output_ref(f"{pascal(name)}DeadLetterQueueUrl")
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dead_letters_id, "Arn"]},
        "maxReceiveCount": spec.max_receive_count,
    }
    assert queue["VisibilityTimeout"] == spec.visibility_timeout_seconds
    dead_letters = api_key_stack.resources[dead_letters_id]["Properties"]
    for properties in (queue, dead_letters):
        assert properties["SqsManagedSseEnabled"] is True
    alarms = api_key_stack.of_type("AWS::CloudWatch::Alarm").values()
    assert any(
        alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["Dimensions"]
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dead_letters_id, "QueueName"]}}]
        and alarm["Properties"]["Threshold"] == 0
        and alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
        for alarm in alarms
    )


def test_every_queue_refuses_requests_without_tls(api_key_stack: Synthesized) -> None:
    queues = set(api_key_stack.of_type("AWS::SQS::Queue"))
    assert len(queues) == 2 * len(QUEUES)
    enforced: set[str] = set()
    for policy in api_key_stack.of_type("AWS::SQS::QueuePolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        if any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        ):
            enforced |= {queue["Ref"] for queue in policy["Properties"]["Queues"]}
    assert enforced == queues


# --- secrets ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack_name", ["api_key_stack", "openai_stack"])
def test_secrets_reach_the_functions_as_arns_never_as_values(request: pytest.FixtureRequest, stack_name: str) -> None:
    stack: Synthesized = request.getfixturevalue(stack_name)
    api_keys = {"Ref": stack.output_ref("ApiKeysSecretArn")}
    model_secret = "ModelKeysSecretArn" in stack.template["Outputs"]
    assert model_secret == (stack_name == "openai_stack")  # Bedrock needs no key: no secret to hold one
    for spec in FUNCTIONS:
        variables = stack.function(spec.name)["Environment"]["Variables"]
        dumped = json.dumps(variables)
        assert "resolve:secretsmanager" not in dumped
        assert "SecretString" not in dumped
        assert settings.OPENAI_API_KEY not in variables
        assert settings.STRATUS_API_KEY not in variables
        if Access.API_KEYS_READ in spec.access:
            assert variables[settings.STRATUS_API_KEYS_SECRET] == api_keys
        else:
            assert settings.STRATUS_API_KEYS_SECRET not in variables
        if Access.MODEL_SECRETS_READ in spec.access and model_secret:
            model_keys = {"Ref": stack.output_ref("ModelKeysSecretArn")}
            assert variables[settings.STRATUS_SECRETS] == {
                "Fn::Join": ["", [f'{{"{settings.OPENAI_API_KEY}":"', model_keys, '"}']]
            }
        else:
            assert settings.STRATUS_SECRETS not in variables


def test_the_api_keys_secret_starts_with_no_key(api_key_stack: Synthesized) -> None:
    secret = api_key_stack.resources[api_key_stack.output_ref("ApiKeysSecretArn")]["Properties"]
    assert json.loads(secret["SecretString"]) == {"keys": []}


def test_senders_get_the_url_of_the_queue_they_may_send_to(api_key_stack: Synthesized) -> None:
    runs = {"Ref": api_key_stack.output_ref("RunsQueueUrl")}
    for spec in FUNCTIONS:
        variables = api_key_stack.function(spec.name)["Environment"]["Variables"]
        if Access.RUN_QUEUE_SEND in spec.access:
            assert variables[QUEUES["runs"].url_variable] == runs
        else:
            assert QUEUES["runs"].url_variable not in variables
        if Access.LEARNING_QUEUE_SEND in spec.access:
            assert variables[QUEUES["learning"].url_variable]["Ref"].startswith("QueuesLearning")
        else:
            assert QUEUES["learning"].url_variable not in variables


def test_runs_that_learn_can_queue_themselves_for_the_learning_worker(api_key_stack: Synthesized) -> None:
    for name in ("agent_runs", "run_worker"):
        assert ("sqs:SendMessage", "queue:learning") in granted(api_key_stack, function(name))
    worker = function("learning_worker")
    assert worker.queue == "learning"
    assert ("sqs:SendMessage", "queue:learning") not in granted(api_key_stack, worker)


# --- knowledge ----------------------------------------------------------------------------------------------


def test_the_collection_is_vector_search_with_its_policies(api_key_stack: Synthesized) -> None:
    (collection,) = api_key_stack.of_type("AWS::OpenSearchServerless::Collection").values()
    name = collection["Properties"]["Name"]
    assert collection["Properties"]["Type"] == "VECTORSEARCH"
    policies = {
        p["Properties"]["Type"]: p for p in api_key_stack.of_type("AWS::OpenSearchServerless::SecurityPolicy").values()
    }
    assert set(policies) == {"encryption", "network"}
    for policy in policies.values():
        assert f"collection/{name}" in json.dumps(policy["Properties"]["Policy"])


def test_the_data_access_policy_grants_readers_reading_and_writers_writing_on_this_collection(
    api_key_stack: Synthesized,
) -> None:
    (policy,) = api_key_stack.of_type("AWS::OpenSearchServerless::AccessPolicy").values()
    (collection,) = api_key_stack.of_type("AWS::OpenSearchServerless::Collection").values()
    name = collection["Properties"]["Name"]
    parts = policy["Properties"]["Policy"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "ROLE" for part in parts)  # role ARNs are tokens
    readers, writers = json.loads(text)

    def permissions(rule: dict[str, Any]) -> dict[tuple[str, tuple[str, ...]], set[str]]:
        return {(r["ResourceType"], tuple(r["Resource"])): set(r["Permission"]) for r in rule["Rules"]}

    assert permissions(readers) == {
        ("collection", (f"collection/{name}",)): {"aoss:DescribeCollectionItems"},
        ("index", (f"index/{name}/*",)): {"aoss:DescribeIndex", "aoss:ReadDocument"},
    }
    write = permissions(writers)[("index", (f"index/{name}/*",))]
    assert {"aoss:CreateIndex", "aoss:WriteDocument"} <= write
    assert "aoss:DeleteCollection" not in str(writers)
    principals = [part["Fn::GetAtt"][0] for part in parts if isinstance(part, dict)]
    readers_roles = [
        api_key_stack.function(spec.name)["Role"]["Fn::GetAtt"][0]
        for spec in FUNCTIONS
        if Access.COLLECTION_READ in spec.access
    ]
    writer_roles = [
        api_key_stack.function(spec.name)["Role"]["Fn::GetAtt"][0]
        for spec in FUNCTIONS
        if Access.COLLECTION_WRITE in spec.access
    ]
    assert sorted(principals) == sorted(readers_roles + writer_roles)
    assert writer_roles  # the knowledge function and worker index documents


# --- outputs, cdk-nag, configuration ------------------------------------------------------------------------


def test_the_outputs_name_everything_an_operator_needs(api_key_stack: Synthesized, openai_stack: Synthesized) -> None:
    expected = {"ApiUrl", "TableName", "BucketName", "ApiKeysSecretArn", "CollectionEndpoint"}
    expected |= {f"{pascal(name)}QueueUrl" for name in QUEUES} | {
        f"{pascal(name)}DeadLetterQueueUrl" for name in QUEUES
    }
    assert expected <= set(api_key_stack.template["Outputs"])
    assert "ModelKeysSecretArn" not in api_key_stack.template["Outputs"]
    assert expected | {"ModelKeysSecretArn"} <= set(openai_stack.template["Outputs"])


def test_cdk_nag_finds_nothing_unacknowledged(api_key_stack: Synthesized) -> None:
    assert api_key_stack.violations() == []
    assert api_key_stack.error is None


def test_a_new_unacknowledged_finding_fails_the_nag_check(tmp_path: Path, layer_path: Path) -> None:
    # Given the same stack with one queue that has neither a DLQ nor a TLS-only policy
    def add_unchecked_queue(stack: Stack) -> None:
        sqs.Queue(stack, "Unchecked")

    # When it is synthesized, then cdk-nag reports exactly that queue, and synthesis fails
    stack = synthesize({"layer_path": str(layer_path)}, tmp_path, extend=add_unchecked_queue)
    findings = {
        violation["ruleName"]: [c["constructPath"] for c in violation["violatingConstructs"]]
        for violation in stack.violations()
    }
    assert findings == {
        "AwsSolutions-SQS3": ["Stratus/Unchecked/Resource"],
        "AwsSolutions-SQS4": ["Stratus/Unchecked/Resource"],
    }
    assert stack.error is not None


def test_every_acknowledgement_says_why(api_key_stack: Synthesized) -> None:
    acknowledged = {rule for rules in api_key_stack.acknowledgements.values() for rule in rules}
    assert any("AwsSolutions-" in rule for rule in acknowledged)
    for path, rules in api_key_stack.acknowledgements.items():
        for rule, reason in rules.items():
            assert len(reason.strip()) > 20, f"{path}: {rule} is acknowledged without a reason"


def test_a_missing_layer_fails_synthesis_with_how_to_build_it(tmp_path: Path) -> None:
    app = App(context={"layer_path": str(tmp_path / "nowhere")})
    with pytest.raises(InfraConfigError, match="make layer"):
        StratusConfig.from_context(app.node)


def test_functions_that_search_or_index_knowledge_know_the_collection_and_the_embedder(
    api_key_stack: Synthesized,
) -> None:
    knowledge_queue = {"Ref": api_key_stack.output_ref("KnowledgeQueueUrl")}
    for spec in FUNCTIONS:
        variables = api_key_stack.function(spec.name)["Environment"]["Variables"]
        if spec.access & {Access.COLLECTION_READ, Access.COLLECTION_WRITE}:
            vector_db = json.dumps(variables["STRATUS_VECTOR_DB"])
            assert "opensearch://" in vector_db
            assert "service=aoss" in vector_db
        else:
            assert "STRATUS_VECTOR_DB" not in variables
        if Access.EMBEDDINGS_INVOKE in spec.access:
            assert variables["STRATUS_EMBEDDER"] == "bedrock:amazon.titan-embed-text-v2:0"
        if Access.KNOWLEDGE_QUEUE_SEND in spec.access:
            assert variables[QUEUES["knowledge"].url_variable] == knowledge_queue
        else:
            assert QUEUES["knowledge"].url_variable not in variables


def test_team_and_workflow_runs_stream_from_functions_of_their_own(api_key_stack: Synthesized) -> None:
    methods = api_key_stack.methods_by_path()
    for name, prefix in (("team_runs", "/teams"), ("workflow_runs", "/workflows")):
        spec = function(name)
        assert (spec.kind, spec.routers, spec.timeout_seconds) == (FunctionKind.STREAM, (prefix[1:],), 900)
        for path in (prefix, f"{prefix}/{{proxy+}}"):
            (method,) = methods[path]
            assert method["Integration"]["ResponseTransferMode"] == "STREAM"
        variables = api_key_stack.function(name)["Environment"]["Variables"]
        assert QUEUES["runs"].url_variable in variables  # background runs go to the run worker


def test_the_run_worker_may_queue_a_workflow_again_to_go_on(api_key_stack: Synthesized) -> None:
    worker = function("run_worker")
    assert Access.RUN_QUEUE_SEND in worker.access
    assert ("sqs:SendMessage", "queue:runs") in granted(api_key_stack, worker)
    assert QUEUES["runs"].visibility_timeout_seconds >= worker.timeout_seconds


@pytest.mark.parametrize("listing_indexes", [0, 1, 3])
def test_a_table_made_before_the_listing_indexes_gets_them_one_deploy_at_a_time(
    listing_indexes: int, tmp_path: Path
) -> None:
    # CloudFormation adds one global secondary index per update: `-c listing_indexes=N` builds the first N.
    stack = Stack(create_app(outdir=str(tmp_path)), "Upgrade")
    Data(stack, "Data", listing_indexes=listing_indexes)

    tables = Template.from_stack(stack).find_resources("AWS::DynamoDB::Table")
    (table,) = tables.values()
    built = [index["IndexName"] for index in table["Properties"]["GlobalSecondaryIndexes"]]
    assert built == [index.name for index in keys.INDEXES[: 1 + listing_indexes]]


def test_listing_indexes_outside_what_the_table_has_is_a_clear_error(layer_path: Path) -> None:
    app = App(context={"layer_path": str(layer_path), "listing_indexes": "7"})

    with pytest.raises(InfraConfigError, match="listing_indexes='7': expected a whole number between 0 and 4"):
        StratusConfig.from_context(app.node)
