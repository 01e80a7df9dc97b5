"""moto's server in this process, for `stratus dev --aws-local` and the tests: DynamoDB, S3, SQS and Secrets
Manager on a loopback port, so boto3 runs unmodified with `AWS_ENDPOINT_URL` pointed at it.

Requests are served one at a time. moto's backends hold no locks, so two concurrent conditional writes could
both see the condition hold and both succeed, a lost update real DynamoDB never allows (each write, and each
transaction, is atomic there). Serialising the requests gives moto that atomicity back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from stratus.exceptions import ConfigError

__all__ = ["LocalAws"]


class LocalAws:
    """moto's server on `host:port` (port 0: a free one), started in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local AWS server is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalAws:
        try:
            from moto.moto_server.werkzeug_app import (  # pyright: ignore[reportMissingTypeStubs]
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server
        except ImportError as exc:
            raise ConfigError("local AWS needs moto's server: pip install 'moto[server,dynamodb,s3]'") from exc
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_app: Any = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def one_at_a_time(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with lock:
                return list(moto_app(environ, start_response))  # the whole answer, inside the lock

        self._server = make_server(
            self._host, self._port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = None
        self._thread = None
