"""Readers on small real files (tests/fixtures/, the binary ones written by make_fixtures.py): the text and
metadata users rely on, a readable ReaderError for every broken file, and the check of a file's bytes that
refuses what no reader can read (tests/fakes/files.py) before anything is stored."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from stratus.exceptions import KnowledgeError, StratusError
from stratus.knowledge.documents import Document
from stratus.knowledge.readers import (
    READERS,
    CsvReader,
    DocxReader,
    HtmlReader,
    JsonReader,
    MarkdownReader,
    PdfReader,
    ReaderError,
    TextReader,
    UnsupportedContentError,
    reader_for,
    reader_for_content,
)
from tests.fakes.files import UNREADABLE, elf, gif, jpeg, png, random_bytes, zip_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def read(name: str) -> list[Document]:
    return reader_for(name).read((FIXTURES / name).read_bytes(), name=name)


# PDF


def test_a_pdf_gives_one_document_per_page_with_its_page_number() -> None:
    documents = read("guide.pdf")

    assert documents == [
        Document(
            "Stratus Guide\nStratus serves agents as an HTTP API.\nThis first page explains the installation.",
            {"page": 1, "pages": 3},
        ),
        Document(
            "Configuration\nSet STRATUS_DB to choose where sessions are stored.\nThe second page covers settings.",
            {"page": 2, "pages": 3},
        ),
        Document(
            "Troubleshooting\nA corrupt PDF fails with a readable error.\nThe third page lists common problems.",
            {"page": 3, "pages": 3},
        ),
    ]


def test_a_pdf_without_text_says_it_may_be_scanned() -> None:
    with pytest.raises(ReaderError) as caught:
        read("scanned.pdf")

    assert str(caught.value) == (
        "scanned.pdf has no extractable text: it may be scanned images, which need OCR before upload"
    )


def test_without_pypdf_the_pdf_reader_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pypdf", None)  # makes `import pypdf` fail

    with pytest.raises(ReaderError, match=r"needs pypdf: install the `knowledge` extra \(pip install 'stratus\["):
        read("guide.pdf")
    assert PdfReader().missing_packages() == ["pypdf"]  # what /knowledge/config reports as unavailable


def test_importing_the_readers_does_not_import_pypdf() -> None:
    code = "import stratus.knowledge.readers, sys, json; print(json.dumps('pypdf' in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert json.loads(result.stdout) is False


# DOCX


def test_a_docx_keeps_headings_lists_and_tables_in_order() -> None:
    [document] = read("report.docx")

    assert document.metadata == {"title": "Quarterly Report"}
    assert document.text == (
        "# Quarterly Report\n"
        "\n"
        "Revenue grew by twelve percent this quarter.\n"
        "\n"
        "# Highlights\n"
        "\n"
        "- New customers in Zürich and Montréal.\n"
        "- Support tickets answered within a day.\n"
        "\n"
        "## Figures\n"
        "\n"
        "| Region | Revenue | Growth |\n"
        "| --- | --- | --- |\n"
        "| Europe | 1.2M | 8% |\n"
        "| Americas | 2.5M | 15% |\n"
        "\n"
        "The board meets again in April."
    )


def test_a_zip_that_is_not_a_word_document_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")

    with pytest.raises(ReaderError, match=r"^book\.docx is not a DOCX document: it has no word/document\.xml$"):
        DocxReader().read(buffer.getvalue(), name="book.docx")


# CSV


def test_a_csv_row_becomes_column_value_lines_and_quoted_commas_stay_in_their_cell() -> None:
    [document] = read("products.csv")

    assert document.metadata == {"rows": "1-3"}
    assert document.text == (
        "sku: A-100\nname: Trail shoe\ndescription: Light, waterproof, and grippy\nprice: 89.90\n"
        "\n"
        "sku: A-200\nname: Rain jacket\ndescription: Packs into its own pocket, 180 g\nprice: 120.00\n"
        "\n"
        "sku: A-300\nname: Wool socks\nprice: 12.50"  # the empty description is left out
    )


def test_csv_rows_are_grouped_by_size_and_each_group_names_its_rows() -> None:
    data = "city;country\n" + "".join(f"City {n};Country {n}\n" for n in range(1, 8))

    documents = CsvReader(max_tokens=20).read(data.encode(), name="cities.csv")

    assert [d.metadata["rows"] for d in documents] == ["1-2", "3-4", "5-6", "7"]
    assert documents[0].text == "city: City 1\ncountry: Country 1\n\ncity: City 2\ncountry: Country 2"


def test_a_tsv_file_is_split_at_tabs() -> None:
    [document] = reader_for("t.tsv").read(b"name\tnote\nAda\tfirst, and foremost\n", name="t.tsv")

    assert document.text == "name: Ada\nnote: first, and foremost"


def test_a_csv_with_only_a_header_is_refused() -> None:
    with pytest.raises(ReaderError, match=r"^head\.csv has a header but no rows$"):
        CsvReader().read(b"a,b,c\n", name="head.csv")


# HTML


def test_html_keeps_the_visible_text_and_drops_scripts_styles_navigation_and_hidden_parts() -> None:
    [document] = read("page.html")

    assert document.metadata == {"title": "Stratus & Friends"}
    assert document.text == (
        "# Getting started\n"
        "\n"
        "Stratus serves agents as an API \u2014 on your laptop or on AWS.\n"
        "\n"
        "## Features\n"
        "\n"
        "- Sessions and memories\n"
        "- Knowledge search\n"
        "\n"
        "## Limits\n"
        "\n"
        "| Plan | Requests |\n"
        "| --- | --- |\n"
        "| Free | 1,000 |"
    )
    for noise in ("analytics", "font-family", "Home", "Secret", "injected", "Copyright"):
        assert noise not in document.text


def test_html_numbers_ordered_lists_and_fences_preformatted_text() -> None:
    page = b"<ol><li>First</li><li>Second<ul><li>nested</li></ul></li></ol><pre>\nx = 1\n  y = 2\n</pre>"

    [document] = HtmlReader().read(page, name="p.html")

    assert document.text == "1. First\n2. Second\n  - nested\n\n```\nx = 1\n  y = 2\n```"
    assert document.metadata == {}


def test_html_is_decoded_with_its_declared_charset() -> None:
    page = '<meta charset="iso-8859-1"><p>Café</p>'.encode("latin-1")

    assert HtmlReader().read(page, name="p.html")[0].text == "Café"


# Markdown, JSON, text


def test_markdown_is_read_as_it_is_with_its_first_heading_as_title() -> None:
    [document] = read("guide.md")

    assert document.text == (FIXTURES / "guide.md").read_text(encoding="utf-8").strip("\n")
    assert document.metadata == {"title": "Stratus"}


def test_a_json_object_reads_as_indented_key_value_lines() -> None:
    [document] = read("records.json")

    assert document.metadata == {}
    assert document.text == (
        "name: Ada Lovelace\n"
        "born: 1815\n"
        "languages: English, French\n"
        "notes: null\n"
        "address:\n"
        "  city: London\n"
        "  country: UK\n"
        "works:\n"
        "  - title: Notes on the Analytical Engine\n"
        "    year: 1843"
    )


def test_json_lines_are_records_that_name_their_line_numbers() -> None:
    [document] = read("events.jsonl")

    assert document.metadata == {"lines": "1-4"}
    assert document.text == (
        "event: signup\nuser: ada\nok: true\n"
        "\n"
        "event: upload\nuser: ada\nfile: guide.pdf\n"
        "\n"
        "event: search\nuser: grace\nquery: install on linux"
    )


def test_a_json_array_is_grouped_into_items() -> None:
    data = json.dumps([{"id": n, "name": f"item {n}"} for n in range(1, 6)]).encode()

    documents = JsonReader(max_tokens=12).read(data, name="items.json")

    assert [d.metadata for d in documents] == [{"items": "1-2"}, {"items": "3-4"}, {"items": "5"}]
    assert documents[0].text == "id: 1\nname: item 1\n\nid: 2\nname: item 2"


def test_invalid_json_says_where_it_breaks() -> None:
    with pytest.raises(ReaderError, match=r"^bad\.json is not valid JSON: Expecting ',' delimiter: line 1 column 9"):
        JsonReader().read(b'{"a": 1 "b": 2}', name="bad.json")


def test_text_keeps_accents_exactly() -> None:
    [document] = read("accents.txt")

    assert document.text == "Café au lait, crème brûlée and naïve façades.\nÜber-straße: ½ price on Thursdays."
    assert document.metadata == {}


def test_text_loses_nul_bytes_byte_order_marks_and_carriage_returns() -> None:
    [document] = TextReader().read(b"\xef\xbb\xbfone\x00\r\ntwo\rthree", name="t.txt")

    assert document.text == "one\ntwo\nthree"


# Broken files


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated.pdf", r"^truncated\.pdf is not a readable PDF: .+ \(the file looks truncated"),
        ("random.pdf", r"^random\.pdf is not a readable PDF: it does not start with a PDF header \(%PDF-\)$"),
        ("not_a_zip.docx", r"^not_a_zip\.docx is not a readable DOCX: it is not a zip archive$"),
        ("latin1.txt", r"^latin1\.txt is not UTF-8 text: byte 0xe9 at position 3 cannot be decoded"),
        ("empty.txt", r"^empty\.txt is empty$"),
    ],
)
def test_a_broken_file_raises_a_readable_reader_error(name: str, message: str) -> None:
    with pytest.raises(ReaderError, match=message) as caught:
        read(name)

    assert isinstance(caught.value, StratusError)
    assert "Traceback" not in str(caught.value)


@pytest.mark.parametrize("reader_id", sorted(READERS))
def test_every_reader_refuses_an_empty_file(reader_id: str) -> None:
    with pytest.raises(ReaderError, match=r"^nothing\.bin is empty$"):
        READERS[reader_id].read(b"  \n", name="nothing.bin")


# Choosing a reader


@pytest.mark.parametrize(
    ("name", "content_type", "reader_id"),
    [
        ("Guide.PDF", None, "pdf"),
        ("report.docx", "application/octet-stream", "docx"),
        ("table.csv", None, "csv"),
        ("events.ndjson", None, "json"),
        ("index.htm", None, "html"),
        ("README.md", "text/plain", "markdown"),  # the extension wins over the MIME type
        ("notes", "text/plain; charset=utf-8", "text"),
        ("upload", "application/pdf", "pdf"),
        ("page.asp", "text/html", "html"),
    ],
)
def test_a_reader_is_chosen_by_extension_then_by_mime_type(name: str, content_type: str | None, reader_id: str) -> None:
    assert reader_for(name, content_type) is READERS[reader_id]


def test_an_unsupported_type_lists_the_supported_ones() -> None:
    with pytest.raises(ReaderError) as caught:
        reader_for("/tmp/slides.pptx", "application/vnd.ms-powerpoint")

    message = str(caught.value)
    assert message.startswith(
        "slides.pptx is of an unsupported type application/vnd.ms-powerpoint: supported files are "
    )
    for extension in (".pdf", ".docx", ".csv", ".json", ".jsonl", ".html", ".md", ".txt"):
        assert extension in message


def test_each_reader_describes_itself_for_the_config_endpoint() -> None:
    assert list(READERS) == ["pdf", "docx", "csv", "json", "html", "markdown", "text"]
    expected = {
        "pdf": PdfReader,
        "docx": DocxReader,
        "csv": CsvReader,
        "json": JsonReader,
        "html": HtmlReader,
        "markdown": MarkdownReader,
        "text": TextReader,
    }
    for reader_id, reader in READERS.items():
        assert type(reader) is expected[reader_id]
        assert reader.id == reader_id
        assert reader.name == expected[reader_id].__name__
        assert reader.description.endswith(".")
        assert reader.content_types
        assert all("/" in content_type for content_type in reader.content_types)
        assert reader.chunkers
    assert READERS["pdf"].packages == ("pypdf",)
    assert READERS["pdf"].missing_packages() == []  # pypdf is in the dev extra


# Refusing what no reader can read, by its bytes


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_a_file_no_reader_can_read_is_refused_naming_the_supported_types(case: str) -> None:
    name, data, content_type = UNREADABLE[case]

    with pytest.raises(UnsupportedContentError) as caught:
        reader_for_content(data, name=name, content_type=content_type)

    message = str(caught.value)
    assert message.startswith(f"{name} is ")
    assert "supported files are .pdf, .docx, .csv" in message
    assert isinstance(caught.value, ReaderError)
    assert isinstance(caught.value, KnowledgeError)


@pytest.mark.parametrize(
    ("name", "data", "content_type", "said"),
    [
        ("evil.md", png(), "text/markdown", "evil.md is not a .md file: it is a PNG image; supported files are "),
        ("upload", png(), "text/markdown", "upload is not text/markdown: it is a PNG image; "),
        ("photo.png", png(), "image/png", "photo.png is of an unsupported type image/png: supported files are "),
        ("anim.txt", gif(), None, "anim.txt is not a .txt file: it is a GIF image; "),
        ("scan.pdf", jpeg(), None, "scan.pdf is not a .pdf file: it is a JPEG image; "),
        ("docs.txt", zip_of({"a.txt": "hi"}), None, "docs.txt is not a .txt file: it is a zip archive; "),
        ("sheet.docx", zip_of({"xl/workbook.xml": "<x/>"}), None, "sheet.docx is not a .docx file: it is an Excel "),
        ("server.txt", elf(), None, "server.txt is not a .txt file: it is an ELF executable; "),
        ("data.txt", random_bytes(), None, "data.txt is not a .txt file: it is binary data; "),
        ("x.pdf", random_bytes(), None, "x.pdf is not a .pdf file: it does not start with a PDF header (%PDF-); "),
        ("x.docx", b"plain words", None, "x.docx is not a .docx file: it is not a zip archive; "),
    ],
)
def test_the_refusal_says_what_the_file_is(name: str, data: bytes, content_type: str | None, said: str) -> None:
    with pytest.raises(UnsupportedContentError) as caught:
        reader_for_content(data, name=name, content_type=content_type)

    assert str(caught.value).startswith(said)


@pytest.mark.parametrize(
    "name",
    [
        "guide.pdf",
        "report.docx",
        "products.csv",
        "records.json",
        "events.jsonl",
        "page.html",
        "guide.md",
        "accents.txt",
    ],
)
def test_every_supported_file_passes_the_check_and_gets_its_reader(name: str) -> None:
    data = (FIXTURES / name).read_bytes()

    assert reader_for_content(data, name=name) is reader_for(name)
    assert reader_for(name).read(data, name=name)


def test_a_damaged_file_of_the_right_format_is_left_for_its_reader_to_explain() -> None:
    docx = (FIXTURES / "report.docx").read_bytes()
    for name, data in (
        ("truncated.pdf", (FIXTURES / "truncated.pdf").read_bytes()),
        ("cut.docx", docx[: len(docx) // 2]),
        ("latin1.txt", (FIXTURES / "latin1.txt").read_bytes()),  # text, in the wrong encoding
        ("empty.txt", b""),
        ("empty.pdf", b""),
    ):
        reader = reader_for_content(data, name=name)
        with pytest.raises(ReaderError) as caught:
            reader.read(data, name=name)
        assert not isinstance(caught.value, UnsupportedContentError)


def test_pdf_and_docx_refuse_up_front_exactly_what_their_read_would_refuse() -> None:
    for name, data in (
        ("random.pdf", (FIXTURES / "random.pdf").read_bytes()),
        ("not_a_zip.docx", (FIXTURES / "not_a_zip.docx").read_bytes()),
        ("report.docx", zip_of({"a.txt": "hello"})),
        ("scan.pdf", jpeg()),
    ):
        with pytest.raises(UnsupportedContentError):
            reader_for_content(data, name=name)
        with pytest.raises(ReaderError):
            reader_for(name).read(data, name=name)


@pytest.mark.parametrize(
    "data",
    [
        b"Plain ASCII text.\n",
        "Ünïcödé, 日本語, emoji 🚀 and a stray\x00 NUL.\n".encode(),
        "\ufeffUTF-8 with a byte order mark".encode(),
        "\ufeffUTF-16 with its byte order mark".encode("utf-16"),
        ("a" + "é" * 5000).encode(),  # a character cut in two where the check stops looking
        b"A form feed\f, a tab\t and an ANSI \x1b[1mbold\x1b[0m.",
    ],
)
def test_text_in_any_encoding_the_readers_decode_passes(data: bytes) -> None:
    for name in ("notes.txt", "notes.md", "table.csv", "page.html", "data.json"):
        assert reader_for_content(data, name=name) is reader_for(name)
