"""The sandbox over real HTTP/1.1 on loopback: a standard-library threading server, one thread per connection.

For clients that must be tested with real sockets (keep-alive, timeouts, a CLI pointed at a base URL).
Connection faults close the socket without an answer, as a crashed proxy would.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, TextIO

from .app import SandboxResponse

if TYPE_CHECKING:
    from .app import Sandbox

__all__ = ["SandboxServer", "serve_forever"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: httpx reuses connections
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms delayed-ACK stall
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.server.latency > 0:
            time.sleep(self.server.latency)
        path, _, query = self.path.partition("?")
        try:
            answer = self.server.sandbox.handle(self.command, path, query, dict(self.headers.items()), body)
        except Exception:  # a sandbox bug: answer 500 like a real server and keep the thread alive
            traceback.print_exc()
            answer = SandboxResponse(500, {"Content-Type": "application/json"},
                                     b'{"error":{"code":500,"message":"sandbox failure"}}')
        if answer.fault in ("refuse", "drop"):
            self.close_connection = True  # no status line at all: the client sees the connection die
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass  # the sandbox keeps its own log (Sandbox.requests); stderr noise would bury test output


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # hundreds of concurrent connects must not overflow the listen backlog

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, latency: float) -> None:
        self.sandbox = sandbox
        self.latency = latency
        super().__init__(address, _Handler)


class SandboxServer:
    """A running loopback server for ``sandbox``; use as a context manager or call ``close()``.

    >>> with Sandbox().serve() as server:
    ...     httpx.get(server.base_url + "/core/v1/items")
    """

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> None:
        self.sandbox = sandbox
        self._server = _Server((host, port), sandbox, latency)
        self.host, self.port = self._server.server_address[:2]
        self.base_url = f"http://{self.host}:{self.port}"
        # a short poll interval keeps close() quick (shutdown waits for the loop to notice)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="avito-sandbox", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"SandboxServer({self.base_url})"

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting requests and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_forever(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 8765, latency: float = 0.0,
                  stream: TextIO | None = None) -> None:
    """Serve ``sandbox`` until Ctrl-C, after printing its base URL and the environment that points
    avito_kit at it (the sandbox's credentials are public constants, not secrets)."""
    stream = stream or sys.stdout
    with SandboxServer(sandbox, host=host, port=port, latency=latency) as server:
        print(f"Avito sandbox listening on {server.base_url} (seed {sandbox.seed}, user_id {sandbox.user_id})",
              file=stream)
        print("Point avito_kit at it with:", file=stream)
        print(f"  export AVITO_BASE_URL={server.base_url}", file=stream)
        print(f"  export AVITO_CLIENT_ID={sandbox.client_id}", file=stream)
        print(f"  export AVITO_CLIENT_SECRET={sandbox.client_secret_hint}", file=stream)
        print("Press Ctrl-C to stop.", file=stream, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("Sandbox stopped.", file=stream)
