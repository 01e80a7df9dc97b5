"""The REST API: one resource per path of every `FunctionSpec`, integrated with that function (streamed
through the Lambda Web Adapter for STREAM functions), a throttled stage, and authentication at the gateway
before any function runs: a cached Lambda REQUEST authorizer for API keys, or a Cognito authorizer. Only
`/health` is open. The functions verify the caller again themselves (defence in depth)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import AuthMode, StratusConfig
from infra.lambdas import LOG_RETENTION, Functions
from infra.nag import acknowledge, skip_checkov
from stratus.aws.functions import FUNCTIONS, FunctionKind, FunctionSpec

__all__ = ["AUTHORIZATION_HEADER", "OPEN_PATHS", "STAGE_NAME", "Api"]

STAGE_NAME = "prod"

OPEN_PATHS = frozenset({"/health"})
"""Paths served without authentication: load balancers and uptime checks probe them, and they reveal nothing."""

AUTHORIZATION_HEADER = "Authorization"
"""The API-key authorizer's identity source, and its cache key: `Bearer <key>`."""

_API_KEY_COGNITO_REASON = (
    "With auth=api_key callers authenticate with API keys, which the stack's Lambda REQUEST authorizer "
    "verifies at the gateway (hashed keys in Secrets Manager) before any function runs. Deploy with "
    "-c auth=cognito for a Cognito user pool authorizer instead."
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
        if config.auth is AuthMode.COGNITO:
            self._authorizer: apigw.IAuthorizer = self._build_cognito_authorizer()
            self._authorization = apigw.AuthorizationType.COGNITO
        else:
            self._authorizer = self._build_api_key_authorizer(functions.targets["authorizer"])
            self._authorization = apigw.AuthorizationType.CUSTOM
        for spec in FUNCTIONS:
            if spec.paths:
                self._build_routes(spec, functions.targets[spec.name])
        self._build_gateway_responses()
        self._acknowledge_findings()

    def _build_access_logs(self) -> logs.LogGroup:
        log_group = logs.LogGroup(self, "AccessLogs", retention=LOG_RETENTION, removal_policy=RemovalPolicy.RETAIN)
        skip_checkov(
            log_group,
            "CKV_AWS_158",
            "CloudWatch Logs encrypts every log group at rest with keys it manages; access logs hold request "
            "lines (method, path, status, source IP), never bodies or Authorization headers, so a KMS key with "
            "its logs-service key policy and monthly fee would protect nothing more.",
        )
        return log_group

    def _build_rest_api(self, access_logs: logs.ILogGroup) -> apigw.RestApi:
        return apigw.RestApi(
            self,
            "RestApi",
            description="stratus: agents, sessions and memories over HTTP",
            # Regional: an integration may run (and stream) up to 15 minutes only on regional endpoints.
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Browser front ends on the named origins: preflights answered by the gateway (no function runs,
            # and no credential is asked: browsers send none with a preflight).
            default_cors_preflight_options=apigw.CorsOptions(
                allow_origins=list(self._config.cors_origins),
                allow_methods=apigw.Cors.ALL_METHODS,
                allow_headers=[
                    *("Authorization", "Content-Type", "Accept", "Cache-Control", "Last-Event-ID"),
                    # what MCP's streamable HTTP and A2A's clients send on every request (browser clients too)
                    *(
                        "Mcp-Protocol-Version",
                        "Mcp-Session-Id",
                        "Mcp-Method",
                        "Mcp-Name",
                        "A2A-Version",
                        "A2A-Extensions",
                    ),
                ],
                allow_credentials="*" not in self._config.cors_origins,
                max_age=Duration.minutes(10),
            )
            if self._config.cors_origins
            else None,
            # Multipart run requests carry files: passed to the functions base64-encoded, byte for byte.
            binary_media_types=["multipart/form-data"],
            cloud_watch_role=True,  # execution logging needs the account's API Gateway logging role
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # full request logging would copy bearer keys and prompts into logs
                # Every method of the stage (`/*/*`): what one caller, or all of them, may send before a 429.
                throttling_rate_limit=self._config.throttle_rate,
                throttling_burst_limit=self._config.throttle_burst,
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

    def _build_api_key_authorizer(self, function: lambda_.IFunction) -> apigw.RequestAuthorizer:
        cache = self._config.auth_cache_seconds
        return apigw.RequestAuthorizer(
            self,
            "ApiKeyAuthorizer",
            handler=function,
            # The gateway answers 401 itself when the header is missing, and caches each answer by the header:
            # the authorizer's policy covers the whole stage, so one key is verified once for every route.
            identity_sources=[apigw.IdentitySource.header(AUTHORIZATION_HEADER)],
            results_cache_ttl=Duration.seconds(cache),
        )

    def _build_cognito_authorizer(self) -> apigw.CognitoUserPoolsAuthorizer:
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

    def _build_routes(self, spec: FunctionSpec, function: lambda_.IFunction) -> None:
        """The methods of `spec`'s paths, each invoking `function` (its SnapStart alias, or the function)."""
        if spec.kind is FunctionKind.STREAM:
            integration = apigw.LambdaIntegration(
                function,
                response_transfer_mode=apigw.ResponseTransferMode.STREAM,
                # A streamed response may last as long as the function may run.
                timeout=Duration.seconds(spec.timeout_seconds),
            )
        else:
            integration = apigw.LambdaIntegration(function)
        for path in spec.paths:
            if path in OPEN_PATHS:
                method = self._resource(path).add_method(
                    "ANY", integration, authorization_type=apigw.AuthorizationType.NONE
                )
                reason = f"{path} is a liveness probe that reveals nothing and must answer without a credential."
                acknowledge(method, "AwsSolutions-APIG4", reason)
                acknowledge(method, "AwsSolutions-COG4", reason)
                skip_checkov(method, "CKV_AWS_59", reason)
            else:
                self._resource(path).add_method(
                    "ANY", integration, authorizer=self._authorizer, authorization_type=self._authorization
                )

    def _resource(self, path: str) -> apigw.IResource | apigw.Resource:
        """The resource at `path`, creating it and its parents as needed."""
        resource: apigw.IResource | apigw.Resource = self.rest_api.root
        for part in path.strip("/").split("/"):
            resource = resource.get_resource(part) or resource.add_resource(part)
        return resource

    def _build_gateway_responses(self) -> None:
        """The gateway's own refusals in this API's error shape, `{"detail": ...}`, with the statuses the
        functions answer for the same cause (401 for a missing or wrong credential, 503 when the keys cannot
        be read)."""
        api_key = self._config.auth is AuthMode.API_KEY
        challenge = {"WWW-Authenticate": "'Bearer'"}
        responses: list[tuple[str, apigw.ResponseType, str, str, dict[str, str]]] = [
            (
                "Unauthorized",
                apigw.ResponseType.UNAUTHORIZED,
                "401",
                '"missing API key: send Authorization: Bearer <key>"'
                if api_key
                else '"missing or invalid token: send Authorization: <Cognito ID token>"',
                challenge,
            ),
            (
                "AccessDenied",
                apigw.ResponseType.ACCESS_DENIED,
                "401" if api_key else "403",
                '"invalid API key"' if api_key else '"access denied"',
                challenge if api_key else {},
            ),
            ("AuthorizerFailure", apigw.ResponseType.AUTHORIZER_FAILURE, "503", '"authentication is unavailable"', {}),
            ("Throttled", apigw.ResponseType.THROTTLED, "429", '"too many requests: slow down and retry"', {}),
            ("Default4xx", apigw.ResponseType.DEFAULT_4_XX, "", "$context.error.messageString", {}),
            ("Default5xx", apigw.ResponseType.DEFAULT_5_XX, "", "$context.error.messageString", {}),
        ]
        origins = self._config.cors_origins
        # A browser reads a refusal only if it carries the CORS header; a static header can name one origin.
        cors = {"Access-Control-Allow-Origin": f"'{origins[0]}'"} if len(origins) == 1 else {}
        for construct_id, response_type, status, detail, headers in responses:
            self.rest_api.add_gateway_response(
                construct_id,
                type=response_type,
                status_code=status or None,
                response_headers={"Content-Type": "'application/json'", **cors, **headers},
                templates={"application/json": f'{{"detail": {detail}}}'},
            )

    def _acknowledge_findings(self) -> None:
        api = self.rest_api
        if self._config.auth is AuthMode.API_KEY:
            acknowledge(api, "AwsSolutions-COG4", _API_KEY_COGNITO_REASON)
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
        skip_checkov(
            api.deployment_stage,
            "CKV_AWS_120",
            "Responses are per caller (sessions, runs, memories) and runs are POSTs or streams: a stage cache "
            "keyed without the caller's identity could serve one user's data to another, and a cache cluster is "
            "billed per hour. The authorizer's answers are cached instead.",
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
