"""The DynamoDB table's key schema and item layout, in one place: `DynamoStore` writes by it, the CDK stack
builds the table and its indexes from it, and the tests check one against the other.

One table holds every kind of item (single-table design):

| item         | pk                                 | sk              | gsi1pk         | gsi1sk   |
|--------------|------------------------------------|-----------------|----------------|----------|
| session      | SESSION#<id>                       | META            | -              | -        |
| run          | SESSION#<id>                       | RUN#<run_id>    | RUN#<run_id>   | RUN      |
| memory       | USER#<user>|ANON                   | MEMORY#<id>     | MEMORY#<id>    | MEMORY   |
| learning     | USER#<user> or AGENT#<agent>|GLOBAL | LEARNING#<id>   | LEARNING#<id>  | LEARNING |
| content      | KNOWLEDGE#<knowledge id>           | CONTENT#<id>    | CONTENT#<id>   | CONTENT  |
| memory stats | USER#<user>                        | STATS#MEMORIES  | -              | -        |
| topic count  | USER#<user>|ANON, or TOPICS (all)  | TOPIC#<topic>   | -              | -        |
| claim        | CLAIM#<work id>                    | CLAIM           | -              | -        |
| eval run     | USER#<user>|ANON                   | EVAL#<id>       | EVAL#<id>      | EVAL     |
| day metrics  | METRICS (everyone), METRICS#<owner>| DAY#<YYYY-MM-DD>| -              | -        |
| metrics state| METRICS                            | STATE           | -              | -        |

`gsi1` finds a run, memory, learning, content record or eval run by its id alone. (Sessions written before
the listing indexes below also carry `USER#<user>` / `<updated_at>#<id>` there; nothing reads those now.) A
day's metrics are one item of everyone's runs and one per user (`METRICS#USER#<user>`, `METRICS#ANON` for
runs without one), so a date range is one Query of one partition. A claim
(queue work's exactly-once guard, `Store.claim`) is in no index. Run ids are time-ordered (UUIDv7), so
`RUN#<run_id>` sort keys keep a session's runs in order and the last N runs are one query.

Listings are served by four more indexes, two per scope, one per time (`<time>#<id>`, fixed width, so text
order is time order and ties fall to the id):

| index | pk attribute: value                     | sk                  | lists                                     |
|-------|-----------------------------------------|---------------------|-------------------------------------------|
| gsi2  | owner scope (below)                     | <created_at>#<id>   | an owner's records, by creation           |
| gsi3  | owner scope                             | <updated_at>#<id>   | an owner's records, by last change        |
| gsi4  | kind scope (below)                      | <created_at>#<id>   | everyone's records (admin views)          |
| gsi5  | kind scope                              | <updated_at>#<id>   | everyone's records; users by memory change|

| record   | owner scope                                      | kind scope                  |
|----------|--------------------------------------------------|-----------------------------|
| session  | USER#<user>#SESSIONS (ANON#SESSIONS)             | SESSIONS                    |
| memory   | USER#<user>#MEMORIES (ANON#MEMORIES)             | MEMORIES                    |
| learning | <learning pk>#LEARNINGS                          | LEARNINGS                   |
| content  | KNOWLEDGE#<kb>#USER#<user>#CONTENTS (..#ANON#..) | KNOWLEDGE#<kb>#CONTENTS     |
| eval run | USER#<user>#EVALS (ANON#EVALS)                   | EVALS                       |
| stats    | -                                                | MEMORY_STATS (gsi5 only)    |
| run      | -                                                | RUNS#<day> (gsi4 only)      |

A run is in gsi4 under the UTC day it was created (`YYYY-MM-DD`): the daily metrics read a day's runs from
there. A learning of an internal type (`_run_learned`, ...) gets `#<type>` after both scopes, so the marks runs
leave never sit in (nor slow down) the listings and the recall of what users and clients see. The listing
indexes carry the keys and the few attributes filters test (`FILTER_ATTRIBUTES`), not the records: a page
is read back from the table with one BatchGetItem, so a session's state is never copied four times.
A table written before the listing indexes gets its records' entries from `stratus reindex`
(`DynamoStore.rebuild_indexes`, one Scan, never on a request path). `expires_at` is the TTL attribute (epoch
seconds); reads also drop expired items, because DynamoDB deletes them only eventually.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "ANONYMOUS",
    "BY_KIND_CREATED",
    "BY_KIND_UPDATED",
    "BY_OWNER_CREATED",
    "BY_OWNER_UPDATED",
    "COMPRESS_ABOVE_BYTES",
    "EVALS_KIND",
    "FILTER_ATTRIBUTES",
    "GSI1_INDEX",
    "GSI1_PROJECTED_ATTRIBUTES",
    "INDEXES",
    "ITEM_LIMIT_BYTES",
    "LISTING_INDEXES",
    "MEMORIES_KIND",
    "MEMORY_STATS",
    "MEMORY_STATS_SK",
    "METRICS",
    "METRICS_STATE_SK",
    "OFFLOAD_ABOVE_BYTES",
    "PK",
    "SCHEMA_VERSION",
    "SESSIONS_KIND",
    "SK",
    "TOPICS",
    "TTL_ATTRIBUTE",
    "Index",
    "claim_key",
    "content_key",
    "contents_kind",
    "contents_scope",
    "eval_key",
    "evals_scope",
    "learning_partition",
    "learnings_kind",
    "learnings_scope",
    "memories_scope",
    "memory_key",
    "memory_stats_key",
    "metrics_key",
    "run_key",
    "runs_kind",
    "session_key",
    "sessions_scope",
    "time_of",
    "time_sort_key",
    "topic_key",
    "user_partition",
]

PK: Final = "pk"
SK: Final = "sk"
TTL_ATTRIBUTE: Final = "expires_at"
SCHEMA_VERSION: Final = "schema_version"

# The session attributes gsi1 carries (from when it listed sessions; an index's projection cannot change).
# Run items carry none of these beyond their ids, so their (possibly large) bodies are never copied into it.
GSI1_PROJECTED_ATTRIBUTES: Final = (
    "session_id",
    "session_type",
    "component_id",
    "user_id",
    "session_name",
    "session_state",
    "metadata",
    "summary",
    "component_data",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "created_at",
    "updated_at",
    "version",
    SCHEMA_VERSION,
    TTL_ATTRIBUTE,
)

FILTER_ATTRIBUTES: Final = (
    "user_id",
    "agent_id",
    "team_id",
    "session_type",
    "component_id",
    "topics",
    "learning_type",
    "namespace",
    "session_id",
    "entity_id",
    "entity_type",
    "status",
    "content_hash",
    "memories",
    TTL_ATTRIBUTE,
)
"""What the listing indexes carry besides keys: the attributes their FilterExpressions test (and the count of
a user's memory stats), all small; the records themselves are read from the table."""


@dataclass(frozen=True, slots=True)
class Index:
    """A global secondary index: its name, its key attributes and the non-key attributes it carries."""

    name: str
    pk: str
    sk: str
    projected: tuple[str, ...]


GSI1_INDEX: Final = Index("gsi1", "gsi1pk", "gsi1sk", GSI1_PROJECTED_ATTRIBUTES)
BY_OWNER_CREATED: Final = Index("gsi2", "gsi2pk", "gsi2sk", FILTER_ATTRIBUTES)
BY_OWNER_UPDATED: Final = Index("gsi3", "gsi3pk", "gsi3sk", FILTER_ATTRIBUTES)
BY_KIND_CREATED: Final = Index("gsi4", "gsi4pk", "gsi4sk", FILTER_ATTRIBUTES)
BY_KIND_UPDATED: Final = Index("gsi5", "gsi5pk", "gsi5sk", FILTER_ATTRIBUTES)
LISTING_INDEXES: Final = (BY_OWNER_CREATED, BY_OWNER_UPDATED, BY_KIND_CREATED, BY_KIND_UPDATED)
INDEXES: Final = (GSI1_INDEX, *LISTING_INDEXES)
"""Every index of the table, as `create_table` and the CDK construct build them."""

SESSIONS_KIND: Final = "SESSIONS"
MEMORIES_KIND: Final = "MEMORIES"
MEMORY_STATS: Final = "MEMORY_STATS"
"""The kind scope (in gsi5) of the per-user memory stats items: users, most recent memory change first."""
MEMORY_STATS_SK: Final = "STATS#MEMORIES"
EVALS_KIND: Final = "EVALS"
METRICS: Final = "METRICS"
"""The partition of everyone's daily metrics and of the metrics' refresh state."""
METRICS_STATE_SK: Final = "STATE"
TOPICS: Final = "TOPICS"
"""The partition of the topic counts across every user."""

ITEM_LIMIT_BYTES: Final = 400 * 1024
"""DynamoDB's hard limit on one item."""

COMPRESS_ABOVE_BYTES: Final = 32 * 1024
"""A run body larger than this is stored zlib-compressed."""

OFFLOAD_ABOVE_BYTES: Final = 350 * 1024
"""A compressed run body larger than this goes to S3; the item keeps a pointer (room left for attributes)."""

ANONYMOUS: Final = "ANON"
"""The partition of items that belong to no user."""


def user_partition(user_id: str | None) -> str:
    return f"USER#{user_id}" if user_id is not None else ANONYMOUS


def session_key(session_id: str) -> tuple[str, str]:
    return f"SESSION#{session_id}", "META"


def run_key(session_id: str, run_id: str) -> tuple[str, str]:
    return f"SESSION#{session_id}", f"RUN#{run_id}"


def memory_key(user_id: str | None, memory_id: str) -> tuple[str, str]:
    return user_partition(user_id), f"MEMORY#{memory_id}"


def learning_partition(user_id: str | None, agent_id: str | None) -> str:
    if user_id is not None:
        return f"USER#{user_id}"
    if agent_id is not None:
        return f"AGENT#{agent_id}"
    return "GLOBAL"


def content_key(knowledge_id: str, content_id: str) -> tuple[str, str]:
    return f"KNOWLEDGE#{knowledge_id}", f"CONTENT#{content_id}"


def topic_key(user_id: str | None, topic: str, *, everyone: bool = False) -> tuple[str, str]:
    """The count of a user's (or, with `everyone`, all users') memories on a topic."""
    return (TOPICS if everyone else user_partition(user_id)), f"TOPIC#{topic}"


def memory_stats_key(user_id: str) -> tuple[str, str]:
    """A user's memory count and the time of their latest memory change."""
    return user_partition(user_id), MEMORY_STATS_SK


def time_sort_key(stamp: float, record_id: str) -> str:
    """A listing index's sort key: fixed width, so text order is time order; ties fall to the id."""
    return f"{stamp:020.6f}#{record_id}"


def time_of(sort_key: str) -> float:
    """The time a `time_sort_key` starts with."""
    return float(sort_key.partition("#")[0])


def sessions_scope(user_id: str | None) -> str:
    return f"{user_partition(user_id)}#SESSIONS"


def memories_scope(user_id: str | None) -> str:
    return f"{user_partition(user_id)}#MEMORIES"


def _internal(learning_type: str | None) -> str:
    return f"#{learning_type}" if learning_type and learning_type.startswith("_") else ""


def learnings_scope(user_id: str | None, agent_id: str | None, learning_type: str | None) -> str:
    return f"{learning_partition(user_id, agent_id)}#LEARNINGS{_internal(learning_type)}"


def learnings_kind(learning_type: str | None) -> str:
    return f"LEARNINGS{_internal(learning_type)}"


def contents_scope(knowledge_id: str, user_id: str | None) -> str:
    return f"KNOWLEDGE#{knowledge_id}#{user_partition(user_id)}#CONTENTS"


def contents_kind(knowledge_id: str) -> str:
    return f"KNOWLEDGE#{knowledge_id}#CONTENTS"


def eval_key(user_id: str | None, eval_id: str) -> tuple[str, str]:
    return user_partition(user_id), f"EVAL#{eval_id}"


def evals_scope(user_id: str | None) -> str:
    return f"{user_partition(user_id)}#EVALS"


def metrics_key(day: str, owner: str | None, *, everyone: bool) -> tuple[str, str]:
    """A day's metrics: of everyone's runs, or of one owner's (None: the runs no user owns)."""
    return (METRICS if everyone else f"{METRICS}#{user_partition(owner)}"), f"DAY#{day}"


def runs_kind(day: str) -> str:
    """The gsi4 partition of the runs created on a UTC day (`YYYY-MM-DD`), which the daily metrics read."""
    return f"RUNS#{day}"


def claim_key(work_id: str) -> tuple[str, str]:
    return f"CLAIM#{work_id}", "CLAIM"
