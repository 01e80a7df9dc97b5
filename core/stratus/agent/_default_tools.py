"""The tools an agent gets from its own settings (agno's default tools): `update_session_state`
(`enable_agentic_state`), `get_chat_history` (`read_chat_history`), and `search_past_sessions` with
`read_past_session` (`search_past_sessions`). The session tools read only the run's user's sessions of this
agent; a run without a user has no past sessions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from stratus.run import RunContext, RunStatus
from stratus.storage.records import SessionQuery, SessionType
from stratus.tools import Tool

if TYPE_CHECKING:
    from stratus.agent.agent import Agent
    from stratus.messages import Message
    from stratus.run import RunOutput
    from stratus.storage.base import Store

__all__ = ["default_tools", "session_state_text"]

_PREVIEW_CHARS = 200


def default_tools(agent: Agent, context: RunContext) -> list[Tool]:
    """The tools `agent`'s settings give it for the run `context` describes."""
    tools: list[Tool] = []
    if agent.enable_agentic_state:
        tools.append(Tool(update_session_state, name="update_session_state"))
    store = agent.store
    if agent.read_chat_history and store is not None:
        tools.append(_chat_history_tool(store, context))
    if agent.search_past_sessions and store is not None:
        tools.extend(_past_session_tools(agent, store, context))
    return tools


def session_state_text(state: dict[str, Any]) -> str:
    """The session state as `add_session_state_to_context` shows it at the end of the system message."""
    return f"<session_state>\n{json.dumps(state, ensure_ascii=False, default=str)}\n</session_state>"


def update_session_state(session_state_updates: dict[str, Any], context: RunContext) -> str:
    """Update the shared session state. Provide any updates as a dictionary of key-value pairs.
    Example: "session_state_updates": {"shopping_list": ["milk", "eggs", "bread"]}

    Args:
        session_state_updates: The updates to apply to the shared session state: a dictionary of key-value pairs.
    """
    context.session_state.update(session_state_updates)  # in place: the run saves this dict with the session
    return f"Updated session state: {json.dumps(context.session_state, ensure_ascii=False, default=str)}"


def _chat_history_tool(store: Store, context: RunContext) -> Tool:
    async def get_chat_history(num_chats: int | None = None) -> str:
        """Use this function to get the chat history between the user and agent.

        Args:
            num_chats: The number of chats to return. Each chat contains 2 messages. One from the user and one
                from the agent. Default: None (all of them).
        """
        runs = await _completed_runs(store, context.session_id, context.user_id)
        history = [m.to_dict() for m in _conversation(runs, system=True)]
        if num_chats is not None:
            history = history[-num_chats:] if num_chats > 0 else []
        return json.dumps(history, ensure_ascii=False, default=str)

    return Tool(get_chat_history)


def _past_session_tools(agent: Agent, store: Store, context: RunContext) -> list[Tool]:
    limit = agent.num_past_sessions_to_search or 20
    runs_each = agent.num_past_session_runs_in_search or 3
    user_id = context.user_id

    async def search_past_sessions() -> str:
        """List previous chat sessions with short previews.
        Use read_past_session to read the full conversation for a specific session.
        """
        if user_id is None:
            return json.dumps([])
        query = SessionQuery(
            session_type=SessionType.AGENT, component_id=agent.agent_id, user_id=user_id, limit=limit + 1
        )
        page = await store.list_sessions(query)
        found: list[dict[str, Any]] = []
        for session in page.items:
            if session.session_id == context.session_id or len(found) >= limit:
                continue
            runs = await _completed_runs(store, session.session_id, user_id)
            previews = [_preview(run) for run in runs[:runs_each]]
            found.append(
                {
                    "session_id": session.session_id,
                    "created_at": str(session.created_at) if session.created_at else None,
                    "runs": [p for p in previews if p["user"] or p["assistant"]],
                }
            )
        return json.dumps(found, ensure_ascii=False)

    async def read_past_session(session_id: str, num_runs: int | None = None) -> str:
        """Read the full conversation from a previous session.
        Use search_past_sessions first to find relevant sessions.

        Args:
            session_id: The session ID to read (from search results).
            num_runs: Maximum number of runs to include. Default: all runs.
        """
        session = await store.get_session(session_id, user_id=user_id) if user_id is not None else None
        if session is None or session.user_id != user_id or session.component_id != agent.agent_id:
            return "Session not found."
        runs = await _completed_runs(store, session_id, user_id)
        if num_runs is not None:
            runs = runs[:num_runs]
        lines = [f"Session: {session_id}", f"Created: {session.created_at}", ""]
        for message in _conversation(runs, system=False):
            if message.role in ("user", "assistant") and message.content:
                lines += [f"{'User' if message.role == 'user' else 'Assistant'}: {message.content}", ""]
        return "\n".join(lines) if runs else "Session not found."

    return [Tool(search_past_sessions), Tool(read_past_session)]


async def _completed_runs(store: Store, session_id: str, user_id: str | None) -> list[RunOutput]:
    """The session's completed top-level runs, oldest first (another user's session reads as empty)."""
    runs = await store.get_runs(session_id, statuses=(RunStatus.COMPLETED,), user_id=user_id)
    return [r for r in runs if r.parent_run_id is None]


def _conversation(runs: list[RunOutput], *, system: bool) -> list[Message]:
    """The runs' own messages in order (each run's copy of earlier history left out), the system one once."""
    out: list[Message] = []
    seen_system = not system
    for run in runs:
        for message in run.messages:
            if message.from_history:
                continue
            if message.role == "system":
                if not seen_system:
                    out.append(message)
                    seen_system = True
                continue
            out.append(message)
    return out


def _preview(run: RunOutput) -> dict[str, str]:
    user = next((m.content for m in run.messages if m.role == "user" and m.content and not m.from_history), "")
    answer = next((m.content for m in run.messages if m.role == "assistant" and m.content and not m.from_history), "")
    return {"user": _truncate(user or ""), "assistant": _truncate(answer or "")}


def _truncate(text: str) -> str:
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS] + "..."
