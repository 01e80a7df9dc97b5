"""Lambda: the SQS consumer of background runs."""

from stratus.aws.workers import run_worker_handler

handler = run_worker_handler()
