"""Dates as Avito counts them: one definition of "today", "now" and month arithmetic for the whole package.

Avito's day is Moscow's: what is past for a calendar push, the bookings window and the coming year of an
availability push all start at today's date in Europe/Moscow, whatever the machine's time zone. A host in
Vladivostok before 07:00, or a server in UTC after 21:00, would otherwise push a year starting on the wrong day,
and Avito closes every date a push leaves out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

__all__ = ["AVITO_TZ", "Clock", "add_months", "avito_today", "month_end", "utc_now", "year_back"]

AVITO_TZ = ZoneInfo("Europe/Moscow")

Clock = Callable[[], dt.datetime]  # an aware "now"; tests inject one to stand at any hour anywhere


def _aware_now(clock: Clock | None) -> dt.datetime:
    now = clock() if clock is not None else dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError(f"the clock must give an aware datetime, got {now!r}")
    return now


def avito_today(clock: Clock | None = None) -> dt.date:
    """Today's date in Moscow: ``avito_today()`` at 2026-12-01 22:30 UTC is 2026-12-02."""
    return _aware_now(clock).astimezone(AVITO_TZ).date()


def utc_now(clock: Clock | None = None) -> dt.datetime:
    """Now in UTC without tzinfo: the form every timestamp in the store takes (DuckDB TIMESTAMP)."""
    return _aware_now(clock).astimezone(dt.UTC).replace(tzinfo=None)


def add_months(day: dt.date, months: int) -> dt.date:
    """The first of the month ``months`` after (or before) ``day``'s month: ``add_months(2026-11-15, 2)`` is
    2027-01-01."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(day: dt.date) -> dt.date:
    """The last day of ``day``'s month."""
    return add_months(day, 1) - dt.timedelta(days=1)


def year_back(day: dt.date) -> dt.date:
    """The same date a year earlier (28 February for a 29th)."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)
