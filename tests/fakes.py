"""Test doubles: a fake clock whose sleep advances it, and a strict fake Avito for the client's unit tests.

The fake raises on any request it was not told to expect (silence hides bugs)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from avito_kit.auth import AvitoAuth
from avito_kit.client import AvitoApiClient
from avito_kit.limits import RetryPolicy

USER_ID = 94235311
CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret-value"


class FakeClock:
    """``clock()`` reads it; ``await sleep(s)`` records ``s`` and moves time on, without waiting."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


Handler = Callable[[httpx.Request], httpx.Response]


class FakeAvito:
    """Answers /token and /core/v1/accounts/self itself; every other request goes to a route added with
    ``on(method, path, handler)``. Unknown requests fail the test."""

    def __init__(self, token_ttl: int = 86400) -> None:
        self.token_ttl = token_ttl
        self.tokens_issued: list[str] = []
        self.calls: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], Handler] = {}
        self.first: dict[tuple[str, str], list] = {}

    def fail_first(self, method: str, path: str, *outcomes: httpx.Response | Exception) -> None:
        """Serve ``outcomes`` (responses, or exceptions raised) to the next requests of ``method path``, then
        answer as before: how a test injects a 429 or a dropped connection into ``/token`` or ``/self``."""
        self.first.setdefault((method, path), []).extend(outcomes)

    def on(self, method: str, path: str, handler: Handler | list) -> None:
        """A handler, or a list of responses/exceptions served in order (the last one repeats)."""
        if isinstance(handler, list):
            queue = list(handler)

            def scripted(request: httpx.Request):
                outcome = queue.pop(0) if len(queue) > 1 else queue[0]
                if isinstance(outcome, Exception):
                    raise outcome
                return outcome
            self.routes[(method, path)] = scripted
        else:
            self.routes[(method, path)] = handler

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.calls if r.method == method and r.url.path == path)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        path = request.url.path
        injected = self.first.get((request.method, path))
        if injected:
            outcome = injected.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        if request.method == "POST" and path == "/token":
            form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
            if form.get("client_secret") != CLIENT_SECRET:
                return httpx.Response(401, json={"error": {"code": 401, "message": "invalid client"}})
            token = f"tok-{len(self.tokens_issued) + 1}-secretish"
            self.tokens_issued.append(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": self.token_ttl,
                                             "token_type": "Bearer"})
        if request.method == "GET" and path == "/core/v1/accounts/self":
            return httpx.Response(200, json={"id": USER_ID, "name": "Хозяин"})
        handler = self.routes.get((request.method, path))
        if handler is None:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        return handler(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


def json_body(request: httpx.Request):
    return json.loads(request.content)


def make_client(fake: FakeAvito, clock: FakeClock | None = None, **options) -> AvitoApiClient:
    """The real client and auth over ``fake``, on ``clock`` (its sleep never waits), jitter fixed at 0.5."""
    clock = clock or FakeClock()
    transport = fake.transport()
    auth = AvitoAuth(CLIENT_ID, CLIENT_SECRET, base_url="https://api.test", transport=transport,
                     clock=clock, sleep=clock.sleep)
    return AvitoApiClient(auth, transport=transport, sleep=clock.sleep, clock=clock,
                          retry=RetryPolicy(jitter=lambda: 0.5), **options)
