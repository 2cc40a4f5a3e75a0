"""Choose the API behind a client: Avito when credentials are set (env or ``.env``), else the embedded sandbox.

>>> client = open_client()          # same code against the real API and the sandbox
>>> items = run(client.get_all_user_items())
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

from .auth import AvitoAuth, resolve_credentials
from .client import AvitoApiClient
from .sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox, sandbox_from_env

__all__ = ["EMBEDDED_SWITCHES", "SANDBOX_BASE_URL", "open_client", "using_sandbox"]

SANDBOX_BASE_URL = "http://sandbox.avito.invalid"
# The embedded sandbox of notebooks and the demo stands for an account avito_kit has synced for a year, so its
# past bookings stay readable; real Avito refuses a past window with 422, as the bare sandbox does by default
# (and the tests of the sync under it). AVITO_KIT_SANDBOX_SWITCHES still wins over this.
EMBEDDED_SWITCHES = {"refuse_past_bookings_read": False}


def using_sandbox() -> bool:
    """True when no Avito credentials are configured, so the embedded sandbox stands in."""
    return resolve_credentials() is None


def open_client(*, base_url: str | None = None, sandbox: Sandbox | None = None, **client_options) -> AvitoApiClient:
    """An ``AvitoApiClient`` for the real API (credentials in env or ``.env``) or, without credentials or when
    ``sandbox`` is given, for an in-process sandbox (when none is given: the default seed with ``EMBEDDED_SWITCHES``
    and the switches of ``AVITO_KIT_SANDBOX_SWITCHES``; a bad one raises one ``ValueError`` line)."""
    if sandbox is None and not using_sandbox():
        return AvitoApiClient(AvitoAuth(base_url=base_url), **client_options)
    sandbox = sandbox or sandbox_from_env(**EMBEDDED_SWITCHES)
    transport = sandbox.transport()
    # A sandbox token is cached in a folder of its own: it must never displace a real account's token.
    cache_dir = tempfile.mkdtemp(prefix="avito_kit_sandbox_")
    # Token retries wait alike, and a token expires on the same clock as the sandbox's (a simulated one too).
    timing = {name: client_options[name] for name in ("sleep", "clock") if name in client_options}
    auth = AvitoAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, base_url=SANDBOX_BASE_URL, transport=transport,
                     cache_path=Path(cache_dir) / ".avito_token_cache.json", **timing)
    client = AvitoApiClient(auth, transport=transport, **client_options)
    client.sandbox = sandbox
    weakref.finalize(client, shutil.rmtree, cache_dir, True)  # the folder lives as long as the client
    return client
