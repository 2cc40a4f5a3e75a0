"""The real client against the embedded sandbox: paging, big ids, token expiry, limits, and every request and
answer checked against Avito's official OpenAPI specs."""

from __future__ import annotations

import datetime as dt
import json
import os
from urllib.parse import parse_qsl

import httpx
import pytest

from avito_kit.auth import AvitoAuth
from avito_kit.client import AvitoApiClient
from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox

from .fakes import FakeClock
from .openapi_contract import default_spec_dir, load_contract


class ContractCheckingTransport(httpx.AsyncBaseTransport):
    """Validates each request before it reaches the sandbox and each answer before the client sees it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.contract = load_contract()
        self.operations: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        kind = request.headers.get("content-type", "")
        json_body = json.loads(body) if body and "json" in kind else None
        form = dict(parse_qsl(body.decode())) if body and "form" in kind else None
        operation = self.contract.validate_request(request.method, str(request.url), None, json_body, form)
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        self.contract.validate_response(request.method, str(request.url), response.status_code, content)
        self.operations.add(operation.operation_id)
        return httpx.Response(response.status_code, headers=response.headers, content=content, request=request)


def client_for(sandbox: Sandbox, transport: httpx.AsyncBaseTransport | None = None, clock: FakeClock | None = None,
               **options) -> AvitoApiClient:
    transport = transport or sandbox.transport()
    if clock is not None:
        options.update(clock=clock, sleep=clock.sleep)
    auth = AvitoAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, base_url="https://api.avito.ru", transport=transport,
                     **({"clock": clock, "sleep": clock.sleep} if clock else {}))
    return AvitoApiClient(auth, transport=transport, **options)


@pytest.fixture(scope="module")
def contract_available():
    if not default_spec_dir().is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the OpenAPI specs are missing at {default_spec_dir()}: the contract test must run in CI")
        pytest.skip("no OpenAPI specs (set AVITO_OPENAPI_DIR)")


async def test_every_request_and_answer_follows_the_official_specs(contract_available):
    sandbox = Sandbox(seed=3)
    checking = ContractCheckingTransport(sandbox.transport())
    today = sandbox.today
    async with client_for(sandbox, checking) as client:
        await client.get_self()
        items = [item async for item in client.iter_items()]
        item_id = next(i["id"] for i in items if i["status"] == "active")
        await client.get_item_details(item_id)
        await client.get_item_bookings(item_id, today, today + dt.timedelta(days=60), with_unpaid=True)
        await client.get_item_stats([i["id"] for i in items], today - dt.timedelta(days=30), today)
        chats = [chat async for chat in client.iter_chats()]
        messages = [m async for m in client.iter_messages(chats[0]["id"])]
        assert messages
        await client.get_new_messages()
        await client.send_message(chats[0]["id"], "Здравствуйте! Заезд с 14:00, ключи в ячейке.")
        await client.mark_message_read(chats[0]["id"])
        free_start = today + dt.timedelta(days=400)  # beyond every generated booking
        await client.update_item_bookings(item_id, [{"date_start": free_start, "date_end": free_start + dt.timedelta(3),
                                                     "type": "manual", "comment": "ремонт"}])
        await client.update_item_availability(item_id, [{"date_start": today, "date_end": today + dt.timedelta(30),
                                                         "open": 1}])
        await client.update_item_prices(item_id, [{"date_from": today.isoformat(),
                                                   "date_to": (today + dt.timedelta(30)).isoformat(),
                                                   "night_price": 4500, "minimal_duration": 2}])
    assert checking.operations >= {
        "getAccessToken", "getUserInfoSelf", "getItemsInfo", "getItemInfo", "getRealtyBookings", "itemStatsShallow",
        "getChatsV2", "getMessagesV3", "postSendMessage", "chatRead", "putBookingsInfo", "putIntervals",
        "postRealtyPrices",
    }


async def test_items_are_paged_until_a_short_page_across_every_status():
    sandbox = Sandbox(seed=1, n_items=250, n_chats=5)
    async with client_for(sandbox) as client:
        items = [item async for item in client.iter_items()]
    assert sorted(i["id"] for i in items) == sorted(i.id for i in sandbox.items)
    pages = [r for r in sandbox.requests if r.operation == "getItemsInfo"]
    assert len(pages) == 3  # 99 + 99 + 52
    assert {r.query["status"] for r in pages} == {"active,removed,old,blocked,rejected"}


async def test_130_chats_of_both_types_are_all_listed():
    sandbox = Sandbox(seed=2, n_items=4, n_chats=130)
    async with client_for(sandbox) as client:
        chats = [chat async for chat in client.iter_chats()]
    assert len({c["id"] for c in chats}) == 130
    assert {c["id"].split("-")[0] for c in chats} == {"u2i", "u2u"}
    assert [r.query["offset"] for r in sandbox.requests if r.operation == "getChatsV2"] == ["0", "100"]


@pytest.mark.parametrize("envelope", ["array", "object"])
async def test_a_250_message_chat_is_read_whole_in_either_envelope(envelope):
    sandbox = Sandbox(seed=4, n_items=2, n_chats=3, messages_envelope=envelope)
    chat_id = sandbox.add_chat(n_messages=250)
    async with client_for(sandbox) as client:
        messages = [m async for m in client.iter_messages(chat_id)]
    assert len({m["id"] for m in messages}) == 250
    created = [m["created"] for m in messages]
    assert created == sorted(created, reverse=True)  # newest first, as Avito pages them
    assert len([r for r in sandbox.requests if r.operation == "getMessagesV3"]) == 3


async def test_big_listing_and_booking_ids_stay_exact():
    sandbox = Sandbox(seed=5, n_items=3, n_chats=1, refuse_past_bookings_read=False)  # big ids of past stays too
    item = sandbox.items[0]
    huge = sandbox.add_booking(item.id, sandbox.today + dt.timedelta(days=500), sandbox.today + dt.timedelta(days=503))
    async with client_for(sandbox) as client:
        bookings = await client.get_item_bookings(item.id, huge["check_in"], huge["check_out"])
    assert item.id > 2**31
    expected = {b["avito_booking_id"] for b in sandbox.bookings(item.id)
                if b["check_in"] < huge["check_out"] and b["check_out"] > huge["check_in"] and b["status"] != "pending"}
    assert {b["avito_booking_id"] for b in bookings} == expected
    big = [b for b in sandbox.bookings(item.id) if b["avito_booking_id"] > 2**53]
    assert big, "the sandbox hands out booking ids above 2^53"
    async with client_for(sandbox) as client:
        first = min(b["check_in"] for b in big)
        last = max(b["check_out"] for b in big)
        got = {b["avito_booking_id"] for b in await client.get_item_bookings(item.id, first, last, with_unpaid=True)}
    assert {b["avito_booking_id"] for b in big} <= got
    assert all(isinstance(i, int) for i in got)


async def test_new_messages_are_the_incoming_unread_ones_with_their_chat_guest_and_listing():
    sandbox = Sandbox(seed=6, n_items=3, n_chats=4)
    item = next(i for i in sandbox.items if i.status == "active")
    chat_id = sandbox.add_chat(item_id=item.id, n_messages=2)
    async with client_for(sandbox) as client:
        new = await client.get_new_messages(item_ids_filter=[item.id])
    mine = [m for m in new if m["chat_id"] == chat_id]
    assert len(mine) == 2
    assert all(m["direction"] == "in" and m["item_id_avito"] == item.id for m in mine)
    assert mine[0]["chat_user_id"] == sandbox.chats[chat_id].guest_id
    assert all(m["item_id_avito"] == item.id for m in new)


async def test_an_expired_token_is_replaced_and_the_call_goes_through():
    sandbox = Sandbox(seed=7, n_items=2, n_chats=2)
    async with client_for(sandbox) as client:
        await client.get_chats()
        sandbox.expire_tokens()
        assert await client.get_chats()
    statuses = [r.status for r in sandbox.requests if r.operation == "getChatsV2"]
    assert statuses == [200, 403, 200]
    assert len([r for r in sandbox.requests if r.operation == "getAccessToken"]) == 2


async def test_the_client_waits_instead_of_hitting_the_items_rate_limit():
    clock = FakeClock()
    sandbox = Sandbox(seed=8, n_items=30, n_chats=1, clock=clock)
    async with client_for(sandbox, clock=clock) as client:
        items = [item async for item in client.iter_items(per_page=1)]
    assert len(items) == 30
    assert [r.status for r in sandbox.requests if r.operation == "getItemsInfo"] == [200] * 31
    assert sum(clock.sleeps) >= 59  # the 26th call waited for the window to move


async def test_a_sent_message_is_never_duplicated_when_the_connection_drops_after_delivery():
    sandbox = Sandbox(seed=9, n_items=2, n_chats=3)
    chat_id = next(iter(sandbox.chats))
    before = len(sandbox.chats[chat_id].messages)
    sandbox.queue_fault("drop", path_contains=f"/chats/{chat_id}/messages")
    async with client_for(sandbox, clock=FakeClock()) as client:
        with pytest.raises(httpx.RequestError):
            await client.send_message(chat_id, "Ждём вас!")
    assert len(sandbox.chats[chat_id].messages) == before + 1
    assert len([r for r in sandbox.requests if r.operation == "postSendMessage"]) == 1


@pytest.mark.slow
def test_a_script_using_run_exits_without_warnings(tmp_path):
    """``run()`` in a plain script: two calls share one loop, and at exit the client's connections close with
    it (no "Task was destroyed but it is pending!" on stderr, which a host would take for an error)."""
    import subprocess
    import sys

    script = ("from avito_kit import open_client, run\n"
              "client = open_client()\n"
              "print(len(run(client.get_chats())), len(run(client.get_chats())))\n")
    done = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["50", "50"]
    assert done.stderr == ""
