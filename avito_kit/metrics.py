"""Rental metrics: SQL over the store -> tidy DataFrames. No I/O beyond the store; definitions: METRICS.md.

Every KPI comes from one per-night fact, the ``facts`` CTE below (nights from ``generate_series`` crossed
with the listings counted, left-joined to the nights of active bookings and of the host's calendar blocks).
Each function runs its SQL in one ``store.query`` call. Dates are nights named by their evening, inclusive
``date_from .. date_to``; pass ``date`` or ``"YYYY-MM-DD"`` (bad input: ``ValueError``). Date columns come
back as pandas ``datetime64`` at midnight (DuckDB's DATE, as ``store.bookings()`` returns them); ratios with
a zero denominator are NaN; ``item_id`` is nullable ``Int64`` wherever a total row has none; money is float
rubles. Every function takes ``user_id=None`` (one Avito account) and ``item_ids=None`` (some listings).
"Today", where a function defaults to it, is Avito's: the date in Moscow (``dates.avito_today``), whatever the
machine's time zone; such functions take a ``clock`` (an aware "now") for tests.

Definitions (METRICS.md):

- booked night: inside a booking whose status is ``active`` (``canceled``, ``pending`` and unknown statuses
  occupy nothing); blocked: inside a ``calendar_blocks`` range [date_start, date_end) and not booked; else free.
  Two active bookings on one night (an overbooking) count once, for the one that checks in first.
- nightly revenue: ``base_price / (check_out - check_in)`` of its booking (so a stay's nights sum to its price).
- items counted: listings whose status is ``active`` now, plus any listing with a booked night in the period.
  For ``by="month"|"week"`` and forward horizons the period is that month / week / horizon.
- occupancy = booked / available ("adjusted": Guesty, Lodgify, AirDNA, Airbnb); paid_occupancy = booked /
  total (Key Data); available = total - blocked; ADR = revenue / booked; RevPAR = revenue / available;
  stays = active bookings with check_in in the period; ALOS = mean full (check_out - check_in) of those stays.
- total rows sum counts and revenue and recompute the ratios from the sums.
- a booking's state "as known at the end of day D" (OTB, pace, pickup): its latest ``booking_events`` row
  observed before D + 1 day (naive UTC, as the store keeps it); a booking not yet seen then does not count.
- left-censoring. Avito gives no booking creation time, so a booking is dated by the sync that first saw it
  (its 'first_seen' event). It counts as *observed when made* only when that sync is later than the first sync
  that read its listing's bookings for its check-in night (``booking_coverage``: per listing, the nights each
  sync read, each range stored with the time it was first read; ``Store.record_booking_coverage``). A listing
  synced for the first time, or a window widened to new nights, observes nothing about the bookings already
  there. A listing whose first booking sighting precedes any coverage row (a store from before coverage was
  kept, or written without a sync) takes that sighting as its first read of every night. Lead time, pickup,
  pace, the funnel's bookings and the cancellation rate count only observed bookings; occupancy, revenue, ADR,
  RevPAR, stays, ALOS, on-the-books and the cancellation count count every booking. These frames carry in
  ``attrs``: history_since / history_until (the first and latest day a sync read the bookings in scope, see
  :func:`history_span`), history_days, bookings (the observed bookings they rest on); charts show them.
- gaps are gaps: a period without history is NaN / NA, never 0 (``year_over_year``, pace before history
  began, pickup over days before it).
- a guest waiting for an answer: a chat with an incoming message after the host's last outgoing one; it waits
  since the first such message. Avito's ``system`` messages ("Новый запрос на бронирование") are neither: a
  system message is not the host's answer, and a system message alone leaves no guest waiting. The inbox,
  the report's "гостей ждут ответа" and ``messaging_summary.unanswered`` all count by this one rule.

Functions and their columns:

``nightly_facts(store, date_from, date_to, item_ids=None)``
    item_id, title, night, state ('booked' | 'blocked' | 'free'), booking_id (UInt64, null unless booked),
    guest_name, nightly_revenue (0.0 unless booked), check_in, check_out; one row per counted item x night.
``kpis(store, date_from, date_to, by="item", item_ids=None)``, by in item | total | month | week
    period, item_id, nights_total, nights_blocked, nights_available, nights_booked, occupancy (adjusted),
    paid_occupancy, revenue, adr, revpar, stays, alos. "item": a row per item (period = date_from) and a
    total row (item_id NA); "total": the total row; "month" / "week": per period start (the calendar month's
    first day / the ISO week's Monday; nights clipped to date_from..date_to) a row per item and a total row.
``forward_occupancy(store, as_of=None, horizons=(7, 30, 60), clock=None)``
    horizon_days, date_from, date_to, nights_available, nights_booked, occupancy (adjusted), revenue: nights
    as_of .. as_of + h - 1, summed over items (as_of default today in Moscow).
``year_over_year(store, year=None, clock=None)``
    month, occupancy (adjusted), revenue, adr, revpar, nights_booked and ly_* of the same month a year
    earlier; 12 rows (year default the current one); a month without history: all its values NA.
``on_the_books(store, date_from, date_to, as_of)``
    one row: as_of, nights_booked, revenue of nights date_from..date_to as known at the end of as_of.
``pace(store, date_from, date_to, as_of=None, days_back=90, clock=None)``
    as_of, days_before (date_from - as_of), nights_booked, revenue, ly_as_of, ly_nights_booked, ly_revenue:
    on the books (observed bookings) for each day as_of - days_back .. as_of, against the period a year
    earlier as known a year earlier (29 February maps to 28 February); NA before history began.
``pickup(store, date_from, date_to, as_of=None, days=7, clock=None)``
    one row: nights_added, revenue_added (on the books at as_of minus at as_of - days, observed bookings),
    nights_now, nights_then; NA when as_of - days is before history began.
``lead_times(store, date_from=None, date_to=None)``
    booking_id, item_id, first_seen, check_in, lead_days = max(check_in - first_seen date, 0); active bookings
    observed when made with check_in in the range (either bound optional).
``lead_time(store, date_from=None, date_to=None)``
    bucket ("0-1" .. "91+", ``LEAD_TIME_BUCKETS``), min_days, max_days, bookings, share: lead_times per bucket.
``length_of_stay(store, date_from=None, date_to=None)``
    nights (check_out - check_in), stays: active bookings by check_in in the range.
``cancellations(store, date_from, date_to)``
    observed (every day of the range), cancellations, lost_revenue, bookings_seen, observed_cancellations,
    cancellation_rate. A cancellation is a 'changed' event to status 'canceled' from another status, on the
    day it was observed; lost_revenue its base_price before the change. bookings_seen: bookings observed when
    made, first seen that day as active or pending; observed_cancellations: the cancellations of such
    bookings. cancellation_rate = observed_cancellations / bookings_seen (both on the same days; a day's rate
    can exceed 1). A booking first seen already cancelled is no cancellation (it was never on the books here).
``cancellation_summary(store, date_from, date_to)``
    one row: cancellations, lost_revenue, bookings_seen, observed_cancellations, cancellation_rate over the
    whole range.
``gap_nights(store, date_from, date_to, min_stay=2)``
    item_id, title, gap_start, gap_end (exclusive), nights: runs of free nights with a booked night right
    before and right after, shorter than min_stay, overlapping the range (stays just outside it are seen).
``weekday_split(store, date_from, date_to, weekend_days=(4, 5))``
    day_type ('weekday' | 'weekend'), nights_available, nights_booked, occupancy (adjusted), revenue, adr;
    ISO weekday of the night, Monday = 0: Friday and Saturday nights are the weekend by default.
``weekday_heatmap(store, date_from, date_to)``
    weekday (0..6), week_start (Monday), occupancy (adjusted) of that night over the items counted.
``listing_funnel(store, date_from, date_to)``
    week_start, item_id, title, views, contacts, favorites (sums of item_stats uniq_*), bookings (observed when
    made, first seen that week as active or pending); a row per week x item with any of them.
``history_span(store)``
    (since, until): the first and latest day a sync read the bookings in scope; (None, None) before any.
``has_history(store, date_from, date_to)``
    whether any night of the range has history (read by a sync, or under a stored booking): a comparison
    with a period (last year's) is shown only if it has.
``METRICS``
    the catalog of host-facing names (``avito-kit metric NAME``): name -> ``Metric`` (function, which of
    ``--from/--to/--by`` apply, ``compute(store, date_from, date_to, by)``, ``summary``).
``messaging(store)``
    chat_id, item_id, other_user_name, first_incoming_at, first_response_at (first outgoing message at or
    after it), response_minutes, answered (no incoming message waiting), last_message_at, waiting_since (the
    first incoming message after the last outgoing one; null when answered). 'system' messages count on
    neither side (above). A chat with no incoming message is answered.
``messaging_summary(store)``
    one row: chats, answered, unanswered (a guest waiting), median_response_minutes.
``inbox(store, now=None)``
    chat_id, item_id, chat_type, title, other_user_name, last_text, last_at, last_direction (of the newest
    stored message, else the chat's), unread (incoming messages not read), waiting_since (as messaging),
    needs_attention (unread or waiting), waited (now - waiting_since, naive UTC); attention first, newest first.
``night_states(first, last, bookings, blocks)``
    a listing's calendar as the host manages it: night -> (state, note), state 'booked' | 'pending' | 'blocked' |
    'free' (an active booking over a block over a pending booking).
``guest_booking(store, item_id, guest_name, today)``
    the chat guest's next active or pending booking of the listing as a dict, or None.
``grid(store, date_from, date_to, item_ids=None)``
    the шахматка: nightly_facts columns plus price (the listing's current price; Avito keeps no per-night
    price the store could read), sorted by title, night.
``listed_vs_realized(store, date_from, date_to)``
    month, item_id, title, nights_priced, listed_price, nights_booked, adr, listed_booked, adr_vs_listed: the
    price avito_kit listed (its last push covering the night, else the base price) against what was sold.
``nights_below_listed(store, date_from, date_to)``
    item_id, title, night, booking_id, guest_name, nightly_revenue, listed_price, shortfall, shortfall_share.
``price_suggestions(store, as_of=None, weeks=8)``
    per listing and week ahead: occupancy now against the same weeks last year (pace when the store saw it,
    else the final occupancy), and a suggested change in percent by the rule in its docstring (+10 / +5 / 0 /
    -5 / -10 for a lead of >= 20 / >= 10 / >= -10 / >= -20 / < -20 points). Never pushed without a preview.
``review_inbox(store)``
    review_id, item_id, item_title, score, text, sender_name, created_at, image_count, answer_id, answer_text,
    answer_status, answer_reject_reasons, needs_answer (no answer, or it was rejected), booking_id, check_in,
    check_out (the stay it follows: the listing's active booking ending <= 30 days before, same first name);
    waiting first, newest first.
``rating_history(store)``
    observed_at, score, reviews_count, reviews_with_score_count: each time a sync saw the rating change.
``score_distribution(store)``
    score (1..5), reviews, share.
``reviews_per_listing(store)``
    item_id, title, reviews, mean_score, unanswered, last_review_at.
``answer_share(store)``
    one row: reviews, answered (published or in moderation), rejected, share_answered.
``time_to_answer(store)``
    review_id, item_id, first_seen_at, answer_created_at, hours: from the review's first sighting to its answer,
    for reviews first seen unanswered.

Example::

    from avito_kit import Store, metrics
    metrics.kpis(Store(), "2025-06-01", "2025-08-31", by="month")
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .checks import check_range, parse_date
from .dates import Clock, avito_today, utc_now, year_back
from .format import as_date, records
from .store import Store

__all__ = [
    "LEAD_TIME_BUCKETS",
    "METRICS",
    "STAY_MATCH_DAYS",
    "Metric",
    "answer_share",
    "cancellation_summary",
    "cancellations",
    "forward_occupancy",
    "gap_nights",
    "grid",
    "guest_booking",
    "has_history",
    "history_span",
    "inbox",
    "kpis",
    "lead_time",
    "lead_times",
    "length_of_stay",
    "listed_vs_realized",
    "listing_funnel",
    "messaging",
    "messaging_summary",
    "night_states",
    "nightly_facts",
    "nights_below_listed",
    "on_the_books",
    "pace",
    "pickup",
    "price_suggestions",
    "rating_history",
    "review_inbox",
    "reviews_per_listing",
    "score_distribution",
    "time_to_answer",
    "weekday_heatmap",
    "weekday_split",
    "year_over_year",
]

DateLike = str | dt.date
ItemIds = int | Iterable[int] | None

KPI_BY = ("item", "total", "month", "week")

# -- SQL building blocks --------------------------------------------------------------------------------------


def _filters(alias: str, item_col: str = "item_id") -> str:
    """The account and listing filters of every query, on one table alias."""
    return (
        f"($user_id IS NULL OR {alias}.user_id = $user_id) "
        f"AND ($item_ids IS NULL OR list_contains(CAST($item_ids AS BIGINT[]), {alias}.{item_col}))"
    )


def _booked_nights(source: str, keys: str = "") -> str:
    """The booked nights of the active rows of ``source``: one row per ``keys`` x item x night.

    ``source`` has booking_id, item_id, status, check_in, check_out, base_price, guest_name and the clip bounds
    p_from, p_to. Nights come from one generate_series per booking, so the join to the night grid is an
    equality join (hashed) rather than a range join. Two active bookings on one night (an overbooking) give it
    to the one first by (check_in, booking_id): each booking starts no earlier than the latest check_out of the
    bookings before it, which is exactly the set of its nights an earlier booking covers.
    """
    return f"""
    SELECT {keys} item_id, booking_id, guest_name, check_in, check_out, nightly_revenue,
           CAST(unnest(generate_series(greatest(check_in, p_from, coalesce(covered_until, check_in)),
                                       least(check_out - 1, p_to), INTERVAL 1 DAY)) AS DATE) AS night
    FROM (
        SELECT {keys} item_id, booking_id, guest_name, check_in, check_out, p_from, p_to,
               CAST(base_price AS DOUBLE) / date_diff('day', check_in, check_out) AS nightly_revenue,
               max(check_out) OVER (PARTITION BY {keys} item_id ORDER BY check_in, booking_id
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS covered_until
        FROM {source}
        WHERE status = 'active' AND check_out > check_in AND check_in <= p_to AND check_out > p_from
    )
    """


# THE per-night fact: counted items x nights $date_from..$date_to, booked / blocked / free.
_FACTS = f"""
_nights AS (
    SELECT CAST(n AS DATE) AS night
    FROM range(CAST($date_from AS DATE), CAST($date_to AS DATE) + 1, INTERVAL 1 DAY) AS t(n)
),
_active_bookings AS (
    SELECT b.*, CAST($date_from AS DATE) AS p_from, CAST($date_to AS DATE) AS p_to
    FROM bookings b
    WHERE b.status = 'active' AND {_filters("b")}
),
_booked AS ({_booked_nights("_active_bookings")}),
_scope AS (
    SELECT s.item_id, i.title, coalesce(i.status = 'active', false) AS listed, i.price
    FROM (
        SELECT i.item_id FROM items i WHERE i.status = 'active' AND {_filters("i")}
        UNION
        SELECT DISTINCT item_id FROM _booked
    ) s
    LEFT JOIN items i ON i.item_id = s.item_id
),
_blocked AS (
    SELECT DISTINCT c.item_id,
           CAST(unnest(generate_series(greatest(c.date_start, CAST($date_from AS DATE)),
                                       least(c.date_end - 1, CAST($date_to AS DATE)), INTERVAL 1 DAY)) AS DATE) AS night
    FROM calendar_blocks c
    WHERE c.date_start <= $date_to AND c.date_end > $date_from AND {_filters("c")}
),
facts AS (
    SELECT s.item_id, s.title, s.listed, s.price, n.night,
           CASE WHEN b.item_id IS NOT NULL THEN 'booked' WHEN k.item_id IS NOT NULL THEN 'blocked' ELSE 'free' END
               AS state,
           b.booking_id, b.guest_name, coalesce(b.nightly_revenue, 0.0) AS nightly_revenue, b.check_in, b.check_out
    FROM _scope s
    CROSS JOIN _nights n
    LEFT JOIN _booked b ON b.item_id = s.item_id AND b.night = n.night
    LEFT JOIN _blocked k ON k.item_id = s.item_id AND k.night = n.night
)
"""

_FACT_COLUMNS = "item_id, title, night, state, booking_id, guest_name, nightly_revenue, check_in, check_out"


def _period(by: str, column: str) -> str:
    if by in ("item", "total"):
        return "CAST($date_from AS DATE)"
    return f"CAST(date_trunc('{by}', {column}) AS DATE)"


def _kpi_ctes(by: str) -> str:
    """Per period x counted item sums (``_rows``) and per period totals (``_totals``), over ``facts``."""
    return f"""
_per_item AS (
    SELECT {_period(by, "night")} AS period, item_id, bool_or(listed) AS listed,
           count(*) AS nights_total,
           count(*) FILTER (WHERE state = 'blocked') AS nights_blocked,
           count(*) FILTER (WHERE state = 'booked') AS nights_booked,
           sum(nightly_revenue) AS revenue
    FROM facts GROUP BY ALL
),
_stays AS (
    SELECT {_period(by, "b.check_in")} AS period, b.item_id, count(*) AS stays,
           sum(date_diff('day', b.check_in, b.check_out)) AS stay_nights
    FROM bookings b
    WHERE b.status = 'active' AND b.check_out > b.check_in AND b.check_in BETWEEN $date_from AND $date_to
      AND {_filters("b")}
    GROUP BY ALL
),
_rows AS (
    SELECT p.period, p.item_id, p.nights_total, p.nights_blocked, p.nights_booked, p.revenue,
           coalesce(s.stays, 0) AS stays, coalesce(s.stay_nights, 0) AS stay_nights
    FROM _per_item p LEFT JOIN _stays s ON s.period = p.period AND s.item_id = p.item_id
    WHERE p.listed OR p.nights_booked > 0
),
_periods AS (SELECT DISTINCT {_period(by, "night")} AS period FROM _nights),
_totals AS (
    SELECT p.period, CAST(NULL AS BIGINT) AS item_id,
           coalesce(sum(r.nights_total), 0) AS nights_total, coalesce(sum(r.nights_blocked), 0) AS nights_blocked,
           coalesce(sum(r.nights_booked), 0) AS nights_booked, coalesce(sum(r.revenue), 0.0) AS revenue,
           coalesce(sum(r.stays), 0) AS stays, coalesce(sum(r.stay_nights), 0) AS stay_nights
    FROM _periods p LEFT JOIN _rows r ON r.period = p.period
    GROUP BY p.period
)
"""


# Ratios from sums; a zero denominator gives NULL (NaN), never an error.
_KPI_SELECT = """
SELECT period, item_id,
       CAST(nights_total AS BIGINT) AS nights_total,
       CAST(nights_blocked AS BIGINT) AS nights_blocked,
       CAST(nights_total - nights_blocked AS BIGINT) AS nights_available,
       CAST(nights_booked AS BIGINT) AS nights_booked,
       nights_booked / nullif(nights_total - nights_blocked, 0) AS occupancy,
       nights_booked / nullif(nights_total, 0) AS paid_occupancy,
       CAST(revenue AS DOUBLE) AS revenue,
       revenue / nullif(nights_booked, 0) AS adr,
       revenue / nullif(nights_total - nights_blocked, 0) AS revpar,
       CAST(stays AS BIGINT) AS stays,
       stay_nights / nullif(stays, 0) AS alos
"""


def _otb_ctes(snaps: str, observed_only: bool = False) -> str:
    """On-the-books per snapshot: ``snaps`` rows (snap, as_of, p_from, p_to) -> ``_otb`` (snap, as_of, nights, revenue).

    A booking's state at a snapshot is its latest event observed before the end of day as_of; only bookings
    whose dates ever overlapped a snapshot's period can count, so only their events are ranked. With
    ``observed_only`` (pace, pickup) only bookings observed when made count (``_OBSERVED`` comes first).
    """
    observed = "AND e.booking_id IN (SELECT booking_id FROM _observed WHERE observed)" if observed_only else ""
    return f"""
{_OBSERVED + "," if observed_only else ""}
_snaps AS ({snaps}),
_candidates AS (
    SELECT DISTINCT e.booking_id
    FROM booking_events e JOIN (SELECT DISTINCT p_from, p_to FROM _snaps) p
      ON e.check_in <= p.p_to AND e.check_out > p.p_from
    WHERE {_filters("e")} {observed}
),
_state AS (
    SELECT s.snap, s.as_of, s.p_from, s.p_to, e.booking_id, e.item_id, e.status, e.check_in, e.check_out,
           e.base_price, CAST(NULL AS VARCHAR) AS guest_name
    FROM _snaps s
    JOIN booking_events e ON e.observed_at < CAST(s.as_of + 1 AS TIMESTAMP)
    WHERE e.booking_id IN (SELECT booking_id FROM _candidates) AND {_filters("e")}
    QUALIFY row_number() OVER (PARTITION BY s.snap, s.as_of, e.booking_id
                               ORDER BY e.observed_at DESC, e.event DESC) = 1
),
_otb_nights AS ({_booked_nights("_state", keys="snap, as_of,")}),
_otb AS (
    SELECT s.snap, s.as_of, count(n.night) AS nights_booked, coalesce(sum(n.nightly_revenue), 0.0) AS revenue
    FROM _snaps s LEFT JOIN _otb_nights n ON n.snap = s.snap AND n.as_of = s.as_of
    GROUP BY s.snap, s.as_of
)
"""


# Left-censoring (module docstring): a booking is observed when made only if it was first seen after the first
# read that covered its listing and its check-in night. ``_coverage_start`` is that read's time per booking: the
# coverage range holding the check-in (ranges are disjoint per listing, so an ASOF join finds it), or, for a
# listing whose first sighting precedes every recorded range (a store from before booking_coverage, or written
# without a sync), that first sighting, taken to have covered every night.
_OBSERVED = f"""
_first_reads AS (SELECT item_id, min(observed_at) AS first_read FROM booking_coverage GROUP BY item_id),
_first_sightings AS (SELECT item_id, min(observed_at) AS first_event FROM booking_events GROUP BY item_id),
_first_seen AS (
    SELECT e.booking_id, e.item_id, e.observed_at AS first_seen_at, e.status, e.check_in, e.check_out
    FROM booking_events e
    WHERE e.event = 'first_seen' AND {_filters("e")}
),
_observed AS (
    SELECT f.*, coalesce(f.first_seen_at > least(
               CASE WHEN f.check_in <= c.cover_to THEN c.observed_at END,
               CASE WHEN r.first_read IS NULL OR s.first_event < r.first_read THEN s.first_event END), false)
               AS observed
    FROM _first_seen f
    ASOF LEFT JOIN booking_coverage c ON c.item_id = f.item_id AND f.check_in >= c.cover_from
    LEFT JOIN _first_reads r ON r.item_id = f.item_id
    LEFT JOIN _first_sightings s ON s.item_id = f.item_id
)
"""

# Since when history exists (the first read of a listing's bookings) and until when (the latest read), over the
# listings in scope; dates of naive UTC times, as the store keeps them.
_HISTORY_SQL = f"""
WITH _starts AS (
    SELECT min(c.observed_at) AS t FROM booking_coverage c WHERE {_filters("c")}
    UNION ALL SELECT min(e.observed_at) FROM booking_events e WHERE {_filters("e")}
),
_ends AS (
    SELECT max(c.observed_at) AS t FROM booking_coverage c WHERE {_filters("c")}
    UNION ALL SELECT max(e.observed_at) FROM booking_events e WHERE {_filters("e")}
    UNION ALL
    SELECT max(CAST(json_extract_string(k.value, '$.read_at') AS TIMESTAMP)) FROM sync_cursors k
    WHERE starts_with(k.key, 'bookings:') AND ($user_id IS NULL OR k.user_id = $user_id)
      AND ($item_ids IS NULL OR list_contains(CAST($item_ids AS VARCHAR[]), substr(k.key, 10)))
)
SELECT (SELECT CAST(min(t) AS DATE) FROM _starts) AS since, (SELECT CAST(max(t) AS DATE) FROM _ends) AS until
"""


# The nights with history: those a sync read (booking_coverage) and those of any stored booking (a store from
# before coverage was kept knows at least those): ranges first..last, both included.
_KNOWN_NIGHTS = f"""
SELECT c.cover_from AS first, c.cover_to AS last FROM booking_coverage c WHERE {_filters("c")}
UNION ALL
SELECT b.check_in, b.check_out - 1 FROM bookings b WHERE b.check_out > b.check_in AND {_filters("b")}
"""


def has_history(store: Store, date_from: DateLike, date_to: DateLike, *, item_ids: ItemIds = None,
                user_id: int | None = None) -> bool:
    """Whether any night date_from..date_to has history (a sync read it, or a stored booking covers it): what
    a comparison with that period (last year's) needs before it is shown at all.

    Example: ``has_history(store, "2025-06-01", "2025-06-30")``
    """
    first, last = _range(date_from, date_to)
    sql = f"SELECT count(*) AS n FROM ({_KNOWN_NIGHTS}) r WHERE r.first <= $date_to AND r.last >= $date_from"
    return bool(_run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids),
                                  "user_id": user_id}).n[0])


def history_span(store: Store, *, item_ids: ItemIds = None, user_id: int | None = None
                 ) -> tuple[dt.date | None, dt.date | None]:
    """(since, until): the first and the latest day a sync read the bookings of these listings; (None, None)
    before any. Bookings made from ``since`` on can be observed when made (module docstring).

    Example: ``history_span(store)  # -> (date(2026, 8, 3), date(2026, 12, 1))``
    """
    frame = _run(store, _HISTORY_SQL, {"item_ids": _item_list(item_ids), "user_id": user_id})
    since, until = (None if pd.isna(v) else as_date(v) for v in frame.iloc[0])
    return since, until


def _with_history(frame: pd.DataFrame, history: tuple[dt.date | None, dt.date | None], bookings: Any
                  ) -> pd.DataFrame:
    """What a history-dependent frame rests on, in ``frame.attrs``: history_since, history_until, history_days
    (between them; 0 before any sync) and bookings (the observed bookings counted)."""
    since, until = history
    frame.attrs.update(history_since=since, history_until=until,
                       history_days=(until - since).days if since and until else 0,
                       bookings=0 if bookings is None or pd.isna(bookings) else int(bookings))
    return frame


def _observed_in(store: Store, first: dt.date, last: dt.date, item_ids: ItemIds, user_id: int | None) -> int:
    """Observed bookings with a night in first..last: what pace and pickup rest on."""
    sql = f"""
    WITH {_OBSERVED}
    SELECT count(*) AS n FROM _observed o JOIN bookings b USING (booking_id)
    WHERE o.observed AND b.check_in <= $date_to AND b.check_out > $date_from
    """
    return int(_run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids),
                                 "user_id": user_id}).n[0])


# -- inputs and running ---------------------------------------------------------------------------------------


def _range(date_from: DateLike, date_to: DateLike) -> tuple[dt.date, dt.date]:
    return check_range(date_from, date_to, ("date_from", "date_to"), allow_equal=True)


def _item_list(item_ids: ItemIds) -> list[int] | None:
    if item_ids is None:
        return None
    values = [item_ids] if isinstance(item_ids, int) else list(item_ids)
    out = []
    for value in values:
        try:
            number = operator.index(value)
        except TypeError:
            raise ValueError(f"item_ids must be integers, got {value!r}") from None
        if isinstance(value, bool) or number <= 0:
            raise ValueError(f"item_ids must be positive integers, got {value!r}")
        out.append(int(number))
    return out


def _positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(number)


def _as_of(as_of: DateLike | None, clock: Clock | None) -> dt.date:
    """``as_of``, or today in Moscow (Avito's day) by ``clock``: never the machine's local date."""
    return avito_today(clock) if as_of is None else parse_date(as_of, "as_of")


def _run(store: Store, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    """One ``store.query``; DuckDB refuses parameters the SQL does not use, so only those are passed."""
    used = set(re.findall(r"\$([a-z_]+)", sql))
    return store.query(sql, {k: v for k, v in params.items() if k in used})


def _nullable_ids(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        if column in df.columns:
            df[column] = df[column].astype("UInt64" if column == "booking_id" else "Int64")
    return df


# -- the per-night fact ------------------------------------------------------------------------------------


def nightly_facts(
    store: Store, date_from: DateLike, date_to: DateLike, item_ids: ItemIds = None, *, user_id: int | None = None
) -> pd.DataFrame:
    """One row per counted item x night: booked / blocked / free, the booking and its nightly revenue.

    Example: ``nightly_facts(store, "2025-07-01", "2025-07-31").query("state == 'booked'")``
    """
    first, last = _range(date_from, date_to)
    sql = f"WITH {_FACTS} SELECT {_FACT_COLUMNS} FROM facts ORDER BY item_id, night"
    df = _run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids), "user_id": user_id})
    return _nullable_ids(df, "booking_id")


def grid(
    store: Store, date_from: DateLike, date_to: DateLike, item_ids: ItemIds = None, *, user_id: int | None = None
) -> pd.DataFrame:
    """The шахматка: :func:`nightly_facts` plus ``price`` (the listing's current price), by title and night.

    Example: ``grid(store, "2025-07-01", "2025-07-31").pivot(index="title", columns="night", values="state")``
    """
    first, last = _range(date_from, date_to)
    sql = (
        f"WITH {_FACTS} SELECT {_FACT_COLUMNS}, CAST(price AS DOUBLE) AS price FROM facts "
        "ORDER BY title NULLS LAST, item_id, night"
    )
    df = _run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids), "user_id": user_id})
    return _nullable_ids(df, "booking_id")


# -- core KPIs --------------------------------------------------------------------------------------------------


def kpis(
    store: Store,
    date_from: DateLike,
    date_to: DateLike,
    by: str = "item",
    item_ids: ItemIds = None,
    *,
    user_id: int | None = None,
) -> pd.DataFrame:
    """Occupancy (adjusted and paid), revenue, ADR, RevPAR, stays and ALOS per item / period, with totals.

    Example: ``kpis(store, "2025-01-01", "2025-12-31", by="month").query("item_id.isna()")``
    """
    if by not in KPI_BY:
        raise ValueError(f"by must be one of {', '.join(KPI_BY)}; got {by!r}")
    first, last = _range(date_from, date_to)
    parts = ["SELECT * FROM _totals"] if by == "total" else ["SELECT * FROM _rows", "SELECT * FROM _totals"]
    sql = f"""
    WITH {_FACTS}, {_kpi_ctes(by)}
    {_KPI_SELECT} FROM ({" UNION ALL ".join(parts)})
    ORDER BY period, item_id NULLS LAST
    """
    df = _run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids), "user_id": user_id})
    return _nullable_ids(df, "item_id")


def forward_occupancy(
    store: Store,
    as_of: DateLike | None = None,
    horizons: Iterable[int] = (7, 30, 60),
    *,
    item_ids: ItemIds = None,
    user_id: int | None = None,
    clock: Clock | None = None,
) -> pd.DataFrame:
    """Adjusted occupancy and revenue of the next ``h`` nights, per horizon (7, 30, 60 by default).

    Nights ``as_of`` (default today in Moscow by ``clock``) .. ``as_of + h - 1``.

    An item counts in a horizon if it is an active listing or has a booked night within that horizon.

    Example: ``forward_occupancy(store)  # horizon_days 7, 30, 60``
    """
    start = _as_of(as_of, clock)
    hs = sorted({_positive_int(h, "horizons") for h in horizons})
    if not hs:
        raise ValueError("horizons must name at least one number of days")
    sql = f"""
    WITH {_FACTS},
    _h AS (SELECT unnest(CAST($horizons AS INTEGER[])) AS h),
    _per_item AS (
        SELECT h.h, f.item_id, bool_or(f.listed) AS listed,
               count(*) - count(*) FILTER (WHERE f.state = 'blocked') AS nights_available,
               count(*) FILTER (WHERE f.state = 'booked') AS nights_booked,
               sum(f.nightly_revenue) AS revenue
        FROM facts f JOIN _h h ON f.night < CAST($date_from AS DATE) + h.h
        GROUP BY ALL
    ),
    _sums AS (
        SELECT h, sum(nights_available) AS nights_available, sum(nights_booked) AS nights_booked,
               sum(revenue) AS revenue
        FROM _per_item WHERE listed OR nights_booked > 0 GROUP BY h
    )
    SELECT h.h AS horizon_days, CAST($date_from AS DATE) AS date_from,
           CAST($date_from AS DATE) + h.h - 1 AS date_to,
           CAST(coalesce(s.nights_available, 0) AS BIGINT) AS nights_available,
           CAST(coalesce(s.nights_booked, 0) AS BIGINT) AS nights_booked,
           s.nights_booked / nullif(s.nights_available, 0) AS occupancy,
           CAST(coalesce(s.revenue, 0.0) AS DOUBLE) AS revenue
    FROM _h h LEFT JOIN _sums s ON s.h = h.h
    ORDER BY horizon_days
    """
    params = {
        "date_from": start,
        "date_to": start + dt.timedelta(days=hs[-1] - 1),
        "horizons": hs,
        "item_ids": _item_list(item_ids),
        "user_id": user_id,
    }
    return _run(store, sql, params)


def year_over_year(
    store: Store,
    year: int | None = None,
    *,
    item_ids: ItemIds = None,
    user_id: int | None = None,
    clock: Clock | None = None,
) -> pd.DataFrame:
    """Month by month, this year against the year before: occupancy, revenue, ADR, RevPAR.

    ``year`` defaults to this one in Moscow. Each month counts its own items (active listings and listings booked
    that month), as ``kpis(by="month")``. A month without history (no sync read its nights and no booking
    has a night in it) is missing (NaN / NA), on either side: never a 0 % to compare with.

    Example: ``year_over_year(store, 2025)[["month", "occupancy", "ly_occupancy"]]``
    """
    year = avito_today(clock).year if year is None else _positive_int(year, "year", minimum=2)
    sql = f"""
    WITH {_FACTS}, {_kpi_ctes("month")},
    _known AS (
        SELECT DISTINCT CAST(date_trunc('month', CAST(m AS DATE)) AS DATE) AS period
        FROM ({_KNOWN_NIGHTS}) r, range(CAST(date_trunc('month', greatest(r.first, CAST($date_from AS DATE))) AS DATE),
                   least(r.last, CAST($date_to AS DATE)) + 1, INTERVAL 1 MONTH) AS t(m)
        WHERE r.first <= $date_to AND r.last >= $date_from
    ),
    _m AS (
        SELECT t.* FROM ({_KPI_SELECT} FROM _totals) t SEMI JOIN _known k ON k.period = t.period
    ),
    _months AS (SELECT DISTINCT period FROM _periods WHERE period >= $this_year)
    SELECT p.period AS month, m.occupancy, m.revenue, m.adr, m.revpar, m.nights_booked,
           ly.occupancy AS ly_occupancy, ly.revenue AS ly_revenue, ly.adr AS ly_adr, ly.revpar AS ly_revpar,
           ly.nights_booked AS ly_nights_booked
    FROM _months p
    LEFT JOIN _m m ON m.period = p.period
    LEFT JOIN _m ly ON ly.period = CAST(p.period - INTERVAL 1 YEAR AS DATE)
    ORDER BY month
    """
    params = {
        "date_from": dt.date(year - 1, 1, 1),
        "date_to": dt.date(year, 12, 31),
        "this_year": dt.date(year, 1, 1),
        "item_ids": _item_list(item_ids),
        "user_id": user_id,
    }
    return _run(store, sql, params)


# -- on the books, pace, pickup -------------------------------------------------------------------------------


def on_the_books(
    store: Store,
    date_from: DateLike,
    date_to: DateLike,
    as_of: DateLike,
    *,
    item_ids: ItemIds = None,
    user_id: int | None = None,
) -> pd.DataFrame:
    """Booked nights and revenue of nights date_from..date_to as known at the end of day ``as_of``.

    Example: ``on_the_books(store, "2025-08-01", "2025-08-31", as_of="2025-06-01")``
    """
    first, last = _range(date_from, date_to)
    day = parse_date(as_of, "as_of")
    snaps = (
        "SELECT 'now' AS snap, CAST($as_of AS DATE) AS as_of, CAST($date_from AS DATE) AS p_from, "
        "CAST($date_to AS DATE) AS p_to"
    )
    sql = f"""
    WITH {_otb_ctes(snaps)}
    SELECT as_of, CAST(nights_booked AS BIGINT) AS nights_booked, CAST(revenue AS DOUBLE) AS revenue FROM _otb
    """
    params = {"date_from": first, "date_to": last, "as_of": day, "item_ids": _item_list(item_ids), "user_id": user_id}
    return _run(store, sql, params)


def pace(
    store: Store,
    date_from: DateLike,
    date_to: DateLike,
    as_of: DateLike | None = None,
    days_back: int = 90,
    *,
    item_ids: ItemIds = None,
    user_id: int | None = None,
    clock: Clock | None = None,
) -> pd.DataFrame:
    """The on-the-books curve of a period for each day as_of - days_back .. as_of, against last year's.

    ``ly_*``: the same period a year earlier, as known on ``ly_as_of`` (a year before ``as_of``). Only bookings
    observed when made count; a day before history began is NA. ``attrs``: history_since, history_until,
    history_days, bookings (observed bookings with a night in the period).

    Example: ``pace(store, "2025-08-01", "2025-08-31", as_of="2025-07-01", days_back=60)``
    """
    first, last = _range(date_from, date_to)
    day = _as_of(as_of, clock)
    back = _positive_int(days_back, "days_back", minimum=0)
    snaps = """
    SELECT 'now' AS snap, CAST(d AS DATE) AS as_of, CAST($date_from AS DATE) AS p_from, CAST($date_to AS DATE) AS p_to
    FROM range(CAST($start AS DATE), CAST($as_of AS DATE) + 1, INTERVAL 1 DAY) AS t(d)
    UNION ALL
    SELECT 'ly', CAST(CAST(d AS DATE) - INTERVAL 1 YEAR AS DATE), CAST($ly_from AS DATE), CAST($ly_to AS DATE)
    FROM range(CAST($start AS DATE), CAST($as_of AS DATE) + 1, INTERVAL 1 DAY) AS t(d)
    """
    # A day before history began is unknown (NULL), not a zero on the books.
    sql = f"""
    WITH {_otb_ctes(snaps, observed_only=True)}
    SELECT n.as_of, CAST(date_diff('day', n.as_of, CAST($date_from AS DATE)) AS BIGINT) AS days_before,
           CAST(CASE WHEN n.as_of >= $since THEN n.nights_booked END AS BIGINT) AS nights_booked,
           CAST(CASE WHEN n.as_of >= $since THEN n.revenue END AS DOUBLE) AS revenue,
           ly.as_of AS ly_as_of, CAST(CASE WHEN ly.as_of >= $since THEN ly.nights_booked END AS BIGINT)
               AS ly_nights_booked,
           CAST(CASE WHEN ly.as_of >= $since THEN ly.revenue END AS DOUBLE) AS ly_revenue
    FROM _otb n JOIN _otb ly ON ly.snap = 'ly' AND ly.as_of = CAST(n.as_of - INTERVAL 1 YEAR AS DATE)
    WHERE n.snap = 'now'
    ORDER BY n.as_of
    """
    history = history_span(store, item_ids=item_ids, user_id=user_id)
    params = {
        "since": history[0],
        "date_from": first,
        "date_to": last,
        "ly_from": year_back(first),
        "ly_to": year_back(last),
        "start": day - dt.timedelta(days=back),
        "as_of": day,
        "item_ids": _item_list(item_ids),
        "user_id": user_id,
    }
    return _with_history(_run(store, sql, params), history, _observed_in(store, first, last, item_ids, user_id))


def pickup(
    store: Store,
    date_from: DateLike,
    date_to: DateLike,
    as_of: DateLike | None = None,
    days: int = 7,
    *,
    item_ids: ItemIds = None,
    user_id: int | None = None,
    clock: Clock | None = None,
) -> pd.DataFrame:
    """Nights and revenue a period gained on the books in the ``days`` up to ``as_of`` (net of cancellations).

    Only bookings observed when made count; the row is NA when ``as_of - days`` is before history began.
    ``attrs`` as :func:`pace`.

    Example: ``pickup(store, "2025-08-01", "2025-08-31")  # the last 7 days``
    """
    first, last = _range(date_from, date_to)
    day = _as_of(as_of, clock)
    span = _positive_int(days, "days")
    snaps = """
    SELECT snap, CAST(as_of AS DATE) AS as_of, CAST($date_from AS DATE) AS p_from, CAST($date_to AS DATE) AS p_to
    FROM (VALUES ('now', $as_of), ('then', $then)) AS t(snap, as_of)
    """
    # Nothing is known to have been added over days before history began: then the row is NULL.
    sql = f"""
    WITH {_otb_ctes(snaps, observed_only=True)}
    SELECT CAST(CASE WHEN t.as_of >= $since THEN n.nights_booked - t.nights_booked END AS BIGINT) AS nights_added,
           CAST(CASE WHEN t.as_of >= $since THEN n.revenue - t.revenue END AS DOUBLE) AS revenue_added,
           CAST(CASE WHEN t.as_of >= $since THEN n.nights_booked END AS BIGINT) AS nights_now,
           CAST(CASE WHEN t.as_of >= $since THEN t.nights_booked END AS BIGINT) AS nights_then
    FROM _otb n JOIN _otb t ON n.snap = 'now' AND t.snap = 'then'
    """
    history = history_span(store, item_ids=item_ids, user_id=user_id)
    params = {
        "since": history[0],
        "date_from": first,
        "date_to": last,
        "as_of": day,
        "then": day - dt.timedelta(days=span),
        "item_ids": _item_list(item_ids),
        "user_id": user_id,
    }
    return _with_history(_run(store, sql, params), history, _observed_in(store, first, last, item_ids, user_id))


# -- booking windows and cancellations ------------------------------------------------------------------------


def _open_range(date_from: DateLike | None, date_to: DateLike | None) -> tuple[dt.date | None, dt.date | None]:
    first = None if date_from is None else parse_date(date_from, "date_from")
    last = None if date_to is None else parse_date(date_to, "date_to")
    if first is not None and last is not None:
        _range(first, last)
    return first, last


_CHECK_IN_RANGE = (
    "b.status = 'active' AND b.check_out > b.check_in "
    "AND ($date_from IS NULL OR b.check_in >= $date_from) AND ($date_to IS NULL OR b.check_in <= $date_to)"
)


def lead_times(
    store: Store,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    *,
    item_ids: ItemIds = None,
    user_id: int | None = None,
) -> pd.DataFrame:
    """Days from a booking's first sighting to its check-in, per active booking with check_in in the range.

    Only bookings observed when made: one already there when avito_kit first read its night says nothing about
    when it was made. ``attrs``: history_since, history_until, history_days, bookings (the rows).

    Example: ``lead_times(store, "2025-01-01").lead_days.median()``
    """
    first, last = _open_range(date_from, date_to)
    sql = f"""
    WITH {_OBSERVED}
    SELECT b.booking_id, b.item_id, CAST(b.first_seen_at AS DATE) AS first_seen, b.check_in,
           CAST(greatest(date_diff('day', CAST(b.first_seen_at AS DATE), b.check_in), 0) AS BIGINT) AS lead_days
    FROM bookings b JOIN _observed o ON o.booking_id = b.booking_id AND o.observed
    WHERE {_CHECK_IN_RANGE} AND {_filters("b")}
    ORDER BY b.check_in, b.booking_id
    """
    df = _run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids), "user_id": user_id})
    return _with_history(_nullable_ids(df, "booking_id"), history_span(store, item_ids=item_ids, user_id=user_id),
                         len(df))


# Lead-time buckets in days, both ends included (None: no upper end); the report's histogram uses the same.
LEAD_TIME_BUCKETS: tuple[tuple[int, int | None], ...] = (
    (0, 1), (2, 7), (8, 14), (15, 30), (31, 60), (61, 90), (91, None),
)


def lead_time(
    store: Store,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    *,
    item_ids: ItemIds = None,
    user_id: int | None = None,
) -> pd.DataFrame:
    """Observed bookings per lead-time bucket (days from first sighting to check-in), check_in in the range.

    Columns: bucket ("0-1", ..., "91+"), min_days, max_days (NA for the last), bookings, share (of the bookings
    counted; NaN when none). attrs as :func:`lead_times`.

    Example: ``lead_time(store, "2026-01-01", "2026-12-31").set_index("bucket").bookings``
    """
    leads = lead_times(store, date_from, date_to, item_ids=item_ids, user_id=user_id)
    days = leads["lead_days"].astype("int64")
    rows = []
    for low, high in LEAD_TIME_BUCKETS:
        n = int(((days >= low) & (days <= high) if high is not None else days >= low).sum())
        rows.append({"bucket": f"{low}-{high}" if high is not None else f"{low}+", "min_days": low,
                     "max_days": high, "bookings": n, "share": n / len(days) if len(days) else math.nan})
    frame = pd.DataFrame(rows).astype({"max_days": "Int64"})
    frame.attrs.update(leads.attrs)
    return frame


def length_of_stay(
    store: Store,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    *,
    item_ids: ItemIds = None,
    user_id: int | None = None,
) -> pd.DataFrame:
    """How many active stays (check_in in the range) last each number of nights.

    Example: ``length_of_stay(store, "2025-01-01", "2025-12-31")``
    """
    first, last = _open_range(date_from, date_to)
    sql = f"""
    SELECT CAST(date_diff('day', b.check_in, b.check_out) AS BIGINT) AS nights, count(*) AS stays
    FROM bookings b
    WHERE {_CHECK_IN_RANGE} AND {_filters("b")}
    GROUP BY ALL ORDER BY nights
    """
    return _run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids),
                             "user_id": user_id})


_CANCELLATION_DAYS = f"""
{_OBSERVED},
_days AS (
    SELECT CAST(d AS DATE) AS observed
    FROM range(CAST($date_from AS DATE), CAST($date_to AS DATE) + 1, INTERVAL 1 DAY) AS t(d)
),
_per_day AS (
    SELECT CAST(e.observed_at AS DATE) AS observed,
           count(*) FILTER (WHERE {{cancel}}) AS cancellations,
           sum(CAST(coalesce(e.previous_base_price, e.base_price) AS DOUBLE)) FILTER (WHERE {{cancel}}) AS lost_revenue,
           count(DISTINCT e.booking_id) FILTER (WHERE e.event = 'first_seen' AND e.status IN ('active', 'pending')
                                                AND o.observed) AS bookings_seen,
           count(*) FILTER (WHERE {{cancel}} AND o.observed) AS observed_cancellations
    FROM booking_events e LEFT JOIN _observed o ON o.booking_id = e.booking_id
    WHERE e.observed_at >= CAST($date_from AS DATE) AND e.observed_at < CAST($date_to AS DATE) + 1
      AND {_filters("e")}
    GROUP BY ALL
),
_cancel_days AS (
    SELECT d.observed, coalesce(p.cancellations, 0) AS cancellations, coalesce(p.lost_revenue, 0.0) AS lost_revenue,
           coalesce(p.bookings_seen, 0) AS bookings_seen,
           coalesce(p.observed_cancellations, 0) AS observed_cancellations
    FROM _days d LEFT JOIN _per_day p ON p.observed = d.observed
)
""".replace(
    "{cancel}",
    "e.event = 'changed' AND e.status = 'canceled' AND e.previous_status IS DISTINCT FROM 'canceled'",
)


def cancellations(
    store: Store, date_from: DateLike, date_to: DateLike, *, item_ids: ItemIds = None, user_id: int | None = None
) -> pd.DataFrame:
    """Cancellations observed per day, their lost revenue, new bookings observed that day, and the rate.

    Example: ``cancellations(store, "2025-06-01", "2025-06-30").set_index("observed").cancellations``
    """
    first, last = _range(date_from, date_to)
    sql = f"""
    WITH {_CANCELLATION_DAYS}
    SELECT observed, CAST(cancellations AS BIGINT) AS cancellations, CAST(lost_revenue AS DOUBLE) AS lost_revenue,
           CAST(bookings_seen AS BIGINT) AS bookings_seen,
           CAST(observed_cancellations AS BIGINT) AS observed_cancellations,
           observed_cancellations / nullif(bookings_seen, 0) AS cancellation_rate
    FROM _cancel_days ORDER BY observed
    """
    frame = _run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids),
                              "user_id": user_id})
    return _with_history(frame, history_span(store, item_ids=item_ids, user_id=user_id), frame.bookings_seen.sum())


def cancellation_summary(
    store: Store, date_from: DateLike, date_to: DateLike, *, item_ids: ItemIds = None, user_id: int | None = None
) -> pd.DataFrame:
    """One row: cancellations observed in the range, lost revenue, new bookings observed, and the rate.

    Example: ``cancellation_summary(store, "2025-01-01", "2025-12-31").cancellation_rate[0]``
    """
    first, last = _range(date_from, date_to)
    sql = f"""
    WITH {_CANCELLATION_DAYS}
    SELECT CAST(sum(cancellations) AS BIGINT) AS cancellations, CAST(sum(lost_revenue) AS DOUBLE) AS lost_revenue,
           CAST(sum(bookings_seen) AS BIGINT) AS bookings_seen,
           CAST(sum(observed_cancellations) AS BIGINT) AS observed_cancellations,
           sum(observed_cancellations) / nullif(sum(bookings_seen), 0) AS cancellation_rate
    FROM _cancel_days
    """
    frame = _run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids),
                              "user_id": user_id})
    return _with_history(frame, history_span(store, item_ids=item_ids, user_id=user_id), frame.bookings_seen[0])


# -- calendar shape -----------------------------------------------------------------------------------------


def gap_nights(
    store: Store,
    date_from: DateLike,
    date_to: DateLike,
    min_stay: int = 2,
    *,
    item_ids: ItemIds = None,
    user_id: int | None = None,
) -> pd.DataFrame:
    """Free runs between two stays, shorter than ``min_stay``: nights no guest can book.

    The facts are read ``min_stay`` nights beyond both ends, so the stays around a gap at an edge are seen.

    Example: ``gap_nights(store, "2025-07-01", "2025-08-31", min_stay=3)``
    """
    first, last = _range(date_from, date_to)
    stay = _positive_int(min_stay, "min_stay")
    sql = f"""
    WITH {_FACTS},
    _islands AS (
        SELECT item_id, any_value(title) AS title, state, min(night) AS run_start, max(night) + 1 AS run_end
        FROM (
            SELECT item_id, title, state, night,
                   date_diff('day', DATE '2000-01-01', night)
                   - row_number() OVER (PARTITION BY item_id, state ORDER BY night) AS island
            FROM facts
        )
        GROUP BY item_id, state, island
    ),
    _runs AS (
        SELECT *, lag(state) OVER w AS before, lead(state) OVER w AS after
        FROM _islands WINDOW w AS (PARTITION BY item_id ORDER BY run_start)
    )
    SELECT item_id, title, run_start AS gap_start, run_end AS gap_end,
           CAST(date_diff('day', run_start, run_end) AS BIGINT) AS nights
    FROM _runs
    WHERE state = 'free' AND before = 'booked' AND after = 'booked'
      AND date_diff('day', run_start, run_end) < $min_stay
      AND run_start <= $period_to AND run_end > $period_from
    ORDER BY item_id, gap_start
    """
    params = {
        "date_from": first - dt.timedelta(days=stay),
        "date_to": last + dt.timedelta(days=stay),
        "period_from": first,
        "period_to": last,
        "min_stay": stay,
        "item_ids": _item_list(item_ids),
        "user_id": user_id,
    }
    return _run(store, sql, params)


def weekday_split(
    store: Store,
    date_from: DateLike,
    date_to: DateLike,
    weekend_days: Iterable[int] = (4, 5),
    *,
    item_ids: ItemIds = None,
    user_id: int | None = None,
) -> pd.DataFrame:
    """Weekday against weekend nights (ISO weekday of the night, Monday = 0; Friday and Saturday by default).

    Example: ``weekday_split(store, "2025-06-01", "2025-08-31").set_index("day_type").adr``
    """
    first, last = _range(date_from, date_to)
    weekend = sorted({_positive_int(d, "weekend_days", minimum=0) for d in weekend_days})
    if any(d > 6 for d in weekend):
        raise ValueError(f"weekend_days are ISO weekdays 0 (Monday) .. 6 (Sunday), got {weekend}")
    sql = f"""
    WITH {_FACTS},
    _types AS (SELECT * FROM (VALUES ('weekday', 0), ('weekend', 1)) AS t(day_type, ord)),
    _sums AS (
        SELECT CASE WHEN list_contains(CAST($weekend AS INTEGER[]), isodow(night) - 1) THEN 'weekend'
                    ELSE 'weekday' END AS day_type,
               count(*) FILTER (WHERE state <> 'blocked') AS nights_available,
               count(*) FILTER (WHERE state = 'booked') AS nights_booked,
               sum(nightly_revenue) AS revenue
        FROM facts GROUP BY ALL
    )
    SELECT t.day_type, CAST(coalesce(s.nights_available, 0) AS BIGINT) AS nights_available,
           CAST(coalesce(s.nights_booked, 0) AS BIGINT) AS nights_booked,
           s.nights_booked / nullif(s.nights_available, 0) AS occupancy,
           CAST(coalesce(s.revenue, 0.0) AS DOUBLE) AS revenue, s.revenue / nullif(s.nights_booked, 0) AS adr
    FROM _types t LEFT JOIN _sums s ON s.day_type = t.day_type
    ORDER BY t.ord
    """
    params = {"date_from": first, "date_to": last, "weekend": weekend, "item_ids": _item_list(item_ids),
              "user_id": user_id}
    return _run(store, sql, params)


def weekday_heatmap(
    store: Store, date_from: DateLike, date_to: DateLike, *, item_ids: ItemIds = None, user_id: int | None = None
) -> pd.DataFrame:
    """Adjusted occupancy per night laid out as ISO week (Monday) x weekday (Monday = 0), for a heatmap.

    Example: ``weekday_heatmap(store, "2025-06-01", "2025-08-31").pivot(index="weekday", columns="week_start")``
    """
    first, last = _range(date_from, date_to)
    sql = f"""
    WITH {_FACTS},
    _sums AS (
        SELECT night, count(f.state) FILTER (WHERE f.state <> 'blocked') AS available,
               count(f.state) FILTER (WHERE f.state = 'booked') AS booked
        FROM _nights n LEFT JOIN facts f USING (night)
        GROUP BY night
    )
    SELECT CAST(isodow(night) - 1 AS BIGINT) AS weekday, CAST(date_trunc('week', night) AS DATE) AS week_start,
           booked / nullif(available, 0) AS occupancy
    FROM _sums ORDER BY week_start, weekday
    """
    return _run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids),
                             "user_id": user_id})


# -- demand ----------------------------------------------------------------------------------------------------


def listing_funnel(
    store: Store, date_from: DateLike, date_to: DateLike, *, item_ids: ItemIds = None, user_id: int | None = None
) -> pd.DataFrame:
    """Views -> contacts -> favourites -> bookings per listing and ISO week (days clipped to the range).

    Example: ``listing_funnel(store, "2025-06-01", "2025-06-30").groupby("item_id")[["views", "bookings"]].sum()``
    """
    first, last = _range(date_from, date_to)
    sql = f"""
    WITH {_OBSERVED},
    _stats AS (
        SELECT CAST(date_trunc('week', s.date) AS DATE) AS week_start, s.item_id,
               sum(s.uniq_views) AS views, sum(s.uniq_contacts) AS contacts, sum(s.uniq_favorites) AS favorites
        FROM item_stats s
        WHERE s.date BETWEEN $date_from AND $date_to AND {_filters("s")}
        GROUP BY ALL
    ),
    _new AS (
        SELECT CAST(date_trunc('week', e.observed_at) AS DATE) AS week_start, e.item_id,
               count(DISTINCT e.booking_id) AS bookings
        FROM booking_events e JOIN _observed o ON o.booking_id = e.booking_id AND o.observed
        WHERE e.event = 'first_seen' AND e.status IN ('active', 'pending')
          AND e.observed_at >= CAST($date_from AS DATE) AND e.observed_at < CAST($date_to AS DATE) + 1
          AND {_filters("e")}
        GROUP BY ALL
    )
    SELECT week_start, item_id, i.title,
           CAST(coalesce(views, 0) AS BIGINT) AS views, CAST(coalesce(contacts, 0) AS BIGINT) AS contacts,
           CAST(coalesce(favorites, 0) AS BIGINT) AS favorites, CAST(coalesce(bookings, 0) AS BIGINT) AS bookings
    FROM _stats FULL JOIN _new USING (week_start, item_id)
    LEFT JOIN items i USING (item_id)
    ORDER BY week_start, item_id
    """
    frame = _run(store, sql, {"date_from": first, "date_to": last, "item_ids": _item_list(item_ids),
                              "user_id": user_id})
    return _with_history(frame, history_span(store, item_ids=item_ids, user_id=user_id), frame.bookings.sum())


# A guest waits for an answer from their first message after the host's last answer. Avito's own 'system'
# messages ("Новый запрос на бронирование") count on neither side: they are no guest's question and no answer.
_CHATS = f"""
_base AS (
    SELECT c.chat_id, c.item_id, c.chat_type, c.other_user_name, c.last_message_at, c.last_message_text,
           c.last_message_direction
    FROM chats c WHERE {_filters("c")}
),
_msgs AS (
    SELECT m.chat_id, m.created, m.text, m.direction, m.is_read,
           m.direction = 'in' AND m.type IS DISTINCT FROM 'system' AS incoming,
           m.direction = 'out' AND m.type IS DISTINCT FROM 'system' AS outgoing
    FROM messages m
    WHERE m.chat_id IN (SELECT chat_id FROM _base)
),
_marks AS (
    SELECT chat_id, min(created) FILTER (WHERE incoming) AS first_incoming_at,
           max(created) FILTER (WHERE outgoing) AS last_outgoing_at, max(created) AS last_message_at,
           arg_max(text, created) AS last_text, arg_max(direction, created) AS last_direction,
           count(*) FILTER (WHERE direction = 'in' AND NOT coalesce(is_read, false)) AS unread
    FROM _msgs GROUP BY chat_id
),
_per_chat AS (
    SELECT b.chat_id, b.item_id, b.chat_type, b.other_user_name, k.first_incoming_at,
           (SELECT min(m.created) FROM _msgs m
            WHERE m.chat_id = b.chat_id AND m.outgoing AND m.created >= k.first_incoming_at) AS first_response_at,
           greatest(k.last_message_at, b.last_message_at) AS last_message_at,
           (SELECT min(m.created) FROM _msgs m
            WHERE m.chat_id = b.chat_id AND m.incoming
              AND (k.last_outgoing_at IS NULL OR m.created > k.last_outgoing_at)) AS waiting_since,
           coalesce(k.last_text, b.last_message_text) AS inbox_last_text,
           coalesce(k.last_message_at, b.last_message_at) AS inbox_last_at,
           coalesce(k.last_direction, b.last_message_direction) AS inbox_last_direction,
           coalesce(k.unread, 0) AS unread
    FROM _base b LEFT JOIN _marks k ON k.chat_id = b.chat_id
)
"""


def messaging(store: Store, *, item_ids: ItemIds = None, user_id: int | None = None) -> pd.DataFrame:
    """Per chat: response time to the first incoming message, and since when a guest has been waiting.

    Example: ``messaging(store).query("not answered").sort_values("waiting_since")``
    """
    sql = f"""
    WITH {_CHATS}
    SELECT chat_id, item_id, other_user_name, first_incoming_at, first_response_at,
           date_diff('second', first_incoming_at, first_response_at) / 60.0 AS response_minutes,
           waiting_since IS NULL AS answered, last_message_at, waiting_since
    FROM _per_chat
    ORDER BY last_message_at DESC NULLS LAST, chat_id
    """
    df = _run(store, sql, {"item_ids": _item_list(item_ids), "user_id": user_id})
    return _nullable_ids(df, "item_id")


def messaging_summary(store: Store, *, item_ids: ItemIds = None, user_id: int | None = None) -> pd.DataFrame:
    """One row: chats, answered, unanswered (a guest is waiting), median minutes to the first response.

    Example: ``messaging_summary(store).unanswered[0]``
    """
    sql = f"""
    WITH {_CHATS}
    SELECT count(*) AS chats, count(*) FILTER (WHERE waiting_since IS NULL) AS answered,
           count(*) FILTER (WHERE waiting_since IS NOT NULL) AS unanswered,
           quantile_cont(date_diff('second', first_incoming_at, first_response_at) / 60.0, 0.5)
               AS median_response_minutes
    FROM _per_chat
    """
    return _run(store, sql, {"item_ids": _item_list(item_ids), "user_id": user_id})


def inbox(
    store: Store, now: dt.datetime | None = None, *, item_ids: ItemIds = None, user_id: int | None = None
) -> pd.DataFrame:
    """The host's inbox: a row per chat, chats that need the host first (unread or a guest waiting), newest first.

    ``waiting_since`` is :func:`messaging`'s (one definition of a guest waiting); ``waited`` is ``now`` (naive
    UTC, default the current time) minus it, a ``timedelta`` or None.

    Example: ``inbox(store).query("needs_attention")[["other_user_name", "waited"]]``
    """
    sql = f"""
    WITH {_CHATS}
    SELECT p.chat_id, p.item_id, p.chat_type, i.title, p.other_user_name, p.inbox_last_text AS last_text,
           p.inbox_last_at AS last_at, p.inbox_last_direction AS last_direction, CAST(p.unread AS BIGINT) AS unread,
           p.waiting_since, p.unread > 0 OR p.waiting_since IS NOT NULL AS needs_attention
    FROM _per_chat p LEFT JOIN items i ON i.item_id = p.item_id
    ORDER BY needs_attention DESC, last_at DESC NULLS LAST, p.chat_id
    """
    frame = _nullable_ids(_run(store, sql, {"item_ids": _item_list(item_ids), "user_id": user_id}), "item_id")
    now = utc_now() if now is None else now
    frame["waited"] = [None if pd.isna(t) else now - pd.Timestamp(t).to_pydatetime() for t in frame["waiting_since"]]
    return frame


# -- a listing's calendar and a guest's booking ---------------------------------------------------------------


def night_states(first: dt.date, last: dt.date, bookings: pd.DataFrame, blocks: pd.DataFrame
                 ) -> dict[dt.date, tuple[str, str | None]]:
    """Night -> (state, note) for nights ``first`` <= night < ``last`` of one listing's calendar as the host
    manages it: 'booked' (an active booking, the guest's name), 'pending' (awaiting payment), 'blocked' (the
    host's block, its comment) or 'free'. An active booking wins over a block, a block over a pending booking.

    ``bookings`` as ``store.bookings(item_id, statuses=["active", "pending"])``, ``blocks`` as
    ``store.calendar_blocks(item_id)``.
    """
    nights = {first + dt.timedelta(days=i): ("free", None) for i in range((last - first).days)}
    rank = {"free": 0, "pending": 1, "blocked": 2, "booked": 3}

    def paint(start: Any, end: Any, state: str, note: str | None) -> None:
        day = max(as_date(start), first)
        while day < min(as_date(end), last):
            if rank[state] > rank[nights[day][0]]:
                nights[day] = (state, note)
            day += dt.timedelta(days=1)

    for b in records(bookings):
        state = "booked" if b["status"] == "active" else "pending"
        paint(b["check_in"], b["check_out"], state, b.get("guest_name"))
    for b in records(blocks):
        paint(b["date_start"], b["date_end"], "blocked", b.get("comment") or "закрыто")
    return nights


def guest_booking(store: Store, item_id: Any, guest_name: str | None, today: dt.date) -> dict | None:
    """The guest's next active or pending booking of the listing (ending today or later), matched by first name
    and, when the chat shows one, the surname's initial (Avito's chats show "Максим К."); None when none.

    Example: ``guest_booking(store, 4242, "Максим К.", avito_today())["check_in"]``
    """
    if item_id is None or pd.isna(item_id) or not guest_name:
        return None
    wanted = guest_name.replace(".", " ").split()
    for booking in records(store.bookings(int(item_id), statuses=["active", "pending"])):
        name = (booking.get("guest_name") or "").split()
        if as_date(booking["check_out"]) < today or not name or name[0].lower() != wanted[0].lower():
            continue
        if len(wanted) > 1 and (len(name) < 2 or name[1][:1].lower() != wanted[1][:1].lower()):
            continue
        return {**booking, "check_in": as_date(booking["check_in"]), "check_out": as_date(booking["check_out"])}
    return None


# -- the catalog: host-facing names, for ``avito-kit metric`` ---------------------------------------------------

# How a metric takes ``--from/--to``: "range" both required (nights, or days observed); "check_in" both optional,
# stays filtered by check-in date; "as_of" only ``--from``, the first night (default today); "year" the year of
# ``--to`` (or ``--from``; default this one); "none" no dates.
METRIC_DATES = ("range", "check_in", "as_of", "year", "none")


@dataclass(frozen=True)
class Metric:
    """One host-facing metric: its function and which options of ``avito-kit metric`` apply."""

    name: str
    function: Callable[..., pd.DataFrame]
    dates: str
    by: tuple[str, ...] = ()  # the values ``--by`` accepts; () when it does not apply

    @property
    def summary(self) -> str:
        """The first line of the function's docstring."""
        return (self.function.__doc__ or "").strip().splitlines()[0]

    def options(self) -> tuple[str, ...]:
        """The ``avito-kit metric`` options that apply, e.g. ("--from", "--to", "--by")."""
        dates = {"range": ("--from", "--to"), "check_in": ("--from", "--to"), "as_of": ("--from",),
                 "year": ("--from", "--to")}.get(self.dates, ())
        return dates + (("--by",) if self.by else ())

    def compute(self, store: Store, date_from: DateLike | None = None, date_to: DateLike | None = None,
                by: str | None = None) -> pd.DataFrame:
        """Run the metric with the options given; an option that does not apply, a missing date or a bad value
        raises ``ValueError`` (one line)."""
        given = {"--from": date_from, "--to": date_to, "--by": by}
        extra = [name for name, value in given.items() if value is not None and name not in self.options()]
        if extra:
            usable = ", ".join(self.options()) or "no options"
            raise ValueError(f"metric {self.name} takes {usable}, not {', '.join(extra)}")
        kwargs = {"by": by} if by is not None else {}
        if by is not None and by not in self.by:
            raise ValueError(f"--by must be one of {', '.join(self.by)} for {self.name}, got {by!r}")
        if self.dates == "range":
            if date_from is None or date_to is None:
                raise ValueError(f"metric {self.name} needs --from and --to (YYYY-MM-DD)")
            check_range(date_from, date_to, ("--from", "--to"), allow_equal=True)
            return self.function(store, date_from, date_to, **kwargs)
        if self.dates == "check_in":
            first = None if date_from is None else parse_date(date_from, "--from")
            last = None if date_to is None else parse_date(date_to, "--to")
            if first and last:
                check_range(first, last, ("--from", "--to"), allow_equal=True)
            return self.function(store, first, last)
        if self.dates == "as_of":
            return self.function(store, None if date_from is None else parse_date(date_from, "--from"))
        if self.dates == "year":
            day = date_to if date_to is not None else date_from
            return self.function(store, None if day is None else parse_date(day, "--to" if date_to else "--from").year)
        return self.function(store)


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("kpis", kpis, "range", by=("item", "total")),
    Metric("forward_occupancy", forward_occupancy, "as_of"),
    Metric("year_over_year", year_over_year, "year"),
    Metric("pace", pace, "range"),
    Metric("pickup", pickup, "range"),
    Metric("lead_time", lead_time, "check_in"),
    Metric("lead_times", lead_times, "check_in"),
    Metric("length_of_stay", length_of_stay, "check_in"),
    Metric("cancellations", cancellations, "range"),
    Metric("cancellation_summary", cancellation_summary, "range"),
    Metric("gap_nights", gap_nights, "range"),
    Metric("weekday_split", weekday_split, "range"),
    Metric("weekday_heatmap", weekday_heatmap, "range"),
    Metric("funnel", listing_funnel, "range"),
    Metric("grid", grid, "range"),
    Metric("messaging", messaging, "none"),
    Metric("messaging_summary", messaging_summary, "none"),
    Metric("inbox", inbox, "none"),
)}


# -- listed prices (what avito_kit pushed) against what was sold ------------------------------------------------
# Avito never reads prices back: the listed price of a night is the one avito_kit last pushed for it (a period
# push covering it, else the listing's latest base night_price; see ``Store.night_prices``), as it stands now.


def _listed_prices(store: Store, item_ids: Iterable[int], first: dt.date, last: dt.date) -> pd.DataFrame:
    frames = [store.night_prices(int(item_id), first, last + dt.timedelta(days=1)).assign(item_id=int(item_id))
              for item_id in item_ids]
    if not frames:
        return pd.DataFrame(columns=["item_id", "night", "listed_price"])
    prices = pd.concat(frames, ignore_index=True).rename(columns={"night_price": "listed_price"})
    prices["night"] = pd.to_datetime(prices["night"])
    prices["listed_price"] = prices["listed_price"].astype("Float64").astype(float)
    return prices[["item_id", "night", "listed_price"]]


def _priced_facts(store: Store, date_from: DateLike, date_to: DateLike, item_ids: ItemIds,
                  user_id: int | None) -> pd.DataFrame:
    first, last = _range(date_from, date_to)
    facts = nightly_facts(store, first, last, item_ids, user_id=user_id)
    prices = _listed_prices(store, facts["item_id"].unique(), first, last)
    facts["night"] = pd.to_datetime(facts["night"])
    return facts.merge(prices, on=["item_id", "night"], how="left")


def listed_vs_realized(
    store: Store, date_from: DateLike, date_to: DateLike, item_ids: ItemIds = None, *, user_id: int | None = None
) -> pd.DataFrame:
    """Per listing and month: the listed price against the realized ADR.

    Columns: month, item_id, title, nights_priced (nights with a listed price), listed_price (mean over them),
    nights_booked, adr (revenue / booked nights), listed_booked (mean listed price of the booked nights that
    have one), adr_vs_listed (adr of those nights / listed_booked - 1: -0.1 sold 10 % under the list).

    Example: ``listed_vs_realized(store, "2026-12-01", "2027-02-28")``
    """
    facts = _priced_facts(store, date_from, date_to, item_ids, user_id)
    facts["month"] = facts["night"].dt.to_period("M").dt.start_time
    booked = facts["state"] == "booked"
    both = booked & facts["listed_price"].notna()
    facts = facts.assign(booked=booked.astype(int), revenue=facts["nightly_revenue"].where(booked, 0.0),
                         priced=facts["listed_price"].notna().astype(int),
                         listed_of_booked=facts["listed_price"].where(both),
                         revenue_of_priced=facts["nightly_revenue"].where(both))
    out = facts.groupby(["month", "item_id", "title"], dropna=False).agg(
        nights_priced=("priced", "sum"), listed_price=("listed_price", "mean"), nights_booked=("booked", "sum"),
        revenue=("revenue", "sum"), listed_booked=("listed_of_booked", "mean"),
        realized_of_priced=("revenue_of_priced", "mean")).reset_index()
    out["adr"] = out["revenue"] / out["nights_booked"].where(out["nights_booked"] > 0)
    out["adr_vs_listed"] = out["realized_of_priced"] / out["listed_booked"] - 1
    columns = ["month", "item_id", "title", "nights_priced", "listed_price", "nights_booked", "adr", "listed_booked",
               "adr_vs_listed"]
    return _nullable_ids(out[columns].sort_values(["month", "item_id"], ignore_index=True), "item_id")


def nights_below_listed(
    store: Store, date_from: DateLike, date_to: DateLike, item_ids: ItemIds = None, *, user_id: int | None = None
) -> pd.DataFrame:
    """Booked nights whose nightly revenue is below their listed price.

    Columns: item_id, title, night, booking_id, guest_name, nightly_revenue, listed_price, shortfall (listed -
    realized, rubles), shortfall_share (shortfall / listed). Discounts for long stays show up here too.

    Example: ``nights_below_listed(store, "2026-12-01", "2026-12-31").groupby("item_id").shortfall.sum()``
    """
    facts = _priced_facts(store, date_from, date_to, item_ids, user_id)
    below = facts[(facts["state"] == "booked") & (facts["nightly_revenue"] < facts["listed_price"])].copy()
    below["shortfall"] = below["listed_price"] - below["nightly_revenue"]
    below["shortfall_share"] = below["shortfall"] / below["listed_price"]
    columns = ["item_id", "title", "night", "booking_id", "guest_name", "nightly_revenue", "listed_price", "shortfall",
               "shortfall_share"]
    return below[columns].reset_index(drop=True)


SUGGESTION_STEPS = ((0.20, 10), (0.10, 5), (-0.10, 0), (-0.20, -5))  # occupancy lead -> change in percent


def price_suggestions(
    store: Store, as_of: DateLike | None = None, weeks: int = 8, item_ids: ItemIds = None, *,
    user_id: int | None = None, clock: Clock | None = None,
) -> pd.DataFrame:
    """A transparent suggestion per listing and each of the next ``weeks`` weeks; never pushed by itself (the
    host turns one into ``avito-kit price set`` or the widget, which preview and confirm).

    The rule (also METRICS.md):

    - week k covers the nights as_of + 7k .. as_of + 7k + 6; ``occupancy`` = booked / available nights of it,
      on the books now;
    - last year: the same weekdays 364 days earlier. ``basis`` 'pace': booked nights of that week as known at
      the end of as_of - 364 (``on_the_books``), when the store saw bookings that far back; otherwise 'final':
      what that week ended up booked (higher than the pace at the same lead time, so suggestions lean down);
      ``ly_occupancy`` = those nights / the week's available nights;
    - ``lead`` = occupancy - ly_occupancy; ``suggested_change_pct`` = +10 if lead >= 0.20, +5 if >= 0.10,
      -10 if lead < -0.20, -5 if < -0.10, else 0; 0 when a week has no available night or no last-year nights
      (``reason`` says which);
    - ``listed_price`` = mean listed price of the week's nights (see ``Store.night_prices``), and
      ``suggested_price`` = listed_price x (1 + change / 100) rounded to 10 rubles (NaN when none is listed).

    Columns: item_id, title, week_start, week_end (inclusive), nights_available, nights_booked, occupancy,
    ly_week_start, ly_occupancy, basis, lead, suggested_change_pct, listed_price, suggested_price, reason.

    Example: ``price_suggestions(store).query("suggested_change_pct != 0")``
    """
    start = _as_of(as_of, clock)
    weeks = _positive_int(weeks, "weeks")
    ids = _item_list(item_ids)
    first_seen = store.query("SELECT min(observed_at) AS first FROM booking_events")["first"].iloc[0]
    ly_as_of = start - dt.timedelta(days=364)
    basis = "pace" if not pd.isna(first_seen) and pd.Timestamp(first_seen).date() <= ly_as_of else "final"
    rows = []
    for k in range(weeks):
        week_start = start + dt.timedelta(days=7 * k)
        week_end = week_start + dt.timedelta(days=6)
        ly_start, ly_end = week_start - dt.timedelta(days=364), week_end - dt.timedelta(days=364)
        now = kpis(store, week_start, week_end, "item", ids, user_id=user_id).dropna(subset=["item_id"])
        ly = kpis(store, ly_start, ly_end, "item", ids, user_id=user_id).dropna(subset=["item_id"])
        ly = ly.set_index("item_id")
        prices = _listed_prices(store, now["item_id"], week_start, week_end).groupby("item_id")["listed_price"].mean()
        for row in now.itertuples():
            item_id = int(row.item_id)
            ly_available = float(ly["nights_available"].get(item_id, 0) or 0)
            if basis == "pace":
                ly_booked = float(on_the_books(store, ly_start, ly_end, ly_as_of, item_ids=[item_id],
                                               user_id=user_id)["nights_booked"].iloc[0])
            else:
                ly_booked = float(ly["nights_booked"].get(item_id, 0) or 0)
            ly_occupancy = ly_booked / ly_available if ly_available else float("nan")
            change, reason, lead = 0, "", float("nan")
            if not row.nights_available:
                reason = "нет свободных для продажи ночей"
            elif pd.isna(ly_occupancy) or ly_booked == 0:
                reason = "нет данных прошлого года"
            else:
                lead = float(row.occupancy) - ly_occupancy
                change = _suggested_change(lead)
                reason = f"загрузка {'выше' if lead >= 0 else 'ниже'} прошлого года на {abs(lead) * 100:.0f} п.п."
            listed = float(prices.get(item_id, float("nan")))
            suggested = round(listed * (1 + change / 100), -1) if not pd.isna(listed) else float("nan")
            rows.append({"item_id": item_id, "title": row.title if hasattr(row, "title") else None,
                         "week_start": pd.Timestamp(week_start), "week_end": pd.Timestamp(week_end),
                         "nights_available": int(row.nights_available), "nights_booked": int(row.nights_booked),
                         "occupancy": float(row.occupancy), "ly_week_start": pd.Timestamp(ly_start),
                         "ly_occupancy": ly_occupancy, "basis": basis, "lead": lead, "suggested_change_pct": change,
                         "listed_price": listed, "suggested_price": suggested, "reason": reason})
    columns = ["item_id", "title", "week_start", "week_end", "nights_available", "nights_booked", "occupancy",
               "ly_week_start", "ly_occupancy", "basis", "lead", "suggested_change_pct", "listed_price",
               "suggested_price", "reason"]
    out = pd.DataFrame(rows, columns=columns)
    titles = store.items()[["item_id", "title"]]
    out = out.drop(columns="title").merge(titles, on="item_id", how="left")[columns]
    return _nullable_ids(out.sort_values(["item_id", "week_start"], ignore_index=True), "item_id")


def _suggested_change(lead: float) -> int:
    """+10 / +5 / 0 / -5 / -10 percent by how far occupancy leads last year's (``price_suggestions``)."""
    for threshold, change in SUGGESTION_STEPS:
        if lead >= threshold:
            return change
    return -10


# -- ratings and reviews ----------------------------------------------------------------------------------------
# From the reviews and rating_snapshots tables (ratings.json). A review is answered when its answer is published
# or in moderation; a rejected answer leaves it waiting for one. Avito gives no rating history: the snapshots are
# the rating each time a sync saw it change.

STAY_MATCH_DAYS = 30  # a review is matched to a stay of its listing that ended at most this many days before it

REVIEW_INBOX_COLUMNS = ["review_id", "item_id", "item_title", "score", "text", "sender_name", "created_at",
                        "image_count", "answer_id", "answer_text", "answer_status", "answer_reject_reasons",
                        "needs_answer", "booking_id", "check_in", "check_out"]


def _answered(reviews: pd.DataFrame) -> pd.Series:
    return reviews["answer_id"].notna() & (reviews["answer_status"] != "rejected")


def review_inbox(store: Store) -> pd.DataFrame:
    """Reviews, those waiting for an answer first (none yet, or the answer rejected by moderation), then newest
    first; each with the stay it follows when one matches: the listing's active booking that ended at most
    30 days before the review, by a guest of the sender's first name (booking_id, check_in, check_out).

    Example: ``review_inbox(store).query("needs_answer")``
    """
    reviews = store.reviews()
    if reviews.empty:
        return pd.DataFrame(columns=REVIEW_INBOX_COLUMNS)
    reviews["needs_answer"] = ~_answered(reviews)
    stays = store.query(
        """SELECT r.review_id, b.booking_id, b.check_in, b.check_out FROM reviews r JOIN bookings b
           ON b.item_id = r.item_id AND b.status = 'active' AND b.check_out <= CAST(r.created_at AS DATE)
          AND b.check_out >= CAST(r.created_at AS DATE) - $days
          AND lower(split_part(b.guest_name, ' ', 1)) = lower(split_part(r.sender_name, ' ', 1))
           QUALIFY row_number() OVER (PARTITION BY r.review_id ORDER BY b.check_out DESC) = 1""",
        {"days": STAY_MATCH_DAYS})
    out = reviews.merge(stays, on="review_id", how="left")
    out = out.sort_values(["needs_answer", "created_at", "review_id"], ascending=[False, False, False],
                          ignore_index=True)
    return _nullable_ids(out[REVIEW_INBOX_COLUMNS], "item_id", "booking_id")


def rating_history(store: Store) -> pd.DataFrame:
    """The account's rating over time: observed_at, score, reviews_count, reviews_with_score_count (a row each
    time a sync saw it change; it held until the next row)."""
    return store.rating_snapshots()[["observed_at", "score", "reviews_count", "reviews_with_score_count"]]


def score_distribution(store: Store) -> pd.DataFrame:
    """Reviews by score 1..5: score, reviews, share (of all reviews)."""
    counts = store.query("SELECT score, count(*) AS reviews FROM reviews GROUP BY score")
    out = pd.DataFrame({"score": [1, 2, 3, 4, 5]}).merge(counts, on="score", how="left").fillna({"reviews": 0})
    out["reviews"] = out["reviews"].astype(int)
    total = int(out["reviews"].sum())
    out["share"] = out["reviews"] / total if total else float("nan")
    return out


def reviews_per_listing(store: Store) -> pd.DataFrame:
    """Per listing: item_id, title, reviews, mean_score, unanswered (waiting for an answer), last_review_at;
    most reviewed first."""
    return _nullable_ids(store.query(
        """SELECT item_id, any_value(item_title) AS title, count(*) AS reviews, avg(score) AS mean_score,
                  count(*) FILTER (WHERE answer_id IS NULL OR answer_status = 'rejected') AS unanswered,
                  max(created_at) AS last_review_at
           FROM reviews GROUP BY item_id ORDER BY reviews DESC, item_id"""), "item_id")


def answer_share(store: Store) -> pd.DataFrame:
    """One row: reviews, answered (published or in moderation), rejected (answers refused by moderation),
    share_answered."""
    reviews = store.reviews()
    total = len(reviews)
    answered = int(_answered(reviews).sum()) if total else 0
    rejected = int((reviews["answer_status"] == "rejected").sum()) if total else 0
    return pd.DataFrame([{"reviews": total, "answered": answered, "rejected": rejected,
                          "share_answered": answered / total if total else float("nan")}])


def time_to_answer(store: Store) -> pd.DataFrame:
    """Per answered review first seen unanswered: review_id, item_id, first_seen_at, answer_created_at, hours
    (from when avito_kit first saw the review to the answer). Reviews already answered when first seen are left
    out: when the host saw them is unknown."""
    return _nullable_ids(store.query(
        """SELECT review_id, item_id, first_seen_at, answer_created_at,
                  date_diff('second', first_seen_at, answer_created_at) / 3600.0 AS hours
           FROM reviews WHERE answer_created_at IS NOT NULL AND answer_created_at >= first_seen_at
           ORDER BY answer_created_at"""), "item_id")


METRICS.update({m.name: m for m in (
    Metric("review_inbox", review_inbox, "none"),
    Metric("rating_history", rating_history, "none"),
    Metric("score_distribution", score_distribution, "none"),
    Metric("reviews_per_listing", reviews_per_listing, "none"),
    Metric("answer_share", answer_share, "none"),
    Metric("time_to_answer", time_to_answer, "none"),
)})
