"""Lambda: `/workflows` and their runs. On AWS the Lambda Web Adapter serves `app` with uvicorn, so runs
stream (up to 15 minutes). A workflow that may run longer goes `background=true`: the run worker stores it
after each step and, short of time, queues it again to go on in a new invocation (`stratus.background`).
`handler` serves the same routes buffered, for `stratus invoke`."""

from stratus.aws.handlers import asgi_app, buffered_fallback

app = asgi_app("workflows")
handler = buffered_fallback("workflows")
