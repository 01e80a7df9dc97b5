"""Lambda: `/eval-runs` and `/optimize-memories`, which both ask a model. An eval runs its agent or team (maybe
many times), so on AWS the Lambda Web Adapter serves `app` with uvicorn, past API Gateway's 29 s; `handler`
serves the same routes buffered, for `stratus invoke`."""

from stratus.aws.handlers import asgi_app, buffered_fallback

app = asgi_app("evals", "optimize_memories")
handler = buffered_fallback("evals", "optimize_memories")
