"""The Lambda layer builds without Docker, for Lambda's platform, without what the runtime provides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(600)
def test_the_layer_builds_for_lambda_without_the_runtimes_own_packages(tmp_path: Path) -> None:
    target = tmp_path / "layer"
    result = subprocess.run(
        [sys.executable, str(ROOT / "layers" / "build.py"), "--target", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    site = target / "python"
    assert (site / "stratus" / "aws" / "handlers.py").is_file()
    for needed in ("fastapi", "pydantic_core", "mangum", "aws_lambda_powertools", "uvicorn", "openai"):
        assert (site / needed).is_dir(), needed
    for provided in ("boto3", "botocore", "s3transfer"):
        assert not (site / provided).exists(), f"{provided} is in the Lambda runtime already"
    binaries = list((site / "pydantic_core").glob("*.so"))
    assert binaries
    assert all("cpython-312-x86_64-linux-gnu" in b.name for b in binaries)  # Lambda's, not this machine's
    assert "MB unzipped" in result.stdout
    assert sum(f.stat().st_size for f in target.rglob("*") if f.is_file()) < 200 * 1024 * 1024
