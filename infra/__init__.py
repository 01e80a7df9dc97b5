"""The CDK app that puts stratus on AWS: `app.py` is the entry point, `stack.py` composes one construct per
concern (`data`, `knowledge`, `queues`, `credentials`, `monitoring`, `lambdas`, `api`).

It imports `stratus` only for shared constants (function specs, key schema, environment variable names), so
the stack and the code it deploys cannot disagree.
"""
