"""The REST API: one resource per path of every `FunctionSpec`, integrated with that function (streamed
through the Lambda Web Adapter for STREAM functions), and Cognito or API-key authentication."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import AuthMode, StratusConfig
from infra.lambdas import LOG_RETENTION, Functions
from infra.nag import acknowledge
from infra.typing_compat import as_function
from stratus.aws.functions import FUNCTIONS, FunctionKind, FunctionSpec

__all__ = ["OPEN_PATHS", "STAGE_NAME", "Api"]

STAGE_NAME = "prod"

OPEN_PATHS = frozenset({"/health"})
"""Paths that need no Cognito token: load balancers and uptime checks probe them."""

THROTTLING_RATE_LIMIT = 100
"""Steady requests per second across the stage's methods (raise it for a busy deployment)."""

THROTTLING_BURST_LIMIT = 200

_API_KEY_AUTH_REASON = (
    "With auth=api_key the functions authenticate every request themselves: they hash the bearer API key "
    "and look it up among the hashed keys in Secrets Manager (STRATUS_AUTH=api_key), so the gateway has no "
    "authorizer of its own. Deploy with -c auth=cognito for a gateway Cognito authorizer."
)


class Api(Construct):
    """The REST API with its stage, access logs and (with Cognito auth) its user pool and authorizer.

    Attributes:
        rest_api: The API; its `url` is the stage's base URL.
        user_pool: With Cognito auth, the pool whose tokens the API accepts.
        user_pool_client: With Cognito auth and a pool created here, the app client users sign in with.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StratusConfig, functions: Functions) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.user_pool: cognito.IUserPool | None = None
        self.user_pool_client: cognito.UserPoolClient | None = None
        self.rest_api = self._build_rest_api(self._build_access_logs())
        self._authorizer = self._build_authorizer() if config.auth is AuthMode.COGNITO else None
        for spec in FUNCTIONS:
            if spec.paths:
                self._build_routes(spec, functions.functions[spec.name])
        self._acknowledge_findings()

    def _build_access_logs(self) -> logs.LogGroup:
        return logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)

    def _build_rest_api(self, access_logs: logs.ILogGroup) -> apigw.RestApi:
        return apigw.RestApi(
            self,
            "RestApi",
            description="stratus: agents, sessions and memories over HTTP",
            # Regional: an integration may run (and stream) up to 15 minutes only on regional endpoints.
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Multipart run requests carry files: passed to the functions base64-encoded, byte for byte.
            binary_media_types=["multipart/form-data"],
            cloud_watch_role=True,  # execution logging needs the account's API Gateway logging role
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # full request logging would copy bearer keys and prompts into logs
                throttling_rate_limit=THROTTLING_RATE_LIMIT,
                throttling_burst_limit=THROTTLING_BURST_LIMIT,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )

    def _build_authorizer(self) -> apigw.CognitoUserPoolsAuthorizer:
        if self._config.user_pool_id:
            self.user_pool = cognito.UserPool.from_user_pool_id(self, "UserPool", self._config.user_pool_id)
        else:
            pool = self._build_user_pool()
            self.user_pool = pool
            self.user_pool_client = pool.add_client(
                "ApiClient",
                auth_flows=cognito.AuthFlow(user_srp=True),
                generate_secret=False,  # a public client: browsers and CLIs cannot keep a secret
            )
        return apigw.CognitoUserPoolsAuthorizer(self, "Authorizer", cognito_user_pools=[self.user_pool])

    def _build_user_pool(self) -> cognito.UserPool:
        pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,  # an administrator invites users
            sign_in_aliases=cognito.SignInAliases(email=True),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            pool,
            "AwsSolutions-COG8",
            "The Plus feature plan (threat protection) is billed per monthly active user; the pool requires "
            "MFA, strong passwords and admin-created users. Upgrade with feature_plan=PLUS where needed.",
        )
        return pool

    def _build_routes(self, spec: FunctionSpec, function: lambda_.Function) -> None:
        if spec.kind is FunctionKind.STREAM:
            integration = apigw.LambdaIntegration(
                as_function(function),
                response_transfer_mode=apigw.ResponseTransferMode.STREAM,
                # A streamed response may last as long as the function may run.
                timeout=Duration.seconds(spec.timeout_seconds),
            )
        else:
            integration = apigw.LambdaIntegration(as_function(function))
        for path in spec.paths:
            open_path = path in OPEN_PATHS
            authorizer = None if open_path else self._authorizer
            authorization = apigw.AuthorizationType.NONE if authorizer is None else apigw.AuthorizationType.COGNITO
            method = self._resource(path).add_method(
                "ANY", integration, authorizer=authorizer, authorization_type=authorization
            )
            if self._authorizer is not None and open_path:
                reason = f"{path} is a liveness probe that reveals nothing and must answer without a token."
                acknowledge(method, "AwsSolutions-APIG4", reason)
                acknowledge(method, "AwsSolutions-COG4", reason)

    def _resource(self, path: str) -> apigw.IResource | apigw.Resource:
        """The resource at `path`, creating it and its parents as needed."""
        resource: apigw.IResource | apigw.Resource = self.rest_api.root
        for part in path.strip("/").split("/"):
            resource = resource.get_resource(part) or resource.add_resource(part)
        return resource

    def _acknowledge_findings(self) -> None:
        api = self.rest_api
        if self._authorizer is None:
            acknowledge(api, "AwsSolutions-APIG4", _API_KEY_AUTH_REASON)
            acknowledge(api, "AwsSolutions-COG4", _API_KEY_AUTH_REASON)
        acknowledge(
            api,
            "AwsSolutions-APIG2",
            "Every method is a Lambda proxy to a FastAPI app that validates parameters and bodies with "
            "pydantic (422 with field errors); a gateway validator without models would check nothing more.",
        )
        acknowledge(
            api.deployment_stage,
            "AwsSolutions-APIG3",
            "Stage throttling bounds request rates and every request is authenticated; a WAFv2 web ACL is "
            "billed per ACL and rule, so a deployment that needs one associates it with this stage.",
        )
        cloud_watch_role = api.node.try_find_child("CloudWatchRole")
        if cloud_watch_role is not None:
            acknowledge(
                cloud_watch_role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "API Gateway's account-wide logging role: AWS's purpose-built policy for it, which only lets "
                "API Gateway write its execution and access logs.",
            )
