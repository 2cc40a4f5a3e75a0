"""Handlers of auth.json (``POST /token``) and user.json (``GET /core/v1/accounts/self``).

Every handler takes the sandbox, the path parameters, the query (name -> values) and the parsed body, and
returns ``(status, body)`` or raises ``params.Reject``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import SandboxApp

__all__ = ["account_self", "issue_token"]


def issue_token(sandbox: SandboxApp, _: dict[str, str], __: dict[str, list[str]], form: Any) -> tuple[int, Any]:
    # The /token error body is undocumented: these follow OAuth 2 (RFC 6749 section 5.2).
    if not isinstance(form, dict):
        return 400, {"error": "invalid_request", "error_description": "form-encoded body required"}
    if form.get("grant_type") != "client_credentials":
        return 400, {"error": "unsupported_grant_type", "error_description": "use client_credentials"}
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    if not client_id or not client_secret:
        return 400, {"error": "invalid_request", "error_description": "client_id and client_secret required"}
    if not sandbox.credentials_match(str(client_id), str(client_secret)):
        return 401, {"error": "invalid_client", "error_description": "invalid client_id or client_secret"}
    token, ttl = sandbox.issue_token()
    return 200, {"access_token": token, "expires_in": int(ttl), "token_type": "Bearer"}


def account_self(sandbox: SandboxApp, *_: Any) -> tuple[int, Any]:
    return 200, sandbox.world.account.to_json()
