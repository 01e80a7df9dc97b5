"""Model providers behind one contract (`Model`). Providers load their SDK only when first used.

A model can be named with a `"provider:model-id"` string where that is handier than an object:
`"openai:gpt-4o-mini"`, `"bedrock:us.amazon.nova-lite-v1:0"` (Bedrock's Converse API; the default on AWS),
`"anthropic:claude-haiku-4-5"`, `"llama_cpp"` (the offline default model), `"llamacpp:qwen2.5-coder-1.5b"` or
`"llamacpp:smollm2-135m"` (a local model by its catalogue name), `"llama_cpp:/path/to/model.gguf"`.
`STRATUS_MODEL` names the model of agents and teams that name none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stratus._optional import load_lazily
from stratus.exceptions import ConfigError
from stratus.models.base import Model, ModelDelta, ModelRequest, ModelResponse

if TYPE_CHECKING:
    from stratus.models.anthropic import AnthropicChat
    from stratus.models.bedrock import BedrockChat
    from stratus.models.llama_cpp import LlamaCpp
    from stratus.models.openai import OpenAIChat

__all__ = [
    "AnthropicChat",
    "BedrockChat",
    "LlamaCpp",
    "Model",
    "ModelDelta",
    "ModelRequest",
    "ModelResponse",
    "OpenAIChat",
    "default_model",
    "infer_model",
    "requested_model",
]

_PROVIDERS = ("openai", "bedrock", "anthropic", "llama_cpp")

REQUEST_PROVIDERS = ("openai", "anthropic", "bedrock", "aws")
"""The providers a caller of the API may name: hosted ones only (a local model's id is a path on the server)."""

_LAZY = {
    "OpenAIChat": "stratus.models.openai",
    "BedrockChat": "stratus.models.bedrock",
    "AnthropicChat": "stratus.models.anthropic",
    "LlamaCpp": "stratus.models.llama_cpp",
}


def default_model() -> Model | None:
    """The model `STRATUS_MODEL` names (a `"provider:model-id"` string), if it is set."""
    import os

    from stratus.settings import STRATUS_MODEL

    spec = os.environ.get(STRATUS_MODEL, "").strip()
    return infer_model(spec) if spec else None


def infer_model(spec: Model | str) -> Model:
    """Return `spec` if it is a model, else build the model a `"provider:model-id"` string names."""
    if isinstance(spec, Model):
        return spec
    provider, _, model_id = spec.partition(":")
    provider = provider.strip().lower().replace("-", "_")
    if provider == "openai":
        from stratus.models.openai import OpenAIChat

        return OpenAIChat(id=model_id) if model_id else OpenAIChat()
    if provider in ("bedrock", "aws"):
        from stratus.models.bedrock import BedrockChat

        if not model_id:
            raise ConfigError(f"{spec!r}: name the Bedrock model, e.g. bedrock:us.amazon.nova-lite-v1:0")
        return BedrockChat(id=model_id)
    if provider == "anthropic":
        from stratus.models.anthropic import AnthropicChat

        return AnthropicChat(id=model_id) if model_id else AnthropicChat()
    if provider in ("llama_cpp", "llamacpp", "local"):
        from stratus.models.llama_cpp import LlamaCpp

        return LlamaCpp(model_path=model_id or None)
    raise ConfigError(f"unknown model provider {provider!r} in {spec!r}; known providers: {', '.join(_PROVIDERS)}")


def requested_model(provider: str, model_id: str) -> Model:
    """The model a caller names (an API request's provider and model id): one of `REQUEST_PROVIDERS` only, so
    no request can make the server load a file of its choosing as a local model. `ConfigError` otherwise."""
    provider, model_id = provider.strip().lower().replace("-", "_"), model_id.strip()
    if not provider or not model_id:
        raise ConfigError("name the model as a provider and a model id, e.g. 'openai:gpt-4o'")
    if provider not in REQUEST_PROVIDERS:
        raise ConfigError(f"model provider {provider!r}: a request may name {', '.join(REQUEST_PROVIDERS)}")
    return infer_model(f"{provider}:{model_id}")


def __getattr__(name: str) -> Any:
    # Providers import their SDKs lazily; `from stratus.models import OpenAIChat` costs nothing until used.
    return load_lazily(__name__, _LAZY, name)
