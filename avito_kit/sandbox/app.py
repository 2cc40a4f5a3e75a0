"""The sandbox's core: a fake Avito API behind one transport-agnostic ``SandboxApp.handle`` call, no I/O.

``handle(method, path, query, headers, body) -> SandboxResponse`` finds the route (``routes.py``), checks the
token, applies the account limit, injected faults and per-operation rate limits, and calls the handler of the
route's API family (``api_auth``, ``api_items``, ``api_rent``, ``api_messenger``, ``api_stats``), which
validates input in the spec's error shapes and changes the world. How it answers where the specs and real
accounts disagree is set by ``Switches`` (``switches.py``). The HTTP adapters (``transport.py``, ``server.py``)
import this core, never the reverse; ``avito_kit.sandbox.Sandbox`` adds the shortcuts to them.
"""

from __future__ import annotations

import hmac
import json
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

from ..dates import avito_today
from .api_messenger import NO_SUBSCRIPTION
from .api_rent import Calendars
from .api_stats import DEFAULT_STATS_FIELDS, DayRows, StatsRows
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
from .faults import AccountLimiter, FaultPlan, RateLimiter
from .params import Reject, path_int
from .responses import SandboxRequest, SandboxResponse, error_response, json_response
from .reviews import ReviewBook
from .routes import Route, match
from .switches import Switches

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "TOKEN_LOG_ENV",
    "SandboxApp",
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
REDACTED = "***"
NO_ROUTE = {"message": "no Route matched with those values"}  # the API gateway's body for an unknown path
EXPIRED_TOKEN_RESULT = {"result": {"status": False, "message": "access token expired"}}  # seen in a bot's log
_ACCOUNT_LIMIT_BODIES = {"error": b'{"error":{"code":429,"message":"Too Many Requests"}}',
                         "message": b'{"message":"API rate limit exceeded"}', "empty": b""}
_UNPARSEABLE = object()


class SandboxApp:
    """A fake Avito API for one host account, generated from a seed; state persists for its lifetime.

    >>> app = SandboxApp(seed=1, today=date(2026, 6, 15), messages_envelope="array")
    >>> app.handle("POST", "/token", "", {"Content-Type": "application/x-www-form-urlencoded"},
    ...            b"grant_type=client_credentials&client_id=sandbox-client-id&client_secret=sandbox-client-secret")

    The world: ``seed`` and ``today`` (default: Avito's today, in Moscow) fix it; ``n_items`` listings,
    ``n_chats`` chats of ``messages_per_chat`` messages (1-40 at random when None). ``client_id`` and
    ``client_secret`` are the accepted credentials; ``clock`` (``time.time`` by default) drives token expiry,
    rate windows and the account limit; ``rate_limits`` maps operationId -> calls per minute
    (``DEFAULT_RATE_LIMITS``); random faults draw from a generator seeded by ``fault_seed`` (derived from
    ``seed`` when None).

    Every other keyword is a switch (``Switches``: ``messages_envelope="array"``, ``account_limit_per_minute=100``,
    ...), also an attribute that may change between requests (``app.chats_meta = False``); ``switches`` gives a
    whole ``Switches`` instead.

    ``blocks``, ``intervals`` and ``prices`` keep what was pushed, per item id, since Avito offers no endpoint
    to read them back; ``closed_nights(item_id)`` is the calendar a guest sees; ``requests`` logs every request.

    The world replays over time: set ``today`` to an earlier day (an attribute that may change between
    requests, like the switches) and the sandbox answers as Avito did on that day. Bookings made later are
    absent and those canceled later still active (each booking was made some lead time before check-in:
    ``data.booking_dates``), chats and messages end at that day's 09:00 UTC, stats end on that day, and a
    listing closed later is still active. Token expiry and rate windows follow ``clock``: move both together.

    >>> app.today = date(2026, 3, 1)   # the account as it stood on 1 March; back to date(2026, 6, 15) later
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
        clock: Callable[[], float] = time.time,
        rate_limits: Mapping[str, int] | None = None,
        fault_seed: int | None = None,
        switches: Switches | None = None,
        **switch_values: Any,
    ) -> None:
        self.switches = switches if switches is not None else Switches()
        self.switches.update(switch_values)
        self.world: World = generate_world(seed, today or avito_today(), n_items, n_chats, messages_per_chat)
        self.seed = seed
        self._today: date = self.world.today
        self.client_id = client_id
        self._client_secret = client_secret
        self.clock = clock
        self.requests: list[SandboxRequest] = []
        self.calendars = Calendars()
        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}  # token -> expiry on the sandbox clock
        self._limiter = RateLimiter(DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits,
                                    lambda: self.clock())
        self._account_limiter = AccountLimiter(lambda: self.clock())
        self._faults = FaultPlan(random.Random(seed ^ 0x5EED if fault_seed is None else fault_seed))
        # Helpers that add data draw from their own generator so they never disturb the world's draws.
        self._helper_rng = random.Random(f"helpers:{seed}")
        self._booking_ids = BookingIds(self._helper_rng)
        self._latest = max([self.world.anchor, *(chat.updated for chat in self.world.chats.values())])
        self._stats_rows = StatsRows(self.world)
        self.reviews = ReviewBook(self.world)  # ratings.json's reviews and answers, drawn on first read

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(seed={self.seed}, today={self.today.isoformat()}, "
                f"items={len(self.world.items)}, chats={len(self.world.chats)}, requests={len(self.requests)})")

    # ---- the public surface for clients and tests -------------------------------------------------------

    @property
    def today(self) -> date:
        """The sandbox's date: it answers with the world as it stood that day (see the class docstring)."""
        return self._today

    @today.setter
    def today(self, day: date) -> None:
        if not isinstance(day, date) or isinstance(day, datetime):
            raise ValueError(f"the sandbox's today must be a date, not {day!r}")
        if day > self.world.today:
            raise ValueError(f"the sandbox's world was generated on {self.world.today} and has no later history; "
                             f"today must be at most that, not {day}")
        with self._lock:
            self._today = day

    @property
    def moment(self) -> int | None:
        """Unix seconds of "now" in the world's replay (``today`` 09:00 UTC), or None on the world's own today,
        when everything, including what requests added since, is shown."""
        return None if self._today == self.world.today else self.world.moment(self._today)

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

    @property
    def blocks(self) -> dict[int, list[dict[str, Any]]]:
        """Item id -> manual blocks accepted by putBookingsInfo (the last set; with "merge", all since)."""
        return self.calendars.blocks

    @property
    def intervals(self) -> dict[int, list[dict[str, Any]]]:
        """Item id -> the last accepted putIntervals set."""
        return self.calendars.intervals

    @property
    def prices(self) -> dict[int, dict[date, dict[str, int]]]:
        """Item id -> day -> the merged postRealtyPrices parameters."""
        return self.calendars.prices

    def bookings(self, item_id: int) -> list[dict[str, Any]]:
        """The item's bookings (all statuses) as of ``today``, in the ``getRealtyBookings`` shape."""
        if item_id not in self.world.bookings:
            raise KeyError(item_id)
        return self.world.bookings_as_of(item_id, self._today)

    def open_dates(self, item_id: int) -> dict[date, int]:
        """Days of the coming year open for sale after the last ``putIntervals``, with their quota.

        Before any push every day of the year is open with quota 1 (the listing's own calendar).
        """
        with self._lock:
            return self.calendars.open_dates(item_id, self.today)

    def closed_nights(self, item_id: int) -> set[date]:
        """The nights of the coming year (today and the 364 after) a guest cannot book: those under a manual
        block, those the last intervals push left out, and those of paid bookings (see ``api_rent``)."""
        with self._lock:
            return self.calendars.closed_nights(item_id, self.today, self.world.bookings_as_of(item_id, self.today))

    def queue_fault(self, kind: str, path_contains: str | None = None, retry_after: float | None = None) -> None:
        """Apply a fault to the next request whose path contains ``path_contains`` (any request when None):
        ``"/token"`` reaches getAccessToken, ``"/core/v1/accounts/self"`` getUserInfoSelf. A request refused by
        the account limit leaves the queue as it was.

        ``kind``: "500", "502", "503", "429" (with ``Retry-After: retry_after`` when given), "refuse"
        (connection refused, nothing processed), "drop" (processed, then the connection drops) or
        "expire_token" (every issued token expires just before the request is processed).
        """
        with self._lock:
            self._faults.add(kind, path_contains, retry_after)

    def expire_tokens(self) -> None:
        """Make every issued token expired: the next call with one is answered as ``expired_token_answer`` says
        (403, as Avito's auth guide says, by default)."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = float("-inf")

    def reset_rate_limits(self) -> None:
        """Empty the per-operation windows and the account-wide one."""
        with self._lock:
            self._limiter.reset()
            self._account_limiter.reset()

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
            message = self.append_message(chat, "in", {"text": text})
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
                self.append_message(chat, "in", message_content(rng, "text", "in", item, self.user_id))
            return chat_id

    def stats_rows(self, item_id: int, fields: tuple[str, ...] = DEFAULT_STATS_FIELDS) -> DayRows:
        """A listing's days with activity, in order, and their answer rows ``{"date", field: value}`` as JSON;
        made at the first daily stats call that names the listing (or by calling this ahead)."""
        return self._stats_rows.get(item_id, fields)

    # ---- the request pipeline ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str | Mapping[str, Any] = "",
               headers: Mapping[str, str] | None = None, body: bytes = b"") -> SandboxResponse:
        """Answer one HTTP request. ``query`` is the raw query string or a mapping; ``body`` the raw bytes."""
        method = method.upper()
        headers = {name.lower(): value for name, value in (headers or {}).items()}
        params = _parse_query(query)
        payload = _parse_body(headers.get("content-type", ""), body)
        with self._lock:
            route, path_params = match(method, path)
            record = SandboxRequest(method=method, path=path, query={k: ",".join(v) for k, v in params.items()},
                                    body=_redacted(payload), operation=route.operation if route else None,
                                    time=self.clock())
            self.requests.append(record)
            switches = self.switches
            limit = switches.account_limit_per_minute
            if limit is not None and not self._account_limiter.allow(limit):
                # No X-RateLimit-*, no Retry-After, not even a Content-Type: the bare 429 real accounts get.
                record.status = 429
                return SandboxResponse(429, {}, _ACCOUNT_LIMIT_BODIES[switches.account_limit_body])
            fault = self._faults.next_for(path, refuse_rate=switches.refuse_rate, error_rate=switches.error_rate,
                                          rate_limit_rate=switches.rate_limit_rate, drop_rate=switches.drop_rate)
            kind = fault.kind if fault else None
            record.fault = kind
            if kind == "refuse":
                return SandboxResponse(0, {}, b"", fault="refuse")
            if kind == "expire_token":
                self.expire_tokens()
            family = route.family if route else "avito"
            if kind in ("500", "502", "503"):
                response = error_response(family, int(kind), "injected server error")
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

    def _process(self, route: Route | None, path_params: dict[str, str], query: dict[str, list[str]],
                 headers: dict[str, str], payload: Any) -> SandboxResponse:
        if route is None:
            return json_response(404, NO_ROUTE)
        if route.api != "auth":
            refused = self._refuse_token(route, headers.get("authorization", ""))
            if refused is not None:
                return refused
        if route.api == "messenger" and not self.switches.messenger_subscription:
            return error_response(route.family, 402, NO_SUBSCRIPTION)
        extra_headers: dict[str, str] = {}
        if self.switches.enforce_rate_limits:
            allowed, limit, remaining, wait = self._limiter.acquire(route.operation)
            if not allowed:
                return self._too_many_requests(route.family, limit or POLITE_LIMIT, wait)
            if limit is not None:
                extra_headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}
        try:
            status, body = route.handler(self, path_params, query, payload)
        except Reject as reject:
            response = error_response(route.family, reject.status, reject.message, reject.fields, **reject.extra)
        else:
            response = json_response(status, body)
        response.headers.update(extra_headers)
        return response

    def _refuse_token(self, route: Route, authorization: str) -> SandboxResponse | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error_response(route.family, 401, "authorization required")
        expiry = self._tokens.get(token.strip())
        if expiry is not None and self.clock() < expiry:
            return None
        answer = self.switches.expired_token_answer
        if answer == "spec":
            # auth.json: "После истечения срока действия токена ... будут возвращать код ошибки 403"
            return error_response(route.family, 403, "token expired or invalid")
        return json_response(200 if answer == "result_200" else 403, EXPIRED_TOKEN_RESULT)

    def _too_many_requests(self, family: str, limit: int, wait: float | None, *,
                           queued_retry_after: float | None = None) -> SandboxResponse:
        response = error_response(family, 429, "too many requests")
        response.headers.update({"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": "0"})
        # Avito documents no Retry-After: only a queued fault that names one, or the switch, sends it.
        if queued_retry_after is not None:
            response.headers["Retry-After"] = _seconds(queued_retry_after)
        elif self.switches.send_retry_after:
            response.headers["Retry-After"] = _seconds(wait if wait is not None else 1)
        return response

    # ---- what the handlers share ------------------------------------------------------------------------

    def credentials_match(self, client_id: str, client_secret: str) -> bool:
        return (hmac.compare_digest(client_id, self.client_id)
                and hmac.compare_digest(client_secret, self._client_secret))

    def issue_token(self) -> tuple[str, float]:
        """A new token and its lifetime in seconds."""
        token = secrets.token_urlsafe(32)
        ttl = self.switches.token_ttl
        self._tokens[token] = self.clock() + ttl
        if os.environ.get(TOKEN_LOG_ENV):
            with open(os.environ[TOKEN_LOG_ENV], "a", encoding="utf-8") as log:
                log.write(token + "\n")
        return token, ttl

    def check_user(self, path_params: dict[str, str], status: int = 403) -> None:
        user_id = path_int(path_params["user_id"], "user_id")
        if user_id != self.user_id:
            raise Reject(status, "user_id does not match the token's account")

    def owned_item(self, raw: Any, name: str = "item_id") -> Item:
        item_id = path_int(raw, name) if isinstance(raw, str) else raw
        item = self.world.items_by_id.get(item_id)
        if item is None:
            raise Reject(404, f"item {item_id} not found")
        return item

    def listed_items(self) -> list[Item]:
        """The listings as of ``today``."""
        moment = self.moment
        if moment is None:
            return self.world.items
        now = datetime.fromtimestamp(moment, UTC)
        return [item.as_of(now) for item in self.world.items]

    def listed_chats(self) -> list[Chat]:
        """The chats as of ``today``, each with the messages written by then."""
        moment = self.moment
        chats = self.world.chats.values()
        if moment is None:
            return list(chats)
        return [shown for chat in chats if (shown := chat.as_of(moment)) is not None]

    def chat_at(self, path_params: dict[str, str], *, as_of_today: bool = True) -> Chat:
        """The chat of the path, 404 when unknown or begun after ``today``; with its messages until then, or,
        ``as_of_today=False``, the stored chat itself (what a write changes)."""
        self.check_user(path_params)
        chat = self.world.chats.get(path_params["chat_id"])
        moment = self.moment
        shown = chat if chat is None or moment is None else chat.as_of(moment)
        if shown is None:
            raise Reject(404, "chat not found")
        return shown if as_of_today else chat

    def refuse_past(self, day: date, field_name: str) -> None:
        if self.switches.refuse_past_calendar and day < self.today:
            raise Reject(422, "dates in the past are not allowed", {field_name: "date is in the past"})

    def _next_timestamp(self) -> int:
        # A fake clock may sit far behind the generated history: what happens now must still be the newest.
        self._latest = max(int(self.clock()), self._latest + 1)
        return self._latest

    def append_message(self, chat: Chat, direction: str, content: dict[str, Any]) -> dict[str, Any]:
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


def _switch_attribute(name: str) -> property:
    return property(lambda app: getattr(app.switches, name),
                    lambda app, value: setattr(app.switches, name, value),
                    doc=f"The switch ``Switches.{name}``.")


for _name in Switches.names():
    setattr(SandboxApp, _name, _switch_attribute(_name))


# ---- pure helpers ---------------------------------------------------------------------------------------


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
