"""Chunkers cut `Document`s into `ChunkText`s small enough to embed and to show a model.

Every chunker keeps each document's metadata on its chunks and adds `chunk`, the chunk's index within the
content (all the documents of one `chunk` call). No chunk is blank, and none is larger than `size_tokens`
as `approx_tokens` counts them: a single word longer than that is cut into pieces. Chunks are stripped of
surrounding whitespace; otherwise each is a verbatim slice of its document, so consecutive chunks of a
document cover it (overlapping by up to `overlap_tokens`, a tenth of the size unless set, where the chunker
overlaps).

| key         | chunker            | cuts at                                                         |
|-------------|--------------------|-----------------------------------------------------------------|
| `fixed`     | `FixedSizeChunker` | any whitespace, into windows of `size_tokens`                   |
| `recursive` | `RecursiveChunker` | paragraphs, then lines, sentences, words (the default)          |
| `markdown`  | `MarkdownChunker`  | headings (`section` metadata), never inside a code fence        |
| `semantic`  | `SemanticChunker`  | sentences where the topic changes, by embedding them            |
"""

from __future__ import annotations

import itertools
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

from stratus.exceptions import ConfigError
from stratus.knowledge.documents import ChunkText, Document, approx_tokens
from stratus.limits import MAX_CHUNK_SIZE

if TYPE_CHECKING:
    from stratus.knowledge.embedders.base import Embedder

__all__ = [
    "CHUNKERS",
    "DEFAULT_CHUNKER",
    "DEFAULT_SIZE_TOKENS",
    "RECURSIVE_SEPARATORS",
    "Chunker",
    "FixedSizeChunker",
    "MarkdownChunker",
    "RecursiveChunker",
    "SemanticChunker",
    "chunker_from_name",
]

DEFAULT_SIZE_TOKENS: Final = 1000
"""The default chunk size: about a page of text, 4,000 characters."""
DEFAULT_CHUNKER: Final = "recursive"
RECURSIVE_SEPARATORS: Final = ("\n\n", "\n", ". ", " ", "")
"""Where `RecursiveChunker` cuts, coarsest first; `""` cuts anywhere (a word longer than a chunk)."""

_Piece = tuple[str, dict[str, Any]]
"""A chunk's text and the metadata it adds to its document's."""


class Chunker(ABC):
    """Cuts documents into chunks of at most `size_tokens` (see the module's docstring for the guarantees)."""

    key: ClassVar[str]
    """The key of this chunker in `CHUNKERS` (e.g. `"recursive"`)."""
    name: ClassVar[str]
    """A display name (e.g. `"RecursiveChunker"`)."""
    description: ClassVar[str]
    """One sentence on how it cuts."""

    def __init__(self, *, size_tokens: int, overlap_tokens: int = 0) -> None:
        """Check and keep the sizes.

        Args:
            size_tokens: The largest chunk, in `approx_tokens`.
            overlap_tokens: How much of the end of a chunk the next one repeats.

        Raises:
            ConfigError: `size_tokens` is below 1 or above `MAX_CHUNK_SIZE`, or the overlap is negative or
                not below the size.
        """
        if size_tokens < 1:
            raise ConfigError(f"{type(self).__name__} size_tokens must be at least 1, not {size_tokens}")
        if size_tokens > MAX_CHUNK_SIZE:  # larger is no passage to embed, and would build huge strings
            raise ConfigError(f"{type(self).__name__} size_tokens must be at most {MAX_CHUNK_SIZE}, not {size_tokens}")
        if not 0 <= overlap_tokens < size_tokens:
            raise ConfigError(
                f"{type(self).__name__} overlap_tokens must be at least 0 and less than size_tokens "
                f"({size_tokens}), not {overlap_tokens}"
            )
        self.size_tokens = size_tokens
        self.overlap_tokens = overlap_tokens
        self._limit = _char_budget(size_tokens)
        self._overlap = _char_budget(overlap_tokens) if overlap_tokens else 0

    async def chunk(self, documents: Sequence[Document]) -> list[ChunkText]:
        """Cut documents into chunks, in order.

        Args:
            documents: The documents of one piece of content (e.g. the pages of a PDF).

        Returns:
            The chunks, each with its document's metadata, what the chunker adds (e.g. `section`), and
            `chunk`: its index among all the chunks returned.
        """
        chunks: list[ChunkText] = []
        for document, pieces in zip(documents, await self._split_all(documents), strict=True):
            for text, extra in pieces:
                text = text.strip()
                if text:
                    chunks.append(ChunkText(text, {**document.metadata, **extra, "chunk": len(chunks)}))
        return chunks

    @abstractmethod
    async def _split_all(self, documents: Sequence[Document]) -> list[list[_Piece]]:
        """The pieces of each document, in order (blank pieces are dropped by `chunk`)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size_tokens={self.size_tokens}, overlap_tokens={self.overlap_tokens})"


class _DocumentChunker(Chunker):
    """A chunker that cuts each document on its own, without I/O, and overlaps its chunks."""

    def __init__(self, size_tokens: int = DEFAULT_SIZE_TOKENS, overlap_tokens: int | None = None) -> None:
        """Configure the sizes.

        Args:
            size_tokens: The largest chunk, in `approx_tokens`.
            overlap_tokens: How much of the end of a chunk the next one repeats (default: a tenth of the size).
        """
        overlap = size_tokens // 10 if overlap_tokens is None else overlap_tokens
        super().__init__(size_tokens=size_tokens, overlap_tokens=overlap)

    async def _split_all(self, documents: Sequence[Document]) -> list[list[_Piece]]:
        return [self._split(document.text) for document in documents]

    @abstractmethod
    def _split(self, text: str) -> list[_Piece]:
        """The pieces of one document's text."""


class FixedSizeChunker(_DocumentChunker):
    """Windows of `size_tokens`, each starting `overlap_tokens` before the previous one ends; cuts fall on
    whitespace, ignoring paragraphs and sentences. Predictable sizes, for text without structure."""

    key = "fixed"
    name = "FixedSizeChunker"
    description = "Cuts text into windows of a fixed size with an overlap, at word boundaries."

    def _split(self, text: str) -> list[_Piece]:
        words = [piece for word in _WORD.findall(text) for piece in _split_text(word, ("",), self._limit)]
        return [(chunk, {}) for chunk in _merge(words, self._limit, self._overlap, ())]


class RecursiveChunker(_DocumentChunker):
    """The default: packs whole paragraphs into chunks of up to `size_tokens`; a paragraph too long for one
    chunk is cut at lines, then sentences, then words (`separators`, coarsest first). Each chunk starts with
    up to `overlap_tokens` from the end of the previous one, cut at a sentence or word boundary."""

    key = "recursive"
    name = "RecursiveChunker"
    description = "Keeps paragraphs, then lines, sentences and words together, up to the chunk size."

    def __init__(
        self,
        size_tokens: int = DEFAULT_SIZE_TOKENS,
        overlap_tokens: int | None = None,
        separators: Sequence[str] = RECURSIVE_SEPARATORS,
    ) -> None:
        """Configure the sizes and where to cut.

        Args:
            size_tokens: The largest chunk, in `approx_tokens`.
            overlap_tokens: How much of the end of a chunk the next one repeats (default: a tenth of the size).
            separators: Where text may be cut, coarsest first; `""` (cut anywhere) is implied last.
        """
        super().__init__(size_tokens, overlap_tokens)
        if isinstance(separators, str) or not separators:
            raise ConfigError("RecursiveChunker separators must be a non-empty sequence of strings")
        self.separators = tuple(separators)

    def _split(self, text: str) -> list[_Piece]:
        atoms = _split_text(text, self.separators, self._limit)
        return [(chunk, {}) for chunk in _merge(atoms, self._limit, self._overlap, self.separators)]


class MarkdownChunker(_DocumentChunker):
    """One chunk per Markdown section (ATX `#` headings), with the heading path in metadata, e.g. `section:
    "Install > Linux"`. A section too long for one chunk is cut like `RecursiveChunker` would, except that a
    fenced code block is never cut unless it alone is larger than a chunk. A heading directly followed by a
    sub-heading joins its sub-section's chunk. Text before the first heading has no `section`. Only the
    chunks of a long section overlap (by `overlap_tokens`); sections themselves do not."""

    key = "markdown"
    name = "MarkdownChunker"
    description = "Cuts Markdown at its headings, keeping the heading path and whole code blocks."

    def _split(self, text: str) -> list[_Piece]:
        pieces: list[_Piece] = []
        for path, section in _sections(text):
            extra: dict[str, Any] = {"section": path} if path else {}
            if len(section) <= self._limit:
                pieces.append((section, extra))
                continue
            atoms: list[str] = []
            fenced: set[int] = set()
            for is_code, block in _blocks(section):
                if is_code and len(block) <= self._limit:
                    fenced.add(len(atoms))
                    atoms.append(block)
                else:
                    atoms.extend(_split_text(block, RECURSIVE_SEPARATORS, self._limit))
            pieces.extend(
                (chunk, extra) for chunk in _merge(atoms, self._limit, self._overlap, RECURSIVE_SEPARATORS, fenced)
            )
        return pieces


class SemanticChunker(Chunker):
    """Cuts where the topic changes: each sentence is embedded, and a chunk ends where the distance between
    consecutive sentences (1 - cosine similarity) is above the `threshold` percentile of that document's
    distances. A topic longer than `size_tokens` is still cut, at sentence boundaries. No overlap."""

    key = "semantic"
    name = "SemanticChunker"
    description = "Embeds sentences and cuts where consecutive sentences stop being similar (needs an embedder)."

    def __init__(self, embedder: Embedder, size_tokens: int = DEFAULT_SIZE_TOKENS, threshold: float = 95.0) -> None:
        """Configure the embedder and the sizes.

        Args:
            embedder: Embeds the sentences (all the documents' sentences in one `embed` call; `chunk` raises
                its `EmbedderError`s).
            size_tokens: The largest chunk, in `approx_tokens`.
            threshold: The percentile (0-100) of consecutive-sentence distances above which a chunk ends: 95
                cuts at the sharpest 5% of changes, lower values cut more often.
        """
        super().__init__(size_tokens=size_tokens)
        if not 0 <= threshold <= 100:
            raise ConfigError(f"SemanticChunker threshold is a percentile from 0 to 100, not {threshold}")
        self.embedder = embedder
        self.threshold = threshold

    async def _split_all(self, documents: Sequence[Document]) -> list[list[_Piece]]:
        sentences = [_sentences(document.text) for document in documents]
        # A document of one or two sentences has no breakpoint worth an embedding.
        to_embed = [sentence.strip() for group in sentences if len(group) > 2 for sentence in group]
        embeddings = await self.embedder.embed(to_embed) if to_embed else []
        if len(embeddings) != len(to_embed):
            from stratus.knowledge.embedders.base import EmbedderError

            raise EmbedderError(f"{self.embedder!r} returned {len(embeddings)} vectors for {len(to_embed)} sentences")
        vectors = iter(embeddings)
        pieces: list[list[_Piece]] = []
        for group in sentences:
            breaks: set[int] = set()
            if len(group) > 2:
                embedded = [next(vectors) for _ in group]
                distances = [1 - _cosine(a, b) for a, b in itertools.pairwise(embedded)]
                cutoff = _percentile(distances, self.threshold)
                breaks = {i + 1 for i, distance in enumerate(distances) if distance > cutoff}
            topics: list[list[str]] = [[]]
            for i, sentence in enumerate(group):
                if i in breaks:
                    topics.append([])
                topics[-1].extend(_split_text(sentence, (" ", ""), self._limit))
            pieces.append([(chunk, {}) for topic in topics for chunk in _merge(topic, self._limit, 0, ())])
        return pieces

    def __repr__(self) -> str:
        return f"SemanticChunker({self.embedder!r}, size_tokens={self.size_tokens}, threshold={self.threshold})"


CHUNKERS: dict[str, type[Chunker]] = {
    chunker.key: chunker for chunker in (FixedSizeChunker, RecursiveChunker, MarkdownChunker, SemanticChunker)
}
"""Every chunker class by key: `"fixed"`, `"recursive"` (the default), `"markdown"`, `"semantic"`."""


def chunker_from_name(
    key: str,
    *,
    size_tokens: int | None = None,
    overlap_tokens: int | None = None,
    embedder: Embedder | None = None,
) -> Chunker:
    """Build a chunker from its key, as an API request or a CLI option names it.

    Args:
        key: A key of `CHUNKERS` (case-insensitive).
        size_tokens: The largest chunk (default 1,000).
        overlap_tokens: The overlap (default a tenth of the size); ignored by the semantic chunker.
        embedder: Required by `"semantic"`, ignored by the others.

    Raises:
        ConfigError: The key is unknown, a size is invalid, or `"semantic"` has no embedder.
    """
    size = DEFAULT_SIZE_TOKENS if size_tokens is None else size_tokens
    match key.strip().lower():
        case "fixed":
            return FixedSizeChunker(size, overlap_tokens)
        case "recursive":
            return RecursiveChunker(size, overlap_tokens)
        case "markdown":
            return MarkdownChunker(size, overlap_tokens)
        case "semantic":
            if embedder is None:
                raise ConfigError("the semantic chunker needs an embedder to find where topics change")
            return SemanticChunker(embedder, size)
        case _:
            raise ConfigError(f"unknown chunker {key!r}: use one of {', '.join(CHUNKERS)}")


# Cutting and packing text. Sizes here are in characters: `_char_budget` converts the token sizes once.

_WORD = re.compile(r"\s+|\S+\s*")
_SENTENCE_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*\s+|\n\s*")  # closing quotes may follow the stop


def _char_budget(tokens: int) -> int:
    """The most characters a text may hold and still count as at most `tokens` by `approx_tokens`."""
    low, high = 0, 1
    while approx_tokens("x" * high) <= tokens:
        low, high = high, high * 2
    while high - low > 1:  # approx_tokens("x" * low) <= tokens < approx_tokens("x" * high)
        middle = (low + high) // 2
        low, high = (middle, high) if approx_tokens("x" * middle) <= tokens else (low, middle)
    return max(low, 1)


def _split_text(text: str, separators: Sequence[str], limit: int) -> list[str]:
    """Cut `text` into pieces of at most `limit` characters whose concatenation is `text`, at the coarsest
    separator that occurs (each piece keeps its separator at its end); `""`, or running out of separators,
    cuts every `limit` characters."""
    if len(text) <= limit:
        return [text] if text else []
    for i, separator in enumerate(separators):
        if not separator:
            break
        if separator in text:
            parts = text.split(separator)
            pieces: list[str] = []
            for part in [part + separator for part in parts[:-1]] + parts[-1:]:
                pieces.extend([part] if len(part) <= limit else _split_text(part, separators[i + 1 :], limit))
            return [piece for piece in pieces if piece]
    return [text[start : start + limit] for start in range(0, len(text), limit)]


def _merge(
    atoms: Sequence[str], limit: int, overlap: int, boundaries: Sequence[str], fenced: set[int] | None = None
) -> list[str]:
    """Pack consecutive atoms (each at most `limit` long) into chunks of at most `limit` characters.

    Each chunk after the first starts with up to `overlap` characters from the end of the previous one,
    beginning at one of `boundaries` (or any whitespace), unless the previous chunk ended with a `fenced`
    atom (a code block, whose tail would be a fragment without its fence).
    """
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    fresh = False  # current holds text the previous chunk does not
    last_fenced = False
    for index, atom in enumerate(atoms):
        # Whitespace never starts a chunk: past the limit, it is stripped off this one's end.
        if length + len(atom) > limit and atom.strip():
            if fresh:
                chunk = "".join(current)
                chunks.append(chunk)
                tail = "" if last_fenced else _tail(chunk, min(overlap, limit - len(atom)), boundaries)
                current, length, fresh = ([tail] if tail else []), len(tail), False
            if length + len(atom) > limit:
                current, length = [], 0
        current.append(atom)
        length += len(atom)
        if atom.strip():
            fresh = True
            last_fenced = fenced is not None and index in fenced
    if fresh:
        chunks.append("".join(current))
    return chunks


def _tail(text: str, budget: int, boundaries: Sequence[str]) -> str:
    """The end of `text` to repeat at the start of the next chunk: at most `budget` characters (and at most
    half of `text`), starting at the coarsest of `boundaries` that keeps at least half the budget, else at
    the first whitespace; empty rather than starting inside a word."""
    body = text.rstrip()
    trailing = text[len(body) :]
    budget = min(budget - len(trailing), len(body) // 2)
    if budget <= 0:
        return ""
    window = body[-budget:]
    for boundary in boundaries:
        if boundary.strip(" ") and (at := window.find(boundary)) >= 0:  # not "" or " ": those are below
            start = at + len(boundary)
            if len(window) - start >= budget // 2:
                return window[start:].lstrip() + trailing
    space = re.search(r"\s", window)
    return window[space.end() :].lstrip() + trailing if space else ""


_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")


def _is_fence_close(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3 and len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)
    )


def _sections(text: str) -> list[tuple[str, str]]:
    """Cut Markdown at its ATX headings (not inside code fences): `(heading path, text)` pairs, the text
    starting with its heading line. A heading-only section joins the sub-section that follows it."""
    sections: list[tuple[str, str, bool]] = []  # path, text, whether there is more than the heading
    stack: list[tuple[int, str]] = []
    path, fence, has_body = "", "", False
    lines: list[str] = []
    for line in text.splitlines(keepends=True):
        if fence:
            fence = "" if _is_fence_close(line, fence) else fence
        elif opening := _FENCE_OPEN.match(line):
            fence = opening.group(1)
        elif heading := _HEADING.match(line.rstrip("\n")):
            if lines:
                sections.append((path, "".join(lines), has_body))
            level = len(heading.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, (heading.group(2) or "").strip()))
            path = " > ".join(title for _, title in stack if title)
            lines, has_body = [line], False
            continue
        lines.append(line)
        has_body = has_body or bool(line.strip())
    if lines:
        sections.append((path, "".join(lines), has_body))

    merged: list[tuple[str, str]] = []
    pending = ""
    for i, (path, section, has_body) in enumerate(sections):
        following = sections[i + 1][0] if i + 1 < len(sections) else None
        if not has_body and path and following is not None and following.startswith(path + " > "):
            pending += section
            continue
        merged.append((path, pending + section))
        pending = ""
    return merged


def _blocks(section: str) -> list[tuple[bool, str]]:
    """Cut a Markdown section into `(is_code, text)` runs: fenced code blocks, and the text between them."""
    blocks: list[tuple[bool, str]] = []
    current: list[str] = []
    fence = ""
    for line in section.splitlines(keepends=True):
        if fence:
            current.append(line)
            if _is_fence_close(line, fence):
                blocks.append((True, "".join(current)))
                current, fence = [], ""
        elif opening := _FENCE_OPEN.match(line):
            if current:
                blocks.append((False, "".join(current)))
            current, fence = [line], opening.group(1)
        else:
            current.append(line)
    if current:
        blocks.append((bool(fence), "".join(current)))  # an unclosed fence runs to the end
    return blocks


def _sentences(text: str) -> list[str]:
    """Cut text after each sentence end and line break, keeping all the text; blank pieces dropped."""
    sentences: list[str] = []
    start = 0
    for end in _SENTENCE_END.finditer(text):
        sentences.append(text[start : end.end()])
        start = end.end()
    sentences.append(text[start:])
    return [sentence for sentence in sentences if sentence.strip()]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0


def _percentile(values: Sequence[float], percent: float) -> float:
    """The `percent` percentile of `values`, interpolating linearly between ranks (as numpy does)."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * percent / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
