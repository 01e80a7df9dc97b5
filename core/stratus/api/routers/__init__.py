"""One router per resource, so a Lambda function can serve just its own routes."""
