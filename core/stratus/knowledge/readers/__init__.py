"""Readers turn an uploaded file into `Document`s: text plus metadata saying where it came from (`page`,
`rows`, `title`...). Pick one with `reader_for(name, content_type)`; `READERS` lists them by id.

`reader_for_content(data, name=..., content_type=...)` also checks the bytes agree (magic numbers, and text
that is text): what no reader can read is refused with `UnsupportedContentError` before anything is stored.

Only PDF needs a package beyond the standard library (pypdf, the `knowledge` extra), imported when a PDF is
first read.
"""

from __future__ import annotations

import os

from stratus.knowledge.readers._base import Reader, ReaderError, UnsupportedContentError
from stratus.knowledge.readers._csv import CsvReader
from stratus.knowledge.readers._docx import DocxReader
from stratus.knowledge.readers._html import HtmlReader
from stratus.knowledge.readers._json import JsonReader
from stratus.knowledge.readers._pdf import PdfReader
from stratus.knowledge.readers._text import MarkdownReader, TextReader

__all__ = [
    "READERS",
    "CsvReader",
    "DocxReader",
    "HtmlReader",
    "JsonReader",
    "MarkdownReader",
    "PdfReader",
    "Reader",
    "ReaderError",
    "TextReader",
    "UnsupportedContentError",
    "reader_for",
    "reader_for_content",
    "supported_extensions",
]

READERS: dict[str, Reader] = {
    reader.id: reader
    for reader in (
        PdfReader(),
        DocxReader(),
        CsvReader(),
        JsonReader(),
        HtmlReader(),
        MarkdownReader(),
        TextReader(),
    )
}
"""Every reader by id (`"pdf"`, `"docx"`, `"csv"`, `"json"`, `"html"`, `"markdown"`, `"text"`)."""


def reader_for(name: str, content_type: str | None = None) -> Reader:
    """The reader for a file, chosen by its extension, else by its MIME type.

    Args:
        name: The file's name (or path); its extension is compared case-insensitively.
        content_type: The MIME type sent with the file, if any (parameters such as `; charset=` ignored).

    Returns:
        The shared reader instance from `READERS`.

    Raises:
        UnsupportedContentError: Neither the extension nor the MIME type is supported; the message lists what is.
    """
    extension, mime = _extension(name), _mime(content_type)
    for reader in READERS.values():
        if extension and extension in reader.extensions:
            return reader
    for reader in READERS.values():
        if mime and mime in reader.content_types:
            return reader
    kind = f"type {mime}" if mime and mime != "application/octet-stream" else "type"
    raise UnsupportedContentError(
        f"{os.path.basename(name) or 'the file'} is of an unsupported {kind}: supported files are "
        f"{supported_extensions()}"
    )


def reader_for_content(data: bytes, *, name: str, content_type: str | None = None) -> Reader:
    """The reader for a file, as `reader_for` chooses it, once the file's first bytes show that reader can read
    them: an image, an archive, a program or binary data named `.txt` or `.md`, a `.pdf` without a PDF header or
    a `.docx` that is not a Word document are refused, as the reader would fail on them. A file of the right
    format may still fail to be read (a corrupt or truncated one): that is the reader's to say.

    Args:
        data: The file's bytes.
        name: The file's name (or path).
        content_type: The MIME type sent with the file, if any.

    Raises:
        UnsupportedContentError: No reader can read the file; the message says what it is and lists the
            supported types.
    """
    reader = reader_for(name, content_type)
    reason = reader.refuses(data)
    if reason is not None:
        extension = _extension(name)
        claimed = f"a {extension} file" if extension in reader.extensions else _mime(content_type)
        raise UnsupportedContentError(
            f"{os.path.basename(name) or 'the file'} is not {claimed}: {reason}; supported files are "
            f"{supported_extensions()}"
        )
    return reader


def supported_extensions() -> str:
    """The extensions the readers read, for messages: `.pdf, .docx, .csv, ...`."""
    return ", ".join(extension for reader in READERS.values() for extension in reader.extensions)


def _extension(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()
