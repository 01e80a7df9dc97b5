"""Lambda: `/a2a`, the app's agents and teams over the A2A protocol. On AWS the Lambda Web Adapter serves `app`
with uvicorn, so `message:stream` streams (and a task may run up to 15 minutes); `handler` serves the same
routes buffered, for `stratus invoke`."""

from stratus.aws.handlers import asgi_app, buffered_fallback

app = asgi_app("a2a")
handler = buffered_fallback("a2a")
