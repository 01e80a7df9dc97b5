"""The reader contract and the helpers every reader shares (decoding text, naming ranges)."""

from __future__ import annotations

import codecs
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import ClassVar

from stratus._optional import installed
from stratus.exceptions import KnowledgeError, StratusError
from stratus.knowledge.documents import Document, approx_tokens
from stratus.knowledge.readers._magic import identify, is_binary

__all__ = [
    "Reader",
    "ReaderError",
    "UnsupportedContentError",
    "decode_text",
    "group_records",
    "join_blocks",
    "normalize_text",
    "span",
]


class ReaderError(StratusError):
    """A file could not be read: it is corrupt, empty, of an unsupported type, or needs a missing package.

    The message is meant for the person who uploaded the file, e.g. `guide.pdf is not a readable PDF: EOF
    marker not found`.
    """


class UnsupportedContentError(ReaderError, KnowledgeError):
    """No reader reads this file: its type is not supported (an image, an archive, a program...), or its bytes
    are not the format its name or MIME type claims. Raised before anything of it is stored (the API answers
    415); the message names the supported types."""


class Reader(ABC):
    """Turns the bytes of one file into `Document`s whose metadata says where each text came from.

    Reading is synchronous and CPU-bound: async callers run `read` in a thread.
    """

    id: ClassVar[str]
    """The key of this reader in `READERS` (e.g. `"pdf"`)."""
    name: ClassVar[str]
    """A display name (e.g. `"PdfReader"`)."""
    description: ClassVar[str]
    """One sentence on what the reader extracts."""
    extensions: ClassVar[tuple[str, ...]]
    """File name extensions this reader is chosen for, lower case with the dot (e.g. `".pdf"`)."""
    content_types: ClassVar[tuple[str, ...]]
    """MIME types this reader is chosen for when the extension says nothing."""
    chunkers: ClassVar[tuple[str, ...]] = ("recursive", "fixed", "semantic")
    """Keys of the chunkers that suit this reader's output, the recommended one first."""
    packages: ClassVar[tuple[str, ...]] = ()
    """Importable packages the reader needs beyond the standard library."""

    @abstractmethod
    def read(self, data: bytes, *, name: str) -> list[Document]:
        """Read one file.

        Args:
            data: The file's bytes.
            name: The file's name, used in error messages (and by some readers to pick a format).

        Returns:
            At least one `Document` with non-blank text.

        Raises:
            ReaderError: The content is empty, corrupt, or not of this reader's format.
        """

    def refuses(self, data: bytes) -> str | None:
        """Why this reader cannot read `data`, when its first bytes show it (`"it is a PNG image"`), else None.
        Cheap: magic numbers and a look at the first few kilobytes, never a full read, which may still fail on a
        corrupt file. This default is the text readers': any known binary format, or bytes that are not text,
        are refused."""
        kind = identify(data) or ("binary data" if is_binary(data) else None)
        return f"it is {kind}" if kind else None

    def missing_packages(self) -> list[str]:
        """The packages this reader needs that are not installed (without importing them)."""
        return [package for package in self.packages if not installed(package)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode_text(data: bytes, *, name: str, encoding: str | None = None) -> str:
    """Decode text (UTF-8 unless a byte order mark or `encoding` says otherwise), normalised.

    Args:
        data: The raw bytes.
        name: The file's name, for error messages.
        encoding: An encoding the file declared (e.g. an HTML `<meta charset>`), tried before UTF-8.

    Returns:
        The text, with NUL bytes removed and line endings as `\\n`.

    Raises:
        ReaderError: The bytes are not text in that encoding, or there is no text at all.
    """
    chosen = next((codec for bom, codec in _BOMS if data.startswith(bom)), None) or encoding or "utf-8"
    try:
        text = data.decode(chosen)
    except UnicodeDecodeError as exc:
        raise ReaderError(
            f"{name} is not {_encoding_label(chosen)} text: byte 0x{data[exc.start]:02x} at position {exc.start} "
            "cannot be decoded (save the file as UTF-8)"
        ) from None
    except LookupError:
        return decode_text(data, name=name)  # an unknown declared encoding: fall back to UTF-8
    text = normalize_text(text)
    if not text.strip():
        raise ReaderError(f"{name} is empty")
    return text


def normalize_text(text: str) -> str:
    """Remove NUL bytes and make every line ending `\\n`."""
    return text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")


def group_records(records: Iterable[tuple[int, str]], *, max_tokens: int, key: str) -> list[Document]:
    """Group consecutive rendered records (rows, items, lines) into documents of about `max_tokens`.

    Args:
        records: `(number, text)` pairs in order; blank texts are skipped.
        max_tokens: The size a group may reach before the next record starts a new one (a single larger
            record stays whole: the chunker splits it).
        key: The metadata key that gets the range of numbers a document holds (e.g. `"rows"`).

    Returns:
        Documents whose records are separated by a blank line.
    """
    documents: list[Document] = []
    group: list[str] = []
    first = last = size = 0
    for number, text in records:
        if not text.strip():
            continue
        tokens = approx_tokens(text) + 1
        if group and size + tokens > max_tokens:
            documents.append(Document("\n\n".join(group), {key: span(first, last)}))
            group, size = [], 0
        if not group:
            first = number
        group.append(text)
        size += tokens
        last = number
    if group:
        documents.append(Document("\n\n".join(group), {key: span(first, last)}))
    return documents


def join_blocks(blocks: Iterable[tuple[str, str]]) -> str:
    """Join rendered blocks of a document (`(kind, text)` pairs): list items (`"li"`) follow each other on
    consecutive lines, other blocks are separated by a blank line, as in Markdown."""
    parts: list[str] = []
    previous = ""
    for kind, text in blocks:
        if parts:
            parts.append("\n" if kind == previous == "li" else "\n\n")
        parts.append(text)
        previous = kind
    return "".join(parts)


def span(first: int, last: int) -> str:
    """A range of 1-based positions as users write it: `"3"` or `"3-7"`."""
    return str(first) if first == last else f"{first}-{last}"


def _encoding_label(codec: str) -> str:
    return "UTF-8" if codec.replace("-", "").lower().startswith("utf8") else codec
