"""What a file's first bytes say it is: the magic numbers of the formats people upload by mistake (images,
archives, programs, media, other documents), and whether bytes are text at all. Readers use it to refuse, before
anything is stored, a file whose bytes are not the format its name or MIME type claims."""

from __future__ import annotations

import codecs
import io
import zipfile

__all__ = ["DAMAGED_ZIP", "HEAD_BYTES", "identify", "is_binary"]

HEAD_BYTES = 8192
"""How much of a file the text check looks at."""

DAMAGED_ZIP = "a damaged zip archive"
"""What `identify` calls bytes that start as a zip archive but cannot be opened as one (a truncated upload)."""

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "a PDF document"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF87a", "a GIF image"),
    (0, b"GIF89a", "a GIF image"),
    (0, b"II*\x00", "a TIFF image"),
    (0, b"MM\x00*", "a TIFF image"),
    (0, b"\x00\x00\x01\x00", "an icon"),
    (0, b"8BPS", "a Photoshop image"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"\xfd7zXZ\x00", "an xz archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"Rar!\x1a\x07", "a RAR archive"),
    (0, b"\x28\xb5\x2f\xfd", "a Zstandard archive"),
    (257, b"ustar\x00", "a tar archive"),
    (257, b"ustar  \x00", "a tar archive"),
    (0, b"\x7fELF", "an ELF executable"),
    (0, b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (0, b"\xce\xfa\xed\xfe", "a Mach-O executable"),
    (0, b"\xca\xfe\xba\xbe", "a Mach-O executable or Java class"),
    (0, b"\x00asm", "a WebAssembly module"),
    (0, b"SQLite format 3\x00", "an SQLite database"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file (.doc, .xls or .ppt)"),
    (0, b"OggS", "an Ogg audio or video file"),
    (0, b"fLaC", "a FLAC audio file"),
    (0, b"\x1aE\xdf\xa3", "a Matroska or WebM video"),
)
_RIFF = {b"WEBP": "a WebP image", b"WAVE": "a WAV audio file", b"AVI ": "an AVI video"}
_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_ZIP_KINDS = (
    ("word/document.xml", "a Word document"),
    ("xl/workbook.xml", "an Excel workbook"),
    ("ppt/presentation.xml", "a PowerPoint presentation"),
    ("META-INF/MANIFEST.MF", "a Java archive"),
)
_CONTROL = frozenset(range(0x20)) - {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1B} | {0x7F}
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def identify(data: bytes) -> str | None:
    """What `data` is by its magic number (`"a PNG image"`, `"a zip archive"`, `"a Word document"`, ...), or
    None for bytes that start like none of the formats known here (text, most often)."""
    for offset, magic, kind in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return kind
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if data[4:8] == b"ftyp":
        return "an MP4, QuickTime or HEIC file"
    if data[:3] == b"ID3" and data[3:4] in (b"\x02", b"\x03", b"\x04"):
        return "an MP3 audio file"
    if data[:3] == b"BZh" and data[4:10] == b"1AY&SY":
        return "a bzip2 archive"
    if data[:2] == b"MZ" and len(data) >= 64:
        header = int.from_bytes(data[0x3C:0x40], "little")
        if data[header : header + 4] == b"PE\x00\x00":
            return "a Windows executable"
    if data[:4] in _ZIP:
        return _zip_kind(data)
    return None


def is_binary(data: bytes) -> bool:
    """Whether `data` is not text: judged on its first `HEAD_BYTES`, as the text readers decode it (UTF-8, or the
    UTF-16 a byte order mark declares; NUL bytes dropped). Text in another 8-bit encoding (Latin-1, say) counts as
    text: its reader then says which byte it cannot decode."""
    head = data[:HEAD_BYTES]
    if not head or head.startswith(_BOMS):
        return False
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut last character is fine
    except UnicodeDecodeError:
        return b"\x00" in head or _controls(head) > 0.1
    visible = text.replace("\x00", "")
    if not visible:
        return True  # nothing but NUL bytes
    return sum(1 for c in visible if ord(c) in _CONTROL) / len(visible) > 0.1


def _controls(head: bytes) -> float:
    return sum(1 for b in head if b in _CONTROL) / len(head)


def _zip_kind(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                with archive.open("mimetype") as member:
                    if member.read(64).startswith(b"application/vnd.oasis.opendocument"):
                        return "an OpenDocument file"
    except (zipfile.BadZipFile, OSError, EOFError, KeyError):
        return DAMAGED_ZIP
    return next((kind for member, kind in _ZIP_KINDS if member in names), "a zip archive")
