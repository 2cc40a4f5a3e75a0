"""Store: upsert a million booking rows, half new and half changed, against row-by-row INSERTs.

The store already holds 500,000 bookings; the batch changes the price or status of all of them and adds 500,000
new ones. ``Store.upsert_bookings`` does it in one transaction and also writes a history event per new or
changed booking. The baseline is the original integration's way: one autocommitted ``INSERT ... ON CONFLICT DO
UPDATE`` per row (no history), timed on ``SAMPLE`` rows (half new, half changed) and extrapolated.

    python bench/bench_store.py           # about half a minute
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from common import Row, print_table, seconds, stopwatch

from avito_kit.store import Store

STORED = 500_000
BATCH = 1_000_000
SAMPLE = 2_000
USER_ID = 94235311
BIG_ID = 2**63  # booking ids reach 2^63: unsigned 64-bit


def bookings(ids: np.ndarray, seed: int, status_of_some: str = "active") -> pd.DataFrame:
    """Bookings with the given ids, a few nights each over three years, on 1,000 listings."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    check_in = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D")
    nights = rng.integers(1, 8, n)
    status = np.where(rng.random(n) < 0.9, status_of_some, "canceled")
    return pd.DataFrame({
        "booking_id": ids.astype(np.uint64),
        "item_id": rng.integers(3_000_000_000, 3_000_001_000, n),
        "check_in": check_in,
        "check_out": check_in + pd.to_timedelta(nights, unit="D"),
        "status": status,
        "base_price": nights * rng.integers(15, 60, n) * 100,
        "guest_count": rng.integers(1, 5, n),
        "guest_name": rng.choice(["Анна", "Дмитрий", "Екатерина", "Сергей", "Мария"], n),
    })


def row_by_row(path: Path, frame: pd.DataFrame) -> float:
    """Seconds for one autocommitted INSERT ... ON CONFLICT DO UPDATE per row of ``frame``."""
    columns = list(frame.columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "booking_id")
    sql = (f"INSERT INTO bookings ({', '.join(columns)}, user_id, first_seen_at, last_seen_at, status_changed_at) "
           f"VALUES ({', '.join('?' * len(columns))}, ?, now(), now(), now()) "
           f"ON CONFLICT (booking_id) DO UPDATE SET {updates}, last_seen_at = excluded.last_seen_at")
    rows = [[*(v.item() if hasattr(v, "item") else v for v in row), USER_ID]
            for row in frame.itertuples(index=False, name=None)]
    con = duckdb.connect(str(path))
    try:
        with stopwatch() as took:
            for row in rows:
                con.execute(sql, row)
        return took()
    finally:
        con.close()


def main() -> bool:
    folder = Path(tempfile.mkdtemp(prefix="avito_bench_store_"))
    print(f"Store bench: {STORED:,} bookings stored, a batch of {BATCH:,} (half new, half changed); files in "
          f"{folder}", flush=True)
    store = Store(folder / "kit.duckdb")
    stored = bookings(BIG_ID + np.arange(STORED, dtype=np.uint64), seed=1)
    with stopwatch() as took:
        store.upsert_bookings(stored, USER_ID)
    print(f"loading the {STORED:,} stored bookings: {seconds(took())}", flush=True)
    shutil.copy(store.path, folder / "baseline.duckdb")

    changed = stored.copy()
    changed["base_price"] += 100
    changed.loc[changed.index % 10 == 0, "status"] = "canceled"
    new = bookings(BIG_ID + np.arange(STORED, STORED + BATCH - STORED, dtype=np.uint64), seed=2)
    batch = pd.concat([changed, new], ignore_index=True).sample(frac=1.0, random_state=3).reset_index(drop=True)

    with stopwatch() as took:
        counts = store.upsert_bookings(batch, USER_ID)
    upsert_seconds = took()
    assert counts == {"new": BATCH - STORED, "changed": STORED, "unchanged": 0, "reappeared": 0}, counts
    assert store.counts()["booking_events"] == STORED + BATCH
    print(f"avito_kit upsert_bookings of {BATCH:,} rows: {seconds(upsert_seconds)} {counts}", flush=True)

    sample = pd.concat([changed.head(SAMPLE // 2), new.head(SAMPLE // 2)], ignore_index=True)
    sample_seconds = row_by_row(folder / "baseline.duckdb", sample)
    baseline = sample_seconds / SAMPLE * BATCH
    print(f"row by row: {SAMPLE:,} rows in {seconds(sample_seconds)}, {sample_seconds / SAMPLE * 1000:.2f} ms a row: "
          f"{seconds(baseline)} for {BATCH:,} (extrapolated)", flush=True)
    shutil.rmtree(folder, ignore_errors=True)

    rows = [
        Row(f"upsert {BATCH:,} bookings: speed-up over row by row", seconds(upsert_seconds),
            f"{seconds(baseline)} (from {SAMPLE:,} rows)", baseline / upsert_seconds, ">= 50x",
            baseline / upsert_seconds >= 50),
        Row(f"upsert {BATCH:,} bookings: seconds", seconds(upsert_seconds), "3 s", upsert_seconds / 3.0, "<= 3 s",
            upsert_seconds <= 3.0),
    ]
    return print_table("Store: one million booking rows", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
