"""DOCX with the standard library: the body of `word/document.xml`, read from the zip with ElementTree."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from xml.etree import ElementTree

from stratus.knowledge.documents import Document
from stratus.knowledge.readers._base import Reader, ReaderError, join_blocks, normalize_text
from stratus.knowledge.readers._magic import DAMAGED_ZIP, identify

__all__ = ["DocxReader"]

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_MAX_XML_BYTES = 64 * 1024 * 1024  # far beyond any real document: refuses zip bombs
_HEADING_NAME = re.compile(r"heading\s*([1-9])", re.IGNORECASE)
_LIST_NAME = re.compile(r"list", re.IGNORECASE)
_INLINE_BREAKS = {f"{_W}tab": "\t", f"{_W}br": "\n", f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-"}


class DocxReader(Reader):
    """A Word document as one Markdown-like document: headings as `#` lines (so the markdown chunker can
    record each chunk's section), list paragraphs as `- ` items, tables as `| a | b |` rows under their
    header row. Metadata `title` comes from the document properties or its Title paragraph.

    Headers, footers, footnotes, comments and deleted tracked changes are left out.
    """

    id = "docx"
    name = "DocxReader"
    description = "Reads Word .docx files: paragraphs, headings, lists and tables, in order."
    extensions = (".docx",)
    content_types = ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",)
    chunkers = ("markdown", "recursive", "fixed", "semantic")

    def refuses(self, data: bytes) -> str | None:
        """A DOCX is a zip archive holding `word/document.xml`."""
        if not data.strip():
            return None  # empty: `read` says so
        kind = identify(data)
        if kind in ("a Word document", DAMAGED_ZIP):
            return None  # damaged: `read` says how
        return f"it is {kind}" if kind else "it is not a zip archive"

    def read(self, data: bytes, *, name: str) -> list[Document]:
        """Read the document body.

        Raises:
            ReaderError: The file is empty, not a zip archive, not a Word document, corrupt, or has no text.
        """
        if not data.strip():
            raise ReaderError(f"{name} is empty")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                body = _parse(archive, "word/document.xml", name=name)
                if body is None:
                    raise ReaderError(f"{name} is not a DOCX document: it has no word/document.xml")
                styles = _Styles(_parse_optional(archive, "word/styles.xml", name=name))
                properties = _parse_optional(archive, "docProps/core.xml", name=name)
        except zipfile.BadZipFile as exc:
            reason = "it is not a zip archive" if "not a zip file" in str(exc).lower() else str(exc)
            raise ReaderError(f"{name} is not a readable DOCX: {reason}") from None
        except (zlib.error, EOFError, OSError) as exc:
            raise ReaderError(f"{name} is not a readable DOCX: {exc}") from None

        walker = _Walker(styles)
        walker.walk(body)
        text = join_blocks(walker.blocks)
        if not text.strip():
            raise ReaderError(f"{name} has no text")
        title = " ".join((properties.findtext(_DC_TITLE) or "").split()) if properties is not None else ""
        title = title or walker.title
        return [Document(text, {"title": title} if title else {})]


def _parse(archive: zipfile.ZipFile, member: str, *, name: str) -> ElementTree.Element | None:
    try:
        info = archive.getinfo(member)
    except KeyError:
        return None
    if info.file_size > _MAX_XML_BYTES:
        raise ReaderError(f"{name} is too large to read: {member} holds {info.file_size} bytes")
    try:
        return ElementTree.fromstring(archive.read(info))
    except ElementTree.ParseError as exc:
        raise ReaderError(f"{name} is not a readable DOCX: {member}: {exc}") from None


def _parse_optional(archive: zipfile.ZipFile, member: str, *, name: str) -> ElementTree.Element | None:
    """A part the text does not depend on: when it is damaged, read on without it."""
    try:
        return _parse(archive, member, name=name)
    except (ReaderError, zipfile.BadZipFile, zlib.error, EOFError, OSError):
        return None


class _Styles:
    """Heading levels and list-ness by style id, following `basedOn` so custom styles inherit them."""

    def __init__(self, root: ElementTree.Element | None) -> None:
        self._names: dict[str, str] = {}
        self._based_on: dict[str, str] = {}
        self._outline: dict[str, int] = {}
        for style in root.iter(f"{_W}style") if root is not None else ():
            style_id = style.get(f"{_W}styleId", "")
            if (name := style.find(f"{_W}name")) is not None:
                self._names[style_id] = name.get(f"{_W}val", "")
            if (based := style.find(f"{_W}basedOn")) is not None:
                self._based_on[style_id] = based.get(f"{_W}val", "")
            if (level := style.find(f"{_W}pPr/{_W}outlineLvl")) is not None:
                self._outline[style_id] = _int(level.get(f"{_W}val"))

    def heading_level(self, style_id: str) -> int | None:
        """1 for Title and Heading 1, 2 for Heading 2, ...; None for body text."""
        for current in self._chain(style_id):
            name = self._names.get(current, current)
            if name.lower() == "title":
                return 1
            if match := _HEADING_NAME.fullmatch(name) or _HEADING_NAME.fullmatch(current):
                return int(match.group(1))
            if current in self._outline and self._outline[current] < 9:
                return self._outline[current] + 1
        return None

    def is_title(self, style_id: str) -> bool:
        return self._names.get(style_id, style_id).lower() == "title"

    def is_list(self, style_id: str) -> bool:
        return any(_LIST_NAME.match(self._names.get(current, current)) for current in self._chain(style_id))

    def _chain(self, style_id: str) -> list[str]:
        chain: list[str] = []
        while style_id and style_id not in chain and len(chain) < 10:
            chain.append(style_id)
            style_id = self._based_on.get(style_id, "")
        return chain


class _Walker:
    """Collects the body's blocks in document order."""

    def __init__(self, styles: _Styles) -> None:
        self.styles = styles
        self.blocks: list[tuple[str, str]] = []
        self.title = ""

    def walk(self, element: ElementTree.Element) -> None:
        for child in element:
            if child.tag == f"{_W}p":
                self._paragraph(child)
            elif child.tag == f"{_W}tbl":
                if table := _table(child):
                    self.blocks.append(("table", table))
            elif child.tag != _FALLBACK:  # body, content controls (sdt, sdtContent), custom XML...
                self.walk(child)

    def _paragraph(self, paragraph: ElementTree.Element) -> None:
        text = _text_of(paragraph).strip()
        if not text:
            return
        properties = paragraph.find(f"{_W}pPr")
        style = ""
        outline: int | None = None
        numbered = False
        if properties is not None:
            if (style_element := properties.find(f"{_W}pStyle")) is not None:
                style = style_element.get(f"{_W}val", "")
            if (level := properties.find(f"{_W}outlineLvl")) is not None and _int(level.get(f"{_W}val")) < 9:
                outline = _int(level.get(f"{_W}val")) + 1
            numbered = properties.find(f"{_W}numPr") is not None
        heading = outline or self.styles.heading_level(style)
        if heading or numbered or self.styles.is_list(style):
            text = " ".join(text.split())  # a marker holds for one line only
        if heading:
            if self.styles.is_title(style) and not self.title:
                self.title = text
            self.blocks.append(("heading", f"{'#' * min(heading, 6)} {text}"))
        elif numbered or self.styles.is_list(style):
            self.blocks.append(("li", f"- {text}"))
        else:
            self.blocks.append(("p", text))


def _table(table: ElementTree.Element) -> str:
    rows: list[list[str]] = []
    for row in table.findall(f"{_W}tr"):
        cells = [_cell_text(cell) for cell in row.findall(f"{_W}tc")]
        if any(cells):
            rows.append(cells)
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    lines = [_table_row(rows[0], width), _table_row(["---"] * width, width)]
    lines.extend(_table_row(row, width) for row in rows[1:])
    return "\n".join(lines)


def _table_row(cells: list[str], width: int) -> str:
    padded = [cell.replace("|", "\\|") for cell in cells] + [""] * (width - len(cells))
    return "| " + " | ".join(padded) + " |"


def _cell_text(cell: ElementTree.Element) -> str:
    return " ".join(" ".join(_text_of(paragraph).split()) for paragraph in cell.iter(f"{_W}p")).strip()


def _text_of(element: ElementTree.Element) -> str:
    """The visible text under an element: `w:t` runs, tabs and breaks; deleted text, field codes and VML
    fallbacks (which repeat text boxes) left out."""
    parts: list[str] = []

    def visit(node: ElementTree.Element) -> None:
        for child in node:
            if child.tag == f"{_W}t":
                parts.append(child.text or "")
            elif child.tag in _INLINE_BREAKS:
                parts.append(_INLINE_BREAKS[child.tag])
            elif child.tag != _FALLBACK:
                visit(child)

    visit(element)
    return normalize_text("".join(parts))


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return 99
