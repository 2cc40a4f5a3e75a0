"""Client-side rate limiting and retry policy: decisions only, no HTTP.

Avito documents per-minute limits for a few endpoints (items list 25, item info 500, stats v2 1); the rest are
unstated, so one configurable default window is shared by all of them. One ``RateLimiter`` is shared by every
call of a client: the client waits for a slot rather than collecting 429s.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DOCUMENTED_LIMITS", "RateLimiter", "RetryPolicy", "limit_key"]

WINDOW_SECONDS = 60.0

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
    """Sliding one-minute windows per key plus a cap on requests in flight.

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
    ) -> None:
        self.limits = {**DOCUMENTED_LIMITS, **(limits or {})}
        self.default_per_minute = default_per_minute
        self.max_in_flight = max_in_flight
        self._clock = clock
        self._sleep = sleep
        self._starts: dict[str, deque[float]] = {}
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()  # for a place in flight, first come first served

    def per_minute(self, key: str) -> int:
        return self.limits.get(key, self.default_per_minute)

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def _window_wait(self, key: str) -> float:
        """Seconds until ``key``'s window has room (0 when it has room now)."""
        starts = self._starts.setdefault(key, deque())
        now = self._now()
        while starts and now - starts[0] >= WINDOW_SECONDS:
            starts.popleft()
        return 0.0 if len(starts) < self.per_minute(key) else starts[0] + WINDOW_SECONDS - now

    @asynccontextmanager
    async def slot(self, key: str):
        """A start in ``key``'s window and one of the ``max_in_flight`` places, for the length of a request.

        Places go to waiting requests in the order they asked: a freed place is handed to the first waiter,
        never grabbed back by the request that freed it (listings, chats and messages share one limiter and
        none may starve). The window start is recorded with no await after the place is taken, so a recorded
        start is the real start; a request whose window is full gives its place back while it waits.
        """
        while True:
            if self._in_flight >= self.max_in_flight or self._waiters:
                await self._wait_for_place()
            else:
                self._in_flight += 1
            wait = self._window_wait(key)
            if wait <= 0:
                break
            self._release_place()
            await self._sleep(wait)
        self._starts[key].append(self._now())
        try:
            yield
        finally:
            self._release_place()

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
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a cancelled waiter has left the queue
                waiter.set_result(None)  # the place passes over: the count stays
                return
        self._in_flight -= 1


@dataclass(frozen=True)
class RetryPolicy:
    """What to retry and how long to wait; the request loop in the client only asks.

    ``attempts`` counts every try of one request (3: the first and two retries).
    """

    attempts: int = 3
    rate_limit_base: float = 2.0  # 429 without Retry-After: 2 s, 4 s, … plus jitter
    rate_limit_cap: float = 120.0
    transient_delay: float = 2.0  # 5xx and network errors
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempt: int, *, status: int | None = None, retry_after: float | None = None,
              reached_server: bool = True, idempotent: bool = True) -> float | None:
        """Seconds to wait before try ``attempt + 1``, or None to give up.

        ``attempt`` is 1-based. A non-idempotent request (sending a message) is retried only when it provably
        never reached Avito: a refused connection, or a 429 (Avito rejects before processing).
        """
        if attempt >= self.attempts:
            return None
        if status == 429:
            if retry_after is not None:
                return min(retry_after, self.rate_limit_cap)
            return min(self.rate_limit_base * 2 ** (attempt - 1) + self.jitter(), self.rate_limit_cap)
        if not idempotent and reached_server:
            return None
        if status is None or status >= 500:
            return self.transient_delay * (0.75 + 0.5 * self.jitter())
        return None
