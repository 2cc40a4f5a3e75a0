"""Sample iCal feeds in the shapes the big platforms export, dated from the sandbox's today, so the demo, tests and
notebooks link and pull calendars offline. Pure: ``sample_feed(name, today)`` -> bytes; ``server.py`` serves them
at ``/feeds/<name>.ics`` (with an ETag, answering 304 to a matching If-None-Match).

- ``airbnb``: Airbnb-like: all-day "Reserved" and "Airbnb (Not available)" events, UID@airbnb.com, no time zones;
- ``sutochno``: timed stays in a VTIMEZONE (Asia/Yekaterinburg), one cancelled, and a weekly recurring closure
  (every Monday night, the cleaner's day) as an RRULE with an EXDATE;
- ``login``: what a private link answers once its token expired: an HTML login page (a bad feed);
- ``broken``: a calendar whose event has an impossible date.
"""

from __future__ import annotations

import datetime as dt
import hashlib

__all__ = ["SAMPLE_FEEDS", "feed_etag", "sample_feed"]

SAMPLE_FEEDS = ("airbnb", "sutochno", "login", "broken")


def _d(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _airbnb(today: dt.date) -> str:
    def event(uid: str, start: int, end: int, summary: str) -> str:
        return (f"BEGIN:VEVENT\r\nDTEND;VALUE=DATE:{_d(today + dt.timedelta(end))}\r\n"
                f"DTSTART;VALUE=DATE:{_d(today + dt.timedelta(start))}\r\nUID:{uid}@airbnb.com\r\n"
                f"SUMMARY:{summary}\r\nEND:VEVENT\r\n")

    return ("BEGIN:VCALENDAR\r\nPRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\r\n"
            "CALSCALE:GREGORIAN\r\nVERSION:2.0\r\n"
            + event("1418fb94e984-past", -20, -15, "Reserved")  # a stay in the past: ignored
            + event("1418fb94e984-a1", 10, 13, "Reserved")
            + event("1418fb94e984-a2", 40, 47, "Reserved")
            + event("7f3a0c1d2e4b-n1", 60, 62, "Airbnb (Not available)")
            + "END:VCALENDAR\r\n")


def _sutochno(today: dt.date) -> str:
    monday = today + dt.timedelta(days=(7 - today.weekday()) % 7 or 7)
    skipped = monday + dt.timedelta(weeks=2)
    stay = monday + dt.timedelta(days=10)  # a Thursday: the stay and the Monday closures never overlap
    cancelled = today + dt.timedelta(days=30)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Sutochno.ru//Calendar//RU\r\n"
            "BEGIN:VTIMEZONE\r\nTZID:Asia/Yekaterinburg\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
            "TZOFFSETFROM:+0500\r\nTZOFFSETTO:+0500\r\nTZNAME:+05\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
            # 14:00 on the day of arrival to 12:00 on the day of departure, Yekaterinburg time: three nights
            f"BEGIN:VEVENT\r\nUID:stay-501@sutochno.ru\r\nDTSTAMP:{_d(today)}T090000Z\r\n"
            f"DTSTART;TZID=Asia/Yekaterinburg:{_d(stay)}T140000\r\n"
            f"DTEND;TZID=Asia/Yekaterinburg:{_d(stay + dt.timedelta(3))}T120000\r\n"
            "SUMMARY:Бронь Суточно.ру\\, гость Иван\r\nEND:VEVENT\r\n"
            f"BEGIN:VEVENT\r\nUID:stay-502@sutochno.ru\r\nDTSTAMP:{_d(today)}T090000Z\r\n"
            f"DTSTART;TZID=Asia/Yekaterinburg:{_d(cancelled)}T140000\r\n"
            f"DTEND;TZID=Asia/Yekaterinburg:{_d(cancelled + dt.timedelta(2))}T120000\r\n"
            "STATUS:CANCELLED\r\nSUMMARY:Отменённая бронь\r\nEND:VEVENT\r\n"
            # every Monday night closed (no DTEND: one night), but for one Monday the cleaner swapped
            f"BEGIN:VEVENT\r\nUID:cleaning@sutochno.ru\r\nDTSTAMP:{_d(today)}T090000Z\r\n"
            f"DTSTART;VALUE=DATE:{_d(monday)}\r\nRRULE:FREQ=WEEKLY;BYDAY=MO\r\n"
            f"EXDATE;VALUE=DATE:{_d(skipped)}\r\nSUMMARY:Уборка\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n")


def sample_feed(name: str, today: dt.date) -> bytes | None:
    """The feed ``name`` (one of ``SAMPLE_FEEDS``) as it reads on ``today``; None for an unknown name."""
    if name == "airbnb":
        return _airbnb(today).encode()
    if name == "sutochno":
        return _sutochno(today).encode()
    if name == "login":
        return b"<!DOCTYPE html><html><head><title>Log in</title></head><body><form>...</form></body></html>"
    if name == "broken":
        return (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART;VALUE=DATE:20261399\r\n"
                b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    return None


def feed_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
