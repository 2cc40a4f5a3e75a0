"""Calendar blocks and openings, and replies, against the sandbox: what Avito receives, what the store keeps,
and the audit row written before each send."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from avito_kit import actions
from avito_kit.errors import AvitoConflict, AvitoServerError, AvitoTransportError
from avito_kit.sandbox import Sandbox
from avito_kit.session import open_client
from avito_kit.store import Store

from .fakes import FakeClock
from .helpers import TODAY as T
from .helpers import copy_store, day, snapshot, synced_store_file


def make_sandbox() -> tuple[Sandbox, int]:
    """A small world and a listing (a removed one: no generated future bookings) with a known calendar."""
    sandbox = Sandbox(seed=21, n_items=6, n_chats=6)
    item_id = next(item.id for item in sandbox.items if item.status == "removed")
    sandbox.add_booking(item_id, day(20), day(23))  # paid: never blocked over, never opened for sale
    sandbox.add_booking(item_id, day(30), day(32), status="canceled")  # its nights are free again
    sandbox.add_booking(item_id, day(-4), day(-1))  # paid, in the past
    return sandbox, item_id


@pytest.fixture(scope="module")
def synced_file(tmp_path_factory):
    return synced_store_file(tmp_path_factory, make_sandbox()[0])


@pytest.fixture
def world(synced_file, tmp_path):
    """(sandbox, store, item_id): a fresh sandbox and a copy of the store synced from an identical one."""
    sandbox, item_id = make_sandbox()
    return sandbox, Store(copy_store(synced_file, tmp_path)), item_id


async def apply(sandbox: Sandbox, store: Store, plan: actions.Plan) -> str:
    async with open_client(sandbox=sandbox) as client:
        return await actions.apply_plan(client, store, plan)


async def block(sandbox, store, item_id, start, end, comment=None) -> str:
    return await apply(sandbox, store, actions.plan_block(store, item_id, day(start), day(end), comment))


def stored_blocks(store: Store, item_id: int) -> list[tuple[dt.date, dt.date, str | None]]:
    frame = store.calendar_blocks(item_id)
    return [(r.date_start.date(), r.date_end.date(), None if pd.isna(r.comment) else r.comment)
            for r in frame.itertuples()]


def pushed_blocks(sandbox: Sandbox, item_id: int) -> list[tuple[dt.date, dt.date, str | None]]:
    return [(dt.date.fromisoformat(b["date_start"]), dt.date.fromisoformat(b["date_end"]), b["comment"])
            for b in sandbox.blocks[item_id]]


def watch_audit(sandbox: Sandbox, store: Store, operation: str) -> list:
    """The audit outcomes as they stood when each ``operation`` request reached the sandbox."""
    seen, handle = [], sandbox.handle

    def handle_and_look(*args, **kwargs):
        outcomes, before = store.audit_log().outcome.tolist(), len(sandbox.requests)
        response = handle(*args, **kwargs)
        if any(r.operation == operation for r in sandbox.requests[before:]):
            seen.append(outcomes)
        return response

    sandbox.handle = handle_and_look
    return seen


# -- blocks -------------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_blocks_merge_and_avito_gets_the_full_set_each_time(world):
    sandbox, store, item_id = world
    looked = watch_audit(sandbox, store, "putBookingsInfo")
    assert await block(sandbox, store, item_id, 5, 8, "ремонт") == "ok"
    assert pushed_blocks(sandbox, item_id) == stored_blocks(store, item_id) == [(day(5), day(8), "ремонт")]

    await block(sandbox, store, item_id, 7, 10, "гости")  # overlapping: one block, both comments
    await block(sandbox, store, item_id, 10, 12)  # touching: still one block
    await block(sandbox, store, item_id, 50, 52, "сам живу")
    expected = [(day(5), day(12), "ремонт; гости"), (day(50), day(52), "сам живу")]
    assert stored_blocks(store, item_id) == pushed_blocks(sandbox, item_id) == expected
    body = [r.body for r in sandbox.requests if r.operation == "putBookingsInfo"][-1]
    assert [b["type"] for b in body["bookings"]] == ["manual", "manual"]

    audit = store.audit_log()
    assert audit.outcome.tolist() == ["ok"] * 4 and audit.action.unique().tolist() == ["calendar_block"]
    assert audit.finished_at.notna().all() and set(audit.target) == {str(item_id)}
    assert json.loads(audit.payload.iloc[-1])["bookings"] == body["bookings"]
    assert looked == [["pending"], ["ok", "pending"], ["ok", "ok", "pending"], ["ok", "ok", "ok", "pending"]]


async def test_past_nights_are_kept_locally_and_pushed_from_today(world):
    sandbox, store, item_id = world
    plan = actions.plan_block(store, item_id, day(-3), day(2))  # the past part overlaps a past paid stay
    assert plan.conflicts == []
    await apply(sandbox, store, plan)
    assert pushed_blocks(sandbox, item_id) == [(T, day(2), None)]
    assert stored_blocks(store, item_id) == [(day(-3), day(2), None)]
    with pytest.raises(ValueError, match="in the past"):
        actions.plan_block(store, item_id, day(-10), T)


async def test_a_block_over_an_active_booking_is_refused_before_anything_is_sent(world):
    sandbox, store, item_id = world
    before = snapshot(store)
    plan = actions.plan_block(store, item_id, day(18), day(21))
    assert [c["check_in"] for c in plan.conflicts] == [day(20)]
    assert "Отказ" in plan.describe()
    with pytest.raises(ValueError, match="active bookings"):
        await apply(sandbox, store, plan)
    assert sandbox.requests == [] and sandbox.blocks == {}
    after = snapshot(store)
    for table in before:
        assert after[table].equals(before[table]), table
    # A cancelled booking blocks nothing.
    assert actions.plan_block(store, item_id, day(30), day(32)).conflicts == []


async def test_a_409_from_avito_leaves_the_blocks_as_they_were_and_the_audit_refused(world):
    sandbox, store, item_id = world
    await block(sandbox, store, item_id, 5, 7)
    sandbox.add_booking(item_id, day(60), day(62))  # paid since the last sync: only Avito knows
    with pytest.raises(AvitoConflict):
        await block(sandbox, store, item_id, 59, 63)
    assert stored_blocks(store, item_id) == pushed_blocks(sandbox, item_id) == [(day(5), day(7), None)]
    audit = store.audit_log()
    assert audit.outcome.tolist() == ["ok", "refused"] and "409" in audit.detail.iloc[-1]


def test_bad_requests_are_refused_by_the_plan(world):
    _, store, item_id = world
    for args, message in [((0, day(1), day(2)), "positive integer"), (("abc", day(1), day(2)), "positive integer"),
                          ((item_id, "2027-13-01", day(2)), "YYYY-MM-DD"), ((item_id, day(5), day(5)), "after"),
                          ((item_id, day(5), day(3)), "after"), ((123, day(1), day(2)), "not in the store")]:
        with pytest.raises(ValueError, match=message):
            actions.plan_block(store, *args)
        with pytest.raises(ValueError, match=message):
            actions.plan_open(store, *args)
    assert store.audit_log().empty


# -- openings ---------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_opening_the_middle_of_a_block_splits_it_and_pushes_every_free_range_of_the_year(world):
    sandbox, store, item_id = world
    await block(sandbox, store, item_id, 5, 15, "ремонт")
    await block(sandbox, store, item_id, 40, 42)
    looked = watch_audit(sandbox, store, "putIntervals")
    plan = actions.plan_open(store, item_id, day(8), day(10))
    assert await apply(sandbox, store, plan) == "ok"

    remaining = [(day(5), day(8), "ремонт"), (day(10), day(15), "ремонт"), (day(40), day(42), None)]
    assert stored_blocks(store, item_id) == pushed_blocks(sandbox, item_id) == remaining
    intervals = sandbox.intervals[item_id]
    assert all(i["open"] == 1 for i in intervals)
    spans = [(dt.date.fromisoformat(i["date_start"]), dt.date.fromisoformat(i["date_end"])) for i in intervals]
    assert spans == sorted(spans) and all(a < b for a, b in spans)
    assert all(prev_end <= start for (_, prev_end), (start, _) in itertools.pairwise(spans))
    closed = {day(n) for n in [*range(5, 8), *range(10, 15), 40, 41, 20, 21, 22]}  # blocks and the paid stay
    year = {day(n) for n in range(365)}
    assert set(sandbox.open_dates(item_id)) == year - closed  # the cancelled stay's nights are open again
    assert spans[0][0] == T and spans[-1][1] == day(365)

    audit = store.audit_log()
    assert audit.action.tolist()[-1] == "calendar_open" and audit.outcome.tolist() == ["ok", "ok", "ok"]
    assert json.loads(audit.payload.iloc[-1])["intervals"] == intervals
    assert looked == [["ok", "ok", "pending"]]


async def test_opening_without_blocks_still_pushes_the_whole_year(world):
    sandbox, store, item_id = world
    await apply(sandbox, store, actions.plan_open(store, item_id, day(1), day(3)))
    assert sandbox.blocks[item_id] == [] and stored_blocks(store, item_id) == []
    assert set(sandbox.open_dates(item_id)) == {day(n) for n in range(365)} - {day(20), day(21), day(22)}


# -- replies ----------------------------------------------------------------------------------------------


def a_chat(store: Store) -> str:
    return store.chats().query("chat_type == 'u2i'").chat_id.iloc[0]


async def test_a_reply_is_sent_once_stored_and_audited(world):
    sandbox, store, _ = world
    chat_id = a_chat(store)
    looked = watch_audit(sandbox, store, "postSendMessage")
    text = "Здравствуйте! Да, даты свободны."
    async with open_client(sandbox=sandbox) as client:
        sent = await actions.send_reply(client, store, chat_id, text)
    in_sandbox = [m for m in sandbox.chats[chat_id].messages if m["content"].get("text") == text]
    assert len(in_sandbox) == 1 and in_sandbox[0]["id"] == sent["id"]
    stored = store.messages(chat_id).set_index("message_id").loc[sent["id"]]
    assert (stored.text, stored.direction, stored.type) == (text, "out", "text")
    audit = store.audit_log().iloc[-1]
    assert (audit.action, audit.target, audit.outcome) == ("reply", chat_id, "ok")
    assert json.loads(audit.payload) == {"text": text} and sent["id"] in audit.detail
    assert looked == [["pending"]]
    assert [r.operation for r in sandbox.requests].count("postSendMessage") == 1


async def test_a_reply_dropped_after_avito_got_it_is_audited_unknown_and_never_resent(world):
    sandbox, store, _ = world
    chat_id = a_chat(store)
    sandbox.queue_fault("drop", f"/chats/{chat_id}/messages")
    text = "Код от сейфа пришлю в день заезда."
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(AvitoTransportError):
            await actions.send_reply(client, store, chat_id, text)
    assert [m["content"].get("text") for m in sandbox.chats[chat_id].messages].count(text) == 1
    assert [r.operation for r in sandbox.requests].count("postSendMessage") == 1
    assert text not in store.messages(chat_id).text.tolist()
    audit = store.audit_log().iloc[-1]
    assert (audit.action, audit.outcome) == ("reply", "unknown")  # it did arrive: "failed" would invite a resend
    assert "may have arrived" in audit.detail


async def test_a_reply_refused_before_it_reached_avito_is_audited_failed(world):
    sandbox, store, _ = world
    chat_id = a_chat(store)
    for _ in range(3):
        sandbox.queue_fault("refuse", f"/chats/{chat_id}/messages")
    async with open_client(sandbox=sandbox, sleep=_no_wait) as client:
        with pytest.raises(AvitoTransportError):
            await actions.send_reply(client, store, chat_id, "Ждём вас!")
    assert store.audit_log().iloc[-1].outcome == "failed"
    assert [r.status for r in sandbox.requests if r.operation == "postSendMessage"] == [None] * 3


async def _no_wait(seconds: float) -> None:
    return None


@pytest.mark.parametrize(("chat_id", "text", "message"), [
    ("u2i-abc", "", "empty"), ("u2i-abc", "   ", "empty"), ("u2i-abc", "я" * 1001, "1001 characters"),
    ("", "text", "chat_id"), ("u2i a", "text", "chat_id"),
])
async def test_a_bad_reply_is_refused_before_anything_is_sent_or_written(world, chat_id, text, message):
    sandbox, store, _ = world
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(ValueError, match=message):
            await actions.send_reply(client, store, chat_id, text)
    assert sandbox.requests == [] and store.audit_log().empty


@pytest.mark.slow
async def test_an_availability_push_that_fails_leaves_the_accepted_blocks_and_a_partial_audit(world):
    sandbox, store, item_id = world
    await block(sandbox, store, item_id, 5, 15)
    for _ in range(3):
        sandbox.queue_fault("503", "/items/intervals")
    plan = actions.plan_open(store, item_id, day(8), day(10))
    async with open_client(sandbox=sandbox, sleep=FakeClock().sleep) as client:
        with pytest.raises(AvitoServerError):
            await actions.apply_plan(client, store, plan)
    assert stored_blocks(store, item_id) == pushed_blocks(sandbox, item_id) == [(day(5), day(8), None),
                                                                                (day(10), day(15), None)]
    assert item_id not in sandbox.intervals
    audit = store.audit_log().iloc[-1]
    assert audit.outcome == "partial" and "availability failed" in audit.detail


async def test_a_plan_the_client_refuses_to_send_is_audited_failed_not_left_pending(world):
    sandbox, store, item_id = world
    plan = actions.plan_block(store, item_id, day(5), day(8))
    plan.bookings_payload = plan.bookings_payload * 2  # overlapping ranges: refused before any request
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(ValueError, match="overlap"):
            await actions.apply_plan(client, store, plan)
    assert ops_of(sandbox) == [] and store.audit_log().outcome.tolist() == ["failed"]
    assert stored_blocks(store, item_id) == []


def ops_of(sandbox: Sandbox) -> list[str | None]:
    return [r.operation for r in sandbox.requests if r.operation not in ("getAccessToken", "getUserInfoSelf")]


async def test_mark_read_marks_the_chat_read_on_avito_then_in_the_store(world):
    sandbox, store, _ = world
    chat_id = next(c for c in store.chats().query("chat_type == 'u2i'").chat_id
                   if not store.messages(c).query("direction == 'in'").is_read.all())
    other = store.messages().query("chat_id != @chat_id")
    unread = set(store.messages(chat_id).query("direction == 'in' and not is_read").message_id)
    async with open_client(sandbox=sandbox) as client:
        await actions.mark_read(client, store, chat_id)
    assert "chatRead" in [r.operation for r in sandbox.requests]
    incoming = store.messages(chat_id).query("direction == 'in'")
    assert incoming.is_read.all() and set(incoming[incoming.read_at.notna()].message_id) == unread
    assert not store.chats().set_index("chat_id").unread[chat_id]
    pd.testing.assert_frame_equal(store.messages().query("chat_id != @chat_id"), other)  # other chats untouched
    assert store.audit_log()[["action", "target", "outcome"]].values.tolist() == [["mark_read", chat_id, "ok"]]


# -- Avito's day is Moscow's ------------------------------------------------------------------------------


def a_listing(tmp_path) -> tuple[Store, int]:
    store = Store(tmp_path / "one.duckdb")
    store.upsert_items(pd.DataFrame({"item_id": [3_000_000_001], "status": ["active"]}), user_id=42)
    return store, 3_000_000_001


@pytest.mark.parametrize(("now", "moscow_day"), [
    (dt.datetime(2026, 12, 1, 22, 30, tzinfo=dt.UTC), dt.date(2026, 12, 2)),  # a server in UTC after 21:00
    (dt.datetime(2026, 12, 2, 6, 30, tzinfo=ZoneInfo("Asia/Vladivostok")), dt.date(2026, 12, 1)),  # before 07:00
])
def test_the_pushes_start_on_moscow_s_date_whatever_the_machine_s_clock(tmp_path, now, moscow_day):
    """Avito closes every date an availability push leaves out: a year starting a day late closes tonight, one
    starting a day early is refused as past."""
    store, item_id = a_listing(tmp_path)
    year = dt.timedelta(days=actions.AVAILABILITY_DAYS)
    opened = actions.plan_open(store, item_id, moscow_day, moscow_day + dt.timedelta(days=3), clock=lambda: now)
    assert opened.availability_payload == [
        {"date_start": moscow_day.isoformat(), "date_end": (moscow_day + year).isoformat(), "open": 1}]
    block = actions.plan_block(store, item_id, moscow_day - dt.timedelta(days=2), moscow_day + dt.timedelta(days=2),
                               clock=lambda: now)
    assert [b["date_start"] for b in block.bookings_payload] == [moscow_day.isoformat()]  # the past clipped
    with pytest.raises(ValueError, match="in the past"):
        actions.plan_block(store, item_id, moscow_day - dt.timedelta(days=3), moscow_day, clock=lambda: now)


def test_the_preview_speaks_to_the_host_in_russian():
    """``Plan.describe()``: nights inclusive, dd.mm.yyyy, Russian plurals; a refused plan names the bookings."""
    a, b = dt.date(2027, 3, 1), dt.date(2027, 3, 22)
    push = [{"date_start": "2027-03-01", "date_end": "2027-03-02", "type": "manual", "comment": None},
            {"date_start": "2027-03-10", "date_end": "2027-03-15", "type": "manual", "comment": "ремонт"}]
    one = actions.Plan("block", 7, a, a + dt.timedelta(days=1), [], push[:1]).describe()
    assert one.splitlines() == ["Закрыть даты объявления 7: ночи 01.03.2027 – 01.03.2027 (1 ночь)",
                                "В Авито уйдут все ручные закрытия (1 период):",
                                "  закрыты ночи 01.03.2027 – 01.03.2027",
                                "Прежних отправок календаря этого объявления из avito_kit нет: сравнить не с чем"]
    opened = actions.Plan("open", 7, a, b, [], push, [{"open": 1}] * 5).describe()
    assert opened.splitlines()[0] == "Открыть даты объявления 7: ночи 01.03.2027 – 21.03.2027 (21 ночь)"
    assert "(2 периода)" in opened and "  закрыты ночи 10.03.2027 – 14.03.2027" in opened
    assert opened.splitlines()[-3].startswith("Затем доступность на год вперёд (5 открытых периодов;")
    assert opened.splitlines()[-2:] == [actions.CABINET_WARNING, actions.FIRST_PUSH_WARNING]
    assert "пустой список" in actions.Plan("open", 7, a, b, [], [], []).describe()
    refused = actions.Plan("block", 7, a, a + dt.timedelta(days=5), [], push, conflicts=[
        {"booking_id": 42, "check_in": dt.date(2027, 3, 2), "check_out": dt.date(2027, 3, 4), "guest_name": "Анна"}]
    ).describe()
    assert refused.splitlines()[1:] == ["Отказ: в диапазоне есть активные брони:",
                                        "  бронь №42: заезд 02.03.2027, выезд 04.03.2027, Анна"]
