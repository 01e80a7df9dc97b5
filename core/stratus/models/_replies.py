"""What every provider does with a complete reply: read it, and refuse one that is malformed or empty."""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import contextmanager

from stratus.exceptions import ModelError, StratusError
from stratus.models.base import ModelResponse

__all__ = ["provider_errors", "read_reply"]


@contextmanager
def provider_errors(translate: Callable[[Exception], StratusError]) -> Generator[None]:
    """Around a call into a provider's SDK: stratus' own errors (a deadline passed, a malformed stream) go up
    as they are, and anything else it raises becomes `translate(exc)` (a `ModelError` saying what failed),
    chained to it."""
    try:
        yield
    except StratusError:
        raise
    except Exception as exc:
        raise translate(exc) from exc


def read_reply(
    model: str,
    parse: Callable[[], ModelResponse | None],
    *,
    malformed: tuple[type[Exception], ...],
    empty: Callable[[], str],
) -> ModelResponse:
    """The answer `parse()` reads from a reply, never an empty one: a reply it fails on with one of `malformed`
    (the SDKs build replies leniently, so a bad one surfaces as these) is a malformed response, and one it
    finds no answer in (None) an empty response, each a `ModelError`.

    Args:
        model: The model as the messages name it (`"OpenAI model 'gpt-4o-mini'"`).
        parse: Reads the reply; None when it holds no answer.
        malformed: The errors that mean the reply is malformed.
        empty: Why an empty reply is empty, for its message (asked only of a reply that is well formed).
    """
    try:
        response = parse()
    except malformed as exc:
        raise ModelError(f"{model} sent a malformed response: {type(exc).__name__}: {exc}") from exc
    if response is None:
        raise ModelError(f"{model} sent an empty response ({empty()})")
    return response
