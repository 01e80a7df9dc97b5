"""Every queue message reads back only at a version this code knows: anything else is a SchemaVersionError,
whatever the queue carries (so a worker reports it, and it ends in the dead-letter queue, not a crash)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stratus.background import BackgroundRun
from stratus.exceptions import SchemaVersionError
from stratus.knowledge.ingestion import IngestionJob
from stratus.learning import LearningJob

JOBS: dict[str, Any] = {
    "background run": BackgroundRun(
        agent_id="a", run_id="r", session_id="s", user_id="u", message="hi", input_content="hi"
    ),
    "ingestion": IngestionJob(knowledge_id="k", content_id="c", blob_key="b"),
    "learning": LearningJob(run_id="r", session_id="s", agent_id="a"),
}


@pytest.mark.parametrize("job", JOBS.values(), ids=list(JOBS))
def test_a_job_reads_back_as_it_was_written(job: Any) -> None:
    assert type(job).from_json(job.to_json()) == job


@pytest.mark.parametrize(("what", "job"), JOBS.items(), ids=list(JOBS))
@pytest.mark.parametrize(
    "mangle",
    [
        lambda data: "not json {",
        lambda data: json.dumps({**data, "version": 99}),
        lambda data: json.dumps({k: v for k, v in data.items() if k != "version"}),
        lambda data: json.dumps({**data, "surprise": 1}),
        lambda data: json.dumps([data]),
    ],
    ids=["not-json", "other-version", "no-version", "unknown-field", "not-an-object"],
)
def test_a_message_this_code_does_not_know_is_a_schema_version_error(what: str, job: Any, mangle: Any) -> None:
    text = mangle(json.loads(job.to_json()))

    with pytest.raises(SchemaVersionError, match=what):
        type(job).from_json(text)
