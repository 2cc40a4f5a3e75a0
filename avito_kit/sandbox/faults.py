"""What can go wrong on the way to the sandbox: injected faults and Avito's per-minute rate limits.

Both run on the sandbox's injected clock and their own seeded generator, so a test that advances a fake clock
or replays a seed sees the same 429s and 503s every time.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FAULT_KINDS", "AccountLimiter", "FaultPlan", "QueuedFault", "RateLimiter"]

FAULT_KINDS = frozenset({"500", "502", "503", "429", "refuse", "drop", "expire_token"})
WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class QueuedFault:
    """A fault waiting for the next request whose path contains ``path_contains`` (any path when None)."""

    kind: str
    path_contains: str | None = None
    retry_after: float | None = None

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path


class FaultPlan:
    """Decides the fault, if any, of each request: first the queue tests fill, then the random rates.

    ``refuse`` happens before the request is processed; ``drop`` after (the state changed, the client never
    hears of it); the status faults answer instead of processing; ``expire_token`` expires every token and
    then processes the request normally.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.queue: list[QueuedFault] = []

    def add(self, kind: str, path_contains: str | None = None, retry_after: float | None = None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        self.queue.append(QueuedFault(kind, path_contains, retry_after))

    def next_for(self, path: str, *, refuse_rate: float = 0.0, error_rate: float = 0.0,
                 rate_limit_rate: float = 0.0, drop_rate: float = 0.0) -> QueuedFault | None:
        for index, fault in enumerate(self.queue):
            if fault.matches(path):
                return self.queue.pop(index)
        # One draw per request whatever the rates, so changing one rate does not reshuffle the others.
        roll = self.rng.random()
        for kind, rate in (("refuse", refuse_rate), ("error", error_rate), ("429", rate_limit_rate),
                           ("drop", drop_rate)):
            if roll < rate:
                if kind == "error":
                    kind = ("500", "502", "503")[min(2, int(roll / rate * 3))]
                return QueuedFault(kind)
            roll -= rate
        return None


class RateLimiter:
    """A sliding one-minute window per operation, as Avito documents (items list 25/min, item info 500/min)."""

    def __init__(self, limits: dict[str, int], clock: Callable[[], float]) -> None:
        self.limits = dict(limits)
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}

    def acquire(self, operation: str) -> tuple[bool, int | None, int | None, int | None]:
        """Count one call; returns (allowed, limit, remaining, seconds until a slot frees when refused)."""
        limit = self.limits.get(operation)
        if limit is None:
            return True, None, None, None
        now = self._clock()
        calls = self._calls.setdefault(operation, deque())
        while calls and calls[0] <= now - WINDOW_SECONDS:
            calls.popleft()
        if len(calls) >= limit:
            return False, limit, 0, max(1, math.ceil(calls[0] + WINDOW_SECONDS - now))
        calls.append(now)
        return True, limit, limit - len(calls), None

    def reset(self) -> None:
        self._calls.clear()


class AccountLimiter:
    """An account-wide limit over every request in a rolling minute: Avito's bare 429 (REAL-WORLD.md).

    A deque of the times of allowed requests; each check drops the ones older than a minute, so a call is
    amortised O(1) however many requests a bench sends. Refused requests do not count.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._calls: deque[float] = deque()

    def allow(self, limit: int) -> bool:
        now = self._clock()
        calls = self._calls
        while calls and calls[0] <= now - WINDOW_SECONDS:
            calls.popleft()
        if len(calls) >= limit:
            return False
        calls.append(now)
        return True

    def reset(self) -> None:
        self._calls.clear()
