"""`/continue` through the deployed functions (`agent_runs`, `team_runs`, `workflow_runs`: their `/{router}/{proxy+}`
routes serve it) against moto's DynamoDB: a follow-up to a completed run is a new run stored in the caller's
session, streamed or not; a workflow run that is not paused is refused with AgentOS' 409."""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

import pytest

from tests.integration.test_lambda_handlers import (
    USER,
    Deployment,
    asyncio_run,
    body_of,
    call,
    event,
    event_names,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def continue_event(sample: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The sample run event of a function, sent to `path` with a JSON `body` instead."""
    request = deepcopy(event(sample))
    request["path"] = path
    request["pathParameters"] = {"proxy": path.split("/", 2)[2]}
    request["body"] = json.dumps(body)
    return request


@pytest.mark.parametrize(
    ("function", "sample", "prefix", "opening"),
    [
        ("agent_runs", "agent_run", "/agents/assistant", "RunContinued"),
        ("team_runs", "team_run", "/teams/desk", "TeamRunContinued"),
    ],
)
def test_a_completed_run_is_followed_up_through_its_function(
    deployment: Deployment, function: str, sample: str, prefix: str, opening: str
) -> None:
    first = body_of(call(function, event(sample)))
    session = first["session_id"]
    path = f"{prefix}/runs/{first['run_id']}/continue"

    answered = call(
        function, continue_event(sample, path, {"input": "and then?", "session_id": session, "stream": False})
    )
    assert answered["statusCode"] == 200, answered["body"]
    follow_up = body_of(answered)
    assert (follow_up["content"], follow_up["forked_from_run_id"], follow_up["user_id"]) == (
        "echo: and then?",
        first["run_id"],
        USER,
    )
    streamed = call(function, continue_event(sample, path, {"input": "more", "session_id": session}))
    assert streamed["statusCode"] == 200, streamed["body"]
    assert event_names(streamed["body"])[0] == opening

    stored = [r for r in asyncio_run(deployment.store.get_runs(session)) if r.parent_run_id is None]
    assert [r.forked_from_run_id for r in stored][-3:] == [None, first["run_id"], first["run_id"]]
    assert all(r.user_id == USER for r in stored)

    missing = call(
        function, continue_event(sample, f"{prefix}/runs/nope/continue", {"input": "x", "session_id": session})
    )
    assert missing["statusCode"] == 404
    assert "not found" in body_of(missing)["detail"]


def test_a_workflow_run_that_is_not_paused_is_refused_through_its_function(deployment: Deployment) -> None:
    ran = body_of(call("workflow_runs", event("workflow_run")))
    path = f"/workflows/pipeline/runs/{ran['run_id']}/continue"
    refused = call(
        "workflow_runs", continue_event("workflow_run", path, {"session_id": ran["session_id"], "stream": False})
    )
    assert refused["statusCode"] == 409
    assert body_of(refused)["detail"] == "run is already completed"
