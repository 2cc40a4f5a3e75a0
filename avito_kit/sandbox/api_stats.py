"""Handler of stats v1 (itemStatsShallow): daily, weekly or monthly counters of up to 200 listings."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from .params import Reject, body_date, is_int
from .responses import to_json

if TYPE_CHECKING:
    from .app import SandboxApp
    from .data import World

__all__ = ["DEFAULT_STATS_FIELDS", "DayRows", "StatsRows", "item_stats"]

STATS_MAX_ITEMS = 200
STATS_MAX_DAYS_BACK = 270
STATS_FIELDS = ("views", "uniqViews", "contacts", "uniqContacts", "favorites", "uniqFavorites")
DEFAULT_STATS_FIELDS = ("uniqViews", "uniqContacts", "uniqFavorites")
_STATS_SOURCE = {"views": "uniqViews", "contacts": "uniqContacts", "favorites": "uniqFavorites"}  # deprecated names


@dataclass(frozen=True)
class DayRows:
    """A listing's days with activity, in order, and their answer rows ``{"date", field: value}`` as JSON."""

    days: list[date]
    encoded: list[str]


class StatsRows:
    """Daily answer rows per (listing, fields), made once: a stats call of 200 listings is 54,000 rows, and
    building and encoding them anew would hold the sandbox lock (so stall every other request under way) for
    a tenth of a second, which Avito's servers do not do."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._rows: dict[tuple[int, tuple[str, ...]], DayRows] = {}

    def get(self, item_id: int, fields: tuple[str, ...] = DEFAULT_STATS_FIELDS) -> DayRows:
        key = (item_id, fields)
        if key not in self._rows:
            days = sorted(self._world.daily_stats(item_id).items())
            sources = [(name, _STATS_SOURCE.get(name, name)) for name in fields]
            self._rows[key] = DayRows([day for day, _ in days], [
                to_json({"date": day.isoformat(), **{name: counters[source] for name, source in sources}})
                for day, counters in days])
        return self._rows[key]


def item_stats(sandbox: SandboxApp, path_params: dict[str, str], _: dict[str, list[str]], body: Any
               ) -> tuple[int, Any]:
    sandbox.check_user(path_params, status=404)  # itemStatsShallow: 404 "Неверный user_id в запросе"
    if not isinstance(body, dict):
        raise Reject(400, "JSON object body required")
    date_from = body_date(body, "dateFrom")
    date_to = body_date(body, "dateTo")
    if date_to < date_from:
        raise Reject(400, "dateTo is before dateFrom")
    if date_from < sandbox.today - timedelta(days=STATS_MAX_DAYS_BACK):
        raise Reject(400, f"dateFrom is more than {STATS_MAX_DAYS_BACK} days back")
    item_ids = body.get("itemIds")
    if not isinstance(item_ids, list) or not item_ids or not all(is_int(i) for i in item_ids):
        raise Reject(400, "itemIds must be a non-empty list of integers")
    if len(item_ids) > STATS_MAX_ITEMS:
        raise Reject(400, f"at most {STATS_MAX_ITEMS} itemIds per request")
    fields = body.get("fields") or list(DEFAULT_STATS_FIELDS)
    if not isinstance(fields, list) or any(f not in STATS_FIELDS for f in fields):
        raise Reject(400, f"fields must be a list of {', '.join(STATS_FIELDS)}")
    grouping = body.get("periodGrouping", "day")
    if grouping not in ("day", "week", "month"):
        raise Reject(400, "periodGrouping must be day, week or month")
    world = sandbox.world
    date_to = min(date_to, sandbox.today)  # the days to come have no counters yet
    entries = []
    for item_id in dict.fromkeys(item_ids):
        if item_id not in world.items_by_id:
            continue  # not the account's listing: left out of the result
        if grouping == "day":
            known = sandbox.stats_rows(item_id, tuple(fields))
            days = slice(bisect.bisect_left(known.days, date_from), bisect.bisect_right(known.days, date_to))
            stats = "[" + ",".join(known.encoded[days]) + "]"
        else:
            grouped: dict[date, dict[str, int]] = {}
            for day, counters in world.daily_stats(item_id).items():
                if date_from <= day <= date_to:
                    totals = grouped.setdefault(_period_start(day, grouping), dict.fromkeys(fields, 0))
                    for name in fields:
                        totals[name] += counters[_STATS_SOURCE.get(name, name)]
            stats = to_json([{"date": day.isoformat(), **totals} for day, totals in sorted(grouped.items())])
        entries.append(f'{{"itemId":{item_id},"stats":{stats}}}')
    return 200, ('{"result":{"items":[' + ",".join(entries) + "]}}").encode()


def _period_start(day: date, grouping: str) -> date:
    if grouping == "week":
        return day - timedelta(days=day.weekday())
    if grouping == "month":
        return day.replace(day=1)
    return day
