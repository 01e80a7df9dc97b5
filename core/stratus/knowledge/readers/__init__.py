"""Readers turn an uploaded file into `Document`s: text plus metadata saying where it came from (`page`,
`rows`, `title`...). Pick one with `reader_for(name, content_type)`; `READERS` lists them by id.

Only PDF needs a package beyond the standard library (pypdf, the `knowledge` extra), imported when a PDF is
first read.
"""

from __future__ import annotations

import os

from stratus.knowledge.readers._base import Reader, ReaderError
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
    "reader_for",
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
        ReaderError: Neither the extension nor the MIME type is supported; the message lists what is.
    """
    extension = os.path.splitext(name)[1].lower()
    mime = (content_type or "").split(";")[0].strip().lower()
    for reader in READERS.values():
        if extension and extension in reader.extensions:
            return reader
    for reader in READERS.values():
        if mime and mime in reader.content_types:
            return reader
    supported = ", ".join(extension for reader in READERS.values() for extension in reader.extensions)
    kind = f"type {mime}" if mime and mime != "application/octet-stream" else "type"
    raise ReaderError(
        f"{os.path.basename(name) or 'the file'} is of an unsupported {kind}: supported files are {supported}"
    )
