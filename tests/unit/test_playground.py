"""The playground is served from the package with no external asset, under a CSP that runs only this server's
scripts; the libraries it vendors from npm are exactly the files the lock pins."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stratus.api import create_app
from stratus.api._playground import ASSETS
from tests.fakes.apps import lambda_test_app

ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND = ROOT / "core" / "stratus" / "api" / "playground"
OWN_FILES = ["index.html", "app.js", "app.css", "theme.js"]


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(lambda_test_app())) as client:
        yield client


def test_the_vendored_files_are_the_ones_the_lock_pins() -> None:
    package = json.loads((PLAYGROUND / "package.json").read_text())
    lock = json.loads((PLAYGROUND / "package-lock.json").read_text())
    manifest = json.loads((PLAYGROUND / "vendor" / "MANIFEST.json").read_text())

    assert set(package["dependencies"]) == {"marked", "dompurify", "@highlightjs/cdn-assets"}
    for name, version in package["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} is pinned exactly, not {version!r}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert {entry["package"] for entry in manifest.values()} == set(package["dependencies"])
    for vendored, entry in manifest.items():
        locked = lock["packages"][f"node_modules/{entry['package']}"]
        assert (entry["version"], entry["integrity"]) == (locked["version"], locked["integrity"]), vendored
        digest = hashlib.sha256((PLAYGROUND / "vendor" / vendored).read_bytes()).hexdigest()
        assert digest == entry["sha256"], f"vendor/{vendored} drifted from what npm ci gave: re-vendor it"
    served = {name.removeprefix("vendor/") for name in ASSETS if name.startswith("vendor/")}
    assert served <= set(manifest)


def test_the_vendored_files_are_the_ones_in_the_locked_tarballs() -> None:
    """Where npm's cache holds the tarballs the lock's integrity names (any machine that ran `npm ci`), each
    vendored file is byte for byte the one inside: the manifest's word is checked against the lock itself."""
    lock = json.loads((PLAYGROUND / "package-lock.json").read_text())
    manifest = json.loads((PLAYGROUND / "vendor" / "MANIFEST.json").read_text())
    cache = Path(os.environ.get("NPM_CONFIG_CACHE", Path.home() / ".npm")) / "_cacache" / "content-v2"
    checked = 0
    for vendored, entry in manifest.items():
        algorithm, digest = lock["packages"][f"node_modules/{entry['package']}"]["integrity"].split("-", 1)
        raw = base64.b64decode(digest)
        tarball = cache / algorithm / raw.hex()[:2] / raw.hex()[2:4] / raw.hex()[4:]
        if not tarball.is_file():
            continue
        data = tarball.read_bytes()
        assert hashlib.new(algorithm, data).digest() == raw, f"npm's cached {entry['package']} is not the locked one"
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            member = archive.extractfile(f"package/{entry['path']}")
            assert member is not None
            assert member.read() == (PLAYGROUND / "vendor" / vendored).read_bytes(), vendored
        checked += 1
    if not checked:
        pytest.skip("npm's cache holds none of the locked tarballs (run scripts/vendor_playground.py once)")


def test_the_vendored_scripts_name_the_pinned_versions() -> None:
    assert "marked v18.2.1" in (PLAYGROUND / "vendor" / "marked.umd.js").read_text()[:200]
    assert "DOMPurify 3.4.18" in (PLAYGROUND / "vendor" / "purify.min.js").read_text()[:200]
    assert "Highlight.js v11.12.0" in (PLAYGROUND / "vendor" / "highlight.min.js").read_text()[:200]


def test_the_page_loads_only_files_this_server_serves(client: TestClient) -> None:
    page = client.get("/playground")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>stratus playground</title>" in page.text
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert referenced, "the page loads its script and styles"
    for ref in referenced:
        if ref.startswith("data:"):
            continue
        assert not re.match(r"^[a-z]+://|^//", ref), f"{ref} is an external asset"
        response = client.get("/" + ref)
        assert response.status_code == 200, ref
        assert response.headers["x-content-type-options"] == "nosniff"
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), "no inline script: the CSP would block it"
    for name in OWN_FILES:
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", (PLAYGROUND / name).read_text()), name


def test_the_page_runs_only_this_servers_scripts(client: TestClient) -> None:
    headers = client.get("/playground").headers
    policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))

    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def test_assets_have_their_types_and_nothing_else_is_served(client: TestClient) -> None:
    for name, media_type in ASSETS.items():
        response = client.get(f"/playground/assets/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == media_type
        assert response.content == (PLAYGROUND / name).read_bytes()
    for name in ("index.html", "package.json", "vendor/MANIFEST.json", "../_app.py", "%2e%2e/_app.py", "nope.js"):
        assert client.get(f"/playground/assets/{name}").status_code == 404, name


def test_with_a_key_required_the_assets_stay_open_with_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATUS_API_KEY", "k" * 32)
    with TestClient(create_app(lambda_test_app())) as client:
        assert client.get("/playground").status_code == 200
        assert client.get("/playground/assets/app.js").status_code == 200
        assert client.get("/agents").status_code == 401  # the page asks for the key when the API says 401
    with TestClient(create_app(lambda_test_app(), docs=False, public_docs=False)) as client:
        assert client.get("/playground").status_code == 401
        assert client.get("/playground/assets/app.js").status_code == 401


def test_the_page_implements_the_dom_contract() -> None:
    """Every data-testid CONTRACT.md names (the browser tests drive the page by these alone) is in the page or its
    script, so the contract and the page cannot silently part."""
    contract = (PLAYGROUND / "CONTRACT.md").read_text()
    named = {t for t in re.findall(r"`([a-z]+(?:-[a-z]+)*)`", contract) if not t.startswith(("data-", "aria-"))}
    not_testids = {"code", "python", "files", "title"}  # words the contract quotes that are no data-testids
    source = (PLAYGROUND / "index.html").read_text() + (PLAYGROUND / "app.js").read_text()
    declared = set(re.findall(r'data-testid="([a-z-]+)"', source)) | set(re.findall(r'testid: "([a-z-]+)"', source))
    declared |= set(re.findall(r'testid: [\w.]+ \? "([a-z-]+)"', source))  # message-body, run-meta: top runs only
    declared |= set(re.findall(r'nestedBlock\([^,]+, "([a-z-]+)"', source))  # member-run, workflow-step
    missing = sorted(named - not_testids - declared)
    assert len(named) > 40
    assert missing == []


def test_the_package_data_ships_every_file_the_playground_serves() -> None:
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["stratus"]
    shipped = ["index.html", *ASSETS, "vendor/marked.LICENSE", "vendor/purify.LICENSE", "vendor/highlight.LICENSE"]
    for name in shipped:
        path = f"api/playground/{name}"
        assert any(fnmatch.fnmatch(path, p) for p in patterns), f"{path} is left out of the wheel"


def test_a_browser_revalidates_the_files_and_gets_no_body_when_they_are_unchanged(client: TestClient) -> None:
    for path in ("/playground", "/playground/assets/app.js", "/playground/assets/vendor/marked.umd.js"):
        first = client.get(path)
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "no-cache"

        again = client.get(path, headers={"if-none-match": etag})

        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert client.get(path, headers={"if-none-match": '"stale"'}).status_code == 200
    page_tag = client.get("/playground").headers["etag"]
    assert "content-security-policy" in client.get("/playground", headers={"if-none-match": page_tag}).headers
