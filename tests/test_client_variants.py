"""What real accounts answer that the specs do not say (shared/avito-api/REAL-WORLD.md), and the seed's API
exactly: the client against a strict fake."""

from __future__ import annotations

import datetime as dt
import inspect

import httpx
import pytest

from avito_kit.client import AvitoApiClient
from avito_kit.errors import (
    AvitoClientError,
    AvitoConflict,
    AvitoForbidden,
    AvitoNotFound,
    AvitoPaymentRequired,
    AvitoUnexpectedAnswer,
    BookingConflict,
    ConflictingBooking,
    error_for_response,
)

from .fakes import USER_ID, FakeAvito, make_client

CHATS = f"/messenger/v2/accounts/{USER_ID}/chats"
MESSAGES = f"/messenger/v3/accounts/{USER_ID}/chats/u2i-abc/messages/"
EXPIRED = {"result": {"status": False, "message": "access token expired"}}


def _expired_for_the_first_token(fake: FakeAvito, status: int, good: httpx.Response):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == f"Bearer {fake.tokens_issued[0]}":
            return httpx.Response(status, json=EXPIRED)
        return good
    return handler


# -- 402: no messenger subscription ----------------------------------------------------------------------------

async def test_402_is_a_client_error_saying_the_account_has_no_messenger_subscription():
    fake = FakeAvito()
    fake.on("GET", CHATS, [httpx.Response(402, json={"error": {"code": 402, "message": "Payment Required"}})])
    async with make_client(fake) as client:
        with pytest.raises(AvitoPaymentRequired) as info:
            await client.get_chats()
    error = info.value
    assert isinstance(error, AvitoClientError) and isinstance(error, httpx.HTTPStatusError)
    assert error.response.status_code == 402
    assert "no messenger API subscription" in str(error)
    assert fake.count("GET", CHATS) == 1  # not retried, no new token


# -- the expired-token body -------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [403, 200])
async def test_the_expired_token_body_gets_one_new_token_and_a_replay(status):
    fake = FakeAvito()
    fake.on("GET", CHATS, _expired_for_the_first_token(fake, status, httpx.Response(200, json={"chats": [
        {"id": "c1"}]})))
    async with make_client(fake) as client:
        assert await client.get_chats() == [{"id": "c1"}]
    assert fake.count("POST", "/token") == 2 and fake.count("GET", CHATS) == 2


@pytest.mark.parametrize("status", [403, 200])
async def test_an_expired_token_body_that_persists_is_an_error_with_its_message_never_an_empty_list(status):
    fake = FakeAvito()
    fake.on("GET", MESSAGES, [httpx.Response(status, json=EXPIRED)])
    async with make_client(fake) as client:
        with pytest.raises(AvitoForbidden, match="access token expired") as info:
            await client.get_messages_in_chat("u2i-abc")
    assert info.value.error_message == "access token expired"
    assert fake.count("POST", "/token") == 2 and fake.count("GET", MESSAGES) == 2


async def test_a_messages_answer_without_messages_is_an_unexpected_answer():
    fake = FakeAvito()
    fake.on("GET", MESSAGES, [httpx.Response(200, json={"result": {"items": []}})])
    async with make_client(fake) as client:
        with pytest.raises(AvitoUnexpectedAnswer, match="expected a list of messages") as info:
            await client.get_messages_in_chat("u2i-abc")
    assert isinstance(info.value, httpx.HTTPStatusError)
    assert "result" in str(info.value)


# -- envelopes with meta.has_more ------------------------------------------------------------------------------

async def test_chat_paging_stops_on_has_more_false_without_an_empty_last_page():
    fake = FakeAvito()
    pages = {0: ([{"id": f"c{i}"} for i in range(100)], True), 100: ([{"id": f"d{i}"} for i in range(100)], False)}
    fake.on("GET", CHATS, lambda r: httpx.Response(200, json={
        "chats": pages[int(r.url.params["offset"])][0], "meta": {"has_more": pages[int(r.url.params["offset"])][1]}}))
    async with make_client(fake) as client:
        chats = [chat async for chat in client.iter_chats()]
    assert len(chats) == 200 and fake.count("GET", CHATS) == 2


async def test_message_paging_follows_has_more_even_after_a_short_page():
    fake = FakeAvito()
    answers = [httpx.Response(200, json={"messages": [{"id": "m1"}], "meta": {"has_more": True}}),
               httpx.Response(200, json={"messages": [{"id": "m2"}], "meta": {"has_more": False}})]
    fake.on("GET", MESSAGES, answers)
    async with make_client(fake) as client:
        messages = [m async for m in client.iter_messages("u2i-abc")]
    assert [m["id"] for m in messages] == ["m1", "m2"]


async def test_without_meta_paging_stops_on_a_short_page():
    fake = FakeAvito()
    fake.on("GET", MESSAGES, [httpx.Response(200, json=[{"id": f"m{i}"} for i in range(100)]),
                              httpx.Response(200, json=[{"id": "last"}])])
    async with make_client(fake) as client:
        messages = [m async for m in client.iter_messages("u2i-abc")]
    assert len(messages) == 101 and fake.count("GET", MESSAGES) == 2


# -- error bodies ------------------------------------------------------------------------------------------

def _answer(status: int, body) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("GET", "https://api.test/core/v2/nowhere"))


def test_the_gateways_no_route_body_is_parsed_into_the_error():
    error = error_for_response(_answer(404, {"message": "no Route matched with those values"}))
    assert isinstance(error, AvitoNotFound)
    assert error.error_message == "no Route matched with those values"
    assert str(error) == ("Avito answered 404 to GET https://api.test/core/v2/nowhere "
                          "no Route matched with those values")


def test_a_409_with_conflicts_names_the_bookings_in_one_russian_line():
    error = error_for_response(_answer(409, {"error": {"code": 409, "message": "intervals overlap bookings",
        "conflicts": [{"interval": {"date_start": "2027-01-03", "date_end": "2027-01-05"},
                       "bookings": [{"avito_booking_id": 2784166209049096851, "check_in": "2027-01-02",
                                     "check_out": "2027-01-04"}]}]}}))
    assert isinstance(error, AvitoConflict)
    assert error.conflicts == [BookingConflict(dt.date(2027, 1, 3), dt.date(2027, 1, 5), (
        ConflictingBooking(2784166209049096851, dt.date(2027, 1, 2), dt.date(2027, 1, 4)),))]
    assert error.describe() == "03.01–05.01 пересекается с бронью 2784166209049096851, 02.01–04.01"
    assert "intervals overlap bookings" in str(error)


def test_the_older_409_body_without_conflicts_still_reads():
    error = error_for_response(_answer(409, {"error": {"code": 409, "message": "conflict"}}))
    assert isinstance(error, AvitoConflict) and error.conflicts == []
    assert error.describe() == "даты пересекаются с оплаченной бронью (conflict)"
    assert error_for_response(_answer(409, None)).conflicts == []


async def test_a_booking_without_avito_booking_id_is_passed_through():
    fake = FakeAvito()
    path = f"/realty/v1/accounts/{USER_ID}/items/4123456789/bookings"
    fake.on("GET", path, [httpx.Response(200, json={"bookings": [
        {"check_in": "2027-01-02", "check_out": "2027-01-04", "status": "active"},
        {"avito_booking_id": 2784166209049096851, "check_in": "2027-01-05", "check_out": "2027-01-07",
         "status": "active"}]})])
    async with make_client(fake) as client:
        bookings = await client.get_item_bookings(4123456789, "2027-01-01", "2027-01-31")
    assert [b.get("avito_booking_id") for b in bookings] == [None, 2784166209049096851]


# -- the seed's API, exactly ------------------------------------------------------------------------------------

SEED_SIGNATURES = {
    "get_chats": [("unread_only", False), ("item_ids", None), ("chat_types", ("u2i",)), ("limit", 50),
                  ("offset", 0)],
    "get_messages_in_chat": [("chat_id", inspect.Parameter.empty), ("limit", 20), ("offset", 0)],
    "send_message": [("chat_id", inspect.Parameter.empty), ("text_content", inspect.Parameter.empty)],
    "mark_message_read": [("chat_id", inspect.Parameter.empty)],
    "get_new_messages": [("item_ids_filter", None)],
    "get_item_details": [("item_id", inspect.Parameter.empty)],
    "get_all_user_items": [("status", "active"), ("per_page", 50), ("page", 1)],
    "get_item_bookings": [("item_id", inspect.Parameter.empty), ("date_start", inspect.Parameter.empty),
                          ("date_end", inspect.Parameter.empty), ("with_unpaid", False)],
    "update_item_bookings": [("item_id", inspect.Parameter.empty), ("bookings_payload", inspect.Parameter.empty),
                             ("source", "pms")],
    "update_item_availability": [("item_id", inspect.Parameter.empty),
                                 ("availability_payload", inspect.Parameter.empty), ("source", "pms")],
}


@pytest.mark.parametrize("name", SEED_SIGNATURES)
def test_the_seeds_positional_parameters_and_defaults(name):
    parameters = list(inspect.signature(getattr(AvitoApiClient, name)).parameters.values())[1:]
    positional = [(p.name, p.default) for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == SEED_SIGNATURES[name]


async def test_get_chats_asks_for_u2i_chats_50_at_a_time_by_default():
    fake = FakeAvito()
    fake.on("GET", CHATS, [httpx.Response(200, json={"chats": []})])
    async with make_client(fake) as client:
        await client.get_chats(True, [4123456789])
    params = fake.calls[-1].url.params
    assert (params["unread_only"], params["item_ids"], params["chat_types"], params["limit"], params["offset"]) == (
        "true", "4123456789", "u2i", "50", "0")


async def test_make_request_takes_the_seeds_endpoint_as_in_its_debugging_tip():
    fake = FakeAvito()
    async with make_client(fake) as client:
        assert (await client._make_request("GET", "/core/v1/accounts/self"))["id"] == USER_ID
        assert (await client._make_request("GET", "https://api.test/core/v1/accounts/self"))["id"] == USER_ID
        with pytest.raises(ValueError, match=r"under https://api\.test"):
            await client._make_request("GET", "https://elsewhere.test/core/v1/accounts/self")


async def test_item_details_carry_the_id_and_the_listings_title_once_listed():
    fake = FakeAvito()
    fake.on("GET", "/core/v1/items", [httpx.Response(200, json={"meta": {"page": 1, "per_page": 50}, "resources": [
        {"id": 4123456789, "title": "Студия у моря", "status": "active", "price": 3500}]})])
    fake.on("GET", f"/core/v1/accounts/{USER_ID}/items/4123456789/", [httpx.Response(200, json={
        "status": "active", "url": "https://avito.ru/4123456789"})])
    async with make_client(fake) as client:
        before = await client.get_item_details(4123456789)
        items = await client.get_all_user_items()
        details = await client.get_item_details(items[0]["id"])
    assert before == {"id": 4123456789, "status": "active", "url": "https://avito.ru/4123456789"}
    assert details["title"] == "Студия у моря" and details["url"] == "https://avito.ru/4123456789"


async def test_send_message_returns_avitos_answer():
    fake = FakeAvito()
    sent = {"id": "m9", "content": {"text": "Добрый день"}, "direction": "out", "type": "text", "created": 1}
    fake.on("POST", f"/messenger/v1/accounts/{USER_ID}/chats/u2i-abc/messages", [httpx.Response(200, json=sent)])
    async with make_client(fake) as client:
        assert await client.send_message(chat_id="u2i-abc", text_content="Добрый день") == sent
