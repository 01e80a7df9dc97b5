"""The storage contract. `Store` holds the logic every backend shares (ownership checks, optimistic-locking
retries, state merges, TTL stamps, bulk deletes); a backend fills in the reads and writes underneath.

A session's metadata and each of its runs are separate records, so appending a run never rewrites a growing
blob, and loading a session's history reads only its last N runs in one query.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar, cast

from stratus.exceptions import StoreError
from stratus.run import RunOutput, RunStatus
from stratus.storage import records
from stratus.storage._metrics import DayAggregates, day_of, day_start, days_between

__all__ = [
    "CLAIM_KEEP_SECONDS",
    "METRICS_DAYS_PER_REFRESH",
    "METRICS_FRESH_SECONDS",
    "UNSET",
    "Claim",
    "ClaimHeldError",
    "ClaimStatus",
    "ConflictError",
    "MetricsRefreshRunning",
    "Store",
    "VersionConflictError",
    "merge_state",
    "visible",
]

MAX_WRITE_ATTEMPTS: Final = 60
"""How many times a write that lost an optimistic-locking race is re-read, merged and retried."""


METRICS_FRESH_SECONDS: Final = 60
"""How old the daily metrics may be before a read refreshes them first (as AgentOS does, once a minute)."""

METRICS_DAYS_PER_REFRESH: Final = 31
"""The most days one refresh computes (the first refresh of a long history takes several)."""

_METRICS_GRACE_SECONDS: Final = 3600
"""A day is computed again for this long after it ends: a run created just before midnight may be saved
after it."""

_METRICS_CLAIM: Final = "metrics:refresh"
_METRICS_LEASE_SECONDS: Final = 900.0


class MetricsRefreshRunning(StoreError):
    """A refresh of the daily metrics is already running (here or in another process)."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
"""Marks an argument of `update_session` that is not to be changed."""


class ConflictError(StoreError):
    """The record to create already exists."""


class VersionConflictError(StoreError):
    """Someone else changed the session since it was read (optimistic locking); re-read and retry."""


class ClaimHeldError(StoreError):
    """Another worker holds a live claim on this work: let the queue deliver it again later (by then it is
    done, and the delivery is a no-op, or its holder died and the lease has lapsed)."""


class ClaimStatus(StrEnum):
    IN_PROGRESS = "INPROGRESS"
    COMPLETED = "COMPLETED"


CLAIM_KEEP_SECONDS: Final = 15 * 24 * 3600
"""How long a claim is kept: longer than SQS keeps a message (14 days), so no delivery outlives it."""


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim on one piece of queue work (see `Store.claim`): its state, and whether this caller holds it."""

    key: str
    status: ClaimStatus
    token: str
    """Whoever holds it; `complete_claim` and `release_claim` act only while this token still does."""
    lease_until: float
    """Epoch seconds: while IN_PROGRESS, nobody may take the work over before then."""
    acquired: bool
    """True when this caller holds the claim: do the work, then complete or release it."""


def merge_state(current: dict[str, Any], base: dict[str, Any], final: dict[str, Any]) -> dict[str, Any]:
    """Apply a writer's changes (from `base`, the state it read, to `final`, the state it wants) onto
    `current`, the state someone else has stored since, losing nothing either of them meant:

    - a key the writer did not touch keeps its current value; a key it removed goes;
    - a list the writer only appended to (its old items first, in order) gets the new items appended to the
      current list, so concurrent appenders all keep their items (a list that did not exist counts as empty);
    - a dict the writer changed is merged key by key, by these same rules, into the current dict;
    - anything else the writer set (a scalar, a list it reordered or cut, a value of another type) is its
      value: the last writer wins there, and only there.
    """
    merged = dict(current)
    for key, value in final.items():
        if key in base and base[key] == value:
            continue  # untouched by this writer
        merged[key] = _merge_value(current.get(key, _ABSENT), base.get(key, _ABSENT), value)
    for key in base:
        if key not in final:
            merged.pop(key, None)
    return merged


_ABSENT: Final = object()


def _merge_value(current: object, base: object, final: object) -> object:
    old = None if base is _ABSENT else base
    if isinstance(final, list):
        new = cast(list[Any], final)
        if (old is None or isinstance(old, list)) and isinstance(current, list):
            before, now = cast(list[Any], old or []), cast(list[Any], current)
            if new[: len(before)] == before:
                return [*now, *new[len(before) :]]
        return new
    if isinstance(final, dict):
        wanted = cast(dict[str, Any], final)
        if (old is None or isinstance(old, dict)) and isinstance(current, dict):
            return merge_state(cast(dict[str, Any], current), cast(dict[str, Any], old or {}), wanted)
        return wanted
    return final


class _Stamped(Protocol):
    """A memory, learning or content record: what `Store._stamp` sets."""

    created_at: float
    updated_at: float
    expires_at: int | None


def visible(owner: str | None, caller: str | None) -> bool:
    """A record is visible to a caller who names no user (auth off, local use), or to its owner."""
    return caller is None or owner == caller


class _Owned(Protocol):
    user_id: str | None


Owned = TypeVar("Owned", bound=_Owned)


def _if_visible(record: Owned | None, caller: str | None) -> Owned | None:
    """The record, if there is one and `caller` may see it (see `visible`); else None."""
    return record if record is not None and visible(record.user_id, caller) else None


class Store(ABC):
    """Where sessions, runs, memories, learnings, knowledge content records, eval runs and daily metrics live.

    Every method is async. `user_id`, when given, scopes the call to that user's records: a record of another
    user reads as absent (None, False, or left out of a list), never as forbidden. `ttl_seconds`, when set,
    stamps every write with an expiry (`expires_at`), and reads treat expired records as gone; a memory or a
    learning that carries its own `expires_at` keeps it.
    """

    ttl_seconds: int | None = None
    _location: str
    """Where the database is, as a URL (the backend's constructor sets it): what `id` is derived from."""

    @property
    def id(self) -> str:
        """A stable identifier of this database (AgentOS' `db_id`)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, self._location))

    def _expiry(self) -> int | None:
        return int(time.time()) + self.ttl_seconds if self.ttl_seconds else None

    def _stamp(self, record: _Stamped, stored_created_at: float | None, *, own_expiry: bool = True) -> float:
        """Stamp a record about to be written over the stored one (`stored_created_at`: its creation time,
        None when there is none): it keeps that creation time, is updated now, and expires by the store's
        TTL unless (`own_expiry`) it carries an expiry of its own. Returns the time stamped."""
        stamp = time.time()
        record.created_at = stored_created_at if stored_created_at is not None else (record.created_at or stamp)
        record.updated_at = stamp
        record.expires_at = record.expires_at if own_expiry and record.expires_at is not None else self._expiry()
        return stamp

    # --- sessions ---------------------------------------------------------------------------------------

    @abstractmethod
    async def _read_session(self, session_id: str) -> records.SessionRecord | None:
        """The session, whoever owns it; None if absent or expired."""

    @abstractmethod
    async def _write_session(self, session: records.SessionRecord, *, expected_version: int) -> records.SessionRecord:
        """Create the session (`expected_version` 0: it must not exist) or replace its name, state, metadata
        and summary if its stored version is still `expected_version`; bump the version. Raises
        `VersionConflictError` otherwise."""

    @abstractmethod
    async def list_sessions(self, query: records.SessionQuery) -> records.Page[records.SessionRecord]:
        """One page of sessions matching `query`, filtered, sorted and cut in the store's own query (never by
        reading every session), with the cursor of the next page and, where cheap, the total count."""

    @abstractmethod
    async def delete_session(self, session_id: str, *, user_id: str | None = None) -> bool:
        """Delete the session and all its runs; False when there was nothing (visible) to delete."""

    async def get_session(self, session_id: str, *, user_id: str | None = None) -> records.SessionRecord | None:
        """The session's metadata, or None if it does not exist or belongs to another user."""
        return _if_visible(await self._read_session(session_id), user_id)

    async def create_session(self, session: records.SessionRecord) -> records.SessionRecord:
        """Store a new session; `ConflictError` if one with its id exists (whoever owns it)."""
        stamp = time.time()
        new = replace(session, created_at=session.created_at or stamp, updated_at=stamp, expires_at=self._expiry())
        try:
            return await self._write_session(new, expected_version=0)
        except VersionConflictError:
            raise ConflictError(f"session {session.session_id!r} already exists") from None

    async def update_session(
        self,
        session_id: str,
        *,
        user_id: str | None = None,
        session_name: str | _Unset = UNSET,
        session_state: dict[str, Any] | _Unset = UNSET,
        metadata: dict[str, Any] | _Unset | None = UNSET,
        summary: dict[str, Any] | _Unset | None = UNSET,
        change: Callable[[records.SessionRecord], None] | None = None,
    ) -> records.SessionRecord | None:
        """Change a session's name, state, metadata or summary (the arguments given), and/or apply `change`
        to it, without losing a concurrent writer's change: on a version conflict the session is read again
        and the change applied again. None if the session is absent or another user's."""
        for attempt in range(MAX_WRITE_ATTEMPTS):
            current = await self.get_session(session_id, user_id=user_id)
            if current is None:
                return None
            updated = replace(current, session_state=dict(current.session_state))
            if not isinstance(session_name, _Unset):
                updated.session_name = session_name
            if not isinstance(session_state, _Unset):
                updated.session_state = dict(session_state)
            if not isinstance(metadata, _Unset):
                updated.metadata = metadata
            if not isinstance(summary, _Unset):
                updated.summary = summary
            if change is not None:
                change(updated)
            updated.updated_at = time.time()
            updated.expires_at = self._expiry()
            try:
                return await self._write_session(updated, expected_version=current.version)
            except VersionConflictError:
                await _backoff(attempt)
        raise StoreError(f"session {session_id!r}: gave up after {MAX_WRITE_ATTEMPTS} conflicting writes")

    async def delete_sessions(
        self,
        session_ids: Iterable[str],
        *,
        user_id: str | None = None,
        session_types: Collection[records.SessionType] | None = None,
    ) -> int:
        """Delete several sessions (of the given types, if any); returns how many were deleted."""
        deleted = 0
        for session_id in dict.fromkeys(session_ids):
            if session_types is not None:
                session = await self.get_session(session_id, user_id=user_id)
                if session is None or session.session_type not in session_types:
                    continue
            deleted += await self.delete_session(session_id, user_id=user_id)
        return deleted

    # --- runs -------------------------------------------------------------------------------------------

    @abstractmethod
    async def _write_run(
        self, session: records.SessionRecord, run: RunOutput, *, expected_version: int | None
    ) -> records.SessionRecord:
        """Store `run` and update its session in one atomic write: create the session if absent, add the run's
        tokens to its totals, set `updated_at` and `component_data`. With `expected_version`, also replace the
        session's state, if its version is still that (bumping it), else raise `VersionConflictError`; without,
        leave the state alone. Raise `StoreError` if the session belongs to another user."""

    async def get_runs(
        self,
        session_id: str,
        *,
        last: int | None = None,
        statuses: Collection[RunStatus] | None = None,
        user_id: str | None = None,
    ) -> list[RunOutput]:
        """The session's runs, oldest first; with `last`, only the newest `last` of them (one query)."""
        if last is not None and last <= 0:
            return []
        wanted = None if statuses is None else tuple(sorted({RunStatus(s).value for s in statuses}))
        return await self._read_runs(session_id, last=last, statuses=wanted, user_id=user_id)

    @abstractmethod
    async def _read_runs(
        self, session_id: str, *, last: int | None, statuses: tuple[str, ...] | None, user_id: str | None
    ) -> list[RunOutput]:
        """The session's live runs, oldest first: with `statuses` (status values), only those; with `last`
        (positive), only the newest `last`; with `user_id`, none unless the session is that user's."""

    @abstractmethod
    async def get_run(
        self, run_id: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> RunOutput | None:
        """One run by id, optionally checked against its session and owner."""

    async def save_run(
        self, session: records.SessionRecord, run: RunOutput, *, state_base: dict[str, Any] | None = None
    ) -> records.SessionRecord:
        """Store a finished run and its session's new state in one atomic write.

        `session` is the session as the run found it (its `version`), with the state the run ended with;
        `state_base` is the state the run started from. If the run changed the state and someone else wrote
        the session meanwhile, the run's changes are merged into the stored state (see `merge_state`) and
        the write is retried, so no writer's change is lost. A run that did not change the state never
        conflicts: concurrent runs of one session are all stored. Saving a run id again replaces that run
        without counting its tokens twice.
        """
        base = state_base if state_base is not None else {}
        wanted = session.session_state
        pending = replace(session, session_state=dict(wanted), expires_at=self._expiry())
        if not pending.created_at:
            pending.created_at = time.time()
        stored = base  # the state we believe is stored at `pending.version`
        for attempt in range(MAX_WRITE_ATTEMPTS):
            if pending.version == 0:
                expected: int | None = 0  # create: nobody may have created it meanwhile
            elif pending.session_state != stored:
                expected = pending.version  # write the state: nobody may have changed it meanwhile
            else:
                expected = None  # the state stays as stored: no race to lose
            try:
                return await self._write_run(pending, run, expected_version=expected)
            except VersionConflictError:
                current = await self._read_session(session.session_id)
                if current is None:  # deleted meanwhile: write it afresh
                    pending.version, stored = 0, {}
                    pending.session_state = merge_state({}, base, wanted)
                elif current.user_id != session.user_id:
                    raise StoreError(f"session {session.session_id!r} belongs to another user") from None
                else:
                    pending.version, stored = current.version, current.session_state
                    pending.session_state = merge_state(current.session_state, base, wanted)
                await _backoff(attempt)
        raise StoreError(f"session {session.session_id!r}: gave up after {MAX_WRITE_ATTEMPTS} conflicting writes")

    # --- memories ---------------------------------------------------------------------------------------

    @abstractmethod
    async def put_memory(self, memory: records.UserMemory) -> records.UserMemory:
        """Create or replace a memory; stamps `created_at` (first time) and `updated_at`."""

    async def get_memory(self, memory_id: str, *, user_id: str | None = None) -> records.UserMemory | None:
        """The memory, or None if it does not exist or belongs to another user."""
        return _if_visible(await self._read_memory(memory_id, user_id=user_id), user_id)

    @abstractmethod
    async def _read_memory(self, memory_id: str, *, user_id: str | None) -> records.UserMemory | None:
        """The live memory; None if absent or expired. `user_id`, when given, may narrow where it is looked
        for (the caller sees only that user's)."""

    @abstractmethod
    async def list_memories(self, query: records.MemoryQuery) -> records.Page[records.UserMemory]:
        """One page of memories matching `query` (see `list_sessions`)."""

    @abstractmethod
    async def delete_memory(self, memory_id: str, *, user_id: str | None = None) -> bool: ...

    async def delete_memories(self, memory_ids: Iterable[str], *, user_id: str | None = None) -> int:
        deleted = 0
        for memory_id in dict.fromkeys(memory_ids):
            deleted += await self.delete_memory(memory_id, user_id=user_id)
        return deleted

    @abstractmethod
    async def memory_topics(self, *, user_id: str | None = None) -> list[str]:
        """Every topic of the (user's) live memories, sorted; from an aggregate or a query bounded by the
        number of topics, never by reading every memory."""

    @abstractmethod
    async def user_memory_stats(
        self, *, user_id: str | None = None, page: int = 1, limit: int = 20, cursor: str | None = None
    ) -> records.Page[records.UserMemoryStats]:
        """Per user: how many memories, and when the newest changed; users with the newest first. Paged like
        a listing (`cursor` continues the page that returned it; else `page` counts from 1)."""

    # --- learnings --------------------------------------------------------------------------------------

    @abstractmethod
    async def put_learning(self, learning: records.LearningRecord) -> records.LearningRecord:
        """Create or replace a learning; stamps `created_at` (first time) and `updated_at`."""

    async def get_learning(self, learning_id: str, *, user_id: str | None = None) -> records.LearningRecord | None:
        """The learning, or None if it does not exist or belongs to another user."""
        return _if_visible(await self._read_learning(learning_id), user_id)

    @abstractmethod
    async def _read_learning(self, learning_id: str) -> records.LearningRecord | None:
        """The live learning, whoever owns it; None if absent or expired."""

    @abstractmethod
    async def list_learnings(self, query: records.LearningQuery) -> records.Page[records.LearningRecord]:
        """One page of learnings matching `query` (see `list_sessions`), most recently updated first by
        default."""

    async def delete_learning(self, learning_id: str, *, user_id: str | None = None) -> bool:
        """Delete the learning; False when there was nothing (visible) to delete."""
        learning = await self.get_learning(learning_id, user_id=user_id)
        return learning is not None and await self._remove_learning(learning)

    @abstractmethod
    async def _remove_learning(self, learning: records.LearningRecord) -> bool:
        """Delete this stored learning; False if it was gone meanwhile."""

    # --- knowledge content ------------------------------------------------------------------------------

    @abstractmethod
    async def put_content(self, content: records.ContentRecord) -> records.ContentRecord:
        """Create or replace a content record; stamps `created_at` (first time) and `updated_at`."""

    async def get_content(self, content_id: str, *, knowledge_id: str | None = None) -> records.ContentRecord | None:
        """The content record, or None if it does not exist (in `knowledge_id`'s knowledge base, if given)."""
        content = await self._read_content(content_id, knowledge_id=knowledge_id)
        if content is None or (knowledge_id is not None and content.knowledge_id != knowledge_id):
            return None
        return content

    @abstractmethod
    async def _read_content(self, content_id: str, *, knowledge_id: str | None) -> records.ContentRecord | None:
        """The live content record; None if absent or expired. `knowledge_id`, when given, may narrow where
        it is looked for."""

    @abstractmethod
    async def list_contents(self, query: records.ContentQuery) -> records.Page[records.ContentRecord]:
        """One page of a knowledge base's content records matching `query` (see `list_sessions`)."""

    async def delete_content(self, content_id: str, *, knowledge_id: str | None = None) -> bool:
        """Delete the content record; False when there was nothing (in `knowledge_id`, if given) to delete."""
        content = await self.get_content(content_id, knowledge_id=knowledge_id)
        return content is not None and await self._remove_content(content)

    @abstractmethod
    async def _remove_content(self, content: records.ContentRecord) -> bool:
        """Delete this stored content record; False if it was gone meanwhile."""

    # --- eval runs --------------------------------------------------------------------------------------

    @abstractmethod
    async def put_eval(self, record: records.EvalRecord) -> records.EvalRecord:
        """Create or replace an eval run; stamps `created_at` (first time) and `updated_at`."""

    async def get_eval(self, eval_id: str, *, user_id: str | None = None) -> records.EvalRecord | None:
        """The eval run, or None if it does not exist or belongs to another user."""
        return _if_visible(await self._read_eval(eval_id, user_id=user_id), user_id)

    @abstractmethod
    async def _read_eval(self, eval_id: str, *, user_id: str | None) -> records.EvalRecord | None:
        """The live eval run; None if absent or expired. `user_id`, when given, may narrow where it is looked
        for."""

    @abstractmethod
    async def list_evals(self, query: records.EvalQuery) -> records.Page[records.EvalRecord]:
        """One page of eval runs matching `query` (see `list_sessions`), newest first by default."""

    async def rename_eval(self, eval_id: str, name: str, *, user_id: str | None = None) -> records.EvalRecord | None:
        """Rename the eval run; None if it does not exist or belongs to another user."""
        record = await self.get_eval(eval_id, user_id=user_id)
        if record is None:
            return None
        record.name = name
        return await self.put_eval(record)

    async def delete_evals(self, eval_ids: Iterable[str], *, user_id: str | None = None) -> int:
        """Delete the eval runs (those visible to `user_id`); returns how many were deleted."""
        deleted = 0
        for eval_id in dict.fromkeys(eval_ids):
            record = await self.get_eval(eval_id, user_id=user_id)
            deleted += record is not None and await self._remove_eval(record)
        return deleted

    @abstractmethod
    async def _remove_eval(self, record: records.EvalRecord) -> bool:
        """Delete this stored eval run; False if it was gone meanwhile."""

    # --- daily metrics ----------------------------------------------------------------------------------
    # Aggregates kept as records, one per day and user plus one per day of everyone, so a read is one
    # query of a date range. A refresh computes the days from the first one not yet complete through
    # today (at most `METRICS_DAYS_PER_REFRESH`), from the runs created on them (never every run).

    async def get_metrics(
        self, *, starting_date: str | None = None, ending_date: str | None = None, user_id: str | None = None
    ) -> list[records.DailyMetrics]:
        """The daily metrics from `starting_date` to `ending_date` (`YYYY-MM-DD`, both included, either
        open), oldest first: of `user_id`'s runs, or of everyone's when None. Refreshes them first if the
        last refresh is older than `METRICS_FRESH_SECONDS` (and none is running)."""
        state = await self._read_metrics_state()
        if state is None or state.finished_at is None or time.time() - state.finished_at >= METRICS_FRESH_SECONDS:
            with contextlib.suppress(MetricsRefreshRunning):  # another's refresh: read what is there
                await self.refresh_metrics()
        return await self._read_metrics(starting_date, ending_date, user_id)

    async def metrics_refresh_status(self) -> records.MetricsRefresh:
        """How the last refresh of the daily metrics went (status `idle` before the first)."""
        return await self._read_metrics_state() or records.MetricsRefresh()

    async def refresh_metrics(self) -> list[records.DailyMetrics]:
        """Compute the daily metrics of every day not yet complete, through today, and keep them; returns
        what was computed. Raises `MetricsRefreshRunning` if another refresh holds the claim."""
        claim = await self.claim(_METRICS_CLAIM, lease_seconds=_METRICS_LEASE_SECONDS)
        if not claim.acquired:
            raise MetricsRefreshRunning("a refresh of the daily metrics is already running")
        state = await self._read_metrics_state() or records.MetricsRefresh()
        started = time.time()
        await self._write_metrics_state(replace(state, status="running", started_at=started, error=None))
        try:
            computed, next_day = await self._compute_metrics(state.next_day, started)
            done = records.MetricsRefresh(
                status="completed", started_at=started, finished_at=time.time(), next_day=next_day or state.next_day
            )
            await self._write_metrics_state(done)  # while the claim is held: no other refresh has started
        except Exception as exc:
            await self._write_metrics_state(
                replace(state, status="failed", started_at=started, finished_at=time.time(), error=str(exc))
            )
            raise
        finally:
            await self.release_claim(claim)
        return computed

    async def _compute_metrics(self, next_day: str | None, now: float) -> tuple[list[records.DailyMetrics], str | None]:
        first = next_day
        if first is None:
            earliest = await self._earliest_activity()
            if earliest is None:
                return [], None
            first = day_of(earliest)
        today = day_of(now)
        # A bounded stretch of days per refresh: a store with a long history catches up a refresh at a time.
        days = days_between(min(first, today), today)[:METRICS_DAYS_PER_REFRESH]
        aggregates = DayAggregates(days)
        async for batch in self._runs_on(days):
            for run in batch:
                aggregates.add(run)
        metrics = aggregates.records(today=today, now=now)
        await self._replace_metrics(days, metrics)
        if days[-1] < today:
            return metrics, day_of(day_start(days[-1]) + 24 * 3600)
        return metrics, day_of(now - _METRICS_GRACE_SECONDS)

    @abstractmethod
    async def _earliest_activity(self) -> float | None:
        """When the oldest live session or run was created (None: there is none)."""

    @abstractmethod
    def _runs_on(self, days: list[str]) -> AsyncIterator[list[RunOutput]]:
        """Every live run (top-level and child) created on these consecutive UTC days, in batches (a busy
        day's runs are never all in memory at once), by the store's own queries of those days (never by
        reading every run)."""

    @abstractmethod
    async def _replace_metrics(self, days: list[str], metrics: list[records.DailyMetrics]) -> None:
        """Make `metrics` the records of `days`: a stored record of one of them that is not among them goes."""

    @abstractmethod
    async def _read_metrics(
        self, starting_date: str | None, ending_date: str | None, user_id: str | None
    ) -> list[records.DailyMetrics]:
        """The stored records of the range, of `user_id` (None: everyone's records), oldest first."""

    @abstractmethod
    async def _read_metrics_state(self) -> records.MetricsRefresh | None: ...

    @abstractmethod
    async def _write_metrics_state(self, state: records.MetricsRefresh) -> None: ...

    async def close(self) -> None:  # noqa: B027 - optional for backends that hold nothing
        """Release connections."""

    # --- claims: exactly-once effects for queue work ----------------------------------------------------
    # A queue delivers at least once, and may hand one message to two workers at once. The work's id is
    # claimed in one conditional write before any effect: IN_PROGRESS under a lease, then COMPLETED (a later
    # delivery is a no-op) or released on failure (the queue's retry runs it). A holder that dies without
    # either loses the claim when its lease lapses, so a redelivery takes the work over.

    async def claim(self, key: str, *, lease_seconds: float, keep_seconds: int = CLAIM_KEEP_SECONDS) -> Claim:
        """Claim the work named `key`. It is this caller's (`acquired`, IN_PROGRESS for `lease_seconds`) if
        nobody claimed it, or its holder's lease has lapsed. Otherwise the stored claim comes back as it is:
        IN_PROGRESS under another holder's lease (raise `ClaimHeldError` to retry later), or COMPLETED (a
        duplicate delivery: do nothing). Keep `lease_seconds` longer than the worker can live: after it the
        work may be taken over while still running."""
        if not lease_seconds > 0:
            raise ValueError("a claim's lease must be a positive number of seconds")
        now = time.time()
        return await self._claim(
            key,
            token=uuid.uuid4().hex,
            now=now,
            lease_until=now + lease_seconds,
            expires_at=int(now + max(lease_seconds, keep_seconds)) + 1,
        )

    async def complete_claim(self, claim: Claim, *, keep_seconds: int = CLAIM_KEEP_SECONDS) -> bool:
        """Mark the work done: claims of it for `keep_seconds` find it COMPLETED. False (nothing changed) if
        `claim` is no longer this caller's: its lease lapsed and another worker took the work over."""
        return await self._end_claim(claim.key, token=claim.token, expires_at=int(time.time() + keep_seconds) + 1)

    async def release_claim(self, claim: Claim) -> bool:
        """Give the work up (it failed here): the next claim of it is acquired. False if `claim` is no longer
        this caller's."""
        return await self._end_claim(claim.key, token=claim.token, expires_at=None)

    @abstractmethod
    async def _claim(self, key: str, *, token: str, now: float, lease_until: float, expires_at: int) -> Claim:
        """In one atomic write, store an IN_PROGRESS claim of `token` on `key` (lease until `lease_until`,
        kept until `expires_at`) if none is stored, the stored one's `expires_at` has passed, or it is
        IN_PROGRESS with its lease over before `now`; return it, acquired. Otherwise return the stored claim,
        not acquired."""

    @abstractmethod
    async def _end_claim(self, key: str, *, token: str, expires_at: int | None) -> bool:
        """If `token` holds the claim on `key`: mark it COMPLETED, kept until `expires_at`; or, when
        `expires_at` is None, delete it if still IN_PROGRESS (released). False when it is not `token`'s."""


async def _backoff(attempt: int) -> None:
    # Jittered, growing, capped: writers that collided spread out instead of colliding again.
    await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))
