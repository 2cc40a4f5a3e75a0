"""AvitoApiClient against a strict fake Avito: retries, token refresh, rate limits, input checks."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from avito_kit.auth import AvitoAuth
from avito_kit.client import AvitoApiClient
from avito_kit.errors import (
    AvitoConflict,
    AvitoForbidden,
    AvitoRateLimited,
    AvitoServerError,
    AvitoTransportError,
    AvitoValidationError,
    error_for_response,
)

from .fakes import CLIENT_ID, CLIENT_SECRET, USER_ID, FakeAvito, FakeClock, json_body, make_client

CHATS = f"/messenger/v2/accounts/{USER_ID}/chats"
SEND = f"/messenger/v1/accounts/{USER_ID}/chats/u2i-abc/messages"
ITEMS = "/core/v1/items"


def ok_chats(chats=()):
    return httpx.Response(200, json={"chats": list(chats)})


async def test_429_honours_retry_after_then_succeeds():
    fake, clock = FakeAvito(), FakeClock()
    fake.on("GET", CHATS, [httpx.Response(429, headers={"Retry-After": "7"}), ok_chats([{"id": "c1"}])])
    async with make_client(fake, clock) as client:
        assert await client.get_chats() == [{"id": "c1"}]
    assert clock.sleeps == [7.0]


async def test_429_without_retry_after_backs_off_exponentially_then_gives_up():
    fake, clock = FakeAvito(), FakeClock()
    fake.on("GET", CHATS, [httpx.Response(429, headers={"X-RateLimit-Limit": "25", "X-RateLimit-Remaining": "0"})])
    async with make_client(fake, clock) as client:
        with pytest.raises(AvitoRateLimited) as info:
            await client.get_chats()
    assert clock.sleeps == [2.5, 4.5]  # 2 s then 4 s, plus the (fixed here) jitter
    assert fake.count("GET", CHATS) == 3
    assert isinstance(info.value, httpx.HTTPStatusError) and info.value.status == 429


async def test_5xx_is_retried_after_a_short_delay_and_gives_up_after_three_tries():
    fake, clock = FakeAvito(), FakeClock()
    fake.on("GET", CHATS, [httpx.Response(503, json={"error": {"code": 503, "message": "временно недоступен"}})])
    async with make_client(fake, clock) as client:
        with pytest.raises(AvitoServerError) as info:
            await client.get_chats()
    assert fake.count("GET", CHATS) == 3
    assert clock.sleeps == [2.0, 2.0]
    error = info.value
    assert (error.status, error.method, error.code, error.error_message) == (503, "GET", 503, "временно недоступен")
    assert isinstance(error, httpx.HTTPStatusError)


async def test_dropped_connection_on_a_read_is_retried():
    fake = FakeAvito()
    fake.on("GET", CHATS, [httpx.RemoteProtocolError("Server disconnected"), ok_chats([{"id": "c2"}])])
    async with make_client(fake) as client:
        assert await client.get_chats() == [{"id": "c2"}]
    assert fake.count("GET", CHATS) == 2


async def test_network_failure_after_three_tries_is_a_request_error():
    fake = FakeAvito()
    fake.on("GET", CHATS, [httpx.ConnectError("refused")])
    async with make_client(fake) as client:
        with pytest.raises(httpx.RequestError) as info:
            await client.get_chats()
    assert isinstance(info.value, AvitoTransportError)
    assert fake.count("GET", CHATS) == 3


async def test_a_message_that_may_have_reached_avito_is_never_sent_twice():
    fake = FakeAvito()
    fake.on("POST", SEND, [httpx.RemoteProtocolError("Server disconnected"), httpx.Response(200, json={})])
    async with make_client(fake) as client:
        with pytest.raises(AvitoTransportError) as info:
            await client.send_message("u2i-abc", "Здравствуйте!")
    assert info.value.reached_server
    assert fake.count("POST", SEND) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_message_answered_with_5xx_is_not_resent(status):
    fake = FakeAvito()
    fake.on("POST", SEND, [httpx.Response(status), httpx.Response(200, json={})])
    async with make_client(fake) as client:
        with pytest.raises(AvitoServerError):
            await client.send_message("u2i-abc", "Здравствуйте!")
    assert fake.count("POST", SEND) == 1


async def test_a_message_is_resent_when_it_provably_never_arrived():
    fake = FakeAvito()
    sent = {"id": "m1", "content": {"text": "Да"}, "direction": "out", "type": "text", "created": 1}
    fake.on("POST", SEND, [httpx.ConnectError("refused"), httpx.Response(429), httpx.Response(200, json=sent)])
    async with make_client(fake) as client:
        assert await client.send_message("u2i-abc", "Да") == sent
    assert fake.count("POST", SEND) == 3
    assert json_body(fake.calls[-1]) == {"message": {"text": "Да"}, "type": "text"}


async def test_an_expired_token_403_is_refreshed_once_and_replayed():
    fake = FakeAvito()

    def chats(request):
        if request.headers["Authorization"] == f"Bearer {fake.tokens_issued[0]}":
            return httpx.Response(403, json={"error": {"code": 403, "message": "token expired"}})
        return ok_chats([{"id": "c3"}])
    fake.on("GET", CHATS, chats)
    async with make_client(fake) as client:
        assert await client.get_chats() == [{"id": "c3"}]
    assert fake.count("POST", "/token") == 2


async def test_a_403_that_a_new_token_does_not_cure_surfaces_after_one_refresh():
    fake = FakeAvito()
    fake.on("GET", CHATS, [httpx.Response(403, json={"error": {"code": 403, "message": "forbidden"}})])
    async with make_client(fake) as client:
        with pytest.raises(AvitoForbidden):
            await client.get_chats()
    assert fake.count("POST", "/token") == 2
    assert fake.count("GET", CHATS) == 2


async def test_many_concurrent_403s_cause_one_refresh():
    fake = FakeAvito()
    fake.on("GET", CHATS, lambda r: httpx.Response(403) if r.headers["Authorization"].endswith(
        fake.tokens_issued[0]) else ok_chats())
    async with make_client(fake) as client:
        await asyncio.gather(*(client.get_chats() for _ in range(10)))
    assert fake.count("POST", "/token") == 2


async def test_items_limiter_never_starts_more_than_25_in_any_minute():
    fake, clock = FakeAvito(), FakeClock()
    starts: list[float] = []

    def page(request):
        starts.append(clock.now)
        number = int(request.url.params["page"])
        return httpx.Response(200, json={"meta": {"page": number, "per_page": 1},
                                         "resources": [{"id": number}] if number < 80 else []})
    fake.on("GET", ITEMS, page)
    async with make_client(fake, clock) as client:
        items = [item async for item in client.iter_items(per_page=1)]
    assert len(items) == 79 and len(starts) == 80
    worst = max(sum(1 for t in starts if s <= t < s + 60) for s in starts)
    assert worst == 25
    assert clock.now - 1_800_000_000.0 >= 180  # 80 calls at 25 per minute need at least three full minutes


async def test_requests_in_flight_are_capped():
    fake = FakeAvito()
    in_flight, peak = 0, 0

    async def slow(request):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return ok_chats()

    fake.on("GET", CHATS, slow)
    transport = httpx.MockTransport(fake.handle)
    auth = AvitoAuth(CLIENT_ID, CLIENT_SECRET, base_url="https://api.test", transport=transport)
    async with AvitoApiClient(auth, transport=transport, max_in_flight=3) as client:
        await asyncio.gather(*(client.get_chats() for _ in range(12)))
    assert peak == 3


async def test_error_bodies_of_both_shapes_are_parsed():
    request = httpx.Request("GET", "https://api.test/core/v1/items?per_page=500")
    items_error = error_for_response(httpx.Response(400, json={"code": "bad_param", "message": "per_page"},
                                                    request=request))
    assert (items_error.code, items_error.error_message) == ("bad_param", "per_page")
    assert items_error.url == "https://api.test/core/v1/items"
    validation = error_for_response(httpx.Response(
        422, json={"error": {"code": 422, "message": "invalid", "fields": {"date_end": "в прошлом"}}},
        request=request))
    assert isinstance(validation, AvitoValidationError) and validation.fields == {"date_end": "в прошлом"}
    assert isinstance(error_for_response(httpx.Response(409, request=request)), AvitoConflict)
    limited = error_for_response(httpx.Response(429, headers={"Retry-After": "30"}, request=request))
    assert limited.retry_after == 30.0


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.send_message("u2i-abc", ""), "empty"),
    (lambda c: c.send_message("u2i-abc", "я" * 1001), "1001 characters"),
    (lambda c: c.send_message("", "Привет"), "chat_id"),
    (lambda c: c.get_item_bookings(0, "2027-01-01", "2027-01-05"), "item_id"),
    (lambda c: c.get_item_bookings(-5, "2027-01-01", "2027-01-05"), "item_id"),
    (lambda c: c.get_item_bookings(4123456789, "2027-13-01", "2027-01-05"), "YYYY-MM-DD"),
    (lambda c: c.get_item_bookings(4123456789, "2027-01-05", "2027-01-01"), "after"),
    (lambda c: c.update_item_bookings(4123456789, [{"date_start": "2027-01-05", "date_end": "2027-01-05"}]),
     "after"),
    (lambda c: c.update_item_bookings(4123456789, [
        {"date_start": "2027-01-01", "date_end": "2027-01-05"},
        {"date_start": "2027-01-04", "date_end": "2027-01-08"}]), "overlap"),
    (lambda c: c.update_item_availability(4123456789, [
        {"date_start": "2027-01-01", "date_end": "2027-01-05", "open": 0}]), "quota"),
    (lambda c: c.get_item_stats([4123456789], "2027-01-05", "2027-01-01"), "after"),
    (lambda c: c.get_chats(limit=101), "limit"),
])
async def test_bad_input_raises_value_error_before_any_request(call, message):
    fake = FakeAvito()
    async with make_client(fake) as client:
        with pytest.raises(ValueError, match=message):
            await call(client)
    assert fake.calls == []


async def test_calendar_push_sends_the_spec_body_with_the_item_id_in_the_body():
    fake = FakeAvito()
    fake.on("POST", "/realty/v1/items/intervals", lambda r: httpx.Response(200, json={"result": "success"}))
    async with make_client(fake) as client:
        await client.update_item_availability(4123456789, [
            {"date_start": "2027-01-10", "date_end": "2027-01-20", "open": 1},
            {"date_start": "2027-01-01", "date_end": "2027-01-10", "open": 1},
        ])
    assert json_body(fake.calls[-1]) == {"item_id": 4123456789, "source": "pms", "intervals": [
        {"date_start": "2027-01-10", "date_end": "2027-01-20", "open": 1},
        {"date_start": "2027-01-01", "date_end": "2027-01-10", "open": 1},
    ]}


async def test_stats_are_split_into_calls_of_200_ids():
    fake = FakeAvito()
    path = f"/stats/v1/accounts/{USER_ID}/items"
    fake.on("POST", path, lambda r: httpx.Response(200, json={"result": {"items": [
        {"itemId": i, "stats": []} for i in json_body(r)["itemIds"]]}}))
    ids = list(range(3_000_000_001, 3_000_000_451))
    async with make_client(fake) as client:
        result = await client.get_item_stats(ids, "2027-01-01", "2027-01-31")
    sizes = Counter(len(json_body(r)["itemIds"]) for r in fake.calls if r.url.path == path)
    assert sizes == Counter({200: 2, 50: 1})
    assert [r["itemId"] for r in result] == ids
