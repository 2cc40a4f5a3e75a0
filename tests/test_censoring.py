"""Left-censoring, computed by hand: a booking counts as observed when made only if a sync first saw it after
the first sync that read its listing's bookings for its check-in night (metrics' module docstring).

The first tests run the real sync against the embedded sandbox at injected dates; the others write the store as
a sync would (coverage, then the sighting) to pin the rule on a listing added later and on cancellations.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from avito_kit import charts, metrics
from avito_kit.sandbox import Sandbox
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.sync import sync

D = dt.date(2026, 6, 1)  # the day of the first sync
USER = 42
A, B = 3_000_000_001, 3_000_000_002
Day = pd.Timestamp


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def noon_in_moscow(day: dt.date):
    """A clock at 12:00 in Moscow (09:00 UTC) on ``day``."""
    return lambda: dt.datetime(day.year, day.month, day.day, 9, 0, tzinfo=dt.UTC)


async def sync_on(sandbox: Sandbox, store: Store, day: dt.date, last_night: dt.date) -> None:
    async with open_client(sandbox=sandbox) as client:
        await sync(client, store, D - days(30), last_night, progress=False, max_age=None, clock=noon_in_moscow(day))


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(seed=5, n_items=2, n_chats=1, today=D, refuse_past_bookings_read=False)


async def test_a_first_sync_observes_no_booking_being_made(sandbox, tmp_path):
    store = Store(tmp_path / "c.duckdb")
    await sync_on(sandbox, store, D, D + days(60))
    assert len(store.bookings()) > 0  # the sandbox's bookings are all there, and count for occupancy
    leads = metrics.lead_times(store)
    assert leads.empty
    assert leads.attrs == {"history_since": D, "history_until": D, "history_days": 0, "bookings": 0}
    assert metrics.lead_time(store).bookings.sum() == 0
    assert metrics.listing_funnel(store, D, D).bookings.sum() == 0
    assert metrics.cancellation_summary(store, D, D).bookings_seen[0] == 0
    pace = metrics.pace(store, D + days(10), D + days(20), as_of=D, days_back=3)
    assert pace.nights_booked[:3].isna().all()  # before history: unknown, not 0
    assert pace.nights_booked.iloc[-1] == 0  # the day history began: nothing made under watch yet
    assert pace.ly_nights_booked.isna().all()  # a year back there was no history
    occupancy = metrics.kpis(store, D, D + days(60), by="total").nights_booked[0]
    assert occupancy > 0  # occupancy counts every booking, observed or not


@pytest.mark.slow
async def test_a_second_sync_observes_the_one_booking_made_in_between(sandbox, tmp_path):
    store = Store(tmp_path / "c.duckdb")
    await sync_on(sandbox, store, D, D + days(60))
    made = sandbox.add_booking(sandbox.items[0].id, D + days(21), D + days(23))  # made on D + 1, 20 days ahead
    await sync_on(sandbox, store, D + days(1), D + days(61))

    leads = metrics.lead_times(store)
    assert leads.booking_id.tolist() == [made["avito_booking_id"]]
    assert leads.lead_days.tolist() == [20]
    assert leads.first_seen.tolist() == [Day(D + days(1))]
    assert (leads.attrs["history_since"], leads.attrs["history_until"], leads.attrs["bookings"]) == \
        (D, D + days(1), 1)
    buckets = metrics.lead_time(store).set_index("bucket")
    assert buckets.bookings.sum() == 1 and buckets.loc["15-30"].bookings == 1 and buckets.loc["15-30"].share == 1
    assert metrics.lead_time(store, D + days(22), D + days(40)).bookings.sum() == 0  # by check-in date
    assert metrics.listing_funnel(store, D, D + days(1)).bookings.sum() == 1
    pickup = metrics.pickup(store, D + days(21), D + days(22), as_of=D + days(1), days=1)
    assert pickup.nights_added[0] == 2


async def test_a_widened_window_observes_nothing_about_the_nights_it_adds(sandbox, tmp_path):
    store = Store(tmp_path / "c.duckdb")
    item = sandbox.items[0].id
    far = sandbox.add_booking(item, D + days(80), D + days(82))  # there before the first sync, beyond its window
    await sync_on(sandbox, store, D, D + days(60))
    near = sandbox.add_booking(item, D + days(40), D + days(41))  # made on D + 2, inside the first window
    await sync_on(sandbox, store, D + days(2), D + days(90))  # the window widened to D + 90

    seen = set(store.bookings().booking_id.astype(int))
    assert {far["avito_booking_id"], near["avito_booking_id"]} <= seen
    leads = metrics.lead_times(store)
    assert leads.booking_id.tolist() == [near["avito_booking_id"]]  # far was first seen by the widening
    assert leads.lead_days.tolist() == [38]
    coverage = store.booking_coverage(item)
    assert coverage[["cover_from", "cover_to"]].astype(str).values.tolist() == [
        [str(D - days(30)), str(D + days(60))], [str(D + days(61)), str(D + days(90))]]


# -- written as a sync would --------------------------------------------------------------------------------------


def read(store: Store, when: dt.datetime, first: str, last: str, *item_ids: int) -> None:
    """One sync's read of these listings' bookings for nights first..last: coverage, then the cursor."""
    store.record_booking_coverage(USER, [(item_id, first, last) for item_id in item_ids], when)
    store.set_cursors(USER, {f"bookings:{item_id}": {"read_at": when.isoformat(), "from": first, "to": last}
                             for item_id in item_ids})


def sighting(store: Store, when: dt.datetime, *bookings: tuple[int, int, str, str, str]) -> None:
    """One sync's sighting of (booking_id, item_id, check_in, check_out, status)."""
    store.upsert_bookings(pd.DataFrame([
        {"booking_id": b, "item_id": i, "check_in": ci, "check_out": co, "status": st, "base_price": 1000}
        for b, i, ci, co, st in bookings]), USER, observed_at=when)


def test_a_listing_added_later_starts_its_own_history(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    t1, t2, t3 = (dt.datetime(2026, 6, d, 9) for d in (1, 2, 3))
    store.record_booking_coverage(USER, [(A, "2026-06-01", "2026-08-31")], t1)
    sighting(store, t1, (1, A, "2026-07-01", "2026-07-03", "active"))  # there before: censored
    store.record_booking_coverage(USER, [(A, "2026-06-02", "2026-09-01"), (B, "2026-06-02", "2026-09-01")], t2)
    sighting(store, t2, (2, A, "2026-07-20", "2026-07-22", "active"),  # made on 06-02: observed, 48 days ahead
             (3, B, "2026-07-10", "2026-07-12", "active"))  # B's first read: censored
    store.record_booking_coverage(USER, [(A, "2026-06-03", "2026-09-02"), (B, "2026-06-03", "2026-09-02")], t3)
    sighting(store, t3, (4, B, "2026-07-15", "2026-07-16", "active"),  # made on 06-03: observed, 42 days ahead
             (1, A, "2026-07-01", "2026-07-03", "canceled"))  # the censored booking cancelled

    leads = metrics.lead_times(store)
    assert leads.set_index("booking_id").lead_days.to_dict() == {2: 48, 4: 42}
    assert metrics.lead_times(store, item_ids=[B]).booking_id.tolist() == [4]
    assert metrics.history_span(store, item_ids=[B]) == (dt.date(2026, 6, 2), dt.date(2026, 6, 3))
    assert metrics.history_span(store) == (dt.date(2026, 6, 1), dt.date(2026, 6, 3))
    assert metrics.listing_funnel(store, "2026-06-01", "2026-06-07").bookings.sum() == 2

    summary = metrics.cancellation_summary(store, "2026-06-01", "2026-06-03").iloc[0]
    assert (summary.cancellations, summary.bookings_seen, summary.observed_cancellations) == (1, 2, 0)
    assert summary.cancellation_rate == 0  # the cancelled booking was not made under watch
    assert summary.lost_revenue == 1000  # yet its loss is real

    pickup = metrics.pickup(store, "2026-07-01", "2026-07-31", as_of="2026-06-03", days=1)
    assert pickup.iloc[0].tolist() == [1, 1000, 3, 2]  # booking 4 added; 2 was there; 1 and 3 never count
    assert metrics.pickup(store, "2026-07-01", "2026-07-31", as_of="2026-06-03", days=7).isna().all(axis=None)
    assert metrics.kpis(store, "2026-07-01", "2026-07-31", by="total").nights_booked[0] == 5  # 3 + 4 and 2


def test_a_store_without_coverage_takes_each_listing_s_first_sighting_as_its_first_read(tmp_path):
    store = Store(tmp_path / "c.duckdb")  # as written before booking_coverage existed
    sighting(store, dt.datetime(2026, 6, 1, 9), (1, A, "2026-07-01", "2026-07-03", "active"))
    sighting(store, dt.datetime(2026, 6, 5, 9), (2, A, "2026-07-05", "2026-07-06", "active"))
    assert metrics.lead_times(store).booking_id.tolist() == [2]
    # A sync after the upgrade records coverage; the earlier history keeps counting.
    store.record_booking_coverage(USER, [(A, "2026-06-06", "2027-06-06")], dt.datetime(2026, 6, 6, 9))
    sighting(store, dt.datetime(2026, 6, 7, 9), (3, A, "2026-07-10", "2026-07-12", "active"))
    assert metrics.lead_times(store).booking_id.tolist() == [2, 3]


# -- what the charts say --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_history_charts_say_when_history_is_too_short_and_what_they_rest_on(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    store.record_booking_coverage(USER, [(A, "2026-06-01", "2026-09-01")], dt.datetime(2026, 6, 1, 9))
    sighting(store, dt.datetime(2026, 6, 1, 9), (1, A, "2026-07-01", "2026-07-03", "active"))
    pace = metrics.pace(store, "2026-07-01", "2026-07-31", as_of="2026-06-05")
    fig = charts.pace_curve(pace)
    assert not fig.data
    assert fig.layout.annotations[0].text == charts.PACE_TOO_SHORT
    assert "история с 01.06.2026; 0 броней" in fig.layout.title.subtitle.text
    lead = charts.lead_time_histogram(metrics.lead_times(store))
    assert not lead.data and lead.layout.annotations[0].text == charts.LEAD_TOO_SHORT

    for day in range(2, 20):  # daily syncs; one booking made on 06-10
        when = dt.datetime(2026, 6, day, 9)
        read(store, when, f"2026-06-{day:02d}", "2026-09-01", A)
        if day == 10:
            sighting(store, when, (2, A, "2026-07-10", "2026-07-12", "active"))
    pace = metrics.pace(store, "2026-07-01", "2026-07-31", as_of="2026-06-19", days_back=20)
    assert pace.attrs["history_days"] == 18 and pace.attrs["bookings"] == 1
    assert pace.nights_booked.isna().tolist() == [True] * 2 + [False] * 19  # 05-30, 05-31: no history yet
    assert pace.set_index("as_of").nights_booked[[Day("2026-06-09"), Day("2026-06-10")]].tolist() == [0, 2]
    fig = charts.pace_curve(pace)
    assert len(fig.data) == 4 and "история с 01.06.2026; 1 бронь" in fig.layout.title.subtitle.text
    lead = charts.lead_time_histogram(metrics.lead_times(store))
    assert list(lead.data[0].y) == [0, 0, 0, 1, 0, 0, 0]  # 30 days ahead


def test_coverage_keeps_each_night_with_the_time_it_was_first_read(tmp_path):
    store = Store(tmp_path / "c.duckdb")
    t = [dt.datetime(2026, 6, d, 9) for d in (1, 2, 3, 4)]
    assert store.record_booking_coverage(USER, [(A, "2026-06-01", "2026-06-10"), (B, "2026-06-01", "2026-06-02")],
                                         t[0]) == 2
    assert store.record_booking_coverage(USER, [(A, "2026-06-15", "2026-06-17")], t[1]) == 1  # leaves a hole
    # Wider on both sides and over the hole; a second window of the same listing in the same call.
    assert store.record_booking_coverage(USER, [(A, "2026-05-25", "2026-06-20"), (A, "2026-06-01", "2026-07-01")],
                                         t[2]) == 4
    assert store.record_booking_coverage(USER, [(A, "2026-06-02", "2026-06-05"), (B, "2026-06-03", "2026-06-01")],
                                         t[3]) == 0  # read before; an empty window covers nothing
    ranges = store.booking_coverage(A)
    assert [(str(r.cover_from.date()), str(r.cover_to.date()), r.observed_at.day) for r in ranges.itertuples()] == [
        ("2026-05-25", "2026-05-31", 3), ("2026-06-01", "2026-06-10", 1), ("2026-06-11", "2026-06-14", 3),
        ("2026-06-15", "2026-06-17", 2), ("2026-06-18", "2026-06-20", 3), ("2026-06-21", "2026-07-01", 3)]
