"""Running stratus on AWS Lambda: handlers for route groups and queues, authentication against Secrets
Manager, SQS queues, Powertools logging, tracing and metrics.

`stratus.aws.functions` (which function serves what) is plain data; everything else here loads boto3 and
Powertools, so only the Lambda functions and the tests import it.
"""
