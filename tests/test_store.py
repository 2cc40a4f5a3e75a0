"""Store: schema and migrations, history-keeping upserts, exact ids, transactions, and the file lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from avito_kit.schema import MIGRATIONS, SCHEMA_VERSION, migrate
from avito_kit.store import Store, StoreLockedError

USER = 42
ITEM = 2**31 + 1
T0 = datetime(2025, 5, 1, 9, 0)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)
T3 = T0 + timedelta(hours=3)


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "avito.duckdb")


def booking_rows(*rows: dict) -> pd.DataFrame:
    """Bookings as the sync layer passes them; each row overrides a default active 3-night stay."""
    base = {
        "booking_id": 1001,
        "item_id": ITEM,
        "check_in": "2025-07-01",
        "check_out": "2025-07-04",
        "status": "active",
        "base_price": 9000,
        "guest_name": "Иван",
    }
    return pd.DataFrame([{**base, **row} for row in rows])


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run code in a separate Python process that imports the same avito_kit as this one."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- path and schema ---------------------------------------------------------------------------------------


def test_default_path_is_data_dir_under_cwd_and_env_overrides(tmp_path, monkeypatch):
    assert Store().path == tmp_path / "data" / "avito.duckdb"
    assert (tmp_path / "data" / "avito.duckdb").exists()
    monkeypatch.setenv("AVITO_KIT_DB", str(tmp_path / "env" / "deep" / "x.duckdb"))
    assert Store().path == tmp_path / "env" / "deep" / "x.duckdb"
    assert Store(tmp_path / "arg.duckdb").path == tmp_path / "arg.duckdb"


def test_reopening_a_current_database_changes_nothing(tmp_path):
    path = tmp_path / "a.duckdb"
    Store(path)
    Store(path).upsert_items(pd.DataFrame({"item_id": [1]}), USER)
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION
    versions = store.query("SELECT version FROM schema_version ORDER BY version")
    assert versions.version.tolist() == [version for version, _ in MIGRATIONS]  # each once, in order
    assert store.counts()["items"] == 1


def test_migrates_a_v1_database_keeping_its_rows(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert migrate(con, 1) == 1
    con.execute(
        "INSERT INTO bookings (booking_id, user_id, item_id, check_in, check_out, status, base_price, "
        "first_seen_at, last_seen_at, status_changed_at) "
        f"VALUES ({2**63}, 42, {ITEM}, '2025-07-01', '2025-07-04', 'active', 9000, now(), now(), now())"
    )
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "audit_log" not in tables
    con.close()

    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION == 6  # 3: coverage; 4: prices; 5: reviews; 6: linked calendars
    assert store.bookings().booking_id.tolist() == [2**63]
    store.audit_begin("block_dates", "item:1", {})
    assert store.counts()["audit_log"] == 1
    store.record_price_push(42, ITEM, [{"date_from": "2025-07-01", "date_to": "2025-07-01", "night_price": 10}])
    assert store.counts()["prices"] == 1


def test_ddl_is_idempotent_when_a_migration_runs_again(tmp_path):
    path = tmp_path / "a.duckdb"
    store = Store(path)
    store.upsert_items(pd.DataFrame({"item_id": [1], "title": ["Studio"]}), USER)
    with store.connect() as con:
        con.execute("DELETE FROM schema_version")
    assert Store(path).items().title.tolist() == ["Studio"]


def test_refuses_a_database_newer_than_the_code(tmp_path):
    path = tmp_path / "a.duckdb"
    with Store(path).connect() as con:
        con.execute("INSERT INTO schema_version VALUES (99, now())")
    with pytest.raises(RuntimeError, match="newer"):
        Store(path)


# -- listings, stats ---------------------------------------------------------------------------------------


def test_items_upsert_updates_given_columns_and_keeps_big_ids(store):
    store.upsert_items(
        pd.DataFrame(
            {
                "item_id": [ITEM, 7],
                "title": ["Studio", "Loft"],
                "price": [3500, None],
                "url": [None, "https://avito.ru/7"],
                "category_id": [24, 24],
            }
        ),
        USER,
    )
    store.upsert_items(pd.DataFrame({"item_id": [ITEM], "status": ["removed"]}), USER)
    items = store.items().set_index("item_id")
    assert items.index.dtype == np.int64
    assert items.index.tolist() == [7, ITEM]
    assert items.loc[ITEM, "title"] == "Studio"  # a column absent from the batch is left as stored
    assert items.loc[ITEM, "status"] == "removed"
    assert items.loc[ITEM, "price"] == 3500
    assert pd.isna(items.loc[7, "price"])
    assert set(items.user_id) == {USER}


def test_item_stats_upsert_by_item_and_date(store):
    day = pd.DataFrame({"item_id": [ITEM, ITEM], "date": ["2025-05-01", "2025-05-02"], "uniq_views": [5, 6]})
    store.upsert_item_stats(day, USER)
    store.upsert_item_stats(
        pd.DataFrame({"item_id": [ITEM], "date": ["2025-05-02"], "uniq_views": [9], "uniq_contacts": [1]}), USER
    )
    stats = store.item_stats()
    assert stats.uniq_views.tolist() == [5, 9]
    assert stats.uniq_contacts.iloc[1] == 1
    assert stats.date.dt.strftime("%Y-%m-%d").tolist() == ["2025-05-01", "2025-05-02"]


def test_batch_deduplicated_by_key_keeps_the_last_row(store):
    store.upsert_items(pd.DataFrame({"item_id": [1, 1, 1], "title": ["a", "b", "c"]}), USER)
    assert store.items().title.tolist() == ["c"]
    counts = store.upsert_bookings(
        booking_rows({"status": "pending"}, {"status": "active"}, {"booking_id": 1002}), USER, T0
    )
    assert counts == {"new": 2, "changed": 0, "unchanged": 0, "reappeared": 0}
    assert store.bookings().set_index("booking_id").loc[1001, "status"] == "active"


def test_unknown_or_missing_columns_are_refused(store):
    with pytest.raises(ValueError, match="unknown"):
        store.upsert_items(pd.DataFrame({"item_id": [1], "titel": ["typo"]}), USER)
    with pytest.raises(ValueError, match="missing"):
        store.upsert_bookings(pd.DataFrame({"booking_id": [1]}), USER)


def test_empty_and_none_batches_write_nothing(store):
    assert store.upsert_items(None, USER) == 0
    assert store.upsert_items(pd.DataFrame(), USER) == 0
    assert store.upsert_bookings(pd.DataFrame(), USER) == {"new": 0, "changed": 0, "unchanged": 0, "reappeared": 0}
    assert store.upsert_messages(None, USER) == 0
    assert store.upsert_chats(pd.DataFrame(columns=["chat_id"]), USER) == 0
    assert store.upsert_item_stats(None, USER) == 0
    assert set(store.counts().values()) == {0}
    assert store.bookings().empty and store.booking_events().empty


# -- bookings and their history ----------------------------------------------------------------------------


def test_same_booking_batch_twice_adds_no_rows_and_no_events(store):
    batch = booking_rows({}, {"booking_id": 1002, "check_in": "2025-08-01", "check_out": "2025-08-02"})
    assert store.upsert_bookings(batch, USER, T0) == {"new": 2, "changed": 0, "unchanged": 0, "reappeared": 0}
    assert store.upsert_bookings(batch, USER, T1) == {"new": 0, "changed": 0, "unchanged": 2, "reappeared": 0}
    bookings = store.bookings()
    assert len(bookings) == 2
    assert (bookings.first_seen_at == T0).all() and (bookings.last_seen_at == T1).all()
    assert bookings.nights.tolist() == [3, 1]
    events = store.booking_events()
    assert events.event.tolist() == ["first_seen", "first_seen"]
    assert (events.observed_at == T0).all()


def test_cancellation_keeps_the_row_and_records_the_previous_status(store):
    store.upsert_bookings(booking_rows({}), USER, T0)
    assert store.upsert_bookings(booking_rows({"status": "canceled"}), USER, T1)["changed"] == 1
    row = store.bookings().iloc[0]
    assert row.status == "canceled"
    assert row.first_seen_at == T0 and row.status_changed_at == T1
    change = store.booking_events().iloc[-1]
    assert (change.event, change.status, change.previous_status, change.observed_at) == (
        "changed",
        "canceled",
        "active",
        T1,
    )
    assert store.bookings(statuses=["active"]).empty
    assert len(store.bookings(statuses=["active", "canceled"])) == 1


def test_date_and_price_changes_are_events_guest_details_are_not(store):
    store.upsert_bookings(booking_rows({}), USER, T0)
    store.upsert_bookings(booking_rows({"check_out": "2025-07-05"}), USER, T1)
    store.upsert_bookings(booking_rows({"check_out": "2025-07-05", "base_price": 12000.5}), USER, T2)
    counts = store.upsert_bookings(
        booking_rows({"check_out": "2025-07-05", "base_price": 12000.5, "guest_name": "Пётр"}), USER, T3
    )
    assert counts["unchanged"] == 1
    events = store.booking_events()
    assert events.event.tolist() == ["first_seen", "changed", "changed"]
    dates = events.iloc[1]
    assert str(dates.previous_check_out.date()) == "2025-07-04" and str(dates.check_out.date()) == "2025-07-05"
    assert dates.nights == 4
    price = events.iloc[2]
    assert (price.previous_base_price, price.base_price) == (9000, 12000.5)
    row = store.bookings().iloc[0]
    assert row.guest_name == "Пётр" and row.status_changed_at == T0 and row.nights == 4


def test_vanished_booking_is_marked_once_and_kept(store):
    store.upsert_bookings(
        booking_rows(
            {},
            {"booking_id": 1002, "check_in": "2025-07-10", "check_out": "2025-07-12"},
            {"booking_id": 1003, "check_in": "2025-09-01", "check_out": "2025-09-03"},
        ),
        USER,
        T0,
    )
    window = (USER, ITEM, "2025-07-01", "2025-08-01")
    assert store.mark_vanished_bookings(*window, seen_booking_ids=[1002], observed_at=T1) == 1
    assert store.mark_vanished_bookings(*window, seen_booking_ids=[1002], observed_at=T2) == 0
    assert store.mark_vanished_bookings(*window, seen_booking_ids=[], observed_at=T2) == 1  # 1002 now
    vanished = store.booking_events().query("event == 'vanished'")
    assert vanished.booking_id.tolist() == [1001, 1002]
    assert vanished.previous_status.tolist() == ["active", "active"]
    bookings = store.bookings().set_index("booking_id")
    assert len(bookings) == 3  # outside the window, 1003 is left alone
    assert bookings.loc[1001, "vanished_at"] == T1 and pd.isna(bookings.loc[1003, "vanished_at"])

    assert store.upsert_bookings(booking_rows({}), USER, T3)["reappeared"] == 1
    assert pd.isna(store.bookings().set_index("booking_id").loc[1001, "vanished_at"])
    assert store.booking_events().event.tolist()[-1] == "reappeared"


def test_a_stay_under_way_before_the_window_is_never_vanished(store):
    """Only a booking checking in inside the window read must be in Avito's answer (REAL-WORLD.md)."""
    store.upsert_bookings(booking_rows({}, {"booking_id": 1002, "check_in": "2025-06-29", "check_out": "2025-07-03"}),
                          USER, T0)
    assert store.booking_ids_checking_in(USER, [ITEM], "2025-07-01", "2025-08-01") == {ITEM: {1001}}
    assert store.mark_vanished_bookings(USER, ITEM, "2025-07-01", "2025-08-01", [], observed_at=T1) == 1
    assert store.bookings().set_index("booking_id").vanished_at.notna().to_dict() == {1002: False, 1001: True}
    assert store.booking_ids_checking_in(USER, [ITEM], "2025-06-01", "2025-08-01") == {ITEM: {1002}}


def test_active_bookings_are_those_a_block_must_not_cover(store):
    store.upsert_bookings(booking_rows({}, {"booking_id": 2**63, "check_in": "2025-07-10", "check_out": "2025-07-12"},
                                       {"booking_id": 1003, "check_in": "2025-07-05", "status": "canceled",
                                        "check_out": "2025-07-07"}), USER, T0)
    found = store.active_bookings(ITEM, "2025-07-03", "2025-07-11")
    assert [int(b) for b in found.booking_id] == [1001, 2**63]
    assert list(found.columns) == ["booking_id", "check_in", "check_out", "guest_name"]
    assert store.active_bookings(ITEM, "2025-07-04", "2025-07-10").empty  # check-out and check-in days are free
    assert not store.has_item(ITEM)
    store.upsert_items(pd.DataFrame({"item_id": [ITEM]}), USER)
    assert store.has_item(ITEM)


def test_a_booking_seen_in_this_run_is_not_vanished_by_another_window(store):
    store.upsert_bookings(booking_rows({}), USER, T1)
    assert store.mark_vanished_bookings(USER, ITEM, "2025-07-02", "2025-09-01", [], observed_at=T1) == 0


def test_booking_ids_beyond_2_53_and_2_63_round_trip_exactly(store):
    ids = [2**53 + 1, 2**63, 2**64 - 1]
    store.upsert_bookings(booking_rows(*({"booking_id": i} for i in ids)), USER, T0)
    bookings = store.bookings()
    assert bookings.booking_id.dtype == np.uint64
    assert sorted(int(i) for i in bookings.booking_id) == ids
    assert sorted(int(i) for i in store.booking_events().booking_id) == ids
    assert len(store.booking_events(2**64 - 1)) == 1
    assert store.query("SELECT count(*) n FROM bookings WHERE booking_id = ?", [2**63]).n.iloc[0] == 1
    # the same ids as uint64 are the same bookings
    as_uint = booking_rows(*({"booking_id": i} for i in ids)).astype({"booking_id": "uint64"})
    assert store.upsert_bookings(as_uint, USER, T1)["unchanged"] == 3


def test_float_booking_ids_are_refused(store):
    with pytest.raises(TypeError, match="precision"):
        store.upsert_bookings(booking_rows({"booking_id": float(2**60)}), USER, T0)
    with pytest.raises(ValueError, match="booking_id"):
        store.upsert_bookings(booking_rows({"booking_id": -1}), USER, T0)
    assert store.counts()["bookings"] == 0


def test_aware_observed_at_is_stored_as_naive_utc(store):
    moscow = datetime(2025, 5, 1, 12, 0, tzinfo=UTC) + timedelta(hours=3)
    store.upsert_bookings(booking_rows({}), USER, moscow.astimezone())
    assert store.bookings().first_seen_at.iloc[0] == datetime(2025, 5, 1, 15, 0)


def test_a_failed_batch_rolls_back_completely(store):
    store.upsert_bookings(booking_rows({}), USER, T0)
    before = (store.bookings(), store.booking_events())
    bad = booking_rows({"status": "canceled"}, {"booking_id": 1002}, {"booking_id": 1003, "check_in": "soon"})
    with pytest.raises(duckdb.Error):
        store.upsert_bookings(bad, USER, T1)
    pd.testing.assert_frame_equal(store.bookings(), before[0])
    pd.testing.assert_frame_equal(store.booking_events(), before[1])

    store.upsert_messages(pd.DataFrame({"message_id": ["m1"], "chat_id": ["c"]}), USER)
    with pytest.raises(duckdb.Error):
        store.upsert_messages(
            pd.DataFrame({"message_id": ["m2", "m3"], "chat_id": ["c", "c"], "direction": ["in", "sideways"]}), USER
        )
    assert store.messages().message_id.tolist() == ["m1"]


# -- messenger ---------------------------------------------------------------------------------------------


def test_chats_take_unix_seconds_and_u2u_chats_have_no_item(store):
    store.upsert_chats(
        pd.DataFrame(
            {
                "chat_id": ["u2i-1", "u2u-2"],
                "item_id": [ITEM, None],
                "chat_type": ["u2i", "u2u"],
                "created": [1717000000, 1716000000],
                "updated": [1717000100, 1716000100],
                "unread": [True, False],
            }
        ),
        USER,
    )
    chats = store.chats().set_index("chat_id")
    assert chats.loc["u2i-1", "item_id"] == ITEM and pd.isna(chats.loc["u2u-2", "item_id"])
    assert chats.loc["u2i-1", "updated"] == datetime(2024, 5, 29, 16, 28, 20)
    assert store.chat_updated_map(USER) == {
        "u2i-1": datetime(2024, 5, 29, 16, 28, 20),
        "u2u-2": datetime(2024, 5, 18, 2, 41, 40),
    }
    assert store.chat_updated_map(USER + 1) == {}


def test_messages_insert_only_new_and_keep_what_was_first_seen(store):
    first = pd.DataFrame(
        {
            "message_id": ["m1", "m2"],
            "chat_id": ["c", "c"],
            "author_id": [USER, 7],
            "type": ["text", "text"],
            "text": ["Добрый день", "Свободно?"],
            "created": pd.to_datetime(["2025-05-01 10:00", "2025-05-01 09:00"]),
            "is_read": [True, False],
            "content": [{"text": "Добрый день"}, '{"text": "Свободно?"}'],
        }
    )
    assert store.upsert_messages(first, USER) == 2
    later = pd.DataFrame(
        {
            "message_id": ["m2", "m3"],
            "chat_id": ["c", "c"],
            "author_id": [7, 7],
            "type": ["deleted", "text"],
            "text": [None, "Ау"],
            "is_read": [True, False],
        }
    )
    assert store.upsert_messages(later, USER) == 1
    messages = store.messages("c").set_index("message_id")
    assert messages.loc["m1", "direction"] == "out" and messages.loc["m2", "direction"] == "in"
    assert messages.loc["m2", "text"] == "Свободно?" and messages.loc["m2", "type"] == "text"
    assert bool(messages.loc["m2", "is_read"])
    assert json.loads(messages.loc["m1", "content"]) == {"text": "Добрый день"}
    assert store.message_ids_by_chat(["c", "other"]) == {"c": {"m1", "m2", "m3"}}
    assert store.message_ids_by_chat([]) == {}


def test_a_stats_answer_becomes_one_row_per_listing_and_day(store):
    """Days left out are zeros; days outside the window, listings not asked for and repeated days are dropped;
    a missing or null counter is zero; a date with a time is read as its day; ids above 2^53 stay exact."""
    big = 2**60 + 1
    body = json.dumps({"result": {"items": [
        {"itemId": 7, "stats": [{"date": "2026-05-01", "uniqViews": 5, "uniqContacts": 1, "uniqFavorites": 2},
                                {"date": "2026-05-03T00:00:00+03:00", "uniqViews": 9, "uniqContacts": None},
                                {"date": "2026-05-03", "uniqViews": 9},
                                {"date": "2026-04-30", "uniqViews": 100}]},
        {"itemId": 8, "stats": [{"date": "2026-05-02", "uniqViews": 1}]},
        {"itemId": big, "stats": []},
    ]}})
    assert store.upsert_stats_json(body.encode(), [big, 7], "2026-05-01", "2026-05-03", USER) == 6
    stats = store.item_stats()
    assert [int(i) for i in stats.item_id] == [7] * 3 + [big] * 3
    assert [d.isoformat() for d in stats.date.dt.date] == ["2026-05-01", "2026-05-02", "2026-05-03"] * 2
    assert stats[["uniq_views", "uniq_contacts", "uniq_favorites"]].values.tolist() == [
        [5, 1, 2], [0, 0, 0], [9, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert set(stats.user_id) == {USER}
    assert store.upsert_stats_json(b"", [9], "2026-05-01", "2026-05-01", USER) == 1  # an empty answer: zeros
    assert store.item_stats(9)[["uniq_views", "uniq_contacts", "uniq_favorites"]].values.tolist() == [[0, 0, 0]]


# -- calendar, audit, sync bookkeeping ---------------------------------------------------------------------


def test_replace_calendar_blocks_replaces_one_listing(store):
    store.replace_calendar_blocks(USER, 7, pd.DataFrame({"date_start": ["2025-08-01"], "date_end": ["2025-08-02"]}))
    store.replace_calendar_blocks(
        USER,
        ITEM,
        pd.DataFrame(
            {
                "date_start": ["2025-08-01", "2025-08-10"],
                "date_end": ["2025-08-03", "2025-08-11"],
                "comment": ["repairs", None],
            }
        ),
    )
    assert (
        store.replace_calendar_blocks(
            USER, ITEM, pd.DataFrame({"date_start": ["2025-09-01"], "date_end": ["2025-09-05"]})
        )
        == 1
    )
    blocks = store.calendar_blocks(ITEM)
    assert blocks.date_start.dt.strftime("%Y-%m-%d").tolist() == ["2025-09-01"]
    assert len(store.calendar_blocks()) == 2  # the other listing's block is untouched

    overlapping = pd.DataFrame({"date_start": ["2025-10-01", "2025-10-02"], "date_end": ["2025-10-05", "2025-10-03"]})
    with pytest.raises(ValueError, match="overlap"):
        store.replace_calendar_blocks(USER, ITEM, overlapping)
    with pytest.raises(duckdb.Error):
        store.replace_calendar_blocks(
            USER, ITEM, pd.DataFrame({"date_start": ["2025-10-02"], "date_end": ["2025-10-02"]})
        )
    assert store.calendar_blocks(ITEM).date_start.dt.strftime("%Y-%m-%d").tolist() == ["2025-09-01"]

    assert store.replace_calendar_blocks(USER, ITEM, None) == 0
    assert store.calendar_blocks(ITEM).empty and len(store.calendar_blocks()) == 1


def test_audit_entry_is_pending_before_the_write_then_gets_its_outcome(store):
    audit_id = store.audit_begin("block_dates", f"item:{ITEM}", {"bookings": [{"date_start": "2025-08-01"}]})
    entry = store.audit_log().iloc[0]
    assert (entry.audit_id, entry.outcome, entry.action) == (audit_id, "pending", "block_dates")
    assert pd.isna(entry.finished_at)
    assert json.loads(entry.payload) == {"bookings": [{"date_start": "2025-08-01"}]}

    store.audit_finish(audit_id, "conflict", "409: overlaps a paid booking")
    entry = store.audit_log().iloc[0]
    assert (entry.outcome, entry.detail) == ("conflict", "409: overlaps a paid booking")
    assert not pd.isna(entry.finished_at)
    assert store.audit_begin("send_message", "chat:c", None) == audit_id + 1
    with pytest.raises(KeyError):
        store.audit_finish(999, "ok")


def test_audit_refuses_payloads_that_look_like_secrets(store):
    with pytest.raises(ValueError, match="secret"):
        store.audit_begin("token", None, {"headers": {"Authorization": "Bearer x"}})
    assert store.audit_log().empty


def test_sync_runs_and_cursors(store):
    run_id = store.begin_sync_run()
    assert store.sync_runs().status.tolist() == ["running"]
    store.finish_sync_run(run_id, "ok", {"bookings": 3})
    failed = store.begin_sync_run()
    store.finish_sync_run(failed, "failed", {}, error="AvitoServerError: 502")
    runs = store.sync_runs()
    assert runs.status.tolist() == ["ok", "failed"]
    assert json.loads(runs.counts.iloc[0]) == {"bookings": 3} and runs.error.iloc[1] == "AvitoServerError: 502"
    with pytest.raises(ValueError):
        store.finish_sync_run(run_id, "done", {})

    store.set_cursors(USER, {"chat:a": 1717000000, "chat:b": "2025-05-01T10:00:00", "stats": {"day": 3}})
    store.set_cursors(USER, {"chat:a": 1717000500})
    store.set_cursors(USER + 1, {"chat:a": 1})
    assert store.get_cursors(USER, "chat:") == {"chat:a": 1717000500, "chat:b": "2025-05-01T10:00:00"}
    assert store.get_cursors(USER)["stats"] == {"day": 3}


def test_query_is_read_only(store):
    store.upsert_items(pd.DataFrame({"item_id": [1, 2], "status": ["active", "old"]}), USER)
    assert store.query("SELECT item_id FROM items WHERE status = $s", {"s": "old"}).item_id.tolist() == [2]
    with pytest.raises(duckdb.Error):
        store.query("DELETE FROM items")
    assert store.counts()["items"] == 2


# -- connections and the file lock -------------------------------------------------------------------------


def test_no_connection_is_held_between_calls(store):
    store.upsert_bookings(booking_rows({}), USER, T0)
    store.bookings()
    result = run_python(
        """
        import sys, duckdb
        con = duckdb.connect(sys.argv[1])  # write mode, no retry: fails if the file is still locked
        con.execute("UPDATE bookings SET guest_name = 'from another process'")
        con.close()
        """,
        str(store.path),
    )
    assert result.returncode == 0, result.stderr
    assert store.bookings().guest_name.tolist() == ["from another process"]


def run_together(operation, rounds: int) -> list[BaseException]:
    """Call ``operation(thread, round)`` from two threads, both starting each round at the same moment."""
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def run(thread: int) -> None:
        for i in range(rounds):
            start.wait()
            try:
                operation(thread, i)
            except Exception as exc:  # collected and asserted by the caller
                failures.append(exc)

    started = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return failures


@pytest.mark.slow
def test_two_threads_opening_the_file_at_once_can_both_use_frames(store):
    # Sync stores from worker threads while the kernel may use the store too; each round opens the closed
    # file from two threads at once.
    def register_a_frame(thread: int, i: int) -> None:
        with store.connect() as con:
            con.register("batch", pd.DataFrame({"n": [thread, i]}))
            assert con.execute("SELECT sum(n) FROM batch").fetchone() == (thread + i,)

    assert run_together(register_a_frame, rounds=150) == []


@pytest.mark.slow
def test_two_threads_updating_the_same_listing_at_once_both_succeed(store):
    def set_price(thread: int, i: int) -> None:
        store.upsert_items(pd.DataFrame({"item_id": [ITEM], "price": [1000 * thread + i]}), USER)

    assert run_together(set_price, rounds=20) == []
    assert store.items().price.tolist() in ([19], [1019])


@pytest.mark.slow
def test_a_reader_and_a_writer_process_both_succeed(store):
    writer = """
        import sys, pandas as pd
        from avito_kit.store import Store
        store = Store(sys.argv[1])
        for i in range(40):
            rows = pd.DataFrame({"booking_id": [2**63 + i], "item_id": [1], "check_in": ["2025-07-01"],
                                 "check_out": ["2025-07-02"], "status": ["active"], "base_price": [i]})
            store.upsert_bookings(rows, 42)
        print("wrote", store.counts()["bookings"])
    """
    reader = """
        import sys
        from avito_kit.store import Store
        store = Store(sys.argv[1])
        seen = [len(store.bookings()) for _ in range(40)]
        print("read", max(seen))
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(store.path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for code in (writer, reader)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    assert outputs[0][0].strip() == "wrote 40"
    assert outputs[1][0].startswith("read")
    assert store.counts()["bookings"] == 40


@pytest.mark.slow
def test_waits_for_a_lock_then_gives_up_with_a_clear_error(store):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); print('held', "
            "flush=True); time.sleep(float(sys.argv[2])); c.close()",
            str(store.path),
            "1.5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        store.lock_timeout = 0.2
        with pytest.raises(StoreLockedError, match="locked by another process"):
            store.counts()
        store.lock_timeout = 30
        assert store.counts()["bookings"] == 0  # a longer wait outlasts the holder
    finally:
        holder.wait(timeout=30)
        holder.stdout.close()
