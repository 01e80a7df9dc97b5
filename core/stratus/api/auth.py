"""Authentication: who is calling, verified, before any route runs.

- `ApiKeyAuth`: `Authorization: Bearer <key>`, checked against SHA-256 hashes of the keys (never the keys
  themselves), each key standing for one user. Locally the key is `STRATUS_API_KEY`; on AWS the hashes live in
  the Secrets Manager secret `STRATUS_API_KEYS_SECRET` names.
- `ClaimsAuth`: API Gateway's Cognito authorizer has verified a JWT; its claims arrive with the request, and
  one of them (`sub` by default) names the user.

The verified user id lands in `request.state.user_id`, where the routes take it from, ignoring any `user_id`
the request itself claims. `/health` stays open, and so do the docs, the OpenAPI document and the playground
unless the app is built with `public_docs=False` (as the Lambda functions are).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from stratus.exceptions import ConfigError, StratusError
from stratus.secrets import get_secret
from stratus.settings import (
    STRATUS_API_KEY,
    STRATUS_API_KEYS_SECRET,
    STRATUS_API_USER,
    STRATUS_AUTH,
    STRATUS_USER_CLAIM,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "API_KEYS_SECRET_NAME",
    "DOCS_ASSETS_PATH",
    "OPEN_PATHS",
    "PLAYGROUND_ASSETS_PATH",
    "ApiKeyAuth",
    "AuthError",
    "AuthMiddleware",
    "AuthUnavailableError",
    "Authenticator",
    "ClaimsAuth",
    "authenticator_from_env",
    "hash_key",
    "new_api_key",
]

OPEN_PATHS = frozenset({"/health", "/playground", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
"""Paths served without authentication: liveness, and static pages that hold no data."""

DOCS_ASSETS_PATH = "/docs/assets"
"""Where the docs pages' scripts, styles and icon are served; open too (files from a package, no data)."""

PLAYGROUND_ASSETS_PATH = "/playground/assets"
"""Where the playground's scripts and styles are served; open with `/playground` (files from the package, no data)."""

API_KEYS_SECRET_NAME = "STRATUS_API_KEYS"
"""The name under which `get_secret` finds the API keys document (the AWS bootstrap maps it to the secret)."""


class AuthError(StratusError):
    """The caller is not authenticated (401)."""


class AuthUnavailableError(StratusError):
    """The credentials to check against could not be read (503): fail closed, never open."""


def hash_key(key: str) -> str:
    """The SHA-256 hex digest stored in place of an API key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> str:
    """A new random API key (256 bits, URL-safe)."""
    return "sk-stratus-" + secrets.token_urlsafe(32)


class Authenticator(ABC):
    """Verifies the caller of one HTTP request and returns their user id, or raises `AuthError`."""

    @abstractmethod
    def authenticate(self, scope: Mapping[str, Any], headers: Mapping[str, str]) -> str: ...


KeyTable = Mapping[str, str]
"""SHA-256 hex digest of a key -> the user id it stands for."""


class ApiKeyAuth(Authenticator):
    """Bearer API keys, checked against their SHA-256 hashes in constant time.

    `keys` is the table itself, or a function returning it (called on every request, so it should cache;
    the AWS resolver caches the secret for a few minutes, which is also how fast a revoked key stops working).
    """

    def __init__(self, keys: KeyTable | Callable[[], KeyTable]) -> None:
        self._keys = keys

    def _table(self) -> KeyTable:
        if not callable(self._keys):
            return self._keys
        try:
            return self._keys()
        except AuthError:
            raise
        except Exception as exc:
            raise AuthUnavailableError(f"API keys could not be read: {type(exc).__name__}") from exc

    def authenticate(self, scope: Mapping[str, Any], headers: Mapping[str, str]) -> str:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthError("missing API key: send Authorization: Bearer <key>")
        digest = hash_key(key.strip())
        user: str | None = None
        for known, owner in self._table().items():
            if hmac.compare_digest(digest, known):  # constant time, and keep looking: no timing hint
                user = owner
        if user is None:
            raise AuthError("invalid API key")
        return user


def parse_key_document(text: str) -> dict[str, str]:
    """Read the API keys secret: `{"keys": [{"sha256": "<hex>", "user_id": "<user>"}, ...]}`."""
    try:
        document = json.loads(text)
        entries = cast(list[dict[str, Any]], document["keys"])
        return {str(e["sha256"]).lower(): str(e["user_id"]) for e in entries}
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthUnavailableError("the API keys secret is not a valid keys document") from exc


class ClaimsAuth(Authenticator):
    """Trusts the claims of a JWT that API Gateway's Cognito authorizer verified.

    Under Mangum the claims are in the Lambda event (`scope["aws.event"]`); under the Lambda Web Adapter
    they are in the `x-amzn-request-context` header it builds from that event.
    """

    def __init__(self, claim: str = "sub") -> None:
        self.claim = claim

    def authenticate(self, scope: Mapping[str, Any], headers: Mapping[str, str]) -> str:
        context: Any = None
        event = scope.get("aws.event")
        if isinstance(event, dict):
            context = cast(dict[str, Any], event).get("requestContext")
        elif "x-amzn-request-context" in headers:
            try:
                context = json.loads(headers["x-amzn-request-context"])
            except ValueError:
                context = None
        claims: Any = None
        if isinstance(context, dict):
            authorizer = cast(dict[str, Any], context).get("authorizer")
            if isinstance(authorizer, dict):
                claims = cast(dict[str, Any], authorizer).get("claims")
        user = cast(dict[str, Any], claims).get(self.claim) if isinstance(claims, dict) else None
        if not user:
            raise AuthError(f"no verified identity: the request carries no {self.claim!r} claim")
        return str(user)


def authenticator_from_env() -> Authenticator | None:
    """The authenticator the environment asks for; None (auth off) unless a key or a mode is configured."""
    mode = (os.environ.get(STRATUS_AUTH) or "").strip().lower()
    key = os.environ.get(STRATUS_API_KEY)
    secret = os.environ.get(STRATUS_API_KEYS_SECRET)
    if not mode:
        mode = "api_key" if key or secret else "none"
    if mode == "none":
        return None
    if mode == "cognito":
        return ClaimsAuth(os.environ.get(STRATUS_USER_CLAIM) or "sub")
    if mode != "api_key":
        raise ConfigError(f"{STRATUS_AUTH}={mode!r}: use none, api_key or cognito")
    if key:
        return ApiKeyAuth({hash_key(key): os.environ.get(STRATUS_API_USER) or "default"})
    if secret:
        cache: dict[str, dict[str, str]] = {}

        def load() -> dict[str, str]:
            text = get_secret(API_KEYS_SECRET_NAME, environment=False)
            if text is None:
                raise AuthUnavailableError("the API keys secret is not readable")
            if text not in cache:
                cache.clear()
                cache[text] = parse_key_document(text)
            return cache[text]

        return ApiKeyAuth(load)
    raise ConfigError(f"{STRATUS_AUTH}=api_key needs {STRATUS_API_KEY} (locally) or {STRATUS_API_KEYS_SECRET}")


class AuthMiddleware:
    """Pure ASGI (so streamed responses pass through untouched): authenticate, then call the app.

    `open_paths` are served without authentication (`OPEN_PATHS` by default; the docs assets go with
    `/docs`, the playground's with `/playground`): the Lambda functions leave only `/health` open, so the
    document and pages need the key there.
    """

    def __init__(self, app: ASGIApp, authenticator: Authenticator, open_paths: frozenset[str] = OPEN_PATHS) -> None:
        self.app = app
        self.authenticator = authenticator
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if (
            scope["type"] != "http"
            or path in self.open_paths
            or ("/docs" in self.open_paths and path.startswith(f"{DOCS_ASSETS_PATH}/"))
            or ("/playground" in self.open_paths and path.startswith(f"{PLAYGROUND_ASSETS_PATH}/"))
            or scope.get("method") == "OPTIONS"
        ):
            await self.app(scope, receive, send)
            return
        raw = cast(list[tuple[bytes, bytes]], scope.get("headers") or [])
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}
        try:
            # A thread: the first call may read a secret over the network; later ones hit its cache.
            user = await asyncio.to_thread(self.authenticator.authenticate, scope, headers)
        except AuthUnavailableError as exc:
            await _json(send, 503, {"detail": str(exc)})
            return
        except AuthError as exc:
            await _json(send, 401, {"detail": str(exc)}, [(b"www-authenticate", b"Bearer")])
            return
        state = cast(dict[str, Any], scope.setdefault("state", {}))
        state["user_id"] = user
        await self.app(scope, receive, send)


async def _json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
