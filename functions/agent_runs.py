"""Lambda: `/agents` and their runs. On AWS the Lambda Web Adapter serves `app` with uvicorn, so runs stream
(and may take up to 15 minutes); `handler` serves the same routes buffered, for `stratus invoke`."""

from stratus.aws.handlers import asgi_app, buffered_fallback

app = asgi_app("agents")
handler = buffered_fallback("agents")
