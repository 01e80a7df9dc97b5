"""The README's commands work as written: every shell line of its quickstart ("Talk to the demo") and of its
`stratus` blocks runs with bash against a started demo server, changing nothing but the port, and must exit 0
with a sane output. The deploy section's AWS commands are not run; the `stratus` subcommands it names must at
least exist.

The demo's model is pointed at the fake OpenAI server (the README's `OPENAI_API_KEY=... make run` path), so the
answers are deterministic and no model has to load.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ROOT, Server, start_server, stop_server
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
QUICKSTART = "Talk to the demo"
DEPLOY = "Deploy"
STRATUS = ".venv/bin/stratus"
NOT_RUN = ("make ", "npx ", "aws ")
"""Lines that set up, build or need an AWS account: the Makefile's own tests and the infra tests cover them."""

AWS_RESOURCE = re.compile(r"dynamodb://<[a-z]+>")
"""A stratus command run against a deployed table the reader names (`stratus reindex 'dynamodb://<table>...'`):
it needs that AWS account too; `tests/unit/test_cli.py` runs it against moto."""

NOTES = """# Leave policy

Every employee gets 25 days of paid leave a year. Ask your manager before taking more than ten days at once.
"""


@dataclass(frozen=True)
class Block:
    section: str
    lines: tuple[str, ...]


def sections(text: str) -> dict[str, str]:
    """The README's text under each `##`/`###` heading (fenced code blocks kept whole)."""
    found: dict[str, str] = {}
    current, body, fenced = "", [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("#"):
            found[current] = "\n".join(body)
            current, body = line.lstrip("#").strip(), []
        else:
            body.append(line)
    found[current] = "\n".join(body)
    return found


def bash_blocks(text: str) -> list[tuple[str, ...]]:
    """The commands of each ```bash block: comment lines dropped, `\\` continuations joined."""
    blocks: list[tuple[str, ...]] = []
    for match in re.finditer(r"^( *)```bash\n(.*?)^\1```", text, flags=re.MULTILINE | re.DOTALL):
        commands: list[str] = []
        pending = ""
        for raw in match.group(2).splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            commands.append(pending + line)
            pending = ""
        blocks.append(tuple(commands))
    return blocks


def runnable_blocks(text: str) -> list[Block]:
    """The quickstart's bash blocks, and every bash block elsewhere that runs the `stratus` command."""
    picked: list[Block] = []
    for title, body in sections(text).items():
        for lines in bash_blocks(body):
            if title == QUICKSTART or any(line.startswith(STRATUS) for line in lines):
                picked.append(Block(title, lines))
    return picked


def inline_commands(text: str) -> list[str]:
    """`stratus` commands written inline in prose, e.g. `.venv/bin/stratus apikey --user alice`."""
    return re.findall(rf"`({re.escape(STRATUS)} [^`]+)`", text)


def with_port(command: str, port: int) -> str:
    return re.sub(r"\b(localhost|127\.0\.0\.1):8000\b", rf"\g<1>:{port}", command)


# --- what a sane output is -------------------------------------------------------------------------------


def check_output(command: str, stdout: str, stderr: str) -> str | None:
    """Why this output is not what the command should print, or None when it is."""
    if command.startswith("curl"):
        events = [json.loads(line[len("data: ") :]) for line in stdout.splitlines() if line.startswith("data: ")]
        if events:
            names = [e["event"] for e in events]
            ends = {("RunStarted", "RunCompleted"), ("TeamRunStarted", "TeamRunCompleted")}
            ends.add(("WorkflowStarted", "WorkflowCompleted"))
            return None if (names[0], names[-1]) in ends else f"stream ended {names}"
        try:
            body = json.loads(stdout)
        except ValueError:
            return "not JSON"
        return f"an error: {body}" if isinstance(body, dict) and "detail" in body else None
    if not command.startswith(STRATUS):
        return None
    subcommand = command.split()[1]
    if subcommand in ("invoke", "apikey"):
        try:
            printed = json.loads(stdout)
        except ValueError:
            return "stdout is not one JSON document"
        if subcommand == "invoke":
            return None if printed.get("statusCode") == 200 else f"status {printed.get('statusCode')}"
        return None if {"sha256", "user_id"} <= set(printed) else "no key entry"
    if subcommand == "knowledge":
        if command.split()[2] == "add":
            return None if "chunk" in stderr and "failed" not in stderr else "not every file was added"
        return None if stdout.startswith("1. [") else "no passage printed"
    if subcommand == "--version":
        return None if re.fullmatch(r"stratus \S+\n", stdout) else "no version"
    return None if stdout.strip() else "printed nothing"


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def model_env(endpoint: FakeOpenAIServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-test-readme", "OPENAI_BASE_URL": endpoint.base_url, "OPENAI_MODEL": "gpt-4o"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def shell_env(data_dir: Path, model_env: dict[str, str]) -> dict[str, str]:
    """What the user's shell has: the server's store and model settings (a server and the commands share
    `.stratus/` in the repository), and no `STRATUS_APP`, so the commands pick the demo themselves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "STRATUS_", "AWS_"))}
    stores = {"STRATUS_DB": f"sqlite:///{data_dir}/stratus.db", "STRATUS_VECTOR_DB": f"embedded:///{data_dir}/vectors"}
    return {**env, **stores, **model_env}


@pytest.fixture(scope="module")
def demo(data_dir: Path, shell_env: dict[str, str]) -> Iterator[Server]:
    """`make run` with `OPENAI_API_KEY=...`: the demo app, its model the fake endpoint."""
    server = start_server(data_dir, env={k: v for k, v in shell_env.items() if k.startswith(("OPENAI_", "STRATUS_"))})
    yield server
    stop_server(server)


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder laid out like the repository's root, as far as the README's commands look: the virtualenv,
    the demo, the Lambda functions and their events, and the files the commands name."""
    cwd = tmp_path_factory.mktemp("cwd")
    (cwd / ".venv").symlink_to(sys.prefix, target_is_directory=True)  # the virtualenv these tests run in
    for name in ("examples", "functions", "events"):
        (cwd / name).symlink_to(ROOT / name, target_is_directory=True)
    (cwd / "notes.md").write_text(NOTES)
    (cwd / "docs").mkdir()
    shutil.copy(ROOT / "tests" / "fixtures" / "guide.pdf", cwd / "docs" / "guide.pdf")
    return cwd


def bash(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )


# --- tests -----------------------------------------------------------------------------------------------


def test_the_readme_has_the_quickstart_and_the_cli_blocks() -> None:
    text = README.read_text()
    commands = [line for block in runnable_blocks(text) for line in block.lines] + inline_commands(text)

    assert sum(c.startswith("curl") for c in commands) >= 5
    assert {c.split()[1] for c in commands if c.startswith(STRATUS)} >= {"ask", "knowledge", "invoke", "apikey"}


def test_every_command_of_the_readme_runs_as_written(demo: Server, workdir: Path, shell_env: dict[str, str]) -> None:
    text = README.read_text()
    port = port_of(demo)
    commands = [line for block in runnable_blocks(text) for line in block.lines] + inline_commands(text)
    failures: list[str] = []

    for command in commands:
        if command.startswith(NOT_RUN) or AWS_RESOURCE.search(command):
            continue
        result = bash(with_port(command, port), workdir, shell_env)
        why = f"exit {result.returncode}" if result.returncode else check_output(command, result.stdout, result.stderr)
        if why:
            failures.append(f"$ {command}\n  {why}\n  stdout: {result.stdout[-600:]}\n  stderr: {result.stderr[-600:]}")

    assert not failures, "\n".join(failures) + f"\nserver log:\n{demo.output()[-2000:]}"


def test_the_pages_the_quickstart_names_are_served_offline(demo: Server) -> None:
    urls = re.findall(r"http://127\.0\.0\.1:8000[^\s`),]*", sections(README.read_text())[QUICKSTART])
    assert "http://127.0.0.1:8000/docs" in urls

    for url in urls:
        page = httpx.get(
            with_port(url, port_of(demo)), headers={"accept": "text/html"}, follow_redirects=True, timeout=30
        )
        assert page.status_code == 200, url
        assert "text/html" in page.headers["content-type"], url
        assert not re.findall(r"""(?:src|href)=["']https?://""", page.text), f"{url} loads from another host"


def test_the_deploy_sections_stratus_commands_exist(workdir: Path, shell_env: dict[str, str]) -> None:
    deploy = sections(README.read_text())[DEPLOY]
    named = set(re.findall(rf"{re.escape(STRATUS)} (\w+)", deploy))
    assert named >= {"invoke", "apikey"}

    for subcommand in sorted(named):
        result = bash(f"{STRATUS} {subcommand} --help", workdir, shell_env)
        assert result.returncode == 0, result.stderr
        assert f"usage: stratus {subcommand}" in result.stdout


def test_the_readme_spells_the_command_as_installed() -> None:
    # `stratus` alone is not on PATH after `make run`: every command says where it is.
    bare = re.findall(r"(?<![\w/.-])stratus (?:dev|ask|knowledge|invoke|apikey)\b[^`\n]*", README.read_text())
    assert bare == []


# --- the quickstart shows each piece of the demo working -----------------------------------------------------


@pytest.fixture(scope="module")
def scripted_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo on a model that plays a good one (tests/e2e/demo_app.py), its handbook indexed."""
    server = start_server(tmp_path_factory.mktemp("scripted"), app="tests.e2e.demo_app:app")
    deadline = time.monotonic() + 120  # the first start loads the embedder
    while time.monotonic() < deadline:
        listed = httpx.get(f"{server.url}/knowledge/content", timeout=10).json()["data"]
        if len(listed) == 4 and {c["status"] for c in listed} == {"completed"}:
            break
        time.sleep(0.25)
    yield server
    stop_server(server)


def answer_of(stdout: str) -> tuple[str, list[tuple[str, str]], list[dict[str, Any]]]:
    """What a curl line printed: the final answer, the tool calls made at any depth as (tool, result), and
    the streamed events (none for a buffered answer)."""
    events = [json.loads(line[len("data: ") :]) for line in stdout.splitlines() if line.startswith("data: ")]
    if events:
        calls = [
            (e["tool"]["tool_name"], str(e["tool"]["result"])) for e in events if "ToolCallCompleted" in e["event"]
        ]
        return str(events[-1].get("content")), calls, events
    body = json.loads(stdout)
    runs = [body, *(body.get("member_responses") or []), *(body.get("step_executor_runs") or [])]
    calls = [(t["tool_name"], str(t["result"])) for run in runs for t in run.get("tools") or []]
    return str(body.get("content")), calls, []


def test_the_quickstart_shows_each_piece_of_the_demo_working(scripted_demo: Server, workdir: Path) -> None:
    """Every curl line of "Talk to the demo" against the demo, on a model that uses its tools as a good one
    would: the clock, the calculator, the handbook, a name remembered across sessions, the team, the workflow."""
    blocks = bash_blocks(sections(README.read_text())[QUICKSTART])
    quickstart = [line for block in blocks for line in block if line.startswith("curl") and "/knowledge/" not in line]
    port = port_of(scripted_demo)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "STRATUS_", "AWS_"))}
    seen: dict[str, tuple[str, list[tuple[str, str]], list[dict[str, Any]]]] = {}
    for command in quickstart:
        if "What is my name?" in command:  # learning works after the answer: as the README says, give it time
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                learned = httpx.get(f"{scripted_demo.url}/learnings", params={"user_id": "ada"}, timeout=10).json()
                if learned["data"]:
                    break
                time.sleep(0.2)
        result = bash(with_port(command, port), workdir, env)
        assert result.returncode == 0, (command, result.stderr)
        if "/runs" in command and "/sessions/" not in command:
            seen[command] = answer_of(result.stdout)

    def asked(words: str) -> tuple[str, list[tuple[str, str]], list[dict[str, Any]]]:
        found = [answer for command, answer in seen.items() if words in command]
        assert len(found) == 1, f"the quickstart has no single curl line asking {words!r}"
        return found[0]

    _, calls, _ = asked("1234 * 5678")
    assert calls == [("calculate", "7006652")]
    _, calls, events = asked("Tokyo")
    assert [name for name, _ in calls] == ["current_time"]
    assert calls[0][1].endswith("JST")
    assert [e["event"] for e in events][:1] == ["RunStarted"]
    content, calls, _ = asked("paid annual leave")
    assert calls == []  # the handbook's passages come with the message
    assert "27 days of paid annual leave" in content
    content, _, _ = asked("What is my name?")
    assert "Ada" in content
    content, calls, events = asked("/teams/helpdesk/runs")
    team_run = events[0]["run_id"]
    assert {e["parent_run_id"] for e in events if e["run_id"] != team_run} == {team_run}
    assert calls == []  # the researcher reads the handbook's passages in its context; the calculator has no sum
    assert {e.get("agent_id") for e in events if e["run_id"] != team_run} == {"researcher", "calculator"}
    assert "Friday 08:00-16:00" in content
    content, calls, _ = asked("/workflows/handbook-brief/runs")
    assert "27 days of paid annual leave" in content
    assert "handbook/leave.md" in content.rsplit("Sources: ", 1)[1].split(", ")
