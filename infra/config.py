"""The deployment's settings, read from CDK context (`cdk.json`, or `-c name=value` on the command line)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from constructs import Node

from stratus.aws.functions import FUNCTIONS, FunctionKind, FunctionSpec
from stratus.storage import keys

__all__ = [
    "BEDROCK_PROFILE_PREFIXES",
    "DEFAULT_APP",
    "DEFAULT_AUTH_CACHE_SECONDS",
    "DEFAULT_LAYER_PATH",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MODEL",
    "DEFAULT_THROTTLE_BURST",
    "DEFAULT_THROTTLE_RATE",
    "REPO_ROOT",
    "AuthMode",
    "InfraConfigError",
    "ModelConfig",
    "StratusConfig",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository's root: where `functions/`, the app module and `layers/` live by default."""

DEFAULT_APP = "examples.demo:app"
DEFAULT_LAYER_PATH = "layers/build"

DEFAULT_MODEL = "bedrock:us.amazon.nova-lite-v1:0"
"""The model on AWS (`model`): Amazon Nova Lite through the US cross-region inference profile, which needs no
key and no Marketplace subscription (outside the US, use the `eu.` or `apac.` profile, or a model id)."""

BEDROCK_PROFILE_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"})
"""The geographies of Bedrock's system-defined cross-region inference profiles: `us.amazon.nova-lite-v1:0` is
a profile of the foundation model `amazon.nova-lite-v1:0`."""

DEFAULT_THROTTLE_RATE = 100
"""Steady requests per second across the stage's methods (`throttle_rate`)."""

DEFAULT_THROTTLE_BURST = 200
"""Requests the stage takes at once above the steady rate (`throttle_burst`)."""

DEFAULT_MAX_CONCURRENCY: Mapping[FunctionKind, int] = {
    FunctionKind.API: 20,  # short buffered requests: 20 at once serve far more than the stage's 100 per second
    FunctionKind.STREAM: 10,  # runs of up to 15 minutes: the bound on model spend and compute at any moment
    FunctionKind.QUEUE: 5,  # background runs, learning and ingestion go at their own pace
    FunctionKind.AUTHORIZER: 10,  # invoked only on a cache miss (once per key per TTL)
}
"""Reserved concurrency by function kind (`max_concurrency`): what one caller, or a flood of them, can run up.
Together 185 of an account's default 1,000 concurrent executions."""

DEFAULT_AUTH_CACHE_SECONDS = 300
"""How long API Gateway caches an authorizer's answer per Authorization header (`auth_cache_seconds`): also how
long a revoked API key may still be let in by the gateway (the functions read the keys every 5 minutes too)."""

_UNBOUNDED = frozenset({"none", "off", "unbounded"})


class InfraConfigError(ValueError):
    """The CDK context or the files the stack packages are not what synthesis needs."""


class AuthMode(StrEnum):
    """How the API authenticates callers (also the functions' `STRATUS_AUTH`)."""

    API_KEY = "api_key"
    """Functions verify `Authorization: Bearer <key>` against hashed keys in Secrets Manager."""

    COGNITO = "cognito"
    """API Gateway verifies a Cognito JWT; functions trust the claims it passes on."""


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """The deployment's default model (`STRATUS_MODEL`), as the context `model` and `model_region` name it.

    Attributes:
        provider: `bedrock` or `openai`.
        model_id: The provider's id of the model: for Bedrock a foundation model id (`amazon.nova-lite-v1:0`)
            or a cross-region inference profile id (`us.amazon.nova-lite-v1:0`).
        region: For Bedrock, the region it is called in; None: the stack's own.
    """

    provider: str
    model_id: str
    region: str | None = None

    @property
    def spec(self) -> str:
        """The `"provider:model-id"` string the functions receive as `STRATUS_MODEL`."""
        return f"{self.provider}:{self.model_id}"

    @property
    def bedrock(self) -> bool:
        return self.provider == "bedrock"

    @property
    def needs_api_key(self) -> bool:
        """Whether the provider is called with a key of its own (kept in Secrets Manager), OpenAI's."""
        return self.provider == "openai"

    @property
    def inference_profile(self) -> bool:
        """Whether a Bedrock model id names a cross-region inference profile rather than a foundation model."""
        return self.bedrock and self.model_id.split(".", 1)[0] in BEDROCK_PROFILE_PREFIXES

    @property
    def foundation_model(self) -> str:
        """The Bedrock foundation model id: the profile id without its geography."""
        return self.model_id.split(".", 1)[1] if self.inference_profile else self.model_id

    @classmethod
    def parse(cls, spec: str, region: str | None = None) -> ModelConfig:
        provider, _, model_id = spec.strip().partition(":")
        provider = provider.strip().lower()
        model_id = model_id.strip()
        if provider == "aws":
            provider = "bedrock"
        if provider not in ("bedrock", "openai"):
            raise InfraConfigError(
                f"context model={spec!r}: on AWS the model is bedrock:<model-id> (the default, "
                f"{DEFAULT_MODEL}) or openai:<model-id>"
            )
        if not model_id:
            raise InfraConfigError(f"context model={spec!r}: name the model, e.g. {DEFAULT_MODEL}")
        if provider == "bedrock" and model_id.startswith("arn:"):
            raise InfraConfigError(
                f"context model={spec!r}: name a Bedrock model or cross-region inference profile by its id "
                "(e.g. us.amazon.nova-lite-v1:0), not an ARN"
            )
        if region is not None and provider != "bedrock":
            raise InfraConfigError(f"context model_region={region!r} applies to Bedrock models only")
        return cls(provider=provider, model_id=model_id, region=region)


@dataclass(frozen=True, slots=True)
class StratusConfig:
    """Everything the stack needs to know beyond the shared constants.

    Attributes:
        app: The app to serve, as `module:attribute` (the functions' `STRATUS_APP`).
        auth: How callers are authenticated.
        code_root: The directory holding `functions/` and the app module.
        layer_path: The built layer (its `python/` directory holds the packages), made by `make layer`.
        user_pool_id: With Cognito auth, an existing user pool to use instead of creating one.
        alarm_email: An address subscribed to the alarm topic, if any.
        model: The default model of the app's agents and teams (`STRATUS_MODEL`).
        throttle_rate: The stage's steady requests per second.
        throttle_burst: The stage's burst of requests.
        max_concurrency: Reserved concurrency by function kind and by function name (a name wins over its
            kind); None leaves that function unbounded.
        auth_cache_seconds: How long the gateway caches an authorizer's answer (0: not at all).
        cors_origins: Browser origins that may call the API (`STRATUS_CORS_ORIGINS`, and the gateway's
            preflight answers); none by default.
        listing_indexes: How many of the table's listing indexes to build (all by default); fewer only to
            upgrade a table made before them, one index per deploy.
        snap_start: Lambda SnapStart on the functions it fits (`infra.lambdas.SNAP_START_KINDS`), each
            invoked through its alias `live` of the published version; `-c snap_start=false` turns it off.
    """

    app: str
    auth: AuthMode
    code_root: Path
    layer_path: Path
    user_pool_id: str | None = None
    alarm_email: str | None = None
    model: ModelConfig = field(default_factory=lambda: ModelConfig.parse(DEFAULT_MODEL))
    throttle_rate: int = DEFAULT_THROTTLE_RATE
    throttle_burst: int = DEFAULT_THROTTLE_BURST
    max_concurrency: Mapping[str, int | None] = field(
        default_factory=lambda: {kind.value: limit for kind, limit in DEFAULT_MAX_CONCURRENCY.items()}
    )
    auth_cache_seconds: int = DEFAULT_AUTH_CACHE_SECONDS
    cors_origins: tuple[str, ...] = ()
    listing_indexes: int = len(keys.LISTING_INDEXES)
    snap_start: bool = True

    def concurrency_of(self, spec: FunctionSpec) -> int | None:
        """The reserved concurrency of `spec`'s function: its own entry, else its kind's; None: unbounded."""
        if spec.name in self.max_concurrency:
            return self.max_concurrency[spec.name]
        return self.max_concurrency.get(spec.kind.value)

    @property
    def app_package(self) -> str:
        """The top-level package (or module) of the app, which is packaged with the functions."""
        return self.app.split(":", 1)[0].split(".", 1)[0]

    @classmethod
    def from_context(cls, node: Node) -> StratusConfig:
        """Read and check the context values `app`, `auth`, `code_root`, `layer_path`, `user_pool_id`,
        `alarm_email`, `model`, `model_region`, `throttle_rate`, `throttle_burst`, `max_concurrency`,
        `auth_cache_seconds`, `cors_origins` (comma-separated), `listing_indexes` and `snap_start`; relative paths are
        taken from `code_root` (default: the repository's root)."""

        def value(name: str) -> str | None:
            raw = node.try_get_context(name)
            return (str(raw).strip() or None) if raw is not None else None

        app = value("app") or DEFAULT_APP
        module, _, attribute = app.partition(":")
        if not module or not attribute:
            raise InfraConfigError(f"context app={app!r}: name the app as module:attribute, e.g. {DEFAULT_APP}")
        auth_name = value("auth") or AuthMode.API_KEY.value
        try:
            auth = AuthMode(auth_name)
        except ValueError:
            known = ", ".join(mode.value for mode in AuthMode)
            raise InfraConfigError(f"context auth={auth_name!r}: use one of {known}") from None
        code_root = Path(value("code_root") or REPO_ROOT).resolve()
        layer_path = (code_root / (value("layer_path") or DEFAULT_LAYER_PATH)).resolve()
        if not layer_path.is_dir() or not any(layer_path.iterdir()):
            raise InfraConfigError(
                f"the Lambda layer is not built: {layer_path} is missing or empty; run `make layer` first "
                "(or point the context value layer_path at a built layer)"
            )
        return cls(
            app=app,
            auth=auth,
            code_root=code_root,
            layer_path=layer_path,
            user_pool_id=value("user_pool_id"),
            alarm_email=value("alarm_email"),
            model=ModelConfig.parse(value("model") or DEFAULT_MODEL, value("model_region")),
            throttle_rate=_whole(value("throttle_rate"), "throttle_rate", DEFAULT_THROTTLE_RATE, least=1),
            throttle_burst=_whole(value("throttle_burst"), "throttle_burst", DEFAULT_THROTTLE_BURST, least=1),
            max_concurrency=_concurrency(node.try_get_context("max_concurrency")),
            auth_cache_seconds=_whole(
                value("auth_cache_seconds"), "auth_cache_seconds", DEFAULT_AUTH_CACHE_SECONDS, least=0, most=3600
            ),
            cors_origins=_origins(value("cors_origins")),
            listing_indexes=_whole(
                value("listing_indexes"),
                "listing_indexes",
                len(keys.LISTING_INDEXES),
                least=0,
                most=len(keys.LISTING_INDEXES),
            ),
            snap_start=_switch(value("snap_start"), "snap_start", default=True),
        )


def _origins(raw: str | None) -> tuple[str, ...]:
    """`cors_origins`: comma-separated `scheme://host[:port]` origins (`*` for any)."""
    origins = tuple(dict.fromkeys(o.strip().rstrip("/") for o in (raw or "").split(",") if o.strip()))
    for origin in origins:
        if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
            raise InfraConfigError(f"context cors_origins: {origin!r} is not an origin like https://ui.example.com")
    return origins


def _switch(raw: str | None, name: str, *, default: bool) -> bool:
    """An on/off context value: true/false, on/off, yes/no or 1/0."""
    if raw is None:
        return default
    spelled = raw.lower()
    if spelled in ("true", "on", "yes", "1"):
        return True
    if spelled in ("false", "off", "no", "0"):
        return False
    raise InfraConfigError(f"context {name}={raw!r}: expected true or false")


def _whole(raw: object, name: str, default: int, *, least: int, most: int | None = None) -> int:
    """A whole number of the context (a number in cdk.json, a string from `-c`), within its bounds."""
    if raw is None:
        return default
    try:
        number = int(str(raw).strip())
    except ValueError:
        raise InfraConfigError(f"context {name}={raw!r}: expected a whole number") from None
    if number < least or (most is not None and number > most):
        bounds = f"at least {least}" if most is None else f"between {least} and {most}"
        raise InfraConfigError(f"context {name}={raw!r}: expected a whole number {bounds}")
    return number


def _concurrency(raw: object) -> dict[str, int | None]:
    """`max_concurrency`: one number (or `none`) for every function, or an object by function kind or name
    (`{"stream": 4, "run_worker": 2}`, in cdk.json or as JSON after `-c`) over the defaults."""
    limits: dict[str, int | None] = {kind.value: limit for kind, limit in DEFAULT_MAX_CONCURRENCY.items()}
    if raw is None:
        return limits
    if isinstance(raw, str) and raw.strip().startswith("{"):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise InfraConfigError(f"context max_concurrency={raw!r}: not a JSON object") from None
    if isinstance(raw, dict):
        entries = cast(dict[str, Any], raw)
    else:
        entries = {kind.value: raw for kind in FunctionKind}
    known = {kind.value for kind in FunctionKind} | {spec.name for spec in FUNCTIONS}
    for key, limit in entries.items():
        if key not in known:
            raise InfraConfigError(
                f"context max_concurrency: {key!r} is neither a function kind nor a function; known: "
                + ", ".join(sorted(known))
            )
        limits[key] = _limit(key, limit)
    return limits


def _limit(key: str, raw: object) -> int | None:
    if raw is None or str(raw).strip().lower() in _UNBOUNDED:
        return None  # no reservation: for accounts whose concurrency quota is too low to reserve any
    number = _whole(raw, f"max_concurrency[{key}]", 0, least=1, most=1000)
    queue_consumers = {spec.name for spec in FUNCTIONS if spec.kind is FunctionKind.QUEUE}
    if number < 2 and (key == FunctionKind.QUEUE.value or key in queue_consumers):
        # An SQS event source scales to at least 2 at once: a bound of 1 would throttle deliveries into the DLQ.
        raise InfraConfigError(f"context max_concurrency[{key}]={raw!r}: a queue consumer needs at least 2")
    return number
