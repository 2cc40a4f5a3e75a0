"""Client-credentials token for the Avito API: fetch, cache (mode 0600), expiry margin, one refresh at a time.

Avito issues a 24-hour token for ``client_id`` + ``client_secret`` and no refresh token: when it expires we
simply ask again (auth.json, operation getAccessToken). Nothing here ever prints, logs or puts in a repr the
secret or the token.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import ssl
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from .errors import AvitoAuthError, MissingCredentialsError

__all__ = ["DEFAULT_BASE_URL", "AvitoAuth", "http_client", "load_dotenv_values", "resolve_credentials"]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.avito.ru"
DEFAULT_CACHE_FILE = ".avito_token_cache.json"
EXPIRY_MARGIN_SECONDS = 300.0
_TOKEN_ATTEMPTS = 3


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
        """The account id (``GET /core/v1/accounts/self``), read once and cached with the token."""
        if self._state.get("user_id") is not None:
            return int(self._state["user_id"])
        token = await self.get_access_token()
        async with self._lock():
            if self._state.get("user_id") is None:
                async with self._http() as http:
                    response = await http.get("/core/v1/accounts/self", headers={"Authorization": f"Bearer {token}"})
                if response.is_error:
                    raise AvitoAuthError(f"Avito answered {response.status_code} to GET /core/v1/accounts/self")
                self._state["user_id"] = int(response.json()["id"])
                self._write_cache()
            return int(self._state["user_id"])

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after Avito refused it (403 on expiry); a token already replaced is left alone."""
        if self._state.get("access_token") == token:
            self._state["token_expires_at"] = 0.0

    # -- internals -------------------------------------------------------------------------------------

    def _lock(self) -> asyncio.Lock:
        # An asyncio.Lock is bound to one loop; notebooks and run() may use several loops over time.
        loop_id = id(asyncio.get_running_loop())
        return self._locks.setdefault(loop_id, asyncio.Lock())

    def _token_is_fresh(self) -> bool:
        expires_at = float(self._state.get("token_expires_at") or 0)
        return bool(self._state.get("access_token")) and self._clock() < expires_at - self._margin

    def _http(self) -> httpx.AsyncClient:
        return http_client(self.base_url, self.transport)

    async def _fetch_token(self) -> None:
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._client_secret}
        problem = "no answer"
        for attempt in range(_TOKEN_ATTEMPTS):
            if attempt:
                await self._sleep(2.0 * attempt)
            try:
                async with self._http() as http:
                    response = await http.post("/token", data=form)
            except httpx.RequestError as exc:
                problem = f"{type(exc).__name__} talking to {self.base_url}"
                continue
            if response.status_code >= 500 or response.status_code == 429:
                problem = f"Avito answered {response.status_code}"
                continue
            payload = _json_or_none(response)
            if response.is_error or not payload or not payload.get("access_token"):
                # The body of a refused /token is undocumented; keep only its status to be safe.
                raise AvitoAuthError(
                    f"Avito refused the client credentials (POST /token answered {response.status_code}); "
                    "check AVITO_CLIENT_ID and AVITO_CLIENT_SECRET"
                )
            expires_in = float(payload.get("expires_in") or 86400)
            previous_user = self._state.get("user_id")
            self._state = {
                "access_token": payload["access_token"],
                "token_expires_at": self._clock() + expires_in,
                "user_id": previous_user,
                "owner": self._owner,
            }
            self._write_cache()
            log.info("obtained a new Avito access token valid for %.0f s", expires_in)
            return
        raise AvitoAuthError(f"could not obtain an Avito token after {_TOKEN_ATTEMPTS} attempts: {problem}")

    def _read_cache(self) -> dict[str, Any]:
        try:
            cached = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return cached if isinstance(cached, dict) and cached.get("owner") == self._owner else {}

    def _write_cache(self) -> None:
        """Atomic and private: a temp file created 0600 in the same folder, then renamed over the cache."""
        folder = self.cache_path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".avito_token_", dir=folder)  # mkstemp creates it 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self._state, fh)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.cache_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _json_or_none(response: httpx.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
