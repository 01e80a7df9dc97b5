"""The aggregates `DynamoStore` keeps beside memories, so `memory_topics` and `user_memory_stats` read a few
small items instead of every memory.

- per user, `STATS#MEMORIES`: how many memories (`memories`, an atomic ADD) and when the latest changed
  (`last_updated_at`, also the sort key of the user's entry in gsi5 under `MEMORY_STATS`: users newest first);
- per user and topic, `TOPIC#<topic>`, and per topic across users (partition `TOPICS`): how many memories
  carry it.

A memory's write is conditioned on the revision the writer read (`rev`; a move to another user is one
transaction of the delete and the put), so of concurrent writers of one memory only one wins, and only the
winner moves the counts: right after its write, with atomic ADDs. Not in the same transaction, on purpose:
the counts across users are hot items, and transactions touching one item conflict, so concurrent writers of
different users' memories would fail each other. Reads skip counts at zero. The counts are advisory, with two
known gaps: a process that dies between a memory's write and its ADDs leaves them off by that memory; and TTL
deletes expired memories without telling anyone, so with a TTL the counts keep memories DynamoDB has expired
until they are written again or deleted (a memory written again over an expired copy takes that copy's counts
back). `list_memories` is the exact view.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

from stratus.exceptions import StoreError
from stratus.storage import keys
from stratus.storage._codec import memory_from_json, record_json
from stratus.storage._dynamo_items import Item, attr_value, from_item, item_key, to_item
from stratus.storage._dynamo_query import memory_index
from stratus.storage._dynamo_table import DynamoTable
from stratus.storage.records import UserMemory, UserMemoryStats

__all__ = ["MemoryAggregates", "aggregate_updates", "stats_from_item", "topics_request"]


def aggregate_updates(table: str, old: UserMemory | None, new: UserMemory | None, stamp: float) -> list[Item]:
    """The updates (UpdateItem arguments under `Update`) that move the aggregates from `old` (as stored;
    None: there was none) to `new` (None: deleted): the owners' counts, the latest change of `new`'s owner,
    the topic counts."""
    counts: Counter[tuple[str, str]] = Counter()
    topics: dict[tuple[str, str], str] = {}
    for memory, step in ((old, -1), (new, 1)):
        if memory is None:
            continue
        if memory.user_id is not None:
            counts[keys.memory_stats_key(memory.user_id)] += step
        for topic in set(memory.topics):
            for everyone in (False, True):
                key = keys.topic_key(memory.user_id, topic, everyone=everyone)
                counts[key] += step
                topics[key] = topic
    latest = None if new is None or new.user_id is None else keys.memory_stats_key(new.user_id)
    updates: list[Item] = []
    order: list[tuple[str, str]] = [*([latest] if latest else []), *counts]
    for key in dict.fromkeys(order):
        if counts[key] == 0 and key != latest:
            continue  # a topic it keeps, an owner it keeps
        names = {"#n": "memories"}
        values: dict[str, Any] = {":n": attr_value(counts[key])}
        sets: list[str] = []
        if key == latest and new is not None and new.user_id is not None:
            names |= {"#u": "user_id", "#t": "last_updated_at", "#gp": keys.BY_KIND_UPDATED.pk}
            names["#gs"] = keys.BY_KIND_UPDATED.sk
            values |= {
                ":u": attr_value(new.user_id),
                ":t": attr_value(stamp),
                ":gp": attr_value(keys.MEMORY_STATS),
                ":gs": attr_value(keys.time_sort_key(stamp, new.user_id)),
            }
            sets = ["#u = :u", "#t = :t", "#gp = :gp", "#gs = :gs"]
        elif key in topics:
            names["#topic"] = "topic"
            values[":topic"] = attr_value(topics[key])
            sets = ["#topic = :topic"]
        expression = ("SET " + ", ".join(sets) + " " if sets else "") + "ADD #n :n"
        updates.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": item_key(*key),
                    "UpdateExpression": expression,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        )
    return updates


def topics_request(table: str, user_id: str | None, *, everyone: bool) -> dict[str, Any]:
    """The Query of the topic counts of a user (or everyone's): one small item per topic, topic order."""
    partition = keys.TOPICS if everyone else keys.user_partition(user_id)
    return {
        "TableName": table,
        "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :topic)",
        "FilterExpression": "#n > :zero",
        "ProjectionExpression": "#topic",
        "ExpressionAttributeNames": {"#pk": keys.PK, "#sk": keys.SK, "#n": "memories", "#topic": "topic"},
        "ExpressionAttributeValues": {":pk": {"S": partition}, ":topic": {"S": "TOPIC#"}, ":zero": {"N": "0"}},
    }


def stats_from_item(data: dict[str, Any]) -> UserMemoryStats | None:
    """A user's stats from their (decoded) stats item or its gsi5 entry; None when they have none."""
    count = int(data.get("memories") or 0)
    if count <= 0 or not data.get("user_id"):
        return None
    latest = data.get("last_updated_at")
    if latest is None and data.get(keys.BY_KIND_UPDATED.sk):
        latest = keys.time_of(str(data[keys.BY_KIND_UPDATED.sk]))
    return UserMemoryStats(
        user_id=str(data["user_id"]),
        total_memories=count,
        last_memory_updated_at=None if latest is None else float(latest),
    )


class MemoryAggregates(DynamoTable):
    """Memory writes that move the aggregates with them, for `DynamoStore`."""

    def _stored_memory(self, memory_id: str, user_id: str | None) -> tuple[UserMemory, str | None] | None:
        """The memory as stored, expired or not, and its revision: at its owner's key, else by id."""
        item = self._raw(*keys.memory_key(user_id, memory_id))
        if item is None:
            hit = next(self._index_hits(f"MEMORY#{memory_id}"), None)
            item = None if hit is None else self._raw(hit[keys.PK], hit[keys.SK])
        if item is None:
            return None
        return memory_from_json(item["data"]), item.get("rev")

    def memory_item(self, memory: UserMemory) -> dict[str, Any]:
        """The item a memory is stored as (a fresh revision each time): keys, listing-index entries, filter
        attributes."""
        pk, sk = _memory_key(memory)
        gsi_pk = f"MEMORY#{memory.memory_id}"
        extra = {"rev": uuid.uuid4().hex, **memory_index(memory)}
        return self._record_item(pk, sk, gsi_pk, "MEMORY", record_json(memory), memory.expires_at, extra)

    def _write_memory(self, old: tuple[UserMemory, str | None] | None, new: UserMemory | None, stamp: float) -> bool:
        """Put `new` (None: delete `old`) and move the aggregates, in one transaction; False if the memory
        changed since `old` was read."""
        client = self.client
        before = None if old is None else old[0]
        writes: list[Any] = []
        moved = before is not None and (new is None or _memory_key(new) != _memory_key(before))
        if old is not None and before is not None and moved:
            writes.append({"Delete": {"TableName": self.table, "Key": item_key(*_memory_key(before)), **_as_read(old)}})
        if new is not None:
            item = self.memory_item(new)
            condition = _as_read(old if before is not None and not moved else None)
            writes.append({"Put": {"TableName": self.table, "Item": to_item(item), **condition}})
        try:
            if len(writes) == 1 and "Put" in writes[0]:
                client.put_item(**writes[0]["Put"])
            elif len(writes) == 1:
                client.delete_item(**writes[0]["Delete"])
            else:  # moved to another user: both copies change at once, or neither
                client.transact_write_items(TransactItems=writes)
        except client.exceptions.ConditionalCheckFailedException:
            return False
        except client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
                return False
            raise StoreError(f"DynamoDB table {self.table!r}: transaction cancelled: {reasons}") from exc
        for update in aggregate_updates(self.table, before, new, stamp):
            client.update_item(**update["Update"])
        return True

    def _refresh_latest(self, deleted: UserMemory) -> None:
        """After a delete, the owner's latest change is their newest remaining memory's (one short Query)."""
        if deleted.user_id is None:
            return
        index = keys.BY_OWNER_UPDATED
        hits = self.client.query(
            TableName=self.table,
            IndexName=index.name,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": index.pk},
            ExpressionAttributeValues={":p": {"S": keys.memories_scope(deleted.user_id)}},
            ScanIndexForward=False,
            Limit=2,
        ).get("Items", [])
        newest = next((from_item(h) for h in hits if from_item(h)[keys.SK] != _memory_key(deleted)[1]), None)
        if newest is None:
            return
        latest = keys.time_of(str(newest[index.sk]))
        self.client.update_item(
            TableName=self.table,
            Key=item_key(*keys.memory_stats_key(deleted.user_id)),
            UpdateExpression="SET #t = :t, #gs = :gs",
            ConditionExpression="attribute_exists(#t)",
            ExpressionAttributeNames={"#t": "last_updated_at", "#gs": keys.BY_KIND_UPDATED.sk},
            ExpressionAttributeValues={
                ":t": attr_value(latest),
                ":gs": attr_value(keys.time_sort_key(latest, deleted.user_id)),
            },
        )


def _memory_key(memory: UserMemory) -> tuple[str, str]:
    return keys.memory_key(memory.user_id, memory.memory_id)


def _as_read(old: tuple[UserMemory, str | None] | None) -> dict[str, Any]:
    """The condition that the item is still as it was read: at revision `old[1]`, or absent (None)."""
    if old is None:
        return {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": {"#pk": keys.PK}}
    if old[1] is None:  # written before memories carried a revision
        return {
            "ConditionExpression": "attribute_exists(#pk) AND attribute_not_exists(#rev)",
            "ExpressionAttributeNames": {"#pk": keys.PK, "#rev": "rev"},
        }
    return {
        "ConditionExpression": "#rev = :rev",
        "ExpressionAttributeNames": {"#rev": "rev"},
        "ExpressionAttributeValues": {":rev": attr_value(old[1])},
    }
