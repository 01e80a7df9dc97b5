"""`LearningMachine`: what an agent learns from its runs, kept small, and recalled when it helps.

Four stores, all in the app's `Store` (so they work on SQLite and DynamoDB alike):

- the **user profile**: structured fields (name, role, language...), one record per user;
- **user memories**: facts and preferences with topics (the `/memories` API), each with its embedding;
- the **session summary**: on the session record (AgentOS' `session_summary`);
- **learned knowledge**: insights worth sharing with every user of the agent, also indexed in a vector store.

Modes: `always` extracts after each run, off the request path (a `LearningJob` on the learning queue);
`agentic` gives the agent tools to save, search, update and forget memories itself; `off` does nothing.
Both `always` and `agentic` recall: before a run, the profile, the session summary, the most relevant
memories and insights go into the system message within a token budget.

Growth is bounded: a candidate that is a near-duplicate of a stored item (cosine similarity of their
embeddings at or above `duplicate_similarity`) updates that item instead of adding one; a memory the
extraction says corrects an older one replaces it; each store has a cap (per user, per agent) over which the
least used, then least recently touched, items are evicted; `ttl_seconds` lets memories expire.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from stratus.exceptions import ConfigError
from stratus.knowledge._space import EmbeddingSpace
from stratus.learning._ranking import by_words, most_similar, ranked, rounded
from stratus.learning._records import (
    EXTRACTION_INSTRUCTIONS,
    INSIGHT,
    PROFILE,
    RUN_MARK,
    Extraction,
    LearningMode,
    LearningReport,
    MemoryCandidate,
    Recall,
)
from stratus.learning.queue import InProcessLearningQueue, LearningError, LearningJob, LearningQueue
from stratus.storage._cursor import every
from stratus.storage.base import ClaimStatus
from stratus.storage.records import LearningQuery, LearningRecord, MemoryQuery, UserMemory
from stratus.tools import Tool

if TYPE_CHECKING:
    from stratus.agent import Agent
    from stratus.knowledge.embedders.base import Embedder
    from stratus.knowledge.vectordb.base import VectorDb
    from stratus.models.base import Model
    from stratus.storage.base import Store

__all__ = [
    "INSIGHT",
    "PROFILE",
    "Extraction",
    "LearningMachine",
    "LearningMode",
    "LearningReport",
    "MemoryCandidate",
    "Recall",
]

logger = logging.getLogger(__name__)

_MARK_SECONDS = 15 * 24 * 3600  # longer than SQS' longest retention (14 days)
LEARN_LEASE_SECONDS = 900.0
"""How long a worker holds a learning job (its claim's lease): longer than the learning worker's timeout and
than any Lambda invocation, so a job is taken over only from a worker that is gone."""
_NAMESPACE = uuid.UUID("6f1e2a3b-5c4d-4e8f-9a0b-1c2d3e4f5a6b")


class LearningMachine(EmbeddingSpace):
    """Configure what an agent learns (see the module's docstring). Give it to `Agent(learning=...)`.

    Args:
        mode: `always`, `agentic` or `off`.
        model: The extraction model (a cheaper one is fine); the agent's own by default.
        embedder: Embeds memories and insights; `default_embedder()` by default (OpenAI with a key, else
            all-MiniLM-L6-v2 offline, Titan on AWS).
        user_profile, user_memories, session_summary, learned_knowledge: Which stores to keep.
        vector_db: Where learned knowledge is indexed; `STRATUS_VECTOR_DB`'s store, collection `learnings`,
            by default.
        max_memories_per_user, max_profile_fields, max_insights_per_agent: The caps.
        duplicate_similarity: The cosine similarity at which a candidate is the same item as a stored one.
        ttl_seconds: Memories not updated for this long expire.
        recall_tokens: The token budget of what recall adds to the context.
        recall_memories, recall_insights: At most this many memories and insights per run.
        recall_by: How recall picks the most relevant memories and insights when there are more than fit:
            `words` (BM25-style word matching; the default: no model call before the model call, so recall
            costs the run a millisecond or two) or `meaning` (embeds the user's message first: better
            matches, at the price of one embedding call on the request path).
        queue: Where finished runs go; an in-process queue by default (the app sets SQS on AWS).
        publish_timeout: The longest a run waits to queue itself (a queue outage must not slow answers).
    """

    def __init__(
        self,
        mode: LearningMode | str = LearningMode.ALWAYS,
        *,
        model: Model | str | None = None,
        embedder: Embedder | None = None,
        user_profile: bool = True,
        user_memories: bool = True,
        session_summary: bool = True,
        learned_knowledge: bool = False,
        vector_db: VectorDb | None = None,
        max_memories_per_user: int = 100,
        max_profile_fields: int = 30,
        max_insights_per_agent: int = 500,
        duplicate_similarity: float = 0.9,
        ttl_seconds: int | None = None,
        recall_tokens: int = 800,
        recall_memories: int = 8,
        recall_insights: int = 3,
        recall_by: Literal["words", "meaning"] = "words",
        queue: LearningQueue | None = None,
        publish_timeout: float = 2.0,
    ) -> None:
        try:
            self.mode = LearningMode(mode)
        except ValueError:
            raise ConfigError(f"learning mode {mode!r}: use always, agentic or off") from None
        if min(max_memories_per_user, max_profile_fields, max_insights_per_agent) < 1:
            raise ConfigError("learning caps must be at least 1")
        if not 0.0 < duplicate_similarity <= 1.0:
            raise ConfigError("duplicate_similarity must be in (0, 1]")
        self.model = model
        self.user_profile = user_profile
        self.user_memories = user_memories
        self.session_summary = session_summary
        self.learned_knowledge = learned_knowledge
        self.max_memories_per_user = max_memories_per_user
        self.max_profile_fields = max_profile_fields
        self.max_insights_per_agent = max_insights_per_agent
        self.duplicate_similarity = duplicate_similarity
        self.ttl_seconds = ttl_seconds
        self.recall_tokens = recall_tokens
        self.recall_memories = recall_memories
        self.recall_insights = recall_insights
        if recall_by not in ("words", "meaning"):
            raise ConfigError(f"recall_by {recall_by!r}: use words or meaning")
        self.recall_by = recall_by
        self._init_space("learnings", embedder, vector_db)  # one collection per embedder, as for knowledge
        self._queue = queue
        self.publish_timeout = publish_timeout
        self._extractors: dict[int, Agent] = {}
        self._index_ready = False
        self._indexed_agents: set[str] = set()  # agents whose insights are known to be in this collection
        self._agents: dict[str, Agent] = {}  # the agents this machine serves, for the in-process worker

    def __repr__(self) -> str:
        return f"LearningMachine(mode={self.mode.value!r})"

    # --- parts, resolved on first use -------------------------------------------------------------------

    @property
    def queue(self) -> LearningQueue:
        if self._queue is None:
            self._queue = InProcessLearningQueue(self._work_in_process)
        return self._queue

    @queue.setter
    def queue(self, value: LearningQueue) -> None:
        self._queue = value

    def attach(self, agent: Agent) -> None:
        """Serve `agent` (the agent calls this; the in-process worker finds agents here)."""
        self._agents[agent.agent_id] = agent

    async def _work_in_process(self, job: LearningJob) -> LearningReport:
        agent = self._agents.get(job.agent_id)
        if agent is None or agent.store is None:
            return LearningReport(skipped="the agent or its store is gone")
        return await self.learn(agent, job)

    # --- recall (before a run) --------------------------------------------------------------------------

    async def recall(
        self,
        store: Store,
        *,
        user_id: str | None,
        agent_id: str,
        query: str,
        session_summary: dict[str, Any] | None = None,
    ) -> Recall:
        """What the run's context gets: the profile, the session summary, the most relevant memories and
        insights, within `recall_tokens`. Never raises: a store or embedder failure leaves it out."""
        if self.mode is LearningMode.OFF:
            return Recall()
        from stratus.knowledge.documents import approx_tokens

        budget = self.recall_tokens
        parts: list[str] = []
        recall = Recall()
        profile: dict[str, Any] = {}
        memories: list[UserMemory] = []
        try:
            if self.user_profile and user_id is not None:
                record = await store.get_learning(_profile_id(user_id), user_id=user_id)
                profile = dict((record.content if record else {}).get("fields") or {})
            if self.user_memories and user_id is not None:
                memories = await self.memories(store, user_id)
        except Exception as exc:
            logger.warning("recall for user %s failed; the run goes on without it: %s", user_id, exc)
        if profile:
            # One plain sentence a field ("The user's name is Ana."): a small model reads it better than "name: Ana".
            text = "\n".join(f"The user's {k.replace('_', ' ')} is {v}." for k, v in sorted(profile.items()))
            if approx_tokens(text) < budget:
                parts.append(f"<user_profile>\n{text}\n</user_profile>")
                budget -= approx_tokens(text)
        summary = (session_summary or {}).get("summary")
        if self.session_summary and isinstance(summary, str) and summary.strip() and approx_tokens(summary) < budget:
            parts.append(f"<session_summary>\n{summary.strip()}\n</session_summary>")
            budget -= approx_tokens(summary)
        query_vector: list[float] | None = None
        needs_ranking = len(memories) > self.recall_memories or (
            sum(approx_tokens(m.memory) for m in memories) > budget
        )
        if self.recall_by == "meaning" and (needs_ranking or self.learned_knowledge) and query.strip():
            try:
                query_vector = await self.embedder.embed_query(query)
            except Exception as exc:
                logger.warning("recall could not embed the query; matching words instead: %s", exc)
        if memories:
            if needs_ranking:
                memories = ranked(memories, query_vector) if query_vector else by_words(memories, query)
            lines: list[str] = []
            for memory in memories[: self.recall_memories]:
                cost = approx_tokens(memory.memory) + 2
                if cost > budget:
                    break
                budget -= cost
                lines.append(f"- {memory.memory}")
                recall.memory_ids.append(memory.memory_id)
            if lines:
                parts.append("<memories>\n" + "\n".join(lines) + "\n</memories>")
        if self.learned_knowledge and query.strip():
            try:
                lines = []
                hits = await self.search_insights(agent_id, query_vector, query, self.recall_insights, store=store)
                for hit in hits:
                    cost = approx_tokens(hit.chunk.text) + 2
                    if cost > budget:
                        break
                    budget -= cost
                    lines.append(f"- {hit.chunk.text}")
                    recall.learning_ids.append(hit.chunk.id)
                if lines:
                    parts.append("<learned_insights>\n" + "\n".join(lines) + "\n</learned_insights>")
            except Exception as exc:
                logger.warning("recall of learned insights failed; the run goes on without them: %s", exc)
        if parts:
            recall.text = (
                "What you know about the user and have learned so far (use it to answer what they ask about "
                "themselves, and wherever it helps; do not recite it):\n" + "\n".join(parts)
            )
        return recall

    async def memories(self, store: Store, user_id: str, *, embedded: bool = False) -> list[UserMemory]:
        """The user's live memories, newest first (the cap keeps them few). With `embedded`, memories without
        an embedding (added or edited over the API) get one, stored for next time."""
        found = await every(store.list_memories, MemoryQuery(user_id=user_id))
        # A memory embedded by another embedder (another length) is embedded again: comparing vectors of two
        # models would make every similarity 0, so duplicates would pile up and ranking would be lost.
        dimensions = self.embedder.dimensions if embedded else 0
        missing = [m for m in found if not m.embedding or len(m.embedding) != dimensions] if embedded else []
        if missing:
            vectors = await self.embedder.embed([m.memory for m in missing])
            for memory, vector in zip(missing, vectors, strict=True):
                memory.embedding = rounded(vector)
                await store.put_memory(memory)
        return found

    # --- publishing (after a run) -----------------------------------------------------------------------

    async def publish(self, job: LearningJob) -> None:
        """Queue a finished run. Never raises: a failure is logged and counted, and the run stands."""
        if self.mode is LearningMode.OFF:
            return
        queue = self.queue
        try:
            await queue.publish(job)
        except Exception as exc:
            queue.record_failure()
            logger.error("could not queue run %s for learning (%d so far): %s", job.run_id, queue.failed, exc)

    # --- learning (the worker) --------------------------------------------------------------------------

    async def learn(self, agent: Agent, job: LearningJob) -> LearningReport:
        """Learn from one finished run, exactly once however often the job is delivered: the job is claimed
        first (`Store.claim` on `learn:<agent_id>:<run_id>`), so a job seen before changes nothing. Raises
        `LearningError` while another worker learns from the run, and when the extraction or the store fails
        (the claim released), so the queue delivers the job again."""
        store = agent.store
        if store is None:
            return LearningReport(skipped="the agent has no store")
        if self.mode is LearningMode.OFF:
            return LearningReport(skipped="learning is off")
        claim = await store.claim(
            f"learn:{job.agent_id}:{job.run_id}", lease_seconds=LEARN_LEASE_SECONDS, keep_seconds=_MARK_SECONDS
        )
        if not claim.acquired:
            if claim.status is ClaimStatus.COMPLETED:
                return LearningReport(skipped="already learned from this run")
            raise LearningError(f"run {job.run_id} is being learned from by another worker; deliver it again later")
        try:
            report = await self._learn_claimed(agent, store, job)
        except BaseException:
            try:
                await store.release_claim(claim)
            except Exception as exc:  # the failure that got us here matters more; the lease lapses anyway
                logger.warning("could not release the learning claim on run %s: %s", job.run_id, exc)
            raise
        await store.complete_claim(claim, keep_seconds=_MARK_SECONDS)
        return report

    async def _learn_claimed(self, agent: Agent, store: Store, job: LearningJob) -> LearningReport:
        mark_id = f"run:{job.run_id}"
        if await store.get_learning(mark_id) is not None:  # learned from before claims guarded it
            return LearningReport(skipped="already learned from this run")
        run = await store.get_run(job.run_id, session_id=job.session_id)
        if run is None:
            logger.info("run %s is gone; nothing to learn", job.run_id)
            return LearningReport(skipped="the run is gone")
        report = LearningReport()
        await self._count_uses(store, job.recalled, job.user_id)
        if self.mode is LearningMode.ALWAYS and job.user_id is None and not self._learns_without_a_user:
            report.skipped = "an anonymous run, and nothing is kept but what is about its user"
        elif self.mode is LearningMode.ALWAYS:
            extraction = await self._extract(agent, store, job, run.input.input_content if run.input else "", run)
            await self._apply(agent, store, job, extraction, report)
        await store.put_learning(
            LearningRecord(
                learning_id=mark_id,
                learning_type=RUN_MARK,
                content=report.to_dict(),
                user_id=job.user_id,
                agent_id=job.agent_id,
                session_id=job.session_id,
                expires_at=int(time.time()) + _MARK_SECONDS,
            )
        )
        return report

    @property
    def _learns_without_a_user(self) -> bool:
        """Whether a run with no user has anything to learn: its session's summary or shared insights (no
        extraction is asked for otherwise: on a local model it takes the CPU from the next answer)."""
        return self.session_summary or self.learned_knowledge

    async def _count_uses(self, store: Store, ids: Sequence[str], user_id: str | None) -> None:
        now = time.time()
        for item_id in ids:
            memory = await store.get_memory(item_id, user_id=user_id)
            if memory is not None:
                await store.put_memory(replace(memory, uses=memory.uses + 1, last_used=now))
                continue
            learning = await store.get_learning(item_id)
            if learning is not None and learning.learning_type == INSIGHT:
                await store.put_learning(replace(learning, uses=learning.uses + 1, last_used=now))

    def _extractor(self, agent: Agent) -> Agent:
        from stratus.agent import Agent as AgentClass

        model = self.model or agent.get_model()
        key = id(model)
        extractor = self._extractors.get(key)
        if extractor is None:
            extractor = AgentClass(
                id=f"{agent.agent_id}-learner",
                model=model,
                instructions=EXTRACTION_INSTRUCTIONS,
                output_schema=Extraction,
            )
            self._extractors[key] = extractor
        return extractor

    async def _extract(self, agent: Agent, store: Store, job: LearningJob, said: str, run: Any) -> Extraction:
        known: list[UserMemory] = []
        profile: dict[str, Any] = {}
        if job.user_id is not None:
            if self.user_memories:
                known = await self.memories(store, job.user_id)
            if self.user_profile:
                record = await store.get_learning(_profile_id(job.user_id), user_id=job.user_id)
                profile = dict((record.content if record else {}).get("fields") or {})
        session = await store.get_session(job.session_id)
        summary = ((session.summary if session else None) or {}).get("summary")
        answer = run.content if isinstance(run.content, str) else str(run.content)
        sections = [
            f"<user_says>\n{said}\n</user_says>",
            f"<assistant_answers>\n{answer[:4000]}\n</assistant_answers>",
        ]
        if job.user_id is None:
            sections.append("The user is anonymous: leave `profile`, `memories` and `forget` empty.")
        if profile:
            sections.append(
                "<known_profile>\n" + "\n".join(f"{k}: {v}" for k, v in profile.items()) + "\n</known_profile>"
            )
        if known:
            if len(known) > 30:
                try:
                    vector = await self.embedder.embed_query(f"{said}\n{answer[:1000]}")
                    known = ranked(known, vector)
                except Exception as exc:
                    logger.warning("could not rank known memories for extraction: %s", exc)
            listed = "\n".join(f"[{m.memory_id}] {m.memory}" for m in known[:30])
            sections.append(f"<known_memories>\n{listed}\n</known_memories>")
        if self.session_summary and isinstance(summary, str) and summary:
            sections.append(f"<previous_session_summary>\n{summary}\n</previous_session_summary>")
        output = await self._extractor(agent).arun("\n\n".join(sections))
        if output.status.value != "COMPLETED" or not isinstance(output.content, Extraction):
            raise LearningError(f"extraction from run {job.run_id} failed: {output.error or 'no answer'}")
        return output.content

    async def _apply(
        self, agent: Agent, store: Store, job: LearningJob, extraction: Extraction, report: LearningReport
    ) -> None:
        user_id = job.user_id
        if user_id is not None and self.user_profile and extraction.profile:
            report.profile_fields = await self._update_profile(store, user_id, agent.agent_id, extraction.profile)
        if user_id is not None and self.user_memories:
            known = {m.memory_id: m for m in await self.memories(store, user_id, embedded=True)}
            for memory_id in dict.fromkeys(extraction.forget):
                if memory_id in known and await store.delete_memory(memory_id, user_id=user_id):
                    del known[memory_id]
                    report.memories_forgotten += 1
            for index, candidate in enumerate(extraction.memories):
                outcome = await self.remember(
                    store,
                    known,
                    user_id=user_id,
                    agent_id=agent.agent_id,
                    text=candidate.memory,
                    topics=candidate.topics,
                    replaces=candidate.replaces,
                    memory_id=str(uuid.uuid5(_NAMESPACE, f"{job.run_id}:{index}")),
                    source_run_id=job.run_id,
                )
                if outcome == "added":
                    report.memories_added += 1
                elif outcome == "merged":
                    report.memories_merged += 1
                elif outcome == "replaced":
                    report.memories_replaced += 1
            report.memories_evicted = await self.evict_memories(store, user_id, known)
        if self.session_summary and extraction.session_summary and extraction.session_summary.strip():
            text = extraction.session_summary.strip()[:4000]
            updated = await store.update_session(
                job.session_id, summary={"summary": text, "updated_at": int(time.time())}
            )
            report.summary = updated is not None
        if self.learned_knowledge and extraction.insights:
            for index, insight in enumerate(extraction.insights):
                outcome = await self.save_insight(
                    store, agent.agent_id, insight, learning_id=str(uuid.uuid5(_NAMESPACE, f"{job.run_id}:i{index}"))
                )
                if outcome == "added":
                    report.insights_added += 1
                elif outcome == "merged":
                    report.insights_merged += 1
            report.insights_evicted = await self.evict_insights(store, agent.agent_id)

    # --- the stores -------------------------------------------------------------------------------------

    async def _update_profile(self, store: Store, user_id: str, agent_id: str, changes: dict[str, str | None]) -> int:
        record = await store.get_learning(_profile_id(user_id), user_id=user_id)
        content = dict(record.content) if record else {}
        fields: dict[str, Any] = dict(content.get("fields") or {})
        touched: dict[str, float] = dict(content.get("touched") or {})
        now = time.time()
        changed = 0
        for key, value in changes.items():
            name = key.strip().lower().replace(" ", "_")[:60]
            if not name:
                continue
            if value is None or not str(value).strip():
                if fields.pop(name, None) is not None:
                    touched.pop(name, None)
                    changed += 1
                continue
            text = str(value).strip()[:300]
            if fields.get(name) != text:
                changed += 1
            fields[name] = text
            touched[name] = now
        while len(fields) > self.max_profile_fields:  # drop the field left unchanged the longest
            oldest = min(fields, key=lambda k: touched.get(k, 0.0))
            del fields[oldest]
            touched.pop(oldest, None)
        if changed:
            await store.put_learning(
                LearningRecord(
                    learning_id=_profile_id(user_id),
                    learning_type=PROFILE,
                    namespace="user",
                    content={"fields": fields, "touched": touched},
                    user_id=user_id,
                    agent_id=agent_id,
                    created_at=record.created_at if record else 0.0,
                )
            )
        return changed

    async def remember(
        self,
        store: Store,
        known: dict[str, UserMemory],
        *,
        user_id: str,
        agent_id: str | None,
        text: str,
        topics: Sequence[str],
        replaces: str | None = None,
        memory_id: str | None = None,
        source_run_id: str | None = None,
    ) -> str:
        """Store one memory of `user_id`: replace the memory it corrects, merge it into a near-duplicate, or
        add it. `known` (the user's memories by id) is kept up to date. Returns replaced, merged or added."""
        text = " ".join(text.split())[:500]
        if not text:
            return "skipped"
        clean_topics = list(dict.fromkeys(t.strip().lower() for t in topics if t.strip()))[:5]
        vector = rounded(await self.embedder.embed_query(text))
        expires = int(time.time()) + self.ttl_seconds if self.ttl_seconds else None
        old = known.get(replaces) if replaces else None
        outcome = "replaced"
        if old is None:
            old, similarity = most_similar(known.values(), vector)
            outcome = "merged" if old is not None and similarity >= self.duplicate_similarity else "added"
            if outcome == "added":
                old = None
        if old is not None:
            updated = replace(
                old,
                memory=text,
                topics=list(dict.fromkeys([*clean_topics, *(old.topics if outcome == "merged" else [])]))[:5],
                embedding=vector,
                agent_id=agent_id or old.agent_id,
                source_run_id=source_run_id or old.source_run_id,
                expires_at=expires,
            )
            known[old.memory_id] = await store.put_memory(updated)
            return outcome
        memory = UserMemory(
            memory_id=memory_id or str(uuid.uuid4()),
            memory=text,
            user_id=user_id,
            topics=clean_topics,
            agent_id=agent_id,
            source_run_id=source_run_id,
            embedding=vector,
            expires_at=expires,
        )
        known[memory.memory_id] = await store.put_memory(memory)
        return "added"

    async def evict_memories(self, store: Store, user_id: str, known: dict[str, UserMemory]) -> int:
        extra = len(known) - self.max_memories_per_user
        if extra <= 0:
            return 0
        order = sorted(known.values(), key=lambda m: (m.uses, m.last_used or m.updated_at, m.created_at))
        evicted = 0
        for memory in order[:extra]:
            if await store.delete_memory(memory.memory_id, user_id=user_id):
                del known[memory.memory_id]
                evicted += 1
        return evicted

    async def ensure_index(self) -> None:
        if not self._index_ready:
            await self.vector_db.create()
            self._index_ready = True

    async def _insights(self, store: Store, agent_id: str) -> list[LearningRecord]:
        return await every(store.list_learnings, LearningQuery(agent_id=agent_id, shared=True, learning_type=INSIGHT))

    async def index_agent(self, store: Store, agent_id: str) -> int:
        """Make sure this embedder's collection holds exactly the agent's stored insights: the store holds
        them and the index is derived, so after a change of embedder (or a lost index) the missing ones are
        embedded here, and ones deleted meanwhile are dropped; once per agent and process. Returns how many
        were indexed now."""
        if agent_id in self._indexed_agents:
            return 0
        from stratus.knowledge.documents import Chunk
        from stratus.knowledge.vectordb.base import VectorDbError

        await self.ensure_index()
        records = {r.learning_id: r for r in await self._insights(store, agent_id) if _insight_text(r)}
        present: set[str]
        try:
            present = {c.id for c in await self.vector_db.chunks({"agent_id": agent_id})}
        except VectorDbError:  # a store that cannot list its chunks: fill it only when it holds none of them
            present = set(records) if await self.vector_db.count({"agent_id": agent_id}) else set()
        stale = sorted(present - set(records))
        if stale:
            await self.vector_db.delete(stale)
        missing = [r for learning_id, r in records.items() if learning_id not in present]
        for start in range(0, len(missing), 64):
            batch = missing[start : start + 64]
            texts = [_insight_text(r) for r in batch]
            vectors = await self.embedder.embed(texts)
            await self.vector_db.upsert(
                [
                    Chunk(
                        id=r.learning_id,
                        content_id=r.learning_id,
                        text=text,
                        metadata={"agent_id": agent_id},
                        embedding=vector,
                    )
                    for r, text, vector in zip(batch, texts, vectors, strict=True)
                ]
            )
        if missing or stale:
            logger.info(
                "learned insights of agent %s for embedder %s: %d indexed, %d dropped",
                agent_id,
                self.embedder.id,
                len(missing),
                len(stale),
            )
        self._indexed_agents.add(agent_id)
        return len(missing)

    async def search_insights(
        self, agent_id: str, vector: list[float] | None, text: str, limit: int, *, store: Store | None = None
    ) -> list[Any]:
        """The agent's insights for a query: by words (BM25) without a vector, by meaning and words with one.
        With `store`, insights stored but not yet in this embedder's collection are indexed first."""
        from stratus.knowledge.vectordb.base import SearchMode

        if store is not None:
            await self.index_agent(store, agent_id)
        await self.ensure_index()
        if vector is None:
            mode = SearchMode.KEYWORD
        else:
            mode = SearchMode.HYBRID if text.strip() else SearchMode.VECTOR
        return await self.vector_db.search(
            vector=vector, text=text or None, mode=mode, filters={"agent_id": agent_id}, limit=limit
        )

    async def save_insight(self, store: Store, agent_id: str, text: str, *, learning_id: str | None = None) -> str:
        """Store an insight for every user of `agent_id`: merged into a near-duplicate, or added."""
        from stratus.knowledge.documents import Chunk
        from stratus.knowledge.vectordb.base import SearchMode

        text = " ".join(text.split())[:1000]
        if not text:
            return "skipped"
        vector = await self.embedder.embed_query(text)
        await self.index_agent(store, agent_id)  # so a near-duplicate stored under another embedder is found
        nearest = await self.vector_db.search(
            vector=vector, mode=SearchMode.VECTOR, filters={"agent_id": agent_id}, limit=1
        )
        if nearest and nearest[0].score >= self.duplicate_similarity:
            existing = await store.get_learning(nearest[0].chunk.id)
            if existing is not None:
                await store.put_learning(replace(existing, content={**existing.content, "insight": text}))
                await self.vector_db.upsert([replace(nearest[0].chunk, text=text, embedding=vector)])
                return "merged"
        record = LearningRecord(
            learning_id=learning_id or str(uuid.uuid4()),
            learning_type=INSIGHT,
            namespace="agent",
            content={"insight": text},
            agent_id=agent_id,
        )
        await store.put_learning(record)
        chunk = Chunk(
            id=record.learning_id,
            content_id=record.learning_id,
            text=text,
            metadata={"agent_id": agent_id},
            embedding=vector,
        )
        await self.vector_db.upsert([chunk])
        return "added"

    async def evict_insights(self, store: Store, agent_id: str) -> int:
        found = await self._insights(store, agent_id)
        extra = len(found) - self.max_insights_per_agent
        if extra <= 0:
            return 0
        order = sorted(found, key=lambda r: (r.uses, r.last_used or r.updated_at, r.created_at))
        gone = [r.learning_id for r in order[:extra]]
        for learning_id in gone:
            await store.delete_learning(learning_id)
        await self.vector_db.delete(gone)
        return len(gone)

    async def forget_user(self, store: Store, user_id: str) -> int:
        """Delete everything learned about one user (profile and memories). Returns how many records."""
        deleted = 0
        for memory in await self.memories(store, user_id):
            deleted += await store.delete_memory(memory.memory_id, user_id=user_id)
        deleted += await store.delete_learning(_profile_id(user_id), user_id=user_id)
        return deleted

    # --- agentic mode -----------------------------------------------------------------------------------

    def tools(self, store: Store, *, user_id: str | None, agent_id: str) -> list[Tool]:
        """The tools `agentic` mode gives a run, bound to its user."""
        from stratus.learning._tools import memory_tools

        return memory_tools(self, store, user_id=user_id, agent_id=agent_id)


def _profile_id(user_id: str) -> str:
    return f"profile:{user_id}"


def _insight_text(record: LearningRecord) -> str:
    return str(record.content.get("insight") or "").strip()
