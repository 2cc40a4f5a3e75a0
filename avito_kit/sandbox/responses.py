"""What the sandbox core hands its adapters, and the error bodies of each API family.

The adapters (``transport.py``, ``server.py``) import this module and never the core's request handling; the
core imports neither adapter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["SandboxRequest", "SandboxResponse", "error_response", "json_response", "to_json"]

_ITEMS_ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                      429: "too_many_requests", 500: "internal_error", 502: "bad_gateway",
                      503: "service_unavailable"}


@dataclass(slots=True)
class SandboxResponse:
    """What the sandbox answers; ``fault`` tells the transport to refuse or drop the connection instead."""

    status: int
    headers: dict[str, str]
    body: bytes
    fault: str | None = None  # "refuse": nothing was processed; "drop": processed, the answer is lost

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class SandboxRequest:
    """One entry of ``Sandbox.requests``; secrets never enter it (no headers, client_secret redacted)."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    operation: str | None  # the spec's operationId, None for an unknown path
    time: float
    status: int | None = None  # None when the connection was refused before processing
    fault: str | None = None  # the injected fault applied, if any


to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_response(status: int, body: Any) -> SandboxResponse:
    """``body`` as JSON; bytes are JSON already (an answer put together from encoded parts)."""
    encoded = body if isinstance(body, bytes) else to_json(body).encode()
    return SandboxResponse(status, {"Content-Type": "application/json; charset=utf-8"}, encoded)


def error_response(family: str, status: int, message: str, fields: dict[str, str] | None = None,
                   **extra: Any) -> SandboxResponse:
    """An error in the shape of the endpoint's family: "items" (items.json FieldError, a string ``code``),
    "oauth" (RFC 6749 for /token) or "avito" (``{"error": {"code": int, "message", ...}}``, ``fields`` on 422
    as short-term-rent.json's validatingError, ``extra`` keys such as a 409's ``conflicts``)."""
    if family == "items":
        return json_response(status, {"code": _ITEMS_ERROR_CODES.get(status, str(status)), "message": message})
    if family == "oauth":
        return json_response(status, {"error": "server_error" if status >= 500 else "invalid_request",
                                      "error_description": message})
    error: dict[str, Any] = {"code": status, "message": message}
    if status == 422:
        error["fields"] = fields or {}
    error.update(extra)
    return json_response(status, {"error": error})
