"""A real browser on another origin calls the live server the way a front end does (agno's Agent UI does the
same): headless Chromium loads a page from `http://localhost:<port>`, which lists the agents and reads a
streamed answer from the API on `http://127.0.0.1:<other port>` (preflight, then SSE read as it arrives). A
page from an origin the server does not admit is blocked by the browser.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e._browser import require_browser
from tests.e2e.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.e2e

PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
const api = "%(api)s";
async function main() {
  const result = {};
  try {
    const agents = await fetch(api + "/agents", {headers: {"Authorization": "Bearer %(key)s"}});
    result.agents = (await agents.json()).map(a => a.id);
    const form = new FormData();
    form.append("message", "hello from the browser");
    form.append("stream", "true");
    const run = await fetch(api + "/agents/echo/runs", {
      method: "POST", body: form, headers: {"Authorization": "Bearer %(key)s"},
    });
    const reader = run.body.getReader();
    const decoder = new TextDecoder();
    let text = "", reads = 0;
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      reads += 1;
      text += decoder.decode(value, {stream: true});
    }
    result.events = text.split("\\n").filter(l => l.startsWith("event: ")).map(l => l.slice(7));
    result.content = text.split("\\n").filter(l => l.startsWith("data: "))
      .map(l => JSON.parse(l.slice(6))).filter(e => e.event === "RunContent").map(e => e.content).join("");
    result.reads = reads;
  } catch (error) {
    result.error = String(error);
  }
  document.getElementById("out").textContent = JSON.stringify(result);
  await fetch("/result", {method: "POST", body: JSON.stringify(result)});  // back to the page's own origin
}
main();
</script></body></html>"""


@dataclass
class FrontEnd:
    """The front end's own server: its pages, and what they report back."""

    port: int = 0
    pages: dict[str, str] = field(default_factory=dict[str, str])
    results: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)

    def browse(self, chromium: str, url: str, tmp_path: Path) -> dict[str, Any]:
        """Open `url` in headless Chromium; what its script reported (within a minute)."""
        profile = tmp_path / f"chromium-{time.monotonic_ns()}"
        browser = subprocess.Popen(
            [
                chromium,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--user-data-dir={profile}",
                url,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return self.results.get(timeout=60)
        finally:
            browser.terminate()
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait()


@pytest.fixture
def front_end() -> Iterator[FrontEnd]:
    """A static server for the front end's page, on localhost (one origin) and 127.0.0.1 (another); the page
    posts what it saw back to it."""
    front = FrontEnd()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = front.pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()
            front.results.put(json.loads(data))

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    front.port = int(server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield front
    server.shutdown()
    server.server_close()


@pytest.fixture
def chromium(request: pytest.FixtureRequest) -> str:
    """Chromium's path (the test starts it itself, without a driver); skipped without it, failed in CI."""
    return require_browser(request.config, driver=False)[0]


def test_a_browser_on_another_origin_lists_the_agents_and_reads_a_streamed_answer(
    tmp_path: Path, front_end: FrontEnd, chromium: str
) -> None:
    port = front_end.port
    server: Server = start_server(
        tmp_path,
        app="tests.fakes.apps:echo_app",
        env={"STRATUS_API_KEY": "browser-key", "STRATUS_CORS_ORIGINS": f"http://localhost:{port}"},
    )
    try:
        front_end.pages["/chat.html"] = PAGE % {"api": server.url, "key": "browser-key"}

        admitted = front_end.browse(chromium, f"http://localhost:{port}/chat.html", tmp_path)
        assert admitted.get("error") is None, admitted
        assert admitted["agents"] == ["echo", "broken"]
        assert admitted["events"][0] == "RunStarted"
        assert admitted["events"][-1] == "RunCompleted"
        assert admitted["content"] == "echo: hello from the browser"

        # the same page from an origin the server does not name: the browser refuses to let it read
        refused = front_end.browse(chromium, f"http://127.0.0.1:{port}/chat.html", tmp_path)
        assert "Failed to fetch" in refused.get("error", ""), refused
    finally:
        stop_server(server)
