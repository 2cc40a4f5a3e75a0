"""The one exception tree of avito_kit.

::

    AvitoError
    ├── AvitoAuthError            (also ConnectionError: the original integration raised it)
    │   └── MissingCredentialsError
    ├── AvitoHTTPError            (also httpx.HTTPStatusError)
    │   ├── AvitoClientError      4xx
    │   │   ├── AvitoBadRequest   400
    │   │   ├── AvitoForbidden    401, 403 (after one token refresh)
    │   │   ├── AvitoNotFound     404
    │   │   ├── AvitoConflict     409 (a calendar push overlapping a paid booking)
    │   │   ├── AvitoValidationError  422, with ``fields``
    │   │   └── AvitoRateLimited  429, with ``retry_after``
    │   └── AvitoServerError      5xx
    ├── AvitoTransportError       (also httpx.RequestError: connection refused, dropped, timed out)
    └── StoreLockedError          (also TimeoutError: another process held the DuckDB file too long)

Callers of the original integration caught ``httpx.HTTPStatusError``, ``httpx.RequestError`` and
``ConnectionError``; those still work. Status errors carry the status, method, URL (without query secrets:
Avito puts none in URLs), Avito's error code and message in both body shapes, and the raw body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "AvitoAuthError",
    "AvitoBadRequest",
    "AvitoClientError",
    "AvitoConflict",
    "AvitoError",
    "AvitoForbidden",
    "AvitoHTTPError",
    "AvitoNotFound",
    "AvitoRateLimited",
    "AvitoServerError",
    "AvitoTransportError",
    "AvitoValidationError",
    "MissingCredentialsError",
    "StoreLockedError",
    "error_for_response",
]


class AvitoError(Exception):
    """Base of every error avito_kit raises on purpose."""


class AvitoAuthError(AvitoError, ConnectionError):
    """The token could not be obtained: wrong credentials or Avito's /token failing."""


class MissingCredentialsError(AvitoAuthError):
    """No client id or secret: neither passed, nor in the environment, nor in ``.env``."""


class AvitoTransportError(AvitoError, httpx.RequestError):
    """The request did not complete: refused, dropped or timed out.

    ``reached_server`` is False when the request provably never reached Avito (connection refused),
    which is the only case where a non-idempotent write may be retried.
    """

    def __init__(self, message: str, *, request: httpx.Request, reached_server: bool) -> None:
        super().__init__(message, request=request)
        self.reached_server = reached_server


class StoreLockedError(AvitoError, TimeoutError):
    """Another process held the database file lock for longer than ``lock_timeout`` seconds."""

    def __init__(self, path: Path, waited: float, cause: Exception) -> None:
        super().__init__(
            f"{path} is locked by another process (waited {waited:.1f}s): {cause}. "
            "Is `avito-kit sync` running, or a notebook holding `store.connect()` open?"
        )
        self.path = path
        self.waited = waited


class AvitoHTTPError(AvitoError, httpx.HTTPStatusError):
    """Avito answered with an error status. Carries what Avito said."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.method = response.request.method
        self.url = str(response.request.url.copy_with(query=None))
        self.body = _body(response)
        self.code, self.error_message, self.fields = _parse_error(self.body)
        detail = f" [{self.code}] {self.error_message}" if self.error_message else ""
        message = f"Avito answered {self.status} to {self.method} {self.url}{detail}"
        super().__init__(message, request=response.request, response=response)


class AvitoClientError(AvitoHTTPError):
    """A 4xx answer."""


class AvitoBadRequest(AvitoClientError):
    """400: Avito refused the parameters."""


class AvitoForbidden(AvitoClientError):
    """401 or 403 that a fresh token did not cure: wrong account, scope or listing owner."""


class AvitoNotFound(AvitoClientError):
    """404: unknown listing, chat or account."""


class AvitoConflict(AvitoClientError):
    """409: the calendar push overlaps a paid booking; Avito closed nothing."""


class AvitoValidationError(AvitoClientError):
    """422: Avito's validation failed; ``fields`` says which field and why."""


class AvitoRateLimited(AvitoClientError):
    """429 after every retry. ``retry_after`` is Avito's hint in seconds, when it sent one."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response)
        self.retry_after = retry_after_seconds(response)


class AvitoServerError(AvitoHTTPError):
    """A 5xx answer after every retry."""


_BY_STATUS: dict[int, type[AvitoHTTPError]] = {
    400: AvitoBadRequest,
    401: AvitoForbidden,
    403: AvitoForbidden,
    404: AvitoNotFound,
    409: AvitoConflict,
    422: AvitoValidationError,
    429: AvitoRateLimited,
}


def error_for_response(response: httpx.Response) -> AvitoHTTPError:
    """Map an error response to its exception (pure: no I/O, no retries)."""
    status = response.status_code
    if status in _BY_STATUS:
        return _BY_STATUS[status](response)
    if status >= 500:
        return AvitoServerError(response)
    if status >= 400:
        return AvitoClientError(response)
    raise ValueError(f"not an error status: {status}")


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds, when present and numeric (Avito does not document it)."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:2000]


def _parse_error(body: Any) -> tuple[Any, str | None, dict | None]:
    """Avito's two error shapes: ``{"error": {"code", "message", "fields"}}`` and the items endpoints'
    top-level ``{"code": "<string>", "message"}``."""
    if not isinstance(body, dict):
        return None, (body or None) if isinstance(body, str) else None, None
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    fields = inner.get("fields")
    return inner.get("code"), inner.get("message"), fields if isinstance(fields, dict) else None
