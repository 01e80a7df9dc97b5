"""The `stratus` command: `stratus dev` serves an app locally; `stratus ask` runs an agent once; `stratus
knowledge add|search` fills and queries a knowledge base; `stratus invoke` runs a Lambda handler with an event
file; `stratus apikey` makes an API key."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from stratus.app import load_app
from stratus.exceptions import ConfigError, StratusError
from stratus.settings import STRATUS_APP, STRATUS_DB, STRATUS_LOG_LEVEL

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["DEMO_APP", "LocalContext", "asgi_from_env", "default_app", "invoke", "load_app", "main"]

DEMO_APP = "examples.demo:app"
"""The app the commands use when neither `--app` nor `STRATUS_APP` names one, if it is in the current folder."""

_AWS_MODULES = ("aws_lambda_powertools", "mangum", "boto3", "botocore", "aws_xray_sdk")
"""What the `aws` extra installs; a Lambda handler needs them."""


def default_app() -> str | None:
    """The app to use when `--app` is not given: `STRATUS_APP`, else the demo when `examples/demo.py` is in the
    current folder (the repository's root), else None."""
    spec = os.environ.get(STRATUS_APP)
    if spec:
        return spec
    return DEMO_APP if (Path.cwd() / "examples" / "demo.py").is_file() else None


def _app_of(args: argparse.Namespace) -> str:
    spec: str | None = args.app
    if not spec:
        raise ConfigError(
            f"name the app: --app module:attribute (or set {STRATUS_APP}; run from the repository's root to use "
            f"{DEMO_APP})"
        )
    return spec


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stratus")
    except PackageNotFoundError:  # running from a source tree that is not installed
        from stratus import __version__

        return __version__


def asgi_from_env() -> FastAPI:
    """The ASGI app for the `App` that `STRATUS_APP` names (uvicorn's factory in `stratus dev`)."""
    from stratus.api import create_app

    spec = os.environ.get(STRATUS_APP)
    if not spec:
        raise ConfigError(f"set {STRATUS_APP}=module:attribute to name the app to serve")
    return create_app(load_app(spec))


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("botocore", "boto3", "urllib3", "httpx", "httpcore", "pypdf"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))


def _aws_local() -> Any:
    """Start moto's server in this process and point the store at a DynamoDB table (and S3 bucket) in it."""
    from stratus.aws.local import LocalAws
    from stratus.storage.dynamodb import DynamoStore

    server = LocalAws().start()
    endpoint = server.endpoint_url
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

    spec = _app_of(args)
    os.environ[STRATUS_APP] = spec
    moto = _aws_local() if args.aws_local else None
    load_app(spec)  # fail here, with a clear message, rather than inside uvicorn's worker
    print(f"stratus: serving {spec} on http://{args.host}:{args.port} (API docs at /docs)", flush=True)
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
        timeout_graceful_shutdown=2,  # then runs still streaming are cancelled (and stored CANCELLED)
    )


async def _ask(args: argparse.Namespace) -> int:
    from stratus.run import RunCompleted, RunContent, RunError, RunStatus

    app = load_app(_app_of(args))
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


@dataclass
class LocalContext:
    """What a Lambda handler reads from its context, for running it on this machine."""

    function_name: str
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def invoke(function: str, event: dict[str, Any]) -> Any:
    """Run `functions/<function>.py`'s handler with `event`, as Lambda would."""
    from stratus.aws.functions import function as spec_of

    spec_of(function)  # fail with the list of known functions on a typo
    if not (Path.cwd() / "functions" / f"{function}.py").is_file():
        raise ConfigError(f"no functions/{function}.py in {os.getcwd()}: run stratus invoke from the repository's root")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(f"functions.{function}")
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing in _AWS_MODULES:
            raise ConfigError(
                f"stratus invoke needs the aws extra ({missing} is missing): make install, "
                "or pip install 'stratus[aws]'"
            ) from None
        raise
    return module.handler(event, LocalContext(function_name=function))


def _readable(result: Any) -> Any:
    """An API Gateway response with its JSON body decoded in place, so it prints as one JSON document."""
    if not isinstance(result, dict):
        return result
    response = cast("dict[str, Any]", result)
    headers = cast("dict[str, Any]", response.get("headers") or {})
    content_type = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
    body = response.get("body")
    if isinstance(body, str) and body and "json" in content_type and not response.get("isBase64Encoded"):
        try:
            return {**response, "body": json.loads(body)}
        except ValueError:
            return response
    return response


def _invoke(args: argparse.Namespace) -> int:
    try:
        with open(args.event, encoding="utf-8") as f:
            event = json.load(f)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the event {args.event}: {exc}") from None
    os.environ[STRATUS_APP] = _app_of(args)  # what the handler's bootstrap loads
    out = sys.stdout
    # Powertools writes its logs and metrics to stdout (CloudWatch reads them there on Lambda); here stdout is
    # only the response, so they go to stderr: the logger's handler takes sys.stdout when it is built, on import.
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        try:
            result = invoke(args.function, event)
        except KeyError as exc:
            raise ConfigError(str(exc.args[0])) from None
    out.write(json.dumps(_readable(result), indent=2, default=str) + "\n")
    out.flush()
    return 0


async def _reindex(args: argparse.Namespace) -> int:
    """Maintenance: give a DynamoDB table's records their listing-index entries (one Scan of the table)."""
    from stratus.storage import DEFAULT_DB_URL, store_from_url
    from stratus.storage.dynamodb import DynamoStore

    store = store_from_url(args.db or os.environ.get(STRATUS_DB) or DEFAULT_DB_URL)
    try:
        if not isinstance(store, DynamoStore):
            print(f"{store!r} needs no reindex: its listing columns are computed from its records")
            return 0
        report = await store.rebuild_indexes()
        print(
            f"{store!r}: scanned {report.scanned} items, reindexed {report.reindexed} records, "
            f"wrote {report.aggregates} memory counts, skipped {report.unreadable} unreadable"
        )
        return 1 if report.unreadable else 0
    finally:
        await store.close()


def _apikey(args: argparse.Namespace) -> int:
    from stratus.api.auth import hash_key, new_api_key

    key = args.key or new_api_key()
    if not args.key:
        print(f"API key (shown once, store it safely): {key}", file=sys.stderr)
    print(json.dumps({"sha256": hash_key(key), "user_id": args.user}))
    return 0


def _expand(paths: list[Any]) -> tuple[list[Any], list[Any]]:
    """Files to add (a folder stands for the files under it, hidden ones left out), and paths that are neither."""
    files: list[Any] = []
    missing: list[Any] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(path)
    return files, missing


class _ProgressBar:
    """One line per file on a terminal (`[######----]  60%  guide.pdf  indexed 60/100 chunks`), redrawn in
    place; elsewhere (logs, pipes) only the final line is written."""

    def __init__(self, name: str, stream: Any = None) -> None:
        self.name = name
        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())

    def draw(self, message: str, done: int, total: int) -> None:
        if not self.live:
            return
        fraction = done / total if total else 0.0
        filled = int(fraction * 20)
        line = f"[{'#' * filled}{'-' * (20 - filled)}] {fraction:4.0%}  {self.name}  {message}"
        self.stream.write("\r" + line[:120].ljust(120))
        self.stream.flush()

    def finish(self, line: str) -> None:
        if self.live:
            self.stream.write("\r" + " " * 120 + "\r")
        self.stream.write(line + "\n")
        self.stream.flush()


async def _knowledge(args: argparse.Namespace) -> int:
    from pathlib import Path

    from stratus.knowledge.knowledge import KnowledgeError, chunk_count
    from stratus.storage import ContentStatus

    app = load_app(_app_of(args))
    app.attach_store()
    base = app.get_knowledge(args.knowledge)
    status = 0
    try:
        if args.knowledge_command == "search":
            hits = await base.search(args.query, limit=args.limit, user_id=args.user)
            if not hits:
                print("no passage found", file=sys.stderr)
                return 1
            for i, hit in enumerate(hits, 1):
                meta = hit.chunk.metadata
                where = meta.get("name", hit.chunk.content_id) + (f", page {meta['page']}" if "page" in meta else "")
                text = " ".join(hit.chunk.text.split())
                print(f"{i}. [{hit.score:.3f}] {where}\n   {text[:300]}{'…' if len(text) > 300 else ''}")
            return 0
        parsed: Any = json.loads(args.metadata) if args.metadata else None
        if parsed is not None and not isinstance(parsed, dict):
            raise ConfigError("--metadata must be a JSON object")
        metadata = cast("dict[str, Any] | None", parsed)
        files, missing = await asyncio.to_thread(_expand, [Path(p) for p in args.paths])
        for raw in missing:
            print(f"{raw}: no such file or folder", file=sys.stderr)
            status = 1
        for path in files:
            bar = _ProgressBar(path.name)
            try:
                record, data, fresh = await base.prepare(path, metadata=metadata, user_id=args.user)
            except KnowledgeError as exc:
                bar.finish(f"{path}: skipped: {exc}")
                status = 1
                continue
            if fresh:

                async def progress(current: Any, done: int, total: int, bar: _ProgressBar = bar) -> None:
                    bar.draw(current.status_message or "", done, total)

                record = await base.ingest(record, data, progress=progress)
            if record.status is ContentStatus.COMPLETED:
                note = "" if fresh else " (already added)"
                bar.finish(f"{path}: {chunk_count(record.chunk_count)}{note}  [{record.content_id}]")
            else:
                bar.finish(f"{path}: failed: {record.status_message}")
                status = 1
    finally:
        await base.close()
        await app.store.close()
    return status


_APP_HELP = (
    f"module:attribute of the App (default: ${STRATUS_APP}, else {DEMO_APP} when run from the folder that "
    "holds examples/demo.py)"
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `stratus` command."""
    parser = argparse.ArgumentParser(prog="stratus", description="Serve and run stratus agents.")
    parser.add_argument("--version", action="version", version=f"stratus {_version()}")
    app = default_app()
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="serve an app locally (FastAPI + uvicorn)")
    dev.add_argument("--app", default=app, help=_APP_HELP)
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
    ask.add_argument("--app", default=app, help=_APP_HELP)
    ask.add_argument("--agent", help="agent id (the app's first agent by default)")
    ask.add_argument("--session", help="session id, to continue a conversation")
    ask.add_argument("--user", help="user id")
    ask.add_argument("--no-stream", action="store_true", help="print the answer when it is complete")

    run = commands.add_parser("invoke", help="run a Lambda function's handler locally with an event file")
    run.add_argument("function", help="a function of stratus.aws.functions.FUNCTIONS, e.g. sessions")
    run.add_argument("event", help="the event, e.g. events/sessions_list.json")
    run.add_argument("--app", default=app, help=_APP_HELP)

    apikey = commands.add_parser("apikey", help="make an API key and the entry for the API keys secret")
    apikey.add_argument("--user", required=True, help="the user id the key stands for")
    apikey.add_argument("--key", help="hash this key instead of making a new one")

    reindex = commands.add_parser(
        "reindex",
        help="maintenance: give a DynamoDB table written by an older stratus its listing-index entries and memory "
        "counts (one Scan; run with credentials that may Scan, while the table is quiet)",
    )
    reindex.add_argument(
        "db", nargs="?", help=f"the store URL, e.g. dynamodb://table?region=... (default: ${STRATUS_DB})"
    )

    knowledge = commands.add_parser("knowledge", help="add files to a knowledge base, or search it")
    knowledge_commands = knowledge.add_subparsers(dest="knowledge_command", required=True)
    for sub in (
        knowledge_commands.add_parser("add", help="read, chunk, embed and index files (folders: their files)"),
        knowledge_commands.add_parser("search", help="print the passages that best answer a query"),
    ):
        sub.add_argument("--app", default=app, help=_APP_HELP)
        sub.add_argument("--knowledge", help="the knowledge base (when the app has several)")
        sub.add_argument("--user", help="the user the content belongs to")
    knowledge_commands.choices["add"].add_argument("paths", nargs="+")
    knowledge_commands.choices["add"].add_argument("--metadata", help="a JSON object of labels to filter on")
    knowledge_commands.choices["search"].add_argument("query")
    knowledge_commands.choices["search"].add_argument("--limit", type=int, default=5)

    args = parser.parse_args(argv)
    try:
        if args.command == "knowledge":
            _configure_logging(os.environ.get(STRATUS_LOG_LEVEL, "warning"))
            return asyncio.run(_knowledge(args))
        if args.command == "invoke":
            _configure_logging(os.environ.get(STRATUS_LOG_LEVEL, "warning"))
            return _invoke(args)
        if args.command == "apikey":
            return _apikey(args)
        if args.command == "reindex":
            return asyncio.run(_reindex(args))
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
