"""Numbers, dates and words the way a Russian host reads them; one module that charts, tables, the report, the
widgets and the actions all import. Pure: a value in, a string out.

Rubles ``12 345 ₽`` (no-break spaces, a true minus sign), percentages ``72,5 %``, dates ``31.12.2025``, months
``мар 2026``, plurals ``3 ночи``. A missing value (None, NaN, NaT, ``pd.NA``) reads ``—``.

Values read from the store through pandas come back as NaN, NaT or ``pd.NA`` where SQL had NULL:
:func:`none_if_missing` and :func:`records` turn them into ``None`` for plain code.

>>> format_rub(12345.4), format_pct(0.725), format_date("2026-03-08"), plural(3, "ночь", "ночи", "ночей")
('12 345 ₽', '72,5 %', '08.03.2026', 'ночи')
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

__all__ = [
    "MISSING",
    "MONTHS_RU",
    "MONTH_NAMES_RU",
    "NBSP",
    "WEEKDAYS_RU",
    "as_date",
    "format_date",
    "format_datetime",
    "format_decimal",
    "format_int",
    "format_minutes",
    "format_pct",
    "format_rub",
    "is_missing",
    "month_label",
    "none_if_missing",
    "plural",
    "records",
    "shorten",
]

NBSP = "\u00a0"  # a normal-width space that never breaks a number from its unit
MISSING = "—"  # what a host sees for a value nobody knows

MONTHS_RU = ("янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")
MONTH_NAMES_RU = ("Январь", "Февраль", "Март", "Апрель", "Май", "Июнь", "Июль", "Август", "Сентябрь", "Октябрь",
                  "Ноябрь", "Декабрь")
WEEKDAYS_RU = ("Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс")


# -- missing values ----------------------------------------------------------------------------------------------


def is_missing(value: Any) -> bool:
    """True for None, NaN, NaT and ``pd.NA``; False for everything else, lists and dicts included."""
    return value is None or (pd.api.types.is_scalar(value) and bool(pd.isna(value)))


def none_if_missing(value: Any) -> Any:
    """``value``, or None where pandas gave NaN, NaT or ``pd.NA`` for a NULL."""
    return None if is_missing(value) else value


def records(frame: pd.DataFrame) -> list[dict]:
    """The rows of ``frame`` as dicts with None for every missing value."""
    return [{key: none_if_missing(value) for key, value in row.items()} for row in frame.to_dict("records")]


def as_date(value: Any) -> dt.date:
    """A ``date`` from a date, a datetime, a pandas Timestamp or an ISO string (a time of day is dropped)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return pd.Timestamp(value).date()


# -- numbers -----------------------------------------------------------------------------------------------------


def format_rub(x: Any, decimals: int = 0) -> str:
    """Rubles as a Russian host reads them: ``format_rub(12345.4) -> '12 345 ₽'`` (no-break spaces);
    negative amounts take a true minus sign, missing values give ``'—'``."""
    if is_missing(x):
        return MISSING
    value = round(float(x), decimals)
    digits = f"{abs(value):,.{decimals}f}".replace(",", NBSP).replace(".", ",")
    return f"{'−' if value < 0 else ''}{digits}{NBSP}₽"


def format_pct(x: Any, decimals: int = 1) -> str:
    """A ratio as a percentage: ``format_pct(0.725) -> '72,5 %'``; missing values give ``'—'``."""
    if is_missing(x):
        return MISSING
    value = round(float(x) * 100, decimals)
    return f"{'−' if value < 0 else ''}{abs(value):.{decimals}f}".replace(".", ",") + f"{NBSP}%"


def format_int(x: Any) -> str:
    """A count with no-break-space thousands: ``format_int(12345) -> '12 345'``."""
    if is_missing(x):
        return MISSING
    return f"{round(float(x)):,}".replace(",", NBSP)


def format_decimal(x: Any, decimals: int = 1, unit: str | None = None) -> str:
    """A decimal comma and an optional unit: ``format_decimal(3.46) -> '3,5'`` (ALOS),
    ``format_decimal(3.46, unit='ноч.') -> '3,5 ноч.'``; missing values give ``'—'``."""
    if is_missing(x):
        return MISSING
    text = f"{float(x):.{decimals}f}".replace(".", ",")
    return f"{text}{NBSP}{unit}" if unit else text


def format_minutes(minutes: Any) -> str:
    """A duration for a host: ``format_minutes(95) -> '1 ч 35 мин'``."""
    if is_missing(minutes):
        return MISSING
    m = round(float(minutes))
    if m < 60:
        return f"{m} мин"
    if m < 24 * 60:
        h, rest = divmod(m, 60)
        return f"{h} ч {rest} мин" if rest else f"{h} ч"
    d, rest = divmod(m, 24 * 60)
    return f"{d} дн {rest // 60} ч" if rest // 60 else f"{d} дн"


# -- dates -------------------------------------------------------------------------------------------------------


def format_date(d: Any) -> str:
    """``dd.mm.yyyy``: ``format_date('2026-03-08') -> '08.03.2026'``; missing values give ``'—'``."""
    if is_missing(d):
        return MISSING
    return pd.Timestamp(d).strftime("%d.%m.%Y")


def format_datetime(value: Any, suffix: str = "") -> str:
    """``dd.mm.yyyy HH:MM`` and an optional suffix: ``format_datetime(now, suffix=' UTC')``."""
    if is_missing(value):
        return MISSING
    return pd.Timestamp(value).strftime("%d.%m.%Y %H:%M") + suffix


def month_label(d: Any, with_year: bool = True) -> str:
    """``month_label('2026-03-01') -> 'мар 2026'``."""
    ts = pd.Timestamp(d)
    return f"{MONTHS_RU[ts.month - 1]} {ts.year}" if with_year else MONTHS_RU[ts.month - 1]


# -- words -------------------------------------------------------------------------------------------------------


def plural(n: Any, one: str, few: str, many: str) -> str:
    """The Russian plural form for ``n``: ``plural(3, 'ночь', 'ночи', 'ночей') -> 'ночи'``."""
    n = abs(int(n)) % 100
    if 11 <= n <= 14:
        return many
    n %= 10
    return one if n == 1 else few if 2 <= n <= 4 else many


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1] + "…"
