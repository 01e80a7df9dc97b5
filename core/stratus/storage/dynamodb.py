"""`DynamoStore`: every record in one DynamoDB table (the layout is in `stratus.storage.keys`).

A run and its session's new metadata are written in one transaction. Run bodies larger than
`COMPRESS_ABOVE_BYTES` are stored zlib-compressed; compressed bodies still too large for an item go to S3
and the item keeps a pointer, so nothing is ever truncated. boto3 is imported here and nowhere else in the
storage package.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar, cast

from stratus.exceptions import ConfigError, StoreError
from stratus.run import RunOutput, RunStatus
from stratus.storage import keys
from stratus.storage._codec import (
    content_from_json,
    decoded,
    filter_contents,
    filter_learnings,
    filter_memories,
    filter_sessions,
    learning_from_json,
    live,
    memory_from_json,
    record_json,
    run_from_json,
    run_json,
    session_from_dict,
    session_to_dict,
)
from stratus.storage.base import Claim, ClaimStatus, Store, VersionConflictError, visible
from stratus.storage.records import (
    ContentQuery,
    ContentRecord,
    LearningQuery,
    LearningRecord,
    MemoryQuery,
    SessionQuery,
    SessionRecord,
    UserMemory,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["DynamoStore"]

T = TypeVar("T")
Item = dict[str, Any]  # an item in DynamoDB's attribute-value form
_RUN_TOKENS = ("input_tokens", "output_tokens", "total_tokens")


class DynamoStore(Store):
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

    def __init__(
        self,
        table: str,
        *,
        region: str | None = None,
        bucket: str | None = None,
        ttl_seconds: int | None = None,
        client: DynamoDBClient | None = None,
        s3_client: S3Client | None = None,
    ) -> None:
        if not table:
            raise ConfigError("DynamoStore needs a table name")
        self.table = table
        self.region = region
        self.bucket = bucket
        self.ttl_seconds = ttl_seconds
        self._client = client
        self._s3 = s3_client
        self._id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dynamodb://{table}?region={region or ''}"))

    @property
    def id(self) -> str:
        return self._id

    def __repr__(self) -> str:
        return f"DynamoStore(table={self.table!r}, region={self.region!r})"

    # --- clients ----------------------------------------------------------------------------------------

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = cast("DynamoDBClient", _boto3_client("dynamodb", self.region))
        return self._client

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = cast("S3Client", _boto3_client("s3", self.region))
        return self._s3

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(self._guarded, fn)

    def _guarded(self, fn: Callable[[], T]) -> T:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn()
        except (VersionConflictError, StoreError):
            raise
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StoreError(
                f"DynamoDB table {self.table!r}: {error.get('Code', 'error')}: {error.get('Message', exc)}"
            ) from exc
        except BotoCoreError as exc:
            raise StoreError(f"DynamoDB table {self.table!r}: {exc}") from exc

    def create_table(self) -> None:
        """Create the table (key schema, GSI, TTL) if it does not exist. For local use and tests: on AWS the
        CDK stack owns the table."""
        client = self.client
        try:
            client.describe_table(TableName=self.table)
            return
        except client.exceptions.ResourceNotFoundException:
            pass
        client.create_table(
            TableName=self.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"} for name in (keys.PK, keys.SK, keys.GSI1_PK, keys.GSI1_SK)
            ],
            KeySchema=[{"AttributeName": keys.PK, "KeyType": "HASH"}, {"AttributeName": keys.SK, "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": keys.GSI1,
                    "KeySchema": [
                        {"AttributeName": keys.GSI1_PK, "KeyType": "HASH"},
                        {"AttributeName": keys.GSI1_SK, "KeyType": "RANGE"},
                    ],
                    "Projection": {
                        "ProjectionType": "INCLUDE",
                        "NonKeyAttributes": list(keys.GSI1_PROJECTED_ATTRIBUTES),
                    },
                }
            ],
        )
        client.get_waiter("table_exists").wait(TableName=self.table)
        client.update_time_to_live(
            TableName=self.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": keys.TTL_ATTRIBUTE}
        )

    # --- low-level helpers ------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=_key(pk, sk), ConsistentRead=True)
        item = response.get("Item")
        if item is None:
            return None
        data = _from_item(item)
        return data if live(data.get(keys.TTL_ATTRIBUTE)) else None

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, **kwargs):
            for item in page.get("Items", []):
                data = _from_item(item)
                if live(data.get(keys.TTL_ATTRIBUTE)):
                    yield data

    def _scan(self, sk_prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self.table,
            FilterExpression="begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#sk": keys.SK},
            ExpressionAttributeValues={":prefix": {"S": sk_prefix}},
        ):
            for item in page.get("Items", []):
                data = _from_item(item)
                if live(data.get(keys.TTL_ATTRIBUTE)):
                    yield data

    def _partition(self, pk: str, sk_prefix: str) -> Iterator[dict[str, Any]]:
        return self._query(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": keys.PK, "#sk": keys.SK},
            ExpressionAttributeValues={":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
            ConsistentRead=True,
        )

    def _find(self, gsi_pk: str) -> dict[str, Any] | None:
        """An item by its id alone, through the GSI (eventually consistent), then read in full."""
        for hit in self._query(
            IndexName=keys.GSI1,
            KeyConditionExpression="#g = :g",
            ExpressionAttributeNames={"#g": keys.GSI1_PK},
            ExpressionAttributeValues={":g": {"S": gsi_pk}},
        ):
            return self._get(hit[keys.PK], hit[keys.SK])
        return None

    def _delete_keys(self, item_keys: list[tuple[str, str]]) -> None:
        for start in range(0, len(item_keys), 25):
            requests: dict[str, Any] = {
                self.table: [{"DeleteRequest": {"Key": _key(pk, sk)}} for pk, sk in item_keys[start : start + 25]]
            }
            for attempt in range(8):
                response = self.client.batch_write_item(RequestItems=requests)
                requests = cast(dict[str, Any], response.get("UnprocessedItems") or {})
                if not requests:
                    break
                time.sleep(0.05 * 2**attempt)
            else:
                raise StoreError(f"DynamoDB table {self.table!r}: deletes still unprocessed after retries")

    # --- sessions ---------------------------------------------------------------------------------------

    def _session_item(self, session: SessionRecord) -> dict[str, Any]:
        pk, sk = keys.session_key(session.session_id)
        item = session_to_dict(session)
        item.update(
            {
                keys.PK: pk,
                keys.SK: sk,
                keys.GSI1_PK: keys.user_partition(session.user_id),
                keys.GSI1_SK: _updated_sort_key(session.updated_at, session.session_id),
            }
        )
        return item

    async def _read_session(self, session_id: str) -> SessionRecord | None:
        def read() -> SessionRecord | None:
            data = self._get(*keys.session_key(session_id))
            return None if data is None else session_from_dict(data)

        return await self._call(read)

    async def _write_session(self, session: SessionRecord, *, expected_version: int) -> SessionRecord:
        now = time.time()

        def write() -> SessionRecord:
            client = self.client
            if expected_version == 0:
                item = self._session_item(replace(session, version=1))
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
                update.set(keys.GSI1_SK, _updated_sort_key(session.updated_at, session.session_id))
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
            stored = self._get(*keys.session_key(session.session_id))
            if stored is None:  # pragma: no cover - written a moment ago
                raise StoreError(f"session {session.session_id!r} vanished after a write")
            return session_from_dict(stored)

        return await self._call(write)

    async def list_sessions(self, query: SessionQuery) -> tuple[list[SessionRecord], int]:
        def run() -> tuple[list[SessionRecord], int]:
            if query.user_id is not None:
                # A user's sessions, from the GSI, whose projection carries every session attribute.
                items = self._query(
                    IndexName=keys.GSI1,
                    KeyConditionExpression="#g = :g",
                    ExpressionAttributeNames={"#g": keys.GSI1_PK},
                    ExpressionAttributeValues={":g": {"S": keys.user_partition(query.user_id)}},
                    ScanIndexForward=False,
                )
            else:
                items = self._scan("META")  # every user's sessions: an administrator's (or local) view
            metas = (i for i in items if i.get(keys.SK) == "META")
            return filter_sessions(decoded(metas, session_from_dict, "session"), query)

        return await self._call(run)

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

    def _run_body(self, session_id: str, run: RunOutput) -> dict[str, Any]:
        raw = run_json(run.to_record()).encode("utf-8")
        if len(raw) <= keys.COMPRESS_ABOVE_BYTES:
            return {"data": raw.decode("utf-8")}
        packed = zlib.compress(raw, 6)
        if len(packed) <= keys.OFFLOAD_ABOVE_BYTES:
            return {"data_z": packed}
        if not self.bucket:
            raise StoreError(
                f"run {run.run_id!r} is {len(packed)} bytes compressed, too large for a DynamoDB item, and the "
                "store has no S3 bucket to offload it to (DynamoStore(bucket=...) or ?bucket= in STRATUS_DB)"
            )
        key = f"runs/{session_id}/{run.run_id}.json.gz"
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=packed, ContentType="application/json", ContentEncoding="gzip"
        )
        return {"data_s3": key}

    def run_item(self, session: SessionRecord, run: RunOutput) -> dict[str, Any]:
        """The item a run is stored as (its body inline, compressed, or in S3 with a pointer)."""
        pk, sk = keys.run_key(session.session_id, run.run_id)
        usage = run.metrics.usage
        return {
            keys.PK: pk,
            keys.SK: sk,
            keys.GSI1_PK: f"RUN#{run.run_id}",
            keys.GSI1_SK: "RUN",
            "run_id": run.run_id,
            "session_id": session.session_id,
            "user_id": run.user_id,
            "component_id": run.agent_id,
            "status": run.status.value,
            "created_at": run.created_at,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            keys.TTL_ATTRIBUTE: session.expires_at,
            keys.SCHEMA_VERSION: run.to_record()["schema_version"],
            **self._run_body(session.session_id, run),
        }

    def _run_from(self, item: Mapping[str, Any]) -> RunOutput:
        if "data" in item:
            text: str | bytes = item["data"]
        elif "data_z" in item:
            text = zlib.decompress(item["data_z"])
        elif "data_s3" in item:
            if not self.bucket:
                raise StoreError(f"run {item.get('run_id')!r} lives in S3 but the store has no bucket configured")
            body = self.s3.get_object(Bucket=self.bucket, Key=item["data_s3"])["Body"].read()
            text = zlib.decompress(body)
        else:
            raise StoreError(f"run {item.get('run_id')!r} has no body")
        return run_from_json(text)

    async def _write_run(
        self, session: SessionRecord, run: RunOutput, *, expected_version: int | None
    ) -> SessionRecord:
        usage = run.metrics.usage
        tokens = {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
        }
        now = time.time()

        def write() -> SessionRecord:
            client = self.client
            pk, run_sk = keys.run_key(session.session_id, run.run_id)
            old = self._get(pk, run_sk)  # a run saved again replaces itself; its tokens count once
            delta = {name: tokens[name] - int((old or {}).get(name) or 0) for name in _RUN_TOKENS}
            run_item = self.run_item(session, run)
            meta_key = _key(*keys.session_key(session.session_id))
            if expected_version == 0:
                meta_item = self._session_item(
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
                    for name in (
                        "session_id",
                        "session_type",
                        "component_id",
                        "user_id",
                        "session_name",
                        "session_state",
                        "metadata",
                        "summary",
                        "created_at",
                        "schema_version",
                    ):
                        update.set_if_missing(name, fields[name])
                    update.set_if_missing(keys.GSI1_PK, keys.user_partition(session.user_id))
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
                update.set(keys.GSI1_SK, _updated_sort_key(now, session.session_id))
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
            stored = self._get(*keys.session_key(session.session_id))
            if stored is None:  # pragma: no cover - written a moment ago
                raise StoreError(f"session {session.session_id!r} vanished after a write")
            return session_from_dict(stored)

        return await self._call(write)

    async def get_runs(
        self,
        session_id: str,
        *,
        last: int | None = None,
        statuses: Collection[RunStatus] | None = None,
        user_id: str | None = None,
    ) -> list[RunOutput]:
        if last is not None and last <= 0:
            return []
        wanted = None if statuses is None else {RunStatus(s).value for s in statuses}

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
            if wanted is not None:
                names = [f":s{i}" for i in range(len(wanted))]
                arguments["FilterExpression"] = f"#status IN ({', '.join(names)})"
                arguments["ExpressionAttributeNames"]["#status"] = "status"
                arguments["ExpressionAttributeValues"].update(
                    {n: {"S": v} for n, v in zip(names, sorted(wanted), strict=True)}
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

    async def put_memory(self, memory: UserMemory) -> UserMemory:
        def put() -> UserMemory:
            old = self._find(f"MEMORY#{memory.memory_id}")
            stamp = time.time()
            memory.created_at = memory_from_json(old["data"]).created_at if old else (memory.created_at or stamp)
            memory.updated_at = stamp
            memory.expires_at = memory.expires_at if memory.expires_at is not None else self._expiry()
            pk, sk = keys.memory_key(memory.user_id, memory.memory_id)
            self._put_record(pk, sk, f"MEMORY#{memory.memory_id}", "MEMORY", record_json(memory), memory.expires_at)
            if old is not None and old[keys.PK] != pk:  # moved to another user: drop the old copy
                self._delete_keys([(old[keys.PK], old[keys.SK])])
            return memory

        return await self._call(put)

    async def get_memory(self, memory_id: str, *, user_id: str | None = None) -> UserMemory | None:
        def get() -> UserMemory | None:
            if user_id is not None:
                item = self._get(*keys.memory_key(user_id, memory_id))
            else:
                item = self._find(f"MEMORY#{memory_id}")
            return None if item is None else memory_from_json(item["data"])

        return await self._call(get)

    async def list_memories(self, query: MemoryQuery) -> tuple[list[UserMemory], int]:
        def run() -> tuple[list[UserMemory], int]:
            if query.user_id is not None:
                items = self._partition(keys.user_partition(query.user_id), "MEMORY#")
            else:
                items = self._scan("MEMORY#")
            return filter_memories(decoded((i["data"] for i in items), memory_from_json, "memory"), query)

        return await self._call(run)

    async def delete_memory(self, memory_id: str, *, user_id: str | None = None) -> bool:
        memory = await self.get_memory(memory_id, user_id=user_id)
        if memory is None:
            return False
        await self._call(lambda: self._delete_keys([keys.memory_key(memory.user_id, memory_id)]))
        return True

    # --- learnings --------------------------------------------------------------------------------------

    async def put_learning(self, learning: LearningRecord) -> LearningRecord:
        def put() -> LearningRecord:
            old = self._find(f"LEARNING#{learning.learning_id}")
            stamp = time.time()
            learning.created_at = learning_from_json(old["data"]).created_at if old else (learning.created_at or stamp)
            learning.updated_at = stamp
            learning.expires_at = learning.expires_at if learning.expires_at is not None else self._expiry()
            pk = keys.learning_partition(learning.user_id, learning.agent_id)
            sk = f"LEARNING#{learning.learning_id}"
            extra = {"user_id": learning.user_id, "agent_id": learning.agent_id}
            self._put_record(pk, sk, sk, "LEARNING", record_json(learning), learning.expires_at, extra)
            if old is not None and old[keys.PK] != pk:
                self._delete_keys([(old[keys.PK], old[keys.SK])])
            return learning

        return await self._call(put)

    async def get_learning(self, learning_id: str, *, user_id: str | None = None) -> LearningRecord | None:
        def get() -> LearningRecord | None:
            item = self._find(f"LEARNING#{learning_id}")
            if item is None:
                return None
            learning = learning_from_json(item["data"])
            return learning if visible(learning.user_id, user_id) else None

        return await self._call(get)

    async def list_learnings(self, query: LearningQuery) -> tuple[list[LearningRecord], int]:
        def run() -> tuple[list[LearningRecord], int]:
            if query.user_id is not None:
                items = self._partition(f"USER#{query.user_id}", "LEARNING#")
            elif query.shared:
                items = self._partition(keys.learning_partition(None, query.agent_id), "LEARNING#")
            else:
                items = self._scan("LEARNING#")  # an agent's learnings span its users' partitions
            return filter_learnings(decoded((i["data"] for i in items), learning_from_json, "learning"), query)

        return await self._call(run)

    async def delete_learning(self, learning_id: str, *, user_id: str | None = None) -> bool:
        learning = await self.get_learning(learning_id, user_id=user_id)
        if learning is None:
            return False
        pk = keys.learning_partition(learning.user_id, learning.agent_id)
        await self._call(lambda: self._delete_keys([(pk, f"LEARNING#{learning_id}")]))
        return True

    # --- knowledge content ------------------------------------------------------------------------------

    async def put_content(self, content: ContentRecord) -> ContentRecord:
        def put() -> ContentRecord:
            pk, sk = keys.content_key(content.knowledge_id, content.content_id)
            old = self._find(f"CONTENT#{content.content_id}")
            stamp = time.time()
            content.created_at = content_from_json(old["data"]).created_at if old else (content.created_at or stamp)
            content.updated_at = stamp
            content.expires_at = self._expiry()
            self._put_record(
                pk, sk, f"CONTENT#{content.content_id}", "CONTENT", record_json(content), content.expires_at
            )
            if old is not None and old[keys.PK] != pk:
                self._delete_keys([(old[keys.PK], old[keys.SK])])
            return content

        return await self._call(put)

    async def get_content(self, content_id: str, *, knowledge_id: str | None = None) -> ContentRecord | None:
        def get() -> ContentRecord | None:
            if knowledge_id is not None:
                item = self._get(*keys.content_key(knowledge_id, content_id))
            else:
                item = self._find(f"CONTENT#{content_id}")
            return None if item is None else content_from_json(item["data"])

        return await self._call(get)

    async def list_contents(self, query: ContentQuery) -> tuple[list[ContentRecord], int]:
        def run() -> tuple[list[ContentRecord], int]:
            items = self._partition(f"KNOWLEDGE#{query.knowledge_id}", "CONTENT#")
            return filter_contents(decoded((i["data"] for i in items), content_from_json, "content"), query)

        return await self._call(run)

    async def delete_content(self, content_id: str, *, knowledge_id: str | None = None) -> bool:
        content = await self.get_content(content_id, knowledge_id=knowledge_id)
        if content is None:
            return False
        await self._call(lambda: self._delete_keys([keys.content_key(content.knowledge_id, content_id)]))
        return True

    def _put_record(
        self,
        pk: str,
        sk: str,
        gsi_pk: str,
        gsi_sk: str,
        data: str,
        expires_at: int | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        item: dict[str, Any] = {
            keys.PK: pk,
            keys.SK: sk,
            keys.GSI1_PK: gsi_pk,
            keys.GSI1_SK: gsi_sk,
            "data": data,
            keys.TTL_ATTRIBUTE: expires_at,
            keys.SCHEMA_VERSION: json.loads(data)["schema_version"],
            **(extra or {}),
        }
        self.client.put_item(TableName=self.table, Item=_to_item(item))

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


# --- attribute values --------------------------------------------------------------------------------------


def _boto3_client(service: str, region: str | None) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise ConfigError("DynamoStore needs boto3: install the `aws` extra (pip install 'stratus[aws]')") from exc
    config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
    sdk: Any = boto3  # one function serves both services; the callers cast to their client's type
    return sdk.client(service, region_name=region, config=config)


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": repr(value) if isinstance(value, float) else str(value)}
    if isinstance(value, bytes):
        return {"B": value}
    if value is None:
        return {"NULL": True}
    return {"S": str(value)}


def _to_item(data: Mapping[str, Any]) -> Item:
    return {name: _value(value) for name, value in data.items() if value is not None}


def _from_value(value: Mapping[str, Any]) -> Any:
    if "S" in value:
        return value["S"]
    if "N" in value:
        text = cast(str, value["N"])
        return float(text) if any(c in text for c in ".eE") else int(text)
    if "B" in value:
        return bytes(value["B"])
    if "BOOL" in value:
        return bool(value["BOOL"])
    return None


def _from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _from_value(cast(Mapping[str, Any], value)) for name, value in item.items()}


def _key(pk: str, sk: str) -> Item:
    return {keys.PK: {"S": pk}, keys.SK: {"S": sk}}


def _updated_sort_key(updated_at: float, session_id: str) -> str:
    # Fixed width, so text order is time order: a user's sessions list newest first from the GSI.
    return f"{updated_at:020.6f}#{session_id}"


def _owner_condition(update: _Update, user_id: str | None) -> str:
    update.names["#pk"] = keys.PK
    update.names["#user"] = "user_id"
    if user_id is None:
        return "(attribute_not_exists(#pk) OR attribute_not_exists(#user))"
    update.values[":owner"] = {"S": user_id}
    return "(attribute_not_exists(#pk) OR #user = :owner)"


class _Update:
    """Builds an UpdateItem expression: SET, SET-if-missing, REMOVE (for None) and ADD clauses."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self._set: list[str] = []
        self._remove: list[str] = []
        self._add: list[str] = []
        self._condition: str | None = None

    def _name(self, attribute: str) -> str:
        alias = f"#a{len(self.names)}"
        self.names[alias] = attribute
        return alias

    def set(self, attribute: str, value: Any) -> None:
        name = self._name(attribute)
        if value is None:
            self._remove.append(name)
            return
        alias = f":v{len(self.values)}"
        self.values[alias] = _value(value)
        self._set.append(f"{name} = {alias}")

    def set_if_missing(self, attribute: str, value: Any) -> None:
        if value is None:
            return
        name = self._name(attribute)
        alias = f":v{len(self.values)}"
        self.values[alias] = _value(value)
        self._set.append(f"{name} = if_not_exists({name}, {alias})")

    def add(self, attribute: str, amount: int) -> None:
        name = self._name(attribute)
        alias = f":v{len(self.values)}"
        self.values[alias] = _value(amount)
        self._add.append(f"{name} {alias}")

    def condition(self, expression: str) -> None:
        self._condition = expression

    def arguments(self) -> dict[str, Any]:
        parts: list[str] = []
        if self._set:
            parts.append("SET " + ", ".join(self._set))
        if self._remove:
            parts.append("REMOVE " + ", ".join(self._remove))
        if self._add:
            parts.append("ADD " + ", ".join(self._add))
        out: dict[str, Any] = {"UpdateExpression": " ".join(parts), "ExpressionAttributeNames": self.names}
        if self.values:
            out["ExpressionAttributeValues"] = self.values
        if self._condition:
            out["ConditionExpression"] = self._condition
        return out
