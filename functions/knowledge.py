"""Lambda: `/knowledge` (uploads are stored in S3 and queued; the knowledge worker ingests them)."""

from stratus.aws.handlers import api_handler

handler = api_handler("knowledge")
