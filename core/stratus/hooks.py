"""Hooks that see and may change or stop a run (agno's `pre_hooks`, `post_hooks` and `tool_hooks`).

A hook is a plain function, sync or async, or a guardrail (`stratus.guardrails`). It declares the arguments
it wants by name, from those its kind offers; it may declare `**kwargs` to get them all:

- pre-hook: `run_input` (a `RunInput`: change its `input_content` to change what the run answers),
  `run_context`, `agent` or `team`, `session_state`, `user_id`, `session_id`, `run_id`;
- post-hook: `run_output` (a `RunOutput`: change its `content` to change the answer), and the same others;
- tool hook: `function_name` (or `name`), `function_call` (or `function`, `func`: call it with the arguments
  to go on), `arguments` (or `args`), `run_context`. What it returns is the tool's result.

A pre-hook stops the run by raising `InputCheckError`, a post-hook by raising `OutputCheckError`; the run
then ends as an error. Any other exception a pre- or post-hook raises is logged and the run goes on (agno's
rule: a broken observer does not sink the run). A tool hook refuses a call by raising (the model reads the
error) or by returning without calling `function_call`. Sync hooks run in a worker thread.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

from stratus.exceptions import InputCheckError, OutputCheckError
from stratus.tools import Tool

if TYPE_CHECKING:
    from stratus._lifecycle import RunLifecycle
    from stratus.run import RunContext, RunInput, RunOutput

__all__ = [
    "Guardrail",
    "Hook",
    "call_hook",
    "check_error_data",
    "check_input",
    "check_output",
    "hooked_tools",
    "run_post_hooks",
    "run_pre_hooks",
    "run_tool_hooks",
]

logger = logging.getLogger("stratus.hooks")


@runtime_checkable
class Guardrail(Protocol):
    """A check given as a hook: its `async_check(run_input)` (or, as a post-hook, `check_output(run_output)`)
    runs in the hook's place."""

    async def async_check(self, run_input: RunInput) -> None: ...


Hook = Callable[..., Any] | Guardrail
"""A hook: a function (sync or async) taking the arguments it names, or a guardrail."""


def _accepted(fn: Callable[..., Any]) -> set[str] | None:
    """The names `fn` takes; None when it takes `**kwargs` (or its signature cannot be read): everything."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _is_async(fn: Callable[..., Any]) -> bool:
    # a function, one under decorators, or an object whose `__call__` is a coroutine function
    return inspect.iscoroutinefunction(inspect.unwrap(fn)) or inspect.iscoroutinefunction(type(fn).__call__)


async def call_hook(hook: Callable[..., Any], offered: Mapping[str, Any]) -> Any:
    """Call `hook` with those of `offered` it names (all, if it takes `**kwargs`); a sync one in a worker
    thread. An awaitable it returns is awaited."""
    names = _accepted(hook)
    kwargs = dict(offered) if names is None else {k: v for k, v in offered.items() if k in names}
    if _is_async(hook):
        result = await hook(**kwargs)
    else:
        result = await asyncio.to_thread(hook, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def _name(hook: Any) -> str:
    return str(getattr(hook, "__name__", None) or type(hook).__name__)


async def _run_all(hooks: Sequence[Hook], offered: dict[str, Any], *, stage: str, output: bool) -> None:
    for hook in hooks:
        fn: Callable[..., Any] | None
        if isinstance(hook, Guardrail):
            fn = getattr(hook, "async_check_output", None) if output else hook.async_check
            if fn is None:
                raise TypeError(f"guardrail {_name(hook)} checks inputs only: give it as a pre-hook")
        else:
            fn = hook
        try:
            await call_hook(fn, offered)
        except (InputCheckError, OutputCheckError):
            raise
        except Exception:
            logger.exception("%s %s failed; the run goes on", stage, _name(hook))


def _offered(context: RunContext, owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_context": context,
        "session_state": context.session_state,
        "user_id": context.user_id,
        "session_id": context.session_id,
        "run_id": context.run_id,
        **owner,
    }


async def run_pre_hooks(hooks: Sequence[Hook], run_input: RunInput, context: RunContext, owner: dict[str, Any]) -> None:
    """Run the pre-hooks in turn on `run_input` (which they may change); `owner` is `{"agent": ...}` or
    `{"team": ...}`. An `InputCheckError` (or `OutputCheckError`) one raises stops the run."""
    await _run_all(hooks, {"run_input": run_input, **_offered(context, owner)}, stage="pre-hook", output=False)


async def run_post_hooks(
    hooks: Sequence[Hook], run_output: RunOutput, context: RunContext, owner: dict[str, Any]
) -> None:
    """Run the post-hooks in turn on `run_output` (whose content they may change)."""
    await _run_all(hooks, {"run_output": run_output, **_offered(context, owner)}, stage="post-hook", output=True)


async def check_input(
    lifecycle: RunLifecycle, hooks: Sequence[Hook], context: RunContext, owner: dict[str, Any]
) -> str:
    """Run a run's pre-hooks on its input, within its deadline; the input the run goes on with. A new
    session is named after that input, not the one the hooks changed (a masked email stays masked)."""
    from stratus._nesting import SessionWriter

    run_input = lifecycle.output.input
    assert run_input is not None  # every new run has its input
    await lifecycle.bounded(run_pre_hooks(hooks, run_input, context, owner), "the pre-hooks")
    place = lifecycle.place
    if isinstance(place, SessionWriter) and place.record is None:
        place.session_name = run_input.input_content[:120].strip() or None
    return run_input.input_content


async def check_output(
    lifecycle: RunLifecycle, hooks: Sequence[Hook], context: RunContext, owner: dict[str, Any]
) -> None:
    """Run a run's post-hooks on its output, within its deadline, unless the run no longer runs (paused). An
    answer they change is changed in the run's last assistant message too, so what was masked is not stored
    (nor sent again as history) in the message."""
    from stratus.run import RunStatus

    out = lifecycle.output
    if out.status is not RunStatus.RUNNING or lifecycle.suspended:
        return
    before = _text_of(out.content)
    await lifecycle.bounded(run_post_hooks(hooks, out, context, owner), "the post-hooks")
    text = _text_of(out.content)
    if text == before:
        return
    for message in reversed(out.messages):
        if message.role == "assistant":
            message.content = text
            break


def _text_of(content: Any) -> str | None:
    """An answer as its message's text: itself, a pydantic object's JSON, or other values' JSON."""
    if content is None or isinstance(content, str):
        return content
    import json

    dump = getattr(content, "model_dump_json", None)
    return str(dump()) if callable(dump) else json.dumps(content, default=str)


def check_error_data(output: RunOutput, extra: dict[str, Any] | None) -> dict[str, Any]:
    """The `error_id` and `additional_data` of a failed run's `RunError`: a check error's trigger and data."""
    exc = output.exception
    if isinstance(exc, InputCheckError | OutputCheckError):
        return {"error_id": exc.error_id, "additional_data": extra if extra is not None else exc.additional_data}
    return {"additional_data": extra}


async def run_tool_hooks(
    hooks: Sequence[Callable[..., Any]],
    name: str,
    call: Callable[[dict[str, Any]], Awaitable[Any]],
    arguments: dict[str, Any],
    context: RunContext | None,
) -> Any:
    """Call the tool `name` through `hooks`, the first outermost: each gets a `function_call` that goes on
    to the next hook (the last one's to `call`, the tool itself). A sync hook runs in a worker thread and its
    `function_call` blocks there until the rest of the chain has answered."""
    loop = asyncio.get_running_loop()

    async def through(index: int, args: dict[str, Any]) -> Any:
        if index == len(hooks):
            return await call(args)
        hook = hooks[index]

        if _is_async(hook):

            async def next_async(**kwargs: Any) -> Any:
                return await through(index + 1, kwargs)

            following: Callable[..., Any] = next_async
        else:

            def next_sync(**kwargs: Any) -> Any:
                return asyncio.run_coroutine_threadsafe(through(index + 1, kwargs), loop).result()

            following = next_sync
        offered = {
            "function_name": name,
            "name": name,
            "function_call": following,
            "function": following,
            "func": following,
            "arguments": args,
            "args": args,
            "run_context": context,
        }
        return await call_hook(hook, offered)

    return await through(0, dict(arguments))


class _Hooked(Tool):
    """Mixed in before a tool's own class (`_hooked_class`): its calls go through tool hooks, which see the
    arguments as the tool validated them; what they pass on goes to the tool's own `execute`."""

    _tool_hooks: tuple[Callable[..., Any], ...] = ()

    async def execute(self, arguments: dict[str, Any], context: RunContext | None = None) -> Any:
        kwargs = self.validate_arguments(arguments)
        own = super().execute

        async def call(args: dict[str, Any]) -> Any:
            return await own(args, context)

        return await run_tool_hooks(self._tool_hooks, self.name, call, kwargs, context)


_HOOKED_CLASSES: dict[type[Tool], type[_Hooked]] = {}


def _hooked_class(cls: type[Tool]) -> type[_Hooked]:
    """`cls` with `_Hooked` first in its line: an MCP tool stays an MCP tool (its own checks and call)."""
    hooked = _HOOKED_CLASSES.get(cls)
    if hooked is None:
        hooked = _HOOKED_CLASSES[cls] = cast(type[_Hooked], type(f"Hooked{cls.__name__}", (_Hooked, cls), {}))
    return hooked


def hooked_tools(tools: dict[str, Tool], hooks: Sequence[Callable[..., Any]] | None) -> dict[str, Tool]:
    """`tools` with every call going through `hooks` (copies; a tool already hooked with them stays)."""
    chain = tuple(hooks or ())
    if not chain:
        return tools
    out: dict[str, Tool] = {}
    for name, found in tools.items():
        if isinstance(found, _Hooked) and found._tool_hooks == chain:  # pyright: ignore[reportPrivateUsage]
            out[name] = found
            continue
        base = type(found).__mro__[2] if isinstance(found, _Hooked) else type(found)  # re-hooked: its own class
        hooked = copy.copy(found)
        hooked.__class__ = _hooked_class(base)
        cast(_Hooked, hooked)._tool_hooks = chain  # pyright: ignore[reportPrivateUsage]
        out[name] = hooked
    return out
