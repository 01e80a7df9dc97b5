"""Images and files as run input: each provider gets them in its native form over the real SDK (checked at the
fake OpenAI and Bedrock servers), a model that takes no media gets a file's text, and the stored run lists
them as references only."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from stratus import Agent
from stratus.media import File, Image, text_for_model
from stratus.messages import Message
from stratus.models.anthropic import AnthropicChat
from stratus.models.bedrock import BedrockChat
from stratus.models.openai import OpenAIChat
from stratus.models.testing import ScriptedModel
from stratus.run import RunOutput, RunStatus
from stratus.storage.sqlite import SqliteStore
from tests.fakes.anthropic_server import FakeAnthropicServer
from tests.fakes.bedrock_server import FakeBedrockServer
from tests.fakes.openai_server import FakeOpenAIServer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PDF_HEAD = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "stratus.db")


async def _stored(store: SqliteStore, out: RunOutput) -> dict[str, Any]:
    run = await store.get_run(out.run_id)
    assert run is not None
    return run.to_dict()


async def test_an_image_and_a_pdf_reach_openai_as_native_parts_and_the_run_lists_them(store: SqliteStore) -> None:
    with FakeOpenAIServer() as server:
        model = OpenAIChat(api_key="k", base_url=server.base_url)
        agent = Agent(model=model, store=store)
        out = await agent.arun(
            "what is in these?",
            images=[Image(content=PNG, mime_type="image/png"), Image(url="https://example.com/cat.jpg")],
            files=[File(content=PDF_HEAD, filename="report.pdf")],
            user_id="ann",
        )
        await model.aclose()

    assert out.status is RunStatus.COMPLETED, out.error
    user = server.requests[0].messages[-1]
    assert user["role"] == "user"
    parts = user["content"]
    assert parts[0] == {"type": "text", "text": "what is in these?"}
    assert parts[1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
    }
    assert parts[2] == {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    assert parts[3]["type"] == "file"
    assert parts[3]["file"]["filename"] == "report.pdf"
    assert parts[3]["file"]["file_data"] == "data:application/pdf;base64," + base64.b64encode(PDF_HEAD).decode()

    stored = await _stored(store, out)
    media = out.input.file_media if out.input else None
    assert media is not None
    images = stored["images"]
    assert isinstance(images, list)
    assert len(images) == 2
    assert images[0]["mime_type"] == "image/png"
    assert images[0]["size"] == len(PNG)
    assert images[1]["url"] == "https://example.com/cat.jpg"
    assert stored["files"] == [  # references only
        {
            "id": media[0].id,
            "filename": "report.pdf",
            "format": "pdf",
            "mime_type": "application/pdf",
            "size": len(PDF_HEAD),
        }
    ]
    record = json.dumps(stored_run.to_record()) if (stored_run := await store.get_run(out.run_id)) else ""
    assert base64.b64encode(PNG).decode() not in record
    assert "PDF-1.4" not in record
    assert stored["input"]["images"] == images


async def test_an_image_and_a_document_reach_bedrock_as_blocks_with_their_bytes(store: SqliteStore) -> None:
    with FakeBedrockServer() as server:
        import boto3

        # A client of the caller's, with fake credentials: nothing from this machine's AWS configuration.
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=server.url,
            aws_access_key_id="t",
            aws_secret_access_key="t",
        )
        model = BedrockChat("us.amazon.nova-lite-v1:0", client=client)
        out = await Agent(model=model, store=store).arun(
            "describe",
            images=[Image.from_base64(base64.b64encode(PNG).decode(), filename="dot.png")],
            files=[File(content=PDF_HEAD, filename="q3 report.pdf")],
        )
        await model.aclose()

    assert out.status is RunStatus.COMPLETED, out.error
    blocks = server.requests[0].messages[-1]["content"]
    assert blocks[0] == {"text": "describe"}
    assert blocks[1] == {"image": {"format": "png", "source": {"bytes": base64.b64encode(PNG).decode()}}}
    document = blocks[2]["document"]
    assert document["format"] == "pdf"
    assert document["name"] == "q3 report 1"
    assert document["source"]["bytes"] == base64.b64encode(PDF_HEAD).decode()
    stored = await _stored(store, out)
    assert [i["filename"] for i in stored["images"]] == ["dot.png"]


async def test_a_model_that_takes_no_media_reads_the_files_text_and_hears_the_image_is_unavailable(
    store: SqliteStore, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# Plan\nship on Friday")
    model = ScriptedModel("ok")
    out = await Agent(model=model, store=store).arun(
        "summarise", files=[File(filepath=notes)], images=[Image(content=PNG, filename="dot.png")]
    )

    assert out.status is RunStatus.COMPLETED, out.error
    text = model.requests[0][-1].content or ""
    assert text.startswith("summarise")
    assert '<file name="notes.md">' in text
    assert "ship on Friday" in text
    assert "dot.png" in text
    assert "cannot see images" in text
    stored = await _stored(store, out)
    assert [f["filename"] for f in stored["files"]] == ["notes.md"]


def test_a_message_with_media_round_trips_as_references() -> None:
    image = Image(content=PNG, mime_type="image/png")
    message = Message(role="user", content="hi", images=[image])
    data = message.to_dict()
    assert "content" not in data["images"][0]
    back = Message.from_dict(data)
    assert back.content == "hi"
    assert back.images is not None
    assert back.images[0].id == image.id
    assert back.images[0].content is None
    assert back.images[0].size == len(PNG)
    assert Message.from_dict(Message(role="user", content="plain").to_dict()).images is None


def test_media_sources_are_checked() -> None:
    with pytest.raises(ValueError, match="one of"):
        Image(url="https://example.com/a.png", content=PNG)
    with pytest.raises(ValueError, match="base64"):
        Image.from_base64("not base64!")
    assert Image.from_base64("data:image/webp;base64," + base64.b64encode(b"RIFF").decode()).mime_type == "image/webp"
    assert "could not be read" in text_for_model(None, None, [File(content=b"\x00\x01", filename="x.docx")])


async def test_an_image_and_a_pdf_reach_anthropic_as_image_and_document_blocks(store: SqliteStore) -> None:
    with FakeAnthropicServer() as server:
        model = AnthropicChat(id="claude-sonnet-4-5", api_key="k", base_url=server.url, max_retries=0)
        out = await Agent(model=model, store=store).arun(
            "read",
            images=[Image(url="https://example.com/cat.jpg")],
            files=[File(content=PDF_HEAD, filename="r.pdf"), File(content=b"a,b\n1,2\n", filename="t.csv")],
        )
        await model.aclose()

    assert out.status is RunStatus.COMPLETED, out.error
    blocks = server.requests[0].body["messages"][-1]["content"]
    assert blocks[0]["type"] == "text"
    assert blocks[0]["text"].startswith("read")
    assert '<file name="t.csv">' in blocks[0]["text"]  # plain text goes as text
    assert blocks[1] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    assert blocks[2] == {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": base64.b64encode(PDF_HEAD).decode()},
    }
