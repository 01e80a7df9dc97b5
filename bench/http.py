"""The HTTP path side by side: stratus, agno 3.1.10's AgentOS and a bare-FastAPI floor, each served by uvicorn
on loopback (`bench/_http_apps.py`), driven with the same load: form posts to `POST /agents/{id}/runs` with
`message`, `stream` and `session_id` (spread over 50 sessions, each agent reading its last 3 runs from SQLite),
buffered and streamed (SSE), on 1 and 8 keep-alive connections.

    python bench/http.py                 # about 4 minutes; exits 1 when a target is missed
    python bench/http.py --seconds 5     # shorter cells
    python bench/http.py --profile       # where stratus' time goes: cProfile of its server under load
    python bench/http.py --before /tmp/before    # also stratus from another checkout (e.g. a git worktree)

Two model setups: an in-process model that answers at once (stratus and the floor: the framework's own cost),
and a local OpenAI-format endpoint (`bench/_openai_stub.js`, Node, canned answers) that stratus' OpenAIChat and
agno's OpenAIChat both call through `base_url`; it is measured alone first, to show it is not the bottleneck.

The load generator is autocannon (Node), pinned by bench/package.json and package-lock.json and installed by
this script with `npm ci` when bench/node_modules lacks it; agno runs in its own virtualenv, bench/.agno-venv
(made by bench/cold_start.py's `agno_python`, plus greenlet, which agno's SqliteDb imports). Time to first
streamed byte is measured by a small client here, one connection, one request at a time: from sending the
request to the first byte of the first event.

Targets (issue 17): stratus >= 0.6 of the floor's req/s buffered on 8 connections (instant model); >= 3x agno's
req/s on the same endpoint (buffered, 8 connections); time to first streamed byte p50 <= 5 ms (instant model).
The machine may be shared: read the ratios, measured in the same run.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# This file is named http.py: without its folder on the path, `import http` still finds the standard library's.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402

ROOT = BENCH.parent

SESSIONS = 50
TTFB_REQUESTS = 300
TARGET_FLOOR = 0.6
TARGET_AGNO = 3.0
TARGET_TTFB_MS = 5.0
CELLS = [("buffered", 1), ("buffered", 8), ("streamed", 1), ("streamed", 8)]


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int
    requests: int
    cpu_us: float = 0.0
    """The server's CPU time per request (its process, all threads): what contention on a shared machine
    changes least."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux' /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_tools() -> None:
    """autocannon, as package-lock.json pins it."""
    if not (BENCH / "node_modules" / "autocannon").exists():
        print("installing autocannon (npm ci) ...", flush=True)
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True)


def agno() -> str:
    """agno's virtualenv, made as bench/cold_start.py makes it, with greenlet (agno's SqliteDb imports it)."""
    spec = importlib.util.spec_from_file_location("cold_start", BENCH / "cold_start.py")
    assert spec is not None
    assert spec.loader is not None
    cold_start = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cold_start)
    python: str = cold_start.agno_python()
    if subprocess.run([python, "-c", "import greenlet"], capture_output=True).returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "greenlet"], check=True)
    return python


def wait_ready(port: int, process: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/1.1 "):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not come up")


@contextmanager
def serve(command: list[str], port: int, path: str = "/health", env: dict[str, str] | None = None) -> Iterator[int]:
    """Run a server until the block ends, yielding its pid; its output goes to a log, shown if it fails to start
    (the load's end cuts requests short, and servers log those)."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=log)
        try:
            try:
                wait_ready(port, process, path)
            except RuntimeError:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace"))
                raise
            yield process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def load(url: str, connections: int, seconds: float, mode: str, pid: int | None = None) -> Load:
    cpu = cpu_seconds(pid) if pid else 0.0
    done = subprocess.run(
        ["node", str(BENCH / "_load.js"), url, str(connections), str(seconds), mode, str(SESSIONS)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(str(done.stdout).strip().splitlines()[-1])
    failed = figures["non2xx"] + figures["errors"] + figures["timeouts"]
    served = int(figures["ok"]) + int(figures["non2xx"])
    cpu_us = (cpu_seconds(pid) - cpu) / max(served, 1) * 1e6 if pid else 0.0
    return Load(figures["rps"], figures["p50_ms"], figures["p99_ms"], failed, served, cpu_us)


def _form(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "----stratusttfb"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    return ("".join(parts) + f"--{boundary}--\r\n").encode(), f"multipart/form-data; boundary={boundary}"


def ttfb(port: int, requests: int = TTFB_REQUESTS) -> tuple[float, float]:
    """p50 and p99 ms from sending a streamed run to its first event's first byte, one keep-alive connection."""
    samples: list[float] = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for n in range(requests):
            body, kind = _form(
                {"message": "What is the weather in Oslo?", "stream": "true", "session_id": f"t-{n % 50}"}
            )
            head = f"POST /agents/assistant/runs HTTP/1.1\r\nHost: bench\r\nContent-Type: {kind}\r\n"
            request = head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
            buffer = b""
            sent = time.perf_counter()
            sock.sendall(request)
            first: float | None = None
            while not buffer.endswith(b"\r\n0\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("server closed the connection")
                buffer += chunk
                if first is None and b"event:" in buffer:
                    first = time.perf_counter() - sent
            assert buffer.startswith(b"HTTP/1.1 200"), buffer[:200]
            assert first is not None
            samples.append(first * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


Row = dict[str, Load | tuple[float, float]]


def measure(port: int, pid: int, seconds: float, *, with_ttfb: bool) -> Row:
    url = f"http://127.0.0.1:{port}/agents/assistant/runs"
    load(url, 8, 2, "false")  # warm up: imports done, caches and the SQLite file filled
    row: Row = {}
    for mode, connections in CELLS:
        stream = "true" if mode == "streamed" else "false"
        row[f"{mode} c{connections}"] = load(url, connections, seconds, stream, pid)
    if with_ttfb:
        row["ttfb"] = ttfb(port)
    return row


def app_command(python: str, side: str, model: str, port: int, folder: str, model_url: str = "") -> list[str]:
    """The command serving `side`, its SQLite file new, in a folder of its own inside `folder`."""
    own = tempfile.mkdtemp(prefix=f"{side}-{model}-", dir=folder)
    return [python, str(BENCH / "_http_apps.py"), side, model, str(port), own, *([model_url] if model_url else [])]


def print_rows(title: str, rows: dict[str, Row]) -> None:
    print(f"\n{title}")
    print(f"  {'server':<10} {'cell':<13} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6} {'CPU us/req':>10}")
    for name, row in rows.items():
        for cell, figures in row.items():
            if isinstance(figures, Load):
                print(
                    f"  {name:<10} {cell:<13} {figures.rps:8.0f} {figures.p50_ms:7.1f} {figures.p99_ms:7.1f} "
                    f"{figures.failed:6d} {figures.cpu_us:10.0f}"
                )
            else:
                print(f"  {name:<10} {'first byte':<13} {'':>8} {figures[0]:7.2f} {figures[1]:7.2f}")


def ratios(rows: dict[str, Row], ours: str, theirs: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for cell in rows[ours]:
        a, b = rows[ours][cell], rows[theirs][cell]
        if isinstance(a, Load) and isinstance(b, Load):
            out[cell] = a.rps / b.rps if b.rps else 0.0
    print(f"  {ours}/{theirs} req/s: " + ", ".join(f"{c} {r:.2f}" for c, r in out.items()))
    return out


def profile(seconds: float) -> int:
    """Serve stratus (instant model) under cProfile, load it buffered and streamed on 8 connections, and print
    where its time went, by own time and by cumulative time."""
    import pstats

    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        stats = os.path.join(folder, "stratus.prof")
        command = app_command(sys.executable, "stratus", "instant", port, folder)
        with serve(command, port, env={"BENCH_PROFILE": stats}):
            url = f"http://127.0.0.1:{port}/agents/assistant/runs"
            for mode in ("false", "true"):
                figures = load(url, 8, seconds, mode)
                print(f"stream={mode}: {figures.rps:.0f} req/s under the profiler")
        report = pstats.Stats(stats)
        report.sort_stats("tottime").print_stats(30)
        report.sort_stats("cumulative").print_stats(60)
        report.print_callers("to_thread|run_in_threadpool|run_in_executor")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="stratus, agno and a bare-FastAPI floor, side by side over HTTP")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load cell")
    parser.add_argument("--profile", action="store_true", help="profile stratus' server under load instead")
    parser.add_argument("--before", type=Path, help="a checkout whose stratus is measured too, as 'before'")
    args = parser.parse_args()
    node_tools()
    if args.profile:
        return profile(args.seconds)
    agno_bin = agno()
    print(
        f"HTTP path, {time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
        f"{platform.machine()} x{os.cpu_count()}; {args.seconds:.0f} s per cell, {SESSIONS} sessions, uvicorn h11"
    )
    folder = tempfile.mkdtemp(prefix="stratus-http-")
    try:
        stub_port = free_port()
        with serve(["node", str(BENCH / "_openai_stub.js"), str(stub_port)], stub_port, "/"):
            stub_url = f"http://127.0.0.1:{stub_port}/v1/chat/completions"
            alone = {m: load(stub_url, 8, min(args.seconds, 5), f"openai{m}") for m in ("", "-stream")}
            print(
                f"\nOpenAI-format endpoint alone (8 connections): {alone[''].rps:.0f} req/s buffered, "
                f"{alone['-stream'].rps:.0f} req/s streamed"
            )
            # (name, side, python, environment): `before` is stratus from another checkout, when asked for.
            servers = [("stratus", "stratus", sys.executable, {})]
            if args.before:
                servers.append(("before", "stratus", sys.executable, {"PYTHONPATH": str(args.before / "core")}))
            instant: dict[str, Row] = {}
            for name, side, python, env in [("floor", "floor", sys.executable, {}), *servers]:
                port = free_port()
                with serve(app_command(python, side, "instant", port, folder), port, env=env) as pid:
                    instant[name] = measure(port, pid, args.seconds, with_ttfb=True)
            print_rows("in-process instant model", instant)
            floor = ratios(instant, "stratus", "floor")
            if args.before:
                ratios(instant, "stratus", "before")

            remote: dict[str, Row] = {}
            model_url = f"http://127.0.0.1:{stub_port}/v1"
            for name, side, python, env in [("agno", "agno", agno_bin, {}), *servers]:
                port = free_port()
                with serve(app_command(python, side, "openai", port, folder, model_url), port, env=env) as pid:
                    remote[name] = measure(port, pid, args.seconds, with_ttfb=True)
            print_rows("local OpenAI-format endpoint", remote)
            versus = ratios(remote, "stratus", "agno")
            if args.before:
                ratios(remote, "stratus", "before")
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ttfb_p50 = instant["stratus"]["ttfb"]
    assert isinstance(ttfb_p50, tuple)
    checks = [
        (f"stratus/floor buffered c8 >= {TARGET_FLOOR}", floor["buffered c8"], floor["buffered c8"] >= TARGET_FLOOR),
        (f"stratus/agno buffered c8 >= {TARGET_AGNO}", versus["buffered c8"], versus["buffered c8"] >= TARGET_AGNO),
        (f"first streamed byte p50 <= {TARGET_TTFB_MS} ms", ttfb_p50[0], ttfb_p50[0] <= TARGET_TTFB_MS),
    ]
    rows = [*instant.values(), *remote.values()]
    failed = [cell for row in rows for cell in row.values() if isinstance(cell, Load) and cell.failed]
    print("\ntargets")
    for name, value, ok in checks:
        print(f"  {name:<40} {value:8.2f}  {'ok' if ok else 'MISSED'}")
    if failed:
        print("  some requests failed (see the failed column)")
    return 0 if all(ok for _, _, ok in checks) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
