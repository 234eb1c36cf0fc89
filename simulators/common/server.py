"""Runs a WSGI application on a background thread as a real HTTP or HTTPS server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from simulators.common.tls import TlsMaterial


class _KeepAliveHandler(WSGIRequestHandler):
    # HTTP/1.1 keeps connections open between calls, as the real APIs do; without it every
    # call pays a new TCP (and TLS) handshake and benchmarks measure the simulator.
    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """The simulators keep their own request log; the per-line access log is noise."""


class SimServer:
    """A threaded server for `app` on host:port (port 0 picks a free one), TLS if given."""

    def __init__(
        self,
        app: Callable[..., Any],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsMaterial | None = None,
    ) -> None:
        self.tls = tls
        self._server: BaseWSGIServer = make_server(
            host,
            port,
            app,
            threaded=True,
            request_handler=_KeepAliveHandler,
            ssl_context=tls.server_context() if tls else None,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = "localhost" if self.tls else str(self._server.host)
        return f"{scheme}://{host}:{self.port}"

    def start(self) -> SimServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"sim-{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (the `msi-sync simulate` command)."""
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
