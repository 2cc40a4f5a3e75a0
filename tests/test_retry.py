"""One retry policy for every request, the token's and the account id's included, and the adaptive limiter:
429s, 5xx and dropped connections injected into a strict fake, time on a fake clock (nothing really waits)."""

from __future__ import annotations

import asyncio
from collections import Counter, deque

import httpx
import pandas as pd
import pytest

from avito_kit.auth import AvitoAuth
from avito_kit.client import AvitoApiClient
from avito_kit.errors import (
    AvitoAuthError,
    AvitoForbidden,
    AvitoRateLimited,
    AvitoServerError,
    AvitoTransportError,
)
from avito_kit.limits import MIN_PER_MINUTE, RateLimiter, RetryPolicy
from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox
from avito_kit.session import SANDBOX_BASE_URL
from avito_kit.store import Store
from avito_kit.sync import sync

from .fakes import CLIENT_ID, USER_ID, FakeAvito, FakeClock, make_client
from .helpers import snapshot, synced_store_file

CHATS = f"/messenger/v2/accounts/{USER_ID}/chats"
SELF = "/core/v1/accounts/self"

FAULTS = {
    "429": lambda: httpx.Response(429),
    "503": lambda: httpx.Response(503, json={"error": {"code": 503, "message": "unavailable"}}),
    "dropped": lambda: httpx.RemoteProtocolError("Server disconnected without sending a response."),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("method", "path"), [("POST", "/token"), ("GET", SELF)])
async def test_a_fault_on_the_first_token_or_account_request_is_retried(fault, method, path):
    fake, clock = FakeAvito(), FakeClock()
    fake.fail_first(method, path, FAULTS[fault]())
    fake.on("GET", CHATS, [httpx.Response(200, json={"chats": [{"id": "c1"}]})])
    async with make_client(fake, clock) as client:
        assert await client.get_chats() == [{"id": "c1"}]
    assert fake.count(method, path) == 2
    assert fake.count("POST", "/token") + fake.count("GET", SELF) == 3  # one retry, nothing else
    assert len(clock.sleeps) == 1  # waited once, on the fake clock


async def test_a_401_on_the_account_gets_one_new_token():
    fake = FakeAvito()
    fake.fail_first("GET", SELF, httpx.Response(401, json={"result": {"status": False,
                                                                        "message": "access token expired"}}))
    async with make_client(fake) as client:
        assert await client.user_id() == USER_ID
    assert fake.count("POST", "/token") == 2 and fake.count("GET", SELF) == 2
    second_self = [r for r in fake.calls if r.url.path == SELF][1]
    assert second_self.headers["Authorization"] == f"Bearer {fake.tokens_issued[1]}"


async def test_an_account_request_refused_twice_is_an_auth_error():
    fake = FakeAvito()
    fake.fail_first("GET", SELF, httpx.Response(403), httpx.Response(403))
    async with make_client(fake) as client:
        with pytest.raises(AvitoAuthError, match="User ID not found") as info:
            await client.user_id()
    assert isinstance(info.value, ConnectionError) and isinstance(info.value.__cause__, AvitoForbidden)
    assert fake.count("GET", SELF) == 2


async def test_token_failing_three_times_says_failed_to_obtain_and_stops():
    fake, clock = FakeAvito(), FakeClock()
    fake.fail_first("POST", "/token", *(httpx.Response(503) for _ in range(5)))
    auth = AvitoAuth(CLIENT_ID, "test-client-secret-value", base_url="https://api.test", transport=fake.transport(),
                     clock=clock, sleep=clock.sleep, retry=RetryPolicy(jitter=lambda: 0.5))
    with pytest.raises(AvitoAuthError, match=r"^Failed to obtain Avito access token: ") as info:
        await auth.get_access_token()
    assert isinstance(info.value, ConnectionError)
    assert fake.count("POST", "/token") == 3 and clock.sleeps == [2.0, 2.0]


async def test_refused_credentials_name_both_variables_and_never_the_secret():
    fake = FakeAvito()
    auth = AvitoAuth(CLIENT_ID, "a-wrong-secret-42", base_url="https://api.test", transport=fake.transport())
    with pytest.raises(AvitoAuthError) as info:
        await auth.get_access_token()
    message = str(info.value)
    assert message.startswith("Failed to obtain Avito access token: ")
    assert "AVITO_CLIENT_ID" in message and "AVITO_CLIENT_SECRET" in message
    assert "a-wrong-secret-42" not in message
    assert fake.count("POST", "/token") == 1  # a refusal is not retried


# -- the decision -------------------------------------------------------------------------------------------

def _error(status: int, headers: dict | None = None):
    from avito_kit.errors import error_for_response
    request = httpx.Request("GET", "https://api.test/x")
    return error_for_response(httpx.Response(status, headers=headers, request=request))


def _dropped(reached: bool) -> AvitoTransportError:
    return AvitoTransportError("dropped", request=httpx.Request("POST", "https://api.test/x"), reached_server=reached)


@pytest.mark.parametrize(("error", "attempt", "idempotent", "patient", "expected"), [
    (_error(429, {"Retry-After": "7"}), 1, True, False, 7.0),
    (_error(429), 1, True, False, 2.5),
    (_error(429), 2, True, False, 4.5),
    (_error(429), 3, True, False, None),  # the seed's three tries for one direct call
    (_error(429), 3, True, True, 8.5),  # a patient caller sits it out
    (_error(429), 40, True, True, None),
    (_error(429), 1, False, False, 2.5),  # refused before processing: a message may be resent
    (_error(503), 1, True, False, 2.0),
    (_error(503), 1, False, False, None),  # a message may have been delivered
    (_error(503), 3, True, False, None),
    (_dropped(True), 1, True, False, 2.0),
    (_dropped(True), 1, False, False, None),
    (_dropped(False), 1, False, False, 2.0),
    (_error(400), 1, True, False, None),
    (_error(404), 1, True, True, None),
])
def test_one_decision_over_the_typed_error(error, attempt, idempotent, patient, expected):
    policy = RetryPolicy(jitter=lambda: 0.5)
    assert policy.decide(error, attempt, idempotent=idempotent, patient=patient) == expected


# -- patience ---------------------------------------------------------------------------------------------

async def test_a_patient_call_outlasts_headerless_429s_that_fail_a_direct_one():
    fake, clock = FakeAvito(), FakeClock()
    fake.on("GET", CHATS, [*(httpx.Response(429) for _ in range(6)), httpx.Response(200, json={"chats": []})])
    async with make_client(fake, clock) as client:
        with pytest.raises(AvitoRateLimited):
            await client.get_chats()
        with client.patiently():
            assert await client.get_chats() == []
    assert fake.count("GET", CHATS) == 3 + 4


async def test_throttled_is_seen_while_waiting_for_avitos_limit():
    fake, clock = FakeAvito(), FakeClock()
    seen: list[bool] = []
    fake.on("GET", CHATS, [httpx.Response(429), httpx.Response(200, json={"chats": []})])
    async with make_client(fake, clock) as client:
        client.limiter.on_throttle = seen.append
        original = clock.sleep

        async def sleep(seconds):
            seen.append(("throttled during the wait", client.throttled))
            await original(seconds)
        client.limiter._sleep = sleep
        await client.get_chats()
        assert not client.limiter.throttled
    assert seen == [True, ("throttled during the wait", True), False]


# -- the adaptive limiter (AIMD), on a fake clock -----------------------------------------------------------

async def _start(limiter: RateLimiter, key: str, count: int) -> list[float]:
    starts = []
    for _ in range(count):
        async with limiter.slot(key) as started:
            starts.append(started)
    return starts


async def test_a_429_lowers_the_pace_below_what_avito_accepted_and_successes_restore_it():
    clock = FakeClock()
    limiter = RateLimiter(default_per_minute=1000, max_in_flight=8, clock=clock, sleep=clock.sleep)
    starts = await _start(limiter, "default", 100)  # Avito took 100 in a minute, then refuses
    limiter.rate_limited_at("default", starts[-1])
    assert limiter.per_minute("default") == 70 and limiter.in_flight_limit == 4
    assert limiter.rate_limited == 1

    await _start(limiter, "default", 1)  # the window holds 100 starts: wait until only 69 remain
    assert clock.sleeps and clock.now - starts[0] >= 60

    for _ in range(100):
        limiter.succeeded("default")
    assert limiter.per_minute("default") == 80  # one more a minute for every ten successes
    assert limiter.in_flight_limit == 8  # one place back every ten successes, up to the ceiling
    for _ in range(10_000):
        limiter.succeeded("default")
    assert limiter.per_minute("default") == 1000  # back to the configured pace


async def test_429s_of_one_burst_cut_the_pace_once():
    clock = FakeClock()
    limiter = RateLimiter(default_per_minute=1000, clock=clock, sleep=clock.sleep)
    starts = await _start(limiter, "default", 50)
    for started in starts[-8:]:  # eight requests in flight all refused
        limiter.rate_limited_at("default", started)
    assert limiter.per_minute("default") == 35 and limiter.in_flight_limit == 4
    clock.now += 1
    later = await _start(limiter, "default", 1)
    limiter.rate_limited_at("default", later[0])  # a request started after the cut: news again
    assert limiter.per_minute("default") < 35


async def test_a_lone_429_never_drops_the_pace_below_the_floor():
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    starts = await _start(limiter, "default", 1)
    limiter.rate_limited_at("default", starts[0])
    assert limiter.per_minute("default") == MIN_PER_MINUTE
    assert limiter.per_minute("items_list") == 25  # other families keep their pace


async def test_fewer_places_in_flight_after_a_429_and_more_after_successes():
    limiter = RateLimiter(max_in_flight=4)
    release = asyncio.Event()
    running, peak = 0, 0

    async def request():
        nonlocal running, peak
        async with limiter.slot("default"):
            running += 1
            peak = max(peak, running)
            await release.wait()
            running -= 1

    limiter.in_flight_limit = 4
    limiter.rate_limited_at("default", started=0.0)
    assert limiter.in_flight_limit == 2
    tasks = [asyncio.create_task(request()) for _ in range(6)]
    await asyncio.sleep(0)
    assert running == 2
    for _ in range(10):
        limiter.succeeded("default")
    await asyncio.sleep(0)
    assert running == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 3


async def test_a_5xx_retry_is_not_a_wait_for_the_limit():
    fake, clock = FakeAvito(), FakeClock()
    fake.on("GET", CHATS, [httpx.Response(502), httpx.Response(502), httpx.Response(502)])
    seen: list[bool] = []
    async with make_client(fake, clock, on_throttle=seen.append) as client:
        with pytest.raises(AvitoServerError):
            await client.get_chats()
    assert seen == [] and client.limiter.rate_limited == 0


async def test_a_patient_client_keeps_to_a_headerless_rolling_limit_it_was_never_told():
    """Issue 10 §3.4's target on a fake clock: Avito allows 100 requests per rolling minute and says so only
    with bare 429s; 600 calls all complete, at most 1 answer in 4 is a 429, within 1.5x the limit's bound."""
    fake, clock = FakeAvito(), FakeClock()
    accepted: deque[float] = deque()
    answers: Counter = Counter()

    def limited(request: httpx.Request) -> httpx.Response:
        while accepted and clock.now - accepted[0] >= 60:
            accepted.popleft()
        if len(accepted) >= 100:
            answers[429] += 1
            return httpx.Response(429)
        accepted.append(clock.now)
        answers[200] += 1
        return httpx.Response(200, json={"chats": []})

    fake.on("GET", CHATS, limited)
    async with make_client(fake, clock, patient=True) as client:
        await client.user_id()
        started = clock.now
        for _ in range(600):
            await client.get_chats()
    assert answers[200] == 600
    assert answers[429] <= sum(answers.values()) / 4
    assert clock.now - started <= 1.5 * 600 / 100 * 60


# -- a whole sync through faults on the token and the account id --------------------------------------------

SYNC_WORLD = {"seed": 31, "n_items": 3, "n_chats": 8}


@pytest.fixture(scope="module")
def clean_tables(tmp_path_factory):
    return snapshot(Store(synced_store_file(tmp_path_factory, Sandbox(**SYNC_WORLD), "clean")))


@pytest.mark.parametrize("fault", ["429", "503", "drop"])
@pytest.mark.parametrize("path", ["/token", "/core/v1/accounts/self"])
@pytest.mark.slow
async def test_a_sync_completes_through_a_fault_on_the_first_token_or_account_request(
        tmp_path, clean_tables, fault, path):
    sandbox, clock = Sandbox(**SYNC_WORLD), FakeClock()
    sandbox.queue_fault(fault, path)
    transport = sandbox.transport()
    auth = AvitoAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, base_url=SANDBOX_BASE_URL, transport=transport,
                     cache_path=tmp_path / "token.json", sleep=clock.sleep)
    store = Store(tmp_path / "faulty.duckdb")
    async with AvitoApiClient(auth, transport=transport, sleep=clock.sleep) as client:
        await sync(client, store, progress=False, max_age=None)
    first = next(r for r in sandbox.requests if r.path == path)
    assert first.fault == fault
    assert len([r for r in sandbox.requests if r.path == path]) == 2  # the fault, then the retry
    got = snapshot(store)
    assert got.keys() == clean_tables.keys()
    for table, frame in clean_tables.items():
        pd.testing.assert_frame_equal(got[table], frame, obj=table)
