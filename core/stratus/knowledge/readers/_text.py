"""Plain text and Markdown: the file's text as one document."""

from __future__ import annotations

import re

from stratus.knowledge.documents import Document
from stratus.knowledge.readers._base import Reader, decode_text

__all__ = ["MarkdownReader", "TextReader"]

_ATX_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)


class TextReader(Reader):
    """Plain UTF-8 text, as one document."""

    id = "text"
    name = "TextReader"
    description = "Reads plain UTF-8 text files as they are."
    extensions = (".txt", ".text", ".log")
    content_types = ("text/plain",)

    def read(self, data: bytes, *, name: str) -> list[Document]:
        """Read the whole file as one document with no metadata of its own.

        Raises:
            ReaderError: The file is empty or not UTF-8.
        """
        return [Document(decode_text(data, name=name).strip("\n"))]


class MarkdownReader(Reader):
    """Markdown, as one document: the markdown chunker then splits it at its headings."""

    id = "markdown"
    name = "MarkdownReader"
    description = "Reads Markdown files; the markdown chunker keeps each chunk's heading path as its section."
    extensions = (".md", ".markdown", ".mdown", ".mkd")
    content_types = ("text/markdown", "text/x-markdown")
    chunkers = ("markdown", "recursive", "fixed", "semantic")

    def read(self, data: bytes, *, name: str) -> list[Document]:
        """Read the whole file as one document; its first `# heading` is its `title`.

        Raises:
            ReaderError: The file is empty or not UTF-8.
        """
        text = decode_text(data, name=name).strip("\n")
        title = _first_h1(text)
        return [Document(text, {"title": title} if title else {})]


def _first_h1(text: str) -> str | None:
    in_fence = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence and (match := _ATX_H1.match(line)):
            return match.group(1).strip()
    return None
