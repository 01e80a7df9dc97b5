"""Lambda: the SQS consumer of knowledge ingestion jobs."""

from stratus.aws.workers import knowledge_worker_handler

handler = knowledge_worker_handler()
