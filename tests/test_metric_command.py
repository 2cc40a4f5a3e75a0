"""`avito-kit metric`: every name of the metrics catalog, its JSON keys and CSV header, on a synced sandbox store."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json

import pytest

from avito_kit.cli import main
from avito_kit.metrics import METRICS
from avito_kit.sandbox import Sandbox
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.sync import sync

D = dt.date(2026, 6, 1)  # the first sync; the second is a day later and sees one booking made in between
RANGE = ["--from", "2026-05-01", "--to", "2026-07-31"]

# The documented keys of each name, in order (metrics' module docstring).
KEYS = {
    "kpis": ["period", "item_id", "nights_total", "nights_blocked", "nights_available", "nights_booked", "occupancy",
             "paid_occupancy", "revenue", "adr", "revpar", "stays", "alos"],
    "forward_occupancy": ["horizon_days", "date_from", "date_to", "nights_available", "nights_booked", "occupancy",
                          "revenue"],
    "year_over_year": ["month", "occupancy", "revenue", "adr", "revpar", "nights_booked", "ly_occupancy",
                       "ly_revenue", "ly_adr", "ly_revpar", "ly_nights_booked"],
    "pace": ["as_of", "days_before", "nights_booked", "revenue", "ly_as_of", "ly_nights_booked", "ly_revenue"],
    "pickup": ["nights_added", "revenue_added", "nights_now", "nights_then"],
    "lead_time": ["bucket", "min_days", "max_days", "bookings", "share"],
    "lead_times": ["booking_id", "item_id", "first_seen", "check_in", "lead_days"],
    "length_of_stay": ["nights", "stays"],
    "cancellations": ["observed", "cancellations", "lost_revenue", "bookings_seen", "observed_cancellations",
                      "cancellation_rate"],
    "cancellation_summary": ["cancellations", "lost_revenue", "bookings_seen", "observed_cancellations",
                             "cancellation_rate"],
    "gap_nights": ["item_id", "title", "gap_start", "gap_end", "nights"],
    "weekday_split": ["day_type", "nights_available", "nights_booked", "occupancy", "revenue", "adr"],
    "weekday_heatmap": ["weekday", "week_start", "occupancy"],
    "funnel": ["week_start", "item_id", "title", "views", "contacts", "favorites", "bookings"],
    "grid": ["item_id", "title", "night", "state", "booking_id", "guest_name", "nightly_revenue", "check_in",
             "check_out", "price"],
    "messaging": ["chat_id", "item_id", "other_user_name", "first_incoming_at", "first_response_at",
                  "response_minutes", "answered", "last_message_at", "waiting_since"],
    "messaging_summary": ["chats", "answered", "unanswered", "median_response_minutes"],
    "inbox": ["chat_id", "item_id", "chat_type", "title", "other_user_name", "last_text", "last_at",
              "last_direction", "unread", "waiting_since", "needs_attention", "waited"],
    "review_inbox": ["review_id", "item_id", "item_title", "score", "text", "sender_name", "created_at", "image_count",
                     "answer_id", "answer_text", "answer_status", "answer_reject_reasons", "needs_answer",
                     "booking_id", "check_in", "check_out"],
    "rating_history": ["observed_at", "score", "reviews_count", "reviews_with_score_count"],
    "score_distribution": ["score", "reviews", "share"],
    "reviews_per_listing": ["item_id", "title", "reviews", "mean_score", "unanswered", "last_review_at"],
    "answer_share": ["reviews", "answered", "rejected", "share_answered"],
    "time_to_answer": ["review_id", "item_id", "first_seen_at", "answer_created_at", "hours"],
}


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A store synced from the sandbox on D and D + 1, and the booking made between the two syncs."""
    path = tmp_path_factory.mktemp("metric") / "m.duckdb"
    sandbox = Sandbox(seed=5, n_items=3, n_chats=3, today=D, refuse_past_bookings_read=False)
    store = Store(path)

    async def sync_on(day: dt.date) -> None:
        async with open_client(sandbox=sandbox) as client:
            await sync(client, store, D - dt.timedelta(days=60), D + dt.timedelta(days=90), progress=False,
                       max_age=None, clock=lambda: dt.datetime(day.year, day.month, day.day, 9, tzinfo=dt.UTC))

    asyncio.run(sync_on(D))
    made = sandbox.add_booking(sandbox.items[0].id, D + dt.timedelta(days=21), D + dt.timedelta(days=23))
    waiting = next(review for review in sandbox.reviews.reviews if review.answer is None)  # answered in between
    sandbox.reviews.answer(waiting, "Спасибо!", int(dt.datetime(D.year, D.month, D.day, 18, tzinfo=dt.UTC).timestamp()))
    asyncio.run(sync_on(D + dt.timedelta(days=1)))
    return path, made


def run(capsys, path, *argv: str) -> tuple[int, str, str]:
    code = main(["--db", str(path), "metric", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_catalog_and_the_documented_keys_name_the_same_metrics():
    assert list(METRICS) == list(KEYS)


@pytest.mark.parametrize("name", list(KEYS))
def test_every_metric_prints_json_records_with_its_keys_and_csv_with_its_header(synced, capsys, name):
    path, _ = synced
    dates = RANGE if METRICS[name].dates == "range" else []
    code, out, err = run(capsys, path, name, *dates, "--json")
    assert (code, err) == (0, "")
    records = json.loads(out)
    assert isinstance(records, list) and records, f"{name} gave no rows"
    assert all(list(r) == KEYS[name] for r in records)

    code, out, err = run(capsys, path, name, *dates, "--csv")
    assert (code, err) == (0, "")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == KEYS[name] and len(rows) == len(records) + 1


def test_lead_time_counts_bookings_per_bucket_by_check_in_date(synced, capsys):
    path, made = synced
    code, out, _ = run(capsys, path, "lead_time", "--json")
    buckets = {r["bucket"]: r["bookings"] for r in json.loads(out)}
    assert code == 0 and buckets == {"0-1": 0, "2-7": 0, "8-14": 0, "15-30": 1, "31-60": 0, "61-90": 0, "91+": 0}
    _, out, _ = run(capsys, path, "lead_times", "--json")
    (lead,) = json.loads(out)
    assert (lead["booking_id"], lead["lead_days"], lead["check_in"]) == (made["avito_booking_id"], 20, "2026-06-22")
    _, out, _ = run(capsys, path, "lead_time", "--from", "2026-06-23", "--json")  # checks in on 06-22: left out
    assert sum(r["bookings"] for r in json.loads(out)) == 0


def test_kpis_by_total_and_values_as_json_writes_them(synced, capsys):
    path, _ = synced
    code, out, _ = run(capsys, path, "kpis", *RANGE, "--by", "total", "--json")
    (total,) = json.loads(out)
    assert code == 0 and total["item_id"] is None and total["period"] == "2026-05-01"
    assert isinstance(total["nights_booked"], int) and 0 <= total["occupancy"] <= 1


def test_list_names_every_metric_with_one_line(capsys, tmp_path):
    code, out, _ = run(capsys, tmp_path / "none.duckdb", "--list")
    lines = out.splitlines()
    assert code == 0 and [line.split()[0] for line in lines] == list(METRICS)
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)
    assert not (tmp_path / "none.duckdb").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["nosuch"], "unknown metric 'nosuch'; one of: kpis, "),
    ([], "name a metric"),
    (["kpis", "--from", "2026-13-01", "--to", "2026-07-01"], "--from"),
    (["kpis", "--from", "2026-07-02", "--to", "2026-07-01"], "--to"),
    (["kpis"], "needs --from and --to"),
    (["pace", *RANGE, "--by", "item"], "metric pace takes --from, --to, not --by"),
    (["kpis", *RANGE, "--by", "week"], "--by must be one of item, total"),
    (["inbox", "--from", "2026-07-01"], "metric inbox takes no options"),
    (["lead_time", "--from", "01.07.2026"], "--from"),
])
def test_bad_input_is_one_line_and_exit_2(synced, capsys, argv, message):
    path, _ = synced
    code, out, err = run(capsys, path, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and message in err


def test_json_and_csv_together_are_refused(synced, capsys):
    path, _ = synced
    code, _, err = run(capsys, path, "kpis", *RANGE, "--json", "--csv")
    assert code == 2 and "not allowed with" in err


def test_without_a_store_it_says_to_sync_and_creates_nothing(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "none.duckdb", "kpis", *RANGE)
    assert code == 2 and "avito-kit sync" in err and not (tmp_path / "none.duckdb").exists()
