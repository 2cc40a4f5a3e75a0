"""Client-credentials token for the Avito API: fetch, cache (mode 0600), expiry margin, one refresh at a time.

Avito issues a 24-hour token for ``client_id`` + ``client_secret`` and no refresh token: when it expires we
simply ask again (auth.json, operation getAccessToken). ``POST /token`` and ``GET /core/v1/accounts/self`` go
through the same retry policy as every other call (``limits.send_with_retries``). Nothing here ever prints, logs
or puts in a repr the secret or the token.

The cache file keeps the original integration's form, ``{"access_token", "token_expires_at":
"2024-01-01T12:00:00" (local time), "user_id": "12345678"}``, plus an ``owner`` key; the float epoch of
``token_expires_at`` that earlier avito_kit versions wrote is still read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import json
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from .errors import AvitoAuthError, AvitoError, MissingCredentialsError, error_for_response, says_token_expired
from .files import write_atomically
from .limits import RetryPolicy, send_with_retries

__all__ = ["DEFAULT_BASE_URL", "AvitoAuth", "http_client", "load_dotenv_values", "resolve_base_url",
           "resolve_credentials"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.avito.ru"
DEFAULT_CACHE_FILE = ".avito_token_cache.json"
EXPIRY_MARGIN_SECONDS = 300.0
SELF_PATH = "/core/v1/accounts/self"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi, or SSL_CERT_FILE / SSL_CERT_DIR), built once per process: reading
    the CA bundle takes ~30 ms, which every token request and client would otherwise pay again."""
    return httpx.create_ssl_context()


def http_client(base_url: str, transport: httpx.AsyncBaseTransport | None = None, timeout: float = 30.0,
                **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for the API root ``base_url`` (``transport`` replaces the network)."""
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout, verify=_tls_context(),
                             **options)


def load_dotenv_values(path: str | os.PathLike = ".env") -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (comments, ``export`` and quotes allowed); {} when absent."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    values = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def resolve_credentials(client_id: str | None = None, client_secret: str | None = None) -> tuple[str, str] | None:
    """Credentials from the arguments, else the environment, else ``.env`` in the working directory."""
    dotenv = load_dotenv_values()
    client_id = client_id or os.environ.get("AVITO_CLIENT_ID") or dotenv.get("AVITO_CLIENT_ID")
    client_secret = client_secret or os.environ.get("AVITO_CLIENT_SECRET") or dotenv.get("AVITO_CLIENT_SECRET")
    return (client_id, client_secret) if client_id and client_secret else None


def resolve_base_url(base_url: str | None = None) -> str:
    """API root: the argument, else env or ``.env`` ``AVITO_BASE_URL``, else Avito's production root."""
    url = base_url or os.environ.get("AVITO_BASE_URL") or load_dotenv_values().get("AVITO_BASE_URL")
    return (url or DEFAULT_BASE_URL).rstrip("/")


class AvitoAuth:
    """Gets and caches the access token and the account's user id.

    >>> auth = AvitoAuth()                      # AVITO_CLIENT_ID / AVITO_CLIENT_SECRET from env or .env
    >>> token = run(auth.get_access_token())    # one POST /token, then the cache until shortly before expiry
    """

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        base_url: str | None = None,
        cache_path: str | os.PathLike | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        expiry_margin: float = EXPIRY_MARGIN_SECONDS,
        retry: RetryPolicy | None = None,
    ) -> None:
        credentials = resolve_credentials(client_id, client_secret)
        if credentials is None:
            raise MissingCredentialsError(
                "Avito credentials are missing: set AVITO_CLIENT_ID and AVITO_CLIENT_SECRET "
                "(in the environment or a .env file), or pass client_id and client_secret"
            )
        self.client_id, self._client_secret = credentials
        self.base_url = resolve_base_url(base_url)
        self.cache_path = Path(cache_path or os.environ.get("AVITO_KIT_TOKEN_CACHE") or DEFAULT_CACHE_FILE)
        self.transport = transport
        self._clock = clock
        self._sleep = sleep
        self._margin = expiry_margin
        self.retry = retry or RetryPolicy()  # an AvitoApiClient given its own policy hands it over
        # The cache belongs to one account on one API root: never reuse a sandbox token against Avito.
        self._owner = hashlib.sha256(f"{self.client_id}@{self.base_url}".encode()).hexdigest()[:16]
        self._state: dict[str, Any] = self._read_cache()
        self._locks: dict[int, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"AvitoAuth(client_id={self.client_id[:4]!r}…, base_url={self.base_url!r})"

    async def get_access_token(self) -> str:
        """A valid bearer token; concurrent callers share one request to ``/token``."""
        if self._token_is_fresh():
            return self._state["access_token"]
        async with self._lock():
            if not self._token_is_fresh():  # another caller may have refreshed while we waited
                await self._fetch_token()
            return self._state["access_token"]

    async def get_current_user_id(self) -> int:
        """The account id (``GET /core/v1/accounts/self``), read once and cached with the token.

        Retried like any read; a 401 or 403 (Avito's answer to an expired token) gets one new token.
        """
        if self._state.get("user_id") is not None:
            return int(self._state["user_id"])
        for fresh_token in (False, True):
            token = await self.get_access_token()
            async with self._lock():
                if self._state.get("user_id") is not None:
                    break
                try:
                    response = await self._send("GET", SELF_PATH, headers={"Authorization": f"Bearer {token}"})
                except AvitoError as exc:
                    raise AvitoAuthError(f"User ID not found: {exc}") from exc
                refused = response.status_code in (401, 403) or says_token_expired(response)
                if refused and not fresh_token:
                    self.invalidate(token)
                    continue
                body = None if refused or response.is_error else _json_or_none(response)
                if not body or body.get("id") is None:
                    cause = error_for_response(response) if refused or response.is_error else None
                    raise AvitoAuthError(f"User ID not found: Avito answered {response.status_code} to GET "
                                         f"{SELF_PATH}") from cause
                self._state["user_id"] = str(body["id"])
                self._write_cache()
                break
        return int(self._state["user_id"])

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after Avito refused it (403 on expiry); a token already replaced is left alone."""
        if self._state.get("access_token") == token:
            self._state["token_expires_at"] = 0.0

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One auth request under the retry policy (429, 5xx and network errors retried)."""
        async with self._http() as http:
            return await send_with_retries(lambda: http.request(method, path, **options), self.retry,
                                           lambda _error, seconds: self._sleep(seconds))

    # -- internals -------------------------------------------------------------------------------------

    def _lock(self) -> asyncio.Lock:
        # An asyncio.Lock is bound to one loop; notebooks and run() may use several loops over time.
        loop_id = id(asyncio.get_running_loop())
        return self._locks.setdefault(loop_id, asyncio.Lock())

    def _token_is_fresh(self) -> bool:
        expires_at = _epoch(self._state.get("token_expires_at"))
        return bool(self._state.get("access_token")) and self._clock() < expires_at - self._margin

    def _http(self) -> httpx.AsyncClient:
        return http_client(self.base_url, self.transport)

    async def _fetch_token(self) -> None:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._client_secret}
        try:
            response = await self._send("POST", "/token", data=form)
        except AvitoError as exc:  # 429, 5xx or the network, after every retry
            raise AvitoAuthError(f"Failed to obtain Avito access token: {exc}") from exc
        payload = _json_or_none(response)
        if response.status_code == 404:  # the gateway's "no Route matched": a wrong API root, not the credentials
            detail = str(payload.get("message") or "")[:200] if payload else ""
            raise AvitoAuthError(
                f"Failed to obtain Avito access token: POST {self.base_url}/token answered 404"
                f"{f' ({detail})' if detail else ''}; check the API root (--base-url or AVITO_BASE_URL)"
            )
        if response.is_error or not payload or not payload.get("access_token"):
            # The body of a refused /token is undocumented; keep only its status to be safe.
            raise AvitoAuthError(
                f"Failed to obtain Avito access token: Avito refused the client credentials (POST /token answered "
                f"{response.status_code}); check AVITO_CLIENT_ID and AVITO_CLIENT_SECRET"
            )
        expires_in = float(payload.get("expires_in") or 86400)
        previous_user = self._state.get("user_id")
        self._state = {
            "access_token": payload["access_token"],
            "token_expires_at": _iso(self._clock() + expires_in),
            "user_id": previous_user,
            "owner": self._owner,
        }
        self._write_cache()
        log.info("obtained a new Avito access token valid for %.0f s", expires_in)

    def _read_cache(self) -> dict[str, Any]:
        try:
            cached = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return cached if isinstance(cached, dict) and cached.get("owner") == self._owner else {}

    def _write_cache(self) -> None:
        """Atomic and private: written whole, mode 0600."""
        write_atomically(self.cache_path, json.dumps(self._state).encode(), mode=0o600)


def _iso(epoch: float) -> str:
    """The cache's ``token_expires_at``: local wall time to the second, as the original integration wrote it."""
    return dt.datetime.fromtimestamp(epoch).isoformat(timespec="seconds")


def _epoch(value: Any) -> float:
    """``token_expires_at`` as read: an ISO 8601 string (naive: local time) or an older cache's float epoch."""
    if isinstance(value, int | float):
        return float(value)
    try:
        return dt.datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return 0.0


def _json_or_none(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
