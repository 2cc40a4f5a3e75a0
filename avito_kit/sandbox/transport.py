"""An httpx transport that answers from a ``Sandbox`` in-process: no sockets, no threads, optional latency.

Connection faults become the exceptions a real network raises, so client retry code is exercised as is:
a refused request raises ``httpx.ConnectError`` (nothing reached the sandbox), a dropped one raises
``httpx.RemoteProtocolError`` after the sandbox processed it (a retried POST would then act twice).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from .app import SandboxApp
    from .responses import SandboxResponse

__all__ = ["SandboxTransport"]


class SandboxTransport(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """Serve httpx requests from ``sandbox``, waiting ``latency`` seconds per request with ``sleep``.

    >>> transport = SandboxTransport(Sandbox(seed=3), latency=0.02)
    >>> client = httpx.AsyncClient(transport=transport, base_url="https://api.avito.ru")

    ``sleep`` is injectable (``asyncio.sleep`` by default) so tests can count the waiting instead of doing it.
    The transport also works with a synchronous ``httpx.Client``, where the latency uses ``time.sleep``.
    """

    def __init__(self, sandbox: SandboxApp, latency: float = 0.0,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        self.sandbox = sandbox
        self.latency = latency
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"SandboxTransport({self.sandbox!r}, latency={self.latency})"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        if self.latency > 0:
            await self._sleep(self.latency)
        return self._to_httpx(request, self._answer(request, body))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        if self.latency > 0:
            time.sleep(self.latency)
        return self._to_httpx(request, self._answer(request, body))

    def _answer(self, request: httpx.Request, body: bytes) -> SandboxResponse:
        return self.sandbox.handle(request.method, request.url.path, request.url.query.decode("ascii"),
                                   dict(request.headers), body)

    @staticmethod
    def _to_httpx(request: httpx.Request, answer: SandboxResponse) -> httpx.Response:
        if answer.fault == "refuse":
            raise httpx.ConnectError("[sandbox] connection refused", request=request)
        if answer.fault == "drop":
            raise httpx.RemoteProtocolError("[sandbox] server disconnected without sending a response",
                                            request=request)
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body, request=request)
