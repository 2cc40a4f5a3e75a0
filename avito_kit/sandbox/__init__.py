"""The embedded sandbox: a fake Avito API that follows Avito's OpenAPI specs, for tests, demos and benchmarks.

No network and no Avito account needed. A ``Sandbox`` is one deterministic host account (listings in Russian
cities, a year of bookings each side of today, chats with messages, daily stats) generated from a seed, plus
the state that requests change (sent messages, pushed calendars, read flags). Reach it three ways:

- in-process: ``httpx.AsyncClient(transport=sandbox.transport(), base_url="https://api.avito.ru")``;
- over loopback HTTP: ``with sandbox.serve() as server: ...`` then use ``server.base_url``;
- from a shell: ``serve_forever(Sandbox(), port=8765)`` (behind ``avito-kit sandbox --port 8765``).

Authenticate with ``POST /token`` and the credentials ``SANDBOX_CLIENT_ID`` / ``SANDBOX_CLIENT_SECRET``.
Tests can inject faults (``queue_fault("503")``, ``error_rate=0.1``), advance an injected ``clock`` to expire
tokens and reset rate-limit windows, and inspect ``sandbox.requests``, ``blocks``, ``intervals`` and ``prices``.

>>> sandbox = Sandbox(seed=7, n_items=200)
>>> client = httpx.AsyncClient(transport=sandbox.transport(latency=0.05), base_url="https://api.avito.ru")
"""

from .app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox, SandboxRequest, SandboxResponse
from .server import SandboxServer, serve_forever
from .transport import SandboxTransport

__all__ = [
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "Sandbox",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxServer",
    "SandboxTransport",
    "serve_forever",
]
