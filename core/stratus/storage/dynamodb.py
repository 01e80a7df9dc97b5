"""`DynamoStore`: every record in one DynamoDB table (the layout is in `stratus.storage.keys`).

A run and its session's new metadata are written in one transaction. Run bodies larger than
`COMPRESS_ABOVE_BYTES` are stored zlib-compressed; compressed bodies still too large for an item go to S3
and the item keeps a pointer, so nothing is ever truncated. Listings are Queries of the listing indexes
(`_dynamo_query`), never a Scan; memory topics and per-user stats are aggregates kept on write
(`_dynamo_memories`). The table's plumbing (clients, item reads and writes, run bodies) is `DynamoTable`;
boto3 is imported lazily, in `_dynamo_items`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, TypeVar, cast

from stratus.exceptions import StoreError
from stratus.run import RunOutput
from stratus.storage import keys, records
from stratus.storage._codec import (
    content_from_json,
    content_matches,
    daily_metrics_from_json,
    decoded,
    eval_from_json,
    eval_matches,
    learning_from_json,
    learning_matches,
    live,
    memory_from_json,
    memory_matches,
    metrics_state_from_json,
    record_json,
    session_from_dict,
    session_matches,
    session_to_dict,
    text_order,
)
from stratus.storage._cursor import Cursor, fingerprint
from stratus.storage._dynamo_items import Update as _Update
from stratus.storage._dynamo_items import attr_value as _value
from stratus.storage._dynamo_items import from_item as _from_item
from stratus.storage._dynamo_items import item_key as _key
from stratus.storage._dynamo_items import owner_condition as _owner_condition
from stratus.storage._dynamo_items import to_item as _to_item
from stratus.storage._dynamo_maintenance import IndexRebuild, rebuild_indexes
from stratus.storage._dynamo_memories import MemoryAggregates, stats_from_item, topics_request
from stratus.storage._dynamo_query import (
    Lister,
    Plan,
    content_index,
    content_plan,
    eval_index,
    eval_plan,
    learning_index,
    learning_plan,
    memory_plan,
    session_index,
    session_plan,
)
from stratus.storage._dynamo_table import data_of
from stratus.storage.base import Claim, ClaimStatus, Store, VersionConflictError, visible

__all__ = ["DynamoStore"]

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S", records.LearningRecord, records.ContentRecord, records.EvalRecord)
_RUN_TOKENS = ("input_tokens", "output_tokens", "total_tokens")
_RUN_WRITES = ("component_data", "updated_at", keys.TTL_ATTRIBUTE, *_RUN_TOKENS)
"""The session's attributes every run's write sets (or adds to), whatever else it does."""


class DynamoStore(MemoryAggregates, Store):
    """Sessions, runs, memories, learnings and content records in one DynamoDB table.

    Args:
        table: The table's name (build it with `create_table()` locally; the CDK stack builds it on AWS).
        region: AWS region; boto3's own resolution when None.
        bucket: S3 bucket for run bodies too large for one item even compressed. Without one, such a run
            fails to save with a clear error rather than being truncated.
        ttl_seconds: Expire records this long after their last write (DynamoDB TTL on `expires_at`).
        client: A boto3 DynamoDB client to use (tests hand one in); one is built when None. boto3 honours
            `AWS_ENDPOINT_URL`, which points it at moto or DynamoDB Local.
        s3_client: Likewise for S3.
    """

    def __repr__(self) -> str:
        return f"DynamoStore(table={self.table!r}, region={self.region!r})"

    # --- sessions ---------------------------------------------------------------------------------------

    def session_item(self, session: records.SessionRecord) -> dict[str, Any]:
        """The item a session is stored as: its attributes, keys and listing-index entries."""
        pk, sk = keys.session_key(session.session_id)
        return {**session_to_dict(session), **session_index(session), keys.PK: pk, keys.SK: sk}

    @staticmethod
    def _reindex_session(update: _Update, session: records.SessionRecord, updated_at: float) -> None:
        """Keep a changed session's listing entries: its new update time; the rest set if missing (a session
        written before the listing indexes gets them now), and its old gsi1 entry dropped."""
        for name, value in session_index(replace(session, updated_at=updated_at)).items():
            if name in (keys.BY_OWNER_UPDATED.sk, keys.BY_KIND_UPDATED.sk):
                update.set(name, value)
            else:
                update.set_if_missing(name, value)
        update.set(keys.GSI1_INDEX.pk, None)
        update.set(keys.GSI1_INDEX.sk, None)

    async def _read_session(self, session_id: str) -> records.SessionRecord | None:
        def read() -> records.SessionRecord | None:
            data = self._get(*keys.session_key(session_id))
            return None if data is None else session_from_dict(data)

        return await self._call(read)

    async def _write_session(self, session: records.SessionRecord, *, expected_version: int) -> records.SessionRecord:
        now = time.time()

        def write() -> records.SessionRecord:
            client = self.client
            if expected_version == 0:
                item = self.session_item(replace(session, version=1))
                try:
                    client.put_item(
                        TableName=self.table,
                        Item=_to_item(item),
                        ConditionExpression="attribute_not_exists(#pk) OR #exp < :now",
                        ExpressionAttributeNames={"#pk": keys.PK, "#exp": keys.TTL_ATTRIBUTE},
                        ExpressionAttributeValues={":now": _value(now)},
                    )
                except client.exceptions.ConditionalCheckFailedException:
                    raise VersionConflictError(f"session {session.session_id!r} exists") from None
            else:
                update = _Update()
                for name in ("session_name", "session_state", "metadata", "summary", "updated_at", "expires_at"):
                    update.set(name, session_to_dict(session)[name])
                self._reindex_session(update, session, session.updated_at)
                update.add("version", 1)
                update.condition("#version = :expected AND (attribute_not_exists(#ttl) OR #ttl > :now)")
                update.values[":expected"] = _value(expected_version)
                update.values[":now"] = _value(now)
                update.names["#version"] = "version"
                update.names["#ttl"] = keys.TTL_ATTRIBUTE
                try:
                    client.update_item(
                        TableName=self.table, Key=_key(*keys.session_key(session.session_id)), **update.arguments()
                    )
                except client.exceptions.ConditionalCheckFailedException:
                    raise VersionConflictError(f"session {session.session_id!r} changed") from None
            return self._written_session(session.session_id)

        return await self._call(write)

    def _written_session(self, session_id: str) -> records.SessionRecord:
        """The session as stored, read back right after a write of it."""
        stored = self._get(*keys.session_key(session_id))
        if stored is None:  # pragma: no cover - written a moment ago
            raise StoreError(f"session {session_id!r} vanished after a write")
        return session_from_dict(stored)

    async def list_sessions(self, query: records.SessionQuery) -> records.Page[records.SessionRecord]:
        """A Query of a listing index (a user's, or everyone's sessions; by creation or last change) with the
        type and component filtered in DynamoDB, the name match checked per session. Sorting by
        `session_name` is served in memory for at most `SORT_IN_MEMORY_LIMIT` sessions, else refused with
        an `UnsupportedQueryError`. The total is given on the last page only (see `_dynamo_query`)."""
        plan = session_plan(query, lambda s: session_matches(s, query))
        order = text_order("session_name", "session_id") if query.sort_by == "session_name" else None
        return await self._listing(query, plan, session_from_dict, "session", order, "sessions by session_name")

    async def delete_session(self, session_id: str, *, user_id: str | None = None) -> bool:
        def delete() -> bool:
            pk, sk = keys.session_key(session_id)
            meta = self._get(pk, sk)
            if meta is None or not visible(meta.get("user_id"), user_id):
                return False
            runs = list(
                self._query(
                    KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                    ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK, "#s3": "data_s3"},
                    ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": "RUN#"}},
                    ProjectionExpression="#pk, #sk, #s3",
                    ConsistentRead=True,
                )
            )
            for run in runs:
                if run.get("data_s3") and self.bucket:
                    self.s3.delete_object(Bucket=self.bucket, Key=run["data_s3"])
            # Runs first, metadata last: until the very end, what is visible is a consistent session.
            self._delete_keys([(r[keys.PK], r[keys.SK]) for r in runs] + [(pk, sk)])
            return True

        return await self._call(delete)

    # --- runs -------------------------------------------------------------------------------------------

    async def _write_run(
        self, session: records.SessionRecord, run: RunOutput, *, expected_version: int | None
    ) -> records.SessionRecord:
        usage = run.metrics.usage
        tokens = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
        }
        now = time.time()

        def write() -> records.SessionRecord:
            client = self.client
            pk, run_sk = keys.run_key(session.session_id, run.run_id)
            old = self._get(pk, run_sk)  # a run saved again replaces itself; its tokens count once
            delta = {name: tokens[name] - int((old or {}).get(name) or 0) for name in _RUN_TOKENS}
            run_item = self.run_item(session, run)
            meta_key = _key(*keys.session_key(session.session_id))
            if expected_version == 0:
                meta_item = self.session_item(
                    replace(
                        session, version=1, usage=replace(usage), created_at=session.created_at or now, updated_at=now
                    )
                )
                meta_op: dict[str, Any] = {
                    "Put": {
                        "TableName": self.table,
                        "Item": _to_item(meta_item),
                        "ConditionExpression": "attribute_not_exists(#pk) OR #ttl < :now",
                        "ExpressionAttributeNames": {"#pk": keys.PK, "#ttl": keys.TTL_ATTRIBUTE},
                        "ExpressionAttributeValues": {":now": _value(now)},
                    }
                }
            else:
                update = _Update()
                created = replace(session, updated_at=now)
                fields = session_to_dict(created)
                if expected_version is None:
                    # No state change: create the session if it is missing, else only touch its totals.
                    for name, value in fields.items():
                        if name not in (*_RUN_WRITES, "version"):
                            update.set_if_missing(name, value)
                    update.set_if_missing("version", 1)
                    update.condition(_owner_condition(update, session.user_id))
                else:
                    update.set("session_state", fields["session_state"])
                    update.add("version", 1)
                    update.names["#version"] = "version"
                    update.values[":expected"] = _value(expected_version)
                    update.condition(f"#version = :expected AND {_owner_condition(update, session.user_id)}")
                update.set("component_data", fields["component_data"])
                update.set("updated_at", now)
                self._reindex_session(update, created, now)
                update.set(keys.TTL_ATTRIBUTE, session.expires_at)
                for name, amount in delta.items():
                    update.add(name, amount)
                meta_op = {"Update": {"TableName": self.table, "Key": meta_key, **update.arguments()}}
            try:
                items: list[Any] = [{"Put": {"TableName": self.table, "Item": _to_item(run_item)}}, meta_op]
                client.transact_write_items(TransactItems=items)
            except client.exceptions.TransactionCanceledException as exc:
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if "ConditionalCheckFailed" in reasons:
                    raise VersionConflictError(f"session {session.session_id!r} changed") from None
                raise StoreError(f"DynamoDB table {self.table!r}: transaction cancelled: {reasons}") from exc
            return self._written_session(session.session_id)

        return await self._call(write)

    async def _read_runs(
        self, session_id: str, *, last: int | None, statuses: tuple[str, ...] | None, user_id: str | None
    ) -> list[RunOutput]:
        def get() -> list[RunOutput]:
            pk, meta_sk = keys.session_key(session_id)
            if user_id is not None:
                meta = self._get(pk, meta_sk)
                if meta is None or meta.get("user_id") != user_id:
                    return []
            arguments: dict[str, Any] = {
                "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
                "ExpressionAttributeNames": {"#pk": keys.PK, "#sk": keys.SK},
                "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": "RUN#"}},
                "ConsistentRead": True,
                "ScanIndexForward": last is None,
            }
            if statuses is not None:
                names = [f":s{i}" for i in range(len(statuses))]
                arguments["FilterExpression"] = f"#status IN ({', '.join(names)})"
                arguments["ExpressionAttributeNames"]["#status"] = "status"
                arguments["ExpressionAttributeValues"].update(
                    {n: {"S": v} for n, v in zip(names, statuses, strict=True)}
                )
            if last is not None:
                arguments["PaginationConfig"] = {"PageSize": last}
            found: list[dict[str, Any]] = []
            for item in self._query(**arguments):
                found.append(item)
                if last is not None and len(found) >= last:
                    break
            if last is not None:
                found.reverse()
            return list(decoded(found, self._run_from, "run"))

        return await self._call(get)

    async def get_run(
        self, run_id: str, *, session_id: str | None = None, user_id: str | None = None
    ) -> RunOutput | None:
        def get() -> RunOutput | None:
            if session_id is not None:
                item = self._get(*keys.run_key(session_id, run_id))
            else:
                item = self._find(f"RUN#{run_id}")
            if item is None or not visible(item.get("user_id"), user_id):
                return None
            if self._get(*keys.session_key(item["session_id"])) is None:
                return None  # its session is gone (deleted or expired)
            return self._run_from(item)

        return await self._call(get)

    # --- memories ---------------------------------------------------------------------------------------

    async def put_memory(self, memory: records.UserMemory) -> records.UserMemory:
        """Stored with the aggregates in one transaction conditioned on the revision read (see
        `_dynamo_memories`); a writer that lost a race reads again and retries."""

        def put() -> records.UserMemory:
            for _ in range(8):
                old = self._stored_memory(memory.memory_id, memory.user_id)
                alive = old is not None and live(old[0].expires_at)
                stamp = self._stamp(memory, old[0].created_at if old and alive else None)
                if self._write_memory(old, memory, stamp):
                    return memory
            raise StoreError(f"memory {memory.memory_id!r}: it kept changing under eight attempts to write it")

        return await self._call(put)

    async def _read_memory(self, memory_id: str, *, user_id: str | None) -> records.UserMemory | None:
        key = None if user_id is None else keys.memory_key(user_id, memory_id)
        return await self._read_record(key, f"MEMORY#{memory_id}", memory_from_json)

    async def list_memories(self, query: records.MemoryQuery) -> records.Page[records.UserMemory]:
        """Like `list_sessions`: a user's or everyone's memories from a listing index, the agent, team and
        topics filtered in DynamoDB, the text search checked per memory; sorting by `memory` is served in
        memory for at most `SORT_IN_MEMORY_LIMIT` memories."""
        plan = memory_plan(query, lambda m: memory_matches(m, query))
        order = text_order("memory", "memory_id") if query.sort_by == "memory" else None
        return await self._listing(query, plan, data_of(memory_from_json), "memory", order, "memories by their text")

    async def delete_memory(self, memory_id: str, *, user_id: str | None = None) -> bool:
        def delete() -> bool:
            for _ in range(8):
                old = self._stored_memory(memory_id, user_id)
                if old is None or not live(old[0].expires_at) or not visible(old[0].user_id, user_id):
                    return False
                if self._write_memory(old, None, time.time()):
                    self._refresh_latest(old[0])
                    return True
            raise StoreError(f"memory {memory_id!r}: it kept changing under eight attempts to delete it")

        return await self._call(delete)

    async def memory_topics(self, *, user_id: str | None = None) -> list[str]:
        """From the topic counts kept on write: one small item per topic (see `_dynamo_memories`)."""

        def read() -> list[str]:
            request = topics_request(self.table, user_id, everyone=user_id is None)
            paginator = self.client.get_paginator("query")
            return [str(_from_item(item)["topic"]) for page in paginator.paginate(**request) for item in page["Items"]]

        return await self._call(read)

    async def user_memory_stats(
        self, *, user_id: str | None = None, page: int = 1, limit: int = 20, cursor: str | None = None
    ) -> records.Page[records.UserMemoryStats]:
        """From the per-user stats items kept on write: one GetItem for a user, else a Query of their gsi5
        entries, users newest first (see `_dynamo_memories` for the counts' one limit)."""
        query_id = fingerprint("dynamodb:stats", records.MemoryQuery(user_id=user_id))
        start = None if cursor is None else Cursor.decode(cursor, expect=query_id)
        if user_id is not None:
            item = await self._call(lambda: self._raw(*keys.memory_stats_key(user_id)))
            found = None if item is None else stats_from_item(item)
            offset = start.offset if start is not None else (max(1, page) - 1) * max(1, limit)
            items = [found] if found is not None and offset == 0 else []
            return records.Page(items=items, total=int(found is not None), offset=offset)
        plan = Plan[records.UserMemoryStats](
            index=keys.BY_KIND_UPDATED, partition=keys.MEMORY_STATS, forward=False, check=lambda _: True
        )
        plan.filters.at_least("memories", 1)
        lister = Lister(self.client, self.table)
        return await self._call(
            lambda: lister.page(
                plan,
                lambda hits: [stats_from_item(hit) for hit in hits],
                query_id=query_id,
                cursor=start,
                page=page,
                limit=limit,
            )
        )

    # --- learnings --------------------------------------------------------------------------------------

    async def put_learning(self, learning: records.LearningRecord) -> records.LearningRecord:
        return await self._call(
            lambda: self._put_record(
                learning, f"LEARNING#{learning.learning_id}", learning_from_json, self.learning_item
            )
        )

    def learning_item(self, learning: records.LearningRecord) -> dict[str, Any]:
        """The item a learning is stored as: its keys, listing-index entries and filter attributes."""
        pk, sk = keys.learning_partition(learning.user_id, learning.agent_id), f"LEARNING#{learning.learning_id}"
        data = record_json(learning)
        return self._record_item(pk, sk, sk, "LEARNING", data, learning.expires_at, learning_index(learning))

    async def _read_learning(self, learning_id: str) -> records.LearningRecord | None:
        return await self._read_record(None, f"LEARNING#{learning_id}", learning_from_json)

    async def list_learnings(self, query: records.LearningQuery) -> records.Page[records.LearningRecord]:
        """Like `list_sessions`: a user's learnings, an agent's shared ones (the recall), or everyone's, from
        a listing index; every filter is evaluated in DynamoDB. Internal records sit in partitions of their
        own type, so they never slow down a listing that does not ask for them."""
        plan = learning_plan(query, lambda item: learning_matches(item, query))
        return await self._listing(query, plan, data_of(learning_from_json), "learning", None, "learnings")

    async def _remove_learning(self, learning: records.LearningRecord) -> bool:
        pk = keys.learning_partition(learning.user_id, learning.agent_id)
        return await self._remove_item((pk, f"LEARNING#{learning.learning_id}"))

    # --- knowledge content ------------------------------------------------------------------------------

    async def put_content(self, content: records.ContentRecord) -> records.ContentRecord:
        return await self._call(
            lambda: self._put_record(
                content, f"CONTENT#{content.content_id}", content_from_json, self.content_item, own_expiry=False
            )
        )

    def _put_record(
        self,
        record: S,
        gsi_pk: str,
        decode: Callable[[str], S],
        item_of: Callable[[S], dict[str, Any]],
        *,
        own_expiry: bool = True,
    ) -> S:
        """Create or replace a learning or content record, stamped over the stored one (found by its id); a
        record whose key changed (a new owner or knowledge base) leaves no item behind under the old one."""
        old = self._find(gsi_pk)
        self._stamp(record, decode(old["data"]).created_at if old else None, own_expiry=own_expiry)
        item = item_of(record)
        self.client.put_item(TableName=self.table, Item=_to_item(item))
        if old is not None and old[keys.PK] != item[keys.PK]:
            self._delete_keys([(old[keys.PK], old[keys.SK])])
        return record

    def content_item(self, content: records.ContentRecord) -> dict[str, Any]:
        """The item a content record is stored as: its keys, listing-index entries and filter attributes."""
        pk, sk = keys.content_key(content.knowledge_id, content.content_id)
        data = record_json(content)
        gsi_pk = f"CONTENT#{content.content_id}"
        return self._record_item(pk, sk, gsi_pk, "CONTENT", data, content.expires_at, content_index(content))

    async def _read_content(self, content_id: str, *, knowledge_id: str | None) -> records.ContentRecord | None:
        key = None if knowledge_id is None else keys.content_key(knowledge_id, content_id)
        return await self._read_record(key, f"CONTENT#{content_id}", content_from_json)

    async def list_contents(self, query: records.ContentQuery) -> records.Page[records.ContentRecord]:
        """Like `list_sessions`: a knowledge base's content, or one user's in it, from a listing index, status
        and hash filtered in DynamoDB; sorting by `name` is served in memory for at most
        `SORT_IN_MEMORY_LIMIT` records."""
        plan = content_plan(query, lambda c: content_matches(c, query))
        order = text_order("name", "content_id") if query.sort_by == "name" else None
        return await self._listing(query, plan, data_of(content_from_json), "content", order, "content by name")

    async def _remove_content(self, content: records.ContentRecord) -> bool:
        return await self._remove_item(keys.content_key(content.knowledge_id, content.content_id))

    # --- eval runs --------------------------------------------------------------------------------------

    async def put_eval(self, record: records.EvalRecord) -> records.EvalRecord:
        return await self._call(
            lambda: self._put_record(record, f"EVAL#{record.eval_id}", eval_from_json, self.eval_item)
        )

    def eval_item(self, record: records.EvalRecord) -> dict[str, Any]:
        """The item an eval run is stored as: its keys, listing-index entries and filter attributes."""
        pk, sk = keys.eval_key(record.user_id, record.eval_id)
        return self._record_item(pk, sk, sk, "EVAL", record_json(record), record.expires_at, eval_index(record))

    async def _read_eval(self, eval_id: str, *, user_id: str | None) -> records.EvalRecord | None:
        key = None if user_id is None else keys.eval_key(user_id, eval_id)
        return await self._read_record(key, f"EVAL#{eval_id}", eval_from_json)

    async def list_evals(self, query: records.EvalQuery) -> records.Page[records.EvalRecord]:
        """Like `list_sessions`: a user's or everyone's eval runs from a listing index, the agent and team
        filtered in DynamoDB, the rest checked per record."""
        plan = eval_plan(query, lambda e: eval_matches(e, query))
        return await self._listing(query, plan, data_of(eval_from_json), "eval run", None, "eval runs")

    async def _remove_eval(self, record: records.EvalRecord) -> bool:
        return await self._remove_item(keys.eval_key(record.user_id, record.eval_id))

    # --- daily metrics ----------------------------------------------------------------------------------
    # A run's item is listed in gsi4 under the day it was created (`keys.runs_kind`), so a refresh reads a
    # day's runs with one Query of that day's partition and one BatchGetItem per 100 runs. Never a Scan.

    async def _earliest_activity(self) -> float | None:
        def read() -> float | None:
            for hit in self._query(
                IndexName=keys.BY_KIND_CREATED.name,
                KeyConditionExpression="#p = :p",
                ExpressionAttributeNames={"#p": keys.BY_KIND_CREATED.pk},
                ExpressionAttributeValues={":p": {"S": keys.SESSIONS_KIND}},
                ScanIndexForward=True,
                PaginationConfig={"PageSize": 10},
            ):
                return keys.time_of(hit[keys.BY_KIND_CREATED.sk])
            return None

        return await self._call(read)

    async def _runs_on(self, days: list[str]) -> AsyncIterator[list[RunOutput]]:
        index = keys.BY_KIND_CREATED
        for day in days:
            arguments: dict[str, Any] = {
                "TableName": self.table,
                "IndexName": index.name,
                "KeyConditionExpression": "#p = :p",
                "ExpressionAttributeNames": {"#p": index.pk},
                "ExpressionAttributeValues": {":p": {"S": keys.runs_kind(day)}},
                "Limit": 100,  # one BatchGetItem's worth of runs at a time
            }
            while True:
                page = await self._call(lambda a=arguments: self.client.query(**a))
                hits = [_from_item(hit) for hit in page.get("Items", [])]
                if hits:
                    loaded = await self._call(lambda h=hits: self._load(h, self._run_from, "run"))
                    yield [run for run in loaded if run is not None]  # None: gone or expired meanwhile
                following = page.get("LastEvaluatedKey")
                if following is None:
                    break
                arguments["ExclusiveStartKey"] = following

    @staticmethod
    def _metrics_key(record: records.DailyMetrics) -> tuple[str, str]:
        everyone = record.user_id is None
        return keys.metrics_key(record.day, record.user_id or None, everyone=everyone)

    async def _replace_metrics(self, days: list[str], metrics: list[records.DailyMetrics]) -> None:
        owners: dict[str, list[str]] = {}
        for record in metrics:
            if record.user_id is not None:
                owners.setdefault(record.day, []).append(record.user_id)

        def write() -> None:
            stale: list[tuple[str, str]] = []
            for day in days:
                old = self._get(*keys.metrics_key(day, None, everyone=True))
                kept = set(owners.get(day, []))
                listed = cast(list[str], json.loads((old or {}).get("owners") or "[]"))
                for owner in listed:
                    if owner not in kept:
                        stale.append(keys.metrics_key(day, owner or None, everyone=False))
                if old is not None and day not in owners:
                    stale.append(keys.metrics_key(day, None, everyone=True))
            self._delete_keys(stale)
            for record in metrics:
                pk, sk = self._metrics_key(record)
                item: dict[str, Any] = {keys.PK: pk, keys.SK: sk, "data": record_json(record)}
                if record.user_id is None:
                    item["owners"] = json.dumps(owners.get(record.day, []))  # whose items the day has
                self.client.put_item(TableName=self.table, Item=_to_item(item))

        await self._call(write)

    async def _read_metrics(
        self, starting_date: str | None, ending_date: str | None, user_id: str | None
    ) -> list[records.DailyMetrics]:
        pk = keys.metrics_key("", user_id or None, everyone=user_id is None)[0]

        def read() -> list[records.DailyMetrics]:
            items = self._query(
                KeyConditionExpression="#pk = :pk AND #sk BETWEEN :first AND :last",
                ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
                ExpressionAttributeValues={
                    ":pk": {"S": pk},
                    ":first": {"S": f"DAY#{starting_date or ''}"},
                    ":last": {"S": f"DAY#{ending_date or '9999-12-31'}"},
                },
                ConsistentRead=True,
            )
            return list(decoded((i["data"] for i in items), daily_metrics_from_json, "daily metrics"))

        return await self._call(read)

    async def _read_metrics_state(self) -> records.MetricsRefresh | None:
        def read() -> records.MetricsRefresh | None:
            item = self._get(keys.METRICS, keys.METRICS_STATE_SK)
            return None if item is None else metrics_state_from_json(item["data"])

        return await self._call(read)

    async def _write_metrics_state(self, state: records.MetricsRefresh) -> None:
        item = {keys.PK: keys.METRICS, keys.SK: keys.METRICS_STATE_SK, "data": record_json(state)}
        await self._call(lambda: self.client.put_item(TableName=self.table, Item=_to_item(item)))

    # --- maintenance -------------------------------------------------------------------------------------

    async def rebuild_indexes(self) -> IndexRebuild:
        """Maintenance, never a request path: Scan the table once to give every record the listing-index
        entries of this version and recount the memory aggregates (see `_dynamo_maintenance`). For a table
        written before the listing indexes; needs `dynamodb:Scan`, which the deployed functions lack."""
        return await self._call(lambda: rebuild_indexes(self.client, self.table))

    # --- claims (exactly-once queue work, see `Store.claim`) --------------------------------------------

    async def _claim(self, key: str, *, token: str, now: float, lease_until: float, expires_at: int) -> Claim:
        pk, sk = keys.claim_key(key)
        mine = {
            keys.PK: pk,
            keys.SK: sk,
            "status": ClaimStatus.IN_PROGRESS.value,
            "token": token,
            "lease_until": lease_until,
            keys.TTL_ATTRIBUTE: expires_at,
        }

        def claim() -> Claim:
            client = self.client
            for _ in range(3):
                try:
                    # One conditional write: no claim, an expired one (TTL deletes late), or a lapsed lease.
                    client.put_item(
                        TableName=self.table,
                        Item=_to_item(mine),
                        ConditionExpression="attribute_not_exists(#pk) OR #exp <= :now OR "
                        "(#status = :held AND #lease < :now)",
                        ExpressionAttributeNames={
                            "#pk": keys.PK,
                            "#exp": keys.TTL_ATTRIBUTE,
                            "#status": "status",
                            "#lease": "lease_until",
                        },
                        ExpressionAttributeValues={":now": _value(now), ":held": _value(ClaimStatus.IN_PROGRESS.value)},
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
                except client.exceptions.ConditionalCheckFailedException as exc:
                    old: Any = cast(Any, exc.response).get("Item")
                    held = _from_item(old) if old else self._get(pk, sk)
                    if held is None:  # released between the two calls: try again
                        continue
                    status, holder = ClaimStatus(held["status"]), str(held["token"])
                    return Claim(key, status, holder, float(held["lease_until"]), acquired=False)
                return Claim(key, ClaimStatus.IN_PROGRESS, token, lease_until, acquired=True)
            raise StoreError(f"claim {key!r}: it kept changing under three attempts to claim it")

        return await self._call(claim)

    async def _end_claim(self, key: str, *, token: str, expires_at: int | None) -> bool:
        names = {"#token": "token", "#status": "status"}

        def end() -> bool:
            client = self.client
            try:
                if expires_at is None:
                    client.delete_item(
                        TableName=self.table,
                        Key=_key(*keys.claim_key(key)),
                        ConditionExpression="#token = :token AND #status = :held",
                        ExpressionAttributeNames=names,
                        ExpressionAttributeValues={
                            ":token": _value(token),
                            ":held": _value(ClaimStatus.IN_PROGRESS.value),
                        },
                    )
                else:
                    client.update_item(
                        TableName=self.table,
                        Key=_key(*keys.claim_key(key)),
                        UpdateExpression="SET #status = :done, #exp = :exp",
                        ConditionExpression="#token = :token",
                        ExpressionAttributeNames={**names, "#exp": keys.TTL_ATTRIBUTE},
                        ExpressionAttributeValues={
                            ":token": _value(token),
                            ":done": _value(ClaimStatus.COMPLETED.value),
                            ":exp": _value(expires_at),
                        },
                    )
            except client.exceptions.ConditionalCheckFailedException:
                return False
            return True

        return await self._call(end)
