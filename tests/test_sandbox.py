"""The embedded sandbox's own behaviour: determinism, exact ids, calendar rules, limits, tokens, faults,
state, the loopback server and generation speed. Plain httpx only (the client is tested elsewhere)."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
import types
from datetime import date, datetime, timedelta

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


@pytest.mark.slow
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


# ---- switches: the variants real accounts send (REAL-WORLD.md) -----------------------------------------


@pytest.fixture(scope="module")
def contract():
    from tests.openapi_contract import default_spec_dir, load_contract

    if not default_spec_dir().is_dir():
        pytest.skip("no Avito OpenAPI specs")
    return load_contract()


def checked(contract, response: httpx.Response) -> httpx.Response:
    """``response`` after checking its body against the spec's shape for its status."""
    contract.validate_response(response.request.method, response.request.url.path, response.status_code,
                               response.json() if response.content else None)
    return response


def messenger_calls(uid: int, chat_id: str) -> list[tuple[str, str, dict | None]]:
    base = f"/messenger/v1/accounts/{uid}/chats/{chat_id}"
    return [("GET", f"/messenger/v2/accounts/{uid}/chats", None),
            ("GET", f"/messenger/v2/accounts/{uid}/chats/{chat_id}", None),
            ("GET", f"/messenger/v3/accounts/{uid}/chats/{chat_id}/messages/", None),
            ("POST", f"{base}/messages", {"message": {"text": "Здравствуйте"}, "type": "text"}),
            ("POST", f"{base}/read", None)]


async def test_without_the_messenger_subscription_every_messenger_call_is_402(http, sandbox, contract):
    sandbox.messenger_subscription = False
    chat = next(iter(sandbox.chats.values()))
    before = len(chat.messages)
    for method, path, body in messenger_calls(sandbox.user_id, chat.id):
        response = checked(contract, await http.request(method, path, json=body))
        assert response.status_code == 402, path
        assert response.json() == {"error": {"code": 402,
                                             "message": "не подключена платная подписка на API мессенджера"}}
    assert len(chat.messages) == before  # nothing was sent
    assert checked(contract, await http.get("/core/v1/items")).status_code == 200  # listings still answer
    sandbox.messenger_subscription = True
    assert (await http.get(f"/messenger/v2/accounts/{sandbox.user_id}/chats")).status_code == 200


@pytest.mark.parametrize(("answer", "status"), [("result", 403), ("result_200", 200)])
async def test_expired_token_answers_the_result_body_real_accounts_see(http, sandbox, contract, answer, status):
    expired_body = {"result": {"status": False, "message": "access token expired"}}
    spec = checked(contract, await http.get("/core/v1/accounts/self", headers={"Authorization": "Bearer nope"}))
    assert spec.status_code == 403 and spec.json() == {"error": {"code": 403, "message": "token expired or invalid"}}
    sandbox.expired_token_answer = answer
    sandbox.expire_tokens()
    for path in ("/core/v1/accounts/self", "/core/v1/items", f"/messenger/v2/accounts/{sandbox.user_id}/chats"):
        response = await http.get(path)
        assert (response.status_code, response.json()) == (status, expired_body), path
        if status == 403:
            checked(contract, response)
    unknown = await http.get("/core/v1/items", headers={"Authorization": "Bearer nope"})
    assert (unknown.status_code, unknown.json()) == (status, expired_body)
    assert (await http.get("/core/v1/items", headers={"Authorization": ""})).status_code == 401  # none at all
    await authorized(http)
    assert (await http.get("/core/v1/accounts/self")).status_code == 200


async def test_chats_carry_meta_has_more_by_default(http, sandbox, contract):
    path = f"/messenger/v2/accounts/{sandbox.user_id}/chats"
    params = {"chat_types": "u2i,u2u", "limit": 20}
    first = checked(contract, await http.get(path, params=params)).json()
    assert len(first["chats"]) == 20 and first["meta"] == {"has_more": True}
    last = checked(contract, await http.get(path, params={**params, "offset": 20})).json()
    assert len(last["chats"]) == 10 and last["meta"] == {"has_more": False}
    sandbox.chats_meta = False
    assert set((await http.get(path, params=params)).json()) == {"chats"}


async def test_account_limit_answers_a_bare_429_over_a_rolling_minute(http, sandbox, clock):
    sandbox.account_limit_per_minute = 10
    sandbox.enforce_rate_limits = False
    for _ in range(5):
        assert (await http.get("/core/v1/accounts/self")).status_code == 200
    clock.advance(30)
    for _ in range(5):
        assert (await http.get("/core/v1/items")).status_code == 200
    sandbox.queue_fault("503", path_contains="/self")
    limited = await http.get("/core/v1/accounts/self")
    assert limited.status_code == 429
    assert set(limited.headers) == {"content-length"}  # no X-RateLimit-*, no Retry-After, nothing
    assert limited.json() == {"error": {"code": 429, "message": "Too Many Requests"}}
    assert (await http.post("/token", data=TOKEN_FORM)).status_code == 429  # every request counts, /token too
    sandbox.account_limit_body = "message"
    assert (await http.get("/core/v1/items")).json() == {"message": "API rate limit exceeded"}
    sandbox.account_limit_body = "empty"
    assert (await http.get("/core/v1/items")).content == b""
    clock.advance(30)  # the first five leave the window; refused requests never entered it
    assert (await http.get("/core/v1/accounts/self")).status_code == 503  # the queued fault waited its turn
    for _ in range(4):
        assert (await http.get("/core/v1/accounts/self")).status_code == 200
    assert (await http.get("/core/v1/accounts/self")).status_code == 429
    sandbox.reset_rate_limits()
    assert (await http.get("/core/v1/accounts/self")).status_code == 200
    sandbox.account_limit_per_minute = None
    assert all([(await http.get("/core/v1/items")).status_code == 200 for _ in range(20)])


def test_account_limit_is_cheap_over_a_thousand_requests(sandbox, clock):
    sandbox.account_limit_per_minute = 100
    sandbox.enforce_rate_limits = False
    form = f"grant_type=client_credentials&client_id={SANDBOX_CLIENT_ID}&client_secret={SANDBOX_CLIENT_SECRET}"
    token = sandbox.handle("POST", "/token", "", {"Content-Type": "application/x-www-form-urlencoded"},
                           form.encode()).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    answers = []
    for _ in range(1000):
        answers.append(sandbox.handle("GET", "/core/v1/accounts/self", "", headers))
        clock.advance(0.1)  # 600 a minute asked for over 100 s, 100 a minute allowed
    elapsed = time.perf_counter() - started
    # 100 in the first 10 s (the token took one), then none until they leave the window at 60 s
    assert 195 <= [a.status for a in answers].count(200) <= 200
    assert all(a.headers == {} for a in answers if a.status == 429)
    assert elapsed < 1.0, f"1000 limited requests took {elapsed:.2f}s"


async def test_bookings_window_by_check_in_leaves_out_a_stay_under_way(http, sandbox):
    item_id = sandbox.items[0].id
    sandbox.world.bookings[item_id] = []
    under_way = sandbox.add_booking(item_id, TODAY - timedelta(days=2), TODAY + timedelta(days=3))
    coming = sandbox.add_booking(item_id, TODAY + timedelta(days=5), TODAY + timedelta(days=7))
    path = f"/realty/v1/accounts/{sandbox.user_id}/items/{item_id}/bookings"
    window = {"date_start": str(TODAY), "date_end": str(TODAY + timedelta(days=30))}
    ids = [b["avito_booking_id"] for b in (await http.get(path, params=window)).json()["bookings"]]
    assert ids == [under_way["avito_booking_id"], coming["avito_booking_id"]]  # default: overlap
    sandbox.bookings_window = "check_in"
    ids = [b["avito_booking_id"] for b in (await http.get(path, params=window)).json()["bookings"]]
    assert ids == [coming["avito_booking_id"]]


async def test_past_bookings_read_is_422_with_fields_by_default(http, sandbox, contract):
    item_id = sandbox.items[0].id
    path = f"/realty/v1/accounts/{sandbox.user_id}/items/{item_id}/bookings"
    past = {"date_start": str(TODAY - timedelta(days=1)), "date_end": str(TODAY + timedelta(days=1))}
    refused = checked(contract, await http.get(path, params=past))
    assert refused.status_code == 422
    assert set(refused.json()["error"]) == {"code", "message", "fields"}
    assert set(refused.json()["error"]["fields"]) == {"date_start"}
    sandbox.refuse_past_bookings_read = False
    assert (await http.get(path, params=past)).status_code == 200


async def test_some_bookings_come_without_an_id_and_big_ids_stay_exact(http, sandbox, contract):
    sandbox.refuse_past_bookings_read = False
    sandbox.bookings_without_id_share = 0.3
    window = {"date_start": str(TODAY - timedelta(days=365)), "date_end": str(TODAY + timedelta(days=365)),
              "with_unpaid": "true"}
    served = []
    for item in sandbox.items:
        response = await http.get(f"/realty/v1/accounts/{sandbox.user_id}/items/{item.id}/bookings",
                                  params=window)
        served += checked(contract, response).json()["bookings"]
    without = [b for b in served if "avito_booking_id" not in b]
    assert 0.2 < len(without) / len(served) < 0.4
    kept = {b["avito_booking_id"] for b in served if "avito_booking_id" in b}
    assert any(i > 2**53 for i in kept) and all(isinstance(i, int) for i in kept)
    world = {b["avito_booking_id"] for item in sandbox.items for b in sandbox.bookings(item.id)}
    assert kept <= world  # exact, not rounded through a float
    path = f"/realty/v1/accounts/{sandbox.user_id}/items/{sandbox.items[0].id}/bookings"
    first, again = [(await http.get(path, params=window)).json()["bookings"] for _ in range(2)]
    assert first == again  # the same bookings lack their id on every read


async def test_a_block_over_paid_bookings_lists_the_conflicts(http, sandbox, contract):
    item_id, booking = future_paid_booking(sandbox)
    path = f"/core/v1/accounts/{sandbox.user_id}/items/{item_id}/bookings"
    start = date.fromisoformat(booking["check_in"]) - timedelta(days=1)
    end = date.fromisoformat(booking["check_out"])
    response = checked(contract, await http.post(path, json={"bookings": [block(start, end)]}))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == 409 and str(booking["avito_booking_id"]) in error["message"]
    paid = [{"avito_booking_id": b["avito_booking_id"], "check_in": b["check_in"], "check_out": b["check_out"]}
            for b in sandbox.bookings(item_id)
            if b["status"] == "active" and b["check_in"] < str(end) and b["check_out"] > str(start)]
    assert error["conflicts"] == [{"interval": {"date_start": str(start), "date_end": str(end)}, "bookings": paid}]
    sandbox.block_conflicts = False
    plain = checked(contract, await http.post(path, json={"bookings": [block(start, end)]}))
    assert plain.status_code == 409 and set(plain.json()["error"]) == {"code", "message"}


def night_range(start: date, nights: int) -> set[date]:
    return {start + timedelta(days=offset) for offset in range(nights)}


@pytest.mark.parametrize("mode", ["replace", "merge"])
async def test_effective_calendar_after_block_open_block_again(http, sandbox, mode):
    """What a guest sees after a host blocks A, opens A and blocks B, the way avito_kit's actions push it:
    blocks as the listing's full set, and opening through the year's availability intervals too."""
    sandbox.calendar_post = mode
    item_id = sandbox.items[0].id
    sandbox.world.bookings[item_id] = []
    paid = sandbox.add_booking(item_id, TODAY + timedelta(days=40), TODAY + timedelta(days=43))
    booked = night_range(TODAY + timedelta(days=40), 3)
    assert sandbox.closed_nights(item_id) == booked  # nothing pushed: only the paid stay
    blocks = f"/core/v1/accounts/{sandbox.user_id}/items/{item_id}/bookings"
    a_start, b_start = TODAY + timedelta(days=10), TODAY + timedelta(days=20)
    a, b = block(a_start, a_start + timedelta(days=3)), block(b_start, b_start + timedelta(days=2))
    year_end = TODAY + timedelta(days=365)

    assert (await http.post(blocks, json={"bookings": [a]})).status_code == 200
    assert sandbox.closed_nights(item_id) == booked | night_range(a_start, 3)

    assert (await http.post(blocks, json={"bookings": []})).status_code == 200  # open A: the set without it
    free = [{"date_start": str(TODAY), "date_end": paid["check_in"], "open": 1},
            {"date_start": paid["check_out"], "date_end": str(year_end), "open": 1}]
    assert (await http.post("/realty/v1/items/intervals", json={"item_id": item_id, "intervals": free})
            ).status_code == 200
    assert sandbox.closed_nights(item_id) == booked

    assert (await http.post(blocks, json={"bookings": [b]})).status_code == 200
    assert sandbox.closed_nights(item_id) == booked | night_range(b_start, 2)
    pushed = [x["date_start"] for x in sandbox.blocks[item_id]]
    assert pushed == ([str(b_start)] if mode == "replace" else [str(a_start), str(b_start)])


async def test_under_merge_a_blocks_push_never_reopens(http, sandbox):
    item_id = sandbox.items[0].id
    sandbox.world.bookings[item_id] = []
    path = f"/core/v1/accounts/{sandbox.user_id}/items/{item_id}/bookings"
    first = block(TODAY + timedelta(days=3), TODAY + timedelta(days=5))
    second = block(TODAY + timedelta(days=4), TODAY + timedelta(days=7))  # overlaps the first: merged
    sandbox.calendar_post = "merge"
    for pushed in ([first], [second], []):
        assert (await http.post(path, json={"bookings": pushed})).status_code == 200
    assert sandbox.closed_nights(item_id) == night_range(TODAY + timedelta(days=3), 4)
    sandbox.calendar_post = "replace"
    assert (await http.post(path, json={"bookings": []})).status_code == 200
    assert sandbox.closed_nights(item_id) == set()
    # an intervals push closes what it leaves out of the coming year, and nothing beyond it
    body = {"item_id": item_id, "intervals": [{"date_start": str(TODAY + timedelta(days=1)),
                                               "date_end": str(TODAY + timedelta(days=400)), "open": 1}]}
    assert (await http.post("/realty/v1/items/intervals", json=body)).status_code == 200
    assert sandbox.closed_nights(item_id) == {TODAY}


async def test_unknown_route_answers_the_gateway_body_and_status_all_is_400(http, sandbox):
    for method, path in (("GET", "/core/v2/items"), ("POST", "/core/v1/items"), ("GET", "/nope")):
        response = await http.request(method, path)
        assert (response.status_code, response.json()) == (404, {"message": "no Route matched with those values"})
        assert sandbox.requests[-1].operation is None and sandbox.requests[-1].status == 404
    everything = await http.get("/core/v1/items", params={"status": "all"})
    assert everything.status_code == 400
    assert everything.json()["code"] == "bad_request" and "unknown status 'all'" in everything.json()["message"]
    assert "active, removed, old, blocked, rejected" in everything.json()["message"]


async def test_queued_faults_reach_token_and_account_self(sandbox):
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=BASE_URL) as http:
        sandbox.queue_fault("503", path_contains="/token")
        sandbox.queue_fault("429", path_contains="/core/v1/accounts/self", retry_after=2)
        sandbox.queue_fault("refuse", path_contains="/token")
        refused_token = await http.post("/token", data=TOKEN_FORM)
        assert refused_token.status_code == 503 and refused_token.json()["error"] == "server_error"
        with pytest.raises(httpx.ConnectError):
            await http.post("/token", data=TOKEN_FORM)
        await authorized(http)
        limited = await http.get("/core/v1/accounts/self")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
        assert (await http.get("/core/v1/accounts/self")).status_code == 200
        assert [r.operation for r in sandbox.requests if r.fault] == ["getAccessToken", "getAccessToken",
                                                                      "getUserInfoSelf"]


# ---- setting switches -----------------------------------------------------------------------------------


def test_switches_are_checked_by_name_and_type(sandbox):
    from avito_kit.sandbox import Switches

    limited = Sandbox(seed=1, today=TODAY, n_chats=1, account_limit_per_minute=100)
    assert limited.switches.account_limit_per_minute == limited.account_limit_per_minute == 100
    for bad in ({"messenger_subscription": "no"}, {"calendar_post": "append"}, {"error_rate": 1.5},
                {"account_limit_per_minute": 0}, {"messages_enveloppe": "array"}):
        with pytest.raises(ValueError, match="sandbox switch"):
            Sandbox(seed=1, today=TODAY, n_chats=1, **bad)
    with pytest.raises(ValueError, match="calendar_post must be one of replace, merge"):
        sandbox.calendar_post = "append"
    sandbox.switches.calendar_post = "merge"
    assert sandbox.calendar_post == "merge"
    assert Switches().messages_envelope == "meta" and Switches().refuse_past_bookings_read is True


def test_switches_from_the_environment(monkeypatch):
    from avito_kit.sandbox import SWITCHES_ENV, parse_switches, sandbox_from_env
    from avito_kit.session import open_client

    assert parse_switches(" messenger_subscription=false, messages_envelope=array,account_limit_per_minute=100,"
                          "error_rate=0.1,account_limit_per_minute=none") == {
        "messenger_subscription": False, "messages_envelope": "array", "account_limit_per_minute": None,
        "error_rate": 0.1}
    for bad, message in (("nope=1", "unknown sandbox switch 'nope'"), ("chats_meta", "is not name=value"),
                         ("chats_meta=maybe", "chats_meta must be true or false"),
                         ("account_limit_per_minute=ten", "positive integer or none")):
        with pytest.raises(ValueError, match=message) as raised:
            parse_switches(bad)
        assert str(raised.value).startswith(f"{SWITCHES_ENV}: ") and "\n" not in str(raised.value)

    monkeypatch.setenv(SWITCHES_ENV, "messenger_subscription=false,calendar_post=merge")
    assert sandbox_from_env(seed=2, today=TODAY, n_chats=1).calendar_post == "merge"
    monkeypatch.setenv("AVITO_CLIENT_ID", "")
    monkeypatch.setenv("AVITO_CLIENT_SECRET", "")
    client = open_client()
    assert client.sandbox.messenger_subscription is False and client.sandbox.calendar_post == "merge"


def test_cli_sandbox_refuses_a_bad_switch_in_one_line(monkeypatch, capsys, tmp_path):
    from avito_kit.cli import main

    monkeypatch.setenv("AVITO_KIT_SANDBOX_SWITCHES", "messages_envelope=xml")
    assert main(["sandbox", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "messages_envelope must be one of meta, object, array" in err
    monkeypatch.setenv("AVITO_KIT_SANDBOX_SWITCHES", "calendar_post=append")
    assert main(["--sandbox", "--db", str(tmp_path / "a.duckdb"), "sync"]) == 2  # the --sandbox client too
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "calendar_post must be one of replace, merge" in err
    assert not (tmp_path / "a.duckdb").exists()


def test_the_core_imports_none_of_its_adapters():
    import ast
    from pathlib import Path

    import avito_kit.sandbox as package

    folder = Path(package.__file__).parent
    for module in sorted(folder.glob("*.py")):
        if module.stem in ("__init__", "server", "transport"):
            continue
        imported = {node.module for node in ast.walk(ast.parse(module.read_text(encoding="utf-8")))
                    if isinstance(node, ast.ImportFrom) and node.module}
        assert not imported & {"server", "transport"}, module.name


# ---- the world replayed over time (issue 12 §5) ------------------------------------------------------------


def test_every_booking_was_made_before_its_check_in_and_today_and_canceled_in_between(sandbox):
    from avito_kit.sandbox.data import booking_dates

    today, leads = TODAY.toordinal(), []
    for item in sandbox.items:
        for booking in sandbox.bookings(item.id):
            made, canceled = booking_dates(sandbox.seed, booking, TODAY)
            check_in = date.fromisoformat(booking["check_in"]).toordinal()
            assert made <= min(check_in, today)
            assert (canceled is not None) == (booking["status"] == "canceled")
            if canceled is not None:
                assert made <= canceled <= max(made, min(check_in, today))
            if check_in <= today:
                leads.append(check_in - made)
    assert booking_dates(sandbox.seed, booking, TODAY) == (made, canceled)  # a pure function
    # Spread as real lead times are: some last-minute, most weeks ahead, a few months.
    assert 0.1 < sum(lead <= 1 for lead in leads) / len(leads) < 0.4
    assert max(leads) > 60 and sorted(leads)[len(leads) // 2] > 7


async def test_an_earlier_today_serves_the_bookings_that_existed_then_with_their_statuses_then(sandbox, http):
    from avito_kit.sandbox.data import booking_dates

    day = TODAY - timedelta(days=60)
    sandbox.refuse_past_bookings_read = False  # back on TODAY, the same window
    item = next(item for item in sandbox.items if any(
        b["status"] == "canceled" and booking_dates(sandbox.seed, b, TODAY)[1] > day.toordinal()
        for b in sandbox.bookings(item.id)))
    path = f"/realty/v1/accounts/{sandbox.user_id}/items/{item.id}/bookings"
    window = {"date_start": day.isoformat(), "date_end": (TODAY + timedelta(days=365)).isoformat(),
              "with_unpaid": "true"}
    today_ids = {b["avito_booking_id"]: b["status"] for b in sandbox.bookings(item.id) if b["check_out"] > str(day)}

    sandbox.today = day
    then = {b["avito_booking_id"]: b["status"] for b in (await http.get(path, params=window)).json()["bookings"]}
    expected = {}
    for booking_id, status in today_ids.items():
        booking = next(b for b in sandbox.world.bookings[item.id] if b["avito_booking_id"] == booking_id)
        made, canceled = booking_dates(sandbox.seed, booking, TODAY)
        if made <= day.toordinal():
            expected[booking_id] = "active" if canceled is not None and canceled > day.toordinal() else status
    assert then == expected
    assert "active" in {then[i] for i in then if today_ids[i] == "canceled"}  # canceled only later
    assert len(then) < len(today_ids)  # the bookings made since are not there yet

    sandbox.today = TODAY
    now = {b["avito_booking_id"]: b["status"] for b in (await http.get(path, params=window)).json()["bookings"]}
    assert now == today_ids


async def test_an_earlier_today_serves_the_chats_and_messages_written_by_then(sandbox, http):
    anchor = sandbox.world.anchor
    # A chat under way on some day: begun before that day's "now" (09:00 UTC), its last message after.
    back, chat = next((back, chat) for chat in sandbox.chats.values()
                      if (back := (anchor - chat.created) // 86400) and anchor - back * 86400 < chat.updated)
    sandbox.today = TODAY - timedelta(days=back)
    moment = sandbox.moment

    chats = (await http.get(f"/messenger/v2/accounts/{sandbox.user_id}/chats",
                            params={"chat_types": "u2i,u2u", "limit": 100})).json()["chats"]
    assert 0 < len(chats) < len(sandbox.chats)
    assert all(shown["created"] <= moment and shown["updated"] <= moment for shown in chats)
    messages = (await http.get(f"/messenger/v3/accounts/{sandbox.user_id}/chats/{chat.id}/messages/")).json()
    assert 0 < len(messages["messages"]) < len(chat.messages)
    assert all(message["created"] <= moment for message in messages["messages"])
    unborn = next(other for other in sandbox.chats.values() if other.created > moment)
    assert (await http.get(f"/messenger/v2/accounts/{sandbox.user_id}/chats/{unborn.id}")).status_code == 404

    sandbox.today = TODAY
    chats = (await http.get(f"/messenger/v2/accounts/{sandbox.user_id}/chats",
                            params={"chat_types": "u2i,u2u", "limit": 100})).json()["chats"]
    assert len(chats) == len(sandbox.chats)


async def test_an_earlier_today_serves_the_stats_until_then_and_listings_closed_later_as_active(sandbox, http):
    day = TODAY - timedelta(days=30)
    moment = sandbox.world.moment(day)
    closed_later = [item.id for item in sandbox.items
                    if item.finish_time is not None and item.finish_time.timestamp() > moment]
    assert closed_later
    sandbox.today = day

    stats = (await http.post(f"/stats/v1/accounts/{sandbox.user_id}/items", json={
        "dateFrom": (day - timedelta(days=10)).isoformat(), "dateTo": TODAY.isoformat(),
        "itemIds": [item.id for item in sandbox.items]})).json()["result"]["items"]
    days = {row["date"] for entry in stats for row in entry["stats"]}
    assert days and max(days) == day.isoformat()

    listed = (await http.get("/core/v1/items", params={"status": "active", "per_page": 50})).json()["resources"]
    assert set(closed_later) <= {item["id"] for item in listed}
    info = (await http.get(f"/core/v1/accounts/{sandbox.user_id}/items/{closed_later[0]}/")).json()
    assert info["status"] == "active" and info["finish_time"] is None


def test_today_moves_back_only_and_only_to_a_date(sandbox):
    with pytest.raises(ValueError, match="no later history"):
        sandbox.today = TODAY + timedelta(days=1)
    with pytest.raises(ValueError, match="must be a date"):
        sandbox.today = datetime(2026, 6, 1, 12)
    sandbox.today = TODAY - timedelta(days=400)  # before the world's history: an account with nothing yet
    assert sandbox.moment == sandbox.world.anchor - 400 * 86400
    sandbox.today = TODAY
    assert sandbox.today == TODAY and sandbox.moment is None
