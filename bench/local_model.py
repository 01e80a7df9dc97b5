"""The offline model as a user meets it: how long its llama.cpp server takes to start, how fast it answers, how
long the first request after a crash waits for a new server, and whether it does the demo's job: a fixed set of
demo prompts (the time in a city, exact arithmetic, the notepad, the handbook, plain chat) run through a real
agent with the demo's tools, each scored for the right tool with valid arguments and a correct answer.

    .venv/bin/python bench/local_model.py                  # the default model (the best one installed)
    .venv/bin/python bench/local_model.py --models smollm2-135m,qwen2.5-coder-1.5b
    .venv/bin/python bench/local_model.py --models qwen2.5-coder-0.5b=/tmp/qwen-0.5b.gguf   # a file not installed

A catalogue name runs with its catalogue settings; `name=path` runs that file with the settings of `name`.
Prints one table per model and a comparison; exits 1 when the default model misses the demo's target (at least
80% of the tool prompts call the right tool with valid arguments, and the median answer within 10 s). Works
offline. The figures depend on the CPU (the model runs on it) and on what else the machine does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# The repository's root, not this folder: bench/http.py would shadow the standard library's `http`.
sys.path.remove(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stratus import Agent, Tool
from stratus.messages import Message
from stratus.models._local_models import CATALOGUE, best_installed  # pyright: ignore[reportPrivateUsage]
from stratus.models.base import ModelRequest
from stratus.models.llama_cpp import LlamaCpp, stop_local_servers
from stratus.run import RunOutput
from stratus.storage.sqlite import SqliteStore

PROMPT = [Message(role="user", content="Tell me a short story about a lighthouse keeper.")]
ROUNDS = 3
TOOL_TARGET = 0.8  # at least 80% of the tool prompts: the right tool, with valid arguments
SECONDS_TARGET = 10.0  # the median answer, tool round trips included

# --- the demo's tools and instructions, as the demo declares them ----------------------------------------------

from examples.demo import ASSISTANT_INSTRUCTIONS as INSTRUCTIONS  # noqa: E402
from examples.demo import Notepad, calculate, current_time  # noqa: E402

HANDBOOK = Path(__file__).resolve().parents[1] / "examples" / "handbook"
# The facts the knowledge prompts ask about, for a checkout without the demo's handbook.
_FALLBACK_HANDBOOK = {
    "leave.md": "## Annual leave\nEvery employee gets **27 days of paid annual leave** a year.\n\n"
    "## Other leave\nParental leave: **20 weeks fully paid** for every parent.",
    "expenses.md": "## Claiming\nClaim every expense in Ledgerly within **30 days**, with a photo of the receipt.\n\n"
    "## Limits\nhotel: 160 euros a night; 220 euros a night in London, Zurich and New York",
    "office.md": "## Office hours\nCore hours, when everyone is reachable, are **10:30 to 15:00**.",
}


def _sections() -> list[tuple[str, str]]:
    """The handbook's sections (a passage each, as the demo's Markdown chunker makes them)."""
    files = {p.name: p.read_text() for p in sorted(HANDBOOK.glob("*.md"))} if HANDBOOK.is_dir() else {}
    out: list[tuple[str, str]] = []
    for name, text in (files or _FALLBACK_HANDBOOK).items():
        for section in re.split(r"\n(?=## )", text):
            if section.strip():
                out.append((name, section.strip()))
    return out


def handbook_search() -> Tool:
    """The agent's knowledge search tool as the demo's knowledge gives it (same name, description and result
    shape), ranking the handbook's sections by shared words: the model's part is what is measured, and this
    needs no embedding model."""
    sections = _sections()

    def words(text: str) -> set[str]:
        return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}

    async def search_knowledge_base(query: str) -> str:
        """Search the knowledge base for passages relevant to the query. Use it before answering any
        question the documents might cover; quote what you use.

        Args:
            query: What to look for, in a few words or a question.
        """
        asked = words(query)
        ranked = sorted(sections, key=lambda s: -len(asked & words(s[1])))[:3]
        return "\n\n".join(f"[{name}]\n{text}" for name, text in ranked)

    return Tool(
        search_knowledge_base,
        description="Search the knowledge base (the Kestrel Labs employee handbook: leave, office hours, expenses, "
        "on-call rota) for passages relevant to the query.",
    )


# --- the prompts ------------------------------------------------------------------------------------------------

Check = Callable[[dict[str, Any]], bool]


def _plain(text: str) -> bool:
    """An answer in words: not empty, and not a tool call written out (`name(...)`, `{"name": ...}`)."""
    return bool(text.strip()) and not re.match(r"\W*[a-z_]+\(", text) and '"name"' not in text


@dataclass(frozen=True)
class Prompt:
    text: str
    kind: str  # time, arithmetic, notepad, knowledge, chat
    tool: str | None  # the tool it needs (None: none)
    args: Check = lambda a: True
    answer: Callable[[str], bool] = lambda s: bool(s.strip())
    session: str | None = None  # prompts sharing a session run in order, in one session


def _now(zone: str) -> datetime:
    return datetime.now(ZoneInfo(zone))


def _time_in(zone: str) -> Callable[[str], bool]:
    """An answer that gives the time in `zone` now, within two minutes (12- or 24-hour clock)."""

    def check(text: str) -> bool:
        now = _now(zone)
        for minutes in (-2, -1, 0, 1, 2):
            t = datetime.fromtimestamp(now.timestamp() + 60 * minutes, ZoneInfo(zone))
            h12 = t.hour % 12 or 12
            if f"{t.hour:02d}:{t.minute:02d}" in text or re.search(rf"\b{h12}:{t.minute:02d}\b", text):
                return True
        return False

    return check


def _zone(expected: str) -> Check:
    return lambda a: str(a.get("timezone", "")).lower() == expected.lower()


def _has(*needles: str) -> Callable[[str], bool]:
    return lambda text: _plain(text) and all(n.lower() in text.lower().replace(",", "") for n in needles)


def _evaluates(value: float, tolerance: float = 1e-9) -> Check:
    def check(a: dict[str, Any]) -> bool:
        try:
            got = calculate.function(str(a.get("expression", "")))
            return math.isclose(float(got), value, rel_tol=tolerance)
        except Exception:
            return False

    return check


def _weekday(zone: str) -> Callable[[str], bool]:
    return lambda text: _now(zone).strftime("%A").lower() in text.lower()


PROMPTS: list[Prompt] = [
    Prompt("What time is it in Tokyo?", "time", "current_time", _zone("Asia/Tokyo"), _time_in("Asia/Tokyo")),
    Prompt(
        "What's the time in Paris right now?", "time", "current_time", _zone("Europe/Paris"), _time_in("Europe/Paris")
    ),
    Prompt(
        "What is the current time in New York?",
        "time",
        "current_time",
        _zone("America/New_York"),
        _time_in("America/New_York"),
    ),
    Prompt("What time is it in London?", "time", "current_time", _zone("Europe/London"), _time_in("Europe/London")),
    Prompt(
        "Which day of the week is it today in Sydney?",
        "time",
        "current_time",
        _zone("Australia/Sydney"),
        _weekday("Australia/Sydney"),
    ),
    Prompt("What is 17 * 23?", "arithmetic", "calculate", _evaluates(391), _has("391")),
    Prompt(
        "Compute 123456789 * 987654321 exactly.",
        "arithmetic",
        "calculate",
        _evaluates(121932631112635269),
        _has("121932631112635269"),
    ),
    Prompt("What is 2 to the power of 40?", "arithmetic", "calculate", _evaluates(2**40), _has("1099511627776")),
    Prompt("What is (1234 + 5678) * 91?", "arithmetic", "calculate", _evaluates(628992), _has("628992")),
    Prompt("What is the square root of 2?", "arithmetic", "calculate", _evaluates(math.sqrt(2)), _has("1.414")),
    Prompt("Divide 1000 by 7.", "arithmetic", "calculate", _evaluates(1000 / 7), _has("142.857")),
    Prompt(
        "Please note that my dentist appointment is on Friday at 10am.",
        "notepad",
        "add_note",
        lambda a: "dentist" in str(a.get("text", "")).lower(),
        session="notes",
    ),
    Prompt(
        "Add a note: buy oat milk.",
        "notepad",
        "add_note",
        lambda a: "oat milk" in str(a.get("text", "")).lower(),
        session="notes",
    ),
    Prompt(
        "What notes have I written down?", "notepad", "list_notes", answer=_has("dentist", "oat milk"), session="notes"
    ),
    Prompt(
        "How many days of paid annual leave do Kestrel Labs employees get?",
        "knowledge",
        "search_knowledge_base",
        lambda a: bool(str(a.get("query", "")).strip()),
        _has("27"),
    ),
    Prompt(
        "Within how many days must I claim an expense at Kestrel Labs?",
        "knowledge",
        "search_knowledge_base",
        lambda a: bool(str(a.get("query", "")).strip()),
        _has("30"),
    ),
    Prompt(
        "What are the core hours at the Kestrel Labs office?",
        "knowledge",
        "search_knowledge_base",
        lambda a: bool(str(a.get("query", "")).strip()),
        _has("10:30", "15:00"),
    ),
    Prompt(
        "How many weeks of parental leave does Kestrel Labs give?",
        "knowledge",
        "search_knowledge_base",
        lambda a: bool(str(a.get("query", "")).strip()),
        _has("20"),
    ),
    Prompt(
        "What is the Kestrel Labs hotel limit per night in London?",
        "knowledge",
        "search_knowledge_base",
        lambda a: bool(str(a.get("query", "")).strip()),
        _has("220"),
    ),
    Prompt("Hi! How are you today?", "chat", None),
    Prompt("What is the capital of France?", "chat", None, answer=_has("Paris")),
    Prompt("Write a haiku about autumn.", "chat", None),
    Prompt("Tell me one fun fact about octopuses.", "chat", None, answer=_has("octop")),
    Prompt("Thanks, that's all for now!", "chat", None),
]


@dataclass
class Outcome:
    prompt: Prompt
    seconds: float
    tools: list[tuple[str, dict[str, Any], bool]]  # name, arguments, failed
    content: str
    error: str | None = None
    in_context: bool = False  # the handbook's passages came with the message (the demo as built): no call needed
    answer_ok: bool = field(init=False)  # judged when the run ends: a time answer is right only then

    def __post_init__(self) -> None:
        self.answer_ok = self.error is None and self.prompt.answer(self.content)

    @property
    def needs_tool(self) -> bool:
        """Whether this prompt is one of the tool prompts the target counts."""
        return self.prompt.tool is not None and not (self.in_context and self.prompt.kind == "knowledge")

    @property
    def tool_ok(self) -> bool:
        if self.in_context and self.prompt.kind == "knowledge":  # answered from the passages; a search is fine too
            return all(name == self.prompt.tool for name, _, _ in self.tools)
        if self.prompt.tool is None:
            return not self.tools
        if not self.tools:
            return False
        name, args, failed = self.tools[0]
        return name == self.prompt.tool and not failed and self.prompt.args(args)


@dataclass
class Figures:
    label: str
    package_mb: float
    start_s: float
    first_token_ms: float
    tokens_per_s: float
    recovery_s: float | None
    rss_mb: float
    outcomes: list[Outcome] = field(default_factory=list[Outcome])

    def tool_score(self) -> tuple[int, int]:
        tool = [o for o in self.outcomes if o.needs_tool]
        return sum(o.tool_ok for o in tool), len(tool)

    def chat_score(self) -> tuple[int, int]:
        chat = [o for o in self.outcomes if o.prompt.tool is None]
        return sum(o.tool_ok for o in chat), len(chat)

    def answer_score(self) -> tuple[int, int]:
        return sum(o.answer_ok for o in self.outcomes), len(self.outcomes)

    def seconds(self) -> tuple[float, float]:
        s = [o.seconds for o in self.outcomes]
        return (statistics.median(s), max(s)) if s else (math.nan, math.nan)

    def meets_target(self) -> bool:
        right, total = self.tool_score()
        return total > 0 and right / total >= TOOL_TARGET and self.seconds()[0] < SECONDS_TARGET


def _rss_mb(pid: int | None) -> float:
    """The server process's peak resident memory (VmHWM), in MB."""
    if pid is None:
        return math.nan
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return math.nan


def build_model(spec: str, args: argparse.Namespace) -> tuple[str, LlamaCpp, float]:
    """The model a `--models` entry names, its label and its package size (MB)."""
    name, _, path = spec.partition("=")
    local = CATALOGUE.get(name)
    overrides: dict[str, Any] = {"max_tokens": 256, "temperature": 0.0, "seed": 1}
    if args.threads is not None:
        overrides["n_threads"] = args.threads
    if args.tool_format is not None:
        overrides["tool_format"] = args.tool_format
    label = name
    if path:
        if local is not None:  # the catalogue's settings for a file joined elsewhere
            overrides.setdefault("tool_format", local.tool_format)
            overrides.setdefault("n_threads", local.n_threads)
            overrides |= {"id": local.id, "n_ctx": local.n_ctx}
            if local.chat_template and not args.gguf_template:
                overrides["chat_template"] = local.chat_template
        model = LlamaCpp(path, **overrides)
        size = Path(path).stat().st_size / 1e6
    else:
        if local is not None and args.gguf_template and local.chat_template:
            overrides["chat_template"] = None
        model = LlamaCpp(name, **overrides)
        if local is not None and args.gguf_template:
            model.chat_template = None
        size = (local.size if local is not None else Path(name).stat().st_size) / 1e6
    label += f" ({model.tool_format}, {model.n_threads or 'all'} threads"
    label += ", GGUF template)" if args.gguf_template else ")"
    return label, model, size


async def speed(model: LlamaCpp, recover: bool) -> tuple[float, float, float, float | None, float]:
    """Server start, time to first token, tokens/s, recovery after a kill (s), peak RSS (MB)."""
    started = time.perf_counter()
    await asyncio.to_thread(model.load)
    start_s = time.perf_counter() - started
    first_token: list[float] = []
    rates: list[float] = []
    for _ in range(ROUNDS):
        sent = time.perf_counter()
        first: float | None = None
        tokens = 0
        async for delta in model.stream(PROMPT, ModelRequest()):
            if delta.content and first is None:
                first = time.perf_counter() - sent
            if delta.usage is not None:
                tokens = delta.usage.output_tokens
        took = time.perf_counter() - sent
        first_token.append(first or took)
        rates.append(tokens / max(took - (first or 0.0), 1e-9))
    rss = _rss_mb(model.server.pid)
    recovery_s: float | None = None
    if recover:
        pid = model.server.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await asyncio.to_thread(model.server.exit_reason, 5.0)
        sent = time.perf_counter()
        await model.request([Message(role="user", content="Hi")], ModelRequest())
        recovery_s = time.perf_counter() - sent
    return start_s, statistics.median(first_token) * 1000, statistics.median(rates), recovery_s, rss


def _as_built(model: LlamaCpp) -> Agent:
    """The demo's own assistant on `model`, as `examples.demo.build_app` makes it (run from a scratch folder,
    so its store and index are the bench's): the handbook's passages in its context, searched with the real
    embedder, and learning on."""
    from examples.demo import build_app  # pyright: ignore[reportUnknownVariableType]

    app = build_app(model)
    app.attach_store()
    return app.agents["assistant"]


async def demo_prompts(
    model: LlamaCpp, prompts: list[Prompt], verbose: bool, instructions: str, as_built: bool = False
) -> list[Outcome]:
    """Each prompt through an agent set up like the demo's assistant (its tools, instructions and history), or
    with `as_built` through the demo's assistant itself."""
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "bench.db")
        if as_built:
            here = os.getcwd()
            os.chdir(folder)  # the demo's store and knowledge index go under ./.stratus: the scratch folder's
            try:
                agent = _as_built(model)
                assert agent.knowledge is not None
                await agent.knowledge.ensure_sources()  # indexed before the clock starts, as the server does
            finally:
                os.chdir(here)
        else:
            agent = Agent(
                id="assistant",
                name="Assistant",
                description="You are the Kestrel Labs help desk assistant: friendly and brief.",
                instructions=instructions,
                model=model,
                tools=[current_time, calculate, Notepad(), handbook_search()],
                store=store,
                add_history_to_context=True,
                num_history_runs=3,
            )
        sessions: dict[str, str] = {}
        outcomes: list[Outcome] = []
        for prompt in prompts:
            session = sessions.setdefault(prompt.session, uuid.uuid4().hex) if prompt.session else uuid.uuid4().hex
            sent = time.perf_counter()
            out: RunOutput = await agent.arun(prompt.text, session_id=session, user_id="bench")
            seconds = time.perf_counter() - sent
            calls = [(t.tool_name, dict(t.tool_args), bool(t.tool_call_error)) for t in out.tools]
            outcome = Outcome(prompt, seconds, calls, str(out.content or ""), out.error, in_context=as_built)
            outcomes.append(outcome)
            if verbose:
                mark = ("T" if outcome.tool_ok else "t") + ("A" if outcome.answer_ok else "a")
                shown = outcome.content.replace("\n", " ")[:110]
                print(f"  [{mark}] {seconds:5.1f}s {prompt.text[:45]:45} {calls[:2]} -> {shown}", flush=True)
        await store.close()
        return outcomes


def report(f: Figures) -> None:
    right, total = f.tool_score()
    quiet, chats = f.chat_score()
    answers, prompts = f.answer_score()
    p50, worst = f.seconds()
    print(f"\n{f.label}")
    print("| measure | result |")
    print("|---|---|")
    print(f"| package size | {f.package_mb:,.0f} MB |")
    print(f"| server start (spawn, load the model, warm up) | {f.start_s:.2f} s |")
    print(f"| time to first token, median | {f.first_token_ms:.0f} ms |")
    print(f"| generation, median | {f.tokens_per_s:.1f} tokens/s |")
    if f.recovery_s is not None:
        print(f"| first answer after the server was killed (a new server, then the answer) | {f.recovery_s:.2f} s |")
    print(f"| server peak RSS | {f.rss_mb:,.0f} MB |")
    print(f"| tool prompts: right tool, valid arguments | {right}/{total} |")
    print(f"| chat prompts: no tool called | {quiet}/{chats} |")
    print(f"| correct answers | {answers}/{prompts} |")
    print(f"| seconds per prompt, p50 / max | {p50:.1f} / {worst:.1f} |")
    kinds = sorted({o.prompt.kind for o in f.outcomes})
    for kind in kinds:
        mine = [o for o in f.outcomes if o.prompt.kind == kind]
        tools, answers = sum(o.tool_ok for o in mine), sum(o.answer_ok for o in mine)
        print(f"| {kind}: tool / answer | {tools}/{len(mine)} / {answers}/{len(mine)} |")


def compare(all_figures: list[Figures]) -> None:
    print(
        "\n| model | package | start | tokens/s | RSS | right tool, valid args | no tool on chat | correct answers "
        "| s/prompt p50 / max |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for f in all_figures:
        right, total = f.tool_score()
        quiet, chats = f.chat_score()
        answers, prompts = f.answer_score()
        p50, worst = f.seconds()
        print(
            f"| {f.label} | {f.package_mb:,.0f} MB | {f.start_s:.1f} s | {f.tokens_per_s:.1f} | {f.rss_mb:,.0f} MB "
            f"| {right}/{total} ({right / max(total, 1):.0%}) | {quiet}/{chats} | {answers}/{prompts} "
            f"| {p50:.1f} / {worst:.1f} |"
        )


async def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    default = best_installed()
    parser.add_argument("--models", default=default.name if default else "smollm2-135m", help="comma-separated")
    parser.add_argument("--threads", type=int, default=None, help="n_threads (default: the catalogue's)")
    parser.add_argument("--tool-format", choices=("text", "native"), default=None)
    parser.add_argument("--gguf-template", action="store_true", help="the GGUF's own chat template, not ours")
    parser.add_argument("--only", default=None, help="run only the prompts of these kinds (comma-separated)")
    parser.add_argument("--no-recovery", action="store_true", help="skip the kill-and-recover measure")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measures (start and prompts only)")
    parser.add_argument("--instructions", default=None, help="a file of agent instructions to use instead")
    parser.add_argument(
        "--as-built",
        action="store_true",
        help="the demo's own assistant (examples.demo: the handbook's passages in its context, learning on) "
        "instead of the stand-in with a search tool; handbook prompts are then judged by their answers",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print each prompt's outcome")
    args = parser.parse_args()
    prompts = [p for p in PROMPTS if args.only is None or p.kind in args.only.split(",")]
    instructions = await asyncio.to_thread(Path(args.instructions).read_text) if args.instructions else INSTRUCTIONS
    load = os.getloadavg()
    print(
        f"{datetime.now():%Y-%m-%d %H:%M} on {os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"{len(prompts)} demo prompts"
    )
    results: list[Figures] = []
    for spec in args.models.split(","):
        label, model, size = build_model(spec.strip(), args)
        print(f"\n== {label}", flush=True)
        if args.no_speed:
            started = time.perf_counter()
            await asyncio.to_thread(model.load)
            start_s, ttft, rate, recovery, rss = time.perf_counter() - started, math.nan, math.nan, None, math.nan
        else:
            start_s, ttft, rate, recovery, rss = await speed(model, recover=not args.no_recovery)
        outcomes = await demo_prompts(model, prompts, args.verbose, instructions, args.as_built)
        rss = max(rss, _rss_mb(model.server.pid)) if not math.isnan(rss) else _rss_mb(model.server.pid)
        figures = Figures(label, size, start_s, ttft, rate, recovery, rss, outcomes)
        report(figures)
        results.append(figures)
        await model.aclose()
        stop_local_servers()
    compare(results)
    target_name = default.name if default else None
    judged = [f for f, spec in zip(results, args.models.split(","), strict=True) if spec.split("=")[0] == target_name]
    for f in judged:
        verdict = "meets" if f.meets_target() else "MISSES"
        print(
            f"\nthe default ({f.label}) {verdict} the target: >= {TOOL_TARGET:.0%} of tool prompts right, "
            f"median answer < {SECONDS_TARGET:g} s"
        )
    return 1 if any(not f.meets_target() for f in judged) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
