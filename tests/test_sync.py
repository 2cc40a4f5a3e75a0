"""Sync against the embedded sandbox: idempotent, incremental, unharmed by faults and crashes, keeps history.

The reference for every comparison is a clean run into another file against an identical sandbox (same seed):
tables are compared row for row, leaving out only the bookkeeping timestamps that say when a row was written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest

from avito_kit import metrics
from avito_kit.aio import run
from avito_kit.auth import AvitoAuth
from avito_kit.client import AvitoApiClient
from avito_kit.dates import avito_today
from avito_kit.errors import AvitoServerError
from avito_kit.limits import RetryPolicy
from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox
from avito_kit.session import SANDBOX_BASE_URL, open_client
from avito_kit.store import Store
from avito_kit.sync import DEFAULT_MAX_AGE, NO_MESSENGER_NOTE, STATS_DAYS_BACK, sync, sync_now

from .fakes import FakeClock
from .helpers import assert_consistent, assert_same_tables, clean_sync, clean_sync_async, snapshot, sync_with

TODAY = avito_today()  # Avito's day: Moscow's date
N_CHATS = 25  # small worlds: a sync costs half a second of DuckDB file opens whatever its size


def ops(sandbox: Sandbox, since: int = 0) -> list[str | None]:
    return [r.operation for r in sandbox.requests[since:]]


class Rewriting(httpx.AsyncBaseTransport):
    """The sandbox's transport with its answers rewritten by ``rewrite(request, response)``, or answered by it
    alone (``answer(request)`` returning a response, else None): how real accounts answer differently."""

    def __init__(self, sandbox: Sandbox, rewrite=None, answer=None) -> None:
        self.inner, self.rewrite, self.answer = Sandbox.transport(sandbox), rewrite, answer

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.answer and (response := self.answer(request)) is not None:
            return response
        response = await self.inner.handle_async_request(request)
        if self.rewrite is None or response.status_code != 200:
            return response
        body = json.loads(await response.aread())
        return httpx.Response(200, json=self.rewrite(request, body), request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def rewritten(sandbox: Sandbox, rewrite=None, answer=None) -> Sandbox:
    sandbox.transport = lambda: Rewriting(sandbox, rewrite, answer)
    return sandbox


def bookings_answer(rewrite):
    """A rewrite of the bookings answers only: ``rewrite(request, bookings) -> bookings``."""
    def on_bookings(request: httpx.Request, body):
        if request.method == "GET" and request.url.path.endswith("/bookings"):
            body["bookings"] = rewrite(request, body["bookings"])
        return body
    return on_bookings


# -- what one sync reads ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sync_reads_every_kind_of_data_and_only_reads(tmp_path):
    sandbox = Sandbox(seed=3, n_chats=N_CHATS, refuse_past_bookings_read=False)  # the whole window is served
    unread_before = {c.id: c.unread for c in sandbox.chats.values()}
    in_flight, peak = 0, 0

    async def counting_latency(seconds):  # the transport's sleep: the request is being served meanwhile
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(seconds)
        in_flight -= 1

    sandbox.transport = lambda: Sandbox.transport(sandbox, latency=0.002, sleep=counting_latency)
    store = Store(tmp_path / "a.duckdb")
    client = open_client(sandbox=sandbox)
    try:
        report = sync_now(client, store, progress=False)  # the plain-code entry point, on run()'s loop
    finally:
        run(client.aclose())

    uid = sandbox.user_id
    items = store.items()
    assert sorted(items.item_id) == sorted(i.id for i in sandbox.items)
    assert set(items.status) == {"active", "removed", "old", "blocked"}
    every_booking = {b["avito_booking_id"]: b["status"] for i in sandbox.items for b in sandbox.bookings(i.id)}
    bookings = store.bookings()
    assert dict(zip(bookings.booking_id.astype(int), bookings.status, strict=True)) == every_booking
    assert {"active", "canceled", "pending"} <= set(bookings.status)  # unpaid included
    chats = store.chats()
    assert sorted(chats.chat_id) == sorted(sandbox.chats) and set(chats.chat_type) == {"u2i", "u2u"}
    assert chats[chats.chat_type == "u2u"].item_id.isna().all()
    assert len(store.messages()) == sum(len(c.messages) for c in sandbox.chats.values())
    for table in ("items", "bookings", "chats", "messages", "item_stats", "booking_events"):
        assert set(store.query(f"SELECT DISTINCT user_id FROM {table}").user_id) == {uid}, table
    assert (report.user_id, report.items, report.bookings_new, report.chats) == (
        uid, len(sandbox.items), len(every_booking), N_CHATS)
    assert report.messages_new == len(store.messages()) and report.stats_rows == len(store.item_stats())
    assert report.requests == len(sandbox.requests) - ops(sandbox).count("getAccessToken") - ops(sandbox).count(
        "getUserInfoSelf")
    assert store.sync_runs().status.tolist() == ["ok"]
    assert json.loads(store.sync_runs().counts[0])["bookings_new"] == len(every_booking)

    # Only reads: nothing but the token and the stats (a read sent as POST) is ever posted; nothing marked read.
    posted = {r.operation for r in sandbox.requests if r.method == "POST"}
    assert posted <= {"getAccessToken", "itemStatsShallow"}
    assert "chatRead" not in ops(sandbox)
    assert {c.id: c.unread for c in sandbox.chats.values()} == unread_before
    # Both chat types and every listing status were asked for, unpaid bookings too.
    chat_query = next(r.query for r in sandbox.requests if r.operation == "getChatsV2")
    assert set(chat_query["chat_types"].split(",")) == {"u2i", "u2u"}
    items_query = next(r.query for r in sandbox.requests if r.operation == "getItemsInfo")
    assert set(items_query["status"].split(",")) == {"active", "removed", "old", "blocked", "rejected"}
    booking_queries = [r.query for r in sandbox.requests if r.operation == "getRealtyBookings"]
    assert all(q["with_unpaid"] == "true" for q in booking_queries)
    assert {(q["date_start"], q["date_end"]) for q in booking_queries} == {
        ((TODAY - dt.timedelta(days=365)).isoformat(), (TODAY + dt.timedelta(days=365)).isoformat())}
    # Requests overlap, within the client's cap.
    assert 1 < peak <= client.limiter.max_in_flight


@pytest.mark.slow
async def test_bookings_of_a_listing_page_are_read_while_the_next_page_is_on_its_way(tmp_path):
    """Hundreds of listings come in pages of 99 with no total: the first page's bookings must not wait for
    the last page."""
    latency = 0.1
    sandbox = Sandbox(seed=5, n_items=199, n_chats=2, refuse_past_bookings_read=False)  # pages of 99, 99 and 1
    transport = sandbox.transport(latency=latency)
    auth = AvitoAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, base_url=SANDBOX_BASE_URL, transport=transport,
                     cache_path=tmp_path / "token.json")
    async with AvitoApiClient(auth, transport=transport) as client:
        report = await sync(client, Store(tmp_path / "a.duckdb"), progress=False)
    pages = [r for r in sandbox.requests if r.operation == "getItemsInfo"]
    bookings = [r for r in sandbox.requests if r.operation == "getRealtyBookings"]
    assert report.items == 199 and len(pages) == 3 and len(bookings) == 199
    # The sandbox logs a request when it answers, `latency` after it was sent.
    assert bookings[0].time - latency < pages[-1].time


def test_a_bad_window_is_refused_before_anything_is_sent_or_written(tmp_path):
    sandbox = Sandbox(seed=3, n_chats=2)
    store = Store(tmp_path / "a.duckdb")
    with pytest.raises(ValueError, match="date_to"):
        asyncio.run(sync_with(sandbox, store, date_from="2026-05-02", date_to="2026-05-01"))
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        asyncio.run(sync_with(sandbox, store, date_from="tomorrow"))
    assert sandbox.requests == [] and store.sync_runs().empty


def test_a_failing_sync_is_recorded_as_failed_and_raises(tmp_path):
    sandbox = Sandbox(seed=3, n_chats=2)
    for _ in range(3):  # every try of one listing's bookings
        sandbox.queue_fault("503", f"/items/{sandbox.items[0].id}/bookings")
    store = Store(tmp_path / "a.duckdb")

    async def go():
        async with open_client(sandbox=sandbox, sleep=FakeClock().sleep) as client:
            return await sync(client, store, progress=False)

    with pytest.raises(AvitoServerError):
        asyncio.run(go())
    run_row = store.sync_runs().iloc[-1]
    assert run_row.status == "failed" and "AvitoServerError" in run_row.error and run_row.finished_at is not None


# -- idempotence and increments ------------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_second_sync_changes_nothing_and_asks_less(tmp_path):
    sandbox = Sandbox(seed=5, n_chats=N_CHATS)
    busy = next(iter(sandbox.chats))
    for n in range(130):  # more than one page of messages (100)
        sandbox.add_incoming_message(busy, f"сообщение {n}")
    store = Store(tmp_path / "a.duckdb")

    first = await sync_with(sandbox, store)
    after_first, events, mark = snapshot(store), len(store.booking_events()), len(sandbox.requests)
    pages = [r.query for r in sandbox.requests if r.operation == "getMessagesV3" and busy in r.path]
    assert [p["offset"] for p in pages] == ["0", "100"]

    second = await sync_with(sandbox, store)
    again = snapshot(store)
    for table in after_first:
        pd.testing.assert_frame_equal(again[table], after_first[table], obj=table)
    assert len(store.booking_events()) == events
    assert (second.bookings_new, second.bookings_changed, second.bookings_vanished) == (0, 0, 0)
    assert (second.chats_changed, second.messages_new) == (0, 0)
    assert len(sandbox.requests) - mark < mark
    assert second.requests < first.requests
    assert "getMessagesV3" not in ops(sandbox, mark)

    other = [c for c in sandbox.chats if c != busy][3]
    sandbox.add_incoming_message(busy, "Можно заехать пораньше?")
    mark = len(sandbox.requests)
    third = await sync_with(sandbox, store)
    fetched = [r for r in sandbox.requests[mark:] if r.operation == "getMessagesV3"]
    assert [(busy in r.path, r.query["offset"]) for r in fetched] == [(True, "0")]  # that chat, its first page
    assert (third.chats_changed, third.messages_new) == (1, 1)
    assert store.messages(busy).text.iloc[-1] == "Можно заехать пораньше?"
    assert len(store.messages(other)) == len(sandbox.chats[other].messages)
    assert_consistent(store)


@pytest.mark.slow
async def test_bookings_and_stats_read_minutes_ago_are_kept_until_they_age(tmp_path):
    sandbox = Sandbox(seed=6, n_chats=3, refuse_past_bookings_read=False)  # one read per listing, no 422 first
    store = Store(tmp_path / "a.duckdb")
    await sync_with(sandbox, store, max_age=DEFAULT_MAX_AGE)
    listings = len(sandbox.items)
    sandbox.add_incoming_message(next(iter(sandbox.chats)), "Добрый вечер!")
    mark = len(sandbox.requests)

    quick = await sync_with(sandbox, store, max_age=DEFAULT_MAX_AGE)
    assert "getRealtyBookings" not in ops(sandbox, mark) and "itemStatsShallow" not in ops(sandbox, mark)
    assert quick.messages_new == 1
    assert any(f"bookings of {listings} listings were read less than" in note for note in quick.notes)

    mark = len(sandbox.requests)
    wider = await sync_with(sandbox, store, max_age=DEFAULT_MAX_AGE, date_to=TODAY + dt.timedelta(days=400))
    assert ops(sandbox, mark).count("getRealtyBookings") == listings  # a window not read yet is read
    assert wider.bookings_seen > 0

    mark = len(sandbox.requests)
    await sync_with(sandbox, store)  # max_age=None: everything again
    assert ops(sandbox, mark).count("getRealtyBookings") == listings and "itemStatsShallow" in ops(sandbox, mark)


# -- history --------------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_cancelled_and_vanished_bookings_keep_their_rows_and_history(tmp_path):
    sandbox = Sandbox(seed=7, n_chats=2, refuse_past_bookings_read=False)  # past stays are read again
    store = Store(tmp_path / "a.duckdb")
    await sync_with(sandbox, store)
    paid = [(i.id, b) for i in sandbox.items for b in sandbox.bookings(i.id) if b["status"] == "active"]
    (_, cancelled), (gone_item, gone) = paid[0], paid[-1]
    sandbox.set_booking_status(cancelled["avito_booking_id"], "canceled")
    sandbox.bookings(gone_item).remove(gone)

    report = await sync_with(sandbox, store)
    assert (report.bookings_changed, report.bookings_vanished) == (1, 1)
    row = store.bookings().set_index("booking_id").loc[cancelled["avito_booking_id"]]
    assert row.status == "canceled" and pd.isna(row.vanished_at)
    events = store.booking_events(cancelled["avito_booking_id"])
    assert events.event.tolist() == ["first_seen", "changed"]
    assert (events.status.tolist(), events.previous_status.iloc[-1]) == (["active", "canceled"], "active")
    kept = store.bookings().set_index("booking_id").loc[gone["avito_booking_id"]]
    assert kept.status == "active" and pd.notna(kept.vanished_at)
    assert store.booking_events(gone["avito_booking_id"]).event.tolist() == ["first_seen", "vanished"]
    assert len(store.booking_events()) == len(store.bookings()) + 2


@pytest.mark.slow
async def test_when_avito_refuses_past_dates_bookings_are_read_from_today(tmp_path):
    store = Store(tmp_path / "a.duckdb")
    await sync_with(Sandbox(seed=8, n_chats=2, refuse_past_bookings_read=False), store)  # history, once allowed
    history = store.bookings()
    sandbox = Sandbox(seed=8, n_chats=2, refuse_past_bookings_read=True)

    report = await sync_with(sandbox, store)
    assert any("refused bookings before today" in note and TODAY.isoformat() in note for note in report.notes)
    assert "bookings before today" in str(report)
    starts = {r.query["date_start"] for r in sandbox.requests if r.operation == "getRealtyBookings" and r.status == 200}
    assert starts == {TODAY.isoformat()}
    from_today = {b["avito_booking_id"] for i in sandbox.items for b in sandbox.bookings(i.id)
                  if b["check_out"] > TODAY.isoformat()}
    assert report.bookings_seen == len(from_today)
    after = store.bookings()
    assert len(after) == len(history) and after.vanished_at.isna().all()  # the past is kept, not vanished
    seen_again = after[after.last_seen_at > history.last_seen_at.max()]
    assert set(seen_again.booking_id.astype(int)) == from_today  # stored again: every booking from today on
    assert store.sync_runs().status.tolist() == ["ok", "ok"]


@pytest.mark.slow
async def test_stats_cover_at_most_270_days_and_missing_days_are_zero(tmp_path):
    sandbox = Sandbox(seed=9, n_items=4, n_chats=2)
    store = Store(tmp_path / "a.duckdb")
    report = await sync_with(sandbox, store)
    stats = store.item_stats()
    first_day = TODAY - dt.timedelta(days=STATS_DAYS_BACK - 1)
    assert (stats.date.min().date(), stats.date.max().date()) == (first_day, TODAY)
    assert len(stats) == len(sandbox.items) * STATS_DAYS_BACK == report.stats_rows
    asked = [r.body for r in sandbox.requests if r.operation == "itemStatsShallow"]
    assert [(b["dateFrom"], b["dateTo"]) for b in asked] == [(first_day.isoformat(), TODAY.isoformat())]
    assert any("270" in note for note in report.notes)
    missing = 0
    for item in sandbox.items:
        served = sandbox.world.daily_stats(item.id)
        rows = stats[stats.item_id == item.id].set_index(stats.date.dt.date[stats.item_id == item.id])
        for day, row in rows.iterrows():
            expected = served.get(day, {"uniqViews": 0, "uniqContacts": 0, "uniqFavorites": 0})
            missing += day not in served
            assert (row.uniq_views, row.uniq_contacts, row.uniq_favorites) == (
                expected["uniqViews"], expected["uniqContacts"], expected["uniqFavorites"])
    assert missing > 0  # the sandbox leaves out days without activity; they are stored as zeros

    short = Store(tmp_path / "short.duckdb")
    await sync_with(sandbox, short, date_from=TODAY - dt.timedelta(days=10), date_to=TODAY + dt.timedelta(days=5))
    assert len(short.item_stats()) == len(sandbox.items) * 11


# -- what real accounts answer (REAL-WORLD.md) --------------------------------------------------------------


async def test_a_stay_under_way_that_avito_stops_returning_stays_active_and_counts(tmp_path):
    """Avito refuses a window starting in the past, and may filter by check-in: a stay that checked in before
    today is then not returned. It must stay active, not vanish; a booking checking in inside the window that
    is missing still vanishes."""
    def world() -> tuple[Sandbox, int, dict, dict]:
        sandbox = Sandbox(seed=8, n_items=4, n_chats=2, today=TODAY)
        item_id = next(item.id for item in sandbox.items if item.status == "removed")
        under_way = sandbox.add_booking(item_id, TODAY - dt.timedelta(days=2), TODAY + dt.timedelta(days=3))
        coming = sandbox.add_booking(item_id, TODAY + dt.timedelta(days=40), TODAY + dt.timedelta(days=42))
        return sandbox, item_id, under_way, coming

    store = Store(tmp_path / "a.duckdb")
    sandbox, item_id, under_way, _ = world()
    await sync_with(sandbox, store)
    assert under_way["avito_booking_id"] in set(store.bookings().booking_id.astype(int))

    later, _, _, coming = world()
    later.refuse_past_bookings_read = True
    later.bookings(item_id).remove(coming)  # cancelled and gone from Avito's answers: this one does vanish
    only_checking_in = bookings_answer(lambda request, bookings: [
        b for b in bookings if b["check_in"] >= request.url.params["date_start"]])
    report = await sync_with(rewritten(later, only_checking_in), store)

    starts = {r.query["date_start"] for r in later.requests if r.operation == "getRealtyBookings" and r.status == 200}
    assert starts == {TODAY.isoformat()}
    bookings = store.bookings().set_index("booking_id")
    stay = bookings.loc[under_way["avito_booking_id"]]
    assert stay.status == "active" and pd.isna(stay.vanished_at)
    assert pd.notna(bookings.loc[coming["avito_booking_id"]].vanished_at)
    assert report.bookings_vanished == 1
    tonight = metrics.kpis(store, TODAY, TODAY, by="total", item_ids=[item_id])
    assert tonight.occupancy.iloc[0] == 1 and tonight.revenue.iloc[0] > 0  # tonight is the stay's night


async def test_bookings_without_an_id_are_skipped_with_a_note_and_long_ids_stay_exact(tmp_path):
    long_id = 2784166209049096851  # 19 digits, as real accounts send (REAL-WORLD.md)
    sandbox = Sandbox(seed=3, n_items=4, n_chats=2, refuse_past_bookings_read=False)  # every booking answered
    with_bookings = [item.id for item in sandbox.items if sandbox.bookings(item.id)]
    first, second = (sandbox.bookings(with_bookings[0])[0], sandbox.bookings(with_bookings[1])[0])

    def drop_ids(request, bookings):
        for booking in bookings:
            if booking["avito_booking_id"] == first["avito_booking_id"]:
                booking["avito_booking_id"] = None
            elif booking["avito_booking_id"] == second["avito_booking_id"]:
                del booking["avito_booking_id"]
            elif booking["avito_booking_id"] == sandbox.bookings(with_bookings[2])[0]["avito_booking_id"]:
                booking["avito_booking_id"] = long_id
        return bookings

    store = Store(tmp_path / "a.duckdb")
    report = await sync_with(rewritten(sandbox, bookings_answer(drop_ids)), store)
    every = sum(len(sandbox.bookings(i.id)) for i in sandbox.items)
    assert report.bookings_skipped == 2 and report.bookings_seen == every - 2 == len(store.bookings())
    assert long_id in {int(i) for i in store.bookings().booking_id}
    note = next(n for n in report.notes if "without avito_booking_id" in n)
    assert note.startswith("2 bookings") and str(with_bookings[0]) in note and note in str(report)
    run_row = store.sync_runs().iloc[-1]
    counts = json.loads(run_row.counts)
    assert run_row.status == "ok" and counts["bookings_skipped"] == 2 and note in counts["notes"]


async def test_without_a_messenger_subscription_the_rest_syncs_and_the_run_says_why(tmp_path):
    """Every messenger call answers 402: listings, bookings and stats are synced, the run is ok, and its summary
    and its sync_runs row say the messenger was skipped."""
    def no_subscription(request: httpx.Request):
        if "/messenger/" in request.url.path:
            return httpx.Response(402, json={"error": {"code": 402, "message": "Payment required"}},
                                  request=request)
        return None

    sandbox = rewritten(Sandbox(seed=3, n_items=4, n_chats=5, refuse_past_bookings_read=False),
                        answer=no_subscription)
    store = Store(tmp_path / "a.duckdb")
    report = await sync_with(sandbox, store)
    assert report.messenger_skipped and NO_MESSENGER_NOTE in report.notes and NO_MESSENGER_NOTE in str(report)
    assert "402" in NO_MESSENGER_NOTE and "subscription" in NO_MESSENGER_NOTE
    assert report.items == len(sandbox.items) == len(store.items())
    assert len(store.bookings()) == sum(len(sandbox.bookings(i.id)) for i in sandbox.items) > 0
    assert len(store.item_stats()) > 0 and store.chats().empty and store.messages().empty
    run_row = store.sync_runs().iloc[-1]
    counts = json.loads(run_row.counts)
    assert run_row.status == "ok" and counts["messenger_skipped"] is True and NO_MESSENGER_NOTE in counts["notes"]


async def test_other_messenger_errors_still_fail_the_sync(tmp_path):
    def forbidden(request: httpx.Request):
        if "/messenger/" in request.url.path:
            return httpx.Response(404, json={"error": {"code": 404, "message": "not found"}}, request=request)
        return None

    store = Store(tmp_path / "a.duckdb")
    with pytest.raises(httpx.HTTPStatusError):
        await sync_with(rewritten(Sandbox(seed=3, n_items=2, n_chats=2), answer=forbidden), store)
    assert store.sync_runs().status.tolist() == ["failed"]


# -- Avito's day is Moscow's ---------------------------------------------------------------------------------


def at(local: dt.datetime):
    return lambda: local


@pytest.mark.parametrize(("clock", "moscow_day"), [
    (at(dt.datetime(2026, 12, 1, 22, 30, tzinfo=dt.UTC)), dt.date(2026, 12, 2)),  # a server in UTC after 21:00
    (at(dt.datetime(2026, 12, 2, 6, 30, tzinfo=ZoneInfo("Asia/Vladivostok"))), dt.date(2026, 12, 1)),  # before 07:00
])
async def test_the_sync_window_and_the_stats_end_on_moscow_s_date(tmp_path, clock, moscow_day):
    sandbox = Sandbox(seed=3, n_items=3, n_chats=2, today=moscow_day, refuse_past_bookings_read=False)
    store = Store(tmp_path / "a.duckdb")
    async with open_client(sandbox=sandbox) as client:
        report = await sync(client, store, progress=False, max_age=None, clock=clock)
    year = dt.timedelta(days=365)
    assert (report.date_from, report.date_to) == (moscow_day - year, moscow_day + year)
    booking_queries = {(r.query["date_start"], r.query["date_end"]) for r in sandbox.requests
                       if r.operation == "getRealtyBookings"}
    assert booking_queries == {((moscow_day - year).isoformat(), (moscow_day + year).isoformat())}
    (stats,) = [r.body for r in sandbox.requests if r.operation == "itemStatsShallow"]
    assert stats["dateTo"] == moscow_day.isoformat()
    assert store.bookings().last_seen_at.max() == clock().astimezone(dt.UTC).replace(tzinfo=None)


# -- faults and crashes ---------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_faults_and_expired_tokens_end_in_the_same_tables_as_a_clean_run(tmp_path):
    clock = FakeClock()
    sandbox = Sandbox(seed=11, n_chats=N_CHATS, clock=clock, token_ttl=900, send_retry_after=True,
                      rate_limits={"getItemsInfo": 25, "getRealtyBookings": 5})
    transport = sandbox.transport()
    # Built by hand rather than with open_client so that the token's own retries use the fake sleep too;
    # the token's expiry follows the real clock, so only the sandbox knows when it expires: 403, then refresh.
    auth = AvitoAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, base_url=SANDBOX_BASE_URL, transport=transport,
                     cache_path=tmp_path / "token.json", sleep=clock.sleep)
    client = AvitoApiClient(auth, transport=transport, sleep=clock.sleep, clock=clock,
                            retry=RetryPolicy(attempts=8, jitter=lambda: 0.5))
    store = Store(tmp_path / "faulty.duckdb")
    started = time.monotonic()
    async with client:
        sandbox.error_rate, sandbox.rate_limit_rate, sandbox.refuse_rate, sandbox.drop_rate = 0.08, 0.08, 0.05, 0.05
        sandbox.queue_fault("expire_token", "/chats")
        sandbox.queue_fault("expire_token", "/stats/")
        report = await sync(client, store, progress=False)
    assert time.monotonic() - started < 10  # nothing really waited

    faults = {r.fault for r in sandbox.requests}
    assert {"refuse", "drop", "429", "expire_token"} <= faults and faults & {"500", "502", "503"}
    assert 403 in [r.status for r in sandbox.requests]  # expired tokens were refused, then replaced
    assert 429 in [r.status for r in sandbox.requests if r.fault is None]  # the sandbox's per-minute limit
    assert sum(clock.sleeps) >= 60
    assert report.requests > len(sandbox.requests) // 2

    clean = await clean_sync_async(Sandbox(seed=11, n_chats=N_CHATS), tmp_path / "clean.duckdb")
    assert_same_tables(store, clean)
    assert_consistent(store)


@pytest.mark.slow
async def test_a_sync_dying_between_two_writes_is_completed_by_the_next_run(tmp_path, monkeypatch):
    """The random kills below may miss the moment between writing messages and moving their chat's cursor:
    this one dies exactly there."""
    sandbox = Sandbox(seed=17, n_items=6, n_chats=8)
    removed = next(item.id for item in sandbox.items if item.status == "removed")
    extra = sandbox.add_booking(removed, TODAY + dt.timedelta(days=200), TODAY + dt.timedelta(days=202))
    store = Store(tmp_path / "a.duckdb")
    await sync_with(sandbox, store)
    sandbox.bookings(removed).remove(extra)  # vanishes, and three chats move: every kind of write happens
    for chat_id in list(sandbox.chats)[:3]:
        sandbox.add_incoming_message(chat_id, "Ещё вопрос")
    reference = await clean_sync_async(sandbox, tmp_path / "reference.duckdb")

    def crash(*args, **kwargs):
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patch:
        patch.setattr(store, "upsert_messages", crash)
        with pytest.raises(RuntimeError, match="died here"):
            await sync_with(sandbox, store)
    assert store.sync_runs().status.tolist() == ["ok", "failed"]
    assert_consistent(store)

    await sync_with(sandbox, store)
    assert_consistent(store)
    got, expected = snapshot(store), snapshot(reference)
    for table in ("items", "chats", "messages", "item_stats"):
        pd.testing.assert_frame_equal(got[table], expected[table], obj=table)
    bookings = store.bookings().set_index("booking_id")
    assert sorted(bookings.index) == sorted([*reference.bookings().booking_id, extra["avito_booking_id"]])
    assert bookings.vanished_at.notna().sum() == 1 and pd.notna(bookings.vanished_at[extra["avito_booking_id"]])


CRASH_SCRIPT = """
import asyncio, sys
from avito_kit.sandbox import Sandbox
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.sync import sync

db, seed, n_chats, latency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
sandbox = Sandbox(seed=seed, n_chats=n_chats)
sandbox.transport = lambda: Sandbox.transport(sandbox, latency=latency)
handle = sandbox.handle

def handle_and_tell(*args, **kwargs):
    print("request", flush=True)  # the test kills the process a random number of requests in
    return handle(*args, **kwargs)

sandbox.handle = handle_and_tell
print("ready", flush=True)

async def main():
    async with open_client(sandbox=sandbox) as client:
        await sync(client, Store(db), progress=False, max_age=None)

asyncio.run(main())
print("done", flush=True)
"""


def start_sync_process(script, db, seed, n_chats, latency) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, str(script), str(db), str(seed), str(n_chats), str(latency)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready", process.stderr.read()
    return process


def kill_after(process: subprocess.Popen, requests: int, delay: float) -> bool:
    """SIGKILL ``process`` ``delay`` seconds after its sandbox got ``requests`` requests; False if it finished."""
    for n, line in enumerate(process.stdout, start=1):
        if line.strip() == "request" and n >= requests:
            time.sleep(delay)  # the kill may land in a request, between them, or in a write
            os.kill(process.pid, signal.SIGKILL)
            break
    process.communicate(timeout=30)
    return process.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_a_sync_killed_at_random_points_resumes_to_the_same_tables(tmp_path):
    script = tmp_path / "sync_once.py"
    script.write_text(textwrap.dedent(CRASH_SCRIPT))
    db, seed, n_chats, latency = tmp_path / "crashed.duckdb", 13, 110, 0.005
    rng = random.Random(20240531)
    kills = attempts = 0
    while kills < 3:
        attempts += 1
        assert attempts <= 8, "the syncs kept finishing before they could be killed"
        runs_before = len(Store(db).sync_runs()) if db.exists() else 0
        process = start_sync_process(script, db, seed, n_chats, latency)
        # A first run makes about 130 requests (listings, bookings, chats, messages, stats), a later one fewer.
        if not kill_after(process, rng.randint(3, 130), rng.uniform(0.0, 0.05)):
            continue
        kills += 1
        store = Store(db)
        assert_consistent(store)
        runs = store.sync_runs()
        assert len(runs) <= runs_before + 1 and (runs.status.iloc[runs_before:] == "running").all()

    finisher = start_sync_process(script, db, seed, n_chats, latency)
    out, err = finisher.communicate(timeout=60)
    assert finisher.returncode == 0 and out.splitlines()[-1] == "done", err
    store = Store(db)
    assert store.sync_runs().status.iloc[-1] == "ok"
    assert (store.sync_runs().status == "running").any()  # a run killed with SIGKILL could not say it failed
    assert_consistent(store)
    assert_same_tables(store, clean_sync(Sandbox(seed=seed, n_chats=n_chats), tmp_path / "clean.duckdb"))
