"""`avito-kit kpi`, `avito-kit report` and `avito-kit demo`: what a host reads in the terminal and the browser."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from avito_kit.cli import main
from avito_kit.store import Store
from avito_kit.tables import KPI_KEYS

USER = 7


@pytest.fixture
def db(tmp_path):
    """Two listings in March 2027: A booked 4 of 31 nights for 12 000 ₽ (3 in March, 1 in April is outside),
    3 nights blocked; B booked 10 nights for 30 000 ₽, plus a cancelled stay that must count for nothing."""
    path = tmp_path / "kpi.duckdb"
    store = Store(path)
    with store.kept_open():  # one open of the file for the three writes
        fill_two_listings(store)
    return path


def fill_two_listings(store: Store) -> None:
    store.upsert_items(pd.DataFrame({"item_id": [4_100_000_001, 4_100_000_002], "title": ["Студия у моря", "Лофт"],
                                     "status": ["active", "active"]}), USER)
    store.upsert_bookings(pd.DataFrame({
        "booking_id": [9_007_199_254_740_993, 2, 3],
        "item_id": [4_100_000_001, 4_100_000_002, 4_100_000_002],
        "check_in": [dt.date(2027, 3, 29), dt.date(2027, 3, 1), dt.date(2027, 3, 20)],
        "check_out": [dt.date(2027, 4, 2), dt.date(2027, 3, 11), dt.date(2027, 3, 25)],
        "status": ["active", "active", "canceled"],
        "base_price": [16_000.0, 30_000.0, 20_000.0],
    }), USER)
    store.replace_calendar_blocks(USER, 4_100_000_001, pd.DataFrame({
        "date_start": [dt.date(2027, 3, 10)], "date_end": [dt.date(2027, 3, 13)], "comment": ["ремонт"]}))


def test_kpi_json_has_exactly_the_documented_keys_and_hand_computed_values(db, capsys):
    assert main(["--db", str(db), "kpi", "--from", "2027-03-01", "--to", "2027-03-31", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [list(r) for r in rows] == [list(KPI_KEYS)] * 3
    by_item = {r["item_id"]: r for r in rows}
    a, b, total = by_item[4_100_000_001], by_item[4_100_000_002], by_item[None]
    assert (a["nights_total"], a["nights_blocked"], a["nights_available"], a["nights_booked"]) == (31, 3, 28, 3)
    assert a["revenue"] == 12_000.0 and a["adr"] == 4_000.0
    assert a["occupancy"] == round(3 / 28, 6) and a["paid_occupancy"] == round(3 / 31, 6)
    assert (a["stays"], a["alos"]) == (1, 4.0)  # the full stay, nights after March included
    assert (b["nights_booked"], b["revenue"], b["stays"]) == (10, 30_000.0, 1)  # the cancelled stay: nothing
    assert (total["nights_total"], total["nights_available"], total["nights_booked"]) == (62, 59, 13)
    assert total["occupancy"] == round(13 / 59, 6)  # from the sums, not the mean of 3/28 and 10/31
    assert total["revpar"] == round(42_000 / 59, 6)


def test_kpi_total_only_and_the_readable_table(db, capsys):
    assert main(["--db", str(db), "kpi", "--from", "2027-03-01", "--to", "2027-03-31", "--by", "total",
                 "--json"]) == 0
    (total,) = json.loads(capsys.readouterr().out)
    assert total["item_id"] is None and total["nights_booked"] == 13
    assert main(["--db", str(db), "kpi", "--from", "2027-03-01", "--to", "2027-03-31"]) == 0
    table = capsys.readouterr().out
    assert "Студия у моря" in table and "Итого" in table
    assert "42\u00a0000\u00a0₽" in table and "22,0\u00a0%" in table  # 13 / 59 booked of available nights


def test_kpi_of_an_empty_period_gives_nulls_not_errors(db, capsys):
    assert main(["--db", str(db), "kpi", "--from", "2030-01-01", "--to", "2030-01-31", "--json"]) == 0
    total = json.loads(capsys.readouterr().out)[-1]
    assert total["nights_booked"] == 0 and total["adr"] is None


@pytest.mark.parametrize("argv", [
    ["kpi", "--from", "2027-03-31", "--to", "2027-03-01"],
    ["kpi", "--from", "31.03.2027", "--to", "2027-04-01"],
    ["kpi", "--from", "2027-03-01"],
    ["report", "--from", "2027-02-30"],
])
def test_bad_kpi_and_report_input_is_one_line_and_exit_2(db, capsys, argv):
    assert main(["--db", str(db), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("avito-kit:") and err.count("\n") == 1


def test_kpi_without_a_store_says_to_sync_and_creates_nothing(tmp_path, capsys):
    missing = tmp_path / "none.duckdb"
    assert main(["--db", str(missing), "kpi", "--from", "2027-03-01", "--to", "2027-03-31"]) == 2
    assert "avito-kit sync" in capsys.readouterr().err
    assert not missing.exists()


@pytest.mark.slow
def test_report_writes_one_offline_file(db, tmp_path, capsys):
    out = tmp_path / "out" / "report.html"
    assert main(["--db", str(db), "report", "--out", str(out), "--from", "2027-03-01", "--to", "2027-03-31"]) == 0
    assert str(out) in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert "Студия у моря" in html and "<script src=\"http" not in html


@pytest.mark.slow
def test_demo_syncs_the_sandbox_writes_the_report_and_prints_the_next_30_nights(isolated_workdir, capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert (isolated_workdir / "data" / "avito.duckdb").exists()
    assert (isolated_workdir / "reports" / "avito_report.html").exists()
    assert "Следующие 30 ночей" in out and "Итого" in out and "listings 12" in out
    counts = Store(isolated_workdir / "data" / "avito.duckdb").counts()
    assert counts["items"] == 12 and counts["bookings"] > 100 and counts["messages"] > 1000
