"""Metrics: KPIs by listing and month for 1,000 listings over three years, against pandas.

``metrics.kpis(store, first, last, by="month")`` computes them in DuckDB SQL. The baseline is the straightforward
pandas way, measured in the same run on the same store: read the bookings, explode each active one into its
nights (``pd.date_range`` per booking), and group by listing and month. Both must agree on the booked nights and
the revenue of every listing and month before anything is timed.

    python bench/bench_metrics.py         # about half a minute
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import Row, print_table, seconds, stopwatch

from avito_kit import metrics
from avito_kit.store import Store

N_ITEMS = 1_000
FIRST, LAST = pd.Timestamp("2023-01-01"), pd.Timestamp("2025-12-31")  # three years of nights
USER_ID = 94235311
RUNS = 2  # each side timed as the best of this many runs


def populate(store: Store, seed: int = 7) -> int:
    """1,000 active listings, each with back-to-back stays and gaps over the three years (one in ten
    cancelled); returns the number of bookings."""
    rng = np.random.default_rng(seed)
    item_ids = np.arange(3_000_000_000, 3_000_000_000 + N_ITEMS)
    store.upsert_items(pd.DataFrame({"item_id": item_ids, "title": [f"Квартира {i}" for i in range(N_ITEMS)],
                                     "status": "active", "price": 3000}), USER_ID)
    frames = []
    span = (LAST - FIRST).days + 40
    for item_id in item_ids:
        stays = rng.integers(1, 8, 400)
        gaps = rng.integers(0, 6, 400)
        starts = np.cumsum(np.concatenate([[rng.integers(-20, 5)], (stays + gaps)[:-1]]))
        keep = starts < span
        starts, stays = starts[keep], stays[keep]
        check_in = FIRST + pd.to_timedelta(starts, unit="D")
        frames.append(pd.DataFrame({
            "item_id": item_id, "check_in": check_in, "check_out": check_in + pd.to_timedelta(stays, unit="D"),
            "status": np.where(rng.random(len(starts)) < 0.9, "active", "canceled"),
            "base_price": stays * rng.integers(20, 60, len(starts)) * 100,
        }))
    bookings = pd.concat(frames, ignore_index=True)
    bookings.insert(0, "booking_id", np.arange(1, len(bookings) + 1, dtype=np.uint64) + np.uint64(2**40))
    store.upsert_bookings(bookings, USER_ID)
    return len(bookings)


def pandas_kpis(store: Store, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """Booked nights, revenue, occupancy and ADR per listing and month, night by night in pandas."""
    bookings = store.bookings()
    items = store.items()
    active = bookings[bookings.status == "active"].copy()
    active["nightly"] = active.base_price.astype(float) / (active.check_out - active.check_in).dt.days
    active["night"] = [pd.date_range(a, b - pd.Timedelta(days=1)) for a, b in zip(active.check_in, active.check_out,
                                                                                   strict=True)]
    nights = active.explode("night")
    nights = nights[(nights.night >= first) & (nights.night <= last)]
    nights["month"] = nights.night.dt.to_period("M").dt.to_timestamp()
    booked = nights.groupby(["item_id", "month"]).agg(nights_booked=("night", "size"), revenue=("nightly", "sum"))
    calendar = pd.DataFrame({"night": pd.date_range(first, last)})
    calendar["month"] = calendar.night.dt.to_period("M").dt.to_timestamp()
    per_month = calendar.groupby("month").size().rename("nights_total")
    grid = pd.MultiIndex.from_product([items.item_id[items.status == "active"], per_month.index],
                                      names=["item_id", "month"])
    out = pd.DataFrame(index=grid).join(per_month).join(booked).fillna({"nights_booked": 0, "revenue": 0.0})
    out["occupancy"] = out.nights_booked / out.nights_total
    out["adr"] = out.revenue / out.nights_booked.replace(0, np.nan)
    return out.reset_index()


def best_of(runs: int, fn):
    timings, result = [], None
    for _ in range(runs):
        with stopwatch() as took:
            result = fn()
        timings.append(took())
    return min(timings), result


def main() -> bool:
    folder = Path(tempfile.mkdtemp(prefix="avito_bench_metrics_"))
    store = Store(folder / "kit.duckdb")
    with stopwatch() as took:
        n = populate(store)
    print(f"Metrics bench: {N_ITEMS:,} listings, {n:,} bookings, nights {FIRST.date()} .. {LAST.date()} "
          f"(store filled in {seconds(took())}); files in {folder}", flush=True)

    sql_seconds, kpis = best_of(RUNS, lambda: metrics.kpis(store, FIRST.date(), LAST.date(), by="month"))
    pandas_seconds, baseline = best_of(RUNS, lambda: pandas_kpis(store, FIRST, LAST))
    rows = kpis[kpis.item_id.notna()].astype({"item_id": "int64"})
    assert len(rows) == len(baseline) == N_ITEMS * 36, (len(rows), len(baseline))
    joined = rows.merge(baseline, left_on=["item_id", "period"], right_on=["item_id", "month"], suffixes=("", "_pd"))
    assert len(joined) == len(rows)
    assert (joined.nights_booked == joined.nights_booked_pd).all()
    assert np.allclose(joined.revenue, joined.revenue_pd) and np.allclose(joined.occupancy, joined.occupancy_pd)
    print(f"kpis(by='month'): {len(kpis):,} rows in {seconds(sql_seconds)}; pandas: {seconds(pandas_seconds)}; "
          f"both agree on every listing and month (best of {RUNS})", flush=True)

    shutil.rmtree(folder, ignore_errors=True)
    rows = [
        Row("KPIs by listing and month: speed-up over pandas", seconds(sql_seconds), seconds(pandas_seconds),
            pandas_seconds / sql_seconds, ">= 10x", pandas_seconds / sql_seconds >= 10),
        Row("KPIs by listing and month: seconds", seconds(sql_seconds), "1 s", sql_seconds, "<= 1 s",
            sql_seconds <= 1.0),
    ]
    return print_table(f"Metrics: {N_ITEMS:,} listings x 3 years", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
