"""The `stratus` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from stratus import App, ConfigError
from stratus.cli import default_app, load_app, main
from tests.aws import REGION, MotoServer


@pytest.fixture(autouse=True)
def _store_in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STRATUS_DB", f"sqlite:///{tmp_path}/cli.db")


def test_load_app_takes_an_app_or_a_factory() -> None:
    assert isinstance(load_app("tests.fakes.apps:echo_app"), App)
    assert load_app("tests.fakes.apps:make_app") is load_app("tests.fakes.apps:echo_app")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tests.fakes.apps", "module:attribute"),
        ("tests.fakes.nowhere:app", "cannot import"),
        ("tests.fakes.apps:missing", "has no attribute"),
        ("tests.fakes.apps:not_an_app", "not a stratus App"),
    ],
)
def test_load_app_explains_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_app(spec)


def test_ask_streams_the_answer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "hello there", "--app", "tests.fakes.apps:echo_app"]) == 0
    assert capsys.readouterr().out == "echo: hello there\n"


def test_ask_buffered_with_a_chosen_agent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "hi", "--app", "tests.fakes.apps:echo_app", "--agent", "echo", "--no-stream"]) == 0
    assert capsys.readouterr().out == "echo: hi\n"


def test_ask_reports_a_failed_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "hi", "--app", "tests.fakes.apps:echo_app", "--agent", "broken"]) == 1
    assert "the model is down" in capsys.readouterr().err


def test_errors_are_one_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "hi", "--app", "tests.fakes.apps:echo_app", "--agent", "nobody"]) == 2
    assert capsys.readouterr().err == "stratus: agent 'nobody' not found\n"
    assert main(["dev", "--app", "tests.fakes.apps:not_an_app"]) == 2


ROOT = Path(__file__).resolve().parents[2]
APP_COMMANDS = [["dev"], ["ask", "hi"], ["knowledge", "add", "notes.md"], ["knowledge", "search", "q"]]


def test_version_is_the_installed_one(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out == f"stratus {version('stratus')}\n"


def test_the_app_is_stratus_app_else_the_demo_in_the_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_app() is None
    monkeypatch.chdir(ROOT)
    assert default_app() == "examples.demo:app"
    monkeypatch.setenv("STRATUS_APP", "tests.fakes.apps:echo_app")
    assert default_app() == "tests.fakes.apps:echo_app"


@pytest.mark.parametrize("command", [*APP_COMMANDS, ["invoke", "health", "events/health.json"]])
def test_every_command_that_takes_an_app_says_its_default(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    subcommand = command[:2] if command[0] == "knowledge" else command[:1]
    with pytest.raises(SystemExit):
        main([*subcommand, "--help"])

    help_text = " ".join(capsys.readouterr().out.split())
    assert "$STRATUS_APP" in help_text
    assert "examples.demo:app" in help_text


@pytest.mark.parametrize("command", [*APP_COMMANDS, ["invoke", "health", "events/health.json"]])
def test_without_an_app_the_error_says_how_to_name_one(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "health.json").write_text("{}")
    monkeypatch.chdir(tmp_path)

    assert main(command) == 2
    assert capsys.readouterr().err.startswith("stratus: name the app: --app module:attribute (or set STRATUS_APP")


def test_ask_takes_the_app_from_stratus_app(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRATUS_APP", "tests.fakes.apps:echo_app")

    assert main(["ask", "hello"]) == 0
    assert capsys.readouterr().out == "echo: hello\n"


def _stratus(*args: str, tmp_path: Path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """`stratus ...` in a fresh process from the repository's root, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "STRATUS_", "AWS_"))}
    env["STRATUS_DB"] = f"sqlite:///{tmp_path}/invoke.db"
    code = f"{prelude}\nimport sys\nfrom stratus.cli import main\nsys.exit(main({list(args)!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_invoke_prints_the_response_as_json_and_logs_on_stderr(tmp_path: Path) -> None:
    result = _stratus("invoke", "sessions", "events/sessions_list.json", tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200
    assert response["body"]["meta"]["total_count"] == 0  # the JSON body, decoded
    assert "ColdStart" in result.stderr  # Powertools' metrics, kept off stdout


def test_invoke_without_the_aws_extra_says_what_to_install(tmp_path: Path) -> None:
    # given aws_lambda_powertools cannot be imported
    blocked = "import sys\nsys.modules['aws_lambda_powertools'] = None"

    result = _stratus("invoke", "sessions", "events/sessions_list.json", tmp_path=tmp_path, prelude=blocked)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "stratus: stratus invoke needs the aws extra (aws_lambda_powertools is missing): make install, "
        "or pip install 'stratus[aws]'"
    ]


def test_knowledge_add_skips_a_file_no_reader_can_read_and_adds_the_rest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.files import png

    monkeypatch.setenv("STRATUS_VECTOR_DB", f"embedded:///{tmp_path / 'vectors'}")
    (tmp_path / "photo.png").write_bytes(png())
    (tmp_path / "evil.md").write_bytes(png())
    (tmp_path / "notes.md").write_text("# Notes\n\nThe ferry leaves at dawn.\n")

    status = main(["knowledge", "add", str(tmp_path), "--app", "tests.fakes.apps:lambda_test_app"])

    err = capsys.readouterr().err
    assert status == 1
    assert "photo.png: skipped: photo.png is of an unsupported type image/png: supported files are .pdf" in err
    assert "evil.md: skipped: evil.md is not a .md file: it is a PNG image; supported files are .pdf" in err
    assert "notes.md: 1 chunk " in err
    assert "Traceback" not in err


def test_reindex_rebuilds_a_dynamodb_tables_listing_entries_and_sqlite_needs_none(
    capsys: pytest.CaptureFixture[str], moto: MotoServer
) -> None:
    from stratus.storage.dynamodb import DynamoStore

    table = f"reindex-{uuid.uuid4().hex[:8]}"
    DynamoStore(table, region=REGION).create_table()

    assert main(["reindex", f"dynamodb://{table}?region={REGION}"]) == 0
    assert "scanned 0 items, reindexed 0 records" in capsys.readouterr().out
    assert main(["reindex"]) == 0  # $STRATUS_DB: the SQLite file
    assert "needs no reindex" in capsys.readouterr().out
