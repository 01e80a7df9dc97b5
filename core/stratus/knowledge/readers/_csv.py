"""CSV and TSV: rows rendered as `column: value` lines under the header, grouped into documents."""

from __future__ import annotations

import csv
import io

from stratus.exceptions import ConfigError
from stratus.knowledge.documents import Document
from stratus.knowledge.readers._base import Reader, ReaderError, decode_text, group_records

__all__ = ["CsvReader"]

_SNIFF_BYTES = 64 * 1024


class CsvReader(Reader):
    """A table with a header row. Each row becomes `column: value` lines (empty cells left out) so every
    chunk says what its values mean; consecutive rows are grouped into documents of about `max_tokens`.

    Metadata `rows` is the range of rows a document holds, `"1-12"` (or `"13"`), counting the first row
    after the header as 1.
    """

    id = "csv"
    name = "CsvReader"
    description = "Reads CSV and TSV tables with a header row; each row becomes `column: value` lines."
    extensions = (".csv", ".tsv")
    content_types = ("text/csv", "text/tab-separated-values", "application/csv")

    def __init__(self, *, max_tokens: int = 500) -> None:
        """Configure how rows are grouped.

        Args:
            max_tokens: About how large a group of rows may grow before the next row starts a new document
                (a single larger row stays whole).
        """
        if max_tokens < 1:
            raise ConfigError(f"CsvReader max_tokens must be positive, not {max_tokens}")
        self.max_tokens = max_tokens

    def read(self, data: bytes, *, name: str) -> list[Document]:
        """Read the header, then every non-blank row, in groups.

        Raises:
            ReaderError: The file is empty, not UTF-8, malformed, or has a header but no rows.
        """
        text = decode_text(data, name=name)
        rows = csv.reader(io.StringIO(text, newline=""), _dialect(text, name=name))
        try:
            header = next((row for row in rows if any(cell.strip() for cell in row)), None)
            if header is None:
                raise ReaderError(f"{name} is empty")
            columns = [cell.strip() or f"column {i}" for i, cell in enumerate(header, start=1)]
            records = ((number, _render(columns, row)) for number, row in enumerate(rows, start=1))
            documents = group_records(records, max_tokens=self.max_tokens, key="rows")
        except csv.Error as exc:
            raise ReaderError(f"{name} is not a readable CSV file: line {rows.line_num}: {exc}") from None
        if not documents:
            raise ReaderError(f"{name} has a header but no rows")
        return documents


def _dialect(text: str, *, name: str) -> type[csv.Dialect] | csv.Dialect:
    if name.lower().endswith(".tsv"):
        return csv.excel_tab
    sample = text[:_SNIFF_BYTES]
    if len(text) > _SNIFF_BYTES:  # a cut last line would confuse the sniffer
        sample = sample[: sample.rfind("\n") + 1] or sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:  # one column, or too irregular to tell: the common case is a comma
        return csv.excel


def _render(columns: list[str], row: list[str]) -> str:
    lines: list[str] = []
    for i, cell in enumerate(row):
        value = " ".join(cell.split())
        if value:
            column = columns[i] if i < len(columns) else f"column {i + 1}"
            lines.append(f"{column}: {value}")
    return "\n".join(lines)
