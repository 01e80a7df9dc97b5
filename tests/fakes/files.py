"""The bytes of files people upload to a knowledge base by mistake: images, archives, programs, binary data.
Built here, small but real (a PNG a viewer opens, a zip `zipfile` reads), so the readers' type checks are
tested on what those files really start with."""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib

__all__ = ["UNREADABLE", "elf", "gif", "jpeg", "png", "random_bytes", "zip_of"]


def png() -> bytes:
    """A 1x1 RGBA PNG: the signature, then IHDR, IDAT and IEND chunks with their CRCs."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def gif() -> bytes:
    """A 1x1 GIF89a."""
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def jpeg() -> bytes:
    """The start of a JFIF JPEG (SOI, APP0) and its end marker."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def zip_of(members: dict[str, str]) -> bytes:
    """A zip archive of text members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def elf() -> bytes:
    """A 64-bit little-endian ELF header of an x86-64 executable, and a little code."""
    ident = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8
    header = struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    return ident + header + b"\x48\x31\xc0\xc3" * 16


def random_bytes(size: int = 4096, seed: int = 7) -> bytes:
    """Noise, as an encrypted or compressed file looks."""
    return random.Random(seed).randbytes(size)


UNREADABLE: dict[str, tuple[str, bytes, str]] = {
    "png": ("photo.png", png(), "image/png"),
    "png named markdown": ("evil.md", png(), "text/markdown"),
    "png sent as text": ("notes.txt", png(), "text/plain"),
    "gif": ("anim.gif", gif(), "image/gif"),
    "gif named text": ("anim.txt", gif(), "text/plain"),
    "jpeg": ("photo.jpg", jpeg(), "image/jpeg"),
    "jpeg named pdf": ("scan.pdf", jpeg(), "application/pdf"),
    "zip": ("docs.zip", zip_of({"a.txt": "hello"}), "application/zip"),
    "zip named docx": ("report.docx", zip_of({"a.txt": "hello"}), "application/octet-stream"),
    "excel named docx": ("sheet.docx", zip_of({"[Content_Types].xml": "<x/>", "xl/workbook.xml": "<x/>"}), ""),
    "zip named json": ("data.json", zip_of({"a.json": "{}"}), "application/json"),
    "elf": ("server", elf(), "application/octet-stream"),
    "elf named text": ("server.txt", elf(), "text/plain"),
    "random bytes named text": ("data.txt", random_bytes(), "text/plain"),
    "random bytes named csv": ("table.csv", random_bytes(seed=8), "text/csv"),
    "nul bytes named text": ("blank.txt", b"\x00" * 2048, "text/plain"),
    "random bytes named pdf": ("x.pdf", random_bytes(seed=9), "application/pdf"),
    "text named pdf": ("notes.pdf", b"Just some notes, not a PDF at all.\n", "application/pdf"),
}
"""Uploads no reader can read, by case: (file name, bytes, declared MIME type)."""
