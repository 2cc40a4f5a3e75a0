"""Metrics: every number hand-computed on a tiny store, one behaviour (METRICS.md) per test."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from avito_kit import charts, metrics
from avito_kit.store import Store

USER = 42
OTHER_USER = 43
A, B, C, D = 3_000_000_001, 3_000_000_002, 3_000_000_003, 3_000_000_004
T0 = dt.datetime(2025, 5, 1, 9, 0)
KPI_COLUMNS = ["period", "item_id", "nights_total", "nights_blocked", "nights_available", "nights_booked",
               "occupancy", "paid_occupancy", "revenue", "adr", "revpar", "stays", "alos"]
FACT_COLUMNS = ["item_id", "title", "night", "state", "booking_id", "guest_name", "nightly_revenue", "check_in",
                "check_out"]
Day = pd.Timestamp


@pytest.fixture
def store(tmp_path):
    """Kept open through the test: a test writes and reads it dozens of times, and each reopening of the file
    costs a checkpoint."""
    store = Store(tmp_path / "m.duckdb")
    with store.kept_open():
        yield store


def add_items(store: Store, *rows: dict, user_id: int = USER) -> None:
    """Listings; each row overrides an active listing titled by its id."""
    store.upsert_items(pd.DataFrame([{"status": "active", "title": str(r["item_id"]), **r} for r in rows]), user_id)


_next_id = iter(range(2**63, 2**63 + 10_000))


def add_booking(store: Store, item_id: int, check_in: str, check_out: str, base_price: float, *,
                status: str = "active", booking_id: int | None = None, seen: dt.datetime = T0,
                user_id: int = USER, guest_name: str = "Гость") -> int:
    """One sighting of one booking (a new one unless booking_id is given); returns its id."""
    booking_id = next(_next_id) if booking_id is None else booking_id
    store.upsert_bookings(pd.DataFrame([{
        "booking_id": booking_id, "item_id": item_id, "check_in": check_in, "check_out": check_out,
        "status": status, "base_price": base_price, "guest_name": guest_name}]), user_id, observed_at=seen)
    return booking_id


def watched(store: Store, *item_ids: int, since: dt.datetime = dt.datetime(2024, 1, 1),
            nights: tuple[str, str] = ("2024-01-01", "2026-12-31")) -> None:
    """A sync read these listings' bookings for ``nights`` at ``since``: bookings first seen later were observed
    when made (metrics' left-censoring rule), and the months of ``nights`` have history."""
    store.record_booking_coverage(USER, [(item_id, *nights) for item_id in item_ids], observed_at=since)


def block(store: Store, item_id: int, *ranges: tuple[str, str]) -> None:
    store.replace_calendar_blocks(USER, item_id, pd.DataFrame(
        [{"date_start": start, "date_end": end} for start, end in ranges]))


def row(df: pd.DataFrame, **where) -> pd.Series:
    """The one row matching ``where`` (item_id=None picks the total row)."""
    mask = pd.Series(True, index=df.index)
    for column, value in where.items():
        mask &= df[column].isna() if value is None else df[column] == value
    found = df[mask]
    assert len(found) == 1, f"{len(found)} rows match {where}:\n{df}"
    return found.iloc[0]


def total(df: pd.DataFrame, period: str | None = None) -> pd.Series:
    return row(df, item_id=None) if period is None else row(df, item_id=None, period=Day(period))


# -- the per-night fact and the core KPIs ------------------------------------------------------------------------


def test_a_stay_across_both_ends_counts_only_its_nights_inside(store):
    add_items(store, {"item_id": A, "title": "Студия"})
    first = add_booking(store, A, "2025-06-28", "2025-07-03", 5000, guest_name="Анна")  # 1000 a night
    add_booking(store, A, "2025-07-09", "2025-07-14", 10000)  # 2000 a night, 2 of 5 nights inside

    facts = metrics.nightly_facts(store, "2025-07-01", dt.date(2025, 7, 10))
    assert list(facts.columns) == FACT_COLUMNS
    assert len(facts) == 10 and facts.night.min() == Day("2025-07-01") and facts.night.max() == Day("2025-07-10")
    july1 = row(facts, night=Day("2025-07-01"))
    assert (july1.state, july1.booking_id, july1.guest_name, july1.nightly_revenue) == ("booked", first, "Анна", 1000)
    assert (july1.check_in, july1.check_out, july1.title) == (Day("2025-06-28"), Day("2025-07-03"), "Студия")
    assert facts.state.tolist() == ["booked"] * 2 + ["free"] * 6 + ["booked"] * 2
    assert facts.booking_id.dtype == "UInt64" and facts.booking_id.isna().sum() == 6
    assert facts.nightly_revenue.tolist() == [1000, 1000, 0, 0, 0, 0, 0, 0, 2000, 2000]

    kpis = metrics.kpis(store, "2025-07-01", "2025-07-10")
    assert list(kpis.columns) == KPI_COLUMNS
    item = row(kpis, item_id=A)
    assert item.period == Day("2025-07-01")
    assert (item.nights_total, item.nights_available, item.nights_booked) == (10, 10, 4)
    assert item.revenue == 6000 and item.adr == 1500 and item.revpar == 600
    assert item.occupancy == 0.4 and item.paid_occupancy == 0.4
    assert item.stays == 1 and item.alos == 5  # the stay checking in on 07-09 counts all 5 nights


def test_a_stay_across_a_month_boundary_splits_between_months(store):
    add_items(store, {"item_id": A})
    add_booking(store, A, "2025-01-30", "2025-02-03", 8000)  # 2000 a night: 2 in January, 2 in February

    monthly = metrics.kpis(store, "2025-01-15", "2025-02-10", by="month")
    assert monthly.period.tolist() == [Day("2025-01-01")] * 2 + [Day("2025-02-01")] * 2
    jan, feb = row(monthly, item_id=A, period=Day("2025-01-01")), row(monthly, item_id=A, period=Day("2025-02-01"))
    assert (jan.nights_total, jan.nights_booked, jan.revenue, jan.stays, jan.alos) == (17, 2, 4000, 1, 4)
    assert (feb.nights_total, feb.nights_booked, feb.revenue, feb.stays) == (10, 2, 4000, 0)
    assert math.isnan(feb.alos) and feb.adr == 2000
    assert total(monthly, "2025-02-01").revenue == 4000

    weekly = metrics.kpis(store, "2025-01-27", "2025-02-09", by="week")  # Mondays 01-27 and 02-03
    assert sorted(set(weekly.period)) == [Day("2025-01-27"), Day("2025-02-03")]
    assert row(weekly, item_id=A, period=Day("2025-01-27")).nights_booked == 4
    assert row(weekly, item_id=A, period=Day("2025-02-03")).nights_booked == 0


@pytest.mark.parametrize("status", ["canceled", "pending", "overbook"])
def test_only_active_bookings_occupy_nights(store, status):
    add_items(store, {"item_id": A})
    add_booking(store, A, "2025-07-01", "2025-07-03", 4000, status=status)
    facts = metrics.nightly_facts(store, "2025-07-01", "2025-07-03")
    assert facts.state.tolist() == ["free"] * 3
    item = row(metrics.kpis(store, "2025-07-01", "2025-07-03"), item_id=A)
    assert (item.nights_booked, item.revenue, item.stays) == (0, 0, 0)


def test_blocks_reduce_available_nights_and_a_booked_block_counts_as_booked(store):
    add_items(store, {"item_id": A})
    block(store, A, ("2025-07-05", "2025-07-08"))  # nights 5, 6, 7 (end exclusive)
    add_booking(store, A, "2025-07-06", "2025-07-07", 3000)

    facts = metrics.nightly_facts(store, "2025-07-01", "2025-07-10")
    assert facts.set_index("night").state.loc[Day("2025-07-04"):Day("2025-07-08")].tolist() == [
        "free", "blocked", "booked", "blocked", "free"]
    item = row(metrics.kpis(store, "2025-07-01", "2025-07-10"), item_id=A)
    assert (item.nights_total, item.nights_blocked, item.nights_available, item.nights_booked) == (10, 2, 8, 1)
    assert item.occupancy == 1 / 8 and item.paid_occupancy == 1 / 10 and item.revpar == 3000 / 8


def test_an_overbooked_night_counts_once_for_the_earlier_stay(store):
    add_items(store, {"item_id": A})
    first = add_booking(store, A, "2025-07-01", "2025-07-04", 3000)
    second = add_booking(store, A, "2025-07-03", "2025-07-05", 8000)
    facts = metrics.nightly_facts(store, "2025-07-01", "2025-07-05")
    assert facts.booking_id.tolist()[:4] == [first, first, first, second]
    assert facts.nightly_revenue.tolist() == [1000, 1000, 1000, 4000, 0]
    assert row(metrics.kpis(store, "2025-07-01", "2025-07-05"), item_id=A).nights_booked == 4


def test_which_listings_count(store):
    add_items(store, {"item_id": A, "status": "active"}, {"item_id": B, "status": "removed"},
              {"item_id": C, "status": "removed"}, {"item_id": D, "status": "old"})
    add_booking(store, B, "2025-07-02", "2025-07-03", 1500)  # removed but booked in the period: counted
    add_booking(store, D, "2025-06-01", "2025-06-05", 1500)  # booked only outside the period: not counted
    kpis = metrics.kpis(store, "2025-07-01", "2025-07-10")
    assert kpis.item_id.tolist()[:-1] == [A, B]
    assert kpis.item_id.dtype == "Int64" and pd.isna(kpis.item_id.iloc[-1])
    idle = row(kpis, item_id=A)  # an active listing with nothing booked still counts, at 0
    assert (idle.nights_available, idle.nights_booked, idle.occupancy, idle.revenue) == (10, 0, 0.0, 0.0)
    assert math.isnan(idle.adr) and math.isnan(idle.alos)
    assert total(kpis).nights_total == 20
    assert set(metrics.nightly_facts(store, "2025-07-01", "2025-07-10").item_id) == {A, B}

    # by month, a removed listing counts only in the months it has a booked night
    monthly = metrics.kpis(store, "2025-06-01", "2025-07-31", by="month")
    assert set(monthly[monthly.period == Day("2025-06-01")].item_id.dropna()) == {A, D}
    assert set(monthly[monthly.period == Day("2025-07-01")].item_id.dropna()) == {A, B}


def test_the_total_row_sums_and_recomputes_ratios(store):
    add_items(store, {"item_id": A}, {"item_id": B})
    add_booking(store, A, "2025-07-01", "2025-07-02", 1000)  # A: 1 of 10 available -> 0.1
    block(store, B, ("2025-07-01", "2025-07-09"))  # B: 2 available, both booked -> 1.0
    add_booking(store, B, "2025-07-09", "2025-07-11", 9000, guest_name="Б")
    add_booking(store, B, "2025-07-05", "2025-07-08", 6000, status="canceled")

    kpis = metrics.kpis(store, "2025-07-01", "2025-07-10")
    assert row(kpis, item_id=A).occupancy == 0.1 and row(kpis, item_id=B).occupancy == 1.0
    tot = total(kpis)
    assert (tot.nights_total, tot.nights_blocked, tot.nights_available, tot.nights_booked) == (20, 8, 12, 3)
    assert tot.occupancy == 3 / 12  # not the average of ratios, 0.55
    assert tot.paid_occupancy == 3 / 20 and tot.revenue == 10000 and tot.adr == 10000 / 3
    assert tot.revpar == 10000 / 12 and tot.stays == 2 and tot.alos == 1.5

    only_total = metrics.kpis(store, "2025-07-01", "2025-07-10", by="total")
    assert len(only_total) == 1
    pd.testing.assert_series_equal(only_total.iloc[0], tot, check_names=False)

    just_a = metrics.kpis(store, "2025-07-01", "2025-07-10", item_ids=[A])
    assert just_a.item_id.tolist()[:-1] == [A] and total(just_a).nights_booked == 1


def test_no_data_gives_nulls_not_errors(store):
    kpis = metrics.kpis(store, "2025-07-01", "2025-07-01")
    assert len(kpis) == 1 and pd.isna(kpis.item_id[0])
    tot = kpis.iloc[0]
    assert (tot.nights_total, tot.nights_booked, tot.revenue, tot.stays) == (0, 0, 0.0, 0)
    for ratio in ("occupancy", "paid_occupancy", "adr", "revpar", "alos"):
        assert math.isnan(tot[ratio])
    monthly = metrics.kpis(store, "2025-01-01", "2025-03-31", by="month")
    assert monthly.period.tolist() == [Day("2025-01-01"), Day("2025-02-01"), Day("2025-03-01")]
    assert monthly.occupancy.isna().all()
    assert metrics.nightly_facts(store, "2025-07-01", "2025-07-31").empty
    assert metrics.forward_occupancy(store, "2025-07-01").occupancy.isna().all()
    assert metrics.weekday_split(store, "2025-07-01", "2025-07-31").adr.isna().all()
    assert metrics.year_over_year(store, 2025).occupancy.isna().all()
    assert math.isnan(metrics.cancellation_summary(store, "2025-07-01", "2025-07-31").cancellation_rate[0])
    summary = metrics.messaging_summary(store).iloc[0]
    assert summary.chats == 0 and math.isnan(summary.median_response_minutes)
    assert metrics.on_the_books(store, "2025-07-01", "2025-07-31", "2025-06-01").nights_booked[0] == 0
    assert metrics.gap_nights(store, "2025-07-01", "2025-07-31").empty


def test_filters_and_bad_input(store):
    add_items(store, {"item_id": A})
    add_items(store, {"item_id": B}, user_id=OTHER_USER)
    add_booking(store, B, "2025-07-01", "2025-07-02", 500, user_id=OTHER_USER)
    assert metrics.kpis(store, "2025-07-01", "2025-07-02").item_id.tolist()[:-1] == [A, B]
    assert metrics.kpis(store, "2025-07-01", "2025-07-02", user_id=USER).item_id.tolist()[:-1] == [A]
    assert metrics.nightly_facts(store, "2025-07-01", "2025-07-02", B).item_id.unique().tolist() == [B]
    with pytest.raises(ValueError, match="date_to"):
        metrics.kpis(store, "2025-07-02", "2025-07-01")
    with pytest.raises(ValueError, match="date_from"):
        metrics.nightly_facts(store, "01.07.2025", "2025-07-02")
    with pytest.raises(ValueError, match="by must be"):
        metrics.kpis(store, "2025-07-01", "2025-07-02", by="day")
    with pytest.raises(ValueError, match="item_ids"):
        metrics.kpis(store, "2025-07-01", "2025-07-02", item_ids=["A"])
    with pytest.raises(ValueError, match="min_stay"):
        metrics.gap_nights(store, "2025-07-01", "2025-07-02", min_stay=0)


# -- forward, year over year ---------------------------------------------------------------------------------


def test_forward_occupancy(store):
    add_items(store, {"item_id": A})
    add_booking(store, A, "2025-07-01", "2025-07-04", 3000)
    add_booking(store, A, "2025-07-20", "2025-07-22", 4000)
    block(store, A, ("2025-07-10", "2025-07-12"))
    forward = metrics.forward_occupancy(store, "2025-07-01", horizons=(30, 7))
    assert list(forward.columns) == ["horizon_days", "date_from", "date_to", "nights_available", "nights_booked",
                                     "occupancy", "revenue"]
    week, month = row(forward, horizon_days=7), row(forward, horizon_days=30)
    assert (week.date_from, week.date_to) == (Day("2025-07-01"), Day("2025-07-07"))
    assert (week.nights_available, week.nights_booked, week.occupancy, week.revenue) == (7, 3, 3 / 7, 3000)
    assert month.date_to == Day("2025-07-30")
    assert (month.nights_available, month.nights_booked, month.occupancy, month.revenue) == (28, 5, 5 / 28, 7000)


def test_today_is_avitos_moscow_date_not_the_machines(store):
    add_items(store, {"item_id": A})
    late_evening = dt.datetime(2026, 12, 1, 22, 30, tzinfo=dt.UTC)  # 01:30 on 2 December in Moscow

    def clock() -> dt.datetime:
        return late_evening

    forward = metrics.forward_occupancy(store, horizons=(7,), clock=clock)
    assert (forward.date_from[0], forward.date_to[0]) == (Day("2026-12-02"), Day("2026-12-08"))
    pace = metrics.pace(store, "2027-01-01", "2027-01-31", days_back=0, clock=clock)
    assert pace.as_of.tolist() == [Day("2026-12-02")]
    new_year = dt.datetime(2026, 12, 31, 21, 30, tzinfo=dt.UTC)  # already 2027 in Moscow
    assert metrics.year_over_year(store, clock=lambda: new_year).month[0] == Day("2027-01-01")


def test_year_over_year(store):
    add_items(store, {"item_id": A})
    watched(store, A)  # every month of both years has history: a month without bookings is a true 0
    add_booking(store, A, "2024-03-10", "2024-03-15", 5000)
    add_booking(store, A, "2025-03-01", "2025-03-11", 20000)
    yoy = metrics.year_over_year(store, 2025)
    assert list(yoy.columns) == ["month", "occupancy", "revenue", "adr", "revpar", "nights_booked", "ly_occupancy",
                                 "ly_revenue", "ly_adr", "ly_revpar", "ly_nights_booked"]
    assert yoy.month.tolist() == [Day(f"2025-{m:02d}-01") for m in range(1, 13)]
    march = row(yoy, month=Day("2025-03-01"))
    assert (march.nights_booked, march.occupancy, march.revenue, march.adr) == (10, 10 / 31, 20000, 2000)
    assert march.revpar == 20000 / 31
    assert (march.ly_nights_booked, march.ly_occupancy, march.ly_revenue, march.ly_adr) == (5, 5 / 31, 5000, 1000)
    assert yoy.revenue.sum() == 20000 and yoy.ly_revenue.sum() == 5000
    assert row(yoy, month=Day("2025-02-01")).ly_occupancy == 0


# -- on the books, pace, pickup ---------------------------------------------------------------------------------


@pytest.fixture
def history(store):
    """A scripted booking history for nights 2025-08-01 .. 08-10 (and the same period of 2024), watched by syncs
    since January 2024: every booking below was observed when made."""
    add_items(store, {"item_id": A}, {"item_id": B})
    watched(store, A, B)
    at = dt.datetime
    b1 = add_booking(store, A, "2025-08-01", "2025-08-04", 9000, seen=at(2025, 6, 1, 10))
    b2 = add_booking(store, A, "2025-08-05", "2025-08-07", 4000, status="pending", seen=at(2025, 6, 10, 8))
    add_booking(store, A, "2025-08-05", "2025-08-07", 4000, booking_id=b2, seen=at(2025, 6, 15, 8))  # paid
    add_booking(store, A, "2025-08-08", "2025-08-12", 8000, seen=at(2025, 6, 12, 8))  # 3 of 4 nights inside
    b4 = add_booking(store, B, "2025-07-20", "2025-07-22", 6000, seen=at(2025, 6, 5, 8))  # outside, then moved
    add_booking(store, B, "2025-08-01", "2025-08-03", 6000, booking_id=b4, seen=at(2025, 6, 18, 8))
    add_booking(store, A, "2025-08-01", "2025-08-04", 9000, booking_id=b1, status="canceled",
                seen=at(2025, 6, 20, 23, 59))
    add_booking(store, A, "2024-08-02", "2024-08-04", 3000, seen=at(2024, 6, 5, 8))  # last year
    return store


@pytest.mark.parametrize(("as_of", "nights", "revenue"), [
    ("2025-05-31", 0, 0),          # nothing seen yet
    ("2025-06-01", 3, 9000),       # b1
    ("2025-06-10", 3, 9000),       # b2 is pending, b4 outside the period
    ("2025-06-12", 6, 15000),      # + b3's 3 nights inside
    ("2025-06-15", 8, 19000),      # + b2 paid
    ("2025-06-19", 10, 25000),     # + b4 moved into the period
    ("2025-06-20", 7, 16000),      # b1 cancelled late that day: the end of the day counts
])
def test_on_the_books_as_known_at_the_end_of_a_day(history, as_of, nights, revenue):
    otb = metrics.on_the_books(history, "2025-08-01", "2025-08-10", as_of)
    assert list(otb.columns) == ["as_of", "nights_booked", "revenue"]
    assert (otb.as_of[0], otb.nights_booked[0], otb.revenue[0]) == (Day(as_of), nights, revenue)


def test_on_the_books_today_agrees_with_the_nightly_facts(history):
    otb = metrics.on_the_books(history, "2025-08-01", "2025-08-10", dt.date.today())
    tot = metrics.kpis(history, "2025-08-01", "2025-08-10", by="total").iloc[0]
    assert (otb.nights_booked[0], otb.revenue[0]) == (tot.nights_booked, tot.revenue) == (7, 16000)


def test_pace_against_last_year_and_pickup(history):
    pace = metrics.pace(history, "2025-08-01", "2025-08-10", as_of="2025-06-20", days_back=20)
    assert list(pace.columns) == ["as_of", "days_before", "nights_booked", "revenue", "ly_as_of", "ly_nights_booked",
                                  "ly_revenue"]
    assert len(pace) == 21 and pace.as_of.iloc[0] == Day("2025-05-31") and pace.as_of.iloc[-1] == Day("2025-06-20")
    assert pace.days_before.iloc[-1] == 42 and pace.days_before.iloc[0] == 62
    assert pace.set_index("as_of").nights_booked[[Day("2025-06-01"), Day("2025-06-12"), Day("2025-06-20")]].tolist() \
        == [3, 6, 7]
    june4, june5 = row(pace, as_of=Day("2025-06-04")), row(pace, as_of=Day("2025-06-05"))
    assert june5.ly_as_of == Day("2024-06-05")
    assert (june4.ly_nights_booked, june5.ly_nights_booked, june5.ly_revenue) == (0, 2, 3000)

    pickup = metrics.pickup(history, "2025-08-01", "2025-08-10", as_of="2025-06-20")
    assert list(pickup.columns) == ["nights_added", "revenue_added", "nights_now", "nights_then"]
    assert pickup.iloc[0].tolist() == [1, 1000, 7, 6]  # 06-13: b1 + b3; 06-20: b2 + b3 + b4


# -- lead time, length of stay, cancellations --------------------------------------------------------------------


def test_lead_times_and_length_of_stay(store):
    add_items(store, {"item_id": A})
    early = add_booking(store, A, "2025-06-11", "2025-06-14", 3000, seen=dt.datetime(2025, 6, 1, 23, 30))
    late = add_booking(store, A, "2025-06-10", "2025-06-11", 1000, seen=dt.datetime(2025, 6, 15, 8))
    add_booking(store, A, "2025-06-20", "2025-06-23", 3000, seen=dt.datetime(2025, 6, 2, 8))
    add_booking(store, A, "2025-06-25", "2025-06-28", 3000, status="canceled")
    leads = metrics.lead_times(store, "2025-06-01", "2025-06-15")
    assert list(leads.columns) == ["booking_id", "item_id", "first_seen", "check_in", "lead_days"]
    assert leads.booking_id.tolist() == [late, early]
    assert leads.lead_days.tolist() == [0, 10]  # seen after check-in: floored at 0
    assert row(leads, booking_id=early).first_seen == Day("2025-06-01")
    assert len(metrics.lead_times(store)) == 3
    los = metrics.length_of_stay(store, "2025-06-01", "2025-06-30")
    assert los.to_dict("list") == {"nights": [1, 3], "stays": [1, 2]}


def test_cancellations_by_the_day_observed(store):
    add_items(store, {"item_id": A})
    watched(store, A)
    day1, day3 = dt.datetime(2025, 6, 1, 12), dt.datetime(2025, 6, 3, 12)
    paid = add_booking(store, A, "2025-07-01", "2025-07-04", 9000, seen=day1)
    unpaid = add_booking(store, A, "2025-07-10", "2025-07-11", 2000, status="pending", seen=day1)
    moved = add_booking(store, A, "2025-07-20", "2025-07-21", 1000, seen=day1)
    add_booking(store, A, "2025-07-25", "2025-07-26", 5000, status="canceled", seen=day1)  # never on the books
    add_booking(store, A, "2025-07-01", "2025-07-04", 9000, booking_id=paid, status="canceled", seen=day3)
    add_booking(store, A, "2025-07-10", "2025-07-11", 2000, booking_id=unpaid, status="canceled", seen=day3)
    add_booking(store, A, "2025-07-22", "2025-07-23", 1000, booking_id=moved, seen=day3)  # a change, not a cancel
    add_booking(store, A, "2025-07-01", "2025-07-04", 4500, booking_id=paid, status="canceled",
                seen=day3 + dt.timedelta(hours=1))  # a fee on the cancelled booking: no second cancellation

    daily = metrics.cancellations(store, "2025-06-01", "2025-06-03")
    assert list(daily.columns) == ["observed", "cancellations", "lost_revenue", "bookings_seen",
                                   "observed_cancellations", "cancellation_rate"]
    assert daily.observed.tolist() == [Day("2025-06-01"), Day("2025-06-02"), Day("2025-06-03")]
    assert daily.cancellations.tolist() == [0, 0, 2]
    assert daily.lost_revenue.tolist() == [0, 0, 11000]
    assert daily.bookings_seen.tolist() == [3, 0, 0]
    assert daily.cancellation_rate[0] == 0 and daily.cancellation_rate[1:].isna().all()
    summary = metrics.cancellation_summary(store, "2025-06-01", "2025-06-03")
    assert summary.iloc[0].tolist() == [2, 11000, 3, 2, 2 / 3]
    assert metrics.cancellation_summary(store, "2025-06-02", "2025-06-03").cancellations[0] == 2


# -- calendar shape --------------------------------------------------------------------------------------------


def test_gap_nights_between_stays_shorter_than_min_stay(store):
    add_items(store, {"item_id": A, "title": "Лофт"})
    add_booking(store, A, "2025-07-01", "2025-07-03", 2000)
    add_booking(store, A, "2025-07-04", "2025-07-06", 2000)  # gap: night 07-03
    add_booking(store, A, "2025-07-08", "2025-07-10", 2000)  # gap: nights 07-06, 07-07
    block(store, A, ("2025-07-11", "2025-07-12"))            # free 07-10 then blocked: no gap
    add_booking(store, A, "2025-07-12", "2025-07-14", 2000)

    gaps = metrics.gap_nights(store, "2025-07-01", "2025-07-20")
    assert list(gaps.columns) == ["item_id", "title", "gap_start", "gap_end", "nights"]
    assert gaps.to_dict("records") == [
        {"item_id": A, "title": "Лофт", "gap_start": Day("2025-07-03"), "gap_end": Day("2025-07-04"), "nights": 1}]
    wider = metrics.gap_nights(store, "2025-07-01", "2025-07-20", min_stay=3)
    assert wider.gap_start.tolist() == [Day("2025-07-03"), Day("2025-07-06")]
    assert wider.nights.tolist() == [1, 2]
    # the stay before a gap at the start of the period lies outside it, and is still seen
    assert metrics.gap_nights(store, "2025-07-03", "2025-07-20").gap_start.tolist() == [Day("2025-07-03")]


def test_weekday_split_and_heatmap(store):
    add_items(store, {"item_id": A})
    add_booking(store, A, "2025-07-11", "2025-07-13", 6000)  # Friday and Saturday nights
    add_booking(store, A, "2025-07-08", "2025-07-09", 1000)  # a Tuesday night
    split = metrics.weekday_split(store, "2025-07-07", "2025-07-13")  # Monday .. Sunday
    assert list(split.columns) == ["day_type", "nights_available", "nights_booked", "occupancy", "revenue", "adr"]
    assert split.day_type.tolist() == ["weekday", "weekend"]
    assert split.iloc[0, 1:].tolist() == [5, 1, 0.2, 1000, 1000]
    assert split.iloc[1, 1:].tolist() == [2, 2, 1.0, 6000, 3000]
    sat_sun = metrics.weekday_split(store, "2025-07-07", "2025-07-13", weekend_days=(5, 6))
    assert sat_sun.nights_booked.tolist() == [2, 1]

    heat = metrics.weekday_heatmap(store, "2025-07-07", "2025-07-13")
    assert list(heat.columns) == ["weekday", "week_start", "occupancy"]
    assert heat.weekday.tolist() == list(range(7)) and (heat.week_start == Day("2025-07-07")).all()
    assert heat.occupancy.tolist() == [0, 1, 0, 0, 1, 1, 0]


# -- demand and messages -----------------------------------------------------------------------------------------


def test_listing_funnel_per_week(store):
    add_items(store, {"item_id": A, "title": "Студия"})
    watched(store, A)
    store.upsert_item_stats(pd.DataFrame({
        "item_id": [A, A, A], "date": ["2025-06-02", "2025-06-03", "2025-06-09"],
        "uniq_views": [100, 50, 30], "uniq_contacts": [5, 3, 1], "uniq_favorites": [7, 2, 0]}), USER)
    add_booking(store, A, "2025-07-01", "2025-07-03", 1, seen=dt.datetime(2025, 6, 3, 9))
    add_booking(store, A, "2025-07-05", "2025-07-06", 1, status="pending", seen=dt.datetime(2025, 6, 4, 9))
    add_booking(store, A, "2025-07-08", "2025-07-09", 1, status="canceled", seen=dt.datetime(2025, 6, 5, 9))
    funnel = metrics.listing_funnel(store, "2025-06-01", "2025-06-15")
    assert list(funnel.columns) == ["week_start", "item_id", "title", "views", "contacts", "favorites", "bookings"]
    assert funnel.to_dict("records") == [
        {"week_start": Day("2025-06-02"), "item_id": A, "title": "Студия", "views": 150, "contacts": 8,
         "favorites": 9, "bookings": 2},
        {"week_start": Day("2025-06-09"), "item_id": A, "title": "Студия", "views": 30, "contacts": 1,
         "favorites": 0, "bookings": 0},
    ]


def t(hh_mm: str) -> pd.Timestamp:
    """A time of day on 1 June 2025, when the chats below talk."""
    return pd.Timestamp(f"2025-06-01 {hh_mm}")


def add_chats(store: Store, messages: list[tuple[str, str, str, str]], **columns: list) -> None:
    """Chats u2i-1, u2i-2 (listing A) and u2i-3 (B) and their (chat_id, direction, type, "HH:MM") messages."""
    store.upsert_chats(pd.DataFrame({"chat_id": ["u2i-1", "u2i-2", "u2i-3"], "item_id": [A, A, B],
                                     "other_user_name": ["Анна", "Борис", "Вера"]}), USER)
    store.upsert_messages(pd.DataFrame({
        "message_id": [f"m{i}" for i in range(len(messages))], "chat_id": [m[0] for m in messages],
        "direction": [m[1] for m in messages], "type": [m[2] for m in messages],
        "created": [t(m[3]) for m in messages], **columns}), USER)


def test_messaging_response_time_and_unanswered_chats(store):
    add_chats(store, [
        ("u2i-1", "in", "text", "10:00"), ("u2i-1", "in", "text", "10:05"), ("u2i-1", "out", "text", "10:30"),
        ("u2i-1", "in", "text", "11:00"), ("u2i-1", "in", "text", "11:10"),  # waiting since 11:00
        ("u2i-2", "in", "system", "09:00"), ("u2i-2", "in", "text", "09:10"), ("u2i-2", "out", "text", "09:25"),
        ("u2i-3", "out", "text", "08:00"),  # the host wrote first; nobody is waiting
    ])

    chats = metrics.messaging(store).set_index("chat_id")
    assert list(chats.reset_index().columns) == [
        "chat_id", "item_id", "other_user_name", "first_incoming_at", "first_response_at", "response_minutes",
        "answered", "last_message_at", "waiting_since"]
    one, two, three = chats.loc["u2i-1"], chats.loc["u2i-2"], chats.loc["u2i-3"]
    assert (one.first_incoming_at, one.first_response_at, one.response_minutes) == (t("10:00"), t("10:30"), 30)
    assert not one.answered and one.waiting_since == t("11:00") and one.last_message_at == t("11:10")
    assert (two.first_incoming_at, two.response_minutes, two.answered) == (t("09:10"), 15, True)
    assert pd.isna(two.waiting_since)
    assert three.answered and pd.isna(three.first_incoming_at) and math.isnan(three.response_minutes)
    assert metrics.messaging(store, item_ids=[B]).chat_id.tolist() == ["u2i-3"]

    summary = metrics.messaging_summary(store)
    assert summary.iloc[0].tolist() == [3, 2, 1, 22.5]


def test_a_system_message_neither_asks_nor_answers_and_the_inbox_counts_alike(store):
    add_chats(store, [
        ("u2i-1", "in", "system", "09:00"),  # Avito's booking request alone: no guest waits
        ("u2i-2", "in", "text", "10:00"), ("u2i-2", "out", "system", "10:05"),  # not the host's answer
        ("u2i-3", "in", "text", "11:00"), ("u2i-3", "out", "text", "11:20"), ("u2i-3", "in", "system", "11:30"),
    ], is_read=[True] * 6)

    chats = metrics.messaging(store).set_index("chat_id")
    assert chats.answered.to_dict() == {"u2i-1": True, "u2i-2": False, "u2i-3": True}
    assert chats.loc["u2i-2", "waiting_since"] == t("10:00") and chats.loc["u2i-3", "response_minutes"] == 20

    inbox = metrics.inbox(store, now=t("12:00").to_pydatetime())
    assert inbox.chat_id[0] == "u2i-2" and inbox.needs_attention.tolist() == [True, False, False]
    assert inbox.waited[0] == dt.timedelta(hours=2) and inbox.waited[1:].isna().all()
    assert inbox.set_index("chat_id").waiting_since.equals(chats.waiting_since.reindex(inbox.chat_id))
    assert metrics.messaging_summary(store).unanswered[0] == inbox.waiting_since.notna().sum() == 1


def test_inbox_lists_unread_chats_with_their_last_message(store):
    store.upsert_chats(pd.DataFrame({"chat_id": ["u2i-1", "u2i-2"], "item_id": [A, A],
                                     "other_user_name": ["Анна", "Борис"]}), USER)
    add_items(store, {"item_id": A, "title": "Студия"})
    store.upsert_messages(pd.DataFrame({
        "message_id": ["m1", "m2", "m3"], "chat_id": ["u2i-1", "u2i-1", "u2i-2"], "direction": ["in", "out", "in"],
        "type": ["text", "text", "system"], "text": ["Свободно?", "Да", "Новый запрос на бронирование"],
        "created": [T0, T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=1)],
        "is_read": [True, True, False]}), USER)
    inbox = metrics.inbox(store).set_index("chat_id")
    assert inbox.loc["u2i-1", ["title", "last_text", "last_direction", "unread"]].tolist() == ["Студия", "Да", "out", 0]
    # An unread booking request needs the host's eye although no guest waits for an answer.
    assert inbox.loc["u2i-2", ["unread", "needs_attention"]].tolist() == [1, True]
    assert pd.isna(inbox.loc["u2i-2", "waiting_since"]) and inbox.index[0] == "u2i-2"


def test_night_states_put_bookings_over_blocks_over_pending():
    first = dt.date(2027, 3, 1)
    bookings = pd.DataFrame({"check_in": [dt.date(2027, 3, 2), dt.date(2027, 3, 5)],
                             "check_out": [dt.date(2027, 3, 4), dt.date(2027, 3, 7)],
                             "status": ["active", "pending"], "guest_name": ["Анна", "Олег"]})
    blocks = pd.DataFrame({"date_start": [dt.date(2027, 3, 3)], "date_end": [dt.date(2027, 3, 6)],
                           "comment": [None]})
    states = metrics.night_states(first, dt.date(2027, 3, 8), bookings, blocks)
    assert [s for s, _ in states.values()] == ["free", "booked", "booked", "blocked", "blocked", "pending", "free"]


def test_guest_booking_matches_first_name_and_initial(store):
    add_items(store, {"item_id": A})
    add_booking(store, A, "2025-07-01", "2025-07-04", 3000, guest_name="Максим Кузнецов")
    add_booking(store, A, "2025-07-10", "2025-07-12", 3000, guest_name="Максим Петров")
    booking = metrics.guest_booking(store, A, "Максим П.", dt.date(2025, 6, 1))
    assert (booking["check_in"], booking["check_out"]) == (dt.date(2025, 7, 10), dt.date(2025, 7, 12))
    assert metrics.guest_booking(store, A, "Максим К.", dt.date(2025, 7, 5)) is None  # that stay is over
    assert metrics.guest_booking(store, A, None, dt.date(2025, 6, 1)) is None


def test_grid_adds_the_price_and_sorts_by_title(store):
    add_items(store, {"item_id": A, "title": "Б-квартира", "price": 3500}, {"item_id": B, "title": "А-студия"})
    add_booking(store, A, "2025-07-01", "2025-07-02", 3000)
    grid = metrics.grid(store, "2025-07-01", "2025-07-02")
    assert list(grid.columns) == [*FACT_COLUMNS, "price"]
    assert grid.title.tolist() == ["А-студия", "А-студия", "Б-квартира", "Б-квартира"]
    assert grid.night.tolist() == [Day("2025-07-01"), Day("2025-07-02")] * 2
    assert grid.price.iloc[2] == 3500 and grid.price.iloc[:2].isna().all()
    assert grid.state.tolist() == ["free", "free", "booked", "free"]


# -- scale -------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_kpis_by_month_over_a_large_store(store):
    """A smoke test at scale (1,000 listings x 3 years): it runs, and the totals add up. Not timed."""
    rng = np.random.default_rng(7)
    ids = np.arange(1, 1001, dtype="int64") + 3_000_000_000
    store.upsert_items(pd.DataFrame({"item_id": ids, "title": ids.astype(str), "status": "active"}), USER)
    per_item = 150
    nights = rng.integers(1, 8, (len(ids), per_item))
    starts = np.cumsum(nights + rng.integers(0, 4, (len(ids), per_item)), axis=1) - nights
    check_in = pd.Timestamp("2023-01-01") + pd.to_timedelta(starts.ravel(), unit="D")
    frame = pd.DataFrame({
        "booking_id": np.arange(nights.size, dtype="uint64") + np.uint64(2**63),
        "item_id": np.repeat(ids, per_item), "check_in": check_in,
        "check_out": check_in + pd.to_timedelta(nights.ravel(), unit="D"),
        "status": rng.choice(["active", "active", "active", "canceled"], nights.size),
        "base_price": nights.ravel() * 2000})
    store.upsert_bookings(frame, USER)
    monthly = metrics.kpis(store, "2023-01-01", "2025-12-31", by="month")
    assert len(monthly) == 36 * 1001
    items, totals = monthly[monthly.item_id.notna()], monthly[monthly.item_id.isna()]
    assert items.nights_booked.sum() == totals.nights_booked.sum()
    assert items.revenue.sum() == pytest.approx(totals.revenue.sum())


# -- gaps are gaps -----------------------------------------------------------------------------------------------


def test_year_over_year_leaves_months_without_history_empty_not_zero(store):
    add_items(store, {"item_id": A})
    # The first sync read nights 2025-06-01 .. 2026-05-31; one booking in March 2026, none in 2025.
    watched(store, A, since=dt.datetime(2025, 6, 1, 9), nights=("2025-06-01", "2026-05-31"))
    add_booking(store, A, "2026-03-01", "2026-03-04", 3000, seen=dt.datetime(2025, 6, 1, 9))
    yoy = metrics.year_over_year(store, 2026).set_index("month")
    assert len(yoy) == 12
    assert yoy.loc[Day("2026-03-01")].occupancy == 3 / 31
    assert yoy.loc[Day("2026-04-01")].occupancy == 0  # read, and nothing booked: a true 0
    assert yoy.loc[Day("2026-06-01"):, ["occupancy", "revenue", "nights_booked"]].isna().all(axis=None)
    ly = yoy[["ly_occupancy", "ly_revenue", "ly_adr", "ly_revpar", "ly_nights_booked"]]
    assert ly.loc[:Day("2026-05-01")].isna().all(axis=None)  # 2025 before June: no history, not 0 %
    known = ly.loc[Day("2026-06-01"):, ["ly_occupancy", "ly_revenue", "ly_nights_booked"]]
    assert (known == 0).all(axis=None)  # June .. December 2025 were read: empty, and known to be

    fig = charts.monthly_occupancy_revenue(yoy.reset_index())
    ly_line = next(t for t in fig.data if t.name == "Загрузка 2025")
    assert np.isnan(np.asarray(ly_line.y[:5], dtype=float)).all()  # drawn as a gap, never 0 %
    assert not ly_line.connectgaps


def test_the_monthly_chart_says_when_last_year_has_no_data(store):
    add_items(store, {"item_id": A})
    watched(store, A, since=dt.datetime(2026, 1, 1, 9), nights=("2026-01-01", "2026-12-31"))
    yoy = metrics.year_over_year(store, 2026)
    assert yoy.ly_occupancy.isna().all() and (yoy.occupancy == 0).all()
    fig = charts.monthly_occupancy_revenue(yoy)
    assert "за прошлый год данных нет" in fig.layout.title.subtitle.text


def test_has_history_tells_a_period_never_read_from_an_empty_one(store):
    add_items(store, {"item_id": A})
    assert not metrics.has_history(store, "2025-06-01", "2025-06-30")
    watched(store, A, nights=("2025-06-10", "2025-06-12"))
    assert metrics.has_history(store, "2025-06-01", "2025-06-30")
    assert not metrics.has_history(store, "2025-06-13", "2025-06-30")
    add_booking(store, A, "2025-06-20", "2025-06-22", 1000)  # a stored booking's nights have history too
    assert metrics.has_history(store, "2025-06-21", "2025-06-30")
    assert not metrics.has_history(store, "2025-06-21", "2025-06-30", item_ids=[B])
