"""The sandbox over real HTTP/1.1 on loopback: one asyncio loop in a daemon thread serving every connection.

For clients that must be tested with real sockets (keep-alive, timeouts, a CLI pointed at a base URL).
One loop rather than a thread per connection: the latency is a timer, not a sleeping thread, so a request
answers after ``latency`` plus the sandbox's own work, without eight threads queueing for the interpreter lock
(which added milliseconds per answer under load and made benchmarks measure the fake server).
Connection faults close the socket without an answer, as a crashed proxy would.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
from http import HTTPStatus
from typing import TYPE_CHECKING, TextIO

from .feeds import feed_etag, sample_feed
from .responses import SandboxResponse

if TYPE_CHECKING:
    from .app import SandboxApp

__all__ = ["SandboxServer", "serve_forever"]

_SANDBOX_FAILURE = SandboxResponse(500, {"Content-Type": "application/json"},
                                   b'{"error":{"code":500,"message":"sandbox failure"}}')
_MAX_HEADER_LINES = 100


class _BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.1 request this server reads: answer 400 and close."""


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, str, dict[str, str], bytes, bool] | None:
    """One request off the connection as (method, path, query, headers, body, whether the client closes after
    it); None at a clean end of stream."""
    request_line = await reader.readline()
    if not request_line.strip():
        return None
    try:
        method, target, version = request_line.decode("latin-1").split()
    except ValueError:
        raise _BadRequest from None
    headers: dict[str, str] = {}  # names in lower case
    for _ in range(_MAX_HEADER_LINES):
        line = (await reader.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            break
        name, colon, value = line.partition(":")
        if not colon:
            raise _BadRequest
        headers[name.strip().lower()] = value.strip()
    else:
        raise _BadRequest
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadRequest  # no client of the sandbox streams a request body
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    close = version == "HTTP/1.0" or headers.get("connection", "").lower() == "close"
    path, _, query = target.partition("?")
    return method, path, query, headers, body, close


def _encode(answer: SandboxResponse, close: bool) -> bytes:
    try:
        reason = HTTPStatus(answer.status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {answer.status} {reason}",
             *(f"{name}: {value}" for name, value in answer.headers.items()),
             f"Content-Length: {len(answer.body)}"]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + answer.body


def _feed_answer(sandbox: SandboxApp, path: str, headers: dict[str, str]) -> SandboxResponse:
    """``/feeds/<name>.ics``: a sample feed of another platform (sandbox/feeds.py), dated from the sandbox's today."""
    body = sample_feed(path.removeprefix("/feeds/").removesuffix(".ics"), sandbox.today)
    if body is None:
        return SandboxResponse(404, {"Content-Type": "text/plain"}, b"no such feed")
    etag = feed_etag(body)
    if headers.get("if-none-match") == etag:
        return SandboxResponse(304, {"ETag": etag}, b"")
    kind = "text/html; charset=utf-8" if body.lstrip().startswith(b"<") else "text/calendar; charset=utf-8"
    return SandboxResponse(200, {"Content-Type": kind, "ETag": etag}, body)


class SandboxServer:
    """A running loopback server for ``sandbox``; use as a context manager or call ``close()``.

    >>> with Sandbox().serve() as server:
    ...     httpx.get(server.base_url + "/core/v1/items")
    """

    def __init__(self, sandbox: SandboxApp, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> None:
        self.sandbox = sandbox
        self.latency = latency
        self._loop = asyncio.new_event_loop()
        self._connections: set[asyncio.Task] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="avito-sandbox", daemon=True)
        self._thread.start()  # first: the caller may be inside a running loop of its own (a notebook, a test)
        # backlog: hundreds of concurrent connects must not overflow the listen queue
        listening = asyncio.start_server(self._serve_connection, host, port, backlog=1024)
        try:
            self._server = asyncio.run_coroutine_threadsafe(listening, self._loop).result(timeout=10)
        except BaseException:
            self._stop_loop()
            raise
        self.host, self.port = self._server.sockets[0].getsockname()[:2]
        self.base_url = f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"SandboxServer({self.base_url})"

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting requests, drop open connections and release the port."""
        if self._loop.is_closed():
            return

        async def stop() -> None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        try:
            while True:  # keep-alive: httpx reuses connections
                try:
                    request = await _read_request(reader)
                except (_BadRequest, ValueError):  # ValueError: a line over the stream limit, a bad length
                    writer.write(_encode(SandboxResponse(400, {}, b""), close=True))
                    break
                if request is None:
                    break
                method, path, query, headers, body, close = request
                if self.latency > 0:
                    await asyncio.sleep(self.latency)
                try:
                    answer = (_feed_answer(self.sandbox, path, headers) if path.startswith("/feeds/")
                              else self.sandbox.handle(method, path, query, headers, body))
                except Exception:  # a sandbox bug: answer 500 like a real server and keep serving
                    traceback.print_exc()
                    answer = _SANDBOX_FAILURE
                if answer.fault in ("refuse", "drop"):
                    break  # no status line at all: the client sees the connection die
                writer.write(_encode(answer, close))
                await writer.drain()
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except asyncio.CancelledError:
            pass  # close(): end quietly (Python 3.11's stream callback would log a cancelled handler as an error)
        finally:
            self._connections.discard(task)
            writer.close()


def serve_forever(sandbox: SandboxApp, host: str = "127.0.0.1", port: int = 8765, latency: float = 0.0,
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
