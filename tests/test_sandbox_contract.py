"""The sandbox against Avito's OpenAPI specs: every endpoint, success and error, through plain httpx.

Each request the tests send as valid is checked with ``validate_request`` and every response with
``validate_response``; requests that are meant to be wrong are first shown to be rejected by the contract.
Without the spec directory the module skips, except under ``CI=true`` where that is a failure.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox
from tests.openapi_contract import OpenApiContract, require_contract

TODAY = date(2026, 6, 15)
BASE_URL = "https://api.avito.ru"


@pytest.fixture(scope="module")
def contract() -> OpenApiContract:
    return require_contract()


class Api:
    """Plain httpx against the sandbox, every exchange checked against the contract."""

    def __init__(self, http: httpx.AsyncClient, contract: OpenApiContract, sandbox: Sandbox) -> None:
        self.http, self.contract, self.sandbox = http, contract, sandbox
        self.uid = sandbox.user_id

    async def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                   data: dict[str, str] | None = None, valid_request: bool = True) -> httpx.Response:
        if valid_request:
            self.contract.validate_request(method, path, params or {}, json_body=json, form=data)
        else:
            with pytest.raises(AssertionError):
                self.contract.validate_request(method, path, params or {}, json_body=json, form=data)
        response = await self.http.request(method, path, params=params, json=json, data=data)
        self.contract.validate_response(method, path, response.status_code,
                                        response.json() if response.content else None)
        return response

    async def token(self) -> str:
        response = await self.call("POST", "/token", data={"grant_type": "client_credentials",
                                                           "client_id": SANDBOX_CLIENT_ID,
                                                           "client_secret": SANDBOX_CLIENT_SECRET})
        assert response.status_code == 200
        return response.json()["access_token"]


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(seed=11, today=TODAY, n_items=12, n_chats=40)


@pytest.fixture
async def api(contract, sandbox):
    async with httpx.AsyncClient(transport=sandbox.transport(), base_url=BASE_URL) as http:
        client = Api(http, contract, sandbox)
        http.headers["Authorization"] = f"Bearer {await client.token()}"
        yield client


def active_item(sandbox: Sandbox) -> int:
    return next(item.id for item in sandbox.items if item.status == "active")


def paid_booking(sandbox: Sandbox, item_id: int) -> dict[str, Any]:
    return next(b for b in sandbox.bookings(item_id) if b["status"] == "active" and b["check_in"] > str(TODAY))


# ---- auth --------------------------------------------------------------------------------------------


async def test_token_issues_unique_bearer_tokens(api):
    first, second = await api.token(), await api.token()
    assert first != second


async def test_token_rejects_wrong_credentials_and_grant(api):
    wrong = await api.call("POST", "/token", data={"grant_type": "client_credentials",
                                                   "client_id": SANDBOX_CLIENT_ID, "client_secret": "nope"})
    assert wrong.status_code == 401
    grant = await api.call("POST", "/token", data={"grant_type": "password", "client_id": SANDBOX_CLIENT_ID,
                                                   "client_secret": SANDBOX_CLIENT_SECRET})
    assert grant.status_code == 400


async def test_missing_unknown_and_expired_tokens(api):
    api.http.headers.pop("Authorization")
    assert (await api.call("GET", "/core/v1/accounts/self")).status_code == 401
    api.http.headers["Authorization"] = "Bearer not-a-token"
    unknown = await api.call("GET", "/core/v1/accounts/self")
    assert unknown.status_code == 403
    assert unknown.json()["error"]["code"] == 403
    api.http.headers["Authorization"] = f"Bearer {await api.token()}"
    api.sandbox.expire_tokens()
    assert (await api.call("GET", "/core/v1/items")).status_code == 403  # items' own error shape
    assert (await api.call("GET", f"/messenger/v2/accounts/{api.uid}/chats")).status_code == 403


# ---- account and listings ----------------------------------------------------------------------------


async def test_account_self(api):
    body = (await api.call("GET", "/core/v1/accounts/self")).json()
    assert body["id"] == api.uid < 2**31


async def test_items_list_defaults_statuses_and_paging(api):
    default = (await api.call("GET", "/core/v1/items")).json()
    assert default["meta"] == {"page": 1, "per_page": 25}
    assert {r["status"] for r in default["resources"]} == {"active"}
    everything = "active,removed,old,blocked,rejected"
    pages = []
    for page in (1, 2, 3):
        response = await api.call("GET", "/core/v1/items", params={"per_page": 5, "page": page, "status": everything})
        assert response.headers["X-RateLimit-Limit"] == "25"
        pages.append(response.json()["resources"])
    assert [len(p) for p in pages] == [5, 5, 2]
    ids = [r["id"] for page in pages for r in page]
    assert len(set(ids)) == 12 and all(i > 2**31 for i in ids)


async def test_items_list_rejects_bad_paging_and_status(api):
    too_big = await api.call("GET", "/core/v1/items", params={"per_page": 100})
    assert too_big.status_code == 400 and isinstance(too_big.json()["code"], str)
    bogus = await api.call("GET", "/core/v1/items", params={"status": "active,sold"}, valid_request=False)
    assert bogus.status_code == 400


async def test_item_info(api):
    for item in api.sandbox.items:
        body = (await api.call("GET", f"/core/v1/accounts/{api.uid}/items/{item.id}/")).json()
        assert body["status"] == item.status
    unknown = await api.call("GET", f"/core/v1/accounts/{api.uid}/items/1234567890/")
    assert unknown.status_code == 404
    other = await api.call("GET", f"/core/v1/accounts/{api.uid + 1}/items/{item.id}/")
    assert other.status_code == 403


# ---- short-term rent ---------------------------------------------------------------------------------


async def test_bookings_window_and_unpaid(api):
    item = active_item(api.sandbox)
    path = f"/realty/v1/accounts/{api.uid}/items/{item}/bookings"
    window = {"date_start": str(TODAY), "date_end": str(TODAY + timedelta(days=120))}
    paid = (await api.call("GET", path, params=window)).json()["bookings"]
    assert paid and all(b["status"] in ("active", "canceled") for b in paid)
    assert all(b["check_in"] <= window["date_end"] and b["check_out"] > window["date_start"] for b in paid)
    with_unpaid = (await api.call("GET", path, params={**window, "with_unpaid": "true"})).json()["bookings"]
    assert len(with_unpaid) >= len(paid)


async def test_bookings_errors(api):
    item = active_item(api.sandbox)
    path = f"/realty/v1/accounts/{api.uid}/items/{item}/bookings"
    missing = await api.call("GET", path, params={"date_start": str(TODAY)}, valid_request=False)
    assert missing.status_code == 400
    malformed = await api.call("GET", path, params={"date_start": "2026-6-1", "date_end": str(TODAY)},
                               valid_request=False)
    assert malformed.status_code == 400
    reversed_ = await api.call("GET", path, params={"date_start": str(TODAY), "date_end": str(TODAY - timedelta(1))})
    assert reversed_.status_code == 422 and "fields" in reversed_.json()["error"]
    window = {"date_start": str(TODAY), "date_end": str(TODAY + timedelta(days=30))}
    assert (await api.call("GET", f"/realty/v1/accounts/{api.uid}/items/123/bookings", params=window)
            ).status_code == 404
    assert (await api.call("GET", f"/realty/v1/accounts/{api.uid + 1}/items/{item}/bookings", params=window)
            ).status_code == 403
    past = {"date_start": str(TODAY - timedelta(days=1)), "date_end": str(TODAY)}
    refused = await api.call("GET", path, params=past)  # on by default, as real accounts see it
    assert refused.status_code == 422 and "date_start" in refused.json()["error"]["fields"]
    api.sandbox.refuse_past_bookings_read = False
    assert (await api.call("GET", path, params=past)).status_code == 200


async def test_calendar_blocks_and_their_errors(api):
    item = active_item(api.sandbox)
    path = f"/core/v1/accounts/{api.uid}/items/{item}/bookings"
    booking = paid_booking(api.sandbox, item)
    free_start = date.fromisoformat(booking["check_out"])
    ok = await api.call("POST", path, json={"bookings": [
        {"date_start": str(free_start), "date_end": str(free_start + timedelta(days=1)), "type": "manual",
         "comment": None}], "source": "avito_kit"})
    assert ok.json() == {"result": "success"}
    conflict = await api.call("POST", path, json={"bookings": [
        {"date_start": booking["check_in"], "date_end": booking["check_out"], "type": "manual"}]})
    assert conflict.status_code == 409
    overlapping = await api.call("POST", path, json={"bookings": [
        {"date_start": "2026-09-01", "date_end": "2026-09-05"},
        {"date_start": "2026-09-04", "date_end": "2026-09-06"}]})
    assert overlapping.status_code == 422
    past = await api.call("POST", path, json={"bookings": [{"date_start": "2026-06-01", "date_end": "2026-06-20"}]})
    assert past.status_code == 422
    bad_type = await api.call("POST", path, json={"bookings": [
        {"date_start": "2026-09-01", "date_end": "2026-09-02", "type": "holiday"}]}, valid_request=False)
    assert bad_type.status_code == 422
    assert (await api.call("POST", f"/core/v1/accounts/{api.uid}/items/77/bookings", json={"bookings": []})
            ).status_code == 404


async def test_intervals_and_their_errors(api):
    item = active_item(api.sandbox)
    ok = await api.call("POST", "/realty/v1/items/intervals", json={
        "item_id": item, "source": "avito_kit",
        "intervals": [{"date_start": "2026-07-01", "date_end": "2026-07-10", "open": 1}]})
    assert ok.json() == {"result": "success"}
    closed = await api.call("POST", "/realty/v1/items/intervals", json={
        "item_id": item, "intervals": [{"date_start": "2026-07-01", "date_end": "2026-07-10", "open": 0}]})
    assert closed.status_code == 422
    overlapping = await api.call("POST", "/realty/v1/items/intervals", json={"item_id": item, "intervals": [
        {"date_start": "2026-07-01", "date_end": "2026-07-10", "open": 1},
        {"date_start": "2026-07-09", "date_end": "2026-07-12", "open": 1}]})
    assert overlapping.status_code == 422
    unknown = await api.call("POST", "/realty/v1/items/intervals", json={"item_id": 5, "intervals": []})
    assert unknown.status_code == 404


async def test_prices_and_their_errors(api):
    item = active_item(api.sandbox)
    path = f"/realty/v1/accounts/{api.uid}/items/{item}/prices"
    ok = await api.call("POST", path, json={"prices": [{"date_from": "2026-07-01", "date_to": "2026-07-31",
                                                        "night_price": 4500, "minimal_duration": 2,
                                                        "extra_guest_fee": 500}]})
    assert ok.json() == {"result": "success"}
    assert api.sandbox.prices[item][date(2026, 7, 31)]["night_price"] == 4500
    too_long = await api.call("POST", path, json={"prices": [
        {"date_from": "2026-07-01", "date_to": "2026-07-02", "night_price": 4500, "minimal_duration": 31}]},
        valid_request=False)
    assert too_long.status_code == 422
    assert (await api.call("POST", f"/realty/v1/accounts/{api.uid + 1}/items/{item}/prices",
                           json={"prices": []})).status_code == 403


# ---- messenger ---------------------------------------------------------------------------------------


async def test_chats_filters_and_order(api):
    path = f"/messenger/v2/accounts/{api.uid}/chats"
    default = (await api.call("GET", path)).json()["chats"]
    assert default and all(c["id"].startswith("u2i-") for c in default)
    both = (await api.call("GET", path, params={"chat_types": "u2i,u2u", "limit": 100})).json()["chats"]
    assert len(both) == 40 and any(c["id"].startswith("u2u-") and "context" not in c for c in both)
    assert [c["updated"] for c in both] == sorted((c["updated"] for c in both), reverse=True)
    item = default[0]["context"]["value"]["id"]
    by_item = (await api.call("GET", path, params={"item_ids": str(item)})).json()["chats"]
    assert by_item and all(c["context"]["value"]["id"] == item for c in by_item)
    unread = (await api.call("GET", path, params={"unread_only": "true", "chat_types": "u2i,u2u"})).json()["chats"]
    assert unread and all(api.sandbox.chats[c["id"]].unread for c in unread)
    page = (await api.call("GET", path, params={"chat_types": "u2i,u2u", "limit": 10, "offset": 10})).json()
    assert [c["id"] for c in page["chats"]] == [c["id"] for c in both[10:20]]


async def test_chats_errors(api):
    path = f"/messenger/v2/accounts/{api.uid}/chats"
    assert (await api.call("GET", path, params={"limit": 101}, valid_request=False)).status_code == 400
    assert (await api.call("GET", path, params={"offset": 1001}, valid_request=False)).status_code == 400
    assert (await api.call("GET", path, params={"chat_types": "p2p"}, valid_request=False)).status_code == 400
    assert (await api.call("GET", f"/messenger/v2/accounts/{api.uid + 1}/chats")).status_code == 403


async def test_chat_by_id_and_messages(api):
    chat_id = next(iter(api.sandbox.chats))
    chat = (await api.call("GET", f"/messenger/v2/accounts/{api.uid}/chats/{chat_id}")).json()
    assert chat["id"] == chat_id
    path = f"/messenger/v3/accounts/{api.uid}/chats/{chat_id}/messages/"
    messages = (await api.call("GET", path, params={"limit": 100})).json()["messages"]
    assert messages[0]["id"] == chat["last_message"]["id"]
    assert [m["created"] for m in messages] == sorted((m["created"] for m in messages), reverse=True)
    api.sandbox.messages_envelope = "object"
    wrapped = (await api.call("GET", path, params={"limit": 2, "offset": 1})).json()
    assert [m["id"] for m in wrapped["messages"]] == [m["id"] for m in messages[1:3]]
    api.sandbox.messages_envelope = "array"
    assert (await api.call("GET", path, params={"limit": 100})).json() == messages
    assert (await api.call("GET", path, params={"limit": 500}, valid_request=False)).status_code == 400
    assert (await api.call("GET", f"/messenger/v2/accounts/{api.uid}/chats/u2i-missing")).status_code == 404
    assert (await api.call("GET", f"/messenger/v3/accounts/{api.uid}/chats/u2i-missing/messages/")
            ).status_code == 404


async def test_message_kinds_all_validate(api):
    kinds = {m["type"] for chat in api.sandbox.chats.values() for m in chat.messages}
    assert {"text", "image", "system", "location", "call", "deleted"} <= kinds
    for chat_id in list(api.sandbox.chats)[:40]:
        await api.call("GET", f"/messenger/v3/accounts/{api.uid}/chats/{chat_id}/messages/")


async def test_send_and_read(api):
    chat_id = next(c.id for c in api.sandbox.chats.values() if c.unread)
    base = f"/messenger/v1/accounts/{api.uid}/chats/{chat_id}"
    sent = (await api.call("POST", f"{base}/messages", json={"message": {"text": "Добрый день!"},
                                                             "type": "text"})).json()
    assert sent["direction"] == "out" and sent["content"] == {"text": "Добрый день!"}
    too_long = await api.call("POST", f"{base}/messages", json={"message": {"text": "я" * 1001}, "type": "text"},
                              valid_request=False)
    assert too_long.status_code == 400
    assert (await api.call("POST", f"{base}/messages", json={"message": {"text": ""}, "type": "text"})
            ).status_code == 400
    assert (await api.call("POST", f"{base}/read")).json() == {"ok": True}
    assert not api.sandbox.chats[chat_id].unread
    assert (await api.call("POST", f"/messenger/v1/accounts/{api.uid}/chats/nope/read")).status_code == 404


# ---- stats -------------------------------------------------------------------------------------------


async def test_stats(api):
    path = f"/stats/v1/accounts/{api.uid}/items"
    ids = [item.id for item in api.sandbox.items]
    body = {"dateFrom": str(TODAY - timedelta(days=30)), "dateTo": str(TODAY), "itemIds": ids,
            "fields": ["uniqViews", "uniqContacts", "uniqFavorites"], "periodGrouping": "day"}
    result = (await api.call("POST", path, json=body)).json()["result"]["items"]
    assert {r["itemId"] for r in result} == set(ids)
    days = [len(r["stats"]) for r in result]
    assert max(days) <= 31 and any(0 < n < 31 for n in days)  # quiet days are missing
    assert all(str(TODAY - timedelta(days=30)) <= s["date"] <= str(TODAY) for r in result for s in r["stats"])
    weekly = (await api.call("POST", path, json={**body, "periodGrouping": "week"})).json()["result"]["items"]
    assert all(date.fromisoformat(s["date"]).weekday() == 0 for r in weekly for s in r["stats"])
    for daily, week in zip(result, weekly, strict=True):  # each week sums its days
        sums: dict[str, int] = {}
        for s in daily["stats"]:
            monday = str(date.fromisoformat(s["date"]) - timedelta(days=date.fromisoformat(s["date"]).weekday()))
            sums[monday] = sums.get(monday, 0) + s["uniqViews"]
        assert {s["date"]: s["uniqViews"] for s in week["stats"]} == sums
    old_names = (await api.call("POST", path, json={**body, "fields": ["views"]})).json()["result"]["items"]
    assert [[s["views"] for s in r["stats"]] for r in old_names] == [[s["uniqViews"] for s in r["stats"]]
                                                                     for r in result]


async def test_stats_errors(api):
    path = f"/stats/v1/accounts/{api.uid}/items"
    body = {"dateFrom": str(TODAY - timedelta(days=30)), "dateTo": str(TODAY), "itemIds": [1],
            "periodGrouping": "day"}
    assert (await api.call("POST", path, json={**body, "itemIds": list(range(1, 202))})).status_code == 400
    assert (await api.call("POST", path, json={**body, "dateFrom": str(TODAY - timedelta(days=271))})
            ).status_code == 400
    assert (await api.call("POST", path, json={k: v for k, v in body.items() if k != "itemIds"},
                           valid_request=False)).status_code == 400
    assert (await api.call("POST", path, json={**body, "fields": ["clicks"]}, valid_request=False)
            ).status_code == 400
    assert (await api.call("POST", f"/stats/v1/accounts/{api.uid + 1}/items", json=body)).status_code == 404


# ---- limits and faults -------------------------------------------------------------------------------


async def test_rate_limit_and_injected_errors_keep_the_spec_shapes(api):
    api.sandbox.send_retry_after = True
    for _ in range(25):
        assert (await api.call("GET", "/core/v1/items")).status_code == 200
    limited = await api.call("GET", "/core/v1/items")
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Remaining"] == "0" and int(limited.headers["Retry-After"]) > 0
    for kind in ("500", "502", "503"):
        api.sandbox.queue_fault(kind, path_contains="/chats")
        response = await api.call("GET", f"/messenger/v2/accounts/{api.uid}/chats")
        assert response.status_code == int(kind)
    api.sandbox.queue_fault("503", path_contains="/stats/")
    stats = await api.call("POST", f"/stats/v1/accounts/{api.uid}/items", json={
        "dateFrom": str(TODAY), "dateTo": str(TODAY), "itemIds": [1]})
    assert stats.status_code == 503
    api.sandbox.queue_fault("500", path_contains="/items/")
    info = await api.call("GET", f"/core/v1/accounts/{api.uid}/items/{active_item(api.sandbox)}/")
    assert info.status_code == 500 and isinstance(info.json()["code"], str)


# ---- the contract helper rejects what it should ------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "query", "body"), [
    ("GET", "/core/v1/items", {"perPage": 50}, None),  # a typo'd parameter
    ("GET", "/core/v1/items", {"per_page": "fifty"}, None),
    ("GET", "/messenger/v2/accounts/1/chats", {"chat_types": "u2i,x2y"}, None),
    ("GET", "/messenger/v2/accounts/1/chats", {"unread_only": "yes"}, None),
    ("GET", "/realty/v1/accounts/1/items/2/bookings", {"date_start": "2026-07-01"}, None),
    ("POST", "/messenger/v1/accounts/1/chats/c/messages", {}, {"message": {"text": 5}, "type": "text"}),
    ("POST", "/stats/v1/accounts/1/items", {}, {"dateFrom": "2026-01-01", "dateTo": "2026-01-02"}),
    ("POST", "/realty/v1/items/intervals", {}, {"item_id": "42", "intervals": []}),
    ("POST", "/core/v1/accounts/1/items/2/bookings", {}, {"bookings": [{"date_start": "01.07.2026"}]}),
])
def test_contract_rejects_bad_requests(contract, method, path, query, body):
    with pytest.raises(AssertionError, match="does not match the spec"):
        contract.validate_request(method, path, query, json_body=body)


def test_contract_allowances(contract):
    # the send-message body is valid without the "url" the spec lists by mistake
    contract.validate_request("POST", "/messenger/v1/accounts/1/chats/c/messages", {},
                              json_body={"message": {"text": "hi"}, "type": "text"})
    # the invisible marks of auth.json do not hide /token; full URLs are accepted
    contract.validate_request("POST", f"{BASE_URL}/token", {}, form={"grant_type": "client_credentials",
                                                                       "client_id": "a", "client_secret": "b"})
    with pytest.raises(AssertionError, match="no operation"):
        contract.validate_request("GET", "/core/v1/accounts/1/items/2", {})  # the slash matters
    # real accounts' envelopes and expired-token body are accepted, their extra parts still checked
    messages = "/messenger/v3/accounts/1/chats/c/messages/"
    contract.validate_response("GET", messages, 200, {"messages": [], "meta": {"has_more": False}})
    with pytest.raises(AssertionError, match="meta"):
        contract.validate_response("GET", "/messenger/v2/accounts/1/chats", 200, {"chats": [], "meta": {}})
    contract.validate_response("GET", "/core/v1/items", 403, {"result": {"status": False, "message": "expired"}})
    with pytest.raises(AssertionError, match="does not match"):
        contract.validate_response("GET", "/core/v1/items", 403, {"result": {"status": True, "message": "ok"}})
    with pytest.raises(AssertionError, match=r"\$\.resources\[0\]\.price"):
        contract.validate_response("GET", "/core/v1/items", 200, {"resources": [{"id": 1, "price": "5"}]})
