"""Client-side rate limiting and the retry policy: when to send, whether to retry and how long to wait.

Avito documents per-minute limits for a few endpoints (items list 25, item info 500, stats v2 1); the rest are
unstated, so one configurable default window is shared by all of them. One ``RateLimiter`` is shared by every
call of a client: the client waits for a slot rather than collecting 429s, and when Avito answers 429 anyway
(most endpoints send no rate-limit headers at all, REAL-WORLD.md) the limiter finds the pace itself (AIMD):

- a 429 cuts the pace of that endpoint family to ``DECREASE`` x the starts of the last minute (Avito's limit can
  be no higher; never below ``MIN_PER_MINUTE``) and halves the requests in flight; the 429s of requests that
  started before the cut are the same news and cut nothing more;
- every success adds ``INCREASE`` request per minute (ten successes: one more a minute) and, every
  ``INCREASE_IN_FLIGHT_EVERY`` successes, one place in flight, until the configured pace is back.

``RetryPolicy.decide`` is the one decision over a failed try (githubkit's ``retry.py`` is the model), and
``send_with_retries`` the one loop asking it: the client's calls, ``POST /token`` and ``GET
/core/v1/accounts/self`` all go through them. A single call keeps the seed's 3 tries; a patient caller (the
sync) sits out up to ``RetryPolicy.patient_attempts`` 429s, the limiter slowing everyone meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import AvitoError, AvitoRateLimited, AvitoServerError, AvitoTransportError, error_for_response

__all__ = ["DOCUMENTED_LIMITS", "RateLimiter", "RetryPolicy", "limit_key", "send_with_retries"]

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
DECREASE = 0.7
INCREASE = 0.1
INCREASE_IN_FLIGHT_EVERY = 10
MIN_PER_MINUTE = 10  # a lone 429 after a handful of requests says little about Avito's limit: never below this

# Per-minute limits Avito documents (items.json descriptions).
DOCUMENTED_LIMITS: dict[str, int] = {"items_list": 25, "item_info": 500, "stats_v2": 1}

_KEYS = [
    ("items_list", re.compile(r"^/core/v1/items$")),
    ("item_info", re.compile(r"^/core/v1/accounts/\d+/items/\d+/$")),
    ("stats_v2", re.compile(r"^/stats/v2/")),
]


def limit_key(path: str) -> str:
    """The limiter window a path counts against: a documented endpoint, else ``default``."""
    for key, pattern in _KEYS:
        if pattern.match(path):
            return key
    return "default"


class RateLimiter:
    """Sliding one-minute windows per key plus a cap on requests in flight, both lowered by 429s (AIMD).

    ``throttled`` is True while a request waits for Avito's limit (a full window or a pause after a 429);
    ``on_throttle(bool)``, when set, hears each change, so a progress bar can say so.

    >>> limiter = RateLimiter(default_per_minute=600, max_in_flight=8)
    >>> async with limiter.slot("items_list"):
    ...     ...  # at most 25 of these start in any 60 seconds
    """

    def __init__(
        self,
        limits: dict[str, int] | None = None,
        *,
        default_per_minute: int = 1000,
        max_in_flight: int = 8,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        on_throttle: Callable[[bool], Any] | None = None,
    ) -> None:
        self.limits = {**DOCUMENTED_LIMITS, **(limits or {})}
        self.default_per_minute = default_per_minute
        self.max_in_flight = max_in_flight  # the ceiling; ``in_flight_limit`` is the current cap
        self.in_flight_limit = max_in_flight
        self.on_throttle = on_throttle
        self.rate_limited = 0  # 429s reported, for reports and benchmarks
        self._clock = clock
        self._sleep = sleep
        self._starts: dict[str, deque[float]] = {}
        self._pace: dict[str, float] = {}  # key -> per-minute pace found after a 429 (absent: the configured one)
        self._last_cut: dict[str, float] = {}
        self._successes = 0
        self._in_flight = 0
        self._waiting_for_limit = 0
        self._waiters: deque[asyncio.Future[None]] = deque()  # for a place in flight, first come first served

    def per_minute(self, key: str) -> int:
        """The pace ``key`` is held to now: the configured limit, or lower after 429s."""
        configured = self.limits.get(key, self.default_per_minute)
        return min(configured, int(self._pace[key] + 1e-9)) if key in self._pace else configured

    @property
    def throttled(self) -> bool:
        return self._waiting_for_limit > 0

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def _window_wait(self, key: str) -> float:
        """Seconds until ``key``'s window has room (0 when it has room now)."""
        starts = self._starts.setdefault(key, deque())
        now = self._now()
        while starts and now - starts[0] >= WINDOW_SECONDS:
            starts.popleft()
        limit = self.per_minute(key)
        return 0.0 if len(starts) < limit else starts[len(starts) - limit] + WINDOW_SECONDS - now

    @asynccontextmanager
    async def slot(self, key: str):
        """A start in ``key``'s window and one of the places in flight, for the length of a request; yields the
        start time (to hand back to ``rate_limited``).

        Places go to waiting requests in the order they asked: a freed place is handed to the first waiter,
        never grabbed back by the request that freed it (listings, chats and messages share one limiter and
        none may starve). The window start is recorded with no await after the place is taken, so a recorded
        start is the real start; a request whose window is full gives its place back while it waits.
        """
        while True:
            if self._in_flight >= self.in_flight_limit or self._waiters:
                await self._wait_for_place()
            else:
                self._in_flight += 1
            wait = self._window_wait(key)
            if wait <= 0:
                break
            self._release_place()
            await self.wait_for_limit(wait)
        started = self._now()
        self._starts[key].append(started)
        try:
            yield started
        finally:
            self._release_place()

    async def wait_for_limit(self, seconds: float) -> None:
        """Sleep ``seconds`` as a wait for Avito's limit: ``throttled`` meanwhile."""
        self._set_waiting(+1)
        try:
            await self._sleep(seconds)
        finally:
            self._set_waiting(-1)

    def rate_limited_at(self, key: str, started: float) -> None:
        """Avito answered 429 to a request of ``key`` that started at ``started``: slow down (see the module)."""
        self.rate_limited += 1
        if started <= self._last_cut.get(key, float("-inf")):
            return
        self._window_wait(key)  # drops starts older than the window
        recent = len(self._starts.get(key, ()))
        pace = max(MIN_PER_MINUTE, min(self.per_minute(key), recent) * DECREASE)
        self._pace[key] = pace
        self._last_cut[key] = self._now()
        self.in_flight_limit = max(1, self.in_flight_limit // 2)
        self._successes = 0
        log.info("Avito answered 429 on %s: pace %.0f a minute, %d in flight", key, pace, self.in_flight_limit)

    def succeeded(self, key: str) -> None:
        """A request of ``key`` got an answer that was not a 429: speed back up a little."""
        if key in self._pace:
            self._pace[key] += INCREASE
            if self._pace[key] >= self.limits.get(key, self.default_per_minute):
                del self._pace[key]
        if self.in_flight_limit < self.max_in_flight:
            self._successes += 1
            if self._successes >= INCREASE_IN_FLIGHT_EVERY:
                self._successes = 0
                self.in_flight_limit += 1
                self._hand_over_places()

    def _set_waiting(self, change: int) -> None:
        before = self.throttled
        self._waiting_for_limit += change
        if self.on_throttle is not None and self.throttled != before:
            self.on_throttle(self.throttled)

    async def _wait_for_place(self) -> None:
        """Queue up; return holding a place handed over by ``_release_place``."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release_place()  # handed a place, then cancelled before using it: pass it on
            raise

    def _release_place(self) -> None:
        if self._in_flight <= self.in_flight_limit and self._pass_place():
            return  # the place passes over: the count stays
        self._in_flight -= 1

    def _pass_place(self) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter has left the queue
                waiter.set_result(None)
                return True
        return False

    def _hand_over_places(self) -> None:
        while self._in_flight < self.in_flight_limit and self._pass_place():
            self._in_flight += 1


@dataclass(frozen=True)
class RetryPolicy:
    """Whether to retry a failed try and how long to wait first; ``send_with_retries`` only asks.

    ``attempts`` counts every try of one request (3, the seed's rule: the first and two retries). A patient
    caller (the sync) sits out up to ``patient_attempts`` tries refused with 429 instead.
    """

    attempts: int = 3
    patient_attempts: int = 40
    rate_limit_base: float = 2.0  # 429 without Retry-After: 2 s, 4 s, … plus jitter
    rate_limit_cap: float = 120.0
    transient_delay: float = 2.0  # 5xx and network errors
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def decide(self, error: AvitoError, attempt: int, *, idempotent: bool = True,
               patient: bool = False) -> float | None:
        """Seconds to wait before try ``attempt + 1`` (1-based) after ``error``, or None to raise it.

        429 and 5xx answers and network errors are retried; a non-idempotent request (sending a message) only
        when it provably never reached Avito: a refused connection, or a 429 (Avito rejects before processing).
        """
        if isinstance(error, AvitoRateLimited):
            if attempt >= (self.patient_attempts if patient else self.attempts):
                return None
            if error.retry_after is not None:
                return min(error.retry_after, self.rate_limit_cap)
            return min(self.rate_limit_base * 2 ** min(attempt - 1, 16) + self.jitter(), self.rate_limit_cap)
        if attempt >= self.attempts:
            return None
        if isinstance(error, AvitoTransportError):
            reached = error.reached_server
        elif isinstance(error, AvitoServerError):
            reached = True
        else:
            return None
        if reached and not idempotent:
            return None
        return self.transient_delay * (0.75 + 0.5 * self.jitter())


async def send_with_retries(send: Callable[[], Awaitable[httpx.Response]], policy: RetryPolicy,
                            wait: Callable[[AvitoError, float], Awaitable[Any]], *, idempotent: bool = True,
                            patient: bool = False) -> httpx.Response:
    """``send()`` until it gives an answer the policy does not retry, which is returned (a 4xx too: the caller
    decides about tokens); ``wait(error, seconds)`` sleeps between tries. Raises the typed error of the last try.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            response = await send()
        except httpx.TransportError as exc:
            # A refused or never-opened connection cannot have delivered the request.
            reached = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            error: AvitoError = AvitoTransportError(
                f"{exc.request.method} {exc.request.url.path} failed after {attempt} tries: {type(exc).__name__}",
                request=exc.request, reached_server=reached)
            error.__cause__ = exc
            what = type(exc).__name__
        else:
            if response.status_code != 429 and response.status_code < 500:
                return response
            error = error_for_response(response)
            what = str(response.status_code)
        delay = policy.decide(error, attempt, idempotent=idempotent, patient=patient)
        # A patient caller expects 429s and shows its waits itself (the sync's progress bars): one warning each
        # would bury them.
        expected = patient and delay is not None and isinstance(error, AvitoRateLimited)
        log.log(logging.INFO if expected else logging.WARNING, "%s %s: %s (try %d)", error.request.method,
                error.request.url.path, what, attempt)
        if delay is None:
            raise error
        await wait(error, delay)
