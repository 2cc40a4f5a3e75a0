"""The sandbox's switches: how it answers where Avito's specs and real accounts disagree, and what faults it makes.

One ``Switches`` per sandbox, readable and writable at run time (``sandbox.switches.chats_meta = False``, or
``sandbox.chats_meta = False``: every field is also an attribute of the sandbox). Defaults follow what real
accounts send (REAL-WORLD.md) where that is known, the spec elsewhere.

From outside the process (a CLI test, ``make sandbox``) set them with an environment variable read by
``session.open_client()`` when it builds the embedded sandbox and by ``avito-kit sandbox``:

    AVITO_KIT_SANDBOX_SWITCHES="messenger_subscription=false,messages_envelope=array,account_limit_per_minute=100"

Booleans take true/false (or 1/0, yes/no, on/off); an optional number takes ``none``; a bad name or value is
one ``ValueError`` line naming the switch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["SWITCHES_ENV", "Switches", "parse_switches", "switches_from_env"]

SWITCHES_ENV = "AVITO_KIT_SANDBOX_SWITCHES"
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _choice(default: str, *others: str) -> Any:
    return field(default=default, metadata={"choices": (default, *others)})


@dataclass
class Switches:
    """Every switch of a sandbox, with its default; values are checked when set (``ValueError``)."""

    # ---- tokens -------------------------------------------------------------------------------------
    token_ttl: float = 86400
    """Seconds a token lives, on the sandbox clock."""
    expired_token_answer: str = _choice("spec", "result", "result_200")
    """An expired or unknown token: "spec" 403 in the endpoint's error shape (auth.json); "result" 403 with
    ``{"result": {"status": false, "message": "access token expired"}}`` (seen in a bot's log); "result_200"
    that body with HTTP 200."""

    # ---- rate limits --------------------------------------------------------------------------------
    enforce_rate_limits: bool = True
    """Per-operation one-minute limits (``rate_limits`` of the sandbox), answered 429 with X-RateLimit-*."""
    send_retry_after: bool = False
    """Add the undocumented ``Retry-After`` to those 429s."""
    account_limit_per_minute: int | None = None
    """An account-wide limit over every request in a rolling 60 s of the sandbox clock (None: none); refused
    requests answer 429 with no headers at all and do not count."""
    account_limit_body: str = _choice("error", "message", "empty")
    """The body of those 429s: "error" ``{"error": {"code": 429, "message"}}``, "message" the gateway's
    ``{"message": "API rate limit exceeded"}``, "empty" none."""

    # ---- messenger ----------------------------------------------------------------------------------
    messenger_subscription: bool = True
    """False: the account has no paid messenger API subscription, every messenger operation answers 402."""
    messages_envelope: str = _choice("meta", "object", "array")
    """getMessagesV3: "meta" ``{"messages": [...], "meta": {"has_more"}}`` (real accounts), "object"
    ``{"messages": [...]}``, "array" the spec's bare array."""
    chats_meta: bool = True
    """getChatsV2 adds ``"meta": {"has_more": bool}`` beside ``chats`` (real accounts; the spec has none)."""

    # ---- ratings -----------------------------------------------------------------------------------
    ratings_access: str = _choice("on", "forbidden", "payment_required")
    """Ratings and reviews: "on" served; "forbidden" every ratings operation answers 403 (the spec's "no
    access"); "payment_required" 402, as for a paid feature the account lacks."""

    # ---- short-term rent ----------------------------------------------------------------------------
    refuse_past_bookings_read: bool = True
    """getRealtyBookings with ``date_start`` before today answers 422 (validatingError, ``fields.date_start``)."""
    bookings_window: str = _choice("overlap", "check_in")
    """Which stays a bookings read returns: "overlap" every stay overlapping the window; "check_in" only stays
    checking in inside it (a stay under way since before ``date_start`` is left out)."""
    bookings_without_id_share: float = 0.0
    """Share (0..1) of bookings served without ``avito_booking_id`` (a newer spec makes it optional), picked
    by a stable hash of the id."""
    refuse_past_calendar: bool = True
    """Blocks and prices starting before today answer 422."""
    block_conflicts: bool = True
    """A block over a paid booking answers 409 with ``conflicts`` (interval, bookings) as the newer spec
    does; False: the plain ``{"error": {"code", "message"}}``."""
    calendar_post: str = _choice("replace", "merge")
    """putBookingsInfo: "replace" the listing's manual blocks become the set sent; "merge" the set sent is
    added to them (then only an intervals push reopens a night)."""

    # ---- random faults, drawn from the sandbox's seeded fault generator ------------------------------
    error_rate: float = 0.0
    """Chance of a 500, 502 or 503 instead of an answer."""
    rate_limit_rate: float = 0.0
    """Chance of a 429 (with X-RateLimit-* headers)."""
    refuse_rate: float = 0.0
    """Chance the connection is refused before the request is processed."""
    drop_rate: float = 0.0
    """Chance the connection drops after the request was processed."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, _checked(name, value))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def update(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            setattr(self, name, value)


_FIELDS = {f.name: f for f in fields(Switches)}
_SHARES = frozenset({"bookings_without_id_share", "error_rate", "rate_limit_rate", "refuse_rate", "drop_rate"})


def _checked(name: str, value: Any) -> Any:
    spec = _FIELDS.get(name)
    if spec is None:
        raise ValueError(f"unknown sandbox switch {name!r}; known: {', '.join(_FIELDS)}")
    choices = spec.metadata.get("choices")
    kind = type(spec.default)
    if choices is not None:
        if value not in choices:
            raise ValueError(f"sandbox switch {name} must be one of {', '.join(choices)}, not {value!r}")
    elif kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"sandbox switch {name} must be true or false, not {value!r}")
    elif name == "account_limit_per_minute":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"sandbox switch {name} must be a positive integer or none, not {value!r}")
    elif not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ValueError(f"sandbox switch {name} must be a number >= 0, not {value!r}")
    elif name in _SHARES and value > 1:
        raise ValueError(f"sandbox switch {name} is a share and must be between 0 and 1, not {value!r}")
    return value


def _from_text(name: str, raw: str) -> Any:
    spec = _FIELDS.get(name)
    if spec is None or spec.metadata.get("choices"):
        return raw
    lowered = raw.strip().lower()
    if type(spec.default) is bool:
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        return raw
    if name == "account_limit_per_minute" and lowered in ("none", ""):
        return None
    try:
        return int(lowered) if name == "account_limit_per_minute" else float(lowered)
    except ValueError:
        return raw


def parse_switches(text: str) -> dict[str, Any]:
    """``"name=value,name=value"`` -> checked switch values; a bad entry raises one ``ValueError`` line.

    >>> parse_switches("messenger_subscription=false, account_limit_per_minute=100")
    {'messenger_subscription': False, 'account_limit_per_minute': 100}
    """
    values: dict[str, Any] = {}
    for entry in text.split(","):
        if not entry.strip():
            continue
        name, equals, raw = entry.partition("=")
        name = name.strip()
        if not equals:
            raise ValueError(f"{SWITCHES_ENV}: {entry.strip()!r} is not name=value")
        try:
            values[name] = _checked(name, _from_text(name, raw.strip()))
        except ValueError as error:
            raise ValueError(f"{SWITCHES_ENV}: {error}") from None
    return values


def switches_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The switches set in ``AVITO_KIT_SANDBOX_SWITCHES`` (none when unset)."""
    return parse_switches((os.environ if environ is None else environ).get(SWITCHES_ENV, ""))
