"""A BERT sentence encoder in numpy: the forward pass of a sentence-transformers folder (Transformer, Pooling,
Normalize) without torch, for LocalEmbedder.

The folder holds `config.json` (the BERT shape), `tokenizer.json` (HF tokenizers), `model.safetensors`,
`sentence_bert_config.json` (the window) and a pooling configuration (`1_Pooling/config.json`). Everything runs in
float32, the dtype the weights are stored in, a sub-batch of texts of similar length at a time: BLAS threads the
large matrix products, and a few worker threads share attention (text by text) and the activation function.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file  # pyright: ignore[reportUnknownVariableType]
from tokenizers import Tokenizer

from stratus.exceptions import EmbedderError

__all__ = ["BertSentenceEncoder", "gelu"]

Floats = NDArray[np.float32]

_TOKENS_PER_PASS = 4096  # word pieces (padding included) per forward pass: about 50 MB of activations at most
# Attention multiplies blocks of at most this many query rows: BLAS runs a product that small on one thread, while
# it splits a whole (width x width) product per head across threads, a hand-off that costs more than the product.
_QUERY_BLOCK = 32
_MASKED = np.float32(np.finfo(np.float32).min)  # added to the scores of padding, as transformers does

# erf by Abramowitz and Stegun 7.1.26 (max abs error 1.5e-7, the resolution of float32 near 1): numpy has no erf.
_AS_P = np.float32(0.3275911 / math.sqrt(2.0))  # p of 7.1.26, with BERT's x / sqrt(2) folded in
_AS_A = tuple(np.float32(a / 2) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))
_BLOCK_FLOATS = 65536  # elementwise work runs on blocks of rows this large, so its temporaries stay in the cache


def gelu(x: Floats) -> Floats:
    """BERT's exact "gelu", x * (1 + erf(x / sqrt(2))) / 2, in place."""
    # With q = 1 - erf(|x| / sqrt(2)) = poly(t) * exp(-x^2 / 2) by 7.1.26, gelu(x) = max(x, 0) - |x| * q / 2
    # for either sign: no sign() and no cancellation for large |x|. The 1/2 is folded into the coefficients.
    magnitude = np.abs(x)
    t = magnitude * _AS_P
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    q = t * _AS_A[0]
    for a in _AS_A[1:]:
        q += a
        q *= t
    np.multiply(x, x, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    q *= t
    q *= magnitude
    np.maximum(x, np.float32(0.0), out=x)
    x -= q
    return x


def _layer_norm(x: Floats, weight: Floats, bias: Floats, eps: np.float32) -> Floats:
    """LayerNorm over the last axis (biased variance, as torch), in place."""
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.square(x).mean(axis=-1, keepdims=True)
    x /= np.sqrt(variance + eps)
    x *= weight
    x += bias
    return x


@dataclass(frozen=True)
class _Layer:
    """One encoder layer's weights, transposed to multiply activations on the right (`x @ w`)."""

    qkv: Floats  # query, key and value stacked: (hidden, 3 * hidden), the query scaled by 1 / sqrt(head size)
    qkv_bias: Floats
    attention_out: Floats
    attention_out_bias: Floats
    attention_norm: Floats
    attention_norm_bias: Floats
    intermediate: Floats
    intermediate_bias: Floats
    output: Floats
    output_bias: Floats
    output_norm: Floats
    output_norm_bias: Floats


class BertSentenceEncoder:
    """A BERT encoder with its tokenizer and pooling, loaded from a sentence-transformers folder.

    `encode` turns texts into unit-length float32 vectors; calls are serialised, as each uses every core.
    """

    def __init__(self, folder: Path) -> None:
        config = _read_json(folder / "config.json")
        if config.get("model_type", "bert") != "bert" or config.get("hidden_act", "gelu") != "gelu":
            raise EmbedderError(f"{folder}: only BERT models with the gelu activation run in numpy")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise EmbedderError(f"{folder}: only absolute position embeddings are supported")
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = np.float32(config.get("layer_norm_eps", 1e-12))
        sentence_config = _read_json(folder / "sentence_bert_config.json", missing_ok=True)
        self.max_tokens = min(
            int(sentence_config.get("max_seq_length", 256)), int(config.get("max_position_embeddings", 512))
        )
        self.lowercase = bool(sentence_config.get("do_lower_case", False))
        self.pooling = _pooling_mode(folder)

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # the file truncates and pads to 128; the model reads max_tokens (special tokens included, as in
        # transformers), and each sub-batch is padded to its own longest text
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_tokens)  # pyright: ignore[reportUnknownMemberType]

        weights = {
            name.removeprefix("bert."): array for name, array in load_file(str(folder / "model.safetensors")).items()
        }
        self._words = _weight(weights, "embeddings.word_embeddings.weight")
        self._positions = _weight(weights, "embeddings.position_embeddings.weight")
        self._token_types = _weight(weights, "embeddings.token_type_embeddings.weight")
        self._norm = _weight(weights, "embeddings.LayerNorm.weight")
        self._norm_bias = _weight(weights, "embeddings.LayerNorm.bias")
        self._layers = [
            self._load_layer(weights, f"encoder.layer.{n}.") for n in range(int(config["num_hidden_layers"]))
        ]
        self._lock = threading.Lock()
        # numpy runs elementwise work, and BLAS attention's small products, on one core: the workers spread them
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self._workers = min(8, cores)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_pid = 0

    def _run(self, f: Callable[[int], object], n: int) -> None:
        """f(0) ... f(n - 1), split between the workers in contiguous runs (numpy releases the GIL)."""
        if self._workers < 2 or n < 2:
            for i in range(n):
                f(i)
            return
        if self._executor is None or self._executor_pid != os.getpid():  # a forked process has no worker threads
            self._executor = ThreadPoolExecutor(self._workers, "stratus-embedder")
            self._executor_pid = os.getpid()
        per_worker = -(-n // self._workers)

        def part(w: int) -> None:
            for i in range(w * per_worker, min(n, (w + 1) * per_worker)):
                f(i)

        list(self._executor.map(part, range(-(-n // per_worker))))

    def _blockwise(self, f: Callable[[Floats], object], x: Floats) -> None:
        """f in place on cache-sized blocks of the rows of x, on the workers."""
        rows = max(1, _BLOCK_FLOATS // x.shape[-1])
        self._run(lambda n: f(x[n * rows : (n + 1) * rows]), -(-len(x) // rows))

    def _load_layer(self, weights: dict[str, NDArray[Any]], prefix: str) -> _Layer:
        def w(name: str) -> Floats:
            return _weight(weights, prefix + name)

        scale = np.float32(1.0 / math.sqrt(self.hidden // self.heads))
        return _Layer(
            qkv=np.ascontiguousarray(
                np.concatenate(
                    [
                        w("attention.self.query.weight") * scale,
                        w("attention.self.key.weight"),
                        w("attention.self.value.weight"),
                    ]
                ).T
            ),
            qkv_bias=np.concatenate(
                [w("attention.self.query.bias") * scale, w("attention.self.key.bias"), w("attention.self.value.bias")]
            ),
            attention_out=np.ascontiguousarray(w("attention.output.dense.weight").T),
            attention_out_bias=w("attention.output.dense.bias"),
            attention_norm=w("attention.output.LayerNorm.weight"),
            attention_norm_bias=w("attention.output.LayerNorm.bias"),
            intermediate=np.ascontiguousarray(w("intermediate.dense.weight").T),
            intermediate_bias=w("intermediate.dense.bias"),
            output=np.ascontiguousarray(w("output.dense.weight").T),
            output_bias=w("output.dense.bias"),
            output_norm=w("output.LayerNorm.weight"),
            output_norm_bias=w("output.LayerNorm.bias"),
        )

    @property
    def dimensions(self) -> int:
        """The length of the vectors `encode` makes."""
        return self.hidden

    def encode(self, texts: Sequence[str]) -> Floats:
        """The unit-length vectors of `texts`, in order: one row each."""
        if not texts:
            return np.zeros((0, self.hidden), dtype=np.float32)
        vectors = np.empty((len(texts), self.hidden), dtype=np.float32)
        with self._lock:
            encodings = self.tokenizer.encode_batch([self._prepare(text) for text in texts])
            lengths = [len(encoding.ids) for encoding in encodings]
            order = sorted(range(len(texts)), key=lambda i: lengths[i], reverse=True)  # similar lengths pad little
            start = 0
            while start < len(order):
                width = _padded_width(lengths[order[start]])
                count = max(1, _TOKENS_PER_PASS // width)
                group = order[start : start + count]
                ids = np.zeros((len(group), width), dtype=np.int64)
                types = np.zeros((len(group), width), dtype=np.int64)
                mask = np.zeros((len(group), width), dtype=np.bool_)
                for row, index in enumerate(group):
                    encoding = encodings[index]
                    ids[row, : lengths[index]] = encoding.ids
                    types[row, : lengths[index]] = encoding.type_ids
                    mask[row, : lengths[index]] = True
                vectors[group] = self._forward(ids, types, mask)
                start += count
        return vectors

    def _prepare(self, text: str) -> str:
        text = text.strip()  # as sentence-transformers does before tokenizing
        return text.lower() if self.lowercase else text

    def _forward(self, ids: NDArray[np.int64], types: NDArray[np.int64], mask: NDArray[np.bool_]) -> Floats:
        batch, width = ids.shape
        x = self._words[ids]
        x += self._positions[:width]
        x += self._token_types[types]
        x = _layer_norm(x.reshape(batch * width, self.hidden), self._norm, self._norm_bias, self.eps)
        masked = np.where(mask, np.float32(0.0), _MASKED).astype(np.float32)
        for layer in self._layers:
            x = self._layer(x, layer, masked, batch, width)
        return self._pooled(x.reshape(batch, width, self.hidden), mask)

    def _layer(self, x: Floats, layer: _Layer, masked: Floats, batch: int, width: int) -> Floats:
        qkv = x @ layer.qkv
        qkv += layer.qkv_bias
        context = self._attention(qkv.reshape(batch, width, 3, self.heads, self.hidden // self.heads), masked)
        attended = context.reshape(batch * width, self.hidden) @ layer.attention_out
        attended += layer.attention_out_bias
        attended += x
        attended = _layer_norm(attended, layer.attention_norm, layer.attention_norm_bias, self.eps)
        inner: Floats = attended @ layer.intermediate

        def activate(rows: Floats) -> None:
            rows += layer.intermediate_bias
            gelu(rows)

        self._blockwise(activate, inner)
        out: Floats = inner @ layer.output
        out += layer.output_bias
        out += attended
        return _layer_norm(out, layer.output_norm, layer.output_norm_bias, self.eps)

    def _attention(self, qkv: Floats, masked: Floats) -> Floats:
        """Multi-head self-attention, one text at a time so its scores stay in the CPU's cache.

        qkv is (batch, width, 3, heads, head size), the query already scaled; masked (batch, width) holds 0 for
        a word piece and a huge negative for padding. Returns the context, (batch, width, heads, head size).
        """
        batch, width, _, heads, head = qkv.shape
        blocks = -(-width // _QUERY_BLOCK)
        context = np.empty((batch, width, heads, head), dtype=np.float32)

        def attend(i: int) -> None:
            queries = np.ascontiguousarray(qkv[i, :, 0].transpose(1, 0, 2)).reshape(heads, blocks, -1, head)
            keys = np.ascontiguousarray(qkv[i, :, 1].transpose(1, 2, 0))[:, None]
            values = np.ascontiguousarray(qkv[i, :, 2].transpose(1, 0, 2))[:, None]
            scores = queries @ keys  # (heads, blocks, rows, width)
            scores += masked[i]
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            weighted = scores @ values
            weighted /= scores.sum(axis=-1, keepdims=True)  # the softmax's division, on the smaller product
            context[i] = weighted.reshape(heads, width, head).transpose(1, 0, 2)

        self._run(attend, batch)
        return context

    def _pooled(self, tokens: Floats, mask: NDArray[np.bool_]) -> Floats:
        if self.pooling == "cls":
            pooled = tokens[:, 0, :]
        else:
            weights = mask.astype(np.float32)
            pooled = np.einsum("bwh,bw->bh", tokens, weights)
            pooled /= np.maximum(weights.sum(axis=1, keepdims=True), np.float32(1e-9))
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


def _padded_width(longest: int) -> int:
    """The width of a sub-batch whose longest text has `longest` word pieces: a multiple of its number of query
    blocks (at most 7 word pieces of padding more), so the queries split into equal blocks."""
    blocks = max(1, -(-longest // _QUERY_BLOCK))
    return max(1, -(-longest // blocks) * blocks)


def _read_json(path: Path, *, missing_ok: bool = False) -> dict[str, Any]:
    try:
        value: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise
    if not isinstance(value, dict):
        raise EmbedderError(f"{path}: expected a JSON object")
    return value  # pyright: ignore[reportUnknownVariableType]


def _pooling_mode(folder: Path) -> str:
    """The pooling, "mean" or "cls", of the Pooling module that modules.json names (1_Pooling here)."""
    pooling_dir = folder / "1_Pooling"
    modules_file = folder / "modules.json"
    if modules_file.exists():
        modules: Any = json.loads(modules_file.read_text(encoding="utf-8"))
        for module in modules:
            if str(module.get("type", "")).endswith(".Pooling"):
                pooling_dir = folder / str(module.get("path", ""))
    config = _read_json(pooling_dir / "config.json", missing_ok=True)
    if config.get("pooling_mode_cls_token"):
        mode = "cls"
    elif config.get("pooling_mode_mean_tokens", True):
        mode = "mean"
    else:
        raise EmbedderError(f"{pooling_dir}: only mean and CLS pooling are supported")
    return mode


def _weight(weights: dict[str, NDArray[Any]], name: str) -> Floats:
    try:
        return np.ascontiguousarray(weights[name], dtype=np.float32)
    except KeyError:
        raise EmbedderError(f"model.safetensors has no {name!r}: not a BERT model") from None
