"""Lambda: API Gateway's REQUEST authorizer (`auth=api_key`): checks the bearer key before any route runs."""

from stratus.aws.authorizer import authorizer_handler

handler = authorizer_handler()
