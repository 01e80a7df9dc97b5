"""HTML with the standard library's parser: the visible text of a page, structured like Markdown."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from stratus.knowledge.documents import Document
from stratus.knowledge.readers._base import Reader, ReaderError, decode_text, join_blocks

__all__ = ["HtmlReader"]

# Never visible, or page furniture (menus, sidebars, footers) that would pollute every chunk of every page.
_SKIPPED = frozenset(
    {"script", "style", "noscript", "template", "svg", "math", "nav", "aside", "footer", "iframe", "object",
     "canvas", "select", "button", "dialog"}
)  # fmt: skip
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)  # fmt: skip
_BLOCKS = frozenset(
    {"address", "article", "blockquote", "body", "caption", "dd", "details", "div", "dl", "dt", "fieldset",
     "figcaption", "figure", "form", "header", "hgroup", "hr", "html", "legend", "main", "p", "section",
     "summary"}
)  # fmt: skip
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_DISPLAY_NONE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


class HtmlReader(Reader):
    """A web page's visible text as one Markdown-like document: headings as `#` lines (so the markdown
    chunker can record each chunk's section), list items as `- ` or `1. ` lines, tables as `| a | b |` rows,
    `<pre>` as fenced code. Scripts, styles, hidden elements, `<nav>`, `<aside>` and `<footer>` are dropped.
    Metadata `title` is the page's `<title>` (or its first heading).
    """

    id = "html"
    name = "HtmlReader"
    description = "Reads HTML pages: visible text only, without scripts, styles or navigation."
    extensions = (".html", ".htm", ".xhtml")
    content_types = ("text/html", "application/xhtml+xml")
    chunkers = ("markdown", "recursive", "fixed", "semantic")

    def read(self, data: bytes, *, name: str) -> list[Document]:
        """Read the page (UTF-8 unless a byte order mark or `<meta charset>` says otherwise).

        Raises:
            ReaderError: The file is empty, cannot be decoded, or has no visible text.
        """
        declared = _CHARSET.search(data[:4096])
        text = decode_text(data, name=name, encoding=declared.group(1).decode("ascii") if declared else None)
        parser = _TextExtractor()
        parser.feed(text)
        parser.close()
        body = join_blocks(parser.blocks)
        if not body.strip():
            raise ReaderError(f"{name} has no visible text")
        title = parser.title or parser.first_heading
        return [Document(body, {"title": title} if title else {})]


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self.title = ""
        self.first_heading = ""
        self._parts: list[str] = []
        self._skip_tag = ""  # the element being skipped, and how deep in nested copies of it we are
        self._skip_depth = 0
        self._in_title = False
        self._title_parts: list[str] = []
        self._pre_depth = 0
        self._heading = 0
        self._lists: list[list[int]] = []  # per open list: [1] for <ol> (next number), [] for <ul>
        self._item_prefix = ""
        self._table: list[list[str]] | None = None  # the open table's rows of cells
        self._cell: list[str] | None = None
        self._nested_tables = 0  # tables inside a cell are flattened into the cell's text

    # parser callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_depth:
            self._skip_depth += tag == self._skip_tag
            return
        if tag not in _VOID and (tag in _SKIPPED or _hidden(dict(attrs))):
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag == "title":
            self._in_title = True
        elif self._table is not None:
            self._table_start(tag)
        elif tag == "table":
            self._flush()
            self._table = []
        elif tag in _HEADINGS:
            self._flush()
            self._heading = _HEADINGS[tag]
        elif tag in ("ul", "ol", "menu"):
            self._flush()
            self._lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            self._flush()
            self._item_prefix = self._next_marker()
        elif tag == "pre":
            self._flush()
            self._pre_depth += 1
        elif tag == "br":
            self._parts.append("\n")
        elif tag in _BLOCKS:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self.handle_starttag(tag, attrs)
        # a self-closed non-void element (XHTML `<div/>`) opens and closes nothing visible

    def handle_endtag(self, tag: str) -> None:
        if self._skip_depth:
            self._skip_depth -= tag == self._skip_tag
            return
        if tag == "title":
            self._in_title = False
            self.title = " ".join("".join(self._title_parts).split())
        elif self._table is not None:
            self._table_end(tag)
        elif tag in _HEADINGS:
            self._flush()
            self._heading = 0
        elif tag in ("ul", "ol", "menu"):
            self._flush()
            if self._lists:
                self._lists.pop()
        elif tag == "li":
            self._flush()
        elif tag == "pre":
            self._flush()
            self._pre_depth = max(0, self._pre_depth - 1)
        elif tag in _BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._in_title:
            self._title_parts.append(data)
        elif self._cell is not None:
            self._cell.append(data)
        elif self._pre_depth:
            self._parts.append(data)
        else:
            self._parts.append(re.sub(r"\s+", " ", data))

    def close(self) -> None:
        super().close()
        self._nested_tables = 0
        if self._table is not None:
            self._table_end("table")
        self._flush()

    # blocks

    def _flush(self) -> None:
        raw = "".join(self._parts)
        self._parts = []
        if self._pre_depth:
            code = raw.strip("\n")
            if code.strip():
                self.blocks.append(("pre", f"```\n{code}\n```"))
            return
        text = "\n".join(line for line in (" ".join(part.split()) for part in raw.split("\n")) if line)
        if not text:
            return
        if self._heading:
            text = " ".join(text.split())
            self.first_heading = self.first_heading or text
            self.blocks.append(("heading", f"{'#' * self._heading} {text}"))
        elif self._lists and self._item_prefix:
            self.blocks.append(("li", self._item_prefix + " ".join(text.split())))
            self._item_prefix = ""  # more text in the same item (after a nested list) is a paragraph
        else:
            self.blocks.append(("p", text))

    def _next_marker(self) -> str:
        if not self._lists:
            return "- "
        indent = "  " * (len(self._lists) - 1)
        counter = self._lists[-1]
        if not counter:
            return f"{indent}- "
        counter[0] += 1
        return f"{indent}{counter[0] - 1}. "

    def _table_start(self, tag: str) -> None:
        if self._table is None:
            return
        if self._nested_tables or tag == "table":
            self._nested_tables += tag == "table"
            if self._cell is not None:
                self._cell.append(" ")
        elif tag == "tr":
            self._close_cell()
            self._table.append([])
        elif tag in ("td", "th"):
            self._close_cell()
            self._cell = []
        elif self._cell is not None and (tag in _BLOCKS or tag in _HEADINGS or tag in ("br", "li", "pre")):
            self._cell.append(" ")

    def _table_end(self, tag: str) -> None:
        if self._nested_tables:
            self._nested_tables -= tag == "table"
            if self._cell is not None:
                self._cell.append(" ")
        elif tag in ("td", "th", "tr"):
            self._close_cell()
        elif tag == "table":
            self._close_cell()
            rows = [row for row in self._table or [] if any(row)]
            self._table = None
            self._flush()  # a caption, or stray text between rows, comes before the table
            if rows:
                self.blocks.append(("table", _markdown_table(rows)))

    def _close_cell(self) -> None:
        if self._cell is not None and self._table is not None:
            if not self._table:
                self._table.append([])
            self._table[-1].append(" ".join("".join(self._cell).split()))
        self._cell = None


def _hidden(attrs: dict[str, str | None]) -> bool:
    return (
        "hidden" in attrs
        or (attrs.get("aria-hidden") or "").lower() == "true"
        or bool(_DISPLAY_NONE.search(attrs.get("style") or ""))
    )


def _markdown_table(rows: list[list[str]]) -> str:
    width = max(len(row) for row in rows)
    cells = [[cell.replace("|", "\\|") for cell in row] + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + " --- |" * width]
    lines.extend("| " + " | ".join(row) + " |" for row in cells[1:])
    return "\n".join(lines)
