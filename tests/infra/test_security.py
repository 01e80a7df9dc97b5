"""What a security scanner asks of the template, asserted on it: the gateway rejects anonymous callers before
any function runs, every function and the stage have a bound, every queue, the table, the buckets and the log
groups say how they are encrypted, the model grant names only the configured model, and every suppressed
checkov finding says why (`make check-iac` runs checkov and cfn-lint themselves)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from infra.config import DEFAULT_MAX_CONCURRENCY, DEFAULT_MODEL, InfraConfigError, StratusConfig
from stratus import settings
from stratus.aws.functions import FUNCTIONS, Access, FunctionKind, function
from tests.infra.synth import Synthesized, synthesize

PROFILE = DEFAULT_MODEL.removeprefix("bedrock:")  # us.amazon.nova-lite-v1:0
FOUNDATION_MODEL = PROFILE.removeprefix("us.")
MODEL_ACTIONS = {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"}
EMBEDDING_MODEL = "amazon.titan-embed-text-v2:0"

CHOSEN_SKIPS = {
    "CKV_AWS_117": "functions outside a VPC",
    "CKV_AWS_116": "no Lambda DLQ for synchronous invocations",
    "CKV_AWS_173": "environment variables under Lambda's AWS managed key",
    "CKV_AWS_158": "log groups under CloudWatch Logs' own encryption",
    "CKV_AWS_119": "the table under DynamoDB's AWS managed key",
    "CKV_AWS_149": "secrets under Secrets Manager's AWS managed key",
    "CKV_AWS_27": "queues with SSE-SQS, which the check does not recognize",
    "CKV_AWS_18": "the access-log bucket does not log itself",
    "CKV_AWS_120": "no stage cache for per-user responses",
    "CKV_AWS_59": "/health is open",
}
"""Every checkov check the stack suppresses: a policy decision each, with its reason in the template."""

CUSTOM_CONTEXT = {
    "model": "bedrock:amazon.nova-pro-v1:0",
    "model_region": "us-west-2",
    "throttle_rate": "7",
    "throttle_burst": "9",
    "max_concurrency": json.dumps({"stream": 3, "run_worker": 2, "health": "none"}),
    "auth_cache_seconds": "60",
}


@pytest.fixture(scope="module")
def custom_stack(tmp_path_factory: pytest.TempPathFactory, layer_path: Path) -> Synthesized:
    """A deployment whose context sets the model (a foundation model in another region) and every limit."""
    return synthesize({"layer_path": str(layer_path), **CUSTOM_CONTEXT}, tmp_path_factory.mktemp("cdk-custom"))


@pytest.fixture(params=["api_key_stack", "cognito_stack", "openai_stack"])
def any_stack(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


def bedrock_statements(stack: Synthesized) -> list[dict[str, Any]]:
    """Every IAM statement of the template that allows a Bedrock action."""
    found: list[dict[str, Any]] = []
    for policy in stack.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(action.startswith("bedrock:") for action in actions):
                found.append(statement)
    return found


def arn_text(resource: Any) -> str:
    """An ARN token as text: `arn:<AWS::Partition>:bedrock:<AWS::Region>:...`."""
    if isinstance(resource, str):
        return resource
    parts = resource["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else f"<{part['Ref']}>" for part in parts)


def checkov_skips(stack: Synthesized) -> dict[str, list[dict[str, str]]]:
    """Logical id -> the checkov skips in its metadata."""
    return {
        logical_id: resource["Metadata"]["checkov"]["skip"]
        for logical_id, resource in stack.resources.items()
        if "checkov" in resource.get("Metadata", {})
    }


# --- authentication at the gateway --------------------------------------------------------------------------


def test_no_method_but_healths_lets_an_anonymous_caller_through(any_stack: Synthesized) -> None:
    methods = any_stack.methods_by_path()
    assert set(methods) == {path for spec in FUNCTIONS for path in spec.paths}
    for path, on_path in methods.items():
        for method in on_path:
            if method["HttpMethod"] == "OPTIONS":  # a CORS preflight, answered by the gateway (MOCK)
                assert method["Integration"]["Type"] == "MOCK", path
                continue
            if path == "/health":
                assert method["AuthorizationType"] == "NONE"
            else:
                assert method["AuthorizationType"] in {"CUSTOM", "COGNITO_USER_POOLS"}, path
                assert "AuthorizerId" in method, path


def test_the_api_key_authorizer_is_the_authorizer_function_cached_by_the_authorization_header(
    api_key_stack: Synthesized,
) -> None:
    (authorizer,) = api_key_stack.of_type("AWS::ApiGateway::Authorizer").values()
    properties = authorizer["Properties"]
    authorizer_function = api_key_stack.invoked("authorizer")  # its SnapStart alias
    assert properties["Type"] == "REQUEST"
    assert properties["IdentitySource"] == "method.request.header.Authorization"
    assert properties["AuthorizerResultTtlInSeconds"] == 300
    assert authorizer_function in properties["AuthorizerUri"]["Fn::Join"][1]
    # only this API's authorizers may invoke it
    (permission,) = [
        p["Properties"]
        for p in api_key_stack.of_type("AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == authorizer_function
    ]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert "/authorizers/" in json.dumps(permission["SourceArn"])


def test_the_authorizer_function_knows_the_keys_secret_and_nothing_of_the_app(api_key_stack: Synthesized) -> None:
    properties = api_key_stack.function("authorizer")
    assert properties["Handler"] == function("authorizer").handler
    assert set(properties["Environment"]["Variables"]) == {
        settings.STRATUS_AUTH,
        settings.STRATUS_API_KEYS_SECRET,
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    }
    assert properties["Environment"]["Variables"][settings.STRATUS_API_KEYS_SECRET] == {
        "Ref": api_key_stack.output_ref("ApiKeysSecretArn")
    }


@pytest.mark.parametrize(
    ("response_type", "status", "detail"),
    [
        ("UNAUTHORIZED", "401", "missing API key: send Authorization: Bearer <key>"),
        ("ACCESS_DENIED", "401", "invalid API key"),
        ("AUTHORIZER_FAILURE", "503", "authentication is unavailable"),
        ("THROTTLED", "429", "too many requests: slow down and retry"),
    ],
)
def test_the_gateways_refusals_answer_like_the_functions(
    api_key_stack: Synthesized, response_type: str, status: str, detail: str
) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in api_key_stack.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    response = responses[response_type]
    assert response["StatusCode"] == status
    assert json.loads(response["ResponseTemplates"]["application/json"]) == {"detail": detail}
    assert response["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
    if status == "401":
        assert response["ResponseParameters"]["gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"
    # and every other refusal keeps the {"detail": ...} shape
    for default in ("DEFAULT_4XX", "DEFAULT_5XX"):
        assert responses[default]["ResponseTemplates"]["application/json"] == '{"detail": $context.error.messageString}'


# --- bounds on traffic and compute --------------------------------------------------------------------------


def test_every_function_has_the_reserved_concurrency_of_its_kind(any_stack: Synthesized) -> None:
    functions = any_stack.of_type("AWS::Lambda::Function")
    assert all("ReservedConcurrentExecutions" in f["Properties"] for f in functions.values())
    for spec in FUNCTIONS:
        if spec.name not in _names(any_stack):
            continue  # the API-key authorizer, in a Cognito deployment
        assert any_stack.function(spec.name)["ReservedConcurrentExecutions"] == DEFAULT_MAX_CONCURRENCY[spec.kind]


def test_queue_consumers_poll_no_faster_than_they_may_run(api_key_stack: Synthesized) -> None:
    # a throttled delivery counts as a receive: enough of them would send a healthy message to the DLQ
    for spec in (spec for spec in FUNCTIONS if spec.kind is FunctionKind.QUEUE):
        mapping = api_key_stack.event_source_of(spec.name)
        reserved = api_key_stack.function(spec.name)["ReservedConcurrentExecutions"]
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": reserved}


def test_the_stage_throttles_every_method(any_stack: Synthesized) -> None:
    (stage,) = any_stack.of_type("AWS::ApiGateway::Stage").values()
    (every_method,) = [s for s in stage["Properties"]["MethodSettings"] if s["ResourcePath"] == "/*"]
    assert every_method["HttpMethod"] == "*"
    assert (every_method["ThrottlingRateLimit"], every_method["ThrottlingBurstLimit"]) == (100, 200)


def test_the_context_sets_the_throttle_the_concurrency_and_the_authorizer_cache(custom_stack: Synthesized) -> None:
    (stage,) = custom_stack.of_type("AWS::ApiGateway::Stage").values()
    (every_method,) = [s for s in stage["Properties"]["MethodSettings"] if s["ResourcePath"] == "/*"]
    assert (every_method["ThrottlingRateLimit"], every_method["ThrottlingBurstLimit"]) == (7, 9)
    for spec in FUNCTIONS:
        reserved = custom_stack.function(spec.name).get("ReservedConcurrentExecutions")
        if spec.name == "health":
            assert reserved is None  # "none": unbounded, for accounts whose quota is too low to reserve any
        elif spec.name == "run_worker":
            assert reserved == 2  # a function's own entry wins over its kind's
        elif spec.kind is FunctionKind.STREAM:
            assert reserved == 3
        else:
            assert reserved == DEFAULT_MAX_CONCURRENCY[spec.kind]
    (authorizer,) = custom_stack.of_type("AWS::ApiGateway::Authorizer").values()
    assert authorizer["Properties"]["AuthorizerResultTtlInSeconds"] == 60
    assert custom_stack.violations() == []


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"throttle_rate": "0"}, "throttle_rate"),
        ({"throttle_burst": "lots"}, "throttle_burst"),
        ({"max_concurrency": "0"}, "max_concurrency"),
        ({"max_concurrency": '{"queue": 1}'}, "queue consumer needs at least 2"),
        ({"max_concurrency": '{"agents": 3}'}, "neither a function kind nor a function"),
        ({"max_concurrency": "{not json"}, "not a JSON object"),
        ({"auth_cache_seconds": "7200"}, "auth_cache_seconds"),
        ({"model": "anthropic:claude-sonnet-4-5"}, "bedrock:<model-id>"),
        ({"model": "llama_cpp"}, "bedrock:<model-id>"),
        ({"model": "bedrock:"}, "name the model"),
        ({"model": "bedrock:arn:aws:bedrock:us-east-1:1:inference-profile/x"}, "not an ARN"),
        ({"model": "openai:gpt-4o-mini", "model_region": "us-west-2"}, "Bedrock models only"),
    ],
)
def test_a_wrong_context_value_fails_synthesis_naming_it(
    layer_path: Path, context: dict[str, str], message: str
) -> None:
    app = App(context={"layer_path": str(layer_path), **context})
    with pytest.raises(InfraConfigError, match=message):
        StratusConfig.from_context(app.node)


# --- encryption, stated -------------------------------------------------------------------------------------


def test_every_queue_and_dead_letter_queue_names_its_encryption(any_stack: Synthesized) -> None:
    queues = any_stack.of_type("AWS::SQS::Queue")
    assert queues
    for logical_id, queue in queues.items():
        properties = queue["Properties"]
        assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties, logical_id


def test_the_table_buckets_and_log_groups_state_their_encryption(any_stack: Synthesized) -> None:
    (table,) = any_stack.of_type("AWS::DynamoDB::Table").values()
    assert table["Properties"]["SSESpecification"]["SSEEnabled"] is True
    for bucket in any_stack.of_type("AWS::S3::Bucket").values():
        (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    skips = checkov_skips(any_stack)
    for logical_id, log_group in any_stack.of_type("AWS::Logs::LogGroup").items():
        # CloudWatch Logs always encrypts; a log group without a KMS key says so where checkov reads it
        if "KmsKeyId" not in log_group["Properties"]:
            assert "CKV_AWS_158" in {skip["id"] for skip in skips.get(logical_id, [])}, logical_id


# --- the model ----------------------------------------------------------------------------------------------


def test_functions_that_load_the_app_are_told_the_model(any_stack: Synthesized) -> None:
    expected = "openai:gpt-4o-mini" if "ModelKeysSecretArn" in any_stack.template["Outputs"] else DEFAULT_MODEL
    for spec in FUNCTIONS:
        if spec.name not in _names(any_stack):
            continue
        variables = any_stack.function(spec.name)["Environment"]["Variables"]
        if spec.kind is FunctionKind.AUTHORIZER:
            assert settings.STRATUS_MODEL not in variables
        else:
            assert variables[settings.STRATUS_MODEL] == expected
            assert "STRATUS_MODEL_REGION" not in variables  # the function's own region


def test_the_bedrock_grant_names_only_the_configured_profile_and_its_model(api_key_stack: Synthesized) -> None:
    profile = f"arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:inference-profile/{PROFILE}"
    embeddings = f"arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/{EMBEDDING_MODEL}"
    anywhere = f"arn:<AWS::Partition>:bedrock:*::foundation-model/{FOUNDATION_MODEL}"
    seen: set[str] = set()
    for statement in bedrock_statements(api_key_stack):
        resource = arn_text(statement["Resource"])
        seen.add(resource)
        actions = set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        if resource == embeddings:
            assert actions == {"bedrock:InvokeModel"}
            assert "Condition" not in statement
        elif resource == profile:
            assert actions == MODEL_ACTIONS
            assert "Condition" not in statement
        else:
            # the model in whichever region the profile routes to, and only through that profile
            assert resource == anywhere
            assert actions == MODEL_ACTIONS
            (condition,) = statement["Condition"]["StringEquals"].items()
            assert (condition[0], arn_text(condition[1])) == ("bedrock:InferenceProfileArn", profile)
    assert seen == {profile, embeddings, anywhere}


def test_only_the_functions_that_run_models_may_invoke_the_model(api_key_stack: Synthesized) -> None:
    for spec in FUNCTIONS:
        role = api_key_stack.function(spec.name)["Role"]["Fn::GetAtt"][0]
        resources = {
            arn_text(s["Resource"])
            for s in api_key_stack.role_statements(role)
            if "inference-profile/" in json.dumps(s["Resource"])
        }
        assert bool(resources) == (Access.MODEL_INVOKE in spec.access), spec.name


def test_a_foundation_model_in_another_region_is_granted_there_and_nowhere_else(custom_stack: Synthesized) -> None:
    model = "arn:<AWS::Partition>:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0"
    resources = {arn_text(s["Resource"]) for s in bedrock_statements(custom_stack)}
    assert resources == {model, f"arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/{EMBEDDING_MODEL}"}
    variables = custom_stack.function("agent_runs")["Environment"]["Variables"]
    assert variables[settings.STRATUS_MODEL] == "bedrock:amazon.nova-pro-v1:0"
    assert variables["STRATUS_MODEL_REGION"] == "us-west-2"


def test_an_openai_model_gets_its_key_secret_and_no_bedrock_model_grant(openai_stack: Synthesized) -> None:
    resources = {arn_text(s["Resource"]) for s in bedrock_statements(openai_stack)}
    assert resources == {f"arn:<AWS::Partition>:bedrock:<AWS::Region>::foundation-model/{EMBEDDING_MODEL}"}
    assert len(openai_stack.of_type("AWS::SecretsManager::Secret")) == 2


def test_a_bedrock_model_needs_no_key_secret(api_key_stack: Synthesized) -> None:
    (secret,) = api_key_stack.of_type("AWS::SecretsManager::Secret")
    assert secret == api_key_stack.output_ref("ApiKeysSecretArn")


# --- suppressions -------------------------------------------------------------------------------------------


def test_every_checkov_skip_is_one_we_chose_and_says_why(any_stack: Synthesized) -> None:
    skips = checkov_skips(any_stack)
    assert skips
    methods = any_stack.of_type("AWS::ApiGateway::Method")
    health = {
        logical_id
        for logical_id, method in methods.items()
        if any_stack.api_paths().get(method["Properties"]["ResourceId"].get("Ref", "")) == "/health"
    }
    for logical_id, entries in skips.items():
        for entry in entries:
            assert entry["id"] in CHOSEN_SKIPS, (logical_id, entry["id"])
            assert len(entry["comment"].strip()) > 60, (logical_id, entry["id"])
            if entry["id"] == "CKV_AWS_59":
                assert logical_id in health  # only /health is open
    # nothing suppresses the bounds: every function has its concurrency, the stage its throttle
    assert not [e for entries in skips.values() for e in entries if e["id"] in {"CKV_AWS_115", "CKV_AWS_76"}]


def _names(stack: Synthesized) -> set[str]:
    """The `FunctionSpec` names of the functions `stack` deploys."""
    names: set[str] = set()
    for spec in FUNCTIONS:
        try:
            stack.function_id(spec.name)
        except AssertionError:
            continue
        names.add(spec.name)
    return names
