"""The embedded sandbox: a fake Avito API that follows Avito's OpenAPI specs, for tests, demos and benchmarks.

No network and no Avito account needed. A ``Sandbox`` is one deterministic host account (listings in Russian
cities, a year of bookings each side of today, chats with messages, daily stats) generated from a seed, plus
the state that requests change (sent messages, pushed calendars, read flags). Reach it three ways:

- in-process: ``httpx.AsyncClient(transport=sandbox.transport(), base_url="https://api.avito.ru")``;
- over loopback HTTP: ``with sandbox.serve() as server: ...`` then use ``server.base_url``;
- from a shell: ``serve_forever(Sandbox(), port=8765)`` (behind ``avito-kit sandbox --port 8765``).

Authenticate with ``POST /token`` and the credentials ``SANDBOX_CLIENT_ID`` / ``SANDBOX_CLIENT_SECRET``.
Tests can inject faults (``queue_fault("503")``, ``error_rate=0.1``), advance an injected ``clock`` to expire
tokens and reset rate-limit windows, and inspect ``sandbox.requests``, ``blocks``, ``intervals``, ``prices``
and the effective calendar ``closed_nights(item_id)``.

The world replays over time: set ``sandbox.today`` to an earlier day and it answers as Avito did then (bookings
made later absent, those canceled later still active, chats, messages and stats until then); ``avito-kit demo``
syncs it day by day that way. Move ``clock`` along with it for tokens and rate windows.

Switches (``Switches``, each documented there) make it answer the way real accounts do where they differ from
the specs: no messenger subscription (402), the expired-token body, message and chat envelopes, a bare
account-wide 429, the 422 on a past bookings read, bookings without an id, 409 conflicts, calendar replace or
merge. Pass them as keywords (``Sandbox(messenger_subscription=False)``), set them as attributes at run time,
or from outside the process with ``AVITO_KIT_SANDBOX_SWITCHES="messenger_subscription=false,..."``, which
``sandbox_from_env()`` reads (so do ``session.open_client()`` and ``avito-kit sandbox``).

Layout: ``app.py`` is the core (``SandboxApp.handle``: request in, response out, no I/O), ``routes.py`` maps
each spec path to a handler in ``api_auth``, ``api_items``, ``api_rent``, ``api_messenger`` or ``api_stats``;
``transport.py`` and ``server.py`` are adapters that import the core and never the reverse.

>>> sandbox = Sandbox(seed=7, n_items=200)
>>> client = httpx.AsyncClient(transport=sandbox.transport(latency=0.05), base_url="https://api.avito.ru")
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from .app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SandboxApp
from .responses import SandboxRequest, SandboxResponse
from .server import SandboxServer, serve_forever
from .switches import SWITCHES_ENV, Switches, parse_switches, switches_from_env
from .transport import SandboxTransport

__all__ = [
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SWITCHES_ENV",
    "Sandbox",
    "SandboxApp",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "SandboxTransport",
    "Switches",
    "parse_switches",
    "sandbox_from_env",
    "serve_forever",
    "switches_from_env",
]


class Sandbox(SandboxApp):
    """``SandboxApp`` with shortcuts to its two adapters; everything else is the core's (see its docstring).

    >>> sandbox = Sandbox(seed=1, messages_envelope="array")
    >>> async with httpx.AsyncClient(transport=sandbox.transport(), base_url="https://api.avito.ru") as http:
    ...     token = (await http.post("/token", data={"grant_type": "client_credentials",
    ...              "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET})).json()
    """

    def transport(self, latency: float = 0.0, sleep: Callable[[float], Awaitable[object]] | None = None
                  ) -> SandboxTransport:
        """An ``httpx`` transport running this sandbox in-process (see ``SandboxTransport``)."""
        return SandboxTransport(self, latency=latency, sleep=sleep or asyncio.sleep)

    def serve(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> SandboxServer:
        """Serve this sandbox over HTTP/1.1 on ``host:port`` in a daemon thread; returns a ``SandboxServer``
        (a context manager with ``.base_url`` and ``.close()``)."""
        return SandboxServer(self, host=host, port=port, latency=latency)


def sandbox_from_env(**options: Any) -> Sandbox:
    """A ``Sandbox(**options)`` with the switches of ``AVITO_KIT_SANDBOX_SWITCHES`` applied on top (a bad
    switch: one ``ValueError`` line naming it)."""
    return Sandbox(**{**options, **switches_from_env()})
