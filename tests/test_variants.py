"""The CLI, the actions and the widgets under every variant real accounts send (REAL-WORLD.md, issue 10 §3).

Each test sets the variant the way a person would from outside, ``AVITO_KIT_SANDBOX_SWITCHES``, which
``avito-kit --sandbox`` honours; the sandbox the CLI builds from it is kept across invocations (one account), so
the test can change it between commands and read back what it received.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys

import pytest

from avito_kit import cli, dates
from avito_kit.actions import NO_MESSENGER_TEXT
from avito_kit.cli import main
from avito_kit.dates import avito_today
from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SWITCHES_ENV, Sandbox
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.sync import sync
from avito_kit.widgets import CalendarWidget, InboxWidget

from .helpers import assert_same_tables

T = avito_today()
NO_MESSENGER_NOTE = "messenger skipped: Avito answered 402 (no messenger API subscription)"


def day(offset: int) -> dt.date:
    return T + dt.timedelta(days=offset)


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


@pytest.fixture
def account(monkeypatch):
    """``account("name=value,...")``: the sandbox ``avito-kit --sandbox`` builds under those switches, then
    the same one for every later command of the test."""

    build = cli._sandbox

    def make(switches: str = "") -> Sandbox:
        monkeypatch.setenv(SWITCHES_ENV, switches)
        sandbox = build()
        monkeypatch.setattr(cli, "_sandbox", lambda: sandbox)
        return sandbox

    return make


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("avito-kit: ") and "Traceback" not in err, err
    return lines[0]


def sync_ok(capsys, db, *extra) -> str:
    code, out, err = run(capsys, "--sandbox", "--db", db, "sync", "--no-progress", *extra)
    assert (code, err) == (0, ""), err
    return out


def free_listing(sandbox: Sandbox, first: dt.date, last: dt.date) -> int:
    """A listing with no booking on nights ``first`` <= night < ``last``: the one with the fewest, whose bookings
    there are cancelled (call it before the sync, so the store agrees)."""
    def overlapping(item_id: int) -> list[dict]:
        return [b for b in sandbox.bookings(item_id) if b["status"] != "canceled"
                and b["check_in"] < last.isoformat() and b["check_out"] > first.isoformat()]

    item_id = min((item.id for item in sandbox.items), key=lambda item_id: len(overlapping(item_id)))
    for booking in overlapping(item_id):
        sandbox.set_booking_status(booking["avito_booking_id"], "canceled")
    return item_id


def operations(sandbox: Sandbox, operation: str) -> list:
    return [r for r in sandbox.requests if r.operation == operation]


# -- 1. no messenger subscription: every messenger call answers 402 -------------------------------------------


def test_sync_without_the_messenger_subscription_syncs_the_rest_and_says_why(capsys, tmp_path, account):
    account("messenger_subscription=false")
    out = sync_ok(capsys, tmp_path / "a.duckdb")
    assert f"note: {NO_MESSENGER_NOTE}" in out
    store = Store(tmp_path / "a.duckdb")
    assert len(store.items()) and len(store.bookings()) and store.chats().empty
    run_row = store.sync_runs().iloc[-1]
    assert run_row.status == "ok" and json.loads(run_row.counts)["messenger_skipped"] is True


def test_reply_without_the_subscription_is_exit_1_with_one_line_and_nothing_written(capsys, tmp_path, account):
    account("messenger_subscription=false")
    db = tmp_path / "a.duckdb"
    sync_ok(capsys, db)
    code, out, err = run(capsys, "--sandbox", "--db", db, "reply", "u2i-abc", "Здравствуйте!", "--yes")
    assert code == 1 and one_line(err) == f"avito-kit: {NO_MESSENGER_TEXT}" and "Reply in chat u2i-abc" in out
    store = Store(db)
    audit = store.audit_log()
    assert audit.outcome.tolist() == ["refused"] and "402" in audit.detail.iloc[0]
    assert store.messages().empty


@pytest.mark.slow
async def test_the_inbox_says_in_russian_that_the_messenger_needs_the_subscription(tmp_path):
    sandbox = Sandbox(seed=3, n_items=3, n_chats=4, messenger_subscription=False)
    store = Store(tmp_path / "a.duckdb")
    async with open_client(sandbox=sandbox) as client:
        await sync(client, store, progress=False)
        inbox = InboxWidget(client, store)
        assert NO_MESSENGER_TEXT in inbox.status.value and "чаты не синхронизированы" in inbox.status.value

        # chats stored by an earlier sync, the subscription ended since: the writes say why they failed
        sandbox.messenger_subscription = True
        await sync(client, store, progress=False)
        sandbox.messenger_subscription = False
        inbox.refresh()
        inbox.chat_list.value = chat_id = inbox.chat_list.options[0][1]
        inbox.reply.value = "Здравствуйте"
        inbox.send_button.click()
        inbox.confirm_button.click()
        await inbox.wait_idle()
        assert NO_MESSENGER_TEXT in inbox.status.value and inbox.reply.value == "Здравствуйте"
        inbox.mark_read_button.click()
        await inbox.wait_idle()
        assert NO_MESSENGER_TEXT in inbox.status.value

        await sync(client, store, progress=False)  # the stored chats stay, and the inbox says why they are old
        inbox.refresh()
        assert f"{NO_MESSENGER_TEXT}: показаны чаты прошлых синхронизаций" in inbox.status.value
        assert len(inbox.chat_list.options) == 4
    assert store.audit_log().outcome.tolist() == ["refused", "refused"]
    assert "Здравствуйте" not in store.messages(chat_id).text.tolist()


# -- 2. the expired-token body, with 403 and with 200 ---------------------------------------------------------


@pytest.mark.parametrize("answer", ["result", "result_200"])
@pytest.mark.slow
def test_sync_reply_and_block_get_one_new_token_and_replay(capsys, tmp_path, account, answer):
    clean = tmp_path / "clean.duckdb"
    free_listing(account(""), day(3), day(6))
    sync_ok(capsys, clean)

    sandbox = account(f"expired_token_answer={answer}")
    item = free_listing(sandbox, day(3), day(6))  # the same listing: the same world, the same bookings cancelled
    db = tmp_path / "a.duckdb"
    sandbox.queue_fault("expire_token", "/core/v1/items")
    sync_ok(capsys, db)
    assert len(operations(sandbox, "getAccessToken")) == 2
    assert_same_tables(Store(db), Store(clean))

    chat_id = Store(db).chats().query("chat_type == 'u2i'").chat_id.iloc[0]
    sandbox.queue_fault("expire_token", f"/chats/{chat_id}/messages")
    tokens = len(operations(sandbox, "getAccessToken"))
    code, out, err = run(capsys, "--sandbox", "--db", db, "reply", chat_id, "Ждём вас!", "--yes")
    assert (code, err) == (0, "")
    assert [m["content"] for m in sandbox.chats[chat_id].messages].count({"text": "Ждём вас!"}) == 1
    assert len(operations(sandbox, "getAccessToken")) == tokens + 2  # the command's own token, then one new

    sandbox.queue_fault("expire_token", f"/items/{item}/bookings")
    code, out, err = run(capsys, "--sandbox", "--db", db, "calendar", "block", item, day(3), day(6), "--yes")
    assert (code, err) == (0, "") and "Авито принял изменения" in out
    assert {day(3), day(4), day(5)} <= sandbox.closed_nights(item)
    assert [r.status for r in operations(sandbox, "putBookingsInfo")] == [403 if answer == "result" else 200, 200]
    assert Store(db).audit_log().outcome.tolist() == ["ok", "ok"]


# -- 3. messages and chats envelopes ---------------------------------------------------------------------------


@pytest.mark.slow
def test_every_envelope_gives_the_same_tables(capsys, tmp_path, account):
    stores = {}
    for switches in ("", "messages_envelope=array,chats_meta=false", "messages_envelope=object"):
        account(switches)
        db = tmp_path / f"{len(stores)}.duckdb"
        sync_ok(capsys, db)
        stores[switches] = Store(db)
    default, *others = stores.values()
    assert len(default.messages()) > 0
    for other in others:
        assert_same_tables(other, default)


# -- 4. past reads refused with 422, stays under way not returned ----------------------------------------------


@pytest.mark.slow
def test_a_stay_under_way_that_avito_stops_returning_still_counts_tonight(capsys, tmp_path, account):
    sandbox = account("")  # the CLI's sandbox: a year back readable, as an account synced for a year
    item = free_listing(sandbox, day(-3), day(4))
    stay = sandbox.add_booking(item, day(-2), day(3))
    db = tmp_path / "a.duckdb"
    sync_ok(capsys, db)

    sandbox.refuse_past_bookings_read = True  # the bare sandbox's default, as real Avito
    sandbox.bookings_window = "check_in"
    out = sync_ok(capsys, db, "--full")
    assert f"note: Avito refused bookings before today; read from {T} instead" in out
    refused = [r for r in operations(sandbox, "getRealtyBookings") if r.status == 422]
    assert refused and all(r.query["date_start"] < T.isoformat() for r in refused)
    stored = Store(db).bookings(item)
    assert stored.set_index("booking_id").loc[stay["avito_booking_id"], "status"] == "active"

    code, out, err = run(capsys, "--db", db, "kpi", "--from", T, "--to", T, "--json")
    assert (code, err) == (0, "")
    row = next(r for r in json.loads(out) if r["item_id"] == item)
    assert row["occupancy"] == 1


# -- 5. bookings without avito_booking_id -----------------------------------------------------------------------


def test_bookings_without_an_id_are_skipped_with_a_note(capsys, tmp_path, account):
    account("bookings_without_id_share=0.2")
    out = sync_ok(capsys, tmp_path / "a.duckdb")
    assert "bookings without avito_booking_id skipped" in out
    assert len(Store(tmp_path / "a.duckdb").bookings())


# -- 6. 409 with conflicts ----------------------------------------------------------------------------------------


def conflict_line(sandbox: Sandbox, item: int) -> str:
    """Add a paid booking the store does not know yet (it came after the sync); the line that names it when
    Avito lists the conflicts, and the one from its message when it does not (``block_conflicts=False``)."""
    booking = sandbox.add_booking(item, day(11), day(13))
    if not sandbox.block_conflicts:
        return (f"Авито отказал: даты пересекаются с оплаченной бронью (dates overlap the paid booking "
                f"{booking['avito_booking_id']}); ничего не изменено")
    return (f"Авито отказал: {day(10):%d.%m}–{day(14):%d.%m} пересекается с бронью "
            f"{booking['avito_booking_id']}, {day(11):%d.%m}–{day(13):%d.%m}; ничего не изменено")


@pytest.mark.parametrize("switches", ["", "block_conflicts=false"])
@pytest.mark.slow
def test_a_block_over_a_booking_the_store_does_not_know_names_it_and_changes_nothing(capsys, tmp_path, account,
                                                                                     switches):
    sandbox = account(switches)
    item = free_listing(sandbox, day(9), day(15))
    db = tmp_path / "a.duckdb"
    sync_ok(capsys, db)
    line = conflict_line(sandbox, item)
    code, out, err = run(capsys, "--sandbox", "--db", db, "calendar", "block", item, day(10), day(14), "--yes")
    assert code == 1 and one_line(err) == f"avito-kit: {line}" and f"Закрыть даты объявления {item}" in out
    store = Store(db)
    assert store.calendar_blocks(item).empty and item not in sandbox.blocks
    audit = store.audit_log()
    assert audit.outcome.tolist() == ["refused"] and "409" in audit.detail.iloc[0]


@pytest.mark.slow
async def test_the_calendar_widget_shows_the_same_conflict_line(tmp_path):
    sandbox = Sandbox(seed=5, n_items=4, n_chats=2)
    store = Store(tmp_path / "a.duckdb")
    async with open_client(sandbox=sandbox) as client:
        item = free_listing(sandbox, day(9), day(15))
        await sync(client, store, progress=False)
        line = conflict_line(sandbox, item)
        widget = CalendarWidget(client, store, item_id=item, today=T)
        widget.date_from.value, widget.date_to.value = day(10), day(14)
        widget.block_button.click()
        assert not widget.confirm_button.disabled  # the store knows no booking there: Avito refuses it
        widget.confirm_button.click()
        await widget.wait_idle()
    assert line in widget.status.value
    assert store.calendar_blocks(item).empty and store.audit_log().outcome.tolist() == ["refused"]


# -- 7. calendar POST replace or merge ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["replace", "merge"])
@pytest.mark.slow
def test_block_open_block_leaves_the_calendar_as_the_host_meant(capsys, tmp_path, account, mode):
    sandbox = account(f"calendar_post={mode}")
    item = free_listing(sandbox, day(2), day(12))
    db = tmp_path / "a.duckdb"
    sync_ok(capsys, db)
    horizon = {day(n) for n in range(365)}
    booked = {dt.date.fromisoformat(b["check_in"]) + dt.timedelta(days=n)
              for b in sandbox.bookings(item) if b["status"] == "active"
              for n in range((dt.date.fromisoformat(b["check_out"]) - dt.date.fromisoformat(b["check_in"])).days)}

    def nights(first: int, last: int) -> set[dt.date]:
        return {day(n) for n in range(first, last)}

    steps = [("block", 3, 9, nights(3, 9)),
             ("open", 4, 6, nights(3, 4) | nights(6, 9)),
             ("block", 5, 7, nights(3, 4) | nights(5, 9)),
             ("open", 3, 9, set()),
             ("block", 4, 5, nights(4, 5))]
    for action, first, last, blocked in steps:
        code, _, err = run(capsys, "--sandbox", "--db", db, "calendar", action, item, day(first), day(last),
                           "--yes")
        assert (code, err) == (0, ""), (action, first, last)
        assert sandbox.closed_nights(item) == (blocked | booked) & horizon, (action, first, last)
    assert Store(db).audit_log().outcome.tolist() == ["ok"] * len(steps)


# -- 8. the gateway's body on an unknown route -------------------------------------------------------------------


def test_a_wrong_api_root_is_one_line_naming_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AVITO_CLIENT_ID", SANDBOX_CLIENT_ID)
    monkeypatch.setenv("AVITO_CLIENT_SECRET", SANDBOX_CLIENT_SECRET)
    with Sandbox(seed=1, n_items=2, n_chats=1).serve() as server:
        root = f"{server.base_url}/wrongprefix"
        code, out, err = run(capsys, "--base-url", root, "--db", tmp_path / "a.duckdb", "sync", "--no-progress")
    line = one_line(err)
    assert code == 1 and out == ""
    assert f"POST {root}/token answered 404 (no Route matched with those values)" in line
    assert "--base-url or AVITO_BASE_URL" in line and SANDBOX_CLIENT_SECRET not in line


# -- 9. Avito's day is Moscow's -------------------------------------------------------------------------------


@pytest.fixture
def moscow_after_midnight(monkeypatch):
    """00:30 in Moscow on Avito's today, 21:30 the day before in UTC (the machine's date)."""
    instant = dt.datetime.combine(T - dt.timedelta(days=1), dt.time(21, 30), dt.UTC)
    monkeypatch.setattr(dates, "_aware_now", lambda clock: instant)
    return instant


@pytest.mark.slow
def test_the_cli_counts_days_from_moscow(capsys, tmp_path, account, moscow_after_midnight):
    sandbox = account("")
    item = free_listing(sandbox, day(-1), day(2))
    db = tmp_path / "a.duckdb"
    out = sync_ok(capsys, db)
    assert f"nights {T - dt.timedelta(days=365)} .. {T + dt.timedelta(days=365)}" in out

    yesterday_in_utc = moscow_after_midnight.date()
    code, _, err = run(capsys, "--sandbox", "--db", db, "calendar", "block", item, yesterday_in_utc, T, "--yes")
    assert code == 2 and f"Avito's calendar starts today ({T})" in one_line(err)
    code, out, err = run(capsys, "--sandbox", "--db", db, "calendar", "open", item, T, day(1), "--yes",
                          "--first-push")
    assert (code, err) == (0, "")
    assert sandbox.intervals[item][0]["date_start"] == T.isoformat()  # the year starts on Moscow's today

    code, out, err = run(capsys, "--db", db, "report", "--out", tmp_path / "r.html")
    assert code == 0
    period = f"{T - dt.timedelta(days=29):%d.%m.%Y} — {T:%d.%m.%Y}"  # the 30 nights up to Moscow's today
    assert f"<h1>Посуточная аренда: {period}</h1>" in (tmp_path / "r.html").read_text(encoding="utf-8")


# -- the widgets' writes under the variants ---------------------------------------------------------------------


@pytest.mark.parametrize("switches", [{"calendar_post": "merge", "expired_token_answer": "result_200"},
                                      {"calendar_post": "replace", "expired_token_answer": "result"}])
@pytest.mark.slow
async def test_the_widgets_write_right_under_the_variants(tmp_path, switches):
    sandbox = Sandbox(seed=9, n_items=3, n_chats=6, **switches)
    item = free_listing(sandbox, day(2), day(10))
    store = Store(tmp_path / "a.duckdb")
    async with open_client(sandbox=sandbox) as client:
        await sync(client, store, progress=False)
        booked = sandbox.closed_nights(item)
        calendar = CalendarWidget(client, store, item_id=item, today=T)
        for action, first, last, blocked in (("block", 3, 8, range(3, 8)), ("open", 4, 6, [3, 6, 7])):
            sandbox.queue_fault("expire_token", f"/items/{item}/bookings")
            calendar.date_from.value, calendar.date_to.value = day(first), day(last)
            getattr(calendar, f"{action}_button").click()
            calendar.confirm_button.click()
            await calendar.wait_idle()
            assert "Авито принял изменения" in calendar.status.value, calendar.status.value
            assert sandbox.closed_nights(item) == booked | {day(n) for n in blocked}

        inbox = InboxWidget(client, store)
        inbox.chat_list.value = chat_id = inbox.chat_list.options[0][1]
        inbox.reply.value = "Здравствуйте"
        sandbox.queue_fault("expire_token", f"/chats/{chat_id}/messages")
        inbox.send_button.click()
        inbox.confirm_button.click()
        await inbox.wait_idle()
    assert [m["content"] for m in sandbox.chats[chat_id].messages].count({"text": "Здравствуйте"}) == 1
    assert store.audit_log().outcome.tolist() == ["ok", "ok", "ok"]
