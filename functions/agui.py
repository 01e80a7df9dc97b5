"""Lambda: `/agui`, the app's agents and teams over AG-UI. On AWS the Lambda Web Adapter serves `app` with
uvicorn, so the events stream (and a run may take up to 15 minutes); `handler` serves the same routes buffered,
for `stratus invoke`."""

from stratus.aws.handlers import asgi_app, buffered_fallback

app = asgi_app("agui")
handler = buffered_fallback("agui")
