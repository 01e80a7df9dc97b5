"""Lambda: `/traces`, `/traces/...`, `/trace_session_stats` (the runs' spans) and `/info`."""

from stratus.aws.handlers import api_handler

handler = api_handler("traces", "info")
