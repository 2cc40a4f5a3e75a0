"""The one exception tree of avito_kit.

::

    AvitoError
    ├── AvitoAuthError            (also ConnectionError: the original integration raised it)
    │   └── MissingCredentialsError
    ├── AvitoHTTPError            (also httpx.HTTPStatusError)
    │   ├── AvitoClientError      4xx
    │   │   ├── AvitoBadRequest   400
    │   │   ├── AvitoForbidden    401, 403, or 200 with Avito's "access token expired" body (after one new token)
    │   │   ├── AvitoPaymentRequired  402: no paid messenger API subscription on the account
    │   │   ├── AvitoNotFound     404 (also the gateway's "no Route matched" for an unknown path)
    │   │   ├── AvitoConflict     409, with ``conflicts`` (the paid bookings a calendar push overlaps)
    │   │   ├── AvitoValidationError  422, with ``fields``
    │   │   └── AvitoRateLimited  429, with ``retry_after``
    │   ├── AvitoServerError      5xx
    │   └── AvitoUnexpectedAnswer a 2xx whose body is not the documented shape (so never read as "nothing")
    ├── AvitoTransportError       (also httpx.RequestError: connection refused, dropped, timed out)
    └── StoreLockedError          (also TimeoutError: another process held the DuckDB file too long)

Callers of the original integration caught ``httpx.HTTPStatusError``, ``httpx.RequestError`` and
``ConnectionError``; those still work. Status errors carry the status, method, URL (without query secrets:
Avito puts none in URLs), Avito's error code and message in every body shape seen (``{"error": {...}}``, the
items endpoints' top-level ``{"code", "message"}``, the token's ``{"result": {"status": false, "message"}}``
and the gateway's bare ``{"message"}``), and the raw body.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
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
    "AvitoPaymentRequired",
    "AvitoRateLimited",
    "AvitoServerError",
    "AvitoTransportError",
    "AvitoUnexpectedAnswer",
    "AvitoValidationError",
    "BookingConflict",
    "ConflictingBooking",
    "MissingCredentialsError",
    "StoreLockedError",
    "error_for_response",
    "retry_after_seconds",
    "says_token_expired",
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

    explanation = ""  # what the status means for the host, when Avito's own message is not enough

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.method = response.request.method
        self.url = str(response.request.url.copy_with(query=None))
        self.body = _body(response)
        self.code, self.error_message, self.fields = _parse_error(self.body)
        code = f"[{self.code}] " if self.code is not None else ""
        detail = f" {code}{self.error_message}" if self.error_message else ""
        explanation = f": {self.explanation}" if self.explanation else ""
        message = f"Avito answered {self.status} to {self.method} {self.url}{explanation}{detail}"
        super().__init__(message, request=response.request, response=response)


class AvitoClientError(AvitoHTTPError):
    """A 4xx answer."""


class AvitoBadRequest(AvitoClientError):
    """400: Avito refused the parameters."""


class AvitoForbidden(AvitoClientError):
    """401 or 403 that a fresh token did not cure: wrong account, scope or listing owner. Also a 200 carrying
    ``{"result": {"status": false, "message": "access token expired"}}`` twice in a row."""


class AvitoPaymentRequired(AvitoClientError):
    """402: the account has no paid messenger API subscription; every messenger call answers this (listings,
    bookings and stats still work)."""

    explanation = "the Avito account has no messenger API subscription (a paid Avito option)"


class AvitoNotFound(AvitoClientError):
    """404: unknown listing, chat or account."""


@dataclass(frozen=True)
class ConflictingBooking:
    """A paid booking that blocks a calendar push; ``avito_booking_id`` None when Avito leaves it out."""

    avito_booking_id: int | None
    check_in: dt.date | None
    check_out: dt.date | None


@dataclass(frozen=True)
class BookingConflict:
    """One pushed range (``start``..``end`` as Avito echoes it) and the bookings it overlaps."""

    start: dt.date | None
    end: dt.date | None
    bookings: tuple[ConflictingBooking, ...]

    def describe(self) -> str:
        """The host-facing Russian line: ``03.01–05.01 пересекается с бронью 123, 02.01–04.01``."""
        others = " и ".join(f"бронью {b.avito_booking_id or 'без номера'}, {_span(b.check_in, b.check_out)}"
                            for b in self.bookings) or "бронью"
        return f"{_span(self.start, self.end)} пересекается с {others}"


class AvitoConflict(AvitoClientError):
    """409: the calendar push overlaps a paid booking; Avito closed nothing.

    ``conflicts`` lists what overlaps what when Avito says so (the newer spec's ``error.conflicts``); empty for
    the older body without it.
    """

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response)
        self.conflicts = _parse_conflicts(self.body)

    def describe(self) -> str:
        """One Russian line for the host: each overlap, or Avito's message when it named none."""
        if self.conflicts:
            return "; ".join(conflict.describe() for conflict in self.conflicts)
        return "даты пересекаются с оплаченной бронью" + (f" ({self.error_message})" if self.error_message else "")


class AvitoValidationError(AvitoClientError):
    """422: Avito's validation failed; ``fields`` says which field and why."""


class AvitoRateLimited(AvitoClientError):
    """429 after every retry. ``retry_after`` is Avito's hint in seconds, when it sent one."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response)
        self.retry_after = retry_after_seconds(response)


class AvitoServerError(AvitoHTTPError):
    """A 5xx answer after every retry."""


class AvitoUnexpectedAnswer(AvitoHTTPError):
    """A success status whose body is not the documented shape (a messages answer without ``messages``): raised
    rather than read as an empty result, which would make a sync silently forget data."""

    def __init__(self, response: httpx.Response, expected: str) -> None:
        self.expected = expected
        super().__init__(response)

    @property
    def explanation(self) -> str:  # type: ignore[override]
        return f"expected {self.expected}, got {_shape(self.body)}"


_BY_STATUS: dict[int, type[AvitoHTTPError]] = {
    400: AvitoBadRequest,
    401: AvitoForbidden,
    402: AvitoPaymentRequired,
    403: AvitoForbidden,
    404: AvitoNotFound,
    409: AvitoConflict,
    422: AvitoValidationError,
    429: AvitoRateLimited,
}


def error_for_response(response: httpx.Response) -> AvitoHTTPError:
    """Map an error response to its exception (pure: no I/O, no retries); a 200 with the expired-token body
    maps to ``AvitoForbidden``."""
    status = response.status_code
    if status < 400 and says_token_expired(response):
        return AvitoForbidden(response)
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


def says_token_expired(response: httpx.Response) -> bool:
    """Avito's ``{"result": {"status": false, "message": "access token expired"}}``, which real accounts get
    with 403 and with 200 alike. Only short bodies are parsed: a real answer is never this small and odd."""
    content = response.content
    if len(content) > 512 or b"expired" not in content:
        return False
    result = _body(response)
    result = result.get("result") if isinstance(result, dict) else None
    return (isinstance(result, dict) and result.get("status") is False
            and "expired" in str(result.get("message", "")).lower())


def _parse_error(body: Any) -> tuple[Any, str | None, dict | None]:
    """Avito's error shapes: ``{"error": {"code", "message", "fields"}}``, the items endpoints' top-level
    ``{"code": "<string>", "message"}`` (the gateway's ``{"message"}`` alike) and the token's
    ``{"result": {"status": false, "message"}}``."""
    if not isinstance(body, dict):
        return None, (body or None) if isinstance(body, str) else None, None
    inner = body
    for key in ("error", "result"):
        if isinstance(body.get(key), dict):
            inner = body[key]
            break
    fields, message = inner.get("fields"), inner.get("message")
    return (inner.get("code"), str(message) if message is not None else None,
            fields if isinstance(fields, dict) else None)


def _parse_conflicts(body: Any) -> list[BookingConflict]:
    """``{"error": {"conflicts": [{"interval": {"date_start", "date_end"}, "bookings": [{"avito_booking_id",
    "check_in", "check_out"}]}]}}`` (short-term-rent.json, July 2026); anything missing is left None."""
    error = body.get("error") if isinstance(body, dict) else None
    raw = error.get("conflicts") if isinstance(error, dict) else None
    conflicts = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict):
            continue
        interval = entry.get("interval") if isinstance(entry.get("interval"), dict) else {}
        bookings = tuple(
            ConflictingBooking(_int_or_none(b.get("avito_booking_id")), _date_or_none(b.get("check_in")),
                               _date_or_none(b.get("check_out")))
            for b in entry.get("bookings") or [] if isinstance(b, dict)
        )
        conflicts.append(BookingConflict(_date_or_none(interval.get("date_start", interval.get("check_in"))),
                                         _date_or_none(interval.get("date_end", interval.get("check_out"))),
                                         bookings))
    return conflicts


def _date_or_none(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _span(start: dt.date | None, end: dt.date | None) -> str:
    def day(value: dt.date | None) -> str:
        return value.strftime("%d.%m") if value else "?"
    return f"{day(start)}–{day(end)}"


def _shape(body: Any) -> str:
    if isinstance(body, dict):
        return "an object with " + (", ".join(sorted(map(str, body))[:6]) or "no keys")
    return type(body).__name__ if body is not None else "nothing"
