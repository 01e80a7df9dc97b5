"""The bodies of error answers."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    """The body of an error answer: what went wrong, and for a stratus error its type."""

    detail: str = Field(description="What went wrong")
    error_type: str | None = Field(default=None, description="The stratus error behind it, when one is")


class RunErrorDetail(BaseModel):
    """The body of a buffered run that did not complete: the error, and which run it was."""

    detail: str = Field(description="What went wrong (`Internal server error` when it is about the server)")
    error_type: str | None = Field(default=None, description="The error that ended the run")
    run_id: str = Field(description="The run, stored with its status")
    session_id: str = Field(description="The session the run belongs to")
    status: str = Field(description="The run's status: ERROR or CANCELLED")


class FieldError(BaseModel):
    """One invalid part of a request."""

    type: str = Field(description="The kind of error (`missing`, `int_parsing`, `json_too_deep`, ...)")
    loc: list[str | int] = Field(description="Where: `body`, `query`, `path`, then the field")
    msg: str = Field(description="What is wrong with it")


class ValidationErrorDetail(BaseModel):
    """The body of a 422 for invalid fields: the list of what is wrong, and where."""

    detail: list[FieldError]
