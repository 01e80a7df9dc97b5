"""Every error stratus raises derives from `StratusError`, so callers can catch one base or a precise kind."""

from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar

__all__ = [
    "CheckTrigger",
    "ConfigError",
    "EmbedderError",
    "FetchError",
    "InputCheckError",
    "InputValidationError",
    "InvalidCursorError",
    "InvalidQueryError",
    "KnowledgeError",
    "ModelError",
    "ModelTimeoutError",
    "NotFoundError",
    "OutputCheckError",
    "OutputValidationError",
    "RunCancelledError",
    "RunLimitExceeded",
    "RunTimeoutError",
    "SchemaVersionError",
    "StoreError",
    "StratusError",
    "ToolDefinitionError",
    "ToolError",
    "UnsafeURLError",
    "UnsupportedQueryError",
]


class StratusError(Exception):
    """Base class of every error raised by stratus."""


class ConfigError(StratusError):
    """The configuration of an agent, model, store or app is invalid."""


class ModelError(StratusError):
    """A model provider failed to answer.

    `retryable` says whether the same request may succeed later (rate limits, 5xx, timeouts);
    `status_code` carries the provider's HTTP status when there was one.
    """

    def __init__(self, message: str, *, retryable: bool = False, status_code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code


class ModelTimeoutError(ModelError):
    """A model request ran out of time: an attempt's timeout (retryable), or the request's whole deadline."""


class ToolDefinitionError(StratusError):
    """A function cannot be turned into a tool (for example `*args` or an unsupported type)."""


class ToolError(StratusError):
    """A tool failed. Raised inside a tool, its message goes back to the model."""


class RunLimitExceeded(StratusError):
    """A run stopped because a configured limit tripped; `limit` names it."""

    def __init__(self, message: str, *, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class RunTimeoutError(RunLimitExceeded):
    """A run's deadline (`Agent.run_timeout`, or `stratus.run_deadline`) passed before it ended; the message
    names what it was waiting for."""

    def __init__(self, message: str) -> None:
        super().__init__(message, limit="deadline")


class OutputValidationError(StratusError):
    """The model's final answer did not validate against the agent's `output_schema`, after retries."""


class InputValidationError(StratusError, ValueError):
    """A run's input did not validate against the agent's `input_schema`: refused before the run starts
    (nothing stored); the API answers 422."""


class RunCancelledError(StratusError):
    """The run was cancelled before it finished."""


class StoreError(StratusError):
    """The store failed to read or write."""


class SchemaVersionError(StoreError):
    """A stored item carries a schema version this code does not know."""


class InvalidQueryError(StoreError):
    """A listing cannot be answered as asked: the caller's mistake (the API answers 422), not the store's."""


class InvalidCursorError(InvalidQueryError):
    """A page cursor that is malformed, forged, or from another listing (other filters or sort)."""


class UnsupportedQueryError(InvalidQueryError):
    """The store cannot serve this sort (or filter) within its bounds; the message says what it can serve."""


class EmbedderError(StratusError):
    """Embedding failed (the provider refused or is unreachable, the model could not load)."""


class KnowledgeError(StratusError):
    """Content could not be added (too large, unreadable, unreachable URL, ...)."""


class FetchError(StratusError):
    """A URL could not be fetched for a user: unreachable, an HTTP error, too large, too slow, too many
    redirects, or refused as unsafe (`UnsafeURLError`)."""


class UnsafeURLError(FetchError):
    """A URL was refused before any request was sent to it: not http(s), credentials in it, or a host that is
    (or resolves to) a loopback, private, link-local, metadata or otherwise non-public address. The message
    says which; `STRATUS_FETCH_ALLOW` lists the internal hosts that may be fetched anyway."""


class NotFoundError(StratusError):
    """A session, run or component does not exist (or is not visible to the caller)."""


class CheckTrigger(Enum):
    """Why a hook or a guardrail stopped a run (agno's names); the run's `RunError` carries it as `error_id`."""

    OFF_TOPIC = "off_topic"
    INPUT_NOT_ALLOWED = "input_not_allowed"
    OUTPUT_NOT_ALLOWED = "output_not_allowed"
    VALIDATION_FAILED = "validation_failed"
    PROMPT_INJECTION = "prompt_injection"
    PII_DETECTED = "pii_detected"


class _CheckError(StratusError):
    """A check that stopped a run: `check_trigger` says why (`error_id` is its value), `additional_data` what
    the check found."""

    default_trigger: ClassVar[CheckTrigger]

    def __init__(
        self,
        message: str,
        check_trigger: CheckTrigger | str | None = None,
        additional_data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        trigger = check_trigger if check_trigger is not None else self.default_trigger
        self.message = message
        self.check_trigger = trigger
        self.error_id = trigger.value if isinstance(trigger, CheckTrigger) else str(trigger)
        self.additional_data = additional_data


class InputCheckError(_CheckError):
    """A pre-hook (or an input guardrail) refused the run's input: the run stops before the model sees it,
    stored as an error; the API answers 422."""

    default_trigger = CheckTrigger.INPUT_NOT_ALLOWED


class OutputCheckError(_CheckError):
    """A post-hook refused the run's output: the run is stored as an error, its answer withheld."""

    default_trigger = CheckTrigger.OUTPUT_NOT_ALLOWED
