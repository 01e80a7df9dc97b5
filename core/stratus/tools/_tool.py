"""`Tool`: a typed Python function the model may call. pydantic builds its JSON schema from the signature and
the Google-style docstring, and validates the model's arguments before the call."""

from __future__ import annotations

import asyncio
import copy
import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, cast, overload

from stratus.exceptions import ToolDefinitionError, ToolError
from stratus.run import RunContext
from stratus.tools._docstring import parse_docstring

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["Tool", "ToolArgumentsError", "ToolDefinition", "tool"]


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """What a model is told about a tool: its name, what it does, and the JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


class ToolArgumentsError(ToolError):
    """The model's arguments did not match the tool's signature."""


class Tool:
    """A function the model can call.

    Build one with `@tool` or `Tool(fn)`; plain functions given to an agent are wrapped automatically.
    A parameter annotated `RunContext` receives the run's context and is hidden from the model, and so
    does one named `dependencies`, which receives the agent's dependencies resolved for the run. Sync
    functions run in a worker thread, so a slow one never blocks the event loop or the other tools.

    Human in the loop (AgentOS' flags): a call of a tool with `requires_confirmation` runs only once a person
    confirms it; with `requires_user_input` once a person gives its `user_input_fields` (hidden from the model;
    all its arguments when None); with `external_execution` never here: whoever continues the run sends its
    result. Such a call pauses the run, stored, until `/continue` resumes it.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = None,
        requires_confirmation: bool = False,
        requires_user_input: bool = False,
        user_input_fields: Sequence[str] | None = None,
        external_execution: bool = False,
    ) -> None:
        if not callable(function):
            raise ToolDefinitionError(f"a tool needs a callable, got {type(function).__name__}")
        if timeout is not None and timeout <= 0:
            raise ToolDefinitionError("timeout must be positive")
        fn_name = cast(str, getattr(function, "__name__", type(function).__name__))
        doc = parse_docstring(inspect.getdoc(function))
        self.function = function
        self.name = name or fn_name
        self.description = description if description is not None else doc.description
        self.timeout = timeout
        if user_input_fields and not requires_user_input:
            raise ToolDefinitionError(f"tool {self.name!r}: user_input_fields needs requires_user_input=True")
        self.requires_confirmation = requires_confirmation
        self.requires_user_input = requires_user_input
        self.user_input_fields = tuple(user_input_fields or ())
        self.external_execution = external_execution
        self._doc_params = doc.params
        self._is_async = inspect.iscoroutinefunction(function)
        self._instance: object | None = None
        self._args_model: type[BaseModel] | None = None
        self._parameters: dict[str, Any] | None = None
        self._context_param: str | None = None
        self._takes_dependencies = False
        self._renames: dict[str, str] = {}
        self.__doc__ = function.__doc__
        if not _valid_name(self.name):
            raise ToolDefinitionError(
                f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-' (the providers' rule)"
            )

    # --- construction -----------------------------------------------------------------------------------

    @classmethod
    def ensure(cls, value: Tool | Callable[..., Any]) -> Tool:
        """`value` if it already is a tool, else a tool wrapping the function."""
        return value if isinstance(value, Tool) else cls(value)

    def __get__(self, instance: object | None, owner: type | None = None) -> Tool:
        # `@tool` on a method: reading it from an instance gives a tool bound to that instance.
        if instance is None:
            return self
        self._model()  # build once on the class-level tool, so every bound copy shares the schema
        bound = copy.copy(self)
        bound._instance = instance
        return bound

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (handy in tests)."""
        if self._instance is not None:
            return self.function(self._instance, *args, **kwargs)
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r})"

    # --- schema -----------------------------------------------------------------------------------------

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the arguments (built on first use, then cached)."""
        if self._parameters is None:
            schema = _clean_schema(self._model().model_json_schema())
            hidden = set(self.user_input_fields)  # the person gives these, not the model
            if hidden:
                schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in hidden}
                if "required" in schema:
                    schema["required"] = [k for k in schema["required"] if k not in hidden]
            self._parameters = schema
        return self._parameters

    @property
    def pauses(self) -> bool:
        """Whether a call of this tool waits for a person (or an outside executor) before it counts."""
        return self.requires_confirmation or self.requires_user_input or self.external_execution

    def user_input_schema(self, arguments: dict[str, Any]) -> list[dict[str, Any]]:
        """AgentOS' `user_input_schema` of a call: each argument with its type's name, its description and the
        value the model gave (None, for `user_input_fields`, for the person to fill in)."""
        fields = self._model().model_fields
        names = tuple(fields)  # every argument, as AgentOS lists them: the model's filled in, the person's not
        out: list[dict[str, Any]] = []
        for name in names:
            info = fields.get(name)
            annotation = info.annotation if info is not None else str
            type_name = annotation.__name__ if isinstance(annotation, type) else str(annotation)
            description = info.description if info is not None else None
            out.append(
                {"name": name, "field_type": type_name, "description": description, "value": arguments.get(name)}
            )
        return out

    def definition(self) -> ToolDefinition:
        return ToolDefinition(name=self.name, description=self.description, parameters=self.parameters)

    def _model(self) -> type[BaseModel]:
        if self._args_model is None:
            self._args_model, self._context_param, self._renames = _build_args_model(
                self.function, self.name, self._doc_params
            )
            self._takes_dependencies = "dependencies" in inspect.signature(self.function).parameters
        return self._args_model

    # --- execution --------------------------------------------------------------------------------------

    def validate_arguments(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check the model's arguments against the signature; returns the keyword arguments to call with."""
        from pydantic import ValidationError

        model = self._model()
        try:
            validated = model.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolArgumentsError(f"invalid arguments for tool {self.name!r}: {problems}") from None
        renames = self._renames
        return {renames.get(k, k): v for k, v in validated}

    async def execute(self, arguments: dict[str, Any], context: RunContext | None = None) -> Any:
        """Validate `arguments`, call the function (sync ones in a thread) and return its result.

        Raises `ToolArgumentsError` for bad arguments, `ToolError` for a timeout, and whatever the
        function raises; the run loop turns each of these into an error message for the model.
        """
        kwargs = self.validate_arguments(arguments)
        if self._context_param is not None:
            kwargs[self._context_param] = context
        if self._takes_dependencies:
            kwargs["dependencies"] = context.dependencies if context is not None else {}
        fn = self.function
        if self._instance is not None:
            fn = functools.partial(fn, self._instance)
        if self._is_async:
            call = cast(typing.Awaitable[Any], fn(**kwargs))
        else:
            call = asyncio.to_thread(fn, **kwargs)
        if self.timeout is None:
            return await call
        try:
            return await asyncio.wait_for(call, self.timeout)
        except TimeoutError:
            raise ToolError(f"tool {self.name!r} timed out after {self.timeout:g}s") from None


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= 64 and all(c.isalnum() or c in "_-" for c in name) and name.isascii()


def _build_args_model(
    function: Callable[..., Any], tool_name: str, docs: dict[str, str]
) -> tuple[type[BaseModel], str | None, dict[str, str]]:
    from pydantic import BaseModel, ConfigDict, Field, create_model

    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as exc:
        raise ToolDefinitionError(f"cannot read the signature of tool {tool_name!r}: {exc}") from None
    try:
        hints = typing.get_type_hints(function, include_extras=True)
    except Exception as exc:
        raise ToolDefinitionError(f"cannot resolve the type hints of tool {tool_name!r}: {exc}") from None

    fields: dict[str, Any] = {}
    renames: dict[str, str] = {}
    context_param: str | None = None
    params = list(signature.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {tool_name!r}: *args and **kwargs cannot be described to a model")
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolDefinitionError(f"tool {tool_name!r}: positional-only parameters are not supported")
        annotation = hints.get(param.name, Any)
        if param.name == "dependencies":
            continue  # the agent's dependencies for the run (agno's name), given by `execute`
        if annotation is RunContext or annotation == RunContext | None:
            context_param = param.name
            continue
        field_name = param.name
        alias: str | None = None
        if field_name.startswith("_") or hasattr(BaseModel, field_name):
            # pydantic reserves these names; keep the model-facing name as an alias
            field_name, alias = f"p_{param.name.lstrip('_')}", param.name
            renames[field_name] = param.name
        default = ... if param.default is param.empty else param.default
        fields[field_name] = (annotation, Field(default, description=docs.get(param.name), alias=alias))

    try:
        model = create_model(
            f"{tool_name}_arguments",
            __config__=ConfigDict(extra="ignore", arbitrary_types_allowed=False),
            **fields,
        )
        model.model_json_schema()
    except Exception as exc:
        raise ToolDefinitionError(f"tool {tool_name!r} has a parameter pydantic cannot describe: {exc}") from None
    return model, context_param, renames


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's generated `title`s: they cost tokens and tell the model nothing the names do not."""

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            node = cast(dict[str, Any], node)
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "title" and isinstance(value, str):
                    continue
                if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
                    out[key] = {name: clean(sub) for name, sub in cast(dict[str, Any], value).items()}
                else:
                    out[key] = clean(value)
            return out
        if isinstance(node, list):
            return [clean(item) for item in cast(list[Any], node)]
        return node

    cleaned = cast(dict[str, Any], clean(schema))
    cleaned.setdefault("properties", {})
    cleaned["type"] = "object"
    return cleaned


class ToolOptions(TypedDict, total=False):
    """The options of `@tool(...)`: `Tool`'s keywords."""

    name: str | None
    description: str | None
    timeout: float | None
    requires_confirmation: bool
    requires_user_input: bool
    user_input_fields: Sequence[str] | None
    external_execution: bool


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(**options: Unpack[ToolOptions]) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None, /, **options: Unpack[ToolOptions]
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed function (sync or async) into a `Tool`.

    The name defaults to the function's, the description to its docstring's summary, and each argument's
    description to its entry under `Args:`. Use bare (`@tool`) or with options (`@tool(timeout=5)`,
    `@tool(requires_confirmation=True)`: see `Tool` for the human-in-the-loop flags).
    """
    if function is not None:
        return Tool(function, **options)

    def decorate(fn: Callable[..., Any]) -> Tool:
        return Tool(fn, **options)

    return decorate
