"""The sandbox's request handling: a fake Avito API behind one transport-agnostic ``Sandbox.handle`` call.

``handle(method, path, query, headers, body) -> SandboxResponse`` routes the endpoints avito_kit uses, checks
the token, applies rate limits and injected faults, validates input in the spec's error shapes and mutates
the world. The in-process transport (``transport.py``) and the loopback HTTP server (``server.py``) are thin
adapters around it. Paths, parameters and bodies follow Avito's OpenAPI specs (auth, user, items,
short-term-rent, messenger); where the specs are silent the choice is noted next to the code.
"""

from __future__ import annotations

import asyncio
import bisect
import hmac
import json
import os
import random
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .data import (
    GUEST_NAMES,
    BookingIds,
    Chat,
    Item,
    World,
    draw_guest_user,
    generate_world,
    make_booking,
    message_content,
    new_message_id,
)
from .faults import FaultPlan, RateLimiter
from .params import (
    Reject,
    body_date,
    body_list,
    bool_param,
    date_field,
    date_param,
    int_param,
    is_int,
    list_param,
    path_int,
    refuse_overlaps,
)

if TYPE_CHECKING:
    from .server import SandboxServer
    from .transport import SandboxTransport

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "Sandbox",
    "SandboxRequest",
    "SandboxResponse",
]

SANDBOX_CLIENT_ID = "sandbox-client-id"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"
# When this environment variable names a file, every token a sandbox issues (in any process) is appended to it:
# the test suite then proves none of them reaches a database, a cassette or the output (tests/test_secrets.py).
# Sandbox tokens open nothing but a sandbox.
TOKEN_LOG_ENV = "AVITO_KIT_SANDBOX_TOKEN_LOG"
# Documented per-minute limits, by operationId: items.json getItemsInfo "25", getItemInfo "500".
DEFAULT_RATE_LIMITS = {"getItemsInfo": 25, "getItemInfo": 500}
POLITE_LIMIT = 60  # X-RateLimit-Limit of an injected 429 on an endpoint without a documented limit
YEAR_DAYS = 365
STATS_MAX_ITEMS = 200
STATS_MAX_DAYS_BACK = 270
STATS_FIELDS = ("views", "uniqViews", "contacts", "uniqContacts", "favorites", "uniqFavorites")
DEFAULT_STATS_FIELDS = ("uniqViews", "uniqContacts", "uniqFavorites")
_STATS_SOURCE = {"views": "uniqViews", "contacts": "uniqContacts", "favorites": "uniqFavorites"}  # deprecated names
ITEM_STATUSES = ("active", "removed", "old", "blocked", "rejected")
CHAT_TYPES = ("u2i", "u2u", "a2u")
MESSAGE_MAX_CHARS = 1000
REDACTED = "***"
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


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: str
    family: str  # "items": top-level {"code": str, "message"}; "avito": {"error": {"code": int, ...}}


def _route(method: str, template: str, operation: str, handler: str, family: str = "avito") -> _Route:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return _Route(method, re.compile(regex + r"\Z"), operation, handler, family)


# Paths exactly as the specs spell them, trailing slashes included (getItemInfo, getMessagesV3).
ROUTES = (
    _route("POST", "/token", "getAccessToken", "_issue_token", "oauth"),
    _route("POST", "/token/", "getAccessToken", "_issue_token", "oauth"),  # the auth guide's curl uses it
    _route("GET", "/core/v1/accounts/self", "getUserInfoSelf", "_account_self"),
    _route("GET", "/core/v1/items", "getItemsInfo", "_list_items", "items"),
    _route("GET", "/core/v1/accounts/{user_id}/items/{item_id}/", "getItemInfo", "_item_info", "items"),
    _route("GET", "/realty/v1/accounts/{user_id}/items/{item_id}/bookings", "getRealtyBookings",
           "_list_bookings"),
    _route("POST", "/core/v1/accounts/{user_id}/items/{item_id}/bookings", "putBookingsInfo", "_put_blocks"),
    _route("POST", "/realty/v1/items/intervals", "putIntervals", "_put_intervals"),
    _route("POST", "/realty/v1/accounts/{user_id}/items/{item_id}/prices", "postRealtyPrices", "_put_prices"),
    _route("GET", "/messenger/v2/accounts/{user_id}/chats", "getChatsV2", "_list_chats"),
    _route("GET", "/messenger/v2/accounts/{user_id}/chats/{chat_id}", "getChatByIdV2", "_get_chat"),
    _route("GET", "/messenger/v3/accounts/{user_id}/chats/{chat_id}/messages/", "getMessagesV3",
           "_list_messages"),
    _route("POST", "/messenger/v1/accounts/{user_id}/chats/{chat_id}/messages", "postSendMessage",
           "_send_message"),
    _route("POST", "/messenger/v1/accounts/{user_id}/chats/{chat_id}/read", "chatRead", "_read_chat"),
    _route("POST", "/stats/v1/accounts/{user_id}/items", "itemStatsShallow", "_item_stats"),
)

_UNPARSEABLE = object()


class Sandbox:
    """A fake Avito API for one host account, generated from a seed; state persists for its lifetime.

    >>> sandbox = Sandbox(seed=1)
    >>> async with httpx.AsyncClient(transport=sandbox.transport(), base_url="https://api.avito.ru") as http:
    ...     token = (await http.post("/token", data={"grant_type": "client_credentials",
    ...              "client_id": SANDBOX_CLIENT_ID, "client_secret": SANDBOX_CLIENT_SECRET})).json()

    The world: ``seed`` and ``today`` (default: the real date) fix it; ``n_items`` listings, ``n_chats`` chats
    of ``messages_per_chat`` messages (1-40 at random when None).

    Keyword switches, also plain attributes that may change between requests:
    ``client_id``/``client_secret`` the accepted credentials; ``token_ttl`` seconds of the ``clock`` (which
    also drives rate windows; default ``time.time``); ``enforce_rate_limits`` with ``rate_limits``
    (operationId -> calls per minute, default ``DEFAULT_RATE_LIMITS``); ``send_retry_after`` adds the
    undocumented ``Retry-After`` to 429s; ``messages_envelope`` "array" (the spec) or "object";
    ``refuse_past_bookings_read`` (400 for a bookings window starting before today);
    ``refuse_past_calendar`` (422 for blocks and prices starting before today); ``error_rate``,
    ``rate_limit_rate``, ``refuse_rate``, ``drop_rate`` the chances of random faults, drawn from a generator
    seeded by ``fault_seed`` (derived from ``seed`` when None).

    ``blocks``, ``intervals`` and ``prices`` keep what was pushed, per item id, since Avito offers no
    endpoint to read them back; ``requests`` logs every request received.
    """

    def __init__(
        self,
        seed: int = 0,
        today: date | None = None,
        n_items: int = 12,
        n_chats: int = 150,
        messages_per_chat: int | None = None,
        *,
        client_id: str = SANDBOX_CLIENT_ID,
        client_secret: str = SANDBOX_CLIENT_SECRET,
        token_ttl: float = 86400,
        clock: Callable[[], float] = time.time,
        enforce_rate_limits: bool = True,
        rate_limits: Mapping[str, int] | None = None,
        send_retry_after: bool = False,
        messages_envelope: str = "array",
        refuse_past_bookings_read: bool = False,
        refuse_past_calendar: bool = True,
        error_rate: float = 0.0,
        rate_limit_rate: float = 0.0,
        refuse_rate: float = 0.0,
        drop_rate: float = 0.0,
        fault_seed: int | None = None,
    ) -> None:
        if messages_envelope not in ("array", "object"):
            raise ValueError("messages_envelope must be 'array' (the spec) or 'object' ({'messages': [...]})")
        self.world: World = generate_world(seed, today, n_items, n_chats, messages_per_chat)
        self.seed = seed
        self.today: date = self.world.today
        self.client_id = client_id
        self._client_secret = client_secret
        self.token_ttl = token_ttl
        self.clock = clock
        self.enforce_rate_limits = enforce_rate_limits
        self.send_retry_after = send_retry_after
        self.messages_envelope = messages_envelope
        self.refuse_past_bookings_read = refuse_past_bookings_read
        self.refuse_past_calendar = refuse_past_calendar
        self.error_rate = error_rate
        self.rate_limit_rate = rate_limit_rate
        self.refuse_rate = refuse_rate
        self.drop_rate = drop_rate
        self.requests: list[SandboxRequest] = []
        self.blocks: dict[int, list[dict[str, Any]]] = {}  # item id -> the last accepted putBookingsInfo set
        self.intervals: dict[int, list[dict[str, Any]]] = {}  # item id -> the last accepted putIntervals set
        self.prices: dict[int, dict[date, dict[str, int]]] = {}  # item id -> day -> merged price parameters
        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}  # token -> expiry on the sandbox clock
        self._limiter = RateLimiter(DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits,
                                    lambda: self.clock())
        self._faults = FaultPlan(random.Random(seed ^ 0x5EED if fault_seed is None else fault_seed))
        # Helpers that add data draw from their own generator so they never disturb the world's draws.
        self._helper_rng = random.Random(f"helpers:{seed}")
        self._booking_ids = BookingIds(self._helper_rng)
        self._latest = max([self.world.anchor, *(chat.updated for chat in self.world.chats.values())])
        # (item id, fields) -> a listing's days with activity and their daily answer rows as JSON: a stats
        # call of 200 listings is 54,000 rows, and building and encoding them anew would hold the lock (so stall
        # every other request under way) for a tenth of a second, which Avito's servers do not do
        self._day_rows: dict[tuple[int, tuple[str, ...]], _DayRows] = {}

    def __repr__(self) -> str:
        return (f"Sandbox(seed={self.seed}, today={self.today.isoformat()}, items={len(self.world.items)}, "
                f"chats={len(self.world.chats)}, requests={len(self.requests)})")

    # ---- the public surface for clients and tests -------------------------------------------------------

    @property
    def user_id(self) -> int:
        """The account id, the ``user_id`` of every account path."""
        return self.world.account.id

    @property
    def client_secret_hint(self) -> str:
        """The secret to print in setup hints: the public default, never a secret a caller configured."""
        if self._client_secret == SANDBOX_CLIENT_SECRET:
            return SANDBOX_CLIENT_SECRET
        return "<the client_secret given to Sandbox>"

    @property
    def items(self) -> list[Item]:
        return self.world.items

    @property
    def chats(self) -> dict[str, Chat]:
        return self.world.chats

    def bookings(self, item_id: int) -> list[dict[str, Any]]:
        """The item's bookings (all statuses), in the ``getRealtyBookings`` shape."""
        return self.world.bookings[item_id]

    def open_dates(self, item_id: int) -> dict[date, int]:
        """Days of the coming year open for sale after the last ``putIntervals``, with their quota.

        Before any push every day of the year is open with quota 1 (the listing's own calendar).
        """
        with self._lock:
            horizon = range(self.today.toordinal(), self.today.toordinal() + YEAR_DAYS)
            pushed = self.intervals.get(item_id)
            if pushed is None:
                return {date.fromordinal(day): 1 for day in horizon}
            result: dict[date, int] = {}
            for interval in pushed:
                start = date.fromisoformat(interval["date_start"]).toordinal()
                end = date.fromisoformat(interval["date_end"]).toordinal()
                for day in range(max(start, horizon.start), min(end, horizon.stop)):
                    result[date.fromordinal(day)] = interval["open"]
            return dict(sorted(result.items()))

    def queue_fault(self, kind: str, path_contains: str | None = None, retry_after: float | None = None) -> None:
        """Apply a fault to the next request whose path contains ``path_contains`` (any request when None).

        ``kind``: "500", "502", "503", "429" (with ``Retry-After: retry_after`` when given), "refuse"
        (connection refused, nothing processed), "drop" (processed, then the connection drops) or
        "expire_token" (every issued token expires just before the request is processed).
        """
        with self._lock:
            self._faults.add(kind, path_contains, retry_after)

    def expire_tokens(self) -> None:
        """Make every issued token expired: the next call with one answers 403, as Avito's auth guide says."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = float("-inf")

    def reset_rate_limits(self) -> None:
        with self._lock:
            self._limiter.reset()

    def add_booking(self, item_id: int, check_in: date | str, check_out: date | str, status: str = "active",
                    base_price: int | None = None) -> dict[str, Any]:
        """Add a booking to an item (no overlap check: tests may build any calendar) and return it."""
        check_in, check_out = _as_date(check_in), _as_date(check_out)
        with self._lock:
            item = self.world.items_by_id[item_id]
            nights = (check_out - check_in).days
            rng = self._helper_rng
            booking = make_booking(
                booking_id=self._booking_ids.next(), check_in=check_in, check_out=check_out, status=status,
                base_price=item.nightly_price * nights if base_price is None else base_price,
                guest_count=rng.randint(1, 4), guest=rng.choice(GUEST_NAMES),
                phone=f"9{rng.randrange(10**9):09d}")
            bookings = self.world.bookings.setdefault(item_id, [])
            bookings.append(booking)
            bookings.sort(key=lambda b: b["check_in"])
            return booking

    def set_booking_status(self, booking_id: int, status: str) -> dict[str, Any]:
        """Change a booking's status (e.g. to "canceled" or a status Avito does not document) and return it."""
        with self._lock:
            for bookings in self.world.bookings.values():
                for booking in bookings:
                    if booking["avito_booking_id"] == booking_id:
                        booking["status"] = status
                        return booking
            raise KeyError(booking_id)

    def add_incoming_message(self, chat_id: str, text: str) -> dict[str, Any]:
        """A guest writes ``text`` in the chat: it becomes the newest message and the chat turns unread."""
        with self._lock:
            chat = self.world.chats[chat_id]
            message = self._append_message(chat, "in", {"text": text})
            return message

    def add_chat(self, item_id: int | None = None, n_messages: int = 3, chat_type: str = "u2i") -> str:
        """Open a new chat with a new guest who sends ``n_messages`` unread messages; returns its id.

        A u2i chat is about ``item_id`` (the first active listing when None); a u2u chat about no listing.
        """
        if chat_type not in ("u2i", "u2u"):
            raise ValueError("chat_type must be 'u2i' or 'u2u'")
        with self._lock:
            item = None
            if chat_type == "u2i":
                active = [it for it in self.world.items if it.status == "active"] or self.world.items
                item = self.world.items_by_id[item_id] if item_id is not None else active[0]
            rng = self._helper_rng
            guest_id, guest = draw_guest_user(rng)
            chat_id = f"{chat_type}-{rng.getrandbits(128):032x}"
            chat = Chat(id=chat_id, type=chat_type, created=self._next_timestamp(), item_id=item.id if item else None,
                        context=item.context(self.user_id) if item else None,
                        users=[self.world.host_user, guest], guest_id=guest_id)
            self.world.chats[chat_id] = chat
            for _ in range(n_messages):
                self._append_message(chat, "in", message_content(rng, "text", "in", item, self.user_id))
            return chat_id

    def transport(self, latency: float = 0.0, sleep: Callable[[float], Awaitable[object]] | None = None
                  ) -> SandboxTransport:
        """An ``httpx`` transport running this sandbox in-process (see ``SandboxTransport``)."""
        from .transport import SandboxTransport

        return SandboxTransport(self, latency=latency, sleep=sleep or asyncio.sleep)

    def serve(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> SandboxServer:
        """Serve this sandbox over HTTP/1.1 on ``host:port`` in a daemon thread; returns a ``SandboxServer``
        (a context manager with ``.base_url`` and ``.close()``)."""
        from .server import SandboxServer

        return SandboxServer(self, host=host, port=port, latency=latency)

    # ---- the request pipeline ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str | Mapping[str, Any] = "",
               headers: Mapping[str, str] | None = None, body: bytes = b"") -> SandboxResponse:
        """Answer one HTTP request. ``query`` is the raw query string or a mapping; ``body`` the raw bytes."""
        method = method.upper()
        headers = {name.lower(): value for name, value in (headers or {}).items()}
        params = _parse_query(query)
        payload = _parse_body(headers.get("content-type", ""), body)
        with self._lock:
            route, path_params = _match(method, path)
            record = SandboxRequest(method=method, path=path, query={k: ",".join(v) for k, v in params.items()},
                                    body=_redacted(payload), operation=route.operation if route else None,
                                    time=self.clock())
            self.requests.append(record)
            fault = self._faults.next_for(path, refuse_rate=self.refuse_rate, error_rate=self.error_rate,
                                          rate_limit_rate=self.rate_limit_rate, drop_rate=self.drop_rate)
            kind = fault.kind if fault else None
            record.fault = kind
            if kind == "refuse":
                return SandboxResponse(0, {}, b"", fault="refuse")
            if kind == "expire_token":
                self.expire_tokens()
            family = route.family if route else "avito"
            if kind in ("500", "502", "503"):
                response = _error(family, int(kind), "injected server error")
            elif kind == "429":
                limit = self._limiter.limits.get(route.operation, POLITE_LIMIT) if route else POLITE_LIMIT
                response = self._too_many_requests(family, limit, None,
                                                   queued_retry_after=fault.retry_after if fault else None)
            else:
                response = self._process(route, path_params, params, headers, payload)
            if kind == "drop":
                response.fault = "drop"
            record.status = response.status
            return response

    def _process(self, route: _Route | None, path_params: dict[str, str], query: dict[str, list[str]],
                 headers: dict[str, str], payload: Any) -> SandboxResponse:
        if route is None:
            return _error("avito", 404, "no such endpoint")
        if route.family != "oauth":
            authorization = headers.get("authorization", "")
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return _error(route.family, 401, "authorization required")
            expiry = self._tokens.get(token.strip())
            if expiry is None or self.clock() >= expiry:
                # auth.json: "После истечения срока действия токена ... будут возвращать код ошибки 403"
                return _error(route.family, 403, "token expired or invalid")
        extra_headers: dict[str, str] = {}
        if self.enforce_rate_limits:
            allowed, limit, remaining, wait = self._limiter.acquire(route.operation)
            if not allowed:
                return self._too_many_requests(route.family, limit or POLITE_LIMIT, wait)
            if limit is not None:
                extra_headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}
        try:
            status, body = getattr(self, route.handler)(path_params, query, payload)
        except Reject as reject:
            response = _error(route.family, reject.status, reject.message, reject.fields)
        else:
            response = _json_response(status, body)
        response.headers.update(extra_headers)
        return response

    def _too_many_requests(self, family: str, limit: int, wait: float | None, *,
                           queued_retry_after: float | None = None) -> SandboxResponse:
        response = _error(family, 429, "too many requests")
        response.headers.update({"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0"})
        # Avito documents no Retry-After: only a queued fault that names one, or the switch, sends it.
        if queued_retry_after is not None:
            response.headers["Retry-After"] = _seconds(queued_retry_after)
        elif self.send_retry_after:
            response.headers["Retry-After"] = _seconds(wait if wait is not None else 1)
        return response

    # ---- shared checks ----------------------------------------------------------------------------------

    def _check_user(self, path_params: dict[str, str], status: int = 403) -> None:
        user_id = path_int(path_params["user_id"], "user_id")
        if user_id != self.user_id:
            raise Reject(status, "user_id does not match the token's account")

    def _owned_item(self, raw: Any, name: str = "item_id") -> Item:
        item_id = path_int(raw, name) if isinstance(raw, str) else raw
        item = self.world.items_by_id.get(item_id)
        if item is None:
            raise Reject(404, f"item {item_id} not found")
        return item

    def _chat(self, path_params: dict[str, str]) -> Chat:
        self._check_user(path_params)
        chat = self.world.chats.get(path_params["chat_id"])
        if chat is None:
            raise Reject(404, "chat not found")
        return chat

    def _refuse_past(self, day: date, field_name: str) -> None:
        if self.refuse_past_calendar and day < self.today:
            raise Reject(422, "dates in the past are not allowed", {field_name: "date is in the past"})

    def _next_timestamp(self) -> int:
        # A fake clock may sit far behind the generated history: what happens now must still be the newest.
        self._latest = max(int(self.clock()), self._latest + 1)
        return self._latest

    def _append_message(self, chat: Chat, direction: str, content: dict[str, Any]) -> dict[str, Any]:
        created = self._next_timestamp()
        message = {
            "id": new_message_id(self._helper_rng),
            "author_id": self.user_id if direction == "out" else chat.guest_id,
            "content": content,
            "created": created,
            "direction": direction,
            "is_read": direction == "out",
            "read": None,
            "type": "text",
        }
        chat.messages.append(message)
        return message

    # ---- handlers: each returns (status, body) or raises Reject ----------------------------------------

    def _issue_token(self, _: dict[str, str], __: dict[str, list[str]], form: Any) -> tuple[int, Any]:
        # The /token error body is undocumented: these follow OAuth 2 (RFC 6749 section 5.2).
        if not isinstance(form, dict):
            return 400, {"error": "invalid_request", "error_description": "form-encoded body required"}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "use client_credentials"}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if not client_id or not client_secret:
            return 400, {"error": "invalid_request", "error_description": "client_id and client_secret required"}
        if not (hmac.compare_digest(str(client_id), self.client_id)
                and hmac.compare_digest(str(client_secret), self._client_secret)):
            return 401, {"error": "invalid_client", "error_description": "invalid client_id or client_secret"}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self.clock() + self.token_ttl
        if os.environ.get(TOKEN_LOG_ENV):
            with open(os.environ[TOKEN_LOG_ENV], "a", encoding="utf-8") as log:
                log.write(token + "\n")
        return 200, {"access_token": token, "expires_in": int(self.token_ttl), "token_type": "Bearer"}

    def _account_self(self, *_: Any) -> tuple[int, Any]:
        return 200, self.world.account.to_json()

    def _list_items(self, _: dict[str, str], query: dict[str, list[str]], __: Any) -> tuple[int, Any]:
        # getItemsInfo: per_page "целое число больше 0 и меньше 100"; status a comma list, default active.
        per_page = int_param(query, "per_page", 25, 1, 99)
        page = int_param(query, "page", 1, 1, None)
        statuses = list_param(query, "status") or ["active"]
        unknown = [s for s in statuses if s not in ITEM_STATUSES]
        if unknown:
            raise Reject(400, f"unknown status {unknown[0]!r}")
        category = int_param(query, "category", None, None, None)
        selected = [item for item in self.world.items
                    if item.status in statuses and (category is None or category == 24)]
        start = (page - 1) * per_page
        return 200, {"meta": {"page": page, "per_page": per_page},
                     "resources": [item.resource() for item in selected[start:start + per_page]]}

    def _item_info(self, path_params: dict[str, str], *_: Any) -> tuple[int, Any]:
        self._check_user(path_params)
        return 200, self._owned_item(path_params["item_id"]).info()

    def _list_bookings(self, path_params: dict[str, str], query: dict[str, list[str]], _: Any) -> tuple[int, Any]:
        self._check_user(path_params)
        item = self._owned_item(path_params["item_id"])
        date_start = date_param(query, "date_start")
        date_end = date_param(query, "date_end")
        if date_end < date_start:
            raise Reject(422, "date_end is before date_start", {"date_end": "before date_start"})
        if self.refuse_past_bookings_read and date_start < self.today:
            # short-term-rent.json: date_start "не в прошлом"; whether Avito enforces it is unknown.
            raise Reject(400, "date_start must not be in the past")
        with_unpaid = bool_param(query, "with_unpaid", False)
        bool_param(query, "skip_error", False)
        first, last = date_start.isoformat(), date_end.isoformat()
        found = [b for b in self.world.bookings.get(item.id, ())
                 if b["check_in"] <= last and b["check_out"] > first
                 and (b["status"] != "pending" or with_unpaid)]
        return 200, {"bookings": found}

    def _put_blocks(self, path_params: dict[str, str], _: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        self._check_user(path_params)
        item = self._owned_item(path_params["item_id"])
        entries = body_list(body, "bookings")
        blocks = []
        for index, entry in enumerate(entries):
            where = f"bookings[{index}]"
            if not isinstance(entry, dict):
                raise Reject(422, "each booking must be an object", {where: "not an object"})
            start = date_field(entry, "date_start", where)
            end = date_field(entry, "date_end", where)
            if end <= start:
                raise Reject(422, "date_end must be after date_start (it is an open end)",
                              {f"{where}.date_end": "not after date_start"})
            self._refuse_past(start, f"{where}.date_start")
            kind = entry.get("type")
            if kind not in (None, "manual", "booking"):
                raise Reject(422, "type must be manual or booking", {f"{where}.type": "unknown value"})
            comment = entry.get("comment")
            if comment is not None and not isinstance(comment, str):
                raise Reject(422, "comment must be a string", {f"{where}.comment": "not a string"})
            blocks.append({"date_start": start.isoformat(), "date_end": end.isoformat(), "type": kind,
                           "comment": comment})
        refuse_overlaps(blocks, "bookings")
        for block in blocks:
            for booking in self.world.bookings.get(item.id, ()):
                if (booking["status"] == "active" and booking["check_in"] < block["date_end"]
                        and booking["check_out"] > block["date_start"]):
                    # All or nothing: "На заданные даты есть оплаченные брони", nothing is closed.
                    raise Reject(409, f"dates overlap the paid booking {booking['avito_booking_id']}")
        # Replace, not merge: the item's manual blocks become exactly this set (NOTES.md: undocumented).
        self.blocks[item.id] = blocks
        return 200, {"result": "success"}

    def _put_intervals(self, _: dict[str, str], query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        bool_param(query, "skip_error", False)
        if not isinstance(body, dict):
            raise Reject(400, "JSON object body required")
        item_id = body.get("item_id")
        if not is_int(item_id):
            raise Reject(422, "item_id must be an integer", {"item_id": "not an integer"})
        item = self._owned_item(item_id)
        intervals = []
        for index, entry in enumerate(body_list(body, "intervals")):
            where = f"intervals[{index}]"
            if not isinstance(entry, dict):
                raise Reject(422, "each interval must be an object", {where: "not an object"})
            start = date_field(entry, "date_start", where)
            end = date_field(entry, "date_end", where)
            if end <= start:
                raise Reject(422, "date_end must be after date_start (it is an open end)",
                              {f"{where}.date_end": "not after date_start"})
            quota = entry.get("open")
            if not is_int(quota) or quota <= 0:
                raise Reject(422, "open is a quota and must be > 0", {f"{where}.open": "must be > 0"})
            intervals.append({"date_start": start.isoformat(), "date_end": end.isoformat(), "open": quota})
        refuse_overlaps(intervals, "intervals")
        # The request is the whole availability of the coming year: what it leaves out is closed.
        self.intervals[item.id] = intervals
        return 200, {"result": "success"}

    def _put_prices(self, path_params: dict[str, str], query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        self._check_user(path_params)
        item = self._owned_item(path_params["item_id"])
        bool_param(query, "skip_error", False)
        updates: list[tuple[date, date, dict[str, int]]] = []
        for index, entry in enumerate(body_list(body, "prices")):
            where = f"prices[{index}]"
            if not isinstance(entry, dict):
                raise Reject(422, "each price must be an object", {where: "not an object"})
            start = date_field(entry, "date_from", where)
            end = date_field(entry, "date_to", where)  # inclusive
            if end < start:
                raise Reject(422, "date_to is before date_from", {f"{where}.date_to": "before date_from"})
            self._refuse_past(start, f"{where}.date_from")
            values: dict[str, int] = {}
            for name, low, high in (("night_price", 1, None), ("minimal_duration", 1, 30),
                                    ("extra_guest_fee", 0, None)):
                if name not in entry:
                    continue
                value = entry[name]
                if not is_int(value) or value < low or (high is not None and value > high):
                    bounds = f"{low}..{high}" if high is not None else f">= {low}"
                    raise Reject(422, f"{name} must be an integer {bounds}", {f"{where}.{name}": bounds})
                values[name] = value
            if "night_price" not in values:
                raise Reject(422, "night_price is required", {f"{where}.night_price": "required"})
            updates.append((start, end, values))
        per_day = self.prices.setdefault(item.id, {})
        for start, end, values in updates:
            for ordinal in range(start.toordinal(), end.toordinal() + 1):
                per_day.setdefault(date.fromordinal(ordinal), {}).update(values)
        return 200, {"result": "success"}

    def _list_chats(self, path_params: dict[str, str], query: dict[str, list[str]], _: Any) -> tuple[int, Any]:
        self._check_user(path_params)
        limit = int_param(query, "limit", 100, 1, 100)
        offset = int_param(query, "offset", 0, 0, 1000)
        chat_types = list_param(query, "chat_types") or ["u2i"]  # messenger.json: default u2i only
        unknown = [t for t in chat_types if t not in CHAT_TYPES]
        if unknown:
            raise Reject(400, f"unknown chat type {unknown[0]!r}")
        item_ids = {path_int(raw, "item_ids") for raw in list_param(query, "item_ids")}
        unread_only = bool_param(query, "unread_only", False)
        chats = [chat for chat in self.world.chats.values()
                 if chat.type in chat_types
                 and (not item_ids or chat.item_id in item_ids)
                 and (not unread_only or chat.unread)]
        chats.sort(key=lambda chat: (chat.updated, chat.id), reverse=True)
        return 200, {"chats": [chat.to_json() for chat in chats[offset:offset + limit]]}

    def _get_chat(self, path_params: dict[str, str], *_: Any) -> tuple[int, Any]:
        return 200, self._chat(path_params).to_json()

    def _list_messages(self, path_params: dict[str, str], query: dict[str, list[str]], _: Any) -> tuple[int, Any]:
        chat = self._chat(path_params)
        limit = int_param(query, "limit", 100, 1, 100)
        offset = int_param(query, "offset", 0, 0, 1000)
        newest_first = chat.messages[::-1][offset:offset + limit]
        # messenger.json says a bare array; several clients read {"messages": [...]}: both are servable.
        return 200, newest_first if self.messages_envelope == "array" else {"messages": newest_first}

    def _send_message(self, path_params: dict[str, str], _: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        chat = self._chat(path_params)
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            raise Reject(400, 'body must be {"message": {"text": ...}, "type": "text"}')
        if body.get("type", "text") != "text":
            raise Reject(400, "only text messages can be sent")
        text = body["message"].get("text")
        if not isinstance(text, str) or not 1 <= len(text) <= MESSAGE_MAX_CHARS:
            raise Reject(400, f"text must be 1..{MESSAGE_MAX_CHARS} characters")
        message = self._append_message(chat, "out", {"text": text})
        return 200, {key: message[key] for key in ("id", "content", "created", "direction", "type")}

    def _read_chat(self, path_params: dict[str, str], *_: Any) -> tuple[int, Any]:
        chat = self._chat(path_params)
        for message in chat.messages:
            if message["direction"] == "in":
                message["is_read"] = True
        return 200, {"ok": True}

    def _item_stats(self, path_params: dict[str, str], _: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        self._check_user(path_params, status=404)  # itemStatsShallow: 404 "Неверный user_id в запросе"
        if not isinstance(body, dict):
            raise Reject(400, "JSON object body required")
        date_from = body_date(body, "dateFrom")
        date_to = body_date(body, "dateTo")
        if date_to < date_from:
            raise Reject(400, "dateTo is before dateFrom")
        if date_from < self.today - timedelta(days=STATS_MAX_DAYS_BACK):
            raise Reject(400, f"dateFrom is more than {STATS_MAX_DAYS_BACK} days back")
        item_ids = body.get("itemIds")
        if not isinstance(item_ids, list) or not item_ids or not all(is_int(i) for i in item_ids):
            raise Reject(400, "itemIds must be a non-empty list of integers")
        if len(item_ids) > STATS_MAX_ITEMS:
            raise Reject(400, f"at most {STATS_MAX_ITEMS} itemIds per request")
        fields = body.get("fields") or list(DEFAULT_STATS_FIELDS)
        if not isinstance(fields, list) or any(f not in STATS_FIELDS for f in fields):
            raise Reject(400, f"fields must be a list of {', '.join(STATS_FIELDS)}")
        grouping = body.get("periodGrouping", "day")
        if grouping not in ("day", "week", "month"):
            raise Reject(400, "periodGrouping must be day, week or month")
        entries = []
        for item_id in dict.fromkeys(item_ids):
            if item_id not in self.world.items_by_id:
                continue  # not the account's listing: left out of the result
            if grouping == "day":
                known = self.stats_rows(item_id, tuple(fields))
                days = slice(bisect.bisect_left(known.days, date_from), bisect.bisect_right(known.days, date_to))
                stats = "[" + ",".join(known.encoded[days]) + "]"
            else:
                grouped: dict[date, dict[str, int]] = {}
                for day, counters in self.world.daily_stats(item_id).items():
                    if date_from <= day <= date_to:
                        totals = grouped.setdefault(_period_start(day, grouping), dict.fromkeys(fields, 0))
                        for name in fields:
                            totals[name] += counters[_STATS_SOURCE.get(name, name)]
                stats = _to_json([{"date": day.isoformat(), **totals} for day, totals in sorted(grouped.items())])
            entries.append(f'{{"itemId":{item_id},"stats":{stats}}}')
        return 200, ('{"result":{"items":[' + ",".join(entries) + "]}}").encode()

    def stats_rows(self, item_id: int, fields: tuple[str, ...] = DEFAULT_STATS_FIELDS) -> _DayRows:
        """A listing's days with activity, in order, and their answer rows ``{"date", field: value}`` as JSON;
        made at the first daily stats call that names the listing (or by calling this ahead)."""
        key = (item_id, fields)
        if key not in self._day_rows:
            days = sorted(self.world.daily_stats(item_id).items())
            sources = [(name, _STATS_SOURCE.get(name, name)) for name in fields]
            self._day_rows[key] = _DayRows([day for day, _ in days], [
                _to_json({"date": day.isoformat(), **{name: counters[source] for name, source in sources}})
                for day, counters in days])
        return self._day_rows[key]


# ---- pure helpers ---------------------------------------------------------------------------------------


def _match(method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
    for route in ROUTES:
        if route.method == method:
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict()
    return None, {}


@dataclass(frozen=True)
class _DayRows:
    days: list[date]
    encoded: list[str]


_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json_response(status: int, body: Any) -> SandboxResponse:
    """``body`` as JSON; bytes are JSON already (an answer put together from encoded parts)."""
    encoded = body if isinstance(body, bytes) else _to_json(body).encode()
    return SandboxResponse(status, {"Content-Type": "application/json; charset=utf-8"}, encoded)


def _error(family: str, status: int, message: str, fields: dict[str, str] | None = None) -> SandboxResponse:
    if family == "items":  # items.json FieldError: top-level {"code": string, "message": string}
        return _json_response(status, {"code": _ITEMS_ERROR_CODES.get(status, str(status)), "message": message})
    if family == "oauth":
        return _json_response(status, {"error": "server_error" if status >= 500 else "invalid_request",
                                       "error_description": message})
    error: dict[str, Any] = {"code": status, "message": message}
    if status == 422:
        error["fields"] = fields or {}
    return _json_response(status, {"error": error})


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _parse_query(query: str | Mapping[str, Any]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    if isinstance(query, Mapping):
        for name, value in query.items():
            items = value if isinstance(value, list | tuple) else [value]
            values[name] = [str(v).lower() if isinstance(v, bool) else str(v) for v in items]
        return values
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    return values


def _parse_body(content_type: str, body: bytes) -> Any:
    if not body:
        return None
    try:
        if "application/x-www-form-urlencoded" in content_type:
            return dict(parse_qsl(body.decode(), keep_blank_values=True))
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return _UNPARSEABLE


def _redacted(payload: Any) -> Any:
    if payload is _UNPARSEABLE:
        return "<unparseable>"
    if isinstance(payload, dict) and "client_secret" in payload:
        return {**payload, "client_secret": REDACTED}
    return payload


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _period_start(day: date, grouping: str) -> date:
    if grouping == "week":
        return day - timedelta(days=day.weekday())
    if grouping == "month":
        return day.replace(day=1)
    return day

