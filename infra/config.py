"""The deployment's settings, read from CDK context (`cdk.json`, or `-c name=value` on the command line)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from constructs import Node

__all__ = ["DEFAULT_APP", "DEFAULT_LAYER_PATH", "REPO_ROOT", "AuthMode", "InfraConfigError", "StratusConfig"]

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository's root: where `functions/`, the app module and `layers/` live by default."""

DEFAULT_APP = "examples.demo:app"
DEFAULT_LAYER_PATH = "layers/build"


class InfraConfigError(ValueError):
    """The CDK context or the files the stack packages are not what synthesis needs."""


class AuthMode(StrEnum):
    """How the API authenticates callers (also the functions' `STRATUS_AUTH`)."""

    API_KEY = "api_key"
    """Functions verify `Authorization: Bearer <key>` against hashed keys in Secrets Manager."""

    COGNITO = "cognito"
    """API Gateway verifies a Cognito JWT; functions trust the claims it passes on."""


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
    """

    app: str
    auth: AuthMode
    code_root: Path
    layer_path: Path
    user_pool_id: str | None = None
    alarm_email: str | None = None

    @property
    def app_package(self) -> str:
        """The top-level package (or module) of the app, which is packaged with the functions."""
        return self.app.split(":", 1)[0].split(".", 1)[0]

    @classmethod
    def from_context(cls, node: Node) -> StratusConfig:
        """Read and check the context values `app`, `auth`, `code_root`, `layer_path`, `user_pool_id` and
        `alarm_email`; relative paths are taken from `code_root` (default: the repository's root)."""

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
        )
