"""The metrics and health HTTP server both programs run: /metrics, /healthz, /livez, /readyz.

Liveness and readiness are separate questions: `/livez` answers whether the
process still works (its threads run), `/readyz` whether it should receive
work (a synced cache, a held Lease); `/healthz` is readiness, for tools that
know only that path. `stop()` joins the server's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST


class MetricsServer:
    """Serves /metrics and the probes on one address; stop() joins its thread.

    `render` produces the exposition text; `ready` and `live` answer the probes.
    """

    def __init__(
        self,
        render: Callable[[], bytes],
        address: str,
        *,
        ready: Callable[[], bool],
        live: Callable[[], bool] = lambda: True,
    ) -> None:
        host, _, port = address.rpartition(":")
        handler = _handler(render, ready=ready, live=live)
        self._server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _handler(
    render: Callable[[], bytes], *, ready: Callable[[], bool], live: Callable[[], bool]
) -> type[BaseHTTPRequestHandler]:
    probes = {"/healthz": ready, "/readyz": ready, "/livez": live}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            probe = probes.get(self.path)
            if self.path == "/metrics":
                self._reply(200, render(), CONTENT_TYPE_LATEST)
            elif probe is not None:
                ok = probe()
                self._reply(200 if ok else 503, b"ok\n" if ok else b"unhealthy\n", "text/plain")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: scrapes are not news."""

    return Handler
