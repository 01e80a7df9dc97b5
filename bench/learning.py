"""The learning machine under load: bounded growth after 1,000 runs, and what learning costs a run.

    python bench/learning.py

Growth: 1,000 runs by 20 users (50 each) on one agent with learning `always` and learned knowledge. Each run
states one to three facts drawn from its user's 40 (so most are repeats), each time in one of several
phrasings ("The user likes tea.", "The user really likes tea.", "The user is fond of tea."), sometimes a move
to another city (a correction), and now and then a tip out of 60 (also rephrased) for every user. The
extraction model is scripted (it returns those statements as structured output); the embedder is the real
all-MiniLM-L6-v2 (offline), so near-duplicates are found by meaning. Caps: 30 memories per user, 40
insights per agent. Printed: what was stated, what was stored, merged, replaced and evicted.

Latency: the same agent with learning `off` and `always`, 200 runs each (interleaved), with a model that
answers after 100 ms of waiting, as an API model does (extraction takes its model the same 100 ms). The run
latency is the wall time of `arun`; learning happens in process, in the background, concurrently with the
next runs. Target (issue 6): `always` within 5% of `off`.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stratus import Agent, RunStatus
from stratus.knowledge.embedders.base import Embedder
from stratus.knowledge.vectordb.embedded import EmbeddedVectorDb
from stratus.learning import INSIGHT, LearningMachine
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel
from stratus.storage import LearningQuery, MemoryQuery, every
from stratus.storage.sqlite import SqliteStore

USERS = 20
RUNS = 1000
FACTS_PER_USER = 40
TIPS = 60
MEMORY_CAP = 30
INSIGHT_CAP = 40
LATENCY_RUNS = 200
MODEL_SECONDS = 0.1
TARGET_OVERHEAD = 0.05

_THINGS = (
    "tea coffee jazz chess hiking sushi trains cats dogs gardening opera cycling poetry football tennis painting "
    "baking skiing sailing yoga cinema theatre knitting surfing climbing rowing pottery karaoke photography "
    "astronomy birdwatching origami fencing archery golf bowling swimming running dancing cooking"
)
THINGS = _THINGS.split()
_CITIES = "Oslo Bergen Paris Lyon Rome Milan Berlin Munich Vienna Prague"
CITIES = _CITIES.split()
PHRASINGS = ("The user likes {}.", "The user really likes {}.", "The user is fond of {}.")
TIP_TOPICS = [
    f"{a} {b}"
    for a in ("refund", "booking", "invoice", "password", "delivery", "contract")
    for b in (
        "requests",
        "questions",
        "problems",
        "changes",
        "deadlines",
        "errors",
        "reminders",
        "exports",
        "imports",
        "reports",
    )
]
TIP_PHRASINGS = ("For {}, ask for the reference number first.", "With {}, always ask for the reference number first.")


def embedder() -> tuple[Embedder, str]:
    try:
        from stratus.knowledge.embedders.local import LocalEmbedder

        local = LocalEmbedder()
        local.load()
        return local, "all-MiniLM-L6-v2 (local)"
    except Exception:
        from stratus.knowledge.embedders.testing import HashEmbedder

        return HashEmbedder(256), "HashEmbedder (the local extra is not installed)"


def extractor(delay: float = 0.0) -> FunctionModel:
    """Turns the scripted user message (a JSON plan) into the extraction the machine expects."""

    async def extract(messages: list[Message], params: ModelRequest) -> str:
        if delay:
            await asyncio.sleep(delay)
        prompt = messages[-1].content or ""
        said = re.search(r"<user_says>\n(.*?)\n</user_says>", prompt, re.S)
        plan = json.loads(said.group(1)) if said else {}
        known = dict(re.findall(r"^\[([^\]]+)\] (.*)$", prompt, re.M))
        memories: list[dict[str, Any]] = [{"memory": m, "topics": ["hobbies"]} for m in plan.get("memories", [])]
        if "city" in plan:
            old = next((i for i, m in known.items() if "lives in" in m), None)
            memories.append({"memory": f"The user lives in {plan['city']}.", "topics": ["home"], "replaces": old})
        return json.dumps({"memories": memories, "insights": plan.get("insights", []), "session_summary": None})

    return FunctionModel(extract)


def chat(delay: float) -> FunctionModel:
    async def answer(messages: list[Message], params: ModelRequest) -> str:
        if delay:
            await asyncio.sleep(delay)
        return "Noted."

    return FunctionModel(answer)


def plan(rng: random.Random, user: int) -> dict[str, Any]:
    facts = THINGS[:FACTS_PER_USER]
    picked = rng.sample(facts[user % 7 :] + facts[: user % 7], rng.randint(1, 3))
    out: dict[str, Any] = {"memories": [rng.choice(PHRASINGS).format(thing) for thing in picked]}
    if rng.random() < 0.1:
        out["city"] = rng.choice(CITIES)
    if rng.random() < 0.3:
        out["insights"] = [rng.choice(TIP_PHRASINGS).format(rng.choice(TIP_TOPICS))]
    return out


async def growth(folder: Path, embed: Embedder) -> dict[str, Any]:
    store = SqliteStore(folder / "growth.db")
    learner = LearningMachine(
        model=extractor(),
        embedder=embed,
        vector_db=EmbeddedVectorDb("learnings", dimensions=embed.dimensions, path=folder / "vectors"),
        learned_knowledge=True,
        max_memories_per_user=MEMORY_CAP,
        max_insights_per_agent=INSIGHT_CAP,
    )
    agent = Agent(id="helper", model=chat(0.0), store=store, learning=learner)
    rng = random.Random(42)
    stated = {"memories": 0, "corrections": 0, "insights": 0}
    distinct: dict[int, set[str]] = {}
    started = time.perf_counter()
    for n in range(RUNS):
        user = n % USERS
        step = plan(rng, user)
        stated["memories"] += len(step["memories"])
        stated["corrections"] += "city" in step
        stated["insights"] += len(step.get("insights", []))
        distinct.setdefault(user, set()).update(re.sub(r".* ", "", m) for m in step["memories"])
        out = await agent.arun(json.dumps(step), user_id=f"user{user}", session_id=f"s{n}")
        assert out.status is RunStatus.COMPLETED, out.error
    await asyncio.wait_for(learner.queue.drain(), 600)
    elapsed = time.perf_counter() - started
    per_user = []
    homes = []
    for user in range(USERS):
        listed = await store.list_memories(MemoryQuery(user_id=f"user{user}", limit=1000))
        found, total = listed.items, listed.total
        per_user.append(total)
        homes.append(sum("lives in" in m.memory for m in found))
    insights = (await store.list_learnings(LearningQuery(agent_id="helper", shared=True, learning_type=INSIGHT))).total
    marks = await every(store.list_learnings, LearningQuery(learning_type="_run_learned"))
    reports = [r.content for r in marks]
    totals = (
        {key: sum(int(r.get(key) or 0) for r in reports) for key in reports[0] if key != "skipped"} if reports else {}
    )
    await store.close()
    return {
        "elapsed": elapsed,
        "stated": stated,
        "distinct_per_user": statistics.fmean(len(v) for v in distinct.values()),
        "per_user": per_user,
        "homes": homes,
        "insights": insights,
        "totals": totals,
        "learned_runs": len(reports),
        "failed": learner.queue.failed,
    }


async def latency(folder: Path, embed: Embedder) -> dict[str, list[float]]:
    store = SqliteStore(folder / "latency.db")
    machine = LearningMachine(
        model=extractor(MODEL_SECONDS),
        embedder=embed,
        vector_db=EmbeddedVectorDb("latency", dimensions=embed.dimensions, path=folder / "vectors"),
        learned_knowledge=True,
    )
    agents = {
        "off": Agent(id="plain", model=chat(MODEL_SECONDS), store=store),
        "always": Agent(id="learner", model=chat(MODEL_SECONDS), store=store, learning=machine),
    }
    rng = random.Random(7)
    for n in range(40):  # every user has memories to recall first
        await agents["always"].arun(json.dumps(plan(rng, n % 10)), user_id=f"user{n % 10}", session_id=f"w{n}")
    await asyncio.wait_for(machine.queue.drain(), 600)
    times: dict[str, list[float]] = {"off": [], "always": []}
    for n in range(LATENCY_RUNS * 2):
        mode = ("off", "always")[n % 2] if (n // 2) % 2 == 0 else ("always", "off")[n % 2]
        message = json.dumps(plan(rng, n % 10))
        started = time.perf_counter()
        out = await agents[mode].arun(message, user_id=f"user{n % 10}", session_id=f"l{n}")
        times[mode].append(time.perf_counter() - started)
        assert out.status is RunStatus.COMPLETED
    await asyncio.wait_for(machine.queue.drain(), 600)
    await store.close()
    return times


async def main() -> None:
    embed, name = embedder()
    print(f"embedder: {name}")
    with tempfile.TemporaryDirectory() as folder:
        g = await growth(Path(folder), embed)
        t = g["totals"]
        print(f"\ngrowth: {RUNS} runs, {USERS} users, learned from {g['learned_runs']} runs in {g['elapsed']:.1f} s")
        print(
            f"  stated: {g['stated']['memories']} memories ({g['distinct_per_user']:.1f} distinct facts per user), "
            f"{g['stated']['corrections']} moves, {g['stated']['insights']} tips"
        )
        print(
            f"  memories per user: max {max(g['per_user'])}, mean {statistics.fmean(g['per_user']):.1f} "
            f"(cap {MEMORY_CAP}); at most {max(g['homes'])} home city per user"
        )
        print(
            f"  memories: {t.get('memories_added', 0)} added, {t.get('memories_merged', 0)} merged as duplicates, "
            f"{t.get('memories_replaced', 0)} replaced by corrections, {t.get('memories_evicted', 0)} evicted"
        )
        print(
            f"  insights: {g['insights']} stored (cap {INSIGHT_CAP}); {t.get('insights_added', 0)} added, "
            f"{t.get('insights_merged', 0)} merged, {t.get('insights_evicted', 0)} evicted; failures {g['failed']}"
        )
        ok = max(g["per_user"]) <= MEMORY_CAP and g["insights"] <= INSIGHT_CAP and max(g["homes"]) <= 1
        print(f"  every store within its cap, one home city each: {'yes' if ok else 'NO'}")

        times = await latency(Path(folder), embed)
        off, on = times["off"], times["always"]
        mean_off, mean_on = statistics.fmean(off), statistics.fmean(on)
        p50_off, p50_on = statistics.median(off), statistics.median(on)
        overhead = mean_on / mean_off - 1
        print(f"\nlatency, {LATENCY_RUNS} runs each, model answering in {MODEL_SECONDS * 1000:.0f} ms:")
        print(f"  off:    mean {mean_off * 1000:.1f} ms, p50 {p50_off * 1000:.1f} ms")
        print(f"  always: mean {mean_on * 1000:.1f} ms, p50 {p50_on * 1000:.1f} ms")
        verdict = "met" if overhead <= TARGET_OVERHEAD else "MISSED"
        print(
            f"  always costs {overhead * 100:+.1f}% ({(mean_on - mean_off) * 1000:+.2f} ms a run; "
            f"target <= {TARGET_OVERHEAD * 100:.0f}%): {verdict}"
        )


if __name__ == "__main__":
    asyncio.run(main())
