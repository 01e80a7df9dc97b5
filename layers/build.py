"""Build the Lambda layer every function shares, without Docker, from its lock.

    python layers/build.py [--target layers/build] [--python 3.12] [--cache DIR] [--no-bytecode]
    python layers/build.py --lock [--upgrade]

What the layer carries is derived from what the deployed functions run (`NEEDS`, read against
`stratus.aws.functions.FUNCTIONS`): stratus' own dependencies and the `aws` extra for every function, the
`opensearch` extra for every function the stack gives the vector collection (infra/lambdas.py points them at
`STRATUS_VECTOR_DB=opensearch://...`), and the packages the document readers declare (`Reader.packages`:
pypdf) for the knowledge queue's consumer. `--lock` writes that derivation to requirements/layer.in and
compiles requirements/layer.txt from it with uv, for Lambda's platform (CPython 3.12, manylinux2014 x86_64),
every file hashed and constrained to requirements/dev.txt, so the layer runs the versions the tests run.

A build installs exactly that lock (`--require-hashes --no-deps --only-binary=:all:` for Lambda's platform)
into `<target>/python`, then stratus itself (pure Python) beside it. It refuses a lock that no longer matches
the derivation. The unzipped size is printed, and the build fails past 200 MB (Lambda's limit for a function
and its layers is 250 MB unzipped).

boto3, botocore and s3transfer stay IN the layer although the runtime has a copy: the runtime's version moves
under a deployment without notice (it differs by region and date), stratus' Bedrock models call Converse and
ConverseStream (newer than some runtime copies), and opensearch-py brings its own urllib3 and requests, which
must be resolved together with botocore's; Lambda puts /opt/python before its own /var/runtime, so the locked
copy is the one that runs, the same one the tests run.

Every module is compiled to bytecode for the runtime's Python (`compileall --invalidation-mode unchecked-hash`),
with an interpreter of that version (`STRATUS_LAYER_PYTHON`, `python3.12` on the PATH, or pyenv's): Lambda
mounts the layer read-only at /opt, so a layer without .pyc files compiles every module it imports from
source at every cold start, and can write none of them back. Unchecked hashes, because the zip keeps no exact
source mtimes for timestamped .pyc files to match, and nothing ever edits a layer in place. `--no-bytecode`
leaves them out (a machine without that Python).

`--cache DIR` keeps the installed dependencies under DIR, keyed by the lock, the platform and this file, so a
rebuild from an unchanged lock only reinstalls stratus.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "core"))  # this checkout's stratus: the table of functions and the readers

from stratus.aws.functions import FUNCTIONS, Access, FunctionSpec  # noqa: E402

LOCK_INPUT = ROOT / "requirements" / "layer.in"
LOCK = ROOT / "requirements" / "layer.txt"
CONSTRAINTS = ROOT / "requirements" / "dev.txt"
LOCK_COMMAND = "python layers/build.py --lock"

PYTHON = "3.12"
"""Lambda's runtime (infra/lambdas.py RUNTIME)."""
PLATFORM = "manylinux2014_x86_64"
"""Lambda's platform as pip names it (infra/lambdas.py ARCHITECTURE)."""
UV_PLATFORM = "x86_64-manylinux2014"
"""The same platform as uv names it."""
LIMIT_BYTES = 200 * 1024 * 1024


# --- what the functions run ---------------------------------------------------------------------------------


def _every(spec: FunctionSpec) -> bool:
    return True


def _uses_collection(spec: FunctionSpec) -> bool:
    return bool(spec.access & {Access.COLLECTION_READ, Access.COLLECTION_WRITE})


def _ingests_documents(spec: FunctionSpec) -> bool:
    return spec.queue == "knowledge"


def _serving(group: str) -> Callable[[FunctionSpec], bool]:
    """Whether a function serves the route group or protocol `group`."""
    return lambda spec: group in spec.routers


def _reader_packages() -> frozenset[str]:
    from stratus.knowledge.readers import READERS

    return frozenset(package for reader in READERS.values() for package in reader.packages)


@dataclass(frozen=True)
class Need:
    """A part of stratus that some deployed functions run, and the pyproject requirements it imports.

    Attributes:
        extra: The pyproject extra the requirements come from; None for the core dependencies.
        reason: Why those functions run it.
        used_by: Which functions run it.
        only: The extra's distributions to take (all of them when None).
        rest: Why the extra's other requirements are left out (when `only` is given).
    """

    extra: str | None
    reason: str
    used_by: Callable[[FunctionSpec], bool]
    only: Callable[[], frozenset[str]] | None = None
    rest: str = ""


NEEDS: tuple[Need, ...] = (
    Need(
        None,
        "pydantic, FastAPI (every route), uvicorn (streamed functions under the Web Adapter), python-multipart "
        "(uploads), openai (OpenAI-compatible models)",
        _every,
    ),
    Need(
        "aws",
        "Lambda glue: Mangum (buffered routes), Powertools (logging, tracing, metrics, batch processing, "
        "secrets), boto3 (DynamoDB, S3, SQS, Secrets Manager, Bedrock)",
        _every,
    ),
    Need(
        "otel",
        "exporting each run's spans over OTLP to the ADOT collector's extension, when OTEL_EXPORTER_OTLP_ENDPOINT "
        "is set (stratus.tracing; nothing of it loads otherwise)",
        _every,
    ),
    Need(
        "opensearch",
        "OpenSearchVectorDb: infra/lambdas.py sets STRATUS_VECTOR_DB=opensearch://... on every function with "
        "collection access",
        _uses_collection,
    ),
    Need(
        "knowledge",
        "the document readers' packages (Reader.packages) for ingesting uploads",
        _ingests_documents,
        only=_reader_packages,
        rest="the embedded vector store's and the local embedder's; the stack configures neither (OpenSearch, "
        "Titan on Bedrock)",
    ),
    Need("a2a", "a2a-sdk (its types, request handler, routes and SSE) for the function serving /a2a", _serving("a2a")),
    Need("agui", "ag-ui-protocol (its event types and SSE encoder) for the function serving /agui", _serving("agui")),
    Need("mcp", "the mcp SDK (MCPServer, streamable HTTP) for the function serving /mcp", _serving("mcp")),
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
    if match is None:
        raise ValueError(f"not a requirement: {line!r}")
    return canonical(match.group(1))


@dataclass
class Requirement:
    line: str
    needs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Derivation:
    """What the layer carries and why.

    Attributes:
        requirements: The requirement lines, each with the needs (extras) that ask for it.
        functions: For each need, the functions that run it.
        left_out: Requirements of a used extra that no function needs, with why.
    """

    requirements: list[Requirement]
    functions: dict[str, list[str]]
    left_out: list[tuple[str, str]]


def _label(need: Need) -> str:
    return need.extra or "core"


def derive(specs: Iterable[FunctionSpec] = FUNCTIONS) -> Derivation:
    """The requirements of the functions in `specs`, from pyproject.toml's dependencies and extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(specs)
    by_line: dict[str, Requirement] = {}
    functions: dict[str, list[str]] = {}
    left_out: list[tuple[str, str]] = []
    for need in NEEDS:
        users = [spec.name for spec in specs if need.used_by(spec)]
        if not users:
            continue
        functions[_label(need)] = users
        lines: list[str] = (
            project["dependencies"] if need.extra is None else project["optional-dependencies"][need.extra]
        )
        if need.only is not None:
            wanted = {canonical(p) for p in need.only()}
            unknown = wanted - {requirement_name(line) for line in lines}
            if unknown:
                raise SystemExit(f"layer: the `{need.extra}` extra of pyproject.toml names no {sorted(unknown)}")
            left_out += [
                (line, f"{_label(need)}: {need.rest}") for line in lines if requirement_name(line) not in wanted
            ]
            lines = [line for line in lines if requirement_name(line) in wanted]
        for line in lines:
            by_line.setdefault(line, Requirement(line)).needs.append(_label(need))
    requirements = sorted(by_line.values(), key=lambda r: (requirement_name(r.line), r.line))
    return Derivation(requirements, functions, left_out)


def render(derivation: Derivation) -> str:
    """requirements/layer.in: the derivation, with its reasons as comments."""
    reasons = {_label(need): need.reason for need in NEEDS}
    out = [
        f"# Generated by `{LOCK_COMMAND}` from stratus.aws.functions.FUNCTIONS (layers/build.py NEEDS says",
        "# why): do not edit. What the deployed functions run, so what the Lambda layer carries;",
        "# requirements/layer.txt locks it for CPython 3.12 on manylinux2014 x86_64.",
        "#",
    ]
    for label in derivation.functions:  # not which functions: a new function needs no new lock unless it needs more
        out.append(f"# {label}: {reasons[label]}.")
    for line, why in derivation.left_out:
        out.append(f"# left out: {line} ({why})")
    width = max(len(r.line) for r in derivation.requirements)
    out += [f"{r.line:<{width}}  # {', '.join(r.needs)}" for r in derivation.requirements]
    return "\n".join(out) + "\n"


def pins(lock_text: str) -> dict[str, str]:
    """The `name==version` pins of a lock, by canonical name."""
    found: dict[str, str] = {}
    for line in lock_text.splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            found[canonical(match.group(1))] = match.group(3)
    return found


def check_lock() -> None:
    """Refuse to build from a lock that no longer matches what the functions use."""
    expected = render(derive())
    if not LOCK_INPUT.is_file() or LOCK_INPUT.read_text() != expected or not LOCK.is_file():
        raise SystemExit(
            f"layer: {LOCK_INPUT.relative_to(ROOT)} is not what the functions use now: run `{LOCK_COMMAND}`"
        )
    locked = pins(LOCK.read_text())
    missing = [r.line for r in derive().requirements if requirement_name(r.line) not in locked]
    if missing:
        raise SystemExit(f"layer: {LOCK.relative_to(ROOT)} pins no {missing}: run `{LOCK_COMMAND}`")


def _uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None:
        raise SystemExit("layer: uv is needed to lock (it is in requirements/dev.txt: `make install`)")
    return found


def lock(*, upgrade: bool = False) -> int:
    """Write requirements/layer.in from the derivation and compile requirements/layer.txt from it."""
    derivation = derive()
    LOCK_INPUT.write_text(render(derivation))
    command = [
        _uv(),
        "pip",
        "compile",
        str(LOCK_INPUT.relative_to(ROOT)),
        "-o",
        str(LOCK.relative_to(ROOT)),
        "-c",
        str(CONSTRAINTS.relative_to(ROOT)),
        "--python-platform",
        UV_PLATFORM,
        "--python-version",
        PYTHON,
        "--generate-hashes",
        "--only-binary",
        ":all:",
        "--no-python-downloads",  # only the target's version matters: nothing is built
        "--custom-compile-command",
        LOCK_COMMAND,
        "--quiet",
        *(["--upgrade"] if upgrade else []),
    ]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)
    print(f"layer: {len(pins(LOCK.read_text()))} distributions locked in {LOCK.relative_to(ROOT)}")
    describe(derivation)
    return 0


def describe(derivation: Derivation) -> None:
    """Print which functions need what."""
    for label, users in derivation.functions.items():
        print(f"layer: {label} for {', '.join(users)}")
    for line, why in derivation.left_out:
        print(f"layer: left out {line} ({why})")


# --- the build ----------------------------------------------------------------------------------------------


def size_of(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def install_dependencies(site: Path, python: str) -> None:
    """The lock's distributions, exactly, as wheels for Lambda's platform and `python`."""
    pip(
        "--target",
        str(site),
        "--require-hashes",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        python,
        "-r",
        str(LOCK),
    )
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts whose #! names this machine's Python


def cache_key(python: str) -> str:
    digest = hashlib.sha256()
    for part in (LOCK.read_bytes(), PLATFORM.encode(), python.encode(), Path(__file__).read_bytes()):
        digest.update(hashlib.sha256(part).digest())
    return f"{python}-{digest.hexdigest()[:16]}"


def dependencies(site: Path, python: str, cache: Path | None) -> None:
    """Install the lock into `site`, from `cache` when it holds this lock's install (filling it when not)."""
    if cache is None:
        install_dependencies(site, python)
        return
    key = cache_key(python)
    cached = cache / key
    if not cached.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f".{key}.{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        install_dependencies(partial, python)
        partial.rename(cached)  # whole or not at all: an interrupted install never looks cached
        for old in cache.glob(f"{python}-*"):
            if old.name != key:
                shutil.rmtree(old, ignore_errors=True)  # one install per Python version: the current lock's
    else:
        print(f"layer: dependencies from {cached} (the same lock)", flush=True)
    shutil.copytree(cached, site, symlinks=True, dirs_exist_ok=True)


def version_of(python: str) -> str | None:
    """The `major.minor` of the interpreter `python`, or None if it does not run."""
    try:
        result = subprocess.run(
            [python, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def interpreter(version: str) -> str | None:
    """A CPython `version` on this machine: `STRATUS_LAYER_PYTHON` if it is one, this one, `python<version>` on
    the PATH, pyenv's or the system's; None when there is none."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [
        os.environ.get("STRATUS_LAYER_PYTHON"),
        sys.executable,
        shutil.which(f"python{version}"),  # a pyenv shim answers only for its selected versions
        *sorted(str(p) for p in pyenv.glob(f"versions/{version}*/bin/python{version}")),
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ]
    return next((c for c in candidates if c and version_of(c) == version), None)


def compile_bytecode(site: Path, python: str) -> None:
    """Compile every module under `site` for CPython `python`, as unchecked-hash .pyc files."""
    compiler = interpreter(python)
    if compiler is None:
        raise SystemExit(
            f"layer: no CPython {python} here to compile the bytecode with: install one, point "
            "STRATUS_LAYER_PYTHON at it, or build with --no-bytecode (every cold start then compiles from source)"
        )
    command = [compiler, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(site)]
    print("+", " ".join(command), flush=True)
    # A few packages ship files that are not Python of this version (templates, other versions' code):
    # compileall reports them and goes on; those are never imported.
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL)


def build(target: Path, python: str, cache: Path | None = None, *, bytecode: bool = True) -> int:
    check_lock()
    describe(derive())
    site = target / "python"
    if target.exists():
        shutil.rmtree(target)
    site.mkdir(parents=True)
    dependencies(site, python, cache)
    pip("--target", str(site), "--no-deps", "--no-build-isolation", str(ROOT))  # stratus: pure Python
    shutil.rmtree(site / "bin", ignore_errors=True)  # stratus' console script: nothing on Lambda runs it
    for stale in site.rglob("__pycache__"):
        shutil.rmtree(stale, ignore_errors=True)  # nothing of the build machine's own Python
    if bytecode:
        compile_bytecode(site, python)
    total = size_of(target)
    largest = sorted(((size_of(p), p.name) for p in site.iterdir() if p.is_dir()), reverse=True)[:6]
    print(
        f"layer: {target} is {total / 1024 / 1024:.1f} MB unzipped, for CPython {python} on {PLATFORM} "
        f"({len(pins(LOCK.read_text()))} locked distributions and stratus); largest: "
        + ", ".join(f"{name} {size / 1024 / 1024:.1f} MB" for size, name in largest)
    )
    if total > LIMIT_BYTES:
        print(f"layer: larger than {LIMIT_BYTES // 1024 // 1024} MB: refusing it", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the Lambda layer every function shares, without Docker.")
    parser.add_argument("--target", type=Path, default=ROOT / "layers" / "build")
    parser.add_argument("--python", default=PYTHON, help="the runtime's Python version (3.12; others for tests)")
    parser.add_argument("--cache", type=Path, help="keep the installed dependencies here, keyed by the lock")
    parser.add_argument("--no-bytecode", action="store_true", help="ship no .pyc files (no CPython of --python here)")
    parser.add_argument("--lock", action="store_true", help="re-derive requirements/layer.in and re-lock layer.txt")
    parser.add_argument("--upgrade", action="store_true", help="with --lock: take new releases dev.txt allows")
    args = parser.parse_args()
    try:
        if args.lock:
            return lock(upgrade=args.upgrade)
        return build(args.target, args.python, args.cache, bytecode=not args.no_bytecode)
    except subprocess.CalledProcessError as exc:
        print(f"layer: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
