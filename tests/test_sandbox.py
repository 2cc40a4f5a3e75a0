"""The embedded sandbox's own behaviour: determinism, exact ids, calendar rules, limits, tokens, faults,
state, the loopback server and generation speed. Plain httpx only (the client is tested elsewhere)."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
import types
from datetime import date, timedelta

import httpx
import pytest

from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox, SandboxTransport, serve_forever
from avito_kit.sandbox import server as server_module

TODAY = date(2026, 6, 15)
BASE_URL = "https://api.avito.ru"
TOKEN_FORM = {"grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID,
              "client_secret": SANDBOX_CLIENT_SECRET}


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock) -> Sandbox:
    return Sandbox(seed=3, today=TODAY, n_chats=30, clock=clock)


async def authorized(http: httpx.AsyncClient) -> httpx.AsyncClient:
    token = (await http.post("/token", data=TOKEN_FORM)).json()["access_token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return http


@pytest.fixture
async def http(sandbox):
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=BASE_URL) as client:
        yield await authorized(client)


def future_paid_booking(sandbox: Sandbox) -> tuple[int, dict]:
    for item in sandbox.items:
        for booking in sandbox.bookings(item.id):
            if booking["status"] == "active" and booking["check_in"] > str(TODAY + timedelta(days=10)):
                return item.id, booking
    raise AssertionError("no future paid booking")


def block(start: date | str, end: date | str, **extra) -> dict:
    return {"date_start": str(start), "date_end": str(end), "type": "manual", **extra}


# ---- the world ---------------------------------------------------------------------------------------


def snapshot(sandbox: Sandbox) -> str:
    world = sandbox.world
    return json.dumps({
        "account": world.account.to_json(),
        "items": [(item.resource(), item.info()) for item in world.items],
        "bookings": {str(k): v for k, v in world.bookings.items()},
        "chats": [(chat.to_json(), chat.messages) for chat in world.chats.values()],
        "stats": {str(item.id): {str(d): v for d, v in world.daily_stats(item.id).items()} for item in world.items},
    }, ensure_ascii=False, sort_keys=True)


def test_same_seed_same_world_other_seed_other_world():
    assert snapshot(Sandbox(seed=42, today=TODAY)) == snapshot(Sandbox(seed=42, today=TODAY))
    assert snapshot(Sandbox(seed=42, today=TODAY)) != snapshot(Sandbox(seed=43, today=TODAY))


def test_world_shape():
    sandbox = Sandbox(seed=5, today=TODAY)
    assert 0 < sandbox.user_id < 2**31
    statuses = [item.status for item in sandbox.items]
    assert len(statuses) == 12 and statuses.count("active") >= 8
    assert {"removed", "old", "blocked"} <= set(statuses)
    assert all(2**31 < item.id < 10**10 for item in sandbox.items)
    assert all("квартира" in item.title or "Квартира" in item.title for item in sandbox.items)
    for item in sandbox.items:
        stays = sorted((b["check_in"], b["check_out"]) for b in sandbox.bookings(item.id))
        assert all(prev_out <= next_in for (_, prev_out), (next_in, _) in itertools.pairwise(stays))
        assert all(1 <= b["nights"] <= 14 for b in sandbox.bookings(item.id))
    chats = list(sandbox.chats.values())
    assert len(chats) == 150 and {c.type for c in chats} == {"u2i", "u2u"}
    assert all(1 <= len(c.messages) <= 40 for c in chats) and any(c.unread for c in chats)
    assert Sandbox(seed=5, today=TODAY, n_chats=3, messages_per_chat=20).chats.keys()
    assert all(len(c.messages) == 20 for c in Sandbox(seed=5, today=TODAY, messages_per_chat=20).chats.values())


async def test_big_booking_ids_stay_exact_through_json(http, sandbox):
    big = [(item_id, b) for item_id, bookings in sandbox.world.bookings.items() for b in bookings
           if b["avito_booking_id"] > 2**53 and b["check_in"] >= str(TODAY)]
    assert big, "the world must hold booking ids above 2^53"
    item_id, booking = big[0]
    response = await http.get(f"/realty/v1/accounts/{sandbox.user_id}/items/{item_id}/bookings",
                              params={"date_start": booking["check_in"], "date_end": booking["check_in"],
                                      "with_unpaid": "true"})
    assert str(booking["avito_booking_id"]).encode() in response.content
    ids = [b["avito_booking_id"] for b in response.json()["bookings"]]
    assert booking["avito_booking_id"] in ids
    assert float(booking["avito_booking_id"]) != booking["avito_booking_id"]  # a float would corrupt it


def test_generating_a_big_world_is_quick():
    started = time.perf_counter()
    sandbox = Sandbox(seed=1, today=TODAY, n_items=1000, n_chats=600, messages_per_chat=20)
    elapsed = time.perf_counter() - started
    assert len(sandbox.items) == 1000 and len(sandbox.chats) == 600
    assert elapsed < 2.0, f"generation took {elapsed:.2f}s"


# ---- the calendar rules ------------------------------------------------------------------------------


async def test_block_overlapping_a_paid_booking_is_409_and_changes_nothing(http, sandbox):
    item_id, booking = future_paid_booking(sandbox)
    path = f"/core/v1/accounts/{sandbox.user_id}/items/{item_id}/bookings"
    earlier = [block(TODAY + timedelta(days=1), TODAY + timedelta(days=2), comment=None)]
    busy = {(b["check_in"], b["check_out"]) for b in sandbox.bookings(item_id) if b["status"] == "active"}
    if any(ci < earlier[0]["date_end"] and co > earlier[0]["date_start"] for ci, co in busy):
        earlier = []
    assert (await http.post(path, json={"bookings": earlier})).status_code == 200
    response = await http.post(path, json={"bookings": [
        block(date.fromisoformat(booking["check_out"]) + timedelta(days=200), "2027-06-01"),
        block(booking["check_in"], booking["check_out"])]})
    assert response.status_code == 409
    assert sandbox.blocks[item_id] == earlier  # all or nothing


async def test_blocks_replace_the_previous_set_and_pending_does_not_conflict(http, sandbox):
    item_id = sandbox.items[0].id
    pending = sandbox.add_booking(item_id, "2026-12-01", "2026-12-05", status="pending")
    path = f"/core/v1/accounts/{sandbox.user_id}/items/{item_id}/bookings"
    free = [block("2026-12-01", "2026-12-03", comment="ремонт")]
    sandbox.world.bookings[item_id] = [b for b in sandbox.bookings(item_id)
                                       if b["status"] != "active" or b["check_in"] >= "2027"]
    assert (await http.post(path, json={"bookings": free})).status_code == 200
    assert sandbox.blocks[item_id] == [{**free[0]}]
    assert (await http.post(path, json={"bookings": [block("2026-12-10", "2026-12-11")]})).status_code == 200
    assert [b["date_start"] for b in sandbox.blocks[item_id]] == ["2026-12-10"]
    assert pending["status"] == "pending"


async def test_past_and_overlapping_blocks_are_refused(http, sandbox):
    item_id = sandbox.items[0].id
    path = f"/core/v1/accounts/{sandbox.user_id}/items/{item_id}/bookings"
    past = await http.post(path, json={"bookings": [block(TODAY - timedelta(days=1), TODAY + timedelta(days=1))]})
    assert past.status_code == 422 and past.json()["error"]["fields"]
    overlapping = await http.post(path, json={"bookings": [block("2027-01-01", "2027-01-05"),
                                                           block("2027-01-04", "2027-01-06")]})
    assert overlapping.status_code == 422 and "bookings[1]" in overlapping.json()["error"]["fields"]
    touching = await http.post(path, json={"bookings": [block("2027-02-01", "2027-02-05"),
                                                        block("2027-02-05", "2027-02-06")]})
    assert touching.status_code in (200, 409)  # date_end is open: touching ranges do not overlap
    assert item_id not in sandbox.blocks or touching.status_code == 200
    sandbox.refuse_past_calendar = False
    sandbox.world.bookings[item_id] = []
    assert (await http.post(path, json={"bookings": [block(TODAY - timedelta(days=3), TODAY)]})).status_code == 200


async def test_intervals_are_the_whole_year_of_availability(http, sandbox):
    item_id = sandbox.items[1].id
    assert len(sandbox.open_dates(item_id)) == 365  # nothing pushed: the listing's own calendar
    body = {"item_id": item_id, "source": "test", "intervals": [
        {"date_start": str(TODAY), "date_end": str(TODAY + timedelta(days=3)), "open": 1},
        {"date_start": str(TODAY + timedelta(days=10)), "date_end": str(TODAY + timedelta(days=12)), "open": 2}]}
    assert (await http.post("/realty/v1/items/intervals", json=body)).status_code == 200
    open_dates = sandbox.open_dates(item_id)
    assert list(open_dates) == [TODAY + timedelta(days=d) for d in (0, 1, 2, 10, 11)]
    assert open_dates[TODAY + timedelta(days=10)] == 2
    replaced = {"item_id": item_id, "intervals": [
        {"date_start": str(TODAY + timedelta(days=20)), "date_end": str(TODAY + timedelta(days=21)), "open": 1}]}
    assert (await http.post("/realty/v1/items/intervals", json=replaced)).status_code == 200
    assert list(sandbox.open_dates(item_id)) == [TODAY + timedelta(days=20)]
    assert (await http.post("/realty/v1/items/intervals", json={"item_id": item_id, "intervals": []})
            ).status_code == 200
    assert sandbox.open_dates(item_id) == {}  # an empty list closes the year
    zero = {"item_id": item_id, "intervals": [{"date_start": str(TODAY), "date_end": str(TODAY + timedelta(1)),
                                               "open": 0}]}
    assert (await http.post("/realty/v1/items/intervals", json=zero)).status_code == 422
    assert sandbox.intervals[item_id] == []


# ---- limits and tokens on the sandbox clock ----------------------------------------------------------


async def test_items_list_is_limited_to_25_a_minute_then_recovers(http, sandbox, clock):
    for _ in range(25):
        assert (await http.get("/core/v1/items")).status_code == 200
        clock.advance(1)
    limited = await http.get("/core/v1/items")
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Limit"] == "25" and limited.headers["X-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in limited.headers  # Avito documents none
    assert (await http.get("/core/v1/accounts/self")).status_code == 200  # limits are per endpoint
    clock.advance(35)  # the first call leaves the sliding window
    assert (await http.get("/core/v1/items")).status_code == 200
    assert (await http.get("/core/v1/items")).status_code == 429
    clock.advance(61)
    assert (await http.get("/core/v1/items")).status_code == 200
    sandbox.enforce_rate_limits = False
    assert all([(await http.get("/core/v1/items")).status_code == 200 for _ in range(30)])


async def test_retry_after_only_when_asked(http, sandbox):
    sandbox.send_retry_after = True
    for _ in range(25):
        await http.get("/core/v1/items")
    assert (await http.get("/core/v1/items")).headers["Retry-After"] == "60"
    sandbox.send_retry_after = False
    sandbox.queue_fault("429", path_contains="/chats", retry_after=7)
    injected = await http.get(f"/messenger/v2/accounts/{sandbox.user_id}/chats")
    assert injected.status_code == 429 and injected.headers["Retry-After"] == "7"


async def test_tokens_expire_on_the_sandbox_clock(sandbox, clock):
    sandbox.token_ttl = 100
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=BASE_URL) as http:
        issued = (await http.post("/token", data=TOKEN_FORM)).json()
        assert issued["expires_in"] == 100 and issued["token_type"] == "Bearer"
        http.headers["Authorization"] = f"Bearer {issued['access_token']}"
        clock.advance(99)
        assert (await http.get("/core/v1/accounts/self")).status_code == 200
        clock.advance(1)
        expired = await http.get("/core/v1/accounts/self")
        assert expired.status_code == 403 and expired.json()["error"]["code"] == 403
        await authorized(http)
        assert (await http.get("/core/v1/accounts/self")).status_code == 200
        sandbox.queue_fault("expire_token")
        assert (await http.get("/core/v1/accounts/self")).status_code == 403


# ---- faults ------------------------------------------------------------------------------------------


async def test_refused_request_is_not_processed(http, sandbox):
    chat = next(iter(sandbox.chats.values()))
    before = len(chat.messages)
    sandbox.queue_fault("refuse", path_contains="/messages")
    with pytest.raises(httpx.ConnectError):
        await http.post(f"/messenger/v1/accounts/{sandbox.user_id}/chats/{chat.id}/messages",
                        json={"message": {"text": "Здравствуйте"}, "type": "text"})
    assert len(chat.messages) == before
    assert sandbox.requests[-1].fault == "refuse" and sandbox.requests[-1].status is None


async def test_dropped_request_is_processed_so_a_blind_retry_duplicates(http, sandbox):
    chat = next(iter(sandbox.chats.values()))
    before = len(chat.messages)
    path = f"/messenger/v1/accounts/{sandbox.user_id}/chats/{chat.id}/messages"
    sandbox.queue_fault("drop", path_contains="/messages")
    with pytest.raises(httpx.RemoteProtocolError):
        await http.post(path, json={"message": {"text": "Ключи в сейфе"}, "type": "text"})
    assert len(chat.messages) == before + 1
    assert sandbox.requests[-1].fault == "drop" and sandbox.requests[-1].status == 200
    await http.post(path, json={"message": {"text": "Ключи в сейфе"}, "type": "text"})
    assert [m["content"].get("text") for m in chat.messages[-2:]] == ["Ключи в сейфе"] * 2


async def test_queued_faults_apply_in_order_to_matching_paths(http, sandbox):
    sandbox.queue_fault("503", path_contains="/core/v1/items")
    sandbox.queue_fault("502")
    assert (await http.get("/core/v1/accounts/self")).status_code == 502  # the first fault needs /items
    assert (await http.get("/core/v1/items")).status_code == 503
    assert (await http.get("/core/v1/items")).status_code == 200
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.queue_fault("418")


async def test_random_faults_are_seeded(clock):
    async def statuses(seed: int) -> list[object]:
        sandbox = Sandbox(seed=seed, today=TODAY, n_chats=5, clock=clock, enforce_rate_limits=False,
                          error_rate=0.3, rate_limit_rate=0.1, refuse_rate=0.1, drop_rate=0.1)
        async with httpx.AsyncClient(transport=sandbox.transport(), base_url=BASE_URL) as http:
            # the rates apply to /token too: retry until a token comes
            while "Authorization" not in http.headers:
                try:
                    response = await http.post("/token", data=TOKEN_FORM)
                except httpx.TransportError:
                    continue
                if response.status_code == 200:
                    http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
            seen: list[object] = []
            for _ in range(60):
                try:
                    seen.append((await http.get("/core/v1/items")).status_code)
                except httpx.TransportError as error:
                    seen.append(type(error).__name__)
            return seen

    first, again = await statuses(9), await statuses(9)
    assert first == again
    assert {200, 429, "ConnectError", "RemoteProtocolError"} <= set(first)
    assert {500, 502, 503} & set(first)


# ---- state and test helpers --------------------------------------------------------------------------


async def test_sent_message_is_newest_in_its_chat_and_moves_the_chat_up(http, sandbox):
    chats_path = f"/messenger/v2/accounts/{sandbox.user_id}/chats"
    chats = (await http.get(chats_path, params={"chat_types": "u2i,u2u"})).json()["chats"]
    oldest = chats[-1]["id"]
    sent = (await http.post(f"/messenger/v1/accounts/{sandbox.user_id}/chats/{oldest}/messages",
                            json={"message": {"text": "Свободно, бронируйте!"}, "type": "text"})).json()
    messages = (await http.get(f"/messenger/v3/accounts/{sandbox.user_id}/chats/{oldest}/messages/")
                ).json()["messages"]
    assert messages[0]["id"] == sent["id"] and messages[0]["direction"] == "out"
    assert messages[0]["created"] > messages[1]["created"]
    top = (await http.get(chats_path, params={"chat_types": "u2i,u2u", "limit": 1})).json()["chats"][0]
    assert top["id"] == oldest and top["last_message"]["id"] == sent["id"] and top["updated"] == sent["created"]


async def test_helpers_change_the_world_between_syncs(http, sandbox):
    uid = sandbox.user_id
    item_id = next(item.id for item in sandbox.items if item.status == "removed")  # no future bookings
    booking = sandbox.add_booking(item_id, date(2027, 3, 1), date(2027, 3, 4), base_price=12_000)
    window = {"date_start": "2027-03-01", "date_end": "2027-03-02"}
    path = f"/realty/v1/accounts/{uid}/items/{item_id}/bookings"
    found = (await http.get(path, params=window)).json()["bookings"]
    assert [b["avito_booking_id"] for b in found] == [booking["avito_booking_id"]]
    assert found[0]["base_price"] == 12_000 and found[0]["nights"] == 3
    sandbox.set_booking_status(booking["avito_booking_id"], "canceled")
    assert (await http.get(path, params=window)).json()["bookings"][0]["status"] == "canceled"
    with pytest.raises(KeyError):
        sandbox.set_booking_status(1, "canceled")

    chat_id = sandbox.add_chat(item_id=item_id, n_messages=2)
    listed = (await http.get(f"/messenger/v2/accounts/{uid}/chats", params={"unread_only": "true"})).json()
    assert listed["chats"][0]["id"] == chat_id and listed["chats"][0]["context"]["value"]["id"] == item_id
    u2u = sandbox.add_chat(chat_type="u2u", n_messages=1)
    assert sandbox.chats[u2u].context is None

    read = await http.post(f"/messenger/v1/accounts/{uid}/chats/{chat_id}/read")
    assert read.json() == {"ok": True} and not sandbox.chats[chat_id].unread
    sandbox.add_incoming_message(chat_id, "А можно пораньше заехать?")
    assert sandbox.chats[chat_id].unread
    messages = (await http.get(f"/messenger/v3/accounts/{uid}/chats/{chat_id}/messages/")).json()["messages"]
    assert messages[0]["content"]["text"] == "А можно пораньше заехать?" and messages[0]["direction"] == "in"
    assert len(messages) == 3


async def test_messages_envelope_switch(http, sandbox):
    chat = max(sandbox.chats.values(), key=lambda c: len(c.messages))
    path = f"/messenger/v3/accounts/{sandbox.user_id}/chats/{chat.id}/messages/"
    first = (await http.get(path, params={"limit": 1})).json()  # the default: real accounts' envelope
    assert first["meta"] == {"has_more": True} and len(first["messages"]) == 1
    last = (await http.get(path, params={"limit": 1, "offset": len(chat.messages) - 1})).json()
    assert last["meta"] == {"has_more": False} and len(last["messages"]) == 1
    sandbox.messages_envelope = "array"  # the spec's bare array
    bare = (await http.get(path)).json()
    assert isinstance(bare, list) and bare[0] == first["messages"][0]
    sandbox.messages_envelope = "object"
    assert (await http.get(path)).json() == {"messages": bare}
    with pytest.raises(ValueError, match="messages_envelope"):
        Sandbox(messages_envelope="dict")


async def test_no_secret_or_token_in_the_log_or_reprs(http, sandbox):
    token = http.headers["Authorization"].split()[1]
    await http.get("/core/v1/items")
    logged = repr(sandbox.requests) + repr(sandbox) + repr(sandbox.transport())
    assert SANDBOX_CLIENT_SECRET not in logged and token not in logged
    assert sandbox.requests[0].body["client_secret"] == "***"
    assert sandbox.requests[1].operation == "getItemsInfo" and sandbox.requests[1].status == 200


async def test_latency_uses_the_injected_sleep(sandbox):
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    transport = SandboxTransport(sandbox, latency=0.25, sleep=fake_sleep)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        await http.post("/token", data=TOKEN_FORM)
        await http.get("/core/v1/items")
    assert waits == [0.25, 0.25]


def test_transport_serves_a_sync_client_too(sandbox):
    with httpx.Client(transport=sandbox.transport(), base_url=BASE_URL) as http:
        assert http.post("/token", data=TOKEN_FORM).status_code == 200


# ---- the loopback HTTP server ------------------------------------------------------------------------


async def test_http_server_over_loopback(sandbox):
    sandbox.enforce_rate_limits = False
    with sandbox.serve() as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            await authorized(http)
            uid = sandbox.user_id
            assert (await http.get("/core/v1/accounts/self")).json()["id"] == uid
            chat_id = next(iter(sandbox.chats))
            sent = await http.post(f"/messenger/v1/accounts/{uid}/chats/{chat_id}/messages",
                                   json={"message": {"text": "Привет по HTTP"}, "type": "text"})
            assert sent.status_code == 200 and sandbox.chats[chat_id].messages[-1]["id"] == sent.json()["id"]
            responses = await asyncio.gather(*[http.get("/core/v1/items", params={"per_page": 5})
                                               for _ in range(300)])
            assert {r.status_code for r in responses} == {200}
            sandbox.queue_fault("drop", path_contains="/chats/")
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post(f"/messenger/v1/accounts/{uid}/chats/{chat_id}/read")
            sandbox.queue_fault("refuse")
            with pytest.raises(httpx.TransportError):
                await http.get("/core/v1/accounts/self")
            assert (await http.get("/core/v1/accounts/self")).status_code == 200


async def test_http_server_closes_when_asked_and_answers_400_to_garbage(sandbox):
    with sandbox.serve() as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET /core/v1/items HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)  # to the end: the server closes
        assert answer.startswith(b"HTTP/1.1 401 Unauthorized\r\n") and b"\r\nConnection: close\r\n" in answer
        writer.close()
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"NONSENSE\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 400 ")
        writer.close()


def test_serve_forever_prints_hints_and_stops_on_ctrl_c(monkeypatch):
    def interrupt(_: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(server_module, "time", types.SimpleNamespace(sleep=interrupt))
    out = io.StringIO()
    serve_forever(Sandbox(seed=1, today=TODAY, n_chats=1), port=0, stream=out)
    printed = out.getvalue()
    assert "http://127.0.0.1:" in printed and f"AVITO_CLIENT_ID={SANDBOX_CLIENT_ID}" in printed
    assert "Sandbox stopped." in printed
    custom = io.StringIO()
    serve_forever(Sandbox(seed=1, today=TODAY, n_chats=1, client_secret="s3cret"), port=0, stream=custom)
    assert "s3cret" not in custom.getvalue()
