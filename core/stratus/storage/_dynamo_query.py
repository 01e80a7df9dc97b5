"""How `DynamoStore` answers a listing with Query alone, never a Scan.

Each query becomes a `Plan`: one listing index (`keys.LISTING_INDEXES`) and partition, picked by who is
named (a user, an agent's shared records, a knowledge base) and the sort field (created_at or updated_at),
a FilterExpression for the filters the index carries (`keys.FILTER_ATTRIBUTES`), and the record-by-record
check of `_codec` for the rest (text searches, which are case-insensitive) and as a second guard. `Lister`
runs a plan: it queries the index, reads the page's records back from the table with BatchGetItem, and
loops until the page is full, so a filter that drops items still yields full pages.

Paging: a cursor carries the key of the last item returned, the next page's `ExclusiveStartKey`, and is
checked against the plan (its index key must be in the partition queried). With a cursor, one page makes at
most `MAX_QUERY_CALLS` Query calls; a filter that leaves that stretch nearly empty yields a short page
(possibly none) and a cursor to go on with. A page number without a cursor reads through the pages before it
(counting index entries, or reading records when a text search must be checked), so deep page numbers cost
what they skip: use cursors. The total is known, and given, only on a listing's last page.

Sorts no index serves (a session's or content's name, a memory's text) are answered from the time-sorted
listing read whole, sorted in memory, if it holds at most `SORT_IN_MEMORY_LIMIT` entries; a larger one is an
`UnsupportedQueryError` naming what can be served.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, cast

from stratus.exceptions import UnsupportedQueryError
from stratus.storage import keys
from stratus.storage._codec import live
from stratus.storage._cursor import Cursor, bad_position
from stratus.storage._dynamo_items import Item, attr_value, from_item, send_batch
from stratus.storage._metrics import day_of
from stratus.storage.records import (
    ContentQuery,
    ContentRecord,
    EvalQuery,
    EvalRecord,
    LearningQuery,
    LearningRecord,
    MemoryQuery,
    Page,
    SessionQuery,
    SessionRecord,
    UserMemory,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "MAX_QUERY_CALLS",
    "SORT_IN_MEMORY_LIMIT",
    "Lister",
    "Plan",
    "content_index",
    "content_plan",
    "eval_index",
    "eval_plan",
    "learning_index",
    "learning_plan",
    "memory_index",
    "memory_plan",
    "run_index",
    "session_index",
    "session_plan",
]

R = TypeVar("R")

MAX_QUERY_CALLS: Final = 25
"""Query calls one cursor page may make before it returns what it found (each reads up to 1 MB)."""
SORT_IN_MEMORY_LIMIT: Final = 1000
"""The most index entries a listing sorted by a field no index serves may hold."""
_BATCH_GET: Final = 100  # BatchGetItem's most keys per call
_MAX_LIMIT: Final = 1000  # the most index entries one Query call is asked for


# --- what each record's item carries for the listings ------------------------------------------------------


def _entries(owner: str | None, kind: str | None, record_id: str, created: float, updated: float) -> dict[str, str]:
    out: dict[str, str] = {}
    if owner is not None:
        out[keys.BY_OWNER_CREATED.pk] = out[keys.BY_OWNER_UPDATED.pk] = owner
        out[keys.BY_OWNER_CREATED.sk] = keys.time_sort_key(created, record_id)
        out[keys.BY_OWNER_UPDATED.sk] = keys.time_sort_key(updated, record_id)
    if kind is not None:
        out[keys.BY_KIND_CREATED.pk] = out[keys.BY_KIND_UPDATED.pk] = kind
        out[keys.BY_KIND_CREATED.sk] = keys.time_sort_key(created, record_id)
        out[keys.BY_KIND_UPDATED.sk] = keys.time_sort_key(updated, record_id)
    return out


def run_index(run_id: str, created_at: float) -> dict[str, str]:
    """A run's entry in gsi4: under the UTC day it was created, where the daily metrics find it."""
    return {
        keys.BY_KIND_CREATED.pk: keys.runs_kind(day_of(created_at)),
        keys.BY_KIND_CREATED.sk: keys.time_sort_key(created_at, run_id),
    }


def session_index(session: SessionRecord) -> dict[str, str]:
    """The listing-index attributes of a session's item (its filter attributes are its own)."""
    return _entries(
        keys.sessions_scope(session.user_id),
        keys.SESSIONS_KIND,
        session.session_id,
        session.created_at,
        session.updated_at,
    )


def memory_index(memory: UserMemory) -> dict[str, Any]:
    """The listing-index and filter attributes of a memory's item."""
    entries = _entries(
        keys.memories_scope(memory.user_id),
        keys.MEMORIES_KIND,
        memory.memory_id,
        memory.created_at,
        memory.updated_at,
    )
    return {
        **entries,
        "user_id": memory.user_id,
        "agent_id": memory.agent_id,
        "team_id": memory.team_id,
        "topics": set(memory.topics),
    }


def learning_index(learning: LearningRecord) -> dict[str, Any]:
    entries = _entries(
        keys.learnings_scope(learning.user_id, learning.agent_id, learning.learning_type),
        keys.learnings_kind(learning.learning_type),
        learning.learning_id,
        learning.created_at,
        learning.updated_at,
    )
    filters = ("user_id", "agent_id", "learning_type", "namespace", "session_id", "team_id", "entity_id")
    return {**entries, **{name: getattr(learning, name) for name in (*filters, "entity_type")}}


def eval_index(record: EvalRecord) -> dict[str, Any]:
    entries = _entries(
        keys.evals_scope(record.user_id), keys.EVALS_KIND, record.eval_id, record.created_at, record.updated_at
    )
    return {**entries, "user_id": record.user_id, "agent_id": record.agent_id, "team_id": record.team_id}


def content_index(content: ContentRecord) -> dict[str, Any]:
    entries = _entries(
        keys.contents_scope(content.knowledge_id, content.user_id),
        keys.contents_kind(content.knowledge_id),
        content.content_id,
        content.created_at,
        content.updated_at,
    )
    return {
        **entries,
        "user_id": content.user_id,
        "status": content.status.value,
        "content_hash": content.content_hash,
    }


# --- plans --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Filters:
    """A FilterExpression being built: `attribute = value` clauses, ANDed."""

    parts: list[str] = field(default_factory=list[str])
    names: dict[str, str] = field(default_factory=dict[str, str])
    values: dict[str, Any] = field(default_factory=dict[str, Any])

    def _name(self, attribute: str) -> str:
        alias = f"#f{len(self.names)}"
        self.names[alias] = attribute
        return alias

    def _value(self, value: Any) -> str:
        alias = f":f{len(self.values)}"
        self.values[alias] = attr_value(value)
        return alias

    def equal(self, attribute: str, value: str | None) -> None:
        if value is not None:
            self.parts.append(f"{self._name(attribute)} = {self._value(value)}")

    def absent(self, attribute: str) -> None:
        self.parts.append(f"attribute_not_exists({self._name(attribute)})")

    def any_of(self, attribute: str, wanted: list[str]) -> None:
        name = self._name(attribute)
        self.parts.append("(" + " OR ".join(f"contains({name}, {self._value(v)})" for v in wanted) + ")")

    def at_least(self, attribute: str, value: int) -> None:
        self.parts.append(f"{self._name(attribute)} >= {self._value(value)}")


@dataclass(slots=True, kw_only=True)
class Plan(Generic[R]):
    """One listing's Query: index, partition, direction and filters; `check` judges each record read back
    (every filter, again, and those the index cannot evaluate), `exact` says the FilterExpression alone
    decides a match (so a page number can be skipped through without reading records)."""

    index: keys.Index
    partition: str
    forward: bool
    check: Callable[[R], bool]
    exact: bool = True
    filters: _Filters = field(default_factory=_Filters)

    def arguments(self, now: float) -> dict[str, Any]:
        names = {"#p": self.index.pk, "#ttl": keys.TTL_ATTRIBUTE, **self.filters.names}
        values = {":p": {"S": self.partition}, ":now": attr_value(now), **self.filters.values}
        expression = " AND ".join(["(attribute_not_exists(#ttl) OR #ttl > :now)", *self.filters.parts])
        return {
            "IndexName": self.index.name,
            "KeyConditionExpression": "#p = :p",
            "FilterExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": self.forward,
        }


def _index(owner: bool, sort_by: str) -> keys.Index:
    if sort_by == "updated_at":
        return keys.BY_OWNER_UPDATED if owner else keys.BY_KIND_UPDATED
    return keys.BY_OWNER_CREATED if owner else keys.BY_KIND_CREATED


def _time_sort(sort_by: str) -> str:
    return sort_by if sort_by in ("created_at", "updated_at") else "created_at"


def _time_plan(
    query: SessionQuery | MemoryQuery | ContentQuery | EvalQuery,
    owned: Callable[[str], str],
    everyone: str,
    check: Callable[[R], bool],
    *,
    exact: bool = True,
) -> Plan[R]:
    """A plan reading the query's user's partition (`owned(user_id)`), or every record of the kind
    (`everyone`), in the order of the query's time sort (a sort by text is done in memory)."""
    owner = query.user_id
    return Plan(
        index=_index(owner is not None, _time_sort(query.sort_by)),
        partition=owned(owner) if owner is not None else everyone,
        forward=query.sort_order == "asc",
        check=check,
        exact=exact,
    )


def session_plan(query: SessionQuery, check: Callable[[SessionRecord], bool]) -> Plan[SessionRecord]:
    # A name is a case-insensitive substring: checked record by record.
    plan = _time_plan(query, keys.sessions_scope, keys.SESSIONS_KIND, check, exact=not query.session_name)
    plan.filters.equal("session_type", None if query.session_type is None else query.session_type.value)
    plan.filters.equal("component_id", query.component_id)
    return plan


def memory_plan(query: MemoryQuery, check: Callable[[UserMemory], bool]) -> Plan[UserMemory]:
    plan = _time_plan(query, keys.memories_scope, keys.MEMORIES_KIND, check, exact=not query.search_content)
    plan.filters.equal("agent_id", query.agent_id)
    plan.filters.equal("team_id", query.team_id)
    if query.topics:
        plan.filters.any_of("topics", list(query.topics))
    return plan


def learning_plan(query: LearningQuery, check: Callable[[LearningRecord], bool]) -> Plan[LearningRecord]:
    kind = query.learning_type
    if query.user_id is not None:
        index, partition = _index(True, query.sort_by), keys.learnings_scope(query.user_id, None, kind)
    elif query.shared and query.agent_id is not None:  # an agent's insights for every user: the recall
        index, partition = _index(True, query.sort_by), keys.learnings_scope(None, query.agent_id, kind)
    else:
        index, partition = _index(False, query.sort_by), keys.learnings_kind(kind)
    plan = Plan(index=index, partition=partition, forward=query.sort_order == "asc", check=check)
    if query.shared:
        plan.filters.absent("user_id")
    plan.filters.equal("agent_id", query.agent_id)
    plan.filters.equal("learning_type", kind)
    for name in ("namespace", "session_id", "team_id", "entity_id", "entity_type"):
        plan.filters.equal(name, getattr(query, name))
    return plan


def eval_plan(query: EvalQuery, check: Callable[[EvalRecord], bool]) -> Plan[EvalRecord]:
    # The workflow, model, types and component kind are not in the indexes: checked record by record.
    exact = not (query.workflow_id or query.model_id or query.eval_types or query.component_type)
    plan = _time_plan(query, keys.evals_scope, keys.EVALS_KIND, check, exact=exact)
    plan.filters.equal("agent_id", query.agent_id)
    plan.filters.equal("team_id", query.team_id)
    return plan


def content_plan(query: ContentQuery, check: Callable[[ContentRecord], bool]) -> Plan[ContentRecord]:
    knowledge_id = query.knowledge_id
    everyone = keys.contents_kind(knowledge_id)
    plan = _time_plan(query, lambda user_id: keys.contents_scope(knowledge_id, user_id), everyone, check)
    plan.filters.equal("status", None if query.status is None else query.status.value)
    plan.filters.equal("content_hash", query.content_hash)
    return plan


# --- running a plan -----------------------------------------------------------------------------------------


class Lister:
    """Runs plans on one table: Query the index, read the records back, fill the page, make the cursor.

    The `load` each listing passes reads the records of index entries back from the table, in their order
    (None for an item gone, expired or unreadable meanwhile), or decodes the entries themselves when they
    are the records (the memory stats)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    def batch_get(self, item_keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The live items of these keys (consistent reads), by key; absent or expired ones are left out."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(item_keys), _BATCH_GET):
            wanted = [{keys.PK: {"S": pk}, keys.SK: {"S": sk}} for pk, sk in item_keys[start : start + _BATCH_GET]]
            for response in send_batch(
                lambda r: self.client.batch_get_item(RequestItems=r),
                {self.table: {"Keys": wanted, "ConsistentRead": True}},
                left="UnprocessedKeys",
                what=f"DynamoDB table {self.table!r}: reads",
            ):
                for raw in response.get("Responses", {}).get(self.table, []):
                    data = from_item(raw)
                    if live(data.get(keys.TTL_ATTRIBUTE)):
                        found[(data[keys.PK], data[keys.SK])] = data
        return found

    def page(
        self,
        plan: Plan[R],
        load: Callable[[list[dict[str, Any]]], list[R | None]],
        *,
        query_id: str,
        cursor: Cursor | None,
        page: int,
        limit: int,
    ) -> Page[R]:
        """One page of the plan's listing (see the module's docstring for what a page costs)."""
        limit = max(1, limit)
        start = None if cursor is None else self._start(plan, cursor)
        offset = cursor.offset if cursor is not None else (max(1, page) - 1) * limit
        skip = 0 if cursor is not None else offset
        found: list[R] = []
        calls, now = 0, time.time()
        while True:
            need = skip + limit - len(found)
            arguments = plan.arguments(now)
            batch = need + 1 if not plan.filters.parts and plan.exact else max(4 * need, 100)
            arguments["Limit"] = min(_MAX_LIMIT, batch)
            if start is not None:
                arguments["ExclusiveStartKey"] = start
            response = self.client.query(TableName=self.table, **arguments)
            calls += 1
            hits = [from_item(hit) for hit in response.get("Items", [])]
            following = cast(Item | None, response.get("LastEvaluatedKey"))
            taken = 0
            while taken < len(hits):
                if skip and plan.exact:  # skipping a page number: index entries suffice
                    passed = min(skip, len(hits) - taken)
                    skip -= passed
                    taken += passed
                    continue
                chunk = hits[taken : taken + min(max(skip + limit - len(found), 1), _BATCH_GET)]
                for hit, record in zip(chunk, load(chunk), strict=True):
                    taken += 1
                    if record is None or not plan.check(record):
                        continue
                    if skip:
                        skip -= 1
                        continue
                    found.append(record)
                    if len(found) == limit:
                        more = taken < len(hits) or following is not None
                        next_cursor = Cursor(query_id, offset + limit, self._key_of(plan, hit)).encode()
                        return Page(
                            items=found,
                            next_cursor=next_cursor if more else None,
                            total=None if more else offset + limit,
                            offset=offset,
                        )
            if following is None:
                return Page(items=found, total=offset - skip + len(found), offset=offset)
            start = following
            if cursor is not None and calls >= MAX_QUERY_CALLS:  # a sparse stretch: hand back what there is
                position = {name: value["S"] for name, value in following.items()}
                next_cursor = Cursor(query_id, offset + len(found), position).encode()
                return Page(items=found, next_cursor=next_cursor, offset=offset)

    def sorted_page(
        self,
        plan: Plan[R],
        load: Callable[[list[dict[str, Any]]], list[R | None]],
        order: Callable[[R], Any],
        *,
        descending: bool,
        query_id: str,
        cursor: Cursor | None,
        page: int,
        limit: int,
        what: str,
    ) -> Page[R]:
        """A page of a listing sorted by a field no index serves: the whole (bounded) listing, sorted here."""
        if cursor is not None and cursor.position is not None:
            raise bad_position()
        limit = max(1, limit)
        offset = cursor.offset if cursor is not None else (max(1, page) - 1) * limit
        hits: list[dict[str, Any]] = []
        arguments = plan.arguments(time.time())
        arguments["Limit"] = _MAX_LIMIT
        while True:
            response = self.client.query(TableName=self.table, **arguments)
            hits.extend(from_item(hit) for hit in response.get("Items", []))
            if len(hits) > SORT_IN_MEMORY_LIMIT:
                raise UnsupportedQueryError(
                    f"DynamoStore sorts {what} only when at most {SORT_IN_MEMORY_LIMIT} match the other filters; "
                    "narrow the listing (a user, filters) or sort by created_at or updated_at"
                )
            following = response.get("LastEvaluatedKey")
            if following is None:
                break
            arguments["ExclusiveStartKey"] = following
        records = [r for start in range(0, len(hits), _BATCH_GET) for r in load(hits[start : start + _BATCH_GET])]
        matches = sorted((r for r in records if r is not None and plan.check(r)), key=order, reverse=descending)
        items = matches[offset : offset + limit]
        end = offset + len(items)
        next_cursor = Cursor(query_id, end, None).encode() if end < len(matches) else None
        return Page(items=items, next_cursor=next_cursor, total=len(matches), offset=offset)

    @staticmethod
    def _key_of(plan: Plan[Any], hit: Mapping[str, Any]) -> dict[str, str]:
        return {name: str(hit[name]) for name in (keys.PK, keys.SK, plan.index.pk, plan.index.sk)}

    @staticmethod
    def _start(plan: Plan[Any], cursor: Cursor) -> Item:
        """The cursor's position as an ExclusiveStartKey, if it is a key of this plan's partition."""
        position: Any = cursor.position
        names = {keys.PK, keys.SK, plan.index.pk, plan.index.sk}
        if not isinstance(position, dict):
            raise bad_position()
        position = cast(dict[Any, Any], position)
        if set(position) != names or not all(isinstance(v, str) and v for v in position.values()):
            raise bad_position()
        if position[plan.index.pk] != plan.partition:
            raise bad_position()
        return {name: {"S": value} for name, value in position.items()}
