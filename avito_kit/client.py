"""AvitoApiClient: the only code that sends HTTP to Avito.

It keeps the method names, positional parameters and defaults of the integration avito_kit grew from (its
documentation is the seed of this project; every addition is keyword-only), and the paths of the official specs
in ``shared/avito-api/openapi``. Every call goes through ``_make_request``: bearer token, one token refresh on
401/403 or on a 200 saying "access token expired" (REAL-WORLD.md), the shared rate limiter, and the retry
policy of ``limits.py``.

>>> async with AvitoApiClient(avito_auth_instance=AvitoAuth()) as client:
...     async for item in client.iter_items():
...         print(item["id"], item["title"])
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import functools
import itertools
import json as jsonlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

import httpx

from .auth import AvitoAuth, http_client
from .checks import check_answer_text, check_chat_id, check_id, check_range, check_text
from .dates import avito_today
from .errors import AvitoError, AvitoRateLimited, AvitoUnexpectedAnswer, error_for_response, says_token_expired
from .limits import RateLimiter, RetryPolicy, limit_key, send_with_retries

__all__ = ["ALL_ITEM_STATUSES", "AvitoApiClient", "check_base_params", "check_prices"]

log = logging.getLogger(__name__)

_patient: contextvars.ContextVar[bool] = contextvars.ContextVar("avito_kit_patient", default=False)

ALL_ITEM_STATUSES = ("active", "removed", "old", "blocked", "rejected")
ITEMS_PAGE_MAX = 99  # items.json getItemsInfo: per_page "greater than 0 and less than 100"
MESSENGER_PAGE_MAX = 100  # messenger.json: limit <= 100
MESSENGER_OFFSET_MAX = 1000  # messenger.json: offset <= 1000; older chats and messages cannot be paged to
STATS_IDS_MAX = 200  # items.json itemStatsShallow: at most 200 itemIds per request
STATS_FIELDS = ("uniqViews", "uniqContacts", "uniqFavorites")
REVIEWS_PAGE_MAX = 50  # ratings.json getReviewsV1: limit 1..50


class AvitoApiClient:
    """Async Avito API client sharing one ``httpx.AsyncClient``; use it as an async context manager.

    ``transport`` is any httpx async transport (the embedded sandbox's, ``httpx.MockTransport``); ``sleep``
    and ``clock`` are injectable so tests never wait. ``retry`` governs every request, the auth's ``/token``
    and ``/self`` included. ``patient=True`` (or a ``with client.patiently():`` block) sits out sustained 429s
    instead of failing after the seed's 3 tries; ``throttled`` (and ``on_throttle(bool)`` on each change) tell
    when a request waits for Avito's limit, so a progress bar can say so.
    """

    sandbox = None  # the embedded Sandbox when ``open_client`` chose it, for demos and tests to inspect

    def __init__(
        self,
        avito_auth_instance: AvitoAuth | None = None,
        *,
        base_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] | None = None,
        retry: RetryPolicy | None = None,
        rate_limits: dict[str, int] | None = None,
        default_per_minute: int = 1000,
        max_in_flight: int = 8,
        timeout: float = 30.0,
        patient: bool = False,
        on_throttle: Callable[[bool], Any] | None = None,
    ) -> None:
        self.auth = avito_auth_instance or AvitoAuth(base_url=base_url, transport=transport, retry=retry)
        self.base_url = (base_url or self.auth.base_url).rstrip("/")
        self.transport = transport if transport is not None else self.auth.transport
        if retry is not None:
            self.auth.retry = retry  # one policy for the token, the account id and every call
        self.retry = retry or self.auth.retry
        self.limiter = RateLimiter(rate_limits, default_per_minute=default_per_minute,
                                   max_in_flight=max_in_flight, clock=clock, sleep=sleep, on_throttle=on_throttle)
        self.patient = patient  # see ``patiently``
        self._sleep = sleep
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None
        self._closer: asyncio.Task | None = None
        self._listings: dict[int, dict] = {}  # listings seen by iter_items, to complete get_item_details
        self.requests_sent = 0  # every HTTP attempt, retries included: the sync report and benchmarks count it

    def __repr__(self) -> str:
        return f"AvitoApiClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> AvitoApiClient:
        self._client()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        http, closer, self._http, self._closer = self._http, self._closer, None, None
        if closer is not None and not closer.done() and closer.get_loop() is asyncio.get_running_loop():
            closer.cancel()  # it closes ``http`` on its way out
            await asyncio.gather(closer, return_exceptions=True)
        elif http is not None:
            await http.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            # As many connections as requests may be in flight: spare idle ones slow every request (bench/RESULTS.md).
            limits = httpx.Limits(max_connections=self.limiter.max_in_flight)
            self._http = http_client(self.base_url, self.transport, self._timeout, limits=limits)
            self._closer = _close_when_the_loop_ends(self._http)
        return self._http

    # -- the request loop ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def patiently(self) -> Iterator[None]:
        """Within this block (and the tasks started in it), a call refused with 429 waits and tries again up to
        ``retry.patient_attempts`` times instead of the seed's 3: for a long sync, which must slow down rather
        than fail. ``limiter.throttled`` tells meanwhile that it waits for Avito's limit.

        >>> with client.patiently():
        ...     await sync(client, store)
        """
        reset = _patient.set(True)
        try:
            yield
        finally:
            _patient.reset(reset)

    async def _make_request(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                            idempotent: bool = True, parse: bool = True, patient: bool | None = None) -> Any:
        """Send one API call and return its parsed JSON body (None when empty), or its bytes with ``parse=False``.

        ``path`` is the endpoint (``/core/v1/accounts/self``) or a full URL under ``base_url``. Up to
        ``retry.attempts`` tries on 429, 5xx and network errors (``patient``: more on 429, see ``patiently``);
        one token refresh and replay on 401, 403 or an "access token expired" body. ``idempotent=False``
        (sending a message) retries only when Avito provably never got the request.
        """
        path = self._path(path)
        key = limit_key(path)
        patient = (self.patient or _patient.get()) if patient is None else patient
        url = self._url(path, params)

        async def wait(error: AvitoError, seconds: float) -> None:
            if isinstance(error, AvitoRateLimited):
                await self.limiter.wait_for_limit(seconds)
            else:
                await self._sleep(seconds)

        for fresh_token in (False, True):
            token = await self.auth.get_access_token()
            send = functools.partial(self._send_once, method, url, json, {"Authorization": f"Bearer {token}"}, key)
            response = await send_with_retries(send, self.retry, wait, idempotent=idempotent, patient=patient)
            if not fresh_token and (response.status_code in (401, 403) or says_token_expired(response)):
                # Avito answers 403 (auth.json), 401 (other specs) or even 200 with {"result": {"status": false,
                # "message": "access token expired"}} (REAL-WORLD.md) to an expired token: a new one, once.
                self.auth.invalidate(token)
                continue
            break
        if response.is_error or says_token_expired(response):
            raise error_for_response(response)
        if not parse:
            return response.content
        return response.json() if response.content else None

    async def _send_once(self, method: str, url: httpx.URL, json: Any, headers: dict, key: str) -> httpx.Response:
        """One try: a limiter slot, the request, and what its answer tells the limiter."""
        async with self.limiter.slot(key) as started:
            self.requests_sent += 1
            response = await self._client().request(method, url, json=json, headers=headers)
        log.debug("%s %s -> %d", method, url.path, response.status_code)
        if response.status_code == 429:
            self.limiter.rate_limited_at(key, started)
        else:
            self.limiter.succeeded(key)
        return response

    def _path(self, endpoint: str) -> str:
        """The seed's debugging tip passes an endpoint; a full URL is accepted only under ``base_url`` (the
        bearer token goes nowhere else)."""
        if endpoint.startswith(("http://", "https://")):
            if not endpoint.startswith(self.base_url + "/"):
                raise ValueError(f"endpoint must be a path or a URL under {self.base_url}, got {endpoint!r}")
            endpoint = endpoint[len(self.base_url):]
        return endpoint if endpoint.startswith("/") else "/" + endpoint

    def _url(self, path: str, params: dict | None) -> httpx.URL:
        # The URL httpx would build from base_url, path and params, built once: cheaper (bench/RESULTS.md).
        return httpx.URL(self.base_url + path, params=params)

    async def user_id(self) -> int:
        """The account id every per-account path needs (read once, cached with the token)."""
        return await self.auth.get_current_user_id()

    @property
    def throttled(self) -> bool:
        """True while a request waits for Avito's limit (a full window, or a pause after a 429)."""
        return self.limiter.throttled

    @property
    def max_in_flight(self) -> int:
        """How many requests this client lets run at once: callers size their own concurrency by it."""
        return self.limiter.max_in_flight

    # -- account and listings ----------------------------------------------------------------------------

    async def get_self(self) -> dict:
        """The account: ``{"id", "name", "email", "phone", "profile_url", ...}`` (user.json getUserInfoSelf)."""
        return await self._make_request("GET", "/core/v1/accounts/self")

    async def get_all_user_items(self, status: str = "active", per_page: int = 50, page: int = 1) -> list[dict]:
        """Every listing with ``status`` (a comma list allowed), paging from ``page`` until a short page."""
        return [item async for item in self.iter_items(statuses=status.split(","), per_page=per_page, page=page)]

    async def iter_items(self, statuses: Iterable[str] = ALL_ITEM_STATUSES, per_page: int = ITEMS_PAGE_MAX,
                         page: int = 1) -> AsyncIterator[dict]:
        """Every listing of every status given (Avito's default would be ``active`` only).

        items.json getItemsInfo gives no total: page until a page comes back shorter than ``per_page``.
        """
        statuses = [s.strip() for s in statuses if s.strip()]
        unknown = sorted(set(statuses) - set(ALL_ITEM_STATUSES))
        if unknown or not statuses:
            raise ValueError(f"item status must be among {', '.join(ALL_ITEM_STATUSES)}, got {unknown or statuses}")
        if not 1 <= per_page <= ITEMS_PAGE_MAX:
            raise ValueError(f"per_page must be 1..{ITEMS_PAGE_MAX}, got {per_page}")
        check_id(page, "page")
        while True:
            body = await self._make_request(
                "GET", "/core/v1/items", params={"per_page": per_page, "page": page, "status": ",".join(statuses)}
            )
            resources = (body or {}).get("resources") or []
            for item in resources:
                if isinstance(item, dict) and item.get("id") is not None:
                    self._listings[item["id"]] = item
                yield item
            if len(resources) < per_page:
                return
            page += 1

    async def get_item_details(self, item_id: int) -> dict:
        """One listing: ``id``, status, url, start/finish time and paid services (items.json getItemInfo).

        getItemInfo has no title, address, category or price; the seed's callers read ``details["title"]``, so
        when this client has listed the item (``iter_items``, ``get_all_user_items``) those fields come from the
        listing, getItemInfo's own fields winning.
        """
        item_id = check_id(item_id, "item_id")
        user_id = await self.user_id()
        # items.json getItemInfo: the path ends with a slash.
        info = await self._make_request("GET", f"/core/v1/accounts/{user_id}/items/{item_id}/")
        return {"id": item_id, **self._listings.get(item_id, {}), **(info or {})}

    async def get_item_stats(self, item_ids: Sequence[int], date_from: str | dt.date, date_to: str | dt.date,
                             fields: Sequence[str] = STATS_FIELDS, period_grouping: str = "day") -> list[dict]:
        """Daily counters per listing: ``[{"itemId", "stats": [{"date", "uniqViews", ...}]}]``.

        Split into calls of at most 200 ids (items.json itemStatsShallow). Avito omits days with no activity
        and looks back at most 270 days.
        """
        bodies = await self.get_item_stats_json(item_ids, date_from, date_to, fields, period_grouping)
        return [item for body in bodies for item in ((jsonlib.loads(body) if body else {}).get("result") or {}
                                                     ).get("items") or []]

    async def get_item_stats_json(self, item_ids: Sequence[int], date_from: str | dt.date,
                                  date_to: str | dt.date, fields: Sequence[str] = STATS_FIELDS,
                                  period_grouping: str = "day") -> list[bytes]:
        """``get_item_stats`` unparsed: the JSON body of each call of at most 200 listings, for loaders that
        parse it elsewhere (200 listings are 54,000 days, about 3 MB of JSON)."""
        ids = [check_id(i, "item_id") for i in item_ids]
        first, last = check_range(date_from, date_to, ("date_from", "date_to"), allow_equal=True)
        user_id = await self.user_id()
        chunks = [ids[i:i + STATS_IDS_MAX] for i in range(0, len(ids), STATS_IDS_MAX)]
        return await asyncio.gather(*(
            self._make_request("POST", f"/stats/v1/accounts/{user_id}/items", json={
                "dateFrom": first.isoformat(), "dateTo": last.isoformat(), "itemIds": chunk,
                "fields": list(fields), "periodGrouping": period_grouping,
            }, parse=False)
            for chunk in chunks
        ))

    # -- short-term rent ------------------------------------------------------------------------------------

    async def get_item_bookings(self, item_id: int, date_start: str | dt.date, date_end: str | dt.date,
                                with_unpaid: bool = False) -> list[dict]:
        """Bookings of a listing overlapping the window (short-term-rent.json getRealtyBookings).

        Statuses ``active``, ``canceled``, ``pending`` (pending only ``with_unpaid``) and possibly others.
        ``base_price`` is the whole stay; ``avito_booking_id`` may exceed 2^53 and stays an exact int.
        """
        item_id = check_id(item_id, "item_id")
        first, last = check_range(date_start, date_end, allow_equal=True)
        user_id = await self.user_id()
        params: dict[str, Any] = {"date_start": first.isoformat(), "date_end": last.isoformat()}
        if with_unpaid:
            params["with_unpaid"] = "true"
        body = await self._make_request("GET", f"/realty/v1/accounts/{user_id}/items/{item_id}/bookings",
                                        params=params)
        return (body or {}).get("bookings") or []

    async def update_item_bookings(self, item_id: int, bookings_payload: list[dict] | dict,
                                   source: str = "pms") -> dict:
        """Close dates: the listing's manual blocks (short-term-rent.json putBookingsInfo).

        ``bookings_payload``: ``[{"date_start", "date_end" (open end), "type": "manual", "comment"}]`` or
        ``{"bookings": [...]}``. Send the full set of current and future blocks: replace or merge is not
        documented. Avito answers 409 (``AvitoConflict``) and closes nothing if a range overlaps a paid booking.
        A push carries full state, so retrying it is safe.
        """
        item_id = check_id(item_id, "item_id")
        ranges = bookings_payload.get("bookings", []) if isinstance(bookings_payload, dict) else bookings_payload
        bookings = [_checked_interval(r, extra=("type", "comment")) for r in ranges]
        _check_no_overlap(bookings)
        user_id = await self.user_id()
        return await self._make_request("POST", f"/core/v1/accounts/{user_id}/items/{item_id}/bookings",
                                        json={"bookings": bookings, "source": source})

    async def update_item_availability(self, item_id: int, availability_payload: list[dict] | dict,
                                       source: str = "pms") -> dict:
        """Set which dates of the coming year are open (short-term-rent.json putIntervals).

        ``availability_payload``: ``[{"date_start", "date_end" (open end), "open": quota > 0}]`` or
        ``{"intervals": [...]}``. Avito takes it as the WHOLE availability of the next year: every date left
        out is closed, an empty list closes sales for a year. Send every free range, never only a new one.
        """
        item_id = check_id(item_id, "item_id")
        ranges = (availability_payload.get("intervals", []) if isinstance(availability_payload, dict)
                  else availability_payload)
        intervals = [_checked_interval(r, extra=("open",)) for r in ranges]
        for interval in intervals:
            if not isinstance(interval.get("open"), int) or interval["open"] <= 0:
                raise ValueError(f"interval open must be a quota > 0, got {interval.get('open')!r}")
        _check_no_overlap(intervals)
        return await self._make_request("POST", "/realty/v1/items/intervals",
                                        json={"item_id": item_id, "intervals": intervals, "source": source})

    async def update_item_prices(self, item_id: int, prices: list[dict] | dict, *,
                                 today: dt.date | None = None) -> dict:
        """Nightly prices by period (short-term-rent.json postRealtyPrices): ``[{"date_from", "date_to"
        (inclusive), "night_price", "minimal_duration", "extra_guest_fee"}]`` or ``{"prices": [...]}``.

        Checked before sending (``check_prices``): positive integer prices, dates from Avito's ``today`` on,
        ranges not overlapping. Not retried once Avito may have it (Avito turns unconfirmed bookings on those
        nights into overbooks: a second push is not harmless).

        >>> await client.update_item_prices(item_id, [{"date_from": "2026-12-04", "date_to": "2026-12-05",
        ...                                            "night_price": 5500, "minimal_duration": 2}])
        """
        item_id = check_id(item_id, "item_id")
        ranges = prices.get("prices", []) if isinstance(prices, dict) else prices
        checked = check_prices(ranges, today or avito_today())
        user_id = await self.user_id()
        return await self._make_request("POST", f"/realty/v1/accounts/{user_id}/items/{item_id}/prices",
                                        json={"prices": checked}, idempotent=False)

    async def update_item_base_params(self, item_id: int, params: dict) -> dict | None:
        """A listing's base parameters (short-term-rent.json postBaseParams): ``night_price``,
        ``minimal_duration`` (1..7), ``instant {active, min_days, max_days}``, ``discount [{threshold,
        percent}]``, ``refund {days}``, ``extra_guest_fee``, ``extra_guest_threshold``; only those given are sent.

        Checked against the spec's enums before sending (``check_base_params``); not retried once Avito may
        have it. Avito offers no way to read them back: keep what you push (``actions.apply_listing_plan``).

        >>> await client.update_item_base_params(item_id, {"minimal_duration": 2, "instant": {"active": True}})
        """
        item_id = check_id(item_id, "item_id")
        body = check_base_params(params)
        return await self._make_request("POST", f"/realty/v1/items/{item_id}/base", json=body, idempotent=False)

    # -- messenger -------------------------------------------------------------------------------------

    async def get_chats(self, unread_only: bool = False, item_ids: Iterable[int] | None = None,
                        chat_types: Iterable[str] = ("u2i",), limit: int = 50, offset: int = 0) -> list[dict]:
        """One page of chats, most recently updated first (messenger.json getChatsV2); the seed's defaults:
        u2i chats (about a listing) only, 50 of them. ``iter_chats`` pages through all of both types."""
        chats, _ = await self._chats_page(unread_only, item_ids, chat_types, limit, offset)
        return chats

    async def _chats_page(self, unread_only: bool, item_ids: Iterable[int] | None, chat_types: Iterable[str],
                          limit: int, offset: int) -> tuple[list[dict], bool | None]:
        _check_messenger_page(limit, offset)
        chat_types = [chat_types] if isinstance(chat_types, str) else list(chat_types)
        params: dict[str, Any] = {"limit": limit, "offset": offset, "chat_types": ",".join(chat_types)}
        if unread_only:
            params["unread_only"] = "true"
        if item_ids:
            params["item_ids"] = ",".join(str(check_id(i, "item_id")) for i in item_ids)
        user_id = await self.user_id()
        path = f"/messenger/v2/accounts/{user_id}/chats"
        return await self._messenger_page(path, params, "chats")

    async def iter_chats(self, chat_types: Iterable[str] = ("u2i", "u2u"), unread_only: bool = False,
                         item_ids: Iterable[int] | None = None) -> AsyncIterator[dict]:
        """Every chat Avito lets us page to (offset ≤ 1000), newest first, of both types unless told
        (``get_chats``, like Avito, defaults to u2i only)."""
        chat_types, item_ids = tuple(chat_types), tuple(item_ids or ())
        pages = _offset_pages(lambda offset: self._chats_page(unread_only, item_ids, chat_types,
                                                              MESSENGER_PAGE_MAX, offset), "chats")
        async for chat in pages:
            yield chat

    async def get_messages_in_chat(self, chat_id: str, limit: int = 20, offset: int = 0) -> list[dict]:
        """One page of a chat's messages, newest first (messenger.json getMessagesV3).

        The spec says a bare array; real accounts answer ``{"messages": [...], "meta": {"has_more"}}``: both
        are read, and an object without ``messages`` raises ``AvitoUnexpectedAnswer``. Reading does not mark
        the chat read.
        """
        messages, _ = await self._messages_page(chat_id, limit, offset)
        return messages

    async def _messages_page(self, chat_id: str, limit: int, offset: int) -> tuple[list[dict], bool | None]:
        chat_id = check_chat_id(chat_id)
        _check_messenger_page(limit, offset)
        user_id = await self.user_id()
        path = f"/messenger/v3/accounts/{user_id}/chats/{chat_id}/messages/"
        return await self._messenger_page(path, {"limit": limit, "offset": offset}, "messages")

    async def _messenger_page(self, path: str, params: dict, field: str) -> tuple[list[dict], bool | None]:
        """A page as ``(entries, has_more)``: the entries from a bare array or ``{field: [...]}``, and
        ``meta.has_more`` when Avito sent it (None otherwise: the caller pages until a short page)."""
        content = await self._make_request("GET", path, params=params, parse=False)
        body = jsonlib.loads(content) if content else None
        if isinstance(body, list):
            return body, None
        if isinstance(body, dict) and field in body and isinstance(body[field], list | None):
            meta = body.get("meta")
            has_more = meta.get("has_more") if isinstance(meta, dict) else None
            return body[field] or [], has_more if isinstance(has_more, bool) else None
        request = httpx.Request("GET", self._url(path, params))
        raise AvitoUnexpectedAnswer(httpx.Response(200, content=content or b"", request=request),
                                    expected=f'a list of {field} or {{"{field}": [...]}}')

    async def iter_messages(self, chat_id: str) -> AsyncIterator[dict]:
        """A chat's messages newest first, as far back as Avito pages (offset ≤ 1000).

        Stop iterating early (``break``) once a known message shows up: nothing older is fetched.
        """
        pages = _offset_pages(lambda offset: self._messages_page(chat_id, MESSENGER_PAGE_MAX, offset),
                              f"messages of chat {chat_id}")
        async for message in pages:
            yield message

    async def send_message(self, chat_id: str, text_content: str) -> dict:
        """Send a text message (messenger.json postSendMessage); 1..1000 characters. Returns Avito's answer:
        the message sent (``id``, ``content``, ``created``, ...).

        Not idempotent: retried only when Avito provably never got it (refused connection, 429), so a
        flaky network never sends a guest the same message twice.
        """
        chat_id = check_chat_id(chat_id)
        text = check_text(text_content)
        user_id = await self.user_id()
        return await self._make_request("POST", f"/messenger/v1/accounts/{user_id}/chats/{chat_id}/messages",
                                        json={"message": {"text": text}, "type": "text"}, idempotent=False)

    async def mark_message_read(self, chat_id: str) -> dict:
        """Mark the whole chat read (messenger.json chatRead): ``{"ok": true}``."""
        chat_id = check_chat_id(chat_id)
        user_id = await self.user_id()
        return await self._make_request("POST", f"/messenger/v1/accounts/{user_id}/chats/{chat_id}/read")

    async def get_new_messages(self, item_ids_filter: Iterable[int] | None = None) -> list[dict]:
        """Incoming unread messages of unread chats, oldest first, each with ``chat_id``, ``chat_user_id``
        (the guest) and ``item_id_avito`` (None for u2u chats) added; optionally only for some listings."""
        wanted = {check_id(i, "item_id") for i in item_ids_filter} if item_ids_filter else None
        user_id = await self.user_id()
        chats = [chat async for chat in self.iter_chats(unread_only=True)]
        if wanted is not None:
            chats = [chat for chat in chats if _chat_item_id(chat) in wanted]
        pages = await asyncio.gather(*(self.get_messages_in_chat(chat["id"], MESSENGER_PAGE_MAX) for chat in chats))
        found = []
        for chat, messages in zip(chats, pages, strict=True):
            guest = next((u.get("id") for u in chat.get("users") or [] if u.get("id") != user_id), None)
            for message in messages:
                if message.get("direction") == "in" and not message.get("is_read", False):
                    found.append({**message, "chat_id": chat["id"], "chat_user_id": guest,
                                  "item_id_avito": _chat_item_id(chat)})
        return sorted(found, key=lambda m: m.get("created") or 0)


    # -- ratings and reviews (ratings.json) --------------------------------------------------------------

    async def get_rating_info(self) -> dict:
        """The account's rating: ``{"isEnabled": bool, "rating": {"score", "reviewsCount",
        "reviewsWithScoreCount"} | None}`` (getRatingsInfoV1). 402/403 when the account has no ratings."""
        return await self._make_request("GET", "/ratings/v1/info")

    async def get_reviews(self, offset: int = 0, limit: int = REVIEWS_PAGE_MAX) -> dict:
        """One page of reviews, newest first: ``{"total", "reviews": [{"id", "score", "stage", "text",
        "createdAt", "usedInScore", "canAnswer", "sender": {"name"}, "item": {"id", "title"}, "images",
        "answer": {"id", "text", "status", "createdAt", "reject_reasons"} | None}]}`` (getReviewsV1)."""
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an integer >= 0, got {offset!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= REVIEWS_PAGE_MAX:
            raise ValueError(f"limit must be 1..{REVIEWS_PAGE_MAX}, got {limit!r}")
        body = await self._make_request("GET", "/ratings/v1/reviews", params={"offset": offset, "limit": limit})
        if not isinstance(body, dict) or not isinstance(body.get("reviews"), list):
            request = httpx.Request("GET", self._url("/ratings/v1/reviews", {"offset": offset, "limit": limit}))
            raise AvitoUnexpectedAnswer(httpx.Response(200, json=body, request=request),
                                        expected='{"total": int, "reviews": [...]}')
        return body

    async def iter_reviews(self, limit: int = REVIEWS_PAGE_MAX) -> AsyncIterator[dict]:
        """Every review, newest first, paging by ``offset`` until ``total`` is reached or a page is short.

        Stop early (``break``) once a known, unchanged review shows up if only new ones are wanted.
        """
        offset = 0
        while True:
            body = await self.get_reviews(offset, limit)
            page = body["reviews"]
            for review in page:
                yield review
            offset += len(page)
            total = body.get("total")
            if len(page) < limit or (isinstance(total, int) and offset >= total):
                return

    async def answer_review(self, review_id: int, text: str) -> dict:
        """Answer a review (createReviewAnswerV1): ``{"id", "createdAt"}``; the answer then waits for Avito's
        moderation. Not idempotent: never sent twice by a retry (see ``send_message``)."""
        review_id = check_id(review_id, "review_id")
        text = check_answer_text(text)
        return await self._make_request("POST", "/ratings/v1/answers", json={"reviewId": review_id, "message": text},
                                        idempotent=False)

    async def delete_review_answer(self, answer_id: int) -> dict:
        """Remove an answer (removeReviewAnswerV1): ``{"success": bool}``. Not retried once Avito may have
        got it: a second delete of a removed answer would answer 404."""
        answer_id = check_id(answer_id, "answer_id")
        return await self._make_request("DELETE", f"/ratings/v1/answers/{answer_id}", idempotent=False)


def _close_when_the_loop_ends(http: httpx.AsyncClient) -> asyncio.Task | None:
    """The seed promises clients are closed "automatically": its examples never close one. ``asyncio.run``
    cancels the tasks still pending when the main coroutine returns, so a task that only waits closes the
    connections then, inside the loop, rather than leaving sockets for the garbage collector."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None

    async def close_on_cancel() -> None:
        try:
            await loop.create_future()
        finally:
            await http.aclose()
    return loop.create_task(close_on_cancel(), name="avito_kit: close the HTTP client with the loop")


def _check_messenger_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MESSENGER_PAGE_MAX:
        raise ValueError(f"limit must be 1..{MESSENGER_PAGE_MAX}, got {limit}")
    if not 0 <= offset <= MESSENGER_OFFSET_MAX:
        raise ValueError(f"offset must be 0..{MESSENGER_OFFSET_MAX}, got {offset}")


async def _offset_pages(fetch: Callable[[int], Awaitable[tuple[list[dict], bool | None]]],
                        what: str) -> AsyncIterator[dict]:
    """Messenger paging by 100, up to Avito's offset cap of 1000: until ``meta.has_more`` is false when Avito
    sends it (no empty last page), else until a short page."""
    offset = 0
    while True:
        page, has_more = await fetch(offset)
        for entry in page:
            yield entry
        if has_more is False or (has_more is None and len(page) < MESSENGER_PAGE_MAX):
            return
        offset += MESSENGER_PAGE_MAX
        if offset > MESSENGER_OFFSET_MAX:
            log.warning("Avito pages %s only up to offset %d; older ones are not listed", what, MESSENGER_OFFSET_MAX)
            return


def _chat_item_id(chat: dict) -> int | None:
    """The listing of a u2i chat (``context.value.id``); u2u chats have none."""
    context = chat.get("context") or {}
    if context.get("type") != "item":
        return None
    return (context.get("value") or {}).get("id")


def _checked_interval(interval: dict, extra: tuple[str, ...]) -> dict:
    if not isinstance(interval, dict):
        raise ValueError(f"each range must be a dict with date_start and date_end, got {interval!r}")
    first, last = check_range(interval.get("date_start"), interval.get("date_end"))
    checked = {"date_start": first.isoformat(), "date_end": last.isoformat()}
    checked.update({key: interval[key] for key in extra if key in interval})
    return checked


def _check_no_overlap(intervals: list[dict]) -> None:
    """Avito refuses overlapping ranges; touching ends are fine (the end is open)."""
    ordered = sorted(intervals, key=lambda r: r["date_start"])
    for before, after in itertools.pairwise(ordered):
        if after["date_start"] < before["date_end"]:
            raise ValueError(f"ranges overlap: {before['date_start']}..{before['date_end']} and "
                             f"{after['date_start']}..{after['date_end']}")


# -- prices and base parameters: the spec's rules, checked before anything is sent ---------------------------

PRICE_FIELDS = {"night_price": (1, None), "minimal_duration": (1, 30), "extra_guest_fee": (0, None)}  # postRealtyPrices
# postBaseParams' enums (BaseParams in short-term-rent.json).
BASE_MINIMAL_DURATION = range(1, 8)
BASE_INSTANT_MIN_DAYS = (1, 2, 3, 4, 5)
BASE_INSTANT_MAX_DAYS = (30, 60, 90, 120, 150)
BASE_DISCOUNT_THRESHOLDS = (3, 7, 30)
BASE_REFUND_DAYS = (0, 1, 3, 5, 7, 14)
BASE_EXTRA_GUEST_THRESHOLD = range(1, 9)


def check_prices(prices: Sequence[dict], today: dt.date) -> list[dict]:
    """postRealtyPrices entries as they will be sent, or ``ValueError``: ``date_from`` from ``today`` on,
    ``date_to`` inclusive and not before it, a positive integer ``night_price`` (required),
    ``minimal_duration`` 1..30, ``extra_guest_fee`` >= 0, no unknown key, no two ranges sharing a night."""
    if isinstance(prices, dict | str) or not prices:
        raise ValueError("prices must be a non-empty list of periods")
    checked = []
    for price in prices:
        if not isinstance(price, dict):
            raise ValueError(f"each price must be a dict with date_from, date_to and night_price, got {price!r}")
        unknown = sorted(set(price) - {"date_from", "date_to", *PRICE_FIELDS})
        if unknown:
            raise ValueError(f"unknown price field(s) {', '.join(unknown)}; Avito takes date_from, date_to, "
                             f"{', '.join(PRICE_FIELDS)}")
        first, last = check_range(price.get("date_from"), price.get("date_to"), ("date_from", "date_to"),
                                  allow_equal=True)
        if first < today:
            raise ValueError(f"date_from {first} is in the past; Avito takes prices from today ({today}) on")
        if "night_price" not in price:
            raise ValueError("night_price is required")
        entry = {"date_from": first.isoformat(), "date_to": last.isoformat()}
        for name, (low, high) in PRICE_FIELDS.items():
            if name in price and price[name] is not None:
                entry[name] = _bounded_int(price[name], name, low, high)
        checked.append(entry)
    ordered = sorted(checked, key=lambda p: p["date_from"])
    for before, after in itertools.pairwise(ordered):
        if after["date_from"] <= before["date_to"]:  # date_to is inclusive: sharing one night is an overlap
            raise ValueError(f"price periods overlap: {before['date_from']}..{before['date_to']} and "
                             f"{after['date_from']}..{after['date_to']}")
    return checked


def check_base_params(params: dict) -> dict:
    """A postBaseParams body with only the fields given, or ``ValueError`` for a value outside the spec."""
    if not isinstance(params, dict) or not params:
        raise ValueError("base parameters must be a non-empty dict")
    known = ("night_price", "minimal_duration", "instant", "discount", "refund", "extra_guest_fee",
             "extra_guest_threshold")
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"unknown base parameter(s) {', '.join(unknown)}; Avito takes {', '.join(known)}")
    body: dict[str, Any] = {}
    if params.get("night_price") is not None:
        body["night_price"] = _bounded_int(params["night_price"], "night_price", 1, None)
    if params.get("minimal_duration") is not None:
        body["minimal_duration"] = _one_of(params["minimal_duration"], "minimal_duration", BASE_MINIMAL_DURATION)
    if params.get("instant") is not None:
        instant = params["instant"]
        if not isinstance(instant, dict) or not isinstance(instant.get("active"), bool) or (
                set(instant) - {"active", "min_days", "max_days"}):
            raise ValueError(f"instant must be {{'active': bool, 'min_days', 'max_days'}}, got {instant!r}")
        body["instant"] = {"active": instant["active"]}
        for name, allowed in (("min_days", BASE_INSTANT_MIN_DAYS), ("max_days", BASE_INSTANT_MAX_DAYS)):
            if instant.get(name) is not None:
                body["instant"][name] = _one_of(instant[name], f"instant {name}", allowed)
    if params.get("discount") is not None:
        body["discount"] = _checked_discounts(params["discount"])
    if params.get("refund") is not None:
        refund = params["refund"]
        if not isinstance(refund, dict) or set(refund) != {"days"}:
            raise ValueError(f"refund must be {{'days': N}}, got {refund!r}")
        body["refund"] = {"days": _one_of(refund["days"], "refund days", BASE_REFUND_DAYS)}
    if params.get("extra_guest_fee") is not None:
        body["extra_guest_fee"] = _bounded_int(params["extra_guest_fee"], "extra_guest_fee", 0, None)
    if params.get("extra_guest_threshold") is not None:
        body["extra_guest_threshold"] = _one_of(params["extra_guest_threshold"], "extra_guest_threshold",
                                                BASE_EXTRA_GUEST_THRESHOLD)
    if not body:
        raise ValueError("no base parameter to send")
    return body


def _checked_discounts(discounts: object) -> list[dict]:
    if not isinstance(discounts, list):
        raise ValueError(f"discount must be a list of {{'threshold', 'percent'}}, got {discounts!r}")
    checked, seen = [], set()
    for discount in discounts:
        if not isinstance(discount, dict) or set(discount) != {"threshold", "percent"}:
            raise ValueError(f"each discount must be {{'threshold', 'percent'}}, got {discount!r}")
        threshold = _one_of(discount["threshold"], "discount threshold (nights)", BASE_DISCOUNT_THRESHOLDS)
        if threshold in seen:
            raise ValueError(f"two discounts from {threshold} nights")
        seen.add(threshold)
        checked.append({"threshold": threshold, "percent": _bounded_int(discount["percent"], "discount percent",
                                                                         1, 99)})
    return sorted(checked, key=lambda d: d["threshold"])


def _bounded_int(value: object, name: str, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        if high is not None:
            wanted = f"an integer {low}..{high}"
        else:
            wanted = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return value


def _one_of(value: object, name: str, allowed: Sequence[int]) -> int:
    if isinstance(value, bool) or value not in allowed:
        shown = f"{allowed[0]}..{allowed[-1]}" if isinstance(allowed, range) else ", ".join(map(str, allowed))
        raise ValueError(f"{name} must be one of {shown}, got {value!r}")
    return value  # type: ignore[return-value]
