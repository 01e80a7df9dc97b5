"""What a deployment costs: at rest per month, and per 1,000 runs, estimated from the synthesized template.

    python infra/cost.py                                   # reads cdk.out/*.template.json (`make synth` first)
    python infra/cost.py --template path.json --runs 1000 --input-tokens 2000 --output-tokens 400

Reads what the stack really provisions (functions and their memory, the OpenSearch Serverless collection and
whether it keeps standby replicas, secrets, alarms, KMS keys, X-Ray tracing) and prices it with AWS's public
list prices for us-east-1 (`PRICES`, dated below: check https://aws.amazon.com/pricing/ for your region and
today). Free tiers are left out. A run is modelled as one API call to the agent runs function, a few
DynamoDB reads and writes, a learning job through SQS and the learning worker, and the tokens you give for
the run and its learning extraction, at the Bedrock price of the configured model.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BEDROCK_PRICES", "PRICES", "Estimate", "RunProfile", "estimate", "main"]

ROOT = Path(__file__).resolve().parents[1]
HOURS_PER_MONTH = 730

PRICES_AS_OF = "2026-11"
PRICES: dict[str, float] = {
    "lambda_gb_second": 0.0000166667,  # x86_64
    "lambda_request": 0.20 / 1e6,
    "apigw_rest_request": 3.50 / 1e6,
    "dynamodb_read": 0.125 / 1e6,  # on-demand read request unit
    "dynamodb_write": 0.625 / 1e6,  # on-demand write request unit
    "dynamodb_gb_month": 0.25,
    "sqs_request": 0.40 / 1e6,
    "s3_gb_month": 0.023,
    "secret_month": 0.40,
    "secret_call": 0.05 / 10_000,
    "aoss_ocu_hour": 0.24,  # OpenSearch Serverless compute unit (indexing or search)
    "aoss_gb_month": 0.024,
    "alarm_month": 0.10,
    "kms_key_month": 1.00,
    "logs_gb": 0.50,  # CloudWatch Logs ingestion
    "xray_trace": 5.00 / 1e6,
    "snapstart_cache_gb_second": 0.0000015046,  # a SnapStart version's snapshot, by memory, while it is active
    "snapstart_restore_gb": 0.0001397998,  # each execution environment resumed from a snapshot, by memory
}
"""USD list prices in us-east-1 (no free tier)."""

BEDROCK_PRICES: dict[str, tuple[float, float]] = {
    "amazon.nova-micro": (0.035, 0.14),
    "amazon.nova-lite": (0.06, 0.24),
    "amazon.nova-pro": (0.80, 3.20),
    "anthropic.claude-3-5-haiku": (0.80, 4.00),
    "anthropic.claude-haiku-4-5": (1.00, 5.00),
    "anthropic.claude-sonnet-4": (3.00, 15.00),
    "meta.llama3-1-8b-instruct": (0.22, 0.22),
    "mistral.mistral-small": (0.10, 0.30),
}
"""USD per million input and output tokens, by model id prefix (a cross-region profile's `us.` is dropped)."""


@dataclass(frozen=True)
class RunProfile:
    """What one run does, for the estimate."""

    input_tokens: int = 2_000
    output_tokens: int = 400
    learning_input_tokens: int = 1_000
    learning_output_tokens: int = 150
    seconds: float = 3.0  # the agent runs function's billed duration (it mostly waits on the model)
    learning_seconds: float = 1.0
    dynamodb_reads: int = 4  # session, history, memories, learnings
    dynamodb_writes: int = 3  # the run, its session, a memory
    log_kb: float = 6.0


@dataclass
class Estimate:
    """Costs in USD, by line."""

    at_rest: dict[str, float] = field(default_factory=dict[str, float])
    per_runs: dict[str, float] = field(default_factory=dict[str, float])
    runs: int = 1000
    notes: list[str] = field(default_factory=list[str])

    def report(self) -> str:
        lines = [f"At rest, per month (prices: AWS list, us-east-1, {PRICES_AS_OF}; no free tier):"]
        lines += [f"  {name:<44} ${value:>10.2f}" for name, value in self.at_rest.items()]
        lines.append(f"  {'total':<44} ${sum(self.at_rest.values()):>10.2f}")
        lines.append(f"Per {self.runs:,} runs:")
        lines += [f"  {name:<44} ${value:>10.4f}" for name, value in self.per_runs.items()]
        lines.append(f"  {'total':<44} ${sum(self.per_runs.values()):>10.4f}")
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in template.get("Resources", {}).values() if r.get("Type") == kind]


def _service(function: dict[str, Any]) -> str:
    variables = function.get("Environment", {}).get("Variables", {})
    return str(variables.get("POWERTOOLS_SERVICE_NAME", "")).removeprefix("stratus-")


def _model_id(template: dict[str, Any]) -> str | None:
    for function in _resources(template, "AWS::Lambda::Function"):
        spec = function.get("Environment", {}).get("Variables", {}).get("STRATUS_MODEL")
        if isinstance(spec, str) and spec:
            return spec
    return None


def bedrock_price(model: str | None) -> tuple[float, float] | None:
    """USD per million input and output tokens of a `bedrock:<id>` model, if the table knows it."""
    if model is None or not model.startswith("bedrock:"):
        return None
    model_id = model.removeprefix("bedrock:").split("/")[-1]
    for prefix in ("us.", "eu.", "apac.", "global."):
        model_id = model_id.removeprefix(prefix)
    for known, price in BEDROCK_PRICES.items():
        if model_id.startswith(known):
            return price
    return None


def estimate(template: dict[str, Any], *, runs: int = 1000, profile: RunProfile | None = None) -> Estimate:
    """The estimate for `runs` runs of `profile` on the stack `template` describes."""
    profile = profile or RunProfile()
    out = Estimate(runs=runs)
    p = PRICES

    collections = _resources(template, "AWS::OpenSearchServerless::Collection")
    if collections:
        # Idle, a vector collection scales down to 0.5 OCU for indexing and 0.5 for search, doubled with
        # standby replicas (the default): 2 OCUs billed around the clock, or 1 with standby off (dev/test).
        standby = any(c.get("StandbyReplicas", "ENABLED") == "ENABLED" for c in collections)
        ocus = 2.0 if standby else 1.0
        out.at_rest[f"OpenSearch Serverless ({ocus:g} OCU minimum)"] = ocus * HOURS_PER_MONTH * p["aoss_ocu_hour"]
        out.notes.append(
            "OpenSearch Serverless' minimum compute is most of the cost at rest (more while it indexes or "
            "searches, up to the account's capacity limits); with standby replicas off (dev/test) it is halved."
        )
    secrets = len(_resources(template, "AWS::SecretsManager::Secret"))
    if secrets:
        out.at_rest[f"Secrets Manager ({secrets} secret{'s' if secrets != 1 else ''})"] = secrets * p["secret_month"]
    alarms = len(_resources(template, "AWS::CloudWatch::Alarm"))
    if alarms:
        out.at_rest[f"CloudWatch alarms ({alarms})"] = alarms * p["alarm_month"]
    keys = len(_resources(template, "AWS::KMS::Key"))
    if keys:
        out.at_rest[f"KMS customer-managed keys ({keys})"] = keys * p["kms_key_month"]
    out.at_rest["DynamoDB and S3 storage (1 GB each)"] = p["dynamodb_gb_month"] + p["s3_gb_month"]
    snap_started = [
        f
        for f in _resources(template, "AWS::Lambda::Function")
        if f.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions"
    ]
    if snap_started:
        cached_gb = sum(float(f.get("MemorySize", 128)) for f in snap_started) / 1024
        out.at_rest[f"Lambda SnapStart snapshots ({len(snap_started)}, {cached_gb:.1f} GB)"] = (
            cached_gb * HOURS_PER_MONTH * 3600 * p["snapstart_cache_gb_second"]
        )
        out.notes.append(
            "SnapStart caches one snapshot per function's live version, billed by its memory around the clock, "
            f"and each cold start resumed from it costs ${p['snapstart_restore_gb']:.7f} per GB of memory; "
            "deploy with -c snap_start=false to pay neither (and run INIT on every cold start)."
        )

    functions = {_service(f): f for f in _resources(template, "AWS::Lambda::Function")}

    def gb(name: str, default: int = 1024) -> float:
        return float(functions.get(name, {}).get("MemorySize", default)) / 1024

    traced = any(f.get("TracingConfig", {}).get("Mode") == "Active" for f in functions.values())
    n = float(runs)
    out.per_runs["API Gateway (REST) requests"] = n * p["apigw_rest_request"]
    out.per_runs["Lambda: agent runs"] = n * (profile.seconds * gb("agent_runs") * p["lambda_gb_second"])
    out.per_runs["Lambda: learning worker"] = n * (
        profile.learning_seconds * gb("learning_worker") * p["lambda_gb_second"]
    )
    out.per_runs["Lambda requests"] = 2 * n * p["lambda_request"]
    out.per_runs["DynamoDB requests"] = n * (
        profile.dynamodb_reads * p["dynamodb_read"] + profile.dynamodb_writes * p["dynamodb_write"]
    )
    out.per_runs["SQS (learning job: send, receive, delete)"] = 3 * n * p["sqs_request"]
    out.per_runs["Secrets Manager calls (cached per container)"] = 0.05 * n * p["secret_call"]
    out.per_runs["CloudWatch Logs ingestion"] = n * profile.log_kb / 1024 / 1024 * p["logs_gb"]
    if traced:
        out.per_runs["X-Ray traces"] = 2 * n * p["xray_trace"]
    model = _model_id(template)
    price = bedrock_price(model)
    tokens_in = profile.input_tokens + profile.learning_input_tokens
    tokens_out = profile.output_tokens + profile.learning_output_tokens
    if price is not None:
        cost = n * (tokens_in * price[0] + tokens_out * price[1]) / 1e6
        out.per_runs[f"Bedrock tokens ({model}, {tokens_in} in / {tokens_out} out per run)"] = cost
    else:
        out.notes.append(
            f"model {model or '(none set)'} is not in the price table: its tokens are not counted "
            f"({tokens_in} in / {tokens_out} out per run)"
        )
    return out


def _find_template() -> Path:
    found = sorted((ROOT / "cdk.out").glob("*.template.json"))
    if not found:
        raise SystemExit("no template in cdk.out/: run `make synth` first, or pass --template")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, help="a synthesized template (default: cdk.out/*.template.json)")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--input-tokens", type=int, default=RunProfile.input_tokens)
    parser.add_argument("--output-tokens", type=int, default=RunProfile.output_tokens)
    parser.add_argument("--seconds", type=float, default=RunProfile.seconds, help="billed seconds of one run")
    args = parser.parse_args(argv)
    template = json.loads((args.template or _find_template()).read_text())
    profile = RunProfile(input_tokens=args.input_tokens, output_tokens=args.output_tokens, seconds=args.seconds)
    print(estimate(template, runs=args.runs, profile=profile).report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
