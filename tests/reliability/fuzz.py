"""Schema fuzzing of the live server: schemathesis generates requests from the server's own OpenAPI document
(every operation: boundary values, then random valid and invalid data, then stateful sequences that feed one
answer's ids into the next request) and checks every answer: no 5xx, no status the document does not
declare, no body or content type that breaks the declared schema.

The server runs the reliability app (`tests.fakes.apps:reliability_app`) on SQLite in a temporary folder.
Before fuzzing, a few real objects are created (runs of an agent, a team and a workflow, a memory, a knowledge
document) and their ids given to schemathesis as dictionaries, so the generated requests reach past the 404s
into the code that reads, changes and deletes them. After fuzzing, the server must still be up and every
listing must still read: nothing a fuzzed request stored may break a later read.

    python -m tests.reliability.fuzz --max-time 600          # what `make fuzz` runs
    python -m tests.reliability.fuzz --max-examples 10       # a quick pass

Prints the figures (requests generated, failures by kind) and exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import ROOT, Server, start_server, stop_server

__all__ = ["CHECKS", "FuzzResult", "failure_excerpt", "fuzz", "main"]

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
"""Server errors, undocumented statuses, and answers that break the document's schemas or content types."""

USER = "fuzz-user"

LISTINGS = (
    "/sessions",
    "/sessions?type=team",
    "/sessions?type=workflow",
    f"/sessions?user_id={USER}",
    "/memories",
    "/memory_topics",
    "/user_memory_stats",
    "/knowledge/content",
    "/learnings",
    "/agents/assistant/runs?session_id=seed-agent",
    "/agents",
    "/teams",
    "/workflows",
    "/config",
)
"""Reads that must still answer 200 after everything the fuzzer stored."""


@dataclass
class FuzzResult:
    """What one fuzzing session found."""

    generated: int
    operations: int
    running_time: float
    failures: list[dict[str, Any]]
    errors: list[Any]
    broken_reads: list[str] = field(default_factory=list)
    server_alive: bool = True
    report: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failures and not self.errors and not self.broken_reads and self.server_alive

    def summary(self) -> str:
        lines = [
            f"schema fuzzing: {self.generated} requests over {self.operations} operations in {self.running_time:.0f} s",
            f"  failures: {sum(f.get('count', 1) for f in self.failures)}"
            + "".join(
                f"\n    {f['code']} {f['title']}: {f['count']} in {', '.join(f['operations'])}" for f in self.failures
            ),
            f"  errors: {len(self.errors)}" + "".join(f"\n    {e}" for e in self.errors[:10]),
            f"  listings after fuzzing: {len(LISTINGS) - len(self.broken_reads)}/{len(LISTINGS)} answer 200"
            + "".join(f"\n    broken: {path}" for path in self.broken_reads),
            f"  server alive afterwards: {'yes' if self.server_alive else 'NO'}",
        ]
        if self.report is not None:
            lines.append(f"  report: {self.report}")
        return "\n".join(lines)


def _seed(server: Server) -> dict[str, list[str]]:
    """Create real objects of every kind; their ids become the fuzzer's dictionaries."""
    url = server.url
    ids: dict[str, list[str]] = {"sessions": [], "runs": [], "memories": [], "contents": []}
    with httpx.Client(base_url=url, timeout=30) as client:
        for path, session in (
            ("/agents/assistant/runs", "seed-agent"),
            ("/teams/desk/runs", "seed-team"),
            ("/workflows/pipeline/runs", "seed-workflow"),
        ):
            data = {"message": "seed", "stream": "false", "session_id": session, "user_id": USER}
            answer = client.post(path, data=data)
            answer.raise_for_status()
            ids["sessions"].append(session)
            ids["runs"].append(answer.json()["run_id"])
        memory = client.post("/memories", json={"memory": "likes tea", "user_id": USER, "topics": ["food"]})
        memory.raise_for_status()
        ids["memories"].append(memory.json()["memory_id"])
        content = client.post("/knowledge/content", data={"text_content": "Tea is a drink.", "name": "tea"})
        content.raise_for_status()
        ids["contents"].append(content.json()["id"])
    return ids


def _config(ids: dict[str, list[str]], folder: Path) -> Path:
    """A schemathesis.toml binding path and query parameters to the seeded ids (most of the time: the rest
    stays random, for the 404 and 422 paths)."""

    def values(items: list[str]) -> str:
        return json.dumps(items)

    bindings = {
        "agent_id": "agents",
        "team_id": "teams",
        "workflow_id": "workflows",
        "session_id": "sessions",
        "run_id": "runs",
        "memory_id": "memories",
        "content_id": "contents",
    }
    lines = [
        "[dictionaries]",
        f"agents = {{ values = {values(['assistant', 'learner'])} }}",
        f"teams = {{ values = {values(['desk'])} }}",
        f"workflows = {{ values = {values(['pipeline'])} }}",
        f"users = {{ values = {values([USER])} }}",
        *(f"{name} = {{ values = {values(ids[name])} }}" for name in ("sessions", "runs", "memories", "contents")),
        "",
        "[parameters]",
        *(f'"path.{param}" = {{ dictionary = "{name}", probability = 0.85 }}' for param, name in bindings.items()),
        '"query.user_id" = { dictionary = "users", probability = 0.5 }',
        '"query.session_id" = { dictionary = "sessions", probability = 0.5 }',
    ]
    path = folder / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _read_back(server: Server) -> tuple[bool, list[str]]:
    try:
        alive = httpx.get(f"{server.url}/health", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False, list(LISTINGS)
    broken = []
    for path in LISTINGS:
        try:
            if httpx.get(f"{server.url}{path}", timeout=30).status_code != 200:
                broken.append(path)
        except httpx.HTTPError:
            broken.append(path)
    return alive, broken


def fuzz(
    folder: Path,
    *,
    max_time: int | None = None,
    max_examples: int | None = None,
    seed: int | None = None,
    workers: int = 1,
) -> FuzzResult:
    """Start the server, seed it, fuzz it, read everything back; the server is stopped afterwards."""
    server = start_server(folder, app="tests.fakes.apps:reliability_app", env={"STRATUS_LOG_LEVEL": "warning"})
    try:
        config = _config(_seed(server), folder)
        report = folder / "schemathesis-report.json"
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "--no-color",
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--workers",
            str(workers),
            "--generation-database",
            "none",
            "--request-timeout",
            "60",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--warnings",
            "off",
        ]
        if max_time is not None:
            command += ["--max-time", str(max_time)]
        if max_examples is not None:
            command += ["--max-examples", str(max_examples)]
        if seed is not None:
            command += ["--seed", str(seed)]
        started = time.monotonic()
        run = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
        (folder / "schemathesis.out").write_text(run.stdout + run.stderr)
        if not report.exists():
            raise RuntimeError(f"schemathesis wrote no report (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")
        data = json.loads(report.read_text())
        alive, broken = _read_back(server)
        return FuzzResult(
            generated=int(data["test_cases"]["generated"]),
            operations=int(data["operations"]["tested"]),
            running_time=float(data.get("running_time") or time.monotonic() - started),
            failures=list(data["failures"]),
            errors=list(data["errors"]),
            broken_reads=broken,
            server_alive=alive and server.process.poll() is None,
            report=folder / "schemathesis.out",
        )
    finally:
        stop_server(server)


def failure_excerpt(output: Path, *, width: int = 300, lines: int = 200) -> str:
    """The failures section of schemathesis' output, each line cut to `width` (a reproduction can carry a
    body of megabytes)."""
    text = output.read_text(errors="replace").splitlines()
    start = next((i for i, line in enumerate(text) if "FAILURES" in line), 0)
    return "\n".join(line[:width] + (" ..." if len(line) > width else "") for line in text[start : start + lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-time", type=int, help="seconds of fuzzing (phases repeat until it is spent)")
    parser.add_argument("--max-examples", type=int, help="requests per operation and phase")
    parser.add_argument("--seed", type=int)
    # One worker: with two, hypothesis' strategy descriptions call ast.parse from two threads at once, which
    # CPython 3.11 can fail with "AST constructor recursion depth mismatch" (a crash of the tool, not the API).
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="a folder to keep the server's data, log and the report in")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = fuzz(
            args.keep, max_time=args.max_time, max_examples=args.max_examples, seed=args.seed, workers=args.workers
        )
    else:
        with tempfile.TemporaryDirectory(prefix="stratus-fuzz-") as tmp:
            result = fuzz(
                Path(tmp), max_time=args.max_time, max_examples=args.max_examples, seed=args.seed, workers=args.workers
            )
            if not result.ok:
                print(failure_excerpt(Path(tmp) / "schemathesis.out"))
            result.report = None
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
