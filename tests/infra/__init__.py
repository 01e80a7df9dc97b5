"""Tests of the CDK app: real synthesis (Node, no Docker, no AWS), assertions on the template, cdk-nag."""
