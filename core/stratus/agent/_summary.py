"""Session summaries without the learning machine (agno's `enable_session_summaries`): after a run is stored,
the agent's summary model reads the session's conversation and the summary goes on the session record
(AgentOS' `session_summary`); `add_session_summary_to_context` shows it to the model in later runs."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from stratus.messages import Message
from stratus.models.base import ModelRequest
from stratus.run import RunStatus

if TYPE_CHECKING:
    from stratus.agent.agent import Agent
    from stratus.storage.base import Store

__all__ = ["summarize_session", "summary_text"]

logger = logging.getLogger("stratus.agent")

_RUNS_READ = 20
"""The newest runs a summary reads (a long session's oldest are in its previous summary's words)."""

_TIMEOUT = 60.0
"""Seconds the summary model may take (the run is stored already; its caller waits for this)."""

_PROMPT = """\
Analyze the following conversation between a user and an assistant, and extract the following details:
- Summary (str): Provide a concise summary of the session, focusing on important information that would be \
helpful for future interactions.
- Topics (Optional[List[str]]): List the topics discussed in the session.
Keep the summary concise and to the point. Only include relevant information.
"""
_ASK = "Provide the summary of the conversation."
_JSON = 'Answer with only a JSON object: {"summary": "...", "topics": ["..."]}.'


def summary_text(summary: dict[str, Any] | None) -> str:
    """The part of the system message that shows a session's summary (agno's words); "" without one."""
    text = (summary or {}).get("summary")
    if not isinstance(text, str) or not text.strip():
        return ""
    return (
        "Here is a brief summary of your previous interactions:\n\n"
        f"<summary_of_previous_interactions>\n{text.strip()}\n</summary_of_previous_interactions>\n\n"
        "Note: this information is from previous interactions and may be outdated. "
        "You should ALWAYS prefer information from this conversation over the past summary."
    )


async def summarize_session(agent: Agent, store: Store, session_id: str, user_id: str | None) -> bool:
    """Write the session's summary on its record; whether it was written. Never raises: a model that fails
    or answers what is not a summary leaves the previous summary in place (logged)."""
    from pydantic import BaseModel, ValidationError

    from stratus.agent._turns import _strip_fences  # pyright: ignore[reportPrivateUsage]
    from stratus.agent.agent import resolve_model

    class SessionSummaryResponse(BaseModel):
        summary: str
        topics: list[str] | None = None

    try:
        runs = await store.get_runs(session_id, last=_RUNS_READ, statuses=(RunStatus.COMPLETED,), user_id=user_id)
        lines: list[str] = []
        for run in runs:
            if run.parent_run_id is not None:
                continue
            for m in run.messages:
                if m.from_history or not m.content:
                    continue
                if m.role == "user":
                    lines.append(f"User: {m.content}")
                elif m.role == "assistant":
                    lines.append(f"Assistant: {m.content}\n")
        if not lines:
            return False
        model = (
            resolve_model(agent.session_summary_model, "no summary model")
            if agent.session_summary_model is not None
            else agent.get_model()
        )
        request = ModelRequest()
        prompt = _PROMPT + "<conversation>" + "\n".join(lines) + "</conversation>"
        if model.supports_structured_output:
            request.output_schema = SessionSummaryResponse.model_json_schema()
            request.output_name = "SessionSummaryResponse"
        else:
            prompt += "\n" + _JSON
        asked = model.request([Message(role="system", content=prompt), Message(role="user", content=_ASK)], request)
        response = await asyncio.wait_for(asked, _TIMEOUT)
        answer = SessionSummaryResponse.model_validate_json(_strip_fences(response.content or ""))
    except ValidationError as exc:
        logger.warning("session %s: the summary model's answer is not a summary: %s", session_id, exc)
        return False
    except Exception as exc:
        logger.warning("session %s: summarizing failed: %s", session_id, exc)
        return False
    if not answer.summary.strip():
        return False
    summary = {"summary": answer.summary.strip()[:4000], "topics": answer.topics, "updated_at": int(time.time())}
    updated = await store.update_session(session_id, user_id=user_id, summary=summary)
    return updated is not None
