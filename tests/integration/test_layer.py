"""The Lambda layer `make layer` builds carries what every deployed function runs, and nothing but it is needed.

The layer is built from requirements/layer.txt for Lambda's CPython 3.12 on manylinux2014 x86_64 (its
installed dependencies are cached under ~/.cache/stratus/layer, keyed by the lock, so only the first build
downloads). Then every function of `stratus.aws.functions.FUNCTIONS` that has sample events in `events/` runs
its handler on them in a subprocess whose sys.path is only the layer, the repository root (`functions/` and
the app module, as in /var/task) and the standard library (`python -I -S layers/invoke.py`), with the
environment the stack gives that function (infra/lambdas.py), against moto's server: each answers success,
imports nothing from outside the layer, and a function with collection access builds `OpenSearchVectorDb`
and its opensearch-py client from its `opensearch://` URL. OpenSearch cannot run here, so the URL names an
HTTPS server in this process in front of the fake OpenSearch data plane (tests/fakes/opensearch.py): the
layer's opensearch-py, requests and SigV4 signing do the real work over the wire. The knowledge worker reads
a PDF (tests/fixtures/guide.pdf) through the layer's pypdf, and a search finds it afterwards. The streamed
functions are also served as their `run.sh` serves them under the Web Adapter: uvicorn from the layer.

Which interpreter runs them: a CPython 3.12, when this machine has one (`STRATUS_LAYER_PYTHON`, python3.12 on
the PATH, or pyenv's), runs the very build that ships. Without one, cp312 binaries cannot load, so a twin of
the same lock is built for the Python here and executed, and the 3.12 build is checked for content only: every
locked distribution at its locked version, cp312 binaries, every top-level module the run imported, its size.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import importlib.util
import ipaddress
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from stratus.aws.functions import FUNCTIONS, QUEUES, Access, FunctionSpec
from stratus.storage import ContentRecord, ContentStatus
from tests.aws import REGION
from tests.fakes.opensearch import FakeOpenSearch
from tests.integration.test_lambda_handlers import KEY, USER, Deployment, asyncio_run, sqs_event

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
PDF = ROOT / "tests" / "fixtures" / "guide.pdf"
LAMBDA_PYTHON = "3.12"
LIMIT_BYTES = 200 * 1024 * 1024

pytestmark = pytest.mark.timeout(900)  # the first build downloads every wheel; later ones reuse the cache


def build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layer_build", ROOT / "layers" / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while they are made
    spec.loader.exec_module(module)
    return module


# --- the lock -----------------------------------------------------------------------------------------------


def test_the_lock_is_derived_from_what_the_functions_run() -> None:
    build = build_module()
    derivation = build.derive()

    assert (ROOT / "requirements" / "layer.in").read_text() == build.render(derivation), "run layers/build.py --lock"
    locked = build.pins((ROOT / "requirements" / "layer.txt").read_text())
    assert {build.requirement_name(r.line) for r in derivation.requirements} <= set(locked)
    # the knowledge functions' vector store and the PDF reader, which the layer once lacked
    assert {"opensearch-py", "pypdf"} <= set(locked)
    users = derivation.functions
    assert set(users["opensearch"]) == {
        s.name for s in FUNCTIONS if s.access & {Access.COLLECTION_READ, Access.COLLECTION_WRITE}
    }
    assert users["knowledge"] == [s.name for s in FUNCTIONS if s.queue == "knowledge"]
    # boto3 is locked in, not left to the runtime's unpinned copy (Converse, and one urllib3 with opensearch-py)
    assert {"boto3", "botocore", "s3transfer"} <= set(locked)
    # the embedded store's numpy serves no deployed function
    assert "numpy" not in locked
    assert "numpy" in {build.requirement_name(line) for line, _ in derivation.left_out}


# --- the build ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    shipped: Path
    """The 3.12 build's python/ directory: what `make layer` puts in layers/build."""
    executed: Path
    """The python/ directory the handlers run on: the shipped one, or its twin for `python`."""
    python: str
    """The interpreter that runs the handlers."""
    output: str
    """What the 3.12 build printed."""
    bytecode: bool
    """Whether the 3.12 build holds its .pyc files (compiled by a CPython 3.12 on this machine)."""


def lambda_python() -> tuple[str, str]:
    """The interpreter that runs the handlers, and its version: `STRATUS_LAYER_PYTHON` if set, else a CPython
    3.12 (the runtime's) if this machine has one, else this one."""
    build = build_module()
    forced = os.environ.get("STRATUS_LAYER_PYTHON")
    if forced:
        version = build.version_of(forced)
        assert version, f"STRATUS_LAYER_PYTHON={forced} does not run"
        return forced, version
    found = build.interpreter(LAMBDA_PYTHON)
    if found is not None:
        return found, LAMBDA_PYTHON
    return sys.executable, f"{sys.version_info.major}.{sys.version_info.minor}"


def cache_dir() -> Path:
    given = os.environ.get("STRATUS_LAYER_CACHE")
    if given:
        return Path(given)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stratus" / "layer"


def build_layer(target: Path, python: str, *, bytecode: bool = True) -> str:
    command = [sys.executable, str(ROOT / "layers" / "build.py"), "--target", str(target), "--python", python]
    command += [] if bytecode else ["--no-bytecode"]
    result = subprocess.run(
        [*command, "--cache", str(cache_dir())], capture_output=True, text=True, check=False, timeout=840
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Layer:
    root = tmp_path_factory.mktemp("layer")
    python, version = lambda_python()
    bytecode = version == LAMBDA_PYTHON  # only a CPython 3.12 compiles the 3.12 build's bytecode
    output = build_layer(root / LAMBDA_PYTHON, LAMBDA_PYTHON, bytecode=bytecode)
    executed = root / LAMBDA_PYTHON
    if version != LAMBDA_PYTHON:
        build_layer(root / version, version)  # the same lock, for the interpreter that can load it
        executed = root / version
    return Layer(root / LAMBDA_PYTHON / "python", executed / "python", python, output, bytecode)


def test_the_layer_is_built_from_the_lock_for_lambdas_platform(layer: Layer) -> None:
    site = layer.shipped
    build = build_module()
    locked = build.pins((ROOT / "requirements" / "layer.txt").read_text())

    installed: dict[str, str] = {}
    for info in site.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        installed[build.canonical(name)] = version
    assert {name: version for name, version in installed.items() if name != "stratus"} == locked
    assert (site / "stratus" / "aws" / "handlers.py").is_file()
    assert (site / "stratus" / "py.typed").is_file()
    playground = site / "stratus" / "api" / "playground"  # package data: the playground and what it vendors
    assert (playground / "index.html").is_file()
    assert sorted(p.name for p in (playground / "vendor").glob("*.js")) == [
        "highlight.min.js",
        "marked.umd.js",
        "purify.min.js",
    ]
    for module in ("opensearchpy", "pypdf", "boto3", "botocore", "fastapi", "mangum", "aws_lambda_powertools"):
        assert (site / module / "__init__.py").is_file(), module
    binaries = list(site.rglob("*.so"))
    assert any("cpython-312-x86_64-linux-gnu" in b.name for b in binaries)  # Lambda's, not this machine's
    wrong = [b.name for b in binaries if ".cpython-" in b.name and "cpython-312-x86_64-linux-gnu" not in b.name]
    assert wrong == []
    compiled = list(site.rglob("*.pyc"))
    if layer.bytecode:  # Lambda mounts the layer read-only: what ships uncompiled compiles at every cold start
        assert {p.name.rsplit(".", 2)[-2] for p in compiled} == {"cpython-312"}, "only the runtime's bytecode"
        handlers = site / "stratus" / "aws" / "__pycache__" / "handlers.cpython-312.pyc"
        flags = int.from_bytes(handlers.read_bytes()[4:8], "little")
        assert flags == 0b01, "hash-based and unchecked (PEP 552): the zip keeps no exact mtimes"
        assert len(compiled) >= 0.9 * len([p for p in site.rglob("*.py") if "__pycache__" not in p.parts])
    else:
        assert compiled == [], "bytecode of the build machine's Python"
    assert not (site / "bin").exists()
    size = sum(f.stat().st_size for f in site.parent.rglob("*") if f.is_file())
    assert size < LIMIT_BYTES
    assert "MB unzipped" in layer.output


# --- OpenSearch over HTTPS ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenSearchEndpoint:
    fake: FakeOpenSearch
    host: str
    """`127.0.0.1:<port>`."""
    ca_file: Path
    """The certificate its TLS presents, for the functions to trust (SSL_CERT_FILE)."""


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "opensearch.pem", folder / "opensearch.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class _OpenSearchHandler(BaseHTTPRequestHandler):
    """OpenSearch's REST API over HTTP, answered by the fake data plane."""

    protocol_version = "HTTP/1.1"
    fake: FakeOpenSearch

    def _answer(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else None
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload = self.fake.handle(self.command, url.path, dict(parse_qsl(url.query)), raw, headers)
        body = b"" if payload is None or self.command == "HEAD" else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def opensearch(tmp_path: Path) -> Iterator[OpenSearchEndpoint]:
    """An OpenSearch Serverless collection's endpoint on loopback: TLS, then the fake data plane."""
    fake = FakeOpenSearch(serverless=True)
    cert_file, key_file = _self_signed(tmp_path)
    handler = type("Handler", (_OpenSearchHandler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield OpenSearchEndpoint(fake, f"127.0.0.1:{server.server_address[1]}", cert_file)
    finally:
        server.shutdown()
        server.server_close()


# --- the functions, each in an interpreter of its own -------------------------------------------------------

# Which queue URL each send access carries (infra/lambdas.py `_QUEUE_SENDS`).
_QUEUE_SENDS = {
    Access.RUN_QUEUE_SEND: "runs",
    Access.KNOWLEDGE_QUEUE_SEND: "knowledge",
    Access.LEARNING_QUEUE_SEND: "learning",
}


def _is_sqs(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return bool(records) and all(r.get("eventSource") == "aws:sqs" for r in records)


def _is_authorizer(event: dict[str, Any]) -> bool:
    return event.get("type") == "REQUEST" and "methodArn" in event


def _serves(spec: FunctionSpec, path: str) -> bool:
    return any(p == path or (p.endswith("/{proxy+}") and path.startswith(p[: -len("{proxy+}")])) for p in spec.paths)


def function_for(event: dict[str, Any], stem: str) -> FunctionSpec:
    """The function an event in events/ is for: an SQS event's worker is named at the end of its file name
    (`workflow_run_worker` -> `run_worker`), an authorizer's request goes to the authorizer, an API
    Gateway request to the function serving its path."""
    if _is_sqs(event):
        found = sorted((s for s in FUNCTIONS if s.queue and stem.endswith(s.name)), key=lambda s: -len(s.name))
    elif _is_authorizer(event):
        found = [s for s in FUNCTIONS if s.kind.value == "authorizer"]
    else:
        found = [s for s in FUNCTIONS if s.routers and _serves(s, str(event.get("path")))]
    assert found, f"events/{stem}.json: no function in FUNCTIONS serves it"
    return found[0]


def sample_events() -> dict[str, list[Path]]:
    by_function: dict[str, list[Path]] = {}
    for path in sorted(EVENTS.glob("*.json")):
        by_function.setdefault(function_for(json.loads(path.read_text()), path.stem).name, []).append(path)
    return by_function


def environment(
    spec: FunctionSpec, deployment: Deployment, opensearch: OpenSearchEndpoint, home: Path
) -> dict[str, str]:
    """What Lambda and the stack (infra/lambdas.py `_environment`) give `spec`'s function, pointed at moto and
    at the OpenSearch endpoint here; nothing of this test process' own environment."""
    queues = {
        "runs": deployment.queue_url,
        "knowledge": deployment.knowledge_queue_url,
        "learning": deployment.learning_queue_url,
    }
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "HOME": str(home),  # no ~/.aws of this machine's
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],  # moto's server
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{LAMBDA_PYTHON}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "LAMBDA_TASK_ROOT": str(ROOT),
        "SSL_CERT_FILE": str(opensearch.ca_file),
        "STRATUS_APP": "tests.fakes.apps:lambda_test_app",
        "STRATUS_DB": os.environ["STRATUS_DB"],
        "STRATUS_AUTH": "api_key",
        "POWERTOOLS_SERVICE_NAME": f"stratus-{spec.name}",
        "POWERTOOLS_METRICS_NAMESPACE": "StratusTest",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
    }
    if Access.API_KEYS_READ in spec.access:
        env["STRATUS_API_KEYS_SECRET"] = os.environ["STRATUS_API_KEYS_SECRET"]
    if Access.MODEL_SECRETS_READ in spec.access:
        env["STRATUS_SECRETS"] = os.environ["STRATUS_SECRETS"]
    for access, queue in _QUEUE_SENDS.items():
        if access in spec.access:
            env[QUEUES[queue].url_variable] = queues[queue]
    if spec.access & {Access.COLLECTION_READ, Access.COLLECTION_WRITE}:
        env["STRATUS_VECTOR_DB"] = f"opensearch://{opensearch.host}?service=aoss&region={REGION}"
    # STRATUS_EMBEDDER (Titan on Bedrock) is left out: the test app's knowledge and learning embed with hashes.
    return env


@dataclass(frozen=True)
class Invocations:
    responses: dict[str, Any]
    """By event file name: the handler's answer, or {"error": ..., "traceback": ...}."""
    report: dict[str, Any]
    """Where the modules came from, and the vector store built from STRATUS_VECTOR_DB."""
    logs: str
    """What the function printed (its logs)."""


def invoke(layer: Layer, spec: FunctionSpec, events: list[Path], env: dict[str, str], cwd: Path) -> Invocations:
    command = [
        layer.python,
        "-I",
        "-S",
        str(ROOT / "layers" / "invoke.py"),
        "--layer",
        str(layer.executed),
        "--code",
        str(ROOT),
        "--timeout",
        str(spec.timeout_seconds),
        "--results",
        str(cwd / f"{spec.name}.results"),
        spec.name,
        *map(str, events),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False)
    assert result.returncode == 0, f"{spec.name}:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    lines = [json.loads(line) for line in (cwd / f"{spec.name}.results").read_text().splitlines()]
    responses = {Path(line["event"]).name: line.get("response", line) for line in lines[:-1]}
    return Invocations(responses, lines[-1], result.stdout + result.stderr)


def failure(spec: FunctionSpec, event: dict[str, Any], response: Any) -> str | None:
    """Why `response` is not the success its sample event should get, or None."""
    if not isinstance(response, dict) or "error" in response:
        return f"raised {response}"
    if _is_sqs(event):
        return None if response == {"batchItemFailures": []} else f"answered {response}"
    if _is_authorizer(event):
        statement = response.get("policyDocument", {}).get("Statement", [{}])[0]
        known = event.get("headers", {}).get("Authorization") == f"Bearer {KEY}"
        expected = "Allow" if known else "Deny"  # a known key gets in; the gateway answers 401 to the others
        return None if statement.get("Effect") == expected else f"answered {response}, not {expected}"
    status = response.get("statusCode")
    return None if isinstance(status, int) and 200 <= status < 300 else f"{status}: {str(response.get('body'))[:500]}"


def seed_the_knowledge_workers_sample(deployment: Deployment) -> str:
    """The upload the knowledge worker's sample job names, as the knowledge function leaves it: a content
    record and its file in the bucket. The file is the PDF fixture. Returns its content id."""
    job = json.loads(json.loads((EVENTS / "knowledge_worker.json").read_text())["Records"][0]["body"])
    data = PDF.read_bytes()
    record = ContentRecord(
        content_id=job["content_id"],
        knowledge_id=job["knowledge_id"],
        name="guide.pdf",
        content_type="application/pdf",
        size=len(data),
        content_hash=hashlib.sha256(data).hexdigest(),
        status=ContentStatus.PROCESSING,
        user_id=USER,
    )
    asyncio_run(deployment.store.put_content(record))
    deployment.s3.put_object(Bucket=deployment.bucket, Key=job["blob_key"], Body=data)
    return job["content_id"]


def search_event(folder: Path, query: str) -> Path:
    event = json.loads((EVENTS / "knowledge_search.json").read_text())
    event["body"] = json.dumps({"query": query, "max_results": 3})
    path = folder / f"search-{hashlib.sha256(query.encode()).hexdigest()[:8]}.json"
    path.write_text(json.dumps(event))
    return path


def test_every_function_runs_its_sample_events_with_only_the_layer(
    layer: Layer, deployment: Deployment, opensearch: OpenSearchEndpoint, tmp_path: Path
) -> None:
    events = sample_events()
    specs = [spec for spec in FUNCTIONS if spec.name in events]
    content_id = seed_the_knowledge_workers_sample(deployment)
    cwd, home = tmp_path / "task", tmp_path / "home"  # not the checkout: on Lambda /var/task is read-only
    cwd.mkdir()
    home.mkdir()

    failures: list[str] = []
    imported: set[str] = set()
    for spec in specs:
        batch = list(events[spec.name])
        if spec.queue == "knowledge":  # and the job the knowledge function queued for its sample upload
            queued = deployment.receive(deployment.knowledge_queue_url)
            assert queued, "the knowledge function's sample upload queued no ingestion job"
            batch.append(tmp_path / "queued_ingestion.json")
            batch[-1].write_text(json.dumps(sqs_event(queued)))
        ran = invoke(layer, spec, batch, environment(spec, deployment, opensearch, home), cwd)
        for path in batch:
            why = failure(spec, json.loads(path.read_text()), ran.responses.get(path.name))
            if why:
                failures.append(f"{spec.name} {path.name}: {why}")
        modules = ran.report["modules"]
        assert modules["outside"] == [], f"{spec.name} imported from outside the layer: {modules['outside']}"
        assert "stratus" in modules["layer"]
        imported |= set(modules["layer"])
        if spec.access & {Access.COLLECTION_READ, Access.COLLECTION_WRITE}:
            built = ran.report["vector_db"]
            assert built == {"store": "OpenSearchVectorDb", "client": "opensearchpy.client.OpenSearch"}, spec.name
            assert "opensearchpy" in modules["layer"]
    assert failures == []
    assert {s.name for s in specs} == {s.name for s in FUNCTIONS if s.name in events}

    # the PDF was read with the layer's pypdf, and its pages indexed in OpenSearch through the layer's client
    stored = asyncio_run(deployment.store.get_content(content_id, knowledge_id="docs"))
    assert (stored.status, stored.name) == (ContentStatus.COMPLETED, "guide.pdf"), stored.status_message
    assert stored.chunk_count >= 1
    assert "pypdf" in imported
    knowledge = next(s for s in specs if s.name == "knowledge")
    found = invoke(
        layer,
        knowledge,
        [search_event(tmp_path, "Where are sessions stored? STRATUS_DB"), EVENTS / "knowledge_search.json"],
        environment(knowledge, deployment, opensearch, home),
        cwd,
    )
    pdf_hits, sample_hits = (json.loads(r["body"])["data"] for r in found.responses.values())
    assert "Set STRATUS_DB to choose where sessions are stored" in pdf_hits[0]["content"]
    assert pdf_hits[0]["meta_data"]["page"] == 2
    assert "45 euros" in sample_hits[0]["content"]  # the sample upload, ingested from its queued job
    # every request reached OpenSearch signed with SigV4 for Serverless, from the functions' credentials
    signatures = [r.headers.get("authorization", "") for r in opensearch.fake.requests]
    assert signatures
    assert all(
        re.match(rf"AWS4-HMAC-SHA256 Credential=testing/\d{{8}}/{REGION}/aoss/aws4_request,", s) for s in signatures
    )

    # what the handlers imported from the executed layer is all in the 3.12 build that ships
    shipped = layer.shipped
    missing = [m for m in imported if not (shipped / m).is_dir() and not list(shipped.glob(f"{m}.*"))]
    assert missing == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(url: str, event: dict[str, Any], timeout: float = 30) -> tuple[int, str]:
    """An API Gateway proxy event sent as the HTTP request it came from."""
    body = event.get("body")
    data = (base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()) if body else None
    query = "&".join(f"{k}={v}" for k, v in (event.get("queryStringParameters") or {}).items())
    headers = {k: v for k, v in event["headers"].items() if k.lower() not in ("host", "content-length")}
    request = urllib.request.Request(
        f"{url}{event['path']}{'?' + query if query else ''}", data=data, headers=headers, method=event["httpMethod"]
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read().decode()


def _ready(port: int) -> bool:
    """The Web Adapter's readiness check: any answer under 500 to GET `AWS_LWA_READINESS_CHECK_PATH`."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status < 500
    except OSError:
        return False
    finally:
        connection.close()


def test_the_streamed_functions_serve_their_stream_events_with_uvicorn_from_the_layer(
    layer: Layer, deployment: Deployment, opensearch: OpenSearchEndpoint, tmp_path: Path
) -> None:
    events = sample_events()
    streamed = [s for s in FUNCTIONS if s.kind.value == "stream" and s.name in events]
    assert streamed
    for spec in streamed:
        port = _free_port()
        env = environment(spec, deployment, opensearch, tmp_path)
        env.update({"AWS_LWA_PORT": str(port), "AWS_LWA_READINESS_CHECK_PATH": "/health"})
        command = [layer.python, "-I", "-S", str(ROOT / "layers" / "invoke.py"), "--layer", str(layer.executed)]
        command += ["--code", str(ROOT), "--serve", str(port), spec.name]
        log = tmp_path / f"{spec.name}.log"
        with log.open("wb") as output:
            server = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while not _ready(port):  # what the Web Adapter waits for before it passes on the first request
                assert server.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"{spec.name}: uvicorn never answered"
                time.sleep(0.2)
            ran = 0
            for path in events[spec.name]:
                event = json.loads(path.read_text())
                if event.get("isBase64Encoded") or json.loads(event.get("body") or "{}").get("stream") is not True:
                    continue  # only the streamed runs: what the Web Adapter is there for
                status, text = _request(f"http://127.0.0.1:{port}", event)
                kinds = [line[len("event: ") :] for line in text.splitlines() if line.startswith("event: ")]
                assert status == 200, f"{spec.name} {path.name}: {status}"
                assert kinds, f"{spec.name} {path.name}: no events in {text[:500]}"
                assert kinds[-1].endswith("Completed"), f"{spec.name} {path.name}: {kinds}"
                ran += 1
            assert ran, f"{spec.name}: no sample event asks for a stream"
        finally:
            server.terminate()
            server.wait(timeout=30)
