"""Fixtures shared by the Lambda handler suites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws import MotoServer
from tests.integration.test_lambda_handlers import Deployment, _forget_functions  # pyright: ignore[reportPrivateUsage]


@pytest.fixture
def deployment(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Deployment]:
    """One deployment's resources in moto, its environment set, and the functions loaded fresh."""
    _forget_functions()
    yield Deployment(moto, monkeypatch, tmp_path)
    _forget_functions()
