"""The `stratus` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratus import App, ConfigError
from stratus.cli import load_app, main


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
