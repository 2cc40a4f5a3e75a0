"""iCal feeds: each platform's shape parsed into nights (feeds.parse_feed), the fetch's caps and conditional
requests (feed_fetch), and the export read back by the parser."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from avito_kit.feed_fetch import FeedError, fetch_feed
from avito_kit.feeds import Closure, export_calendar, parse_feed
from avito_kit.sandbox import Sandbox
from avito_kit.sandbox.feeds import sample_feed

T = dt.date(2026, 12, 1)  # a Tuesday


def d(offset: int) -> dt.date:
    return T + dt.timedelta(days=offset)


def feed(*events: str) -> bytes:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + "".join(
        f"BEGIN:VEVENT\r\nUID:e{i}\r\n{body}END:VEVENT\r\n" for i, body in enumerate(events))
        + "END:VCALENDAR\r\n").encode()


def nights(closures: list[Closure]) -> list[tuple[dt.date, dt.date]]:
    return [(c.date_start, c.date_end) for c in closures]


def test_airbnb_shape_all_day_reserved_and_not_available_past_ignored():
    closures = parse_feed(sample_feed("airbnb", T), T)
    assert closures == [Closure(d(10), d(13), "Reserved"), Closure(d(40), d(47), "Reserved"),
                        Closure(d(60), d(62), "Airbnb (Not available)")]


def test_time_zones_cancelled_and_a_weekly_rule_with_an_exception():
    closures = parse_feed(sample_feed("sutochno", T), T)
    mondays = [c for c in closures if c.summary == "Уборка"]
    first_monday = d(6)  # 7 December 2026
    expected = [first_monday + dt.timedelta(weeks=w) for w in range(53) if w != 2]
    assert [c.date_start for c in mondays] == [m for m in expected if m < d(365)]
    assert all(c.date_end - c.date_start == dt.timedelta(days=1) for c in mondays)  # no DTEND: one night
    # 14:00 Yekaterinburg on a Thursday to 12:00 three days later: three nights in Moscow's calendar
    assert [(c.date_start, c.date_end) for c in closures if c.summary.startswith("Бронь")] == [(d(16), d(19))]
    assert not any("Отменённая" in (c.summary or "") for c in closures)


def test_timed_events_are_read_in_moscow_time():
    late_utc = "DTSTART:20261210T220000Z\r\nDTEND:20261212T080000Z\r\n"  # 01:00 on the 11th in Moscow
    floating = "DTSTART:20261220T150000\r\nDTEND:20261220T180000\r\n"  # within a day: that night
    no_end = "DTSTART;VALUE=DATE:20261225\r\n"
    duration = "DTSTART;VALUE=DATE:20261228\r\nDURATION:P3D\r\n"
    assert nights(parse_feed(feed(late_utc, floating, no_end, duration), T)) == [
        (dt.date(2026, 12, 11), dt.date(2026, 12, 12)), (dt.date(2026, 12, 20), dt.date(2026, 12, 21)),
        (dt.date(2026, 12, 25), dt.date(2026, 12, 26)), (dt.date(2026, 12, 28), dt.date(2026, 12, 31))]


def test_past_far_future_transparent_and_overlapping_events():
    events = ["DTSTART;VALUE=DATE:20261120\r\nDTEND;VALUE=DATE:20261201\r\n",  # ends today: past
              "DTSTART;VALUE=DATE:20261128\r\nDTEND;VALUE=DATE:20261203\r\n",  # ongoing: kept
              "DTSTART;VALUE=DATE:20281201\r\nDTEND;VALUE=DATE:20281203\r\n",  # beyond the coming year
              "DTSTART;VALUE=DATE:20261210\r\nDTEND;VALUE=DATE:20261212\r\nTRANSP:TRANSPARENT\r\n",
              "DTSTART;VALUE=DATE:20261215\r\nDTEND;VALUE=DATE:20261218\r\n",
              "DTSTART;VALUE=DATE:20261217\r\nDTEND;VALUE=DATE:20261219\r\n"]
    assert nights(parse_feed(feed(*events), T)) == [(dt.date(2026, 11, 28), dt.date(2026, 12, 3)),
                                                    (dt.date(2026, 12, 15), dt.date(2026, 12, 19))]


@pytest.mark.parametrize(("body", "message"), [
    (sample_feed("login", T), "not an iCalendar feed (it starts with '<!DOCTYPE html>"),
    (b'{"error": "unauthorized"}', "not an iCalendar feed"),
    (b"", "not an iCalendar feed"),
    (sample_feed("broken", T), "broken event x in the feed: DTSTART '20261399' is not a date"),
    (feed("DTSTART;VALUE=DATE:20261210\r\nDTEND;VALUE=DATE:20261205\r\n"), "DTEND 2026-12-05 before DTSTART"),
    (feed("SUMMARY:no start\r\n"), "no DTSTART"),
    (b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nthis is no property line\r\n", "broken iCalendar feed"),
])
def test_bad_feeds_are_one_clear_line(body, message):
    with pytest.raises(ValueError, match=None) as caught:
        parse_feed(body, T)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_export_round_trips_through_the_parser():
    events = [{"uid": "booking-1@avito_kit", "date_start": d(3), "date_end": d(6), "summary": "Авито: бронь"},
              {"uid": "block-1@avito_kit", "date_start": d(10), "date_end": d(11), "summary": "Авито: закрыто"}]
    stamp = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    body = export_calendar(events, name="Авито 1", stamp=stamp)
    assert body == export_calendar(events, name="Авито 1", stamp=stamp)  # the same state, the same bytes
    assert parse_feed(body, T) == [Closure(d(3), d(6), "Авито: бронь"), Closure(d(10), d(11), "Авито: закрыто")]


# -- fetching -------------------------------------------------------------------------------------------------


async def test_fetch_sends_the_validators_back_and_a_304_is_not_modified():
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.headers))
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, content=b"BEGIN:VCALENDAR", headers={"ETag": '"v1"', "Last-Modified": "x"})

    transport = httpx.MockTransport(answer)
    first = await fetch_feed("https://cal.example/feed.ics?s=token", transport=transport)
    assert (first.body, first.etag, first.last_modified) == (b"BEGIN:VCALENDAR", '"v1"', "x")
    again = await fetch_feed("https://cal.example/feed.ics?s=token", etag=first.etag,
                             last_modified=first.last_modified, transport=transport)
    assert again.body is None and seen[1]["if-modified-since"] == "x"


async def test_a_huge_body_is_stopped_at_the_cap_and_failures_name_only_the_host():
    streamed = []

    async def endless():
        for _ in range(50 * 16):  # 50 MB in 64 KB chunks, were it all read
            streamed.append(1)
            yield b"x" * 65536

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=endless()))
    with pytest.raises(FeedError, match="sent more than the 5120 KB") as caught:
        await fetch_feed("https://cal.example/big.ics?s=secret-token", transport=transport)
    assert len(streamed) <= 82 and "secret-token" not in str(caught.value)

    def refuse(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(FeedError, match=r"^cal\.example unreachable: ConnectError$"):
        await fetch_feed("https://cal.example/x.ics?s=secret-token", transport=httpx.MockTransport(refuse))
    with pytest.raises(FeedError, match=r"cal\.example answered 403"):
        await fetch_feed("https://cal.example/x.ics", transport=httpx.MockTransport(lambda r: httpx.Response(403)))


async def test_a_file_feed_and_a_missing_file(tmp_path):
    path = tmp_path / "airbnb.ics"
    path.write_bytes(sample_feed("airbnb", T))
    assert parse_feed((await fetch_feed(str(path))).body, T)[0] == Closure(d(10), d(13), "Reserved")
    with pytest.raises(FeedError, match="No such file"):
        await fetch_feed(str(tmp_path / "gone.ics"))


@pytest.mark.slow
async def test_the_sandbox_server_serves_the_sample_feeds_with_an_etag():
    sandbox = Sandbox(seed=3, n_items=2, n_chats=1, today=T)
    with sandbox.serve() as server:
        fetched = await fetch_feed(f"{server.base_url}/feeds/airbnb.ics")
        assert parse_feed(fetched.body, T)[0] == Closure(d(10), d(13), "Reserved")
        assert (await fetch_feed(f"{server.base_url}/feeds/airbnb.ics", etag=fetched.etag)).body is None
        login = await fetch_feed(f"{server.base_url}/feeds/login.ics")
        with pytest.raises(ValueError, match="not an iCalendar feed"):
            parse_feed(login.body, T)
        with pytest.raises(FeedError, match="answered 404"):
            await fetch_feed(f"{server.base_url}/feeds/nope.ics")
