"""Agents, teams and workflows as `GET /agents`, `/teams` and `/workflows` describe them.

Teams and workflows are imported where one is described (so an app that has one has imported them already):
the function serving `/agents` does not load the workflow engine at its cold start."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ConfigDict, Field

from stratus.agent import Agent
from stratus.api.schemas._common import Object
from stratus.exceptions import StratusError
from stratus.tools import Tool, Toolkit

if TYPE_CHECKING:
    from stratus.team import Team
    from stratus.workflow import Workflow, WorkflowStep


# AgentOS' shapes, under AgentOS' names and fields (shared/reference/agentos-openapi.json), so /docs and the
# clients generated from it see what these routes answer. The routes answer with
# `response_model_exclude_unset=True`: a key `agent_response` (or `RunOutput.to_dict`) leaves out stays out,
# and `extra="allow"` keeps a key a model does not declare rather than drop it.


class ModelResponse(BaseModel):
    """The model an agent, or a team's leader, runs on."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, description="The model class (`OpenAIChat`, `Claude`, ...)")
    model: str | None = Field(default=None, description="The provider's model id")
    provider: str | None = None


class _ComponentResponse(BaseModel):
    """What AgentOS says of any agent, team or workflow."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    name: str | None = None
    db_id: str | None = Field(default=None, description="The store its sessions are kept in")
    description: str | None = None
    is_factory: bool = False
    factory_input_schema: Object = None
    is_component: bool = False
    current_version: int | None = None
    stage: str | None = None
    sandboxed: bool = False


class _RunnerResponse(_ComponentResponse):
    """What AgentOS says of an agent and of a team: its model, tools, sessions and settings."""

    role: str | None = None
    model: ModelResponse | None = None
    tools: Object = Field(default=None, description="`{tools: [{name, description, parameters}]}`")
    sessions: Object = None
    knowledge: Object = None
    memory: Object = None
    reasoning: Object = None
    default_tools: Object = None
    system_message: Object = None
    response_settings: Object = None
    introduction: str | None = None
    streaming: Object = None
    metadata: Object = None
    input_schema: Object = None


class AgentResponse(_RunnerResponse):
    """AgentOS' `AgentResponse`: one row of `GET /agents`, and `GET /agents/{agent_id}`."""

    filesystem: bool = False
    extra_messages: Object = None


class TeamResponse(_RunnerResponse):
    """AgentOS' `TeamResponse`: one row of `GET /teams`, and `GET /teams/{team_id}`, with its members."""

    mode: str | None = Field(default=None, description="`coordinate`, `route` or `broadcast`")
    members: list[AgentResponse | TeamResponse] | None = None


class WorkflowSummaryResponse(_ComponentResponse):
    """AgentOS' `WorkflowSummaryResponse`: one row of `GET /workflows`."""


class WorkflowResponse(_ComponentResponse):
    """AgentOS' `WorkflowResponse`: `GET /workflows/{workflow_id}`, with its steps (their agents and teams in
    full)."""

    input_schema: Object = None
    steps: list[dict[str, Any]] | None = None
    agent: AgentResponse | None = None
    team: TeamResponse | None = None
    metadata: Object = None
    workflow_agent: bool = False


def _model_info(agent: Agent | Team) -> dict[str, Any] | None:
    try:
        model = agent.get_model()
    except StratusError:
        return {"name": None, "model": str(agent.model), "provider": None} if agent.model else None
    return {"name": model.name, "model": model.id, "provider": model.provider}


def _system_message(component: Agent | Team) -> dict[str, Any]:
    """`system_message` of an agent's or a team's response: its prompt settings, description and instructions
    (instructions given as a function are the function's business)."""
    instructions = component.instructions
    out: dict[str, Any] = {"markdown": component.markdown, "add_datetime_to_context": component.add_datetime_to_context}
    if component.description:
        out["description"] = component.description
    if isinstance(instructions, str):
        out["instructions"] = instructions
    elif instructions is not None and not callable(instructions):
        out["instructions"] = list(instructions)
    return out


def agent_response(agent: Agent, db_id: str | None) -> dict[str, Any]:
    """AgentOS' `AgentResponse`: what an agent is made of, as a client needs to show it."""
    out: dict[str, Any] = {
        "id": agent.agent_id,
        "name": agent.name,
        "db_id": db_id,
        "description": agent.description,
        "filesystem": False,
        "is_factory": False,
        "model": _model_info(agent),
        "tools": {
            "tools": [
                {"name": t.name, "description": t.description, "parameters": t.parameters}
                for t in agent.get_tools().values()
            ]
        },
        "sessions": {
            "session_table": "sessions",
            "add_history_to_context": agent.add_history_to_context,
            "num_history_runs": agent.num_history_runs,
        },
        "reasoning": {"reasoning": False},
        "system_message": _system_message(agent),
        "is_component": False,
        "sandboxed": False,
    }
    if agent.output_schema is not None:
        out["response_settings"] = {"output_schema_name": agent.output_schema.__name__}
    if agent.input_schema is not None:
        out["input_schema"] = agent.input_schema.model_json_schema()
    if agent.metadata:
        out["metadata"] = agent.metadata
    return {k: v for k, v in out.items() if v is not None or k in ("name", "db_id")}


def team_response(team: Team, db_id: str | None) -> dict[str, Any]:
    """AgentOS' `TeamResponse`: the team's mode, leader model and tools, and its members (agents as
    `AgentResponse`, teams as `TeamResponse`)."""
    from stratus.team import Team
    from stratus.team._run import TeamRun

    tools: list[Any] = []
    for item in team.tools:
        tools.extend(item.get_tools() if isinstance(item, Toolkit) else [Tool.ensure(item)])
    tools.extend(TeamRun(team, "").leader_tools())
    out: dict[str, Any] = {
        "id": team.team_id,
        "name": team.name,
        "db_id": db_id,
        "description": team.description,
        "mode": team.mode,
        "model": _model_info(team),
        "tools": {"tools": [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools]},
        "sessions": {
            "session_table": "sessions",
            "add_history_to_context": team.add_history_to_context,
            "num_history_runs": team.num_history_runs,
        },
        "system_message": _system_message(team),
        "members": [team_response(m, db_id) if isinstance(m, Team) else agent_response(m, db_id) for m in team.members],
        "input_schema": team.input_schema.model_json_schema() if team.input_schema is not None else None,
        "metadata": team.metadata,
        "is_factory": False,
        "is_component": False,
        "sandboxed": False,
    }
    return {k: v for k, v in out.items() if v is not None or k in ("name", "db_id")}


def workflow_summary(workflow: Workflow, db_id: str | None) -> dict[str, Any]:
    """AgentOS' `WorkflowSummaryResponse`: one row of `GET /workflows`."""
    return {
        "id": workflow.workflow_id,
        "name": workflow.name,
        "description": workflow.description,
        "db_id": db_id,
        "is_factory": False,
        "is_component": False,
        "sandboxed": False,
    }


def _step_document(step: WorkflowStep, db_id: str | None) -> dict[str, Any]:
    """A step as `WorkflowResponse.steps` lists it, its agent or team described in full."""
    from stratus.workflow import Step

    out = step.to_dict()
    if isinstance(step, Step):
        if step.agent is not None:
            out["agent"] = agent_response(step.agent, db_id)
        if step.team is not None:
            out["team"] = team_response(step.team, db_id)
    for attr, key in (("steps", "steps"), ("else_steps", "else_steps"), ("choices", "steps")):
        nested = getattr(step, attr, None)
        if isinstance(nested, list) and nested:
            out[key] = [_step_document(s, db_id) for s in cast("list[WorkflowStep]", nested)]
    return out


def workflow_response(workflow: Workflow, db_id: str | None) -> dict[str, Any]:
    """AgentOS' `WorkflowResponse`: the workflow and its steps."""
    out: dict[str, Any] = {
        **workflow_summary(workflow, db_id),
        "input_schema": None,
        "steps": [_step_document(step, db_id) for step in workflow.get_steps()],
        "metadata": workflow.metadata,
        "workflow_agent": False,
    }
    return {k: v for k, v in out.items() if v is not None or k in ("name", "db_id")}
