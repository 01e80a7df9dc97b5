"""Lambda: `/sessions` and everything below it, a run's media (`/media`), and the paused runs' `/approvals`."""

from stratus.aws.handlers import api_handler

handler = api_handler("sessions", "media", "approvals")
