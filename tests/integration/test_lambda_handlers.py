"""The Lambda functions, invoked with the sample events in `events/` against moto's server (DynamoDB, SQS,
Secrets Manager, S3): each answers the right status and writes what it should; a background run goes
202 -> queue -> worker -> completed; a poison message ends in the dead-letter queue while its batch succeeds;
every route but /health refuses a missing or wrong API key; a streamed run through the deployed ASGI app
yields the same events as the local server."""

from __future__ import annotations

import json
import sys
import uuid
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus.api import create_app
from stratus.api.auth import hash_key
from stratus.aws import bootstrap
from stratus.cli import LocalContext, invoke
from stratus.run import RunStatus
from stratus.storage import SessionQuery
from stratus.storage.dynamodb import DynamoStore
from stratus.storage.sqlite import SqliteStore
from tests.aws import REGION, MotoServer
from tests.fakes.apps import lambda_test_app

EVENTS = Path(__file__).resolve().parents[2] / "events"
KEY = "sk-stratus-example-key"
USER = "events-user"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


class Deployment:
    """One deployment's AWS resources in moto, and the environment its functions read."""

    def __init__(self, moto: MotoServer, monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
        # Names unique to this deployment on the shared moto server (id(self) repeats once an earlier one is freed).
        name = uuid.uuid4().hex[:12]
        sqs = moto.client("sqs")
        self.knowledge_queue_url = sqs.create_queue(QueueName=f"knowledge-{name}")["QueueUrl"]
        self.learning_dlq_url = sqs.create_queue(QueueName=f"learning-dlq-{name}")["QueueUrl"]
        learning_dlq_arn = sqs.get_queue_attributes(QueueUrl=self.learning_dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.learning_queue_url = sqs.create_queue(
            QueueName=f"learning-{name}",
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": learning_dlq_arn, "maxReceiveCount": "2"})},
        )["QueueUrl"]
        self.dlq_url = sqs.create_queue(QueueName=f"runs-dlq-{name}")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queue_url = sqs.create_queue(
            QueueName=f"runs-{name}",
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})},
        )["QueueUrl"]
        secrets = moto.client("secretsmanager")
        keys_doc = {"keys": [{"sha256": hash_key(KEY), "user_id": USER}]}
        api_keys_arn = secrets.create_secret(Name=f"api-keys-{name}", SecretString=json.dumps(keys_doc))["ARN"]
        model_arn = secrets.create_secret(Name=f"openai-{name}", SecretString="sk-from-secrets-manager")["ARN"]
        self.bucket = moto.new_bucket()
        self.store = DynamoStore(f"stratus-{name}", region=REGION, bucket=self.bucket)
        self.store.create_table()
        self.sqs = sqs
        self.s3 = moto.client("s3")
        environment = {
            "STRATUS_APP": "tests.fakes.apps:lambda_test_app",
            "STRATUS_DB": f"dynamodb://{self.store.table}?region={REGION}&bucket={self.bucket}",
            "STRATUS_AUTH": "api_key",
            "STRATUS_API_KEYS_SECRET": api_keys_arn,
            "STRATUS_SECRETS": json.dumps({"OPENAI_API_KEY": model_arn}),
            "STRATUS_RUN_QUEUE_URL": self.queue_url,
            "STRATUS_KNOWLEDGE_QUEUE_URL": self.knowledge_queue_url,
            "STRATUS_LEARNING_QUEUE_URL": self.learning_queue_url,
            # On AWS the index is OpenSearch Serverless (its adapter has its own suite); here, a folder.
            "STRATUS_VECTOR_DB": f"embedded:///{folder / 'vectors'}",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "stratus-test",
            "POWERTOOLS_METRICS_NAMESPACE": "StratusTest",
            # As in Lambda: Powertools then keeps one event loop for the batch processor, as Mangum does.
            "LAMBDA_TASK_ROOT": str(EVENTS.parent),
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def receive(self, url: str | None = None) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=url or self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
        )
        return list(response.get("Messages", []))


def sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS trigger builds from received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:runs",
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def _forget_functions() -> None:
    """A fresh "execution environment": handlers rebuilt from the environment, the event loop they kept closed."""
    import asyncio

    bootstrap.reset()
    for name in [m for m in sys.modules if m == "functions" or m.startswith("functions.")]:
        del sys.modules[name]
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        return
    if not loop.is_running():
        loop.close()
    asyncio.set_event_loop(None)


def call(function: str, request: dict[str, Any]) -> dict[str, Any]:
    response = invoke(function, request)
    assert isinstance(response, dict)
    return response


def test_every_api_event_answers_through_its_function(deployment: Deployment) -> None:
    health = call("health", event("health"))
    assert (health["statusCode"], body_of(health)["status"]) == (200, "ok")
    config = body_of(call("health", event("config")))
    assert [a["id"] for a in config["agents"]] == ["assistant", "learner"]
    assert [a["id"] for a in body_of(call("agent_runs", event("agents_list")))] == ["assistant", "learner"]
    assert body_of(call("agent_runs", event("agent_get")))["model"]["provider"] == "Test"

    run = call("agent_runs", event("agent_run"))
    assert run["statusCode"] == 200
    output = body_of(run)
    assert (output["content"], output["user_id"], output["session_id"]) == ("echo: What can you do?", USER, "s-events")

    streamed = call("agent_runs", event("agent_run_stream"))
    assert streamed["statusCode"] == 200
    assert streamed["headers"]["content-type"].startswith("text/event-stream")
    names = [line[len("event: ") :] for line in streamed["body"].splitlines() if line.startswith("event: ")]
    assert (names[0], names[-1]) == ("RunStarted", "RunCompleted")

    # the runs are in DynamoDB, in the caller's session
    session = body_of(call("sessions", event("session_get")))
    assert (session["session_id"], session["user_id"]) == ("s-events", USER)
    assert [m["content"] for m in session["chat_history"]][:2] == ["What can you do?", "echo: What can you do?"]
    assert len(body_of(call("sessions", event("session_runs")))) == 2
    assert body_of(call("sessions", event("session_rename")))["session_name"] == "Renamed from an event"
    created = call("sessions", event("sessions_create"))
    assert created["statusCode"] == 201
    listed = body_of(call("sessions", event("sessions_list")))
    assert sorted(s["session_id"] for s in listed["data"]) == ["s-created", "s-events"]

    made = call("memories", event("memories_create"))
    assert (made["statusCode"], body_of(made)["user_id"]) == (200, USER)
    assert body_of(call("memories", event("memories_list")))["meta"]["total_count"] == 1
    assert body_of(call("memories", event("memory_topics"))) == ["language"]
    assert body_of(call("memories", event("user_memory_stats")))["data"][0]["user_id"] == USER
    assert body_of(call("memories", event("learnings_list")))["data"] == []

    assert sessions_of(deployment.store, USER) == ["s-created", "s-events"]


def asyncio_run(coro: Any) -> Any:
    """Run on the thread's loop, the one the handlers keep (asyncio.run would drop it unclosed)."""
    import asyncio

    from stratus.aws.observability import ensure_event_loop

    ensure_event_loop()
    return asyncio.get_event_loop().run_until_complete(coro)


def sessions_of(store: DynamoStore, user: str) -> list[str]:
    found = asyncio_run(store.list_sessions(SessionQuery(user_id=user))).items
    return sorted(s.session_id for s in found)


def test_a_background_run_goes_through_the_queue_to_the_worker(deployment: Deployment) -> None:
    accepted = call("agent_runs", event("agent_run_background"))
    assert accepted["statusCode"] == 202
    job = body_of(accepted)
    assert job["status"] == "PENDING"
    poll = deepcopy(event("agent_get"))
    poll["path"] = f"/agents/assistant/runs/{job['run_id']}"
    poll["pathParameters"] = {"proxy": f"assistant/runs/{job['run_id']}"}
    assert body_of(call("agent_runs", poll))["status"] == "PENDING"

    messages = deployment.receive()
    assert len(messages) == 1
    worked = call("run_worker", sqs_event(messages))

    assert worked == {"batchItemFailures": []}
    finished = body_of(call("agent_runs", poll))
    assert (finished["status"], finished["content"]) == ("COMPLETED", "echo: Take your time")
    # the same message delivered again changes nothing
    assert call("run_worker", sqs_event(messages)) == {"batchItemFailures": []}
    runs = body_of(call("sessions", event("session_runs")))
    assert [r["run_id"] for r in runs] == [job["run_id"]]


def test_the_run_worker_sample_event(deployment: Deployment) -> None:
    assert call("run_worker", event("run_worker")) == {"batchItemFailures": []}

    runs = asyncio_run(deployment.store.get_runs("s-background"))
    assert [(r.status, r.content, r.user_id) for r in runs] == [(RunStatus.COMPLETED, "echo: Summarise the week", USER)]


def test_a_poison_message_reaches_the_dead_letter_queue_while_its_batch_succeeds(deployment: Deployment) -> None:
    good = json.loads(event("run_worker")["Records"][0]["body"])
    deployment.sqs.send_message(QueueUrl=deployment.queue_url, MessageBody=json.dumps(good))
    deployment.sqs.send_message(QueueUrl=deployment.queue_url, MessageBody="{not a run")

    failures: list[list[str]] = []
    for _ in range(4):  # what Lambda's SQS trigger does: receive, invoke, delete what succeeded
        messages = deployment.receive()
        if not messages:
            break
        response = call("run_worker", sqs_event(messages))
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        failures.append([m["Body"][:10] for m in messages if m["MessageId"] in failed])
        for m in messages:
            if m["MessageId"] not in failed:
                deployment.sqs.delete_message(QueueUrl=deployment.queue_url, ReceiptHandle=m["ReceiptHandle"])

    assert failures[0] == ["{not a run"]
    dead = deployment.receive(deployment.dlq_url)
    assert [m["Body"] for m in dead] == ["{not a run"]
    assert [r.status for r in asyncio_run(deployment.store.get_runs("s-background"))] == [RunStatus.COMPLETED]


API_EVENTS = {
    "health": ["health", "config"],
    "agent_runs": ["agents_list", "agent_get", "agent_run", "agent_run_stream", "agent_run_background"],
    "sessions": ["sessions_list", "sessions_create", "session_get", "session_rename", "session_runs"],
    "memories": ["memories_create", "memories_list", "memory_topics", "user_memory_stats", "learnings_list"],
    "knowledge": ["knowledge_upload", "knowledge_content_list", "knowledge_search", "knowledge_config"],
    "team_runs": ["teams_list", "team_get", "team_run", "team_run_stream", "team_run_background"],
    "workflow_runs": [
        "workflows_list",
        "workflow_get",
        "workflow_run",
        "workflow_run_stream",
        "workflow_run_background",
    ],
}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", "Basic dXNlcjpwYXNz", "Bearer "])
def test_every_route_but_health_refuses_a_missing_or_wrong_key(
    deployment: Deployment, authorization: str | None
) -> None:
    for function, names in API_EVENTS.items():
        for name in names:
            request = event(name)
            for headers in (request["headers"], request["multiValueHeaders"]):
                headers.pop("Authorization")
                if authorization is not None:
                    headers["Authorization"] = authorization if headers is request["headers"] else [authorization]
            response = call(function, request)
            if name == "health":
                assert response["statusCode"] == 200
            else:
                assert response["statusCode"] == 401, f"{name}: {response['statusCode']}"
                assert "detail" in body_of(response)
    # nothing was written by the refused calls
    assert sessions_of(deployment.store, USER) == []
    assert deployment.receive(deployment.knowledge_queue_url) == []


def test_the_openapi_document_and_playground_need_the_key_on_aws(deployment: Deployment) -> None:
    for path in ("/openapi.json", "/playground", "/"):
        request = with_path(event("sessions_list"), path)
        with_key = call("sessions", request)
        for headers in (request["headers"], request["multiValueHeaders"]):
            headers.pop("Authorization")
        without_key = call("sessions", request)

        assert without_key["statusCode"] == 401, path
        assert with_key["statusCode"] == 200, path
    document = body_of(call("sessions", with_path(event("sessions_list"), "/openapi.json")))
    assert "401" in document["paths"]["/sessions"]["get"]["responses"]


def test_model_keys_come_from_secrets_manager_not_the_environment(deployment: Deployment) -> None:
    import os

    from stratus.secrets import get_secret

    call("health", event("health"))  # a cold start configures the secrets

    assert get_secret("OPENAI_API_KEY") == "sk-from-secrets-manager"
    assert "OPENAI_API_KEY" not in os.environ
    assert all("sk-from-secrets-manager" not in value for value in os.environ.values())


def test_a_streamed_run_through_the_deployed_app_matches_the_local_server(
    deployment: Deployment, tmp_path: Path
) -> None:
    import functions.agent_runs as deployed

    request = {"message": "stream me", "stream": True, "session_id": "s-stream"}
    with TestClient(deployed.app) as client:
        response = client.post("/agents/assistant/runs", json=request, headers={"Authorization": f"Bearer {KEY}"})
        assert client.post("/agents/assistant/runs", json=request).status_code == 401
    local_app = lambda_test_app()
    local_app._store = SqliteStore(tmp_path / "local.db")  # pyright: ignore[reportPrivateUsage]
    with TestClient(create_app(local_app, auth=None)) as client:
        local = client.post("/agents/assistant/runs", json=request)

    def kinds(text: str) -> list[str]:
        return [line[len("event: ") :] for line in text.splitlines() if line.startswith("event: ")]

    def contents(text: str) -> list[Any]:
        return [json.loads(line[6:]).get("content") for line in text.splitlines() if line.startswith("data: ")]

    assert response.status_code == 200
    assert kinds(response.text) == kinds(local.text)
    assert contents(response.text) == contents(local.text)
    assert kinds(response.text)[0] == "RunStarted"
    assert kinds(response.text)[-1] == "RunCompleted"


def test_invoke_names_the_known_functions_on_a_typo(deployment: Deployment) -> None:
    with pytest.raises(KeyError, match="known: authorizer, health, agent_runs"):
        invoke("sesions", event("sessions_list"))


def test_local_context_looks_like_lambdas() -> None:
    context = LocalContext(function_name="sessions")
    assert context.invoked_function_arn.endswith(":function:sessions")
    assert context.get_remaining_time_in_millis() > 0


def test_a_queued_run_cancelled_before_it_starts_is_never_run(deployment: Deployment) -> None:
    job = body_of(call("agent_runs", event("agent_run_background")))
    cancel = deepcopy(event("agent_run"))
    cancel["path"] = f"/agents/assistant/runs/{job['run_id']}/cancel"
    cancel["pathParameters"] = {"proxy": f"assistant/runs/{job['run_id']}/cancel"}
    cancel["body"] = None

    cancelled = call("agent_runs", cancel)
    assert (cancelled["statusCode"], body_of(cancelled)["status"]) == (200, "CANCELLED")

    assert call("run_worker", sqs_event(deployment.receive())) == {"batchItemFailures": []}
    runs = asyncio_run(deployment.store.get_runs("s-events"))
    assert [(r.run_id, r.status) for r in runs] == [(job["run_id"], RunStatus.CANCELLED)]
    assert call("agent_runs", cancel)["statusCode"] == 409


# --- knowledge ----------------------------------------------------------------------------------------------


def with_path(request: dict[str, Any], path: str, method: str = "GET") -> dict[str, Any]:
    changed = deepcopy(request)
    changed["path"] = path
    changed["httpMethod"] = method
    changed["pathParameters"] = {"proxy": path.removeprefix("/knowledge/")}
    changed["queryStringParameters"] = changed["multiValueQueryStringParameters"] = None
    changed["body"] = None
    changed["isBase64Encoded"] = False
    return changed


def test_an_upload_goes_through_s3_and_the_queue_to_the_knowledge_worker(deployment: Deployment) -> None:
    accepted = call("knowledge", event("knowledge_upload"))
    assert accepted["statusCode"] == 202, accepted["body"]
    content = body_of(accepted)
    assert (content["name"], content["status"], content["metadata"]) == (
        "expenses.md",
        "processing",
        {"team": "finance"},
    )
    key = f"knowledge/docs/{content['id']}"
    assert b"Meals on the road" in deployment.s3.get_object(Bucket=deployment.bucket, Key=key)["Body"].read()
    status = with_path(event("knowledge_config"), f"/knowledge/content/{content['id']}/status")
    assert body_of(call("knowledge", status))["status"] == "processing"

    messages = deployment.receive(deployment.knowledge_queue_url)
    assert len(messages) == 1
    assert call("knowledge_worker", sqs_event(messages)) == {"batchItemFailures": []}
    deployment.sqs.delete_message(QueueUrl=deployment.knowledge_queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])

    done = body_of(call("knowledge", status))
    assert done["status"] == "completed", done
    assert "Contents" not in deployment.s3.list_objects_v2(Bucket=deployment.bucket, Prefix="knowledge/")
    found = body_of(call("knowledge", event("knowledge_search")))["data"]
    assert "45 euros" in found[0]["content"]
    assert found[0]["meta_data"]["team"] == "finance"
    listed = body_of(call("knowledge", event("knowledge_content_list")))
    assert [c["id"] for c in listed["data"]] == [content["id"]]
    # the same upload again is the same content, not a second ingestion; the same message again changes nothing
    again = body_of(call("knowledge", event("knowledge_upload")))
    assert (again["id"], again["status"]) == (content["id"], "completed")
    assert deployment.receive(deployment.knowledge_queue_url) == []
    assert call("knowledge_worker", sqs_event(messages)) == {"batchItemFailures": []}
    config = body_of(call("knowledge", event("knowledge_config")))
    assert "markdown" in config["readers"]


def test_the_knowledge_worker_sample_event(deployment: Deployment) -> None:
    from stratus.storage import ContentRecord, ContentStatus

    handbook = b"# Handbook\n\nThe office opens at eight."
    record = ContentRecord(
        content_id="c-events",
        knowledge_id="docs",
        name="handbook.md",
        content_type="text/markdown",
        size=len(handbook),
        content_hash="0" * 64,
        status=ContentStatus.PROCESSING,
        user_id=USER,
    )
    asyncio_run(deployment.store.put_content(record))
    deployment.s3.put_object(Bucket=deployment.bucket, Key="knowledge/docs/c-events", Body=handbook)

    assert call("knowledge_worker", event("knowledge_worker")) == {"batchItemFailures": []}

    stored = asyncio_run(deployment.store.get_content("c-events", knowledge_id="docs"))
    assert (stored.status, stored.chunk_count) == (ContentStatus.COMPLETED, 1)


def test_an_upload_that_cannot_be_queued_fails_clearly_and_can_be_retried(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STRATUS_KNOWLEDGE_QUEUE_URL", deployment.knowledge_queue_url + "-missing")
    _forget_functions()

    refused = call("knowledge", event("knowledge_upload"))

    assert refused["statusCode"] == 503
    assert "ingestion is unavailable" in body_of(refused)["detail"]
    listed = body_of(call("knowledge", event("knowledge_content_list")))["data"]
    assert [(c["status"], c["status_message"]) for c in listed] == [
        ("failed", "could not queue the content for ingestion: QueueDoesNotExist")
    ]
    monkeypatch.setenv("STRATUS_KNOWLEDGE_QUEUE_URL", deployment.knowledge_queue_url)
    _forget_functions()
    retried = call("knowledge", event("knowledge_upload"))
    assert (retried["statusCode"], body_of(retried)["id"]) == (202, listed[0]["id"])
    assert len(deployment.receive(deployment.knowledge_queue_url)) == 1


def test_each_function_serves_every_route_group_it_is_declared_with(deployment: Deployment) -> None:
    import re as regex

    from fastapi.routing import APIRoute

    from stratus.api._app import ROUTERS
    from stratus.aws.functions import FUNCTIONS, FunctionKind

    for spec in FUNCTIONS:
        if spec.kind is FunctionKind.QUEUE or spec.name == "health":
            continue
        for group in spec.routers:
            if group not in ROUTERS:
                continue  # a protocol besides REST (MCP, A2A): its own tests drive its function
            routes = [(r.path, sorted(r.methods or ())) for r in ROUTERS[group].routes if isinstance(r, APIRoute)]
            # a GET route where the group has one; else its first (/optimize-memories is POST only)
            path, methods = sorted(routes, key=lambda route: "GET" not in route[1])[0]
            method = "GET" if "GET" in methods else methods[0]
            concrete = regex.sub(r"\{[^}]+\}", "x", path)
            response = call(spec.name, with_path(event("health"), concrete, method))
            # the route answers (maybe 404 for the unknown id "x", with its own message), never the bare
            # "Not Found" of a path no router of the function knows
            assert body_of(response) != {"detail": "Not Found"}, f"{spec.name} does not serve {group} ({concrete})"


# --- teams and workflows ------------------------------------------------------------------------------------


def event_names(body: str) -> list[str]:
    return [line[len("event: ") :] for line in body.splitlines() if line.startswith("event: ")]


def test_team_and_workflow_events_answer_through_their_functions(deployment: Deployment) -> None:
    assert [t["id"] for t in body_of(call("team_runs", event("teams_list")))] == ["desk"]
    desk = body_of(call("team_runs", event("team_get")))
    assert (desk["mode"], [m["id"] for m in desk["members"]]) == ("route", ["assistant"])
    run = call("team_runs", event("team_run"))
    assert run["statusCode"] == 200, run["body"]
    output = body_of(run)
    assert (output["team_id"], output["content"], output["user_id"]) == ("desk", "echo: Who can help me?", USER)
    assert [m["agent_id"] for m in output["member_responses"]] == ["assistant"]
    streamed = call("team_runs", event("team_run_stream"))
    assert streamed["headers"]["content-type"].startswith("text/event-stream")
    names = event_names(streamed["body"])
    assert (names[0], names[-1]) == ("TeamRunStarted", "TeamRunCompleted")
    assert "RunCompleted" in names  # the member's, one level down

    assert [w["id"] for w in body_of(call("workflow_runs", event("workflows_list")))] == ["pipeline"]
    steps = body_of(call("workflow_runs", event("workflow_get")))["steps"]
    assert [(s["name"], s.get("agent_id")) for s in steps] == [("Assistant", "assistant"), ("shout", None)]
    ran = body_of(call("workflow_runs", event("workflow_run")))
    assert (ran["workflow_id"], ran["status"], ran["content"]) == ("pipeline", "COMPLETED", "ECHO: DRAFT A NOTE")
    assert [r["step_name"] for r in ran["step_results"]] == ["Assistant", "shout"]
    names = event_names(call("workflow_runs", event("workflow_run_stream"))["body"])
    assert (names[0], names[-1]) == ("WorkflowStarted", "WorkflowCompleted")

    # the runs are in DynamoDB, in the caller's team and workflow sessions, members and steps as children
    team_session = body_of(call("sessions", with_path(event("session_get"), "/sessions/s-team")))
    assert (team_session["team_id"], team_session["user_id"]) == ("desk", USER)
    runs = asyncio_run(deployment.store.get_runs("s-team"))
    assert [(r.team_id or r.agent_id, r.parent_run_id is not None) for r in runs] == [
        ("desk", False),
        ("assistant", True),
        ("desk", False),
        ("assistant", True),
    ]
    workflow_session = body_of(call("sessions", with_path(event("session_get"), "/sessions/s-workflow")))
    assert (workflow_session["workflow_id"], workflow_session["workflow_name"]) == ("pipeline", "Pipeline")
    assert sessions_of(deployment.store, USER) == ["s-team", "s-workflow"]


def test_background_team_and_workflow_runs_go_through_the_queue_to_the_worker(deployment: Deployment) -> None:
    team_job = body_of(call("team_runs", event("team_run_background")))
    workflow_job = body_of(call("workflow_runs", event("workflow_run_background")))
    assert (team_job["status"], workflow_job["status"]) == ("PENDING", "PENDING")

    messages = deployment.receive()
    assert len(messages) == 2
    assert call("run_worker", sqs_event(messages)) == {"batchItemFailures": []}

    team_poll = with_path(event("team_get"), f"/teams/desk/runs/{team_job['run_id']}")
    finished = body_of(call("team_runs", team_poll))
    assert (finished["status"], finished["content"]) == ("COMPLETED", "echo: Take your time")
    assert [m["agent_id"] for m in finished["member_responses"]] == ["assistant"]
    workflow_poll = with_path(event("workflow_get"), f"/workflows/pipeline/runs/{workflow_job['run_id']}")
    finished = body_of(call("workflow_runs", workflow_poll))
    assert (finished["status"], finished["content"]) == ("COMPLETED", "ECHO: TAKE YOUR TIME")


class _EndingContext(LocalContext):
    """An invocation with less than a minute left, as a long run worker's is near its end."""

    def get_remaining_time_in_millis(self) -> int:
        return 59_000


def test_a_workflow_out_of_time_in_the_worker_is_queued_again_and_goes_on_where_it_stopped(
    deployment: Deployment,
) -> None:
    import importlib

    job = body_of(call("workflow_runs", event("workflow_run_background")))
    poll = with_path(event("workflow_get"), f"/workflows/pipeline/runs/{job['run_id']}")
    worker = importlib.import_module("functions.run_worker")

    (message,) = deployment.receive()
    first = worker.handler(sqs_event([message]), _EndingContext(function_name="run_worker"))
    deployment.sqs.delete_message(QueueUrl=deployment.queue_url, ReceiptHandle=message["ReceiptHandle"])

    # it stopped after its first step, stored, and queued itself again
    assert first == {"batchItemFailures": []}
    stopped = body_of(call("workflow_runs", poll))
    assert (stopped["status"], [r["step_name"] for r in stopped["step_results"]]) == ("RUNNING", ["Assistant"])
    (again,) = deployment.receive()
    assert json.loads(again["Body"])["run_id"] == job["run_id"]

    assert call("run_worker", sqs_event([again])) == {"batchItemFailures": []}

    done = body_of(call("workflow_runs", poll))
    assert (done["status"], done["content"]) == ("COMPLETED", "ECHO: TAKE YOUR TIME")
    assert [r["step_name"] for r in done["step_results"]] == ["Assistant", "shout"]
    runs = asyncio_run(deployment.store.get_runs("s-workflow"))
    assert [(r.workflow_id or r.agent_id) for r in runs] == ["pipeline", "assistant"]  # the agent ran once


def test_the_workflow_run_worker_sample_event(deployment: Deployment) -> None:
    assert call("run_worker", event("workflow_run_worker")) == {"batchItemFailures": []}

    runs = {r.workflow_id or r.agent_id: r for r in asyncio_run(deployment.store.get_runs("s-background-workflow"))}
    assert {name: (r.status, r.user_id) for name, r in runs.items()} == {
        "pipeline": (RunStatus.COMPLETED, USER),
        "assistant": (RunStatus.COMPLETED, USER),
    }
    assert runs["pipeline"].content == "ECHO: SUMMARISE THE WEEK"
    assert runs["assistant"].parent_run_id == runs["pipeline"].run_id


class _ShortContext(LocalContext):
    """An invocation with 3.5 s left: a run that would outlive it must end (stored) before it does."""

    def get_remaining_time_in_millis(self) -> int:
        return 3_500


def _hang(request: dict[str, Any], session_id: str) -> dict[str, Any]:
    hung = deepcopy(request)
    hung["body"] = json.dumps({**json.loads(hung["body"]), "message": "hang", "session_id": session_id})
    return hung


def test_a_run_that_would_outlive_its_invocation_ends_stored_before_the_function_does(
    deployment: Deployment,
) -> None:
    import importlib
    import time

    agent_runs = importlib.import_module("functions.agent_runs")
    started = time.monotonic()
    answered = agent_runs.handler(_hang(event("agent_run"), "s-hang"), _ShortContext(function_name="agent_runs"))
    elapsed = time.monotonic() - started

    assert elapsed < 3.5  # before Lambda would have killed the invocation
    assert answered["statusCode"] == 504
    body = body_of(answered)
    assert body["error_type"] == "RunTimeoutError"
    assert "Lambda invocation's time left" in body["detail"]
    (stored,) = asyncio_run(deployment.store.get_runs("s-hang"))
    assert (stored.run_id, stored.status, stored.error_type) == (body["run_id"], RunStatus.ERROR, "RunTimeoutError")


def test_a_queued_run_that_would_outlive_the_worker_invocation_is_stored_as_an_error(deployment: Deployment) -> None:
    import importlib

    job = body_of(call("agent_runs", _hang(event("agent_run_background"), "s-hang-bg")))
    worker = importlib.import_module("functions.run_worker")
    (message,) = deployment.receive()
    assert worker.handler(sqs_event([message]), _ShortContext(function_name="run_worker")) == {"batchItemFailures": []}

    (stored,) = asyncio_run(deployment.store.get_runs("s-hang-bg"))
    assert (stored.run_id, stored.status, stored.error_type) == (job["run_id"], RunStatus.ERROR, "RunTimeoutError")


def test_a_streamed_run_ends_by_the_deadline_the_web_adapter_passes(deployment: Deployment) -> None:
    import time

    import functions.agent_runs as deployed

    request = {"message": "hang", "stream": True, "session_id": "s-hang-stream"}
    headers = {"Authorization": f"Bearer {KEY}"}
    with TestClient(deployed.app) as client:
        ends_soon = json.dumps({"deadline": int((time.time() + 3.0) * 1000), "request_id": "r1"})
        started = time.monotonic()
        response = client.post(
            "/agents/assistant/runs", json=request, headers={**headers, "x-amzn-lambda-context": ends_soon}
        )
        assert time.monotonic() - started < 3.0
        assert response.status_code == 200
        assert "event: RunError" in response.text
        assert "RunTimeoutError" in response.text
        # a garbled header is ignored: the run is bound only by its own settings
        fine = client.post(
            "/agents/assistant/runs",
            json={**request, "message": "quick", "session_id": "s-ok"},
            headers={**headers, "x-amzn-lambda-context": "{not json"},
        )
        assert "event: RunCompleted" in fine.text


def test_the_streamed_functions_answer_the_web_adapters_readiness_check(deployment: Deployment) -> None:
    import importlib

    for name in ("agent_runs", "team_runs", "workflow_runs"):
        deployed = importlib.import_module(f"functions.{name}")
        with TestClient(deployed.app) as client:
            assert client.get("/health").status_code == 200, name  # AWS_LWA_READINESS_CHECK_PATH, no key needed
