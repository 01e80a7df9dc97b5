"""The DynamoDB table's key schema and item layout, in one place: `DynamoStore` writes by it, the CDK stack
builds the table from it, and the tests check one against the other.

One table holds every kind of item (single-table design):

| item     | pk                                  | sk               | gsi1pk            | gsi1sk                  |
|----------|-------------------------------------|------------------|-------------------|-------------------------|
| session  | SESSION#<id>                        | META             | USER#<user>|ANON  | <updated_at>#<id>       |
| run      | SESSION#<id>                        | RUN#<run_id>     | RUN#<run_id>      | RUN                     |
| memory   | USER#<user>|ANON                    | MEMORY#<id>      | MEMORY#<id>       | MEMORY                  |
| learning | USER#<user> or AGENT#<agent>|GLOBAL  | LEARNING#<id>    | LEARNING#<id>     | LEARNING                |
| content  | KNOWLEDGE#<knowledge id>            | CONTENT#<id>     | CONTENT#<id>      | CONTENT                 |
| claim    | CLAIM#<work id>                     | CLAIM            |                   |                         |

The GSI lists a user's sessions newest first, and finds a run, memory, learning or content record by its id
alone; a claim (queue work's exactly-once guard, `Store.claim`) is in no index. Run ids are time-ordered
(UUIDv7), so `RUN#<run_id>` sort keys keep a session's runs in order and the last N runs are one query.
`expires_at` is the TTL attribute (epoch seconds); reads also drop expired items, because DynamoDB deletes them
only eventually.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ANONYMOUS",
    "COMPRESS_ABOVE_BYTES",
    "GSI1",
    "GSI1_PK",
    "GSI1_PROJECTED_ATTRIBUTES",
    "GSI1_SK",
    "ITEM_LIMIT_BYTES",
    "OFFLOAD_ABOVE_BYTES",
    "PK",
    "SCHEMA_VERSION",
    "SK",
    "TTL_ATTRIBUTE",
    "claim_key",
    "content_key",
    "learning_partition",
    "memory_key",
    "run_key",
    "session_key",
    "user_partition",
]

PK: Final = "pk"
SK: Final = "sk"
GSI1: Final = "gsi1"
GSI1_PK: Final = "gsi1pk"
GSI1_SK: Final = "gsi1sk"
TTL_ATTRIBUTE: Final = "expires_at"
SCHEMA_VERSION: Final = "schema_version"

# The session attributes the GSI carries, so listing a user's sessions needs no second read. Run items carry
# none of these beyond their ids, so their (possibly large) bodies are never copied into the index.
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


def claim_key(work_id: str) -> tuple[str, str]:
    return f"CLAIM#{work_id}", "CLAIM"
