"""The `Store` contract for eval runs and the daily metrics, run against both stores: `SqliteStore` and
`DynamoStore` on moto's DynamoDB server."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from stratus._utils import time_ordered_id
from stratus.exceptions import SchemaVersionError
from stratus.messages import Usage
from stratus.run import RunInput, RunOutput, RunStatus
from stratus.storage import (
    DailyMetrics,
    EvalQuery,
    EvalRecord,
    EvalType,
    SessionRecord,
    SessionType,
    Store,
    keys,
)
from stratus.storage._metrics import day_of
from stratus.storage.base import METRICS_DAYS_PER_REFRESH, MetricsRefreshRunning
from stratus.storage.dynamodb import DynamoStore
from stratus.storage.sqlite import SqliteStore
from tests.aws import MotoServer
from tests.contracts.test_store import store
from tests.contracts.test_store_paging import Calls

__all__ = ["store"]  # the fixture: each backend in turn

DAY = 24 * 3600


async def save(
    store: Store,
    session_id: str,
    *,
    user: str | None,
    kind: SessionType = SessionType.AGENT,
    at: float | None = None,
    tokens: int = 10,
    model: str | None = "gpt-test",
    parent: RunOutput | None = None,
) -> RunOutput:
    """Store one completed run (of `kind`), created at `at` (default now), in its session."""
    created = int(at if at is not None else time.time())
    run = RunOutput(
        run_id=time_ordered_id(),
        session_id=session_id,
        user_id=user,
        status=RunStatus.COMPLETED,
        input=RunInput(input_content="hi"),
        content="hello",
        created_at=created,
        parent_run_id=None if parent is None else parent.run_id,
        model=model,
        model_provider="OpenAI" if model else None,
    )
    if kind is SessionType.TEAM:
        run.team_id = "crew"
    elif kind is SessionType.WORKFLOW:
        run.workflow_id = "flow"
    else:
        run.agent_id = "assistant"
    run.metrics.usage = Usage(input_tokens=tokens, output_tokens=tokens // 2, total_tokens=tokens + tokens // 2)
    session = SessionRecord(
        session_id=session_id, session_type=kind, component_id="c", user_id=user, created_at=float(created)
    )
    current = await store.get_session(session_id)
    if current is not None:
        session = current
    await store.save_run(session, run)
    return run


def by_day(records: list[DailyMetrics]) -> dict[str, DailyMetrics]:
    return {r.day: r for r in records}


# --- daily metrics -------------------------------------------------------------------------------------------


async def test_the_daily_metrics_count_runs_sessions_users_tokens_and_models(store: Store) -> None:
    now = time.time()
    earlier = now - 3 * DAY
    await save(store, "a1", user="alice", at=earlier, tokens=10)
    await save(store, "a1", user="alice", at=now, tokens=20)
    await save(store, "a2", user="alice", at=now, tokens=30, model="other-model")
    team_run = await save(store, "t1", user="bob", kind=SessionType.TEAM, at=now, tokens=40)
    await save(store, "t1", user="bob", at=now, tokens=6, parent=team_run)  # a member's run: tokens, no run
    await save(store, "w1", user=None, kind=SessionType.WORKFLOW, at=now, tokens=2, model=None)

    computed = await store.refresh_metrics()

    today, old_day = day_of(now), day_of(earlier)
    everyone = by_day(await store.get_metrics())
    assert set(everyone) == {old_day, today}
    day = everyone[today]
    assert (day.agent_runs_count, day.agent_sessions_count) == (2, 2)
    assert (day.team_runs_count, day.team_sessions_count) == (1, 1)
    assert (day.workflow_runs_count, day.workflow_sessions_count) == (1, 1)
    assert day.users_count == 2
    assert day.token_metrics["input_tokens"] == 20 + 30 + 40 + 6 + 2
    assert day.token_metrics["total_tokens"] == sum(t + t // 2 for t in (20, 30, 40, 6, 2))
    assert day.model_metrics == [
        {"model_id": "gpt-test", "model_provider": "OpenAI", "count": 3},
        {"model_id": "other-model", "model_provider": "OpenAI", "count": 1},
    ]
    assert day.completed is False
    assert everyone[old_day].agent_runs_count == 1
    assert everyone[old_day].completed is True
    assert {(r.day, r.user_id) for r in computed} == {
        (old_day, "alice"),
        (old_day, None),
        (today, "alice"),
        (today, "bob"),
        (today, ""),
        (today, None),
    }

    alice = by_day(await store.get_metrics(user_id="alice"))
    assert set(alice) == {old_day, today}
    assert (alice[today].agent_runs_count, alice[today].team_runs_count, alice[today].users_count) == (2, 0, 1)
    bob = (await store.get_metrics(user_id="bob"))[0]
    assert (bob.team_runs_count, bob.agent_runs_count, bob.token_metrics["input_tokens"]) == (1, 0, 46)
    assert await store.get_metrics(user_id="carol") == []


async def test_no_user_id_reads_as_everyones(store: Store) -> None:
    await save(store, "s1", user="alice")
    await save(store, "s2", user="*")
    await save(store, "s3", user=None)
    await store.refresh_metrics()

    (star,) = await store.get_metrics(user_id="*")
    (unowned,) = await store.get_metrics(user_id="")
    (everyone,) = await store.get_metrics()

    assert (star.agent_runs_count, star.user_id) == (1, "*")
    assert (unowned.agent_runs_count, unowned.users_count, unowned.user_id) == (1, 0, "")
    assert (everyone.agent_runs_count, everyone.users_count, everyone.user_id) == (3, 2, None)


async def test_the_date_range_bounds_what_is_read(store: Store) -> None:
    now = time.time()
    for days_ago in (5, 3, 0):
        await save(store, f"s{days_ago}", user="alice", at=now - days_ago * DAY)
    await store.refresh_metrics()

    middle = await store.get_metrics(starting_date=day_of(now - 4 * DAY), ending_date=day_of(now - DAY))
    assert [r.day for r in middle] == [day_of(now - 3 * DAY)]
    since = await store.get_metrics(starting_date=day_of(now - 3 * DAY))
    assert [r.day for r in since] == [day_of(now - 3 * DAY), day_of(now)]


async def test_a_refresh_computes_only_the_days_not_yet_complete(store: Store) -> None:
    now = time.time()
    await save(store, "s1", user="alice", at=now - 2 * DAY)
    await store.refresh_metrics()

    # A run stored late for a finished day is not counted again; today's new runs are.
    await save(store, "s2", user="alice", at=now - 2 * DAY)
    await save(store, "s3", user="alice", at=now)
    await save(store, "s4", user="bob", at=now)
    computed = await store.refresh_metrics()

    assert {r.day for r in computed} == {day_of(now)}
    days = by_day(await store.get_metrics())
    assert days[day_of(now - 2 * DAY)].agent_runs_count == 1
    assert (days[day_of(now)].agent_runs_count, days[day_of(now)].users_count) == (2, 2)


async def test_a_long_history_is_caught_up_a_bounded_stretch_per_refresh(store: Store) -> None:
    now = time.time()
    first_day = now - (METRICS_DAYS_PER_REFRESH + 9) * DAY
    await save(store, "old", user="alice", at=first_day)
    await save(store, "new", user="alice", at=now)

    first = await store.refresh_metrics()
    second = await store.refresh_metrics()

    assert {r.day for r in first} == {day_of(first_day)}
    assert {r.day for r in second} == {day_of(now)}
    assert [r.day for r in await store.get_metrics()] == [day_of(first_day), day_of(now)]


async def test_a_busy_day_is_read_in_batches_and_counted_whole(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stratus.storage.sqlite._RUNS_BATCH", 50)  # DynamoDB reads 100 at a time
    for n in range(120):
        await save(store, f"s{n % 7}", user=f"user{n % 7 % 3}")
    await store.refresh_metrics()

    (today,) = await store.get_metrics()

    assert (today.agent_runs_count, today.agent_sessions_count, today.users_count) == (120, 7, 3)


async def test_a_deleted_sessions_runs_leave_the_open_days(store: Store) -> None:
    await save(store, "mine", user="alice")
    await save(store, "theirs", user="bob")
    await store.refresh_metrics()
    assert len(await store.get_metrics(user_id="alice")) == 1

    await store.delete_session("mine")
    await store.refresh_metrics()

    assert await store.get_metrics(user_id="alice") == []
    (today,) = await store.get_metrics()
    assert (today.agent_runs_count, today.users_count) == (1, 1)


async def test_a_read_refreshes_metrics_never_computed(store: Store) -> None:
    assert (await store.metrics_refresh_status()).status == "idle"
    await save(store, "s1", user="alice")

    (today,) = await store.get_metrics()

    assert today.agent_runs_count == 1
    status = await store.metrics_refresh_status()
    assert status.status == "completed"
    assert status.started_at is not None
    assert status.finished_at is not None
    assert status.finished_at >= status.started_at


async def test_one_refresh_at_a_time(store: Store) -> None:
    await save(store, "s1", user="alice")
    held = await store.claim("metrics:refresh", lease_seconds=60)
    assert held.acquired

    with pytest.raises(MetricsRefreshRunning):
        await store.refresh_metrics()
    assert await store.get_metrics() == []  # the read does not wait for, nor duplicate, the running one

    await store.release_claim(held)
    assert len(await store.refresh_metrics()) == 2


async def test_no_runs_no_metrics(store: Store) -> None:
    assert await store.refresh_metrics() == []
    assert await store.get_metrics() == []
    assert (await store.metrics_refresh_status()).status == "completed"


# --- eval runs -----------------------------------------------------------------------------------------------


def make_eval(
    eval_id: str,
    *,
    user: str | None = "alice",
    kind: EvalType = EvalType.RELIABILITY,
    agent: str | None = "assistant",
    team: str | None = None,
    model: str = "gpt-test",
) -> EvalRecord:
    return EvalRecord(
        eval_id=eval_id,
        eval_type=kind,
        eval_data={"eval_status": "PASSED", "passed_tool_calls": ["add"]},
        eval_input={"expected_tool_calls": ["add"]},
        agent_id=agent,
        team_id=team,
        model_id=model,
        model_provider="OpenAI",
        user_id=user,
    )


async def test_an_eval_run_reads_back_and_is_its_owners(store: Store) -> None:
    stored = await store.put_eval(make_eval("e1"))
    assert stored.created_at > 0
    assert stored.updated_at >= stored.created_at

    read = await store.get_eval("e1", user_id="alice")
    assert read is not None
    assert (read.eval_type, read.eval_data, read.eval_input, read.model_id) == (
        EvalType.RELIABILITY,
        {"eval_status": "PASSED", "passed_tool_calls": ["add"]},
        {"expected_tool_calls": ["add"]},
        "gpt-test",
    )
    assert await store.get_eval("e1") is not None
    assert await store.get_eval("e1", user_id="bob") is None
    assert await store.rename_eval("e1", "stolen", user_id="bob") is None
    assert await store.delete_evals(["e1"], user_id="bob") == 0
    assert await store.get_eval("missing") is None


async def test_renaming_keeps_the_creation_time(store: Store) -> None:
    created = await store.put_eval(make_eval("e1"))
    first = created.created_at

    renamed = await store.rename_eval("e1", "Adds numbers", user_id="alice")

    assert renamed is not None
    assert renamed.name == "Adds numbers"
    read = await store.get_eval("e1")
    assert read is not None
    assert (read.name, read.created_at) == ("Adds numbers", first)
    assert read.updated_at >= first


async def test_eval_runs_list_newest_first_filtered_and_paged(store: Store) -> None:
    await store.put_eval(make_eval("e1", kind=EvalType.ACCURACY))
    await store.put_eval(make_eval("e2", kind=EvalType.PERFORMANCE, model="other"))
    await store.put_eval(make_eval("e3", agent=None, team="crew"))
    await store.put_eval(make_eval("e4", user="bob"))

    def ids(records: list[EvalRecord]) -> list[str]:
        return [r.eval_id for r in records]

    assert ids((await store.list_evals(EvalQuery())).items) == ["e4", "e3", "e2", "e1"]
    assert ids((await store.list_evals(EvalQuery(sort_order="asc", user_id="alice"))).items) == ["e1", "e2", "e3"]
    assert ids((await store.list_evals(EvalQuery(user_id="bob"))).items) == ["e4"]
    assert ids((await store.list_evals(EvalQuery(agent_id="assistant", user_id="alice"))).items) == ["e2", "e1"]
    assert ids((await store.list_evals(EvalQuery(team_id="crew"))).items) == ["e3"]
    assert ids((await store.list_evals(EvalQuery(component_type=SessionType.TEAM))).items) == ["e3"]
    assert ids((await store.list_evals(EvalQuery(model_id="other"))).items) == ["e2"]
    accuracy_or_performance = EvalQuery(eval_types=[EvalType.ACCURACY, EvalType.PERFORMANCE])
    assert ids((await store.list_evals(accuracy_or_performance)).items) == ["e2", "e1"]

    first = await store.list_evals(EvalQuery(limit=3))
    assert ids(first.items) == ["e4", "e3", "e2"]
    assert first.next_cursor is not None
    rest = await store.list_evals(EvalQuery(limit=3, cursor=first.next_cursor))
    assert ids(rest.items) == ["e1"]
    assert rest.next_cursor is None
    assert rest.total == 4
    second_page = await store.list_evals(EvalQuery(limit=2, page=2))
    assert ids(second_page.items) == ["e2", "e1"]


async def test_deleting_many_eval_runs(store: Store) -> None:
    for eval_id in ("e1", "e2", "e3"):
        await store.put_eval(make_eval(eval_id))

    assert await store.delete_evals(["e1", "e3", "e1", "missing"], user_id="alice") == 2

    assert [r.eval_id for r in (await store.list_evals(EvalQuery())).items] == ["e2"]
    assert await store.get_eval("e1") is None


# --- DynamoDB: queries, never a Scan ------------------------------------------------------------------------


async def test_dynamodb_serves_metrics_and_evals_without_a_scan(dynamo_store: DynamoStore) -> None:
    store = dynamo_store
    now = time.time()
    await save(store, "s1", user="alice", at=now - 2 * DAY)
    await save(store, "s2", user="bob", at=now)
    await store.put_eval(make_eval("e1"))
    calls = Calls(store)

    await store.refresh_metrics()
    await store.get_metrics(starting_date=day_of(now - 3 * DAY))
    await store.get_metrics(user_id="alice")
    await store.metrics_refresh_status()
    await store.list_evals(EvalQuery(model_id="gpt-test", eval_types=[EvalType.RELIABILITY]))
    await store.list_evals(EvalQuery(user_id="alice", agent_id="assistant"))
    await store.get_eval("e1")
    await store.rename_eval("e1", "renamed", user_id="alice")
    await store.delete_evals(["e1"])
    calls.close()

    assert "Query" in calls.names
    assert "Scan" not in calls.names


async def test_a_rebuild_lists_runs_written_before_the_metrics_under_their_day(
    dynamo_store: DynamoStore, moto: MotoServer
) -> None:
    store = dynamo_store
    run = await save(store, "s1", user="alice")
    index = keys.BY_KIND_CREATED
    moto.client("dynamodb").update_item(  # as an older stratus wrote it: in no day's partition
        TableName=store.table,
        Key={keys.PK: {"S": "SESSION#s1"}, keys.SK: {"S": f"RUN#{run.run_id}"}},
        UpdateExpression="REMOVE #p, #s",
        ExpressionAttributeNames={"#p": index.pk, "#s": index.sk},
    )
    assert await store.refresh_metrics() == []

    await store.rebuild_indexes()

    assert [(r.user_id, r.agent_runs_count) for r in await store.refresh_metrics()] == [("alice", 1), (None, 1)]


async def test_a_rebuild_gives_eval_runs_their_listing_entries(dynamo_store: DynamoStore, moto: MotoServer) -> None:
    store = dynamo_store
    await store.put_eval(make_eval("e1"))
    client = moto.client("dynamodb")
    listing = [name for index in keys.LISTING_INDEXES for name in (index.pk, index.sk)]
    names = {f"#a{i}": name for i, name in enumerate(listing)}  # as an older stratus left it: no entries
    key = {keys.PK: {"S": "USER#alice"}, keys.SK: {"S": "EVAL#e1"}}
    client.update_item(
        TableName=store.table, Key=key, UpdateExpression="REMOVE " + ", ".join(names), ExpressionAttributeNames=names
    )
    assert (await store.list_evals(EvalQuery(user_id="alice"))).items == []

    report = await store.rebuild_indexes()

    assert report.reindexed == 1
    assert [e.eval_id for e in (await store.list_evals(EvalQuery(user_id="alice"))).items] == ["e1"]


async def test_a_failed_refresh_says_why_and_lets_the_next_one_run(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "failing.db")
    await save(store, "s1", user="alice")
    conn = sqlite3.connect(tmp_path / "failing.db")
    with conn:  # a run written by a newer stratus: this one refuses to read it
        conn.execute("UPDATE runs SET data = json_set(data, '$.schema_version', 99)")
    conn.close()

    with pytest.raises(SchemaVersionError):
        await store.refresh_metrics()

    status = await store.metrics_refresh_status()
    assert status.status == "failed"
    assert status.error is not None
    assert "schema_version 99" in status.error
    with pytest.raises(SchemaVersionError):  # the claim was released: the next refresh runs (and fails again)
        await store.refresh_metrics()
    await store.close()
