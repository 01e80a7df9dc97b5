"""`DynamoTable`: the plumbing under `DynamoStore`: its clients (built lazily; boto3 errors become
`StoreError`), the table's creation from `stratus.storage.keys`, item reads and writes, run bodies (inline,
compressed or in S3), and running listing plans (`_dynamo_query`)."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from stratus.exceptions import ConfigError, StoreError
from stratus.run import RunOutput
from stratus.storage import keys
from stratus.storage._codec import decoded, live, run_from_json, run_json
from stratus.storage._cursor import start_of
from stratus.storage._dynamo_items import boto3_client, from_item, item_key, send_batch
from stratus.storage._dynamo_query import Lister, Plan, run_index
from stratus.storage.base import VersionConflictError
from stratus.storage.records import ListingQuery, Page, SessionRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["DynamoTable", "data_of"]

T = TypeVar("T")
R = TypeVar("R")


def data_of(decode: Callable[[str], R]) -> Callable[[Mapping[str, Any]], R]:
    """How a record kept as JSON is read from its item: `decode` of the item's `data`."""
    return lambda item: decode(item["data"])


class DynamoTable:
    """One DynamoDB table (and the S3 bucket of its largest run bodies), as `DynamoStore` uses it: its
    constructor is `DynamoStore`'s."""

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
        self._location = f"dynamodb://{table}?region={region or ''}"
        self._client = client
        self._s3 = s3_client

    # --- clients ----------------------------------------------------------------------------------------

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = cast("DynamoDBClient", boto3_client("dynamodb", self.region))
        return self._client

    @property
    def s3(self) -> S3Client:
        if self._s3 is None:
            self._s3 = cast("S3Client", boto3_client("s3", self.region))
        return self._s3

    def forget_clients(self) -> None:
        """Drop the clients: the next call builds new ones (a Lambda SnapStart restore, `stratus.aws.snapstart`)."""
        self._client = self._s3 = None

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
        """Create the table (key schema, indexes, TTL) if it does not exist. For local use and tests: on AWS
        the CDK stack owns the table."""
        client = self.client
        try:
            client.describe_table(TableName=self.table)
            return
        except client.exceptions.ResourceNotFoundException:
            pass
        attributes = dict.fromkeys([keys.PK, keys.SK, *(name for i in keys.INDEXES for name in (i.pk, i.sk))])
        client.create_table(
            TableName=self.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in attributes],
            KeySchema=[{"AttributeName": keys.PK, "KeyType": "HASH"}, {"AttributeName": keys.SK, "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": index.name,
                    "KeySchema": [
                        {"AttributeName": index.pk, "KeyType": "HASH"},
                        {"AttributeName": index.sk, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.projected)},
                }
                for index in keys.INDEXES
            ],
        )
        client.get_waiter("table_exists").wait(TableName=self.table)
        client.update_time_to_live(
            TableName=self.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": keys.TTL_ATTRIBUTE}
        )

    # --- low-level helpers ------------------------------------------------------------------------------

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.client.get_item(TableName=self.table, Key=item_key(pk, sk), ConsistentRead=True)
        item = response.get("Item")
        if item is None:
            return None
        data = from_item(item)
        return data if live(data.get(keys.TTL_ATTRIBUTE)) else None

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, **kwargs):
            for item in page.get("Items", []):
                data = from_item(item)
                if live(data.get(keys.TTL_ATTRIBUTE)):
                    yield data

    def _raw(self, pk: str, sk: str) -> dict[str, Any] | None:
        """The item as stored, expired or not (what the aggregates counted)."""
        item = self.client.get_item(TableName=self.table, Key=item_key(pk, sk), ConsistentRead=True).get("Item")
        return None if item is None else from_item(item)

    def _find(self, gsi_pk: str) -> dict[str, Any] | None:
        """An item by its id alone, through the GSI (eventually consistent), then read in full."""
        for hit in self._index_hits(gsi_pk):
            return self._get(hit[keys.PK], hit[keys.SK])
        return None

    async def _read_record(self, key: tuple[str, str] | None, gsi_pk: str, decode: Callable[[str], R]) -> R | None:
        """The live record kept as JSON at `key`, or, when the caller does not know its key (None), the one
        gsi1 finds by its id (`gsi_pk`); None if absent or expired."""

        def get() -> R | None:
            item = self._find(gsi_pk) if key is None else self._get(*key)
            return None if item is None else decode(item["data"])

        return await self._call(get)

    async def _remove_item(self, key: tuple[str, str]) -> bool:
        await self._call(lambda: self._delete_keys([key]))
        return True

    def _delete_keys(self, item_keys: list[tuple[str, str]]) -> None:
        for start in range(0, len(item_keys), 25):
            requests = [{"DeleteRequest": {"Key": item_key(pk, sk)}} for pk, sk in item_keys[start : start + 25]]
            send_batch(
                lambda r: self.client.batch_write_item(RequestItems=r),
                {self.table: requests},
                left="UnprocessedItems",
                what=f"DynamoDB table {self.table!r}: deletes",
            )

    def _index_hits(self, gsi_pk: str) -> Iterator[dict[str, Any]]:
        return self._query(
            IndexName=keys.GSI1_INDEX.name,
            KeyConditionExpression="#g = :g",
            ExpressionAttributeNames={"#g": keys.GSI1_INDEX.pk},
            ExpressionAttributeValues={":g": {"S": gsi_pk}},
        )

    # --- run bodies -------------------------------------------------------------------------------------

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
            keys.GSI1_INDEX.pk: f"RUN#{run.run_id}",
            keys.GSI1_INDEX.sk: "RUN",
            **run_index(run.run_id, run.created_at),
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

    # --- listings -----------------------------------------------------------------------------------------

    async def _listing(
        self,
        query: ListingQuery,
        plan: Plan[R],
        decode: Callable[[dict[str, Any]], R],
        kind: str,
        order: Callable[[R], Any] | None,
        what: str,
    ) -> Page[R]:
        """One page of the plan's listing, its records read back from the table and decoded (`kind`: what a
        record is, for the log line of one that cannot be read); `order`, when given, is a sort done in
        memory (`what` names it in the error when the listing is too long for that)."""
        query_id, cursor = start_of("dynamodb", query)
        lister = Lister(self.client, self.table)

        def load(hits: list[dict[str, Any]]) -> list[R | None]:
            return self._load(hits, decode, kind)

        if order is None:
            return await self._call(
                lambda: lister.page(plan, load, query_id=query_id, cursor=cursor, page=query.page, limit=query.limit)
            )
        return await self._call(
            lambda: lister.sorted_page(
                plan,
                load,
                order,
                descending=query.sort_order != "asc",
                query_id=query_id,
                cursor=cursor,
                page=query.page,
                limit=query.limit,
                what=what,
            )
        )

    def _load(self, hits: list[dict[str, Any]], decode: Callable[[dict[str, Any]], R], kind: str) -> list[R | None]:
        """The records of these index entries, read back from the table in their order (None: gone or
        unreadable, the latter logged)."""
        found = Lister(self.client, self.table).batch_get([(h[keys.PK], h[keys.SK]) for h in hits])
        records: list[R | None] = []
        for hit in hits:
            item = found.get((hit[keys.PK], hit[keys.SK]))
            decoded_item = None if item is None else next(iter(decoded([item], decode, kind)), None)
            records.append(decoded_item)
        return records

    @staticmethod
    def _record_item(
        pk: str,
        sk: str,
        gsi_pk: str,
        gsi_sk: str,
        data: str,
        expires_at: int | None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The item of a record kept as JSON (`data`): its keys, its gsi1 entry and `extra` attributes."""
        return {
            keys.PK: pk,
            keys.SK: sk,
            keys.GSI1_INDEX.pk: gsi_pk,
            keys.GSI1_INDEX.sk: gsi_sk,
            "data": data,
            keys.TTL_ATTRIBUTE: expires_at,
            keys.SCHEMA_VERSION: json.loads(data)["schema_version"],
            **(extra or {}),
        }
