"""Lambda: the SQS consumer of finished runs, which agents learn from (memories, profiles, insights)."""

from stratus.aws.workers import learning_worker_handler

handler = learning_worker_handler()
