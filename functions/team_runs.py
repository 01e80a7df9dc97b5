"""Lambda: `/teams` and their runs. On AWS the Lambda Web Adapter serves `app` with uvicorn, so runs stream
(and may take up to 15 minutes; longer ones go `background=true` to the run worker); `handler` serves the
same routes buffered, for `stratus invoke`."""

from stratus.aws.handlers import asgi_app, buffered_fallback

app = asgi_app("teams")
handler = buffered_fallback("teams")
