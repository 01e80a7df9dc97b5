"""Build the Lambda layer every function shares, without Docker.

    python layers/build.py [--target layers/build] [--python 3.12]

pip downloads the manylinux wheels of stratus' runtime dependencies (the `aws` extra's and the core's) for
Lambda's platform into `<target>/python`, then installs stratus itself (pure Python) beside them. What the
Lambda runtime already provides (boto3, botocore, s3transfer) is left out. The unzipped size is printed, and
the build fails past 200 MB (Lambda's limit for a function and its layers is 250 MB unzipped).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 200 * 1024 * 1024
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")
PLATFORM = "manylinux2014_x86_64"


def requirements() -> list[str]:
    """stratus' runtime dependencies for Lambda: the core's and the `aws` extra's, minus the runtime's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["aws"]]
    return [
        r for r in wanted if not r.split("[")[0].split(">")[0].split("=")[0].strip().startswith(PROVIDED_BY_RUNTIME)
    ]


def size_of(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def build(target: Path, python: str) -> int:
    site = target / "python"
    if target.exists():
        shutil.rmtree(target)
    site.mkdir(parents=True)
    common = ["--target", str(site), "--upgrade"]
    pip(
        *common,
        "--platform",
        PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        python,
        "--only-binary=:all:",
        *requirements(),
    )
    pip(*common, "--no-deps", str(ROOT))  # stratus itself: pure Python, any platform
    removed = 0
    for name in PROVIDED_BY_RUNTIME:
        for path in [*site.glob(name), *site.glob(f"{name}-*.dist-info")]:
            removed += size_of(path) if path.is_dir() else path.stat().st_size
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for cache in site.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    total = size_of(target)
    print(
        f"layer: {target} is {total / 1024 / 1024:.1f} MB unzipped "
        f"({removed / 1024 / 1024:.1f} MB that the runtime provides left out)"
    )
    if total > LIMIT_BYTES:
        print(f"layer: larger than {LIMIT_BYTES // 1024 // 1024} MB: refusing it", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the Lambda layer every function shares, without Docker.")
    parser.add_argument("--target", type=Path, default=ROOT / "layers" / "build")
    parser.add_argument("--python", default="3.12", help="the Lambda runtime's Python version")
    args = parser.parse_args()
    return build(args.target, args.python)


if __name__ == "__main__":
    sys.exit(main())
