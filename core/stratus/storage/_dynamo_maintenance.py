"""Maintenance of a `DynamoStore` table, never run on a request path: the one place stratus Scans.

`rebuild_indexes` reads the whole table once and gives every session, memory, learning and content item
the listing-index entries and filter attributes this version writes (a table written before the listing
indexes lists nothing it holds until then), drops sessions' old gsi1 entries, and recounts the memory
aggregates (per-user stats, topic counts) from the live memories, which also repairs counts that TTL
expiry left behind. Writes made while it runs may be counted twice or not at all: run it while the table is
quiet, and again if in doubt (it is idempotent). The deployed functions may not Scan; run it with an
operator's credentials (`stratus reindex dynamodb://<table>?region=...`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stratus.storage import keys
from stratus.storage._codec import (
    content_from_json,
    eval_from_json,
    learning_from_json,
    live,
    memory_from_json,
    session_from_dict,
)
from stratus.storage._dynamo_items import Update, attr_value, from_item, item_key
from stratus.storage._dynamo_query import (
    content_index,
    eval_index,
    learning_index,
    memory_index,
    run_index,
    session_index,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["IndexRebuild", "rebuild_indexes"]

logger = logging.getLogger("stratus.storage")


@dataclass(slots=True)
class IndexRebuild:
    """What `rebuild_indexes` did: items read, records given their index entries, aggregates written."""

    scanned: int = 0
    reindexed: int = 0
    aggregates: int = 0
    unreadable: int = 0


def _entries(data: dict[str, Any]) -> dict[str, Any] | None:
    """The listing attributes an item of this version carries, or None for an item that has none."""
    sk = str(data.get(keys.SK, ""))
    if sk == "META" and str(data.get(keys.PK, "")).startswith("SESSION#"):
        return dict(session_index(session_from_dict(data)))
    if sk.startswith("RUN#") and str(data.get(keys.PK, "")).startswith("SESSION#"):
        return dict(run_index(str(data["run_id"]), float(data["created_at"])))
    decoders: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "MEMORY#": lambda d: memory_index(memory_from_json(d["data"])),
        "LEARNING#": lambda d: learning_index(learning_from_json(d["data"])),
        "CONTENT#": lambda d: content_index(content_from_json(d["data"])),
        "EVAL#": lambda d: eval_index(eval_from_json(d["data"])),
    }
    for prefix, entries in decoders.items():
        if sk.startswith(prefix) and "data" in data:
            return entries(data)
    return None


def rebuild_indexes(client: DynamoDBClient, table: str) -> IndexRebuild:
    """Give every record its listing entries and recount the memory aggregates (see the module)."""
    report = IndexRebuild()
    counts: Counter[tuple[str, str]] = Counter()
    topics: dict[tuple[str, str], str] = {}
    latest: dict[tuple[str, str], tuple[str, float]] = {}  # a user's stats key: the user, their latest change
    stale: set[tuple[str, str]] = set()
    for page in client.get_paginator("scan").paginate(TableName=table):
        for raw in page.get("Items", []):
            report.scanned += 1
            data = from_item(raw)
            pk, sk = str(data[keys.PK]), str(data[keys.SK])
            if sk == keys.MEMORY_STATS_SK or sk.startswith("TOPIC#"):
                stale.add((pk, sk))
                continue
            try:
                entries = _entries(data)
            except Exception as exc:  # one unreadable record must not stop the rest
                report.unreadable += 1
                logger.warning("rebuild_indexes skipped %s/%s: %s: %s", pk, sk, type(exc).__name__, exc)
                continue
            if entries is None:
                continue
            update = Update()
            for name, value in entries.items():
                update.set(name, value if value != set() else None)
            if sk == "META":
                update.set(keys.GSI1_INDEX.pk, None)
                update.set(keys.GSI1_INDEX.sk, None)
            client.update_item(TableName=table, Key=item_key(pk, sk), **update.arguments())
            report.reindexed += 1
            if sk.startswith("MEMORY#") and live(data.get(keys.TTL_ATTRIBUTE)):
                memory = memory_from_json(data["data"])
                if memory.user_id is not None:
                    key = keys.memory_stats_key(memory.user_id)
                    counts[key] += 1
                    latest[key] = (memory.user_id, max(latest.get(key, ("", 0.0))[1], memory.updated_at))
                for topic in set(memory.topics):
                    for everyone in (False, True):
                        key = keys.topic_key(memory.user_id, topic, everyone=everyone)
                        counts[key] += 1
                        topics[key] = topic
    for key in stale - set(counts):  # counted once, nothing live now
        client.delete_item(TableName=table, Key=item_key(*key))
        report.aggregates += 1
    for key, count in counts.items():
        item: dict[str, Any] = {keys.PK: attr_value(key[0]), keys.SK: attr_value(key[1]), "memories": attr_value(count)}
        if key in topics:
            item["topic"] = attr_value(topics[key])
        else:  # a user's stats
            user, stamp = latest[key]
            item |= {
                "user_id": attr_value(user),
                "last_updated_at": attr_value(stamp),
                keys.BY_KIND_UPDATED.pk: attr_value(keys.MEMORY_STATS),
                keys.BY_KIND_UPDATED.sk: attr_value(keys.time_sort_key(stamp, user)),
            }
        client.put_item(TableName=table, Item=item)
        report.aggregates += 1
    return report
