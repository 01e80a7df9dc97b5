"""Headless Chromium for the browser tests, driven by selenium through Debian's chromedriver.

Without Chromium or chromedriver a browser test skips on a developer's machine (with one line in pytest's
summary that says how to install them) and fails in CI (`CI` set), where it must run rather than vanish. Each
test's screenshots land in `build/test-artifacts/<area>/` (CI uploads that folder); a failing test leaves a
screenshot and the browser's console log there too, and the summary names the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

__all__ = [
    "ARTIFACTS",
    "Browser",
    "BrowserSetup",
    "Within",
    "browser_session",
    "chromium_and_driver",
    "require_browser",
    "start_browser",
]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "build" / "test-artifacts"
INSTALL = (
    "run .ci/install-chromium.sh as root, or: sudo apt-get install --no-install-recommends chromium chromium-driver"
)

T = TypeVar("T")
Within = WebElement | str | None
"""Where to look: the whole page (None), inside an element, or inside what a CSS selector matches."""


def chromium_and_driver() -> tuple[str | None, str | None]:
    """Where Chromium and chromedriver are installed, if they are."""
    browser = next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
    )
    return browser, shutil.which("chromedriver")


@dataclass(eq=False)  # a plugin: pytest keeps plugins in sets, so it must hash (by identity)
class BrowserSetup:
    """What the browser tests saw this session: the artefact folders written and whether they had to skip."""

    folders: set[Path] = field(default_factory=set[Path])
    skipped: set[str] = field(default_factory=set[str])
    reports: dict[str, pytest.TestReport] = field(default_factory=dict[str, pytest.TestReport])

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        report = yield
        if report.failed:
            self.reports[item.nodeid] = report
        return report

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for reason in sorted(self.skipped):
            terminalreporter.write_line(f"browser tests skipped: {reason}", yellow=True)
        for folder in sorted(self.folders):
            count = len(list(folder.glob("*")))
            terminalreporter.write_line(f"browser test artefacts ({count} files): {folder}")


def _setup(config: pytest.Config) -> BrowserSetup:
    setup = config.pluginmanager.get_plugin("stratus-browser")
    if setup is None:
        setup = BrowserSetup()
        config.pluginmanager.register(setup, "stratus-browser")
    assert isinstance(setup, BrowserSetup)
    return setup


def require_browser(config: pytest.Config, *, driver: bool = True) -> tuple[str, str]:
    """Chromium's and chromedriver's paths (the driver's is "" with `driver=False`, for a test that starts the
    browser itself); skips the test without them, and fails it in CI."""
    found_browser, found_driver = chromium_and_driver()
    if not driver:
        found_driver = found_driver or ""
    if found_browser and found_driver is not None:
        return found_browser, found_driver
    needed = (("chromium", found_browser), ("chromedriver", found_driver))
    missing = " and ".join(name for name, path in needed if path is None)
    message = f"needs {missing} ({INSTALL})"
    if os.environ.get("CI"):
        pytest.fail(message)  # in CI the browser tests must run, not vanish
    _setup(config).skipped.add(message)
    pytest.skip(message)


class Browser:
    """One headless Chromium for a module's tests: find elements by their `data-testid`, wait for what a user
    would see, and save screenshots under `folder`."""

    def __init__(self, driver: WebDriver, folder: Path, setup: BrowserSetup) -> None:
        self.driver = driver
        self.folder = folder
        self.setup = setup
        self.console: list[dict[str, Any]] = []

    # --- finding ---------------------------------------------------------------------------------------------

    @staticmethod
    def selector(testid: str, **attributes: str) -> str:
        """The CSS selector for `data-testid=testid` with the given `data-*`/aria attributes (`data_kind="team"`)."""
        css = f'[data-testid="{testid}"]'
        for name, value in attributes.items():
            css += f'[{name.replace("_", "-")}="{value}"]'
        return css

    def all(self, testid: str, within: Within = None, **attributes: str) -> list[WebElement]:
        """The elements with this test id, inside `within`: an element, or a selector (looked up afresh each
        time, so a list the page re-renders never leaves a stale reference behind)."""
        css = self.selector(testid, **attributes)
        if isinstance(within, str):
            return list(self.driver.find_elements(By.CSS_SELECTOR, f"{within} {css}"))
        root: Any = within if within is not None else self.driver
        return list(root.find_elements(By.CSS_SELECTOR, css))

    def visible(self, testid: str, within: Within = None, **attributes: str) -> list[WebElement]:
        shown: list[WebElement] = []
        for element in self.all(testid, within, **attributes):
            try:
                if element.is_displayed():
                    shown.append(element)
            except StaleElementReferenceException:
                continue
        return shown

    def until(self, what: str, condition: Callable[[], T | bool | None], timeout: float = 10) -> T:
        """Wait (polling) until `condition()` is truthy and return it; on a timeout, fail saying `what`."""

        def check(_: Any) -> Any:
            try:
                return condition()
            except StaleElementReferenceException:
                return False  # the page re-rendered under us: look again

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(check)
        except TimeoutException:
            raise AssertionError(f"waited {timeout:g} s for {what}") from None

    def one(self, testid: str, within: Within = None, timeout: float = 10, **attributes: str) -> WebElement:
        """The first visible element with this test id, waiting for it."""
        described = self.selector(testid, **attributes)

        def first() -> WebElement | None:
            shown = self.visible(testid, within, **attributes)
            return shown[0] if shown else None

        return self.until(f"a visible {described}", first, timeout)

    def click(
        self, testid: str, within: Within = None, timeout: float = 10, hover: bool = False, **attributes: str
    ) -> None:
        """Click the first visible element with this test id (found afresh until the click lands, so a re-render
        in between is no failure); `hover` moves the mouse over `within` first, where actions show on hover."""

        def press() -> bool:
            if hover and isinstance(within, str):
                rows = self.driver.find_elements(By.CSS_SELECTOR, within)
                if not rows:
                    return False
                ActionChains(self.driver).move_to_element(rows[0]).perform()
            shown = self.visible(testid, within, **attributes)
            if not shown:
                return False
            shown[0].click()
            return True

        self.until(f"a click on {self.selector(testid, **attributes)}", press, timeout)

    def gone(self, testid: str, within: Within = None, timeout: float = 10, **attributes: str) -> None:
        self.until(
            f"no visible {self.selector(testid, **attributes)}",
            lambda: not self.visible(testid, within, **attributes),
            timeout,
        )

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    # --- artefacts -------------------------------------------------------------------------------------------

    def screenshot(self, name: str) -> Path:
        """Save what the page looks like now as `<folder>/<name>.png`."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.setup.folders.add(self.folder)
        path = self.folder / f"{_slug(name)}.png"
        self.driver.save_screenshot(str(path))
        return path

    def read_console(self) -> list[dict[str, Any]]:
        """The browser console's entries since the last read (kept in `console` too)."""
        try:
            entries: list[dict[str, Any]] = list(self.driver.get_log("browser"))
        except WebDriverException:
            entries = []
        self.console.extend(entries)
        return entries

    def save_failure(self, name: str) -> None:
        """What a failing test leaves behind: a screenshot and the console log, beside the other artefacts."""
        with contextlib.suppress(WebDriverException):
            self.screenshot(f"FAILED-{name}")
        self.read_console()
        log = self.folder / f"FAILED-{_slug(name)}.console.log"
        log.write_text("\n".join(json.dumps(entry) for entry in self.console) + "\n")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")[:120]


def start_browser(config: pytest.Config, folder: Path, profile: Path, width: int = 1280, height: int = 900) -> Browser:
    """Headless Chromium (skipped without it, failed in CI) with its console log kept for the artefacts."""
    browser, driver = require_browser(config)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--window-size={width},{height}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    setup = _setup(config)
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    chrome.set_script_timeout(10)
    chrome.set_page_load_timeout(30)
    return Browser(chrome, folder, setup)


def browser_session(config: pytest.Config, folder: Path, profile: Path) -> Iterator[Browser]:
    """A generator for a module fixture: one browser, quit at the end; `folder` starts empty (no stale shots)."""
    shutil.rmtree(folder, ignore_errors=True)
    browser = start_browser(config, folder, profile)
    try:
        yield browser
    finally:
        browser.driver.quit()
