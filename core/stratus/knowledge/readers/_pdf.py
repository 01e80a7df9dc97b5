"""PDF: one document per page that has text, with pypdf (the `knowledge` extra), imported on first use."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from stratus._optional import requires_extra
from stratus.knowledge.documents import Document
from stratus.knowledge.readers._base import Reader, ReaderError, normalize_text
from stratus.knowledge.readers._magic import identify

if TYPE_CHECKING:
    from pypdf import PdfReader as _PypdfReader

__all__ = ["PdfReader"]

_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


class PdfReader(Reader):
    """The text layer of a PDF, one document per page (`page` is 1-based). Scanned pages have no text layer
    and are skipped; a PDF without any text is an error (no OCR here)."""

    id = "pdf"
    name = "PdfReader"
    description = "Reads the text of PDF files, one document per page (needs pypdf: the `knowledge` extra)."
    extensions = (".pdf",)
    content_types = ("application/pdf", "application/x-pdf")
    packages = ("pypdf",)

    def refuses(self, data: bytes) -> str | None:
        """A PDF has its header (`%PDF-`) within its first kilobyte, as `read` requires."""
        if not data.strip() or b"%PDF-" in data[:1024]:
            return None  # empty: `read` says so
        kind = identify(data)
        return f"it is {kind}" if kind else "it does not start with a PDF header (%PDF-)"

    def read(self, data: bytes, *, name: str) -> list[Document]:
        """Read each page's text; metadata `page` (1-based) and `pages` (the page count).

        Raises:
            ReaderError: pypdf is not installed; the file is empty, corrupt, encrypted with a password, or has
                no extractable text (e.g. scanned images).
        """
        if not data.strip():
            raise ReaderError(f"{name} is empty")
        if b"%PDF-" not in data[:1024]:
            raise ReaderError(f"{name} is not a readable PDF: it does not start with a PDF header (%PDF-)")
        pdf = _open(data, name=name)
        try:
            pages = list(pdf.pages)
        except Exception as exc:  # pypdf raises many types on malformed files; the user needs the reason only
            raise ReaderError(f"{name} is not a readable PDF: {_reason(exc)}{_hint(data)}") from exc
        documents: list[Document] = []
        for number, page in enumerate(pages, start=1):
            try:
                raw = page.extract_text()
            except Exception as exc:
                raise ReaderError(f"{name} is not a readable PDF: page {number}: {_reason(exc)}{_hint(data)}") from exc
            text = _clean(raw)
            if text:
                documents.append(Document(text, {"page": number, "pages": len(pages)}))
        if not documents:
            raise ReaderError(
                f"{name} has no extractable text: it may be scanned images, which need OCR before upload"
                if pages
                else f"{name} is not a readable PDF: it has no pages"
            )
        return documents


def _open(data: bytes, *, name: str) -> _PypdfReader:
    with requires_extra(f"reading {name}", "knowledge", what="pypdf", error=ReaderError):
        from pypdf import PdfReader as PypdfReader
    try:
        pdf = PypdfReader(io.BytesIO(data))
        if pdf.is_encrypted and not pdf.decrypt(""):
            raise ReaderError(f"{name} is encrypted with a password: upload an unprotected copy")
    except ReaderError:
        raise
    except Exception as exc:
        raise ReaderError(f"{name} is not a readable PDF: {_reason(exc)}{_hint(data)}") from exc
    return pdf


def _clean(text: str) -> str:
    text = _TRAILING_SPACE.sub("\n", normalize_text(text))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _reason(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__


def _hint(data: bytes) -> str:
    return "" if b"%%EOF" in data[-1024:] else " (the file looks truncated: it has no %%EOF marker at its end)"
