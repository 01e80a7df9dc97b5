"""Queue work has exactly-once effects although queues deliver at least once: the same background run or
learning job delivered twice at once (two workers, each its own connection to one database) is worked once
(one model call, one stored run, memories stored once); the duplicate is refused while the work is in
progress and is a no-op once it is done; a worker that died loses its claim when the lease lapses, and the
next delivery takes over (a workflow goes on after its last finished step); a delivery that fails releases
its claim, so the queue's retry runs it. On SQLite and on DynamoDB (moto), and through the Lambda workers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from stratus import Agent, App, RunStatus, Step, StepInput, Workflow
from stratus import background as background_module
from stratus._utils import time_ordered_id
from stratus.aws import bootstrap
from stratus.background import BackgroundRun, RunQueue, enqueue_run, execute_run
from stratus.exceptions import StoreError
from stratus.knowledge.embedders.testing import HashEmbedder
from stratus.learning import LearningError, LearningJob, LearningMachine, LearningQueue
from stratus.learning import machine as machine_module
from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.models.testing import FunctionModel
from stratus.run import RunOutput
from stratus.storage import Store
from stratus.storage.base import ClaimHeldError
from stratus.storage.dynamodb import DynamoStore
from stratus.storage.sqlite import SqliteStore
from tests.fakes.learning import extract
from tests.integration.test_lambda_handlers import Deployment, asyncio_run, body_of, call, event, sqs_event
from tests.integration.test_learning_worker import learner_run
from tests.integration.test_learning_worker import memories as worker_memories

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["sqlite", "dynamodb"])
async def clients(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Each backend in turn, as a factory of clients of one database: one per worker, as on AWS."""
    made: list[Store] = []
    if request.param == "sqlite":
        path = tmp_path / "once.db"

        def connect() -> Store:
            made.append(SqliteStore(path))
            return made[-1]
    else:
        table: DynamoStore = request.getfixturevalue("dynamo_store")

        def connect() -> Store:
            made.append(DynamoStore(table.table, region=table.region, bucket=table.bucket))
            return made[-1]

    yield connect
    for store in made:
        await store.close()


class Gate:
    """A model that counts its calls and answers only once let through (or after 5 s), so a duplicate
    delivery is in flight while the first is inside the model. Thread-safe: workers may be threads."""

    def __init__(self, answer: Callable[[list[Message], ModelRequest], str] | None = None) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.opened = threading.Event()
        self._lock = threading.Lock()
        self._answer = answer

    async def __call__(self, messages: list[Message], params: ModelRequest) -> str:
        with self._lock:
            self.calls += 1
        self.entered.set()
        await asyncio.to_thread(self.opened.wait, 5)
        return self._answer(messages, params) if self._answer else f"done: {messages[-1].content}"


class Recorded(RunQueue):
    """A run queue that keeps what it is given (the worker re-queues a workflow out of time here)."""

    def __init__(self) -> None:
        self.jobs: list[BackgroundRun] = []

    async def publish(self, job: BackgroundRun) -> None:
        self.jobs.append(job)


def worker_app(store: Store, model: Any) -> App:
    app = App(agents=[Agent(id="assistant", model=FunctionModel(model))], store=store, run_queue=Recorded())
    app.attach_store()
    return app


async def queued(app: App, message: str = "hello", session: str = "s1") -> BackgroundRun:
    job = BackgroundRun(
        agent_id="assistant",
        run_id=time_ordered_id(),
        session_id=session,
        user_id="ada",
        message=message,
        input_content=message,
    )
    assert app.run_queue is not None
    await enqueue_run(app.get_agent("assistant"), job, app.run_queue)
    return job


async def deliver(app: App, job: BackgroundRun, gate: Gate) -> RunOutput | BaseException | None:
    """One delivery to one worker; whichever ends first lets the model answer (a duplicate ends at once)."""
    try:
        return await execute_run(app, job)
    except Exception as exc:
        return exc
    finally:
        gate.opened.set()


# --- background runs --------------------------------------------------------------------------------------------


async def test_background_run_delivered_twice_at_once_runs_once(clients: StoreFactory) -> None:
    gate = Gate()
    first, second = worker_app(clients(), gate), worker_app(clients(), gate)
    job = await queued(first)

    results = await asyncio.gather(deliver(first, job, gate), deliver(second, job, gate))

    assert gate.calls == 1
    ran = [r for r in results if isinstance(r, RunOutput)]
    refused = [r for r in results if isinstance(r, ClaimHeldError)]
    assert (len(ran), len(refused)) == (1, 1), results
    assert (ran[0].status, ran[0].content) == (RunStatus.COMPLETED, "done: hello")
    runs = await clients().get_runs("s1")
    assert [(r.run_id, r.status) for r in runs] == [(job.run_id, RunStatus.COMPLETED)]
    # the refused delivery comes back later (the queue retries it): a no-op now
    assert await execute_run(second, job) is None
    assert gate.calls == 1


async def test_background_run_delivered_to_two_worker_threads_runs_once(clients: StoreFactory) -> None:
    gate = Gate()
    apps = [worker_app(clients(), gate), worker_app(clients(), gate)]
    job = await queued(apps[0])
    results: list[Any] = [None, None]

    def worker(index: int) -> None:
        results[index] = asyncio.run(deliver(apps[index], job, gate))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert gate.calls == 1
    assert sorted(type(r).__name__ for r in results) == ["ClaimHeldError", "RunOutput"]
    runs = await clients().get_runs("s1")
    assert [(r.run_id, r.status) for r in runs] == [(job.run_id, RunStatus.COMPLETED)]


async def test_background_run_finished_or_cancelled_is_not_run_again(clients: StoreFactory) -> None:
    gate = Gate()
    gate.opened.set()
    app = worker_app(clients(), gate)
    job = await queued(app)
    done = await execute_run(app, job)
    assert done is not None
    assert done.status is RunStatus.COMPLETED

    assert await execute_run(app, job) is None
    assert gate.calls == 1

    cancelled = await queued(app, session="s2")
    store = clients()
    stored = await store.get_run(cancelled.run_id)
    session = await store.get_session("s2")
    assert stored is not None
    assert session is not None
    stored.status = RunStatus.CANCELLED  # cancelled while it waited in the queue
    await store.save_run(session, stored, state_base=session.session_state)
    assert await execute_run(app, cancelled) is None
    assert gate.calls == 1


async def test_background_run_failing_in_the_worker_releases_its_claim_so_the_retry_runs(
    clients: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate()
    gate.opened.set()
    store = clients()
    app = worker_app(store, gate)
    job = await queued(app)
    real = store.get_session
    failures = iter([StoreError("the table is unreachable")])

    async def flaky(session_id: str, *, user_id: str | None = None) -> Any:
        for failure in failures:
            raise failure
        return await real(session_id, user_id=user_id)

    monkeypatch.setattr(store, "get_session", flaky)
    with pytest.raises(StoreError, match="unreachable"):
        await execute_run(app, job)

    retried = await execute_run(app, job)  # the queue's retry, at once: no lease to wait out

    assert retried is not None
    assert retried.status is RunStatus.COMPLETED
    assert gate.calls == 1


def _shout(step_input: StepInput) -> str:
    return str(step_input.previous_step_content).upper()


def pipeline_app(store: Store, model: Any, second_step: Callable[[StepInput], Any] = _shout) -> App:
    assistant = Agent(id="assistant", model=FunctionModel(model))
    pipeline = Workflow(id="pipeline", steps=[assistant, Step("shout", executor=second_step)])
    app = App(agents=[assistant], workflows=[pipeline], store=store, run_queue=Recorded())
    app.attach_store()
    return app


async def queued_workflow(app: App) -> BackgroundRun:
    job = BackgroundRun(
        workflow_id="pipeline",
        run_id=time_ordered_id(),
        session_id="w1",
        user_id="ada",
        message="go",
        input_content="go",
    )
    assert app.run_queue is not None
    await enqueue_run(app.get_workflow("pipeline"), job, app.run_queue)
    return job


async def test_background_workflow_whose_worker_died_is_taken_over_after_the_lease_and_goes_on_after_its_last_step(
    clients: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(background_module, "DEFAULT_LEASE_SECONDS", 1.0)
    gate = Gate()
    gate.opened.set()
    hung = asyncio.Event()

    async def hang(step_input: StepInput) -> str:
        hung.set()
        await asyncio.sleep(3600)
        return "never"

    dying_store = clients()
    dying = pipeline_app(dying_store, gate, second_step=hang)
    job = await queued_workflow(dying)

    async def nothing(*args: Any, **kwargs: Any) -> bool:
        return False

    monkeypatch.setattr(dying_store, "release_claim", nothing)  # a killed worker releases nothing
    stuck = asyncio.create_task(execute_run(dying, job))  # a worker that hangs until Lambda kills it
    await asyncio.wait_for(hung.wait(), 10)  # its first step is stored, its second is running
    try:
        survivor = pipeline_app(clients(), gate)
        with pytest.raises(ClaimHeldError):  # within the dead worker's lease
            await execute_run(survivor, job)
        await asyncio.sleep(1.1)
        output = await execute_run(survivor, job)

        assert output is not None
        assert (output.status, output.content) == (RunStatus.COMPLETED, "DONE: GO")
        assert gate.calls == 1  # the first step was not run again
        runs = await clients().get_runs("w1")
        assert [(r.workflow_id or r.agent_id, r.status) for r in runs] == [
            ("pipeline", RunStatus.COMPLETED),
            ("assistant", RunStatus.COMPLETED),
        ]
    finally:
        stuck.cancel()
        await asyncio.gather(stuck, return_exceptions=True)


async def test_background_workflow_out_of_time_is_queued_again_with_its_claim_released(clients: StoreFactory) -> None:
    gate = Gate()
    gate.opened.set()
    app = pipeline_app(clients(), gate)
    job = await queued_workflow(app)

    stopped = await execute_run(app, job, deadline=time.monotonic() + 30)  # less than a step's budget

    assert stopped is None
    assert isinstance(app.run_queue, Recorded)
    assert [j.run_id for j in app.run_queue.jobs] == [job.run_id, job.run_id]  # enqueued, then again
    output = await execute_run(app, app.run_queue.jobs[-1])  # the next delivery claims it at once
    assert output is not None
    assert (output.status, output.content) == (RunStatus.COMPLETED, "DONE: GO")
    assert gate.calls == 1


# --- learning ---------------------------------------------------------------------------------------------------


class Kept(LearningQueue):
    """A learning queue that keeps the jobs: the test delivers them itself."""

    def __init__(self) -> None:
        self.jobs: list[LearningJob] = []

    async def publish(self, job: LearningJob) -> None:
        self.jobs.append(job)


def learner(store: Store, extraction: Any) -> Agent:
    machine = LearningMachine(model=FunctionModel(extraction), embedder=HashEmbedder(64), queue=Kept())
    return Agent(id="helper", model=FunctionModel(lambda m, p: "ok"), store=store, learning=machine)


async def learned_job(agent: Agent, text: str = "I love tea") -> LearningJob:
    out = await agent.arun(text, user_id="ada", session_id="s1")
    assert out.status is RunStatus.COMPLETED, out.error
    assert agent.learning_machine is not None
    assert isinstance(agent.learning_machine.queue, Kept)
    (job,) = agent.learning_machine.queue.jobs
    return job


async def learn(agent: Agent, job: LearningJob, gate: Gate) -> Any:
    assert agent.learning_machine is not None
    try:
        return await agent.learning_machine.learn(agent, job)
    except Exception as exc:
        return exc
    finally:
        gate.opened.set()


async def memories(store: Store) -> list[str]:
    return sorted(m.memory for m in await LearningMachine().memories(store, "ada"))


async def test_learning_job_delivered_twice_at_once_extracts_once(clients: StoreFactory) -> None:
    gate = Gate(extract)
    first, second = learner(clients(), gate), learner(clients(), gate)
    job = await learned_job(first)

    results = await asyncio.gather(learn(first, job, gate), learn(second, job, gate))

    assert gate.calls == 1
    assert sorted(type(r).__name__ for r in results) == ["LearningError", "LearningReport"], results
    assert await memories(clients()) == ["The user likes tea."]
    assert second.learning_machine is not None
    later = await second.learning_machine.learn(second, job)  # the refused delivery, retried
    assert later.skipped == "already learned from this run"
    assert gate.calls == 1
    assert await memories(clients()) == ["The user likes tea."]


async def test_learning_failure_releases_the_claim_so_the_retry_extracts(clients: StoreFactory) -> None:
    calls: list[int] = []

    def flaky(messages: list[Message], params: ModelRequest) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the extraction model is down")
        return extract(messages, params)

    agent = learner(clients(), flaky)
    job = await learned_job(agent)
    assert agent.learning_machine is not None

    with pytest.raises(LearningError):
        await agent.learning_machine.learn(agent, job)
    report = await agent.learning_machine.learn(agent, job)  # the queue's retry, at once

    assert report.memories_added == 1
    assert await memories(clients()) == ["The user likes tea."]


async def test_learning_job_of_a_dead_worker_is_taken_over_after_the_lease(
    clients: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine_module, "LEARN_LEASE_SECONDS", 1.0)
    gate = Gate(extract)
    gate.opened.set()
    dying_store = clients()
    dying = learner(dying_store, gate)
    job = await learned_job(dying)

    async def nothing(*args: Any, **kwargs: Any) -> bool:
        return False

    monkeypatch.setattr(dying_store, "release_claim", nothing)  # a killed worker releases nothing
    gate.opened.clear()
    assert dying.learning_machine is not None
    task = asyncio.create_task(dying.learning_machine.learn(dying, job))
    await asyncio.to_thread(gate.entered.wait, 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    gate.opened.set()

    survivor = learner(clients(), gate)
    assert survivor.learning_machine is not None
    with pytest.raises(LearningError, match="another worker"):
        await survivor.learning_machine.learn(survivor, job)
    await asyncio.sleep(1.1)
    report = await survivor.learning_machine.learn(survivor, job)

    assert report.memories_added == 1
    assert gate.calls == 2  # the dead worker's extraction, which stored nothing, and the survivor's
    assert await memories(clients()) == ["The user likes tea."]


# --- through the Lambda workers: one SQS batch carrying the same message twice ----------------------------------


def _requests(model: Any) -> int:
    assert isinstance(model, FunctionModel)
    return len(model.requests)


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_the_background_run_worker_given_one_message_twice_in_a_batch_runs_it_once(deployment: Deployment) -> None:
    job = body_of(call("agent_runs", event("agent_run_background")))
    (message,) = deployment.receive()

    response = call("run_worker", sqs_event([message, message]))  # the batch's records are worked concurrently

    # the duplicate is reported, so SQS delivers it again later; by then it is a no-op
    assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assistant = bootstrap.lambda_app().get_agent("assistant")
    assert _requests(assistant.model) == 1
    runs = asyncio_run(deployment.store.get_runs(job["session_id"]))
    assert [(r.run_id, r.status) for r in runs] == [(job["run_id"], RunStatus.COMPLETED)]
    assert call("run_worker", sqs_event([message])) == {"batchItemFailures": []}
    assert _requests(assistant.model) == 1


@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_the_learning_worker_given_one_message_twice_in_a_batch_learns_once(deployment: Deployment) -> None:
    answered = call("agent_runs", learner_run("I love tea", "s-learn"))
    assert answered["statusCode"] == 200, answered["body"]
    messages = deployment.receive(deployment.learning_queue_url)
    assert len(messages) == 1

    response = call("learning_worker", sqs_event(messages * 2))

    assert response == {"batchItemFailures": [{"itemIdentifier": messages[0]["MessageId"]}]}
    machine = bootstrap.lambda_app().get_agent("learner").learning_machine
    assert machine is not None
    assert _requests(machine.model) == 1  # one extraction
    assert worker_memories(deployment) == ["The user likes tea."]
    assert call("learning_worker", sqs_event(messages)) == {"batchItemFailures": []}
    assert _requests(machine.model) == 1
    assert worker_memories(deployment) == ["The user likes tea."]
