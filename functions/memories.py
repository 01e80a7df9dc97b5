"""Lambda: `/memories`, `/memory_topics`, `/user_memory_stats` and `/learnings`."""

from stratus.aws.handlers import api_handler

handler = api_handler("memories", "learnings")
