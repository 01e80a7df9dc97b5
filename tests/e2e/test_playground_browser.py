"""The playground in a real browser: headless Chromium (selenium, Debian's chromedriver) drives the page against
the real server (`stratus dev`, uvicorn) serving tests/e2e/playground_app.py, whose scripted models say exactly
what the page must show. Components are found by their `data-testid` only (the page's DOM contract,
core/stratus/api/playground/CONTRACT.md; inside a rendered answer, by the HTML it names: <strong>, <pre><code>,
<details>), and each test asserts what a user sees: a streamed markdown answer with its tool call and none of its
raw HTML run, Stop and Escape, tools running, done and failed, a failed run, a team's members and a workflow's
steps nested (also when reopened), sessions per component searched, renamed, deleted and reopened with their
token lines, a file attached to a message, knowledge uploaded (and a broken file failed) and searched, the
user's memories and a deletion, paused runs (an agent's, a team member's) approved after a reload and one
rejected, an API key asked for, a 360 px phone, both themes and the system's one on a first visit.

One browser and one server (with its own data folder) serve the whole module. Screenshots land in
build/test-artifacts/playground/ (named in pytest's summary); a failing test leaves its screenshot and the
browser's console log there as well. Without Chromium and chromedriver the module skips, except in CI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from tests.e2e._browser import ARTIFACTS, Browser, browser_session, require_browser
from tests.e2e.conftest import Server, start_server, stop_server
from tests.e2e.playground_app import FORECAST, STORY

pytestmark = pytest.mark.e2e

USER = "ann"
RUN_META = re.compile(r"\d+\s*in\b.*?\d+\s*out\b.*?\d+(\.\d+)?\s*s\b", re.S)


# --- fixtures ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_browser(request.config)  # no server to start for tests that will skip
    running = start_server(tmp_path_factory.mktemp("playground-server"), app="tests.e2e.playground_app:app")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def browser(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    yield from browser_session(request.config, ARTIFACTS / "playground", profile)


@pytest.fixture(autouse=True)
def evidence(request: pytest.FixtureRequest, browser: Browser) -> Iterator[None]:
    """A failing test leaves its screenshot and the console log; a passing one must not have thrown in the page."""
    browser.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})  # each test starts at desktop size
    browser.read_console()  # what earlier tests left
    yield
    if browser.setup.reports.get(request.node.nodeid) is not None:
        browser.save_failure(request.node.name)
        return
    crashes = [e["message"] for e in browser.read_console() if "Uncaught" in str(e.get("message"))]
    assert not crashes, f"the page threw: {crashes}"


@pytest.fixture
def page(browser: Browser, server: Server) -> Playground:
    """The playground freshly loaded at desktop size, as user `ann`."""
    playground = Playground(browser, server)
    playground.load()
    playground.become(USER)
    return playground


class Playground:
    """What a user does on the page, in the contract's words (data-testid names)."""

    def __init__(self, browser: Browser, server: Server) -> None:
        self.b = browser
        self.server = server

    # navigation
    def load(self) -> None:
        self.b.driver.get(f"{self.server.url}/playground")
        self.b.until("the component list to fill", lambda: self.b.all("component"), timeout=15)

    def become(self, user: str) -> None:
        """Type the user id into the sidebar's user field (kept by the page across reloads)."""
        field = self.b.one("user-id")
        if field.get_attribute("value") != user:
            field.clear()
            field.send_keys(user, Keys.TAB)

    def select(self, kind: str, component_id: str, title: str) -> None:
        self.b.one("component", data_kind=kind, data_id=component_id).click()
        chosen = self.b.all("component", data_kind=kind, data_id=component_id)  # on a phone the sidebar closes now
        self.b.until(f"{kind} {component_id} selected", lambda: chosen[0].get_attribute("aria-selected") == "true")
        self.b.until(f"the title {title!r}", lambda: self.b.one("component-title").text.strip() == title)

    def new_chat(self) -> None:
        self.b.one("new-chat").click()
        self.b.one("empty-state")

    # chat
    def messages(self, role: str) -> list[WebElement]:
        return self.b.visible("message", data_role=role)

    def last(self, role: str) -> WebElement | None:
        shown = self.messages(role)
        return shown[-1] if shown else None

    def metas(self) -> list[WebElement]:
        return self.b.visible("run-meta")

    def send(self, text: str) -> None:
        """Type `text` (a newline is typed as Shift+Enter) and press Enter; wait for it to show as the user's."""
        before = len(self.messages("user"))
        composer = self.b.one("composer")
        composer.click()
        for i, line in enumerate(text.split("\n")):
            if i:
                composer.send_keys(Keys.SHIFT, Keys.ENTER, Keys.SHIFT)
            composer.send_keys(line)
        composer.send_keys(Keys.ENTER)
        self.b.until(f"the message {text!r} in the chat", lambda: len(self.messages("user")) > before)

    def run(self, text: str) -> WebElement:
        """Send `text` and wait for the run to complete (its run-meta line); the assistant's message."""
        done = len(self.metas())
        self.send(text)
        self.b.until("the run's token and time line", lambda: len(self.metas()) > done, timeout=20)
        return self.messages("assistant")[-1]

    def current_session(self) -> str:
        """The id of the session open in the chat (the one the list marks current)."""

        def marked() -> str | None:
            current = self.b.all("session", aria_current="true")  # also in a folded-away sidebar
            return current[0].get_attribute("data-session-id") if current else None

        return self.b.until("the open session marked current in the list", marked)

    def row(self, session_id: str) -> str:
        """The selector of this session's row in the list."""
        return self.b.selector("session", data_session_id=session_id)

    def session(self, session_id: str) -> WebElement:
        return self.b.one("session", data_session_id=session_id)

    def reopen(self, session_id: str) -> None:
        """Click the session in the list (found afresh until the click lands: the list re-renders)."""
        self.b.click("session", data_session_id=session_id)

    # the API, to set the scene or check what the page did
    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.server.url}{path}", timeout=10, **kwargs)


def text_of(element: WebElement) -> str:
    return " ".join(element.text.split())


def in_view(browser: Browser, testid: str, *, fully: bool = False) -> bool:
    """Whether the element is on screen for a user: displayed, with some area (or, `fully`, all of its width)
    inside the viewport."""
    return bool(
        browser.js(
            """const [id, fully] = arguments, el = document.querySelector(`[data-testid="${id}"]`);
            if (!el) return false;
            const style = getComputedStyle(el), r = el.getBoundingClientRect();
            if (style.display === 'none' || style.visibility === 'hidden' || !r.width || !r.height) return false;
            return fully ? r.left >= 0 && r.right <= innerWidth
                : r.right > 1 && r.left < innerWidth - 1 && r.bottom > 0 && r.top < innerHeight;""",
            testid,
            fully,
        )
    )


# --- chat -------------------------------------------------------------------------------------------------------


def test_an_answer_streams_in_with_its_tool_call_and_markdown_rendered_safely(page: Playground) -> None:
    b = page.b
    # given the assistant, in a new chat
    page.select("agent", "assistant", "Assistant")
    page.new_chat()

    assert not b.visible("stop")  # nothing to stop yet

    # when the user types two lines (Shift+Enter) and presses Enter
    page.send("What's the weather\nin Oslo?")
    (asked,) = page.messages("user")
    assert asked.text.splitlines() == ["What's the weather", "in Oslo?"]
    b.gone("empty-state")

    # then the tool call shows as a chip that ends done, with a short preview until expanded
    chip = b.one("tool-call", data_tool="get_weather")
    b.until("the tool chip done", lambda: chip.get_attribute("data-status") == "done")
    b.until("the run's token and time line", lambda: page.metas(), timeout=20)
    assert not b.visible("stop")
    assert "END-OF-FORECAST" not in chip.text  # collapsed: a preview only
    chip.click()
    b.until(
        "the full tool result once expanded",
        lambda: any(" ".join(FORECAST.split()) in text_of(r) for r in b.visible("tool-result", within=chip)),
    )
    assert "Oslo" in text_of(b.visible("tool-result", within=chip)[0])  # its arguments too

    # and the answer is rendered from markdown
    answer = page.messages("assistant")[-1]
    body = b.one("message-body", within=answer)
    assert [e.text for e in body.find_elements("css selector", "strong")] == ["sunny"]
    assert "Oslo" in [e.text for e in body.find_elements("css selector", ":not(pre) > code")]
    assert [e.text for e in body.find_elements("css selector", "pre code")] == ["print('take sunglasses')"]
    link, trap = body.find_elements("css selector", "a")
    assert (link.text, link.get_attribute("href")) == ("the forecast", "https://example.com/forecast")
    assert link.get_attribute("target") == "_blank"
    assert "noopener" in (link.get_attribute("rel") or "")
    assert not (trap.get_attribute("href") or "").startswith("javascript:")
    trap.click()
    assert [e.text for e in body.find_elements("css selector", "table td:first-child")] == ["09", "15"]
    assert [e.text for e in body.find_elements("css selector", "ul > li")] == ["hat", "water"]
    assert "**" not in body.text
    assert "```" not in body.text

    # and the raw HTML in the model's text ran nothing
    assert b.js("return window.__pwned === undefined")
    assert not body.find_elements("css selector", "script, [onerror]")

    # and the run's tokens and time are shown
    assert RUN_META.search(page.metas()[-1].text), page.metas()[-1].text
    b.screenshot("answer-with-tool-and-markdown")


def test_stop_and_escape_end_a_streaming_answer_and_the_run_is_cancelled(page: Playground) -> None:
    # given the storyteller, whose answer streams a word every 0.2 s
    page.select("agent", "storyteller", "Storyteller")
    page.new_chat()
    # when a story streams in and the user presses Stop, then Escape on the next one: each ends there
    stop_a_story(page, "stop")
    stop_a_story(page, "escape")


def stop_a_story(page: Playground, press: str) -> None:
    b = page.b
    page.send(f"tell me a story ({press})")
    stop = b.one("stop")

    def story() -> WebElement | None:
        answer = page.last("assistant")
        return answer if answer is not None and "word3" in answer.text else None

    answer = b.until("the first words of the story", story)
    partial = answer.text
    b.until("more words streaming in", lambda: len(answer.text) > len(partial))
    b.screenshot(f"streaming-before-{press}")

    if press == "escape":
        b.one("composer").send_keys(Keys.ESCAPE)
    else:
        stop.click()

    # the stream ends there: Stop is gone, the story is cut short, and the server cancelled the run
    b.gone("stop")
    session_id = page.current_session()

    def cancelled() -> bool:
        runs = page.api("GET", f"/sessions/{session_id}/runs").json()
        return bool(runs) and runs[-1]["status"] == "CANCELLED"

    b.until("the stored run CANCELLED", cancelled)
    assert "word149" not in answer.text
    assert STORY not in answer.text


def test_an_empty_chat_offers_example_prompts_and_one_click_sends_it(page: Playground) -> None:
    b = page.b
    # given a new chat with the assistant
    page.select("agent", "assistant", "Assistant")
    page.new_chat()
    examples = b.visible("example-prompt", within=b.one("empty-state"))
    assert len(examples) >= 3
    b.screenshot("empty-state")

    # when the user clicks the first example
    prompt = text_of(examples[0])
    done = len(page.metas())
    examples[0].click()

    # then it is sent as their message and answered
    b.until("the example sent as the user's message", lambda: page.messages("user"))
    assert prompt in text_of(page.messages("user")[0]) or text_of(page.messages("user")[0]) in prompt
    b.until("the example's answer", lambda: len(page.metas()) > done, timeout=20)
    b.gone("empty-state")

    # and Ctrl+K brings the cursor back to the composer
    b.one("component-title").click()
    ActionChains(b.driver).key_down(Keys.CONTROL).send_keys("k").key_up(Keys.CONTROL).perform()
    assert b.js("return document.activeElement.dataset.testid") == "composer"

    # and the shortcuts are listed behind their toggle, and behind "?"
    b.one("shortcuts-toggle").click()
    shortcuts = b.one("shortcuts")
    for key in ("Enter", "Shift", "Esc", "K"):
        assert key in shortcuts.text
    b.screenshot("shortcuts")
    b.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    b.gone("shortcuts")
    b.one("component-title").click()  # the focus out of the composer, where "?" is just a character
    ActionChains(b.driver).send_keys("?").perform()
    b.one("shortcuts")


def test_a_slow_tool_runs_a_failing_tool_fails_and_a_failing_run_is_shown_as_such(page: Playground) -> None:
    b = page.b
    # given the assistant, whose tide tool takes a second and whose stock tool is down
    page.select("agent", "assistant", "Assistant")
    page.new_chat()

    # when a question needs the slow tool, its chip shows it running, then done
    page.send("when is the tide?")
    chip = b.one("tool-call", data_tool="get_tide")
    b.until("the tide tool running", lambda: chip.get_attribute("data-status") == "running")
    b.screenshot("tool-running")
    b.until("the tide tool done", lambda: chip.get_attribute("data-status") == "done")
    b.until("the tide answer", lambda: "The tide: high tide at Bergen: 14:10" in page.messages("assistant")[-1].text)
    b.until("the tide run's token line", lambda: page.metas())

    # when a question needs that tool
    answer = page.run("is the umbrella in stock?")

    # then its chip is marked failed, with the error once expanded, and the model's answer follows
    chip = b.one("tool-call", data_tool="check_stock")
    assert chip.get_attribute("data-status") == "failed"
    chip.click()
    b.until(
        "the tool's error", lambda: any("warehouse offline" in r.text for r in b.visible("tool-result", within=chip))
    )
    assert "Sorry, I could not check" in answer.text

    # when the model itself fails
    page.send("crash now")

    # then the chat shows an error, and the user can go on
    error = b.one("message", data_role="error", timeout=20)
    assert error.text.strip()
    b.gone("stop")
    b.screenshot("failed-tool-and-run")
    page.run("still there?")
    assert "echo: still there?" in page.messages("assistant")[-1].text

    # when a run fails once, Try again sends the same message in the same session, and its answer follows
    session = page.current_session()
    errors = len(page.messages("error"))
    page.send("flaky question")
    b.until("the flaky run's error", lambda: len(page.messages("error")) > errors, timeout=20)
    b.one("retry", within=page.messages("error")[-1]).click()
    b.until(
        "the retried answer", lambda: "recovered: flaky question" in page.messages("assistant")[-1].text, timeout=20
    )
    assert page.current_session() == session


def test_a_server_that_needs_a_key_asks_for_it_once_and_then_works(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    b = browser
    # given a server that answers 401 without its API key
    locked = start_server(tmp_path, app="tests.e2e.playground_app:app", env={"STRATUS_API_KEY": "sesame"})
    try:
        # when the page opens
        b.driver.get(f"{locked.url}/playground")

        # then it asks for the key, and a wrong one is asked for again
        field = b.one("auth-key", timeout=15)
        assert not b.all("component")
        b.screenshot("auth-key")
        field.send_keys("wrong", Keys.ENTER)
        b.until("the key asked for again", lambda: b.visible("auth-key") and not b.all("component"))

        # when the right key is given, the components are listed, and a reload keeps the key
        field = b.one("auth-key")
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys("sesame", Keys.ENTER)
        b.until("the components after the key", lambda: b.all("component", data_id="assistant"), timeout=15)
        b.gone("auth-key")
        b.driver.get(f"{locked.url}/playground")
        b.until("the components after a reload", lambda: b.all("component", data_id="assistant"), timeout=15)
        assert not b.visible("auth-key")
    finally:
        stop_server(locked)


# --- teams and workflows ------------------------------------------------------------------------------------------


def test_a_team_run_shows_each_members_work_nested_and_collapsible_also_when_reopened(page: Playground) -> None:
    b = page.b
    # given the team Desk, whose leader hands work to a researcher (who calls a tool) and a writer
    page.select("team", "desk", "Desk")
    page.new_chat()

    # when the user sends it a task
    answer = page.run("Plan the newsletter")

    # then the team's answer holds one collapsible block per member, with that member's text and tool calls
    b.until("the team's answer", lambda: "The desk's answer: both members reported" in answer.text)

    def members() -> dict[str, WebElement]:
        return {(m.get_attribute("data-member") or "").lower(): m for m in b.all("member-run", within=answer)}

    b.until("both members' runs", lambda: set(members()) == {"researcher", "writer"})
    researcher = members()["researcher"]
    assert researcher.tag_name == "details"
    if researcher.get_attribute("open") is None:
        researcher.find_element("css selector", "summary").click()
    b.until("the researcher's answer", lambda: "Researcher found: Jupiter has 3 moons" in researcher.text)
    (chip,) = b.all("tool-call", within=researcher, data_tool="find_fact")
    assert chip.get_attribute("data-status") == "done"
    writer = members()["writer"]
    if writer.get_attribute("open") is None:
        writer.find_element("css selector", "summary").click()
    b.until("the writer's answer", lambda: "Writer drafted: a short note" in writer.text)
    b.screenshot("team-members-expanded")
    researcher.find_element("css selector", "summary").click()
    b.until("the researcher's block collapsed", lambda: researcher.get_attribute("open") is None)
    assert "Researcher found" not in researcher.text

    # and reopened from the session list, the members are there again
    session_id = page.current_session()
    page.new_chat()
    page.reopen(session_id)
    reopened = b.until("the reopened team answer", lambda: page.last("assistant"))
    b.until(
        "both members in the reopened answer",
        lambda: (
            {(m.get_attribute("data-member") or "").lower() for m in b.all("member-run", within=reopened)}
            == {"researcher", "writer"}
        ),
    )
    assert page.metas()


def test_a_workflow_run_shows_each_step_with_its_content(page: Playground) -> None:
    b = page.b
    # given the workflow Pipeline: an agent drafts, then a function polishes
    page.select("workflow", "pipeline", "Pipeline")
    page.new_chat()

    # when the user starts it
    answer = page.run("release notes")

    # then each step appears, in order, with what it produced, and the workflow's answer is the last step's
    b.until("the workflow's answer", lambda: "DRAFT OF RELEASE NOTES" in answer.text)
    b.until("both steps", lambda: len(b.all("workflow-step", within=answer)) == 2)
    steps = b.all("workflow-step", within=answer)
    assert [s.get_attribute("data-step") for s in steps] == ["draft", "polish"]
    for step, content in zip(steps, ["draft of release notes", "DRAFT OF RELEASE NOTES"], strict=True):
        assert step.tag_name == "details"
        if step.get_attribute("open") is None:
            step.find_element("css selector", "summary").click()
        assert content in step.text, step.text
    b.screenshot("workflow-steps")

    # and reopened, the steps are there again
    session_id = page.current_session()
    page.new_chat()
    page.reopen(session_id)
    b.until(
        "both steps in the reopened run",
        lambda: [s.get_attribute("data-step") for s in b.all("workflow-step")] == ["draft", "polish"],
    )


# --- sessions -----------------------------------------------------------------------------------------------------


def test_a_reopened_session_shows_its_history_with_tool_calls_and_token_lines(page: Playground) -> None:
    b = page.b
    # given a chat with the assistant that used a tool, then one more message
    page.select("agent", "assistant", "Assistant")
    page.new_chat()
    page.run("weather in Oslo")
    page.run("thanks")
    session_id = page.current_session()
    lines = [m.text for m in page.metas()]
    assert len(lines) == 2

    # when the user starts a new chat and then reopens that session from the list
    page.new_chat()
    assert not page.messages("user")
    page.reopen(session_id)

    # then both runs are back as they were: messages, the tool chip, the markdown and the token/time lines
    b.until(
        "the session's two questions",
        lambda: [text_of(m) for m in page.messages("user")] == ["weather in Oslo", "thanks"],
    )
    b.until("the token and time lines of both runs", lambda: [m.text for m in page.metas()] == lines)
    chip = b.one("tool-call", data_tool="get_weather")
    assert chip.get_attribute("data-status") == "done"
    answers = page.messages("assistant")
    assert [e.text for e in b.one("message-body", within=answers[0]).find_elements("css selector", "strong")] == [
        "sunny"
    ]
    assert "echo: thanks" in answers[-1].text
    assert page.session(session_id).get_attribute("aria-current") == "true"
    b.screenshot("reopened-session")


def test_sessions_are_listed_per_component_with_a_time_and_can_be_renamed_and_deleted(page: Playground) -> None:
    b = page.b
    # given a chat with the assistant
    page.select("agent", "assistant", "Assistant")
    page.new_chat()
    page.run("remember the milk")
    session_id = page.current_session()
    row = page.row(session_id)  # a selector: the list re-renders, so each look finds the row afresh

    # then it is listed with a relative time whose title is the exact moment
    b.until("the session's relative time", lambda: b.one("session-time", within=row).text.strip())
    stamp = b.one("session-time", within=row).get_attribute("title") or ""
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).year >= 2024, stamp

    # when the user renames it (Enter saves)
    b.click("session-rename", within=row, hover=True)
    field = b.one("session-rename-input", within=row)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Shopping list", Keys.ENTER)

    # then the list and the API both have the new name
    b.until("the new name in the list", lambda: "Shopping list" in page.session(session_id).text)
    assert page.api("GET", f"/sessions/{session_id}").json()["session_name"] == "Shopping list"

    # and Escape cancels a rename
    b.click("session-rename", within=row, hover=True)
    field = b.one("session-rename-input", within=row)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Not this", Keys.ESCAPE)
    b.gone("session-rename-input")
    b.until("the name kept", lambda: "Shopping list" in page.session(session_id).text)
    assert page.api("GET", f"/sessions/{session_id}").json()["session_name"] == "Shopping list"
    b.screenshot("session-renamed")

    # and another component's list does not show it
    page.select("agent", "storyteller", "Storyteller")
    b.until(
        "the storyteller's own sessions",
        lambda: session_id not in [s.get_attribute("data-session-id") for s in b.all("session")],
    )
    page.select("agent", "assistant", "Assistant")

    # when the user deletes it (a second click confirms)
    b.click("session-delete", within=row, hover=True)
    assert page.api("GET", f"/sessions/{session_id}").status_code == 200  # nothing gone on the first click
    b.click("session-delete-confirm", within=row)

    # then it leaves the list and the server
    b.until(
        "the session gone from the list",
        lambda: session_id not in [s.get_attribute("data-session-id") for s in b.all("session")],
    )
    assert page.api("GET", f"/sessions/{session_id}").status_code == 404


def test_sessions_are_found_by_name(page: Playground) -> None:
    b = page.b
    # given two chats with the assistant
    page.select("agent", "assistant", "Assistant")
    for opening in ("alpha trip", "beta plan"):
        page.new_chat()
        page.run(opening)

    def listed() -> list[str]:
        return [text_of(s) for s in b.visible("session")]

    b.until(
        "both chats listed",
        lambda: any("alpha trip" in n for n in listed()) and any("beta plan" in n for n in listed()),
    )

    # when the user searches the sessions by name
    b.one("session-search").send_keys("alpha")

    # then only the matching one is listed, and clearing the search brings the others back
    b.until("only the alpha session", lambda: listed() and all("alpha trip" in n for n in listed()))
    b.screenshot("session-search")
    search = b.one("session-search")
    search.send_keys(Keys.CONTROL, "a")
    search.send_keys(Keys.BACKSPACE)
    b.until("both listed again", lambda: any("beta plan" in n for n in listed()))


def test_a_text_file_attached_to_a_message_reaches_the_model(page: Playground, tmp_path: Path) -> None:
    b = page.b
    note = tmp_path / "note.txt"
    note.write_text("the door code is 4711")
    # given the assistant (it echoes what it is sent)
    page.select("agent", "assistant", "Assistant")
    page.new_chat()

    # when the user attaches a text file and sends a message with it
    b.all("attach-input")[0].send_keys(str(note))
    answer = page.run("read my note")

    # then the message shows the file, and the model was sent its text
    assert "note.txt" in page.messages("user")[-1].text
    assert "the door code is 4711" in answer.text, answer.text
    # and the new session is named by what the user typed, not by the file's text
    session_id = page.current_session()
    b.until("the session named 'read my note'", lambda: "read my note" in page.session(session_id).text)
    assert "<file" not in page.session(session_id).text
    b.screenshot("attachment")


# --- knowledge and memories -------------------------------------------------------------------------------------


def test_a_file_uploaded_to_knowledge_is_ingested_and_found_by_search(page: Playground, tmp_path: Path) -> None:
    b = page.b
    document = tmp_path / "office-handbook.md"
    document.write_text("# Office\n\nThe office opens at nine. The guest wifi password is blue-falcon-42.\n")

    # given the knowledge panel
    b.one("knowledge-tab").click()
    panel = b.one("knowledge-panel")

    # when the user chooses a file
    b.all("knowledge-upload", within=panel)[0].send_keys(str(document))

    # then its progress shows until it is completed, and it is listed as completed
    b.one("knowledge-progress", within=panel)
    b.until(
        "the upload listed as completed",
        lambda: any(
            "office-handbook.md" in i.text and i.get_attribute("data-status") == "completed"
            for i in b.all("knowledge-item", within=panel)
        ),
        timeout=20,
    )
    b.screenshot("knowledge-uploaded")

    # when the user searches it
    search = b.one("knowledge-search", within=panel)
    search.send_keys("guest wifi password", Keys.ENTER)

    # then the hit shows the chunk's text and where it came from
    hit = b.one("knowledge-result", within=panel)
    assert "blue-falcon-42" in hit.text
    assert "office-handbook.md" in hit.text
    b.screenshot("knowledge-search")

    # when a file cannot be read, it is listed as failed with the reason
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really a pdf")
    b.all("knowledge-upload", within=panel)[0].send_keys(str(broken))
    b.until(
        "the broken file listed as failed, with why",
        lambda: any(
            "broken.pdf" in i.text and "not a readable PDF" in i.text
            for i in b.visible("knowledge-item", within=panel, data_status="failed")
        ),
        timeout=20,
    )
    b.screenshot("knowledge-failed")

    # and Escape closes the panel
    b.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    b.gone("knowledge-panel")


def test_the_users_memories_are_shown_and_one_is_deleted(page: Playground) -> None:
    b = page.b
    # given the user told the assistant something it learns
    page.select("agent", "assistant", "Assistant")
    page.new_chat()
    page.run("I like tea")

    def memories() -> list[dict[str, Any]]:
        return page.api("GET", "/memories", params={"user_id": USER}).json()["data"]

    (learned,) = b.until("the memory learned from the chat", memories, timeout=20)
    assert learned["memory"] == "The user likes tea."
    # and another user has a memory of their own
    created = page.api("POST", "/memories", json={"memory": "Bob likes coffee.", "user_id": "bob", "topics": ["food"]})
    assert created.status_code in (200, 201), created.text

    # when the user opens their memories
    b.one("memories-tab").click()
    panel = b.one("memories-panel")

    # then the memory is shown, and only this user's
    memory = b.selector("memory")
    b.until("the memory in the panel", lambda: "The user likes tea." in b.one("memories-panel").text)
    assert "Bob likes coffee." not in panel.text
    assert len(b.visible("memory")) == 1
    b.screenshot("memories")

    # when they delete it (and confirm)
    b.click("memory-delete", within=memory, hover=True)
    b.click("memory-delete-confirm", within=b.selector("memories-panel"))

    # then it leaves the panel and the server
    b.until("the memory gone from the panel", lambda: "The user likes tea." not in panel.text)
    assert memories() == []


# --- human in the loop ------------------------------------------------------------------------------------------


def test_a_paused_run_waits_for_approval_and_approving_completes_it(page: Playground) -> None:
    b = page.b
    # given the banker, whose transfers need a person's approval
    page.select("agent", "banker", "Banker")
    page.new_chat()

    # when the user asks for a payment
    page.send("pay bob")

    # then the run pauses on the call, showing the tool and its arguments, and nothing is sent yet
    approval = b.one("approval", timeout=20)
    assert "transfer" in approval.text
    assert "10" in approval.text
    assert "bob" in approval.text
    session_id = page.current_session()
    assert page.api("GET", f"/sessions/{session_id}/runs").json()[-1]["status"] == "PAUSED"
    b.screenshot("approval")

    # and the pause is kept by the server, not the page: after a reload the session still asks
    page.load()
    page.select("agent", "banker", "Banker")
    page.reopen(session_id)
    approval = b.one("approval", timeout=15)
    assert "bob" in approval.text

    # when they approve it
    done = len(page.metas())
    b.one("approve", within=approval).click()

    # then the run continues to its answer
    b.until("the approval decided (no buttons left)", lambda: not b.visible("approve") and not b.visible("reject"))
    b.until("the answer after the approval", lambda: "done: sent 10 to bob" in page.messages("assistant")[-1].text)
    b.until("the continued run's token line", lambda: len(page.metas()) > done, timeout=20)
    assert page.api("GET", f"/sessions/{session_id}/runs").json()[-1]["status"] == "COMPLETED"

    # and a rejected call is what the model is told, and never runs
    page.send("pay bob again")
    b.until("a second approval", lambda: len(b.visible("approval")) == 2, timeout=20)
    b.one("reject", within=b.visible("approval")[-1]).click()
    b.until(
        "the answer after the refusal",
        lambda: "done: Function call was rejected by the user" in page.messages("assistant")[-1].text,
    )


def test_a_team_paused_in_its_member_asks_for_approval_also_after_a_reload(page: Playground) -> None:
    b = page.b
    # given the team Bank, whose teller's transfers need a person's approval
    page.select("team", "bank", "Bank")
    page.new_chat()

    # when the user asks the team for a payment, then reloads the page and reopens the session
    page.send("pay bob")
    b.one("approval", timeout=20)
    session_id = page.current_session()
    assert page.api("GET", f"/sessions/{session_id}/runs").json()[-1]["status"] == "PAUSED"
    page.load()
    page.select("team", "bank", "Bank")
    page.reopen(session_id)

    # then the member's call still waits for the user, with its tool and arguments
    approval = b.one("approval", timeout=15)
    assert "transfer" in approval.text
    assert "bob" in approval.text
    b.screenshot("team-approval")

    # when they approve it, the member pays and the team answers
    b.click("approve", within=b.selector("approval"))
    b.until(
        "the team's answer after the approval",
        lambda: "team: done: sent 10 to bob" in page.messages("assistant")[-1].text,
        timeout=20,
    )
    b.until("the continued run's token line", lambda: page.metas(), timeout=20)
    b.until(
        "the stored team run COMPLETED",
        lambda: page.api("GET", f"/sessions/{session_id}/runs").json()[-1]["status"] == "COMPLETED",
    )


# --- layout -------------------------------------------------------------------------------------------------------


def test_on_a_360_px_phone_the_sidebar_folds_away_and_the_chat_fits(page: Playground) -> None:
    b = page.b
    # on a desktop the sidebar is simply there, with no toggle
    assert in_view(b, "sidebar", fully=True)
    assert not in_view(b, "sidebar-toggle")

    # given a phone-sized screen
    b.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True}
    )
    page.load()
    assert b.js("return innerWidth") == 360  # the page declares a device-width viewport

    # then the sidebar is folded away behind its toggle, and the chat takes the screen
    b.until("the sidebar folded away", lambda: not in_view(b, "sidebar"))
    assert in_view(b, "sidebar-toggle")
    assert b.js("return document.querySelector('[data-testid=chat]').getBoundingClientRect().width") >= 320
    b.screenshot("phone-360")

    # when the user opens the sidebar and picks a component
    b.one("sidebar-toggle").click()
    b.until("the sidebar shown", lambda: in_view(b, "sidebar", fully=True))
    chat = "return document.querySelector('[data-testid=chat]').getBoundingClientRect().width"
    assert b.js(chat) >= 320  # over the chat, not pushing it aside
    b.screenshot("phone-360-sidebar")
    page.select("agent", "assistant", "Assistant")

    # then the sidebar closes again, and a long answer with code still fits the width
    b.until("the sidebar closed after choosing", lambda: not in_view(b, "sidebar"))
    b.one("empty-state")  # a component chosen opens an empty chat
    page.run("weather please")
    assert b.js("return document.querySelector('[data-testid=chat]').getBoundingClientRect().width") >= 320
    assert b.js("return document.documentElement.scrollWidth <= innerWidth"), "the page scrolls sideways"
    b.screenshot("phone-360-answer")

    # and choosing a session from the opened sidebar closes it too, showing that session
    session_id = page.current_session()
    page.load()
    b.one("sidebar-toggle").click()
    b.until("the sidebar shown", lambda: in_view(b, "sidebar", fully=True))
    page.select("agent", "assistant", "Assistant")
    b.one("sidebar-toggle").click()
    b.until("the sidebar shown again", lambda: in_view(b, "sidebar", fully=True))
    page.reopen(session_id)
    b.until("the sidebar closed after choosing a session", lambda: not in_view(b, "sidebar"))
    b.until("the session's answer", lambda: page.metas())


def test_the_theme_toggle_switches_light_and_dark_and_is_remembered(page: Playground) -> None:
    b = page.b

    def theme() -> tuple[str, str]:
        return b.js("return [document.documentElement.dataset.theme, getComputedStyle(document.body).backgroundColor]")

    # given the page in its first theme
    first, first_background = theme()
    assert first in ("light", "dark")
    b.screenshot(f"theme-{first}")

    # when the user toggles it
    b.one("theme-toggle").click()

    # then the page turns to the other theme, which a reload keeps
    other = "dark" if first == "light" else "light"
    b.until(f"the {other} theme", lambda: theme()[0] == other)
    b.until("the background to change", lambda: theme()[1] != first_background)
    page.load()
    assert theme()[0] == other
    b.screenshot(f"theme-{other}")

    # and toggling again goes back
    b.one("theme-toggle").click()
    b.until(f"the {first} theme again", lambda: theme()[0] == first)


def test_a_first_visit_opens_the_playground_at_the_root_in_the_systems_theme(page: Playground) -> None:
    b = page.b
    try:
        for scheme in ("dark", "light"):
            # given a visitor whose system is in this scheme and who never chose a theme
            b.js("localStorage.clear()")
            b.driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
            )

            # when they open the server's root
            b.driver.get(f"{page.server.url}/")

            # then they land on the playground, in that theme
            b.until("the playground", lambda: b.all("component"), timeout=15)
            assert b.driver.current_url.rstrip("/").endswith("/playground"), b.driver.current_url
            assert b.js("return document.documentElement.dataset.theme") == scheme
            b.screenshot(f"first-visit-{scheme}")
    finally:
        b.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
        b.js("localStorage.clear()")
