"""Embedders: OpenAI (and compatible endpoints), Amazon Titan v2 on Bedrock, and all-MiniLM-L6-v2 in process.

`default_embedder()` picks one from `STRATUS_EMBEDDER` (`openai[:model]`, `bedrock[:model]`, `local`), else
OpenAI when an OpenAI key is configured, else the local model.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from stratus._optional import load_lazily
from stratus.exceptions import ConfigError
from stratus.knowledge.embedders.base import Embedder, EmbedderError
from stratus.secrets import get_secret

if TYPE_CHECKING:
    from stratus.knowledge.embedders.bedrock import BedrockEmbedder
    from stratus.knowledge.embedders.local import LocalEmbedder
    from stratus.knowledge.embedders.openai import OpenAIEmbedder

__all__ = ["BedrockEmbedder", "Embedder", "EmbedderError", "LocalEmbedder", "OpenAIEmbedder", "default_embedder"]

STRATUS_EMBEDDER = "STRATUS_EMBEDDER"


def default_embedder() -> Embedder:
    """The embedder the environment asks for (see the module's docstring)."""
    spec = (os.environ.get(STRATUS_EMBEDDER) or "").strip()
    if not spec:
        spec = "openai" if get_secret("OPENAI_API_KEY") else "local"
    provider, _, model = spec.partition(":")
    provider = provider.lower()
    if provider == "openai":
        from stratus.knowledge.embedders.openai import OpenAIEmbedder

        return OpenAIEmbedder(model) if model else OpenAIEmbedder()
    if provider == "bedrock":
        from stratus.knowledge.embedders.bedrock import BedrockEmbedder

        return BedrockEmbedder(model) if model else BedrockEmbedder()
    if provider == "local":
        from stratus.knowledge.embedders.local import LocalEmbedder

        return LocalEmbedder(model or None)
    raise ConfigError(f"{STRATUS_EMBEDDER}={spec!r}: use openai[:model], bedrock[:model] or local")


_LAZY = {
    "OpenAIEmbedder": "stratus.knowledge.embedders.openai",
    "BedrockEmbedder": "stratus.knowledge.embedders.bedrock",
    "LocalEmbedder": "stratus.knowledge.embedders.local",
}


def __getattr__(name: str) -> Any:
    return load_lazily(__name__, _LAZY, name)
