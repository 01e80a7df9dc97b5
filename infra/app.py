"""The CDK app: `python infra/app.py` (or `npx aws-cdk synth`, which runs it) synthesizes the stratus stack
into `cdk.out/`, checked by cdk-nag's AwsSolutions rules.

Context (`-c name=value`): `app` (module:attribute, default examples.demo:app), `auth` (api_key or
cognito), `user_pool_id` (with cognito: use this pool), `layer_path` (default layers/build), `code_root`
(default: the repository), `alarm_email`, `stack_name` (default Stratus), `model` (default
bedrock:us.amazon.nova-lite-v1:0; or openai:<model>), `model_region` (default: the stack's), `throttle_rate`
and `throttle_burst` (default 100 and 200 requests per second), `max_concurrency` (a number, `none`, or JSON
by function kind or name; defaults in `infra.config.DEFAULT_MAX_CONCURRENCY`), `auth_cache_seconds`
(default 300).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:
    # Run as a script: import `infra` from the repository, not its modules from infra/ (which shadow stdlib).
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import InfraConfigError, StratusConfig
from infra.stack import StratusStack

__all__ = ["FEATURE_FLAGS", "STAGING_DIRECTORY", "build", "create_app", "main"]

FEATURE_FLAGS: Mapping[str, Any] = {
    # Behaviours newer CDK projects get by default, set here so `python infra/app.py`, `cdk synth` and the
    # tests build the same template (cdk.json is read only by the CLI).
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,  # log delivery by bucket policy, not ACLs
    "@aws-cdk/aws-s3:createDefaultLoggingPolicy": True,
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/aws-iam:standardizedServicePrincipals": True,
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
    "@aws-cdk/aws-sns:enforceSslPolicy": True,
}

STAGING_DIRECTORY = ".stratus-code"
"""Where, inside the cloud assembly, the functions' code is staged before it becomes assets."""


def create_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """An App with the project's feature flags, then `context` (which wins), writing to `outdir`."""
    return App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)


def build(app: App) -> StratusStack:
    """Add the stratus stack to `app` from its context, with cdk-nag's AwsSolutions checks."""
    config = StratusConfig.from_context(app.node)
    stack_name = str(app.node.try_get_context("stack_name") or "Stratus")
    stack = StratusStack(app, stack_name, config=config, staging_root=Path(app.outdir) / STAGING_DIRECTORY)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def main() -> None:
    # The CDK CLI names the output directory; run directly, write where the CLI would.
    outdir = None if os.environ.get("CDK_OUTDIR") else str(Path(__file__).resolve().parent.parent / "cdk.out")
    app = create_app(outdir=outdir)
    try:
        build(app)
    except InfraConfigError as error:
        sys.exit(f"stratus infra: {error}")
    app.synth()


if __name__ == "__main__":
    main()
