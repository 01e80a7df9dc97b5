"""Images and files over the run routes: multipart uploads sorted into images and files as AgentOS sorts them
(JSON `images`/`files` with URLs or base64 too), stored once beside the SQLite file, listed in the run, served
back to their owner only; limits answer 413 and 415 with nothing stored."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stratus import Agent, App, Team
from stratus.api import create_app
from stratus.api.auth import ApiKeyAuth, hash_key
from stratus.aws.queues import S3BlobStore
from stratus.media import MAX_MEDIA_BYTES, media_key
from stratus.models.testing import ScriptedModel
from stratus.storage.dynamodb import DynamoStore
from stratus.storage.sqlite import SqliteStore
from tests.aws import REGION, MotoServer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
ALICE = {"authorization": "Bearer k-alice"}
BOB = {"authorization": "Bearer k-bob"}


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel(*(["seen"] * 10))


@pytest.fixture
def client(tmp_path: Path, model: ScriptedModel) -> Iterator[TestClient]:
    agent = Agent(id="looker", model=model)
    team = Team(id="crew", members=[Agent(id="member", model=ScriptedModel("x"))], model=ScriptedModel("x"))
    app = App(agents=[agent], teams=[team], store=SqliteStore(tmp_path / "api.db"))
    auth = ApiKeyAuth({hash_key("k-alice"): "alice", hash_key("k-bob"): "bob"})
    with TestClient(create_app(app, auth=auth)) as c:
        yield c


def _media_dir(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "media"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _run(client: TestClient, **kwargs: Any) -> Any:
    return client.post("/agents/looker/runs", headers=ALICE, data={"message": "look", "stream": "false"}, **kwargs)


def test_an_uploaded_image_and_pdf_are_sorted_listed_stored_once_and_served_to_their_owner_only(
    client: TestClient, model: ScriptedModel, tmp_path: Path
) -> None:
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
    response = _run(
        client,
        files=[
            ("files", ("dot.png", PNG, "image/png")),
            ("files", ("notes.md", b"# Plan\nship it", "text/markdown")),
            ("files", ("report.pdf", pdf, "application/pdf")),
        ],
    )
    assert response.status_code == 200, response.text
    run = response.json()
    assert [i["filename"] for i in run["images"]] == ["dot.png"]
    assert [f["filename"] for f in run["files"]] == ["report.pdf"]
    assert run["images"][0]["stored"] is True
    assert "content" not in run["images"][0]
    assert run["input"]["files"][0] == "notes.md"  # a text file is inlined, as before
    sent = model.requests[0][-1]
    assert "ship it" in (sent.content or "")
    assert sent.images is not None
    assert sent.images[0].content == PNG

    stored = client.get(f"/agents/looker/runs/{run['run_id']}", headers=ALICE, params={"session_id": run["session_id"]})
    assert stored.status_code == 200, stored.text
    assert stored.json()["images"] == run["images"]
    assert len(_media_dir(tmp_path)) == 2  # the image and the PDF, once each

    image_id = run["images"][0]["id"]
    served = client.get(f"/media/{run['run_id']}/{image_id}", headers=ALICE)
    assert served.status_code == 200, served.text
    assert served.content == PNG
    assert served.headers["content-type"] == "image/png"
    assert client.get(f"/media/{run['run_id']}/{image_id}", headers=BOB).status_code == 404
    assert client.get(f"/media/{run['run_id']}/{image_id}", headers=BOB, params={"user_id": "alice"}).status_code == 404
    assert client.get(f"/media/{run['run_id']}/nope", headers=ALICE).status_code == 404
    assert client.get(f"/media/{run['run_id']}/{image_id}").status_code == 401


def test_json_images_by_url_and_base64_reach_the_run(client: TestClient) -> None:
    body = {
        "message": "look",
        "stream": False,
        "images": [
            {"url": "https://example.com/cat.jpg"},
            {"content": base64.b64encode(PNG).decode(), "mime_type": "image/png"},
        ],
    }
    response = client.post("/agents/looker/runs", headers=ALICE, json=body)
    assert response.status_code == 200, response.text
    images = response.json()["images"]
    assert images[0]["url"] == "https://example.com/cat.jpg"
    assert "stored" not in images[0]  # a URL stays a reference
    assert images[1]["size"] == len(PNG)
    assert images[1]["stored"] is True
    form = client.post(
        "/agents/looker/runs",
        headers=ALICE,
        data={"message": "look", "stream": "false", "images": json.dumps([{"url": "https://example.com/a.png"}])},
    )
    assert form.status_code == 200, form.text
    assert form.json()["images"][0]["url"] == "https://example.com/a.png"


@pytest.mark.parametrize(
    ("files", "status"),
    [
        ([("files", ("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * MAX_MEDIA_BYTES, "image/png"))], 413),
        ([("files", ("fake.png", b"not an image at all", "image/png"))], 415),
        ([("files", ("song.mp3", b"ID3\x03\x00\x00\x00\x00\x00\x00", "audio/mpeg"))], 415),
        ([("files", ("dot.png", PNG, "image/png")), ("files", ("a.bin", b"\x00\x01\x02", "application/zip"))], 415),
        ([("files", (f"d{n}.png", PNG, "image/png")) for n in range(11)], 413),
    ],
)
def test_limits_refuse_with_413_or_415_and_store_nothing(
    client: TestClient, tmp_path: Path, files: list[Any], status: int
) -> None:
    response = _run(client, files=files)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert _media_dir(tmp_path) == []
    listed = client.get("/sessions", headers=ALICE)
    assert listed.status_code == 200
    assert listed.json()["data"] == []  # no run was started


def test_bad_json_media_and_media_for_a_team_are_refused(client: TestClient, tmp_path: Path) -> None:
    bad = client.post(
        "/agents/looker/runs", headers=ALICE, json={"message": "x", "images": [{"url": "file:///etc/passwd"}]}
    )
    assert bad.status_code == 422
    not_base64 = client.post(
        "/agents/looker/runs", headers=ALICE, json={"message": "x", "images": [{"content": "%%%"}]}
    )
    assert not_base64.status_code == 422
    huge = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * MAX_MEDIA_BYTES).decode()
    too_big = client.post("/agents/looker/runs", headers=ALICE, json={"message": "x", "images": [{"content": huge}]})
    assert too_big.status_code == 413
    team = client.post(
        "/teams/crew/runs",
        headers=ALICE,
        data={"message": "x", "stream": "false"},
        files=[("files", ("dot.png", PNG, "image/png"))],
    )
    assert team.status_code == 415
    assert _media_dir(tmp_path) == []


def test_on_aws_the_bytes_go_to_s3_once_and_dynamodb_keeps_references_only(moto: MotoServer) -> None:
    bucket = moto.new_bucket()
    store = DynamoStore(f"stratus-{uuid.uuid4().hex[:12]}", region=REGION, bucket=moto.new_bucket())
    store.create_table()
    model = ScriptedModel("seen")
    app = App(agents=[Agent(id="looker", model=model)], store=store)
    app.blob_store = S3BlobStore(bucket, client=moto.client("s3"))
    auth = ApiKeyAuth({hash_key("k-alice"): "alice", hash_key("k-bob"): "bob"})
    with TestClient(create_app(app, auth=auth)) as client:
        response = _run(client, files=[("files", ("dot.png", PNG, "image/png"))])
        assert response.status_code == 200, response.text
        run = response.json()
        image_id = run["images"][0]["id"]
        served = client.get(f"/media/{run['run_id']}/{image_id}", headers=ALICE)
        refused = client.get(f"/media/{run['run_id']}/{image_id}", headers=BOB)

    assert served.status_code == 200
    assert served.content == PNG
    assert refused.status_code == 404
    s3 = moto.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [media_key("alice", run["run_id"], image_id)]
    items = moto.client("dynamodb").scan(TableName=store.table)["Items"]
    dumped = json.dumps(items)
    assert base64.b64encode(PNG).decode() not in dumped
    assert image_id in dumped  # the reference is in the run's item


def test_the_session_runs_schema_lists_the_runs_images_and_files(client: TestClient) -> None:
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
    files = [("files", ("dot.png", PNG, "image/png")), ("files", ("r.pdf", pdf, "application/pdf"))]
    run = _run(client, files=files).json()
    listed = client.get(f"/sessions/{run['session_id']}/runs", headers=ALICE, params={"type": "agent"})
    assert listed.status_code == 200, listed.text
    (row,) = listed.json()
    assert [i["id"] for i in row["images"]] == [run["images"][0]["id"]]
    assert [f["filename"] for f in row["files"]] == ["r.pdf"]
