"""The deployment with `-c auth=cognito`: API Gateway verifies Cognito tokens on every method but /health."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratus import settings
from stratus.aws.functions import FUNCTIONS, FunctionKind
from tests.infra.synth import Synthesized, synthesize


def test_every_method_but_health_requires_a_cognito_token(cognito_stack: Synthesized) -> None:
    (authorizer_id,) = cognito_stack.of_type("AWS::ApiGateway::Authorizer")
    methods = cognito_stack.methods_by_path()
    assert set(methods) == {path for spec in FUNCTIONS for path in spec.paths}
    for path, on_path in methods.items():
        for method in on_path:
            if path == "/health":
                assert method["AuthorizationType"] == "NONE"
                assert "AuthorizerId" not in method
            else:
                assert method["AuthorizationType"] == "COGNITO_USER_POOLS", path
                assert method["AuthorizerId"] == {"Ref": authorizer_id}, path


def test_the_authorizer_trusts_the_stacks_user_pool(cognito_stack: Synthesized) -> None:
    (authorizer,) = cognito_stack.of_type("AWS::ApiGateway::Authorizer").values()
    pool_id = cognito_stack.output_ref("UserPoolId")
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["ProviderARNs"] == [{"Fn::GetAtt": [pool_id, "Arn"]}]
    pool = cognito_stack.resources[pool_id]["Properties"]
    assert pool["MfaConfiguration"] == "ON"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert "UserPoolClientId" in cognito_stack.template["Outputs"]


def test_functions_trust_the_gateways_claims_and_no_api_key_authorizer_is_deployed(
    cognito_stack: Synthesized,
) -> None:
    for spec in FUNCTIONS:
        if spec.kind is FunctionKind.AUTHORIZER:
            with pytest.raises(AssertionError, match="no function"):
                cognito_stack.function(spec.name)
        else:
            assert cognito_stack.function(spec.name)["Environment"]["Variables"][settings.STRATUS_AUTH] == "cognito"


def test_cdk_nag_finds_nothing_unacknowledged_with_cognito(cognito_stack: Synthesized) -> None:
    assert cognito_stack.violations() == []
    assert cognito_stack.error is None
    for rules in cognito_stack.acknowledgements.values():
        assert all(reason.strip() for reason in rules.values())


def test_an_existing_user_pool_is_used_instead_of_a_new_one(tmp_path: Path, layer_path: Path) -> None:
    pool_id = "eu-west-1_AbCdEfGhI"
    stack = synthesize({"layer_path": str(layer_path), "auth": "cognito", "user_pool_id": pool_id}, tmp_path)
    assert not stack.of_type("AWS::Cognito::UserPool")
    (authorizer,) = stack.of_type("AWS::ApiGateway::Authorizer").values()
    assert pool_id in str(authorizer["Properties"]["ProviderARNs"])
    assert stack.violations() == []
