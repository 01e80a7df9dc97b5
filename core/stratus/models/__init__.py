"""Model providers behind one contract (`Model`). Providers load their SDK only when first used.

A model can be named with a `"provider:model-id"` string where that is handier than an object:
`"openai:gpt-4o-mini"`, `"llama_cpp"` (the offline default model), `"llama_cpp:/path/to/model.gguf"`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stratus.exceptions import ConfigError
from stratus.models.base import Model, ModelDelta, ModelRequest, ModelResponse

if TYPE_CHECKING:
    from stratus.models.llama_cpp import LlamaCpp
    from stratus.models.openai import OpenAIChat

__all__ = ["LlamaCpp", "Model", "ModelDelta", "ModelRequest", "ModelResponse", "OpenAIChat", "infer_model"]

_PROVIDERS = ("openai", "llama_cpp")


def infer_model(spec: Model | str) -> Model:
    """Return `spec` if it is a model, else build the model a `"provider:model-id"` string names."""
    if isinstance(spec, Model):
        return spec
    provider, _, model_id = spec.partition(":")
    provider = provider.strip().lower().replace("-", "_")
    if provider == "openai":
        from stratus.models.openai import OpenAIChat

        return OpenAIChat(id=model_id) if model_id else OpenAIChat()
    if provider in ("llama_cpp", "llamacpp", "local"):
        from stratus.models.llama_cpp import LlamaCpp

        return LlamaCpp(model_path=model_id or None)
    raise ConfigError(f"unknown model provider {provider!r} in {spec!r}; known providers: {', '.join(_PROVIDERS)}")


def __getattr__(name: str) -> Any:
    # Providers import their SDKs lazily; `from stratus.models import OpenAIChat` costs nothing until used.
    if name == "OpenAIChat":
        from stratus.models.openai import OpenAIChat

        return OpenAIChat
    if name == "LlamaCpp":
        from stratus.models.llama_cpp import LlamaCpp

        return LlamaCpp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
