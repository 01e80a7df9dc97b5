"""Lambda: `GET /health`, `GET /config` (no FastAPI: the fastest function to start)."""

from stratus.aws.health import health_handler

handler = health_handler()
