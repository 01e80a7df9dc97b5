"""The bounded schema fuzzing CI runs on every change (`make fuzz` is the long one): every operation of the
live server's OpenAPI document, boundary values, random valid and invalid data and stateful sequences;
no 5xx, no undocumented status, no answer outside its schema; afterwards the server is up and every
listing reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.fuzz import failure_excerpt, fuzz

pytestmark = pytest.mark.e2e

SECONDS = int(os.environ.get("STRATUS_FUZZ_SECONDS", "60"))


@pytest.mark.timeout(SECONDS + 240)
def test_fuzzing_every_operation_finds_no_server_error_and_no_undocumented_answer(tmp_path: Path) -> None:
    result = fuzz(tmp_path, max_time=SECONDS)
    print(result.summary())
    assert result.operations >= 54, result.summary()
    assert result.generated >= 1000, result.summary()
    assert result.ok, result.summary() + "\n" + (failure_excerpt(result.report) if result.report else "")
