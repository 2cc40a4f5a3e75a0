"""iCalendar feeds of other platforms, in and out: bytes -> closures, and bookings/closures -> bytes. Pure: no I/O
(fetching is ``avito_kit.feed_fetch``).

Parsing uses the maintained ``icalendar`` library (RFC 5545 lines, folding, escaping, VTIMEZONE) and dateutil's
rrule (which icalendar itself uses) for recurring events. A closure is a range of nights ``date_start <= night <
date_end`` in Avito's day (Moscow's):

- an all-day event DTSTART;VALUE=DATE .. DTEND (exclusive) closes those nights; without DTEND (or DURATION), one night;
- a timed event is taken in Moscow time: it closes the nights from its start date to its end date (a stay from
  14:00 on the 1st to 12:00 on the 3rd closes the 1st and the 2nd); one within a single day closes that night;
  a floating time (no zone) is read as Moscow's;
- STATUS:CANCELLED and TRANSP:TRANSPARENT (free time) close nothing;
- RRULE (with EXDATE) is expanded over the coming year only; events ending today or earlier are dropped.

Anything that is not an iCalendar (an HTML login page, JSON, broken lines or dates) raises one ``ValueError`` line:
a feed is taken whole or not at all, so a half-read feed never opens nights.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dateutil.rrule import rruleset, rrulestr
from icalendar import Calendar, Event

from .dates import AVITO_TZ

__all__ = ["HORIZON_DAYS", "Closure", "export_calendar", "merge_closures", "parse_feed"]

HORIZON_DAYS = 365  # Avito's calendar is the coming year
_MAX_OCCURRENCES = 2000  # a DAILY rule over a year is 366: more means a rule gone wrong


@dataclass(frozen=True, order=True)
class Closure:
    """Nights ``date_start <= night < date_end`` another platform says are taken; ``summary`` as the feed says."""

    date_start: dt.date
    date_end: dt.date
    summary: str | None = None


def parse_feed(body: bytes | str, today: dt.date, *, horizon_days: int = HORIZON_DAYS) -> list[Closure]:
    """The closures of a feed that end after ``today`` and start within ``horizon_days``, merged, in date order.

    Example: ``parse_feed(Path("airbnb.ics").read_bytes(), avito_today())``
    """
    text = body.decode("utf-8-sig", errors="replace") if isinstance(body, bytes) else body
    head = text.lstrip()[:200]
    if not head.upper().startswith("BEGIN:VCALENDAR"):
        shown = " ".join(head[:40].split())
        raise ValueError(f"not an iCalendar feed (it starts with {shown!r}; a login page or a wrong link?)")
    try:
        calendar = Calendar.from_ical(text)
    except ValueError as exc:
        raise ValueError(f"broken iCalendar feed: {' '.join(str(exc).split())[:200]}") from None
    horizon = today + dt.timedelta(days=horizon_days)
    closures: list[Closure] = []
    for event in calendar.walk("VEVENT"):
        try:
            closures += _event_closures(event, today, horizon)
        except (ValueError, TypeError, KeyError, OverflowError) as exc:
            uid = event.get("UID", "?")
            raise ValueError(f"broken event {uid} in the feed: {' '.join(str(exc).split())[:200]}") from None
    return merge_closures(closures)


def merge_closures(closures: list[Closure]) -> list[Closure]:
    """Overlapping or touching closures become one (the first one's summary kept)."""
    merged: list[Closure] = []
    for closure in sorted(closures):
        if merged and closure.date_start <= merged[-1].date_end:
            last = merged[-1]
            merged[-1] = Closure(last.date_start, max(last.date_end, closure.date_end), last.summary or closure.summary)
        else:
            merged.append(closure)
    return merged


def _event_closures(event: Event, today: dt.date, horizon: dt.date) -> list[Closure]:
    if str(event.get("STATUS", "")).upper() == "CANCELLED" or str(event.get("TRANSP", "")).upper() == "TRANSPARENT":
        return []
    if "DTSTART" not in event:
        raise ValueError("no DTSTART")
    start = event.decoded("DTSTART")
    if "DTEND" in event:
        end = event.decoded("DTEND")
    elif "DURATION" in event:
        end = start + event.decoded("DURATION")
    else:
        end = start + dt.timedelta(days=1) if _all_day(start) else start
    for name, value in (("DTSTART", start), ("DTEND", end)):
        if not isinstance(value, dt.date):
            raise ValueError(f"{name} {str(value)[:40]!r} is not a date")
    duration = end - start
    if duration < dt.timedelta(0):
        raise ValueError(f"DTEND {end} before DTSTART {start}")
    summary = str(event.get("SUMMARY")) if event.get("SUMMARY") is not None else None
    starts = _occurrences(event, start, today, horizon) if "RRULE" in event else [start]
    closures = []
    for first in starts:
        night_from, night_to = _nights(first, first + duration)
        if night_to > today and night_from < horizon:
            closures.append(Closure(night_from, night_to, summary))
    return closures


def _all_day(value) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _moscow_date(value) -> dt.date:
    if _all_day(value):
        return value
    if value.tzinfo is None:  # floating time: the flat's local time, read as Moscow's
        return value.date()
    return value.astimezone(AVITO_TZ).date()


def _nights(start, end) -> tuple[dt.date, dt.date]:
    first, last = _moscow_date(start), _moscow_date(end)
    return first, max(last, first + dt.timedelta(days=1))


def _occurrences(event: Event, start, today: dt.date, horizon: dt.date) -> list:
    rules = event.get("RRULE")
    rules = rules if isinstance(rules, list) else [rules]
    dtstart = start if not _all_day(start) else dt.datetime.combine(start, dt.time())
    recurrence = rruleset()
    for rule in rules:
        recurrence.rrule(rrulestr(rule.to_ical().decode(), dtstart=dtstart))
    for exdates in (event.get("EXDATE") if isinstance(event.get("EXDATE"), list) else [event.get("EXDATE")]):
        for exdate in getattr(exdates, "dts", []):
            value = exdate.dt
            recurrence.exdate(value if not _all_day(value) else dt.datetime.combine(value, dt.time()))
    window_from = dt.datetime.combine(today - dt.timedelta(days=366), dt.time())
    window_to = dt.datetime.combine(horizon, dt.time())
    if dtstart.tzinfo is not None:
        window_from, window_to = window_from.replace(tzinfo=AVITO_TZ), window_to.replace(tzinfo=AVITO_TZ)
    found = []
    for occurrence in recurrence.xafter(window_from, inc=True):
        if occurrence > window_to:
            break
        found.append(occurrence.date() if _all_day(start) else occurrence)
        if len(found) > _MAX_OCCURRENCES:
            raise ValueError(f"RRULE gives more than {_MAX_OCCURRENCES} events within a year")
    return found


def export_calendar(events: list[dict], *, name: str, stamp: dt.datetime) -> bytes:
    """An iCalendar other platforms and Google Calendar import: one all-day event per entry.

    Each entry: ``uid``, ``date_start``, ``date_end`` (exclusive, as an all-day DTEND is), ``summary``.
    ``stamp`` (aware) is every event's DTSTAMP, so the same state exports the same bytes.
    """
    calendar = Calendar()
    calendar.add("prodid", "-//avito_kit//calendar export//RU")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for entry in events:
        event = Event()
        event.add("uid", entry["uid"])
        event.add("dtstamp", stamp)
        event.add("dtstart", entry["date_start"])
        event.add("dtend", entry["date_end"])
        event.add("summary", entry["summary"])
        calendar.add_component(event)
    return calendar.to_ical()
