"""A fake OpenAI moderation endpoint (`POST /v1/moderations`) on 127.0.0.1, with OpenAI's response shape.

It classifies by a small lexicon per category (`LEXICON`), a stand-in for OpenAI's classifier: tests of the
moderation guardrail check the wiring (what is sent, how a verdict and its categories are read, failures),
not the quality of OpenAI's model. A scripted `ModerationError` at the head of the queue answers instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import pytest

from tests.fakes._http import FakeHandler, FakeServer

__all__ = ["CATEGORIES", "LEXICON", "FakeModerationServer", "ModerationError", "moderation_server"]

CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

LEXICON: dict[str, tuple[str, ...]] = {
    "violence": (r"\bkill\b", r"\bstab\b", r"\bshoot (?:him|her|them|you|up)\b", r"\bbeat (?:him|her|them|you) up\b"),
    "violence/graphic": (r"\bdismember", r"\bgore\b", r"\bdisembowel"),
    "harassment": (r"\byou(?:'re| are) (?:a )?(?:worthless|pathetic|disgusting|stupid)\b", r"\bnobody likes you\b"),
    "harassment/threatening": (r"\bi(?:'ll| will) (?:find|hurt|get) you\b", r"\bwatch your back\b"),
    "hate": (r"\b(?:all|those) \w+ (?:people )?(?:are|should be) (?:vermin|subhuman|animals|exterminated)\b",),
    "self-harm": (r"\bhurt myself\b", r"\bcut myself\b", r"\bend my life\b"),
    "self-harm/intent": (r"\bwant to die\b", r"\bkill myself\b", r"\bend it all\b"),
    "illicit": (r"\bcook meth\b", r"\bbuy (?:a )?(?:stolen|fake) (?:passport|credit card)s?\b", r"\bpick a lock to\b"),
    "illicit/violent": (r"\bmake a (?:pipe )?bomb\b", r"\bbuild an explosive\b"),
}
_COMPILED = {cat: [re.compile(p, re.IGNORECASE) for p in ps] for cat, ps in LEXICON.items()}


def classify(text: str) -> dict[str, Any]:
    """One moderation result, as OpenAI shapes it."""
    categories = {cat: any(p.search(text) for p in _COMPILED.get(cat, [])) for cat in CATEGORIES}
    scores = {cat: 0.97 if on else 0.001 for cat, on in categories.items()}
    return {
        "flagged": any(categories.values()),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": {cat: ["text"] for cat in CATEGORIES},
    }


@dataclass(slots=True)
class ModerationError:
    status: int = 500
    message: str = "The server had an error while processing your request."


@dataclass(slots=True)
class ModerationRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=lambda: dict[str, Any]())


class FakeModerationServer(FakeServer[ModerationError | None, ModerationRequest]):
    def __init__(self, *replies: ModerationError, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(replies, host=host, port=port, name="OpenAI moderation", handler=_Handler)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _fallback(self, request: ModerationRequest) -> ModerationError | None:
        return None


@pytest.fixture
def moderation_server() -> Iterator[FakeModerationServer]:
    with FakeModerationServer() as server:
        yield server


class _Handler(FakeHandler[FakeModerationServer]):
    def do_POST(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if path not in ("/v1/moderations", "/moderations"):
            self._send_json(
                404, {"error": {"message": f"Unknown request URL: POST {path}", "type": "invalid_request_error"}}
            )
            return
        body = cast(dict[str, Any], json.loads(raw or b"{}"))
        self._serve(ModerationRequest(path=path, headers=self._headers(), body=body))

    def _answer(self, reply: Any, request: Any) -> None:
        assert isinstance(request, ModerationRequest)
        if isinstance(reply, ModerationError):
            self._send_json(reply.status, {"error": {"message": reply.message, "type": "server_error"}})
            return
        raw_input = request.body.get("input", "")
        texts = [raw_input] if isinstance(raw_input, str) else [str(t) for t in cast(list[Any], raw_input)]
        self._send_json(
            200,
            {
                "id": f"modr-{self.owner._next_id('m')}",  # pyright: ignore[reportPrivateUsage]
                "model": request.body.get("model", "omni-moderation-latest"),
                "results": [classify(t) for t in texts],
            },
        )
