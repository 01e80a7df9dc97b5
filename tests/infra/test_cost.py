"""The cost estimate reads what the synthesized stack provisions and prices it: at rest and per 1,000 runs."""

from __future__ import annotations

from infra.cost import RunProfile, bedrock_price, estimate
from tests.infra.synth import Synthesized


def test_the_estimate_prices_what_the_stack_provisions(api_key_stack: Synthesized) -> None:
    result = estimate(api_key_stack.template, runs=1000)
    report = result.report()

    # at rest: OpenSearch Serverless' minimum compute dominates, and it is counted from the template
    opensearch = [name for name in result.at_rest if name.startswith("OpenSearch Serverless")]
    assert opensearch, report
    assert result.at_rest[opensearch[0]] >= 0.24 * 730  # at least one OCU around the clock
    assert any(name.startswith("Secrets Manager") for name in result.at_rest)
    assert any(name.startswith("CloudWatch alarms") for name in result.at_rest)
    # the SnapStart functions' cached snapshots, by their memory, around the clock
    (snapshots,) = [name for name in result.at_rest if name.startswith("Lambda SnapStart snapshots")]
    snap_started = [
        f["Properties"]
        for f in api_key_stack.of_type("AWS::Lambda::Function").values()
        if "SnapStart" in f["Properties"]
    ]
    assert f"({len(snap_started)}, " in snapshots
    cached_gb = sum(f["MemorySize"] for f in snap_started) / 1024
    assert abs(result.at_rest[snapshots] - cached_gb * 730 * 3600 * 0.0000015046) < 0.01
    # per run: every line is priced, and the total is a plausible figure for 1,000 runs (cents to dollars)
    assert all(value >= 0 for value in result.per_runs.values())
    assert 0.01 < sum(result.per_runs.values()) < 50, report
    assert "Per 1,000 runs" in report


def test_more_runs_and_more_tokens_cost_more(api_key_stack: Synthesized) -> None:
    small = estimate(api_key_stack.template, runs=1000)
    large = estimate(api_key_stack.template, runs=10_000, profile=RunProfile(input_tokens=20_000))
    assert sum(large.per_runs.values()) > 10 * sum(small.per_runs.values()) * 0.99
    assert large.at_rest == small.at_rest  # nothing at rest depends on traffic


def test_bedrock_prices_are_found_for_profiles_and_plain_ids() -> None:
    assert bedrock_price("bedrock:us.amazon.nova-lite-v1:0") == bedrock_price("bedrock:amazon.nova-lite-v1:0")
    assert bedrock_price("bedrock:amazon.nova-lite-v1:0") is not None
    assert bedrock_price("openai:gpt-4o-mini") is None
    assert bedrock_price("bedrock:unknown.model") is None
