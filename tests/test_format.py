"""Formats: numbers, dates and words as a Russian host reads them, and pandas' missing values as None."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from avito_kit import format as fmt
from avito_kit.format import (
    NBSP,
    as_date,
    format_date,
    format_datetime,
    format_decimal,
    format_minutes,
    format_pct,
    format_rub,
    is_missing,
    month_label,
    none_if_missing,
    plural,
    records,
    shorten,
)

# -- formats ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (12345, f"12{NBSP}345{NBSP}₽"),
    (12345.4, f"12{NBSP}345{NBSP}₽"),
    (1_234_567.5, f"1{NBSP}234{NBSP}568{NBSP}₽"),
    (0, f"0{NBSP}₽"),
    (-1500, f"−1{NBSP}500{NBSP}₽"),
    (-0.2, f"0{NBSP}₽"),
    (None, "—"),
    (float("nan"), "—"),
    (pd.NA, "—"),
])
def test_format_rub(value, expected):
    assert format_rub(value) == expected


def test_format_rub_reads_as_russian_with_plain_spaces():
    assert format_rub(12345).replace(NBSP, " ") == "12 345 ₽"
    assert format_rub(99.5, decimals=2).replace(NBSP, " ") == "99,50 ₽"


def test_other_formats():
    assert format_pct(0.725) == f"72,5{NBSP}%"
    assert format_pct(float("nan")) == "—"
    assert format_date("2026-03-08") == "08.03.2026"
    assert format_date(pd.Timestamp("2026-12-31 23:00")) == "31.12.2026"
    assert month_label("2026-03-01") == "мар 2026"
    assert format_minutes(95) == "1 ч 35 мин"
    assert [plural(n, "ночь", "ночи", "ночей") for n in (1, 2, 5, 11, 21, 22, 112)] == [
        "ночь", "ночи", "ночей", "ночей", "ночь", "ночи", "ночей"]


def test_decimals_with_a_comma_and_a_unit():
    assert format_decimal(3.46) == "3,5"
    assert format_decimal(2, unit="ноч.") == f"2,0{NBSP}ноч."
    assert format_decimal(None, unit="ноч.") == format_decimal(float("nan")) == "—"
    assert format_datetime(dt.datetime(2026, 3, 8, 9, 5), suffix=" UTC") == "08.03.2026 09:05 UTC"
    assert format_datetime(None) == "—"


def test_missing_values_become_none():
    assert [is_missing(v) for v in (None, float("nan"), pd.NaT, pd.NA, 0, "", [None], {})] == [
        True, True, True, True, False, False, False, False]
    assert none_if_missing(pd.NaT) is None and none_if_missing(0) == 0
    frame = pd.DataFrame({"n": [1.0, None], "when": [pd.Timestamp("2026-01-01"), pd.NaT], "tags": [["a"], []]})
    assert records(frame) == [{"n": 1.0, "when": pd.Timestamp("2026-01-01"), "tags": ["a"]},
                              {"n": None, "when": None, "tags": []}]


def test_dates_and_text():
    assert as_date(pd.Timestamp("2026-03-08 23:59")) == as_date("2026-03-08") == dt.date(2026, 3, 8)
    assert shorten("Студия у моря", 6) == "Студи…" and shorten("Студия", 6) == "Студия"


def test_format_module_is_pure():
    tree = ast.parse(Path(fmt.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "datetime", "typing", "pandas"}
