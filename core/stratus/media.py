"""Images and files a run takes as input (`agent.run(message, images=[...], files=[...])`).

A medium comes from a URL, bytes, a local path or base64 text. Models that take media get it in their native
form (see each provider's formatting); for the others `text_for_model` gives a file's text, read by the
knowledge readers, and says that an image is not available. A run's record keeps only references
(`to_dict` never holds the bytes): the bytes are stored once, under `media_key`, in a `BlobStore` (S3 on AWS,
`LocalBlobStore` under `.stratus/` locally).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import mimetypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from stratus._utils import new_id
from stratus.knowledge.ingestion import BlobStore

if TYPE_CHECKING:
    from stratus.messages import Message
    from stratus.models.base import Model

__all__ = [
    "IMAGE_MIME_TYPES",
    "MAX_MEDIA_BYTES",
    "File",
    "Image",
    "LocalBlobStore",
    "Media",
    "attach_media",
    "media_key",
    "media_parts",
    "text_for_model",
    "unavailable",
]

MAX_MEDIA_BYTES = 5_000_000
"""The largest image or file a run takes (Anthropic's and OpenAI's image limit; Bedrock's documents' 4.5 MB
is checked by Bedrock itself)."""

IMAGE_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
"""The image types every provider here takes."""

_EXTRA_TYPES = {
    "md": "text/markdown",
    "markdown": "text/markdown",
    "yaml": "application/x-yaml",
    "yml": "application/x-yaml",
}


@dataclass(slots=True, kw_only=True, eq=False)
class Media:
    """An image or a file: exactly one of `url`, `filepath` or `content` (bytes) says where it is, unless it
    was read back from a stored run (then only `stored` says its bytes are in the media store)."""

    kind: ClassVar[str] = "media"

    url: str | None = None
    filepath: str | Path | None = None
    content: bytes | None = field(default=None, repr=False)
    mime_type: str | None = None
    format: str | None = None
    """The extension without its dot (`png`, `pdf`); found from the name or the type when not given."""
    filename: str | None = None
    id: str = field(default_factory=new_id)
    size: int | None = None
    stored: bool = False
    """The bytes are in the media store (under `media_key(user, run, id)`)."""

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.url, self.filepath, self.content)) > 1:
            raise ValueError(f"{self.kind}: give one of url, filepath or content")
        if self.filepath is not None and self.filename is None:
            self.filename = os.path.basename(str(self.filepath))
        if self.content is not None:
            self.size = len(self.content)
        if self.mime_type is None:
            self.mime_type = _guess_type(self.filename or (str(self.filepath) if self.filepath else None) or self.url)
        if self.format is None:
            self.format = _format_of(self.filename or self.url, self.mime_type)

    @classmethod
    def from_base64(cls, data: str, **fields: Any) -> Any:
        """A medium from base64 text (a `data:` URL too); raises `ValueError` when it is not base64."""
        if data.startswith("data:") and "," in data:
            header, data = data.split(",", 1)
            fields.setdefault("mime_type", header[5:].split(";")[0] or None)
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{cls.kind}: content is not valid base64") from None
        return cls(content=raw, **fields)

    def data(self) -> bytes | None:
        """The bytes, when they are here (given, or read from `filepath` once); None for a URL or a reference."""
        if self.content is None and self.filepath is not None:
            self.content = Path(self.filepath).read_bytes()
            self.size = len(self.content)
        return self.content

    async def aload(self, *, max_bytes: int = MAX_MEDIA_BYTES) -> bytes | None:
        """The bytes, fetched from `url` (through the safe fetcher) when that is where they are."""
        data = await asyncio.to_thread(self.data)
        if data is None and self.url is not None:
            from stratus._fetch import fetch_url

            fetched = await fetch_url(self.url, max_bytes=max_bytes)
            self.content, self.size = fetched.content, len(fetched.content)
            if self.mime_type is None and fetched.content_type:
                self.mime_type = fetched.content_type
                self.format = self.format or _format_of(None, self.mime_type)
            data = self.content
        return data

    @property
    def label(self) -> str:
        """How the model and error messages name it."""
        return self.filename or self.url or f"{self.kind} {self.id}"

    def base64(self) -> str | None:
        data = self.data()
        return base64.b64encode(data).decode("ascii") if data is not None else None

    def data_url(self) -> str | None:
        """A `data:` URL of the bytes (OpenAI's form for inline images and files)."""
        encoded = self.base64()
        return f"data:{self.mime_type or 'application/octet-stream'};base64,{encoded}" if encoded else None

    def to_dict(self) -> dict[str, Any]:
        """The reference kept in a run's record and listed by the API: never the bytes."""
        out: dict[str, Any] = {
            "id": self.id,
            "url": self.url,
            "filepath": str(self.filepath) if self.filepath is not None else None,
            "filename": self.filename,
            "format": self.format,
            "mime_type": self.mime_type,
            "size": self.size,
        }
        if self.stored:
            out["stored"] = True
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        return cls(
            id=str(data.get("id") or new_id()),
            url=data.get("url"),
            filepath=data.get("filepath"),
            filename=data.get("filename"),
            format=data.get("format"),
            mime_type=data.get("mime_type"),
            size=data.get("size"),
            stored=bool(data.get("stored", False)),
        )


@dataclass(slots=True, kw_only=True, eq=False)
class Image(Media):
    """An image for the model to look at (PNG, JPEG, GIF or WebP)."""

    kind: ClassVar[str] = "image"


@dataclass(slots=True, kw_only=True, eq=False)
class File(Media):
    """A document for the model to read (PDF, text, CSV, Word, ...)."""

    kind: ClassVar[str] = "file"

    @property
    def textual(self) -> bool:
        """Plain text that every model reads best as text (no provider needs it as a document)."""
        mime = self.mime_type or ""
        return mime.startswith("text/") or mime in ("application/json", "application/x-yaml", "application/xml")

    def text(self) -> str:
        """The file's text, read by the knowledge readers; says why when it cannot be read."""
        from stratus.knowledge.readers import reader_for_content

        data = self.data()
        name = self.filename or f"file.{self.format or 'txt'}"
        if data is None:
            return f"(the file {self.label} is not available)"
        try:
            documents = reader_for_content(data, name=name, content_type=self.mime_type).read(data, name=name)
        except Exception as exc:  # a reader's refusal or failure is the model's to hear, not the run's end
            return f"(the file {self.label} could not be read: {exc})"
        return "\n\n".join(d.text for d in documents)


def text_for_model(content: str | None, images: list[Image] | None, files: list[File] | None) -> str:
    """A message's text with its files' text inlined and its images described, for a model that takes no
    media (or a file no provider takes natively)."""
    parts = [content or ""]
    for f in files or ():
        parts.append(f'<file name="{f.label}">\n{f.text()}\n</file>')
    for image in images or ():
        parts.append(f"(an image, {image.label}, was attached; this model cannot see images)")
    return "\n\n".join(p for p in parts if p)


async def attach_media(message: Message, images: list[Image] | None, files: list[File] | None, model: Model) -> None:
    """Put a run's images and files on its user message: as parts for a model that takes media (a file no
    provider takes as a document, plain text, is inlined as text), else inlined as text (their bytes fetched
    first when only a URL holds them)."""
    message.images, message.files = images, files
    native = getattr(model, "supports_media", False)
    await asyncio.gather(*(f.aload() for f in files or ()))  # no provider takes a file's URL
    inline = [f for f in files or () if not native or f.textual]
    if inline or (images and not native):
        text = await asyncio.to_thread(text_for_model, message.content, None if native else images, inline)
        message.content = text


def media_parts(message: Message) -> tuple[list[Image], list[File]]:
    """The images and the files a native formatter sends as parts (inlined text files are left out)."""
    return list(message.images or ()), [f for f in message.files or () if not f.textual]


def unavailable(media: Media) -> str:
    """What a model is told of a medium whose bytes are not at hand (a reference read back from history)."""
    return f"(a {media.kind}, {media.label}, was attached here; it is no longer available)"


def media_key(user_id: str | None, run_id: str, media_id: str) -> str:
    """Where a run's medium is stored: under its user (hashed: an id may hold any character), its run, its id."""
    user = hashlib.sha256(user_id.encode()).hexdigest()[:32] if user_id is not None else "anonymous"
    return f"media/{user}/{run_id}/{media_id}"


class LocalBlobStore(BlobStore):
    """Bytes in files under a folder (a run's media under `.stratus/media` locally)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"invalid key {key!r}")
        return self.folder.joinpath(*parts)

    async def put(self, key: str, data: bytes) -> None:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(data)
            partial.replace(path)  # a reader never sees half a file

        await asyncio.to_thread(write)

    async def get(self, key: str) -> bytes:
        """The bytes; raises `KeyError` when none are stored under `key`."""
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise KeyError(key) from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)


def _guess_type(name: str | None) -> str | None:
    if not name:
        return None
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _EXTRA_TYPES.get(extension) or mimetypes.guess_type(name.split("?")[0])[0]


def _format_of(name: str | None, mime_type: str | None) -> str | None:
    if name:
        tail = name.split("?")[0].rsplit("/", 1)[-1]
        if "." in tail:
            return tail.rsplit(".", 1)[-1].lower()
    if mime_type:
        sub = mime_type.split("/")[-1].split(";")[0]
        return {"jpeg": "jpeg", "plain": "txt", "markdown": "md"}.get(sub, sub)
    return None
