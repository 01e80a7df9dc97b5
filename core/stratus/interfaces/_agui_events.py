"""A stratus run's events as AG-UI events: what `stratus.interfaces.agui` streams.

One `AguiStream` per run. The run's own events become AG-UI's: its text deltas one text message per stretch of
text (`TEXT_MESSAGE_START`, `_CONTENT`..., `_END`), its reasoning a reasoning message, each tool call
`TOOL_CALL_START`, `_ARGS` (its arguments, whole), `_END` as it starts and `TOOL_CALL_RESULT` when it ends
(then `STATE_SNAPSHOT` if a tool call changed the session state), and its end `STATE_SNAPSHOT` (the session
state it leaves) then `RUN_FINISHED`, or `RUN_ERROR`. The events of the runs it starts (a team's members) are
its insides and stay out, but for the state their tools change; an answer that was not streamed as the run's
own text (a route-mode team's, its member's) is sent as one text message at the end.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from ag_ui.core import (
    PROTOCOL_VERSION,
    BaseEvent,
    Interrupt,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunErrorEvent,
    RunFinishedCancelledOutcome,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunStartedEvent,
    StateSnapshotEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder

from stratus._utils import dumps, to_text
from stratus.api._runs import SAFE_ERRORS
from stratus.run import (
    ModelRequestStarted,
    RunCancelled,
    RunCompleted,
    RunContent,
    RunError,
    RunEvent,
    RunOutput,
    RunPaused,
    ToolCallCompleted,
    ToolCallStarted,
    ToolExecution,
)

__all__ = ["AguiStream", "encoded"]


def _new_id() -> str:
    return str(uuid.uuid4())


def _reason(tool: ToolExecution) -> str:
    """Why a paused call waits, as an interrupt's `reason`."""
    if tool.requires_confirmation:
        return "confirmation"
    if tool.requires_user_input:
        return "user_input"
    return "external_execution"


class AguiStream:
    """The AG-UI events of one run (`thread_id` its session, `run_id` its id), event by event."""

    def __init__(self, thread_id: str, run_id: str, state: Callable[[], dict[str, Any] | None] = lambda: None) -> None:
        self.thread_id, self.run_id = thread_id, run_id
        self._state = state
        """The session state as the run holds it now (its tools change it)."""
        self._sent: dict[str, Any] | None = None
        """The state last sent."""
        self._text: str | None = None
        """The text message open, if one is."""
        self._reasoning: str | None = None
        """The reasoning message open, if one is."""
        self._parent: str | None = None
        """The assistant message of this model turn: its text's, which its tool calls join (AG-UI's clients put
        them in one message), or one made up for its tool calls when it said nothing."""
        self._answered = False
        """Whether the run's own text came since its last tool call: else its answer is sent at the end."""
        self.ended = False
        """Whether its last event (`RUN_FINISHED` or `RUN_ERROR`) is out."""

    def started(self) -> list[BaseEvent]:
        return [RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id, protocol_version=PROTOCOL_VERSION)]

    def of(self, event: RunEvent) -> list[BaseEvent]:
        """The AG-UI events for one of the run's events (none for most: they are stratus' bookkeeping)."""
        if event.run_id != self.run_id:  # a member's or a step's: the run's insides, but for the state it shares
            return self._state_changed() if isinstance(event, ToolCallCompleted) else []
        if isinstance(event, ModelRequestStarted):
            self._parent = None  # a new turn: a new assistant message
            return []
        if isinstance(event, RunContent):
            return self._content(event)
        if isinstance(event, ToolCallStarted):
            return self._tool_started(event.tool)
        if isinstance(event, ToolCallCompleted):
            tool = event.tool
            content = to_text(tool.result)
            result = ToolCallResultEvent(
                message_id=_new_id(), tool_call_id=tool.tool_call_id, content=content, role="tool"
            )
            return [result, *self._state_changed()]
        if isinstance(event, RunPaused):
            return self._paused(event)
        if isinstance(event, RunCompleted):
            return self._completed(event.output)
        if isinstance(event, RunError):
            message = event.content if event.error_type in SAFE_ERRORS else "Internal server error"
            self.ended = True
            return [*self._close(), RunErrorEvent(message=message, code=event.error_type)]
        if isinstance(event, RunCancelled):
            return [*self._close(), self._finished(outcome=RunFinishedCancelledOutcome())]
        return []

    def _content(self, event: RunContent) -> list[BaseEvent]:
        events: list[BaseEvent] = []
        if event.reasoning_content:
            if self._reasoning is None:
                events += self._close()
                self._reasoning = _new_id()
                events += [
                    ReasoningStartEvent(message_id=self._reasoning),
                    ReasoningMessageStartEvent(message_id=self._reasoning),
                ]
            events.append(ReasoningMessageContentEvent(message_id=self._reasoning, delta=event.reasoning_content))
        delta = to_text(event.content)
        if delta:
            events += self._say(delta)
        return events

    def _say(self, delta: str) -> list[BaseEvent]:
        events = self._close_reasoning()
        if self._text is None:
            self._text = self._parent = _new_id()
            events.append(TextMessageStartEvent(message_id=self._text, role="assistant"))
        events.append(TextMessageContentEvent(message_id=self._text, delta=delta))
        self._answered = True
        return events

    def _tool_started(self, tool: ToolExecution) -> list[BaseEvent]:
        self._answered = False
        self._parent = self._parent or _new_id()
        return [
            *self._close(),
            ToolCallStartEvent(
                tool_call_id=tool.tool_call_id, tool_call_name=tool.tool_name, parent_message_id=self._parent
            ),
            ToolCallArgsEvent(tool_call_id=tool.tool_call_id, delta=dumps(tool.tool_args)),
            ToolCallEndEvent(tool_call_id=tool.tool_call_id),
        ]

    def _paused(self, event: RunPaused) -> list[BaseEvent]:
        """A run waiting for a person: its waiting calls (with no result), and an interrupt for each. It is
        stored PAUSED; the REST API's `/continue` resumes it."""
        events = self._close()
        interrupts: list[Interrupt] = []
        for tool in event.tools:
            events += self._tool_started(tool)
            interrupts.append(Interrupt(id=tool.tool_call_id, reason=_reason(tool), tool_call_id=tool.tool_call_id))
        if not interrupts:  # nothing to answer here (a paused member's calls): an interrupt names at least one
            interrupts.append(Interrupt(id=self.run_id, reason="paused"))
        return [*events, self._finished(outcome=RunFinishedInterruptOutcome(interrupts=interrupts))]

    def _completed(self, output: RunOutput) -> list[BaseEvent]:
        events: list[BaseEvent] = []
        answer = to_text(output.content_dict())
        if not self._answered and answer:
            events += self._say(answer)
        events += self._close()
        if output.session_state is not None:
            events.append(StateSnapshotEvent(snapshot=output.session_state))
        return [*events, self._finished()]

    def _state_changed(self) -> list[BaseEvent]:
        """A snapshot of the session state if it changed since the last one sent (a tool wrote it)."""
        state = self._state()
        if state is None or state == self._sent:
            return []
        self._sent = copy.deepcopy(state)  # sent as it is now: the run goes on changing its own
        return [StateSnapshotEvent(snapshot=self._sent)]

    def _finished(
        self, outcome: RunFinishedInterruptOutcome | RunFinishedCancelledOutcome | None = None
    ) -> RunFinishedEvent:
        self.ended = True
        return RunFinishedEvent(thread_id=self.thread_id, run_id=self.run_id, outcome=outcome)

    def _close_reasoning(self) -> list[BaseEvent]:
        if self._reasoning is None:
            return []
        done = self._reasoning
        self._reasoning = None
        return [ReasoningMessageEndEvent(message_id=done), ReasoningEndEvent(message_id=done)]

    def _close(self) -> list[BaseEvent]:
        """End what is open (reasoning, text): before a tool call and before the run's end."""
        events = self._close_reasoning()
        if self._text is not None:
            events.append(TextMessageEndEvent(message_id=self._text))
            self._text = None
        return events


async def encoded(stream: AguiStream, events: AsyncIterator[RunEvent], encoder: EventEncoder) -> AsyncIterator[str]:
    """The run's AG-UI events as `encoder` writes them (Server-Sent Events), from `RUN_STARTED` to its end."""
    for started in stream.started():
        yield encoder.encode(started)
    async for event in events:
        for out in stream.of(event):
            yield encoder.encode(out)
    if not stream.ended:  # the run's task died without its last event (logged): the client must not wait on
        yield encoder.encode(RunErrorEvent(message="Internal server error"))
