"""Lambda: `/metrics`, `/metrics/refresh` and `/metrics/refresh/status` (the runs aggregated per day)."""

from stratus.aws.handlers import api_handler

handler = api_handler("metrics")
