"""Lambda: `/sessions` and everything below it."""

from stratus.aws.handlers import api_handler

handler = api_handler("sessions")
