"""The `stratus` command: `stratus dev` serves an app locally; `stratus ask` runs an agent once."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from stratus.exceptions import ConfigError, StratusError
from stratus.settings import STRATUS_APP, STRATUS_DB, STRATUS_LOG_LEVEL

if TYPE_CHECKING:
    from fastapi import FastAPI

    from stratus.app import App

__all__ = ["asgi_from_env", "load_app", "main"]


def load_app(spec: str) -> App:
    """Import the `App` that `module:attribute` names (the current directory is importable)."""
    from stratus.app import App

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"app {spec!r} must look like module:attribute, e.g. examples.demo:app")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"cannot import {module_name!r} (looked in {os.getcwd()} and sys.path)") from exc
        raise
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    if callable(value) and not isinstance(value, App):
        value = value()
    if not isinstance(value, App):
        raise ConfigError(f"{spec!r} is a {type(value).__name__}, not a stratus App")
    return value


def asgi_from_env() -> FastAPI:
    """The ASGI app for the `App` that `STRATUS_APP` names (uvicorn's factory in `stratus dev`)."""
    from stratus.api import create_app

    spec = os.environ.get(STRATUS_APP)
    if not spec:
        raise ConfigError(f"set {STRATUS_APP}=module:attribute to name the app to serve")
    return create_app(load_app(spec))


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("botocore", "boto3", "urllib3", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))


def _aws_local() -> Any:
    """Start moto's server in this process and point the store at a DynamoDB table (and S3 bucket) in it."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise ConfigError("--aws-local needs moto's server: pip install 'moto[server,dynamodb,s3]'") from exc
    import logging as _logging

    from stratus.storage.dynamodb import DynamoStore

    _logging.getLogger("werkzeug").setLevel(_logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        os.environ[name] = value
    table, bucket = "stratus-local", "stratus-local-runs"
    store = DynamoStore(table, region="us-east-1", bucket=bucket)
    store.create_table()
    store.s3.create_bucket(Bucket=bucket)
    os.environ[STRATUS_DB] = f"dynamodb://{table}?region=us-east-1&bucket={bucket}"
    print(
        f"stratus: AWS services (moto) at {endpoint}: DynamoDB table {table!r}, S3 bucket {bucket!r}; "
        f"try: AWS_ENDPOINT_URL={endpoint} aws dynamodb scan --table-name {table}",
        flush=True,
    )
    return server


def _dev(args: argparse.Namespace) -> int:
    import uvicorn

    if not args.app:
        raise ConfigError(f"name the app to serve: stratus dev --app module:attribute (or set {STRATUS_APP})")
    os.environ[STRATUS_APP] = args.app
    moto = _aws_local() if args.aws_local else None
    load_app(args.app)  # fail here, with a clear message, rather than inside uvicorn's worker
    print(f"stratus: serving {args.app} on http://{args.host}:{args.port} (API docs at /docs)", flush=True)
    try:
        _serve(uvicorn, args)
    finally:
        if moto is not None:
            moto.stop()
    return 0


def _serve(uvicorn: Any, args: argparse.Namespace) -> None:
    uvicorn.run(
        "stratus.cli:asgi_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        reload=args.reload,
        reload_dirs=[os.getcwd()] if args.reload else None,
        log_level=args.log_level,
    )


async def _ask(args: argparse.Namespace) -> int:
    from stratus.run import RunCompleted, RunContent, RunError, RunStatus

    app = load_app(args.app)
    app.attach_store()
    agent = app.get_agent(args.agent) if args.agent else next(iter(app.agents.values()), None)
    if agent is None:
        raise ConfigError("the app has no agents")
    status = 0
    if args.no_stream:
        out = await agent.arun(args.message, session_id=args.session, user_id=args.user)
        print(out.content_dict() if out.status is RunStatus.COMPLETED else f"error: {out.error}")
        status = 0 if out.status is RunStatus.COMPLETED else 1
    else:
        async for event in agent.arun(args.message, stream=True, session_id=args.session, user_id=args.user):
            if isinstance(event, RunContent) and isinstance(event.content, str):
                print(event.content, end="", flush=True)
            elif isinstance(event, RunCompleted):
                if not isinstance(event.output.content, str):
                    print(event.output.content_dict(), end="")
                print()
            elif isinstance(event, RunError):
                print(f"\nerror: {event.content}", file=sys.stderr)
                status = 1
    await app.store.close()
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `stratus` command."""
    parser = argparse.ArgumentParser(prog="stratus", description="Serve and run stratus agents.")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="serve an app locally (FastAPI + uvicorn)")
    dev.add_argument("--app", default=os.environ.get(STRATUS_APP), help="module:attribute of the App")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--reload", action="store_true", help="restart when code changes")
    dev.add_argument(
        "--aws-local",
        action="store_true",
        help="store everything in DynamoDB (and S3) served by moto in this process: the AWS code path, offline",
    )
    dev.add_argument("--log-level", default=os.environ.get(STRATUS_LOG_LEVEL, "info").lower())

    ask = commands.add_parser("ask", help="run an agent once and print its answer")
    ask.add_argument("message")
    ask.add_argument("--app", default=os.environ.get(STRATUS_APP), required=STRATUS_APP not in os.environ)
    ask.add_argument("--agent", help="agent id (the app's first agent by default)")
    ask.add_argument("--session", help="session id, to continue a conversation")
    ask.add_argument("--user", help="user id")
    ask.add_argument("--no-stream", action="store_true", help="print the answer when it is complete")

    args = parser.parse_args(argv)
    try:
        if args.command == "dev":
            _configure_logging(args.log_level)
            return _dev(args)
        _configure_logging(os.environ.get(STRATUS_LOG_LEVEL, "warning"))
        return asyncio.run(_ask(args))
    except StratusError as exc:
        print(f"stratus: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
