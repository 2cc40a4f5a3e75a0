"""Handlers of short-term-rent.json: bookings read, calendar blocks, availability intervals and prices, and
the listing calendars those pushes build.

Avito offers no endpoint to read a calendar back, so ``Calendars`` keeps what was pushed and answers what a
guest would see (``closed_nights``). The sandbox's model, where Avito is silent (NOTES.md, REAL-WORLD.md):
one calendar per listing, each push writing over the nights it names. A blocks push closes its nights
("replace": the listing's manual blocks become the set sent, so nights left out reopen; "merge": the set is
added). An intervals push is the whole coming year's availability: nights it leaves out are closed, nights it
opens lose any manual block (the way integrations reopen a blocked range). Paid bookings close their nights
whatever was pushed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from .params import Reject, body_list, bool_param, date_field, date_param, is_int, refuse_overlaps

if TYPE_CHECKING:
    from .app import SandboxApp

__all__ = ["YEAR_DAYS", "Calendars", "list_bookings", "put_base_params", "put_blocks", "put_intervals", "put_prices"]

YEAR_DAYS = 365
_PAST_READ = "date_start обязан быть сегодня или в будущем"  # the 422 a PMS adapter quotes (REAL-WORLD.md)


@dataclass
class Calendars:
    """What was pushed, per listing id, and the nights closed by manual blocks.

    ``blocks``: "replace", the last accepted putBookingsInfo set; "merge", every block accepted since.
    ``intervals``: the last accepted putIntervals set. ``prices``: day -> merged postRealtyPrices parameters.
    ``base_params``: the postBaseParams fields accepted so far, each push merged over the previous ones.
    """

    blocks: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    intervals: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    prices: dict[int, dict[date, dict[str, int]]] = field(default_factory=dict)
    base_params: dict[int, dict[str, Any]] = field(default_factory=dict)
    manual_closed: dict[int, set[date]] = field(default_factory=dict)

    def apply_blocks(self, item_id: int, blocks: list[dict[str, Any]], mode: str) -> None:
        nights = {night for block in blocks for night in _nights(block["date_start"], block["date_end"])}
        if mode == "merge":
            self.blocks[item_id] = [*self.blocks.get(item_id, ()), *blocks]
            self.manual_closed.setdefault(item_id, set()).update(nights)
        else:
            self.blocks[item_id] = blocks
            self.manual_closed[item_id] = nights

    def apply_intervals(self, item_id: int, intervals: list[dict[str, Any]]) -> None:
        self.intervals[item_id] = intervals
        opened = {night for interval in intervals for night in _nights(interval["date_start"], interval["date_end"])}
        self.manual_closed.get(item_id, set()).difference_update(opened)

    def open_dates(self, item_id: int, today: date) -> dict[date, int]:
        horizon = range(today.toordinal(), today.toordinal() + YEAR_DAYS)
        pushed = self.intervals.get(item_id)
        if pushed is None:
            return {date.fromordinal(day): 1 for day in horizon}
        result: dict[date, int] = {}
        for interval in pushed:
            start = date.fromisoformat(interval["date_start"]).toordinal()
            end = date.fromisoformat(interval["date_end"]).toordinal()
            for day in range(max(start, horizon.start), min(end, horizon.stop)):
                result[date.fromordinal(day)] = interval["open"]
        return dict(sorted(result.items()))

    def closed_nights(self, item_id: int, today: date, bookings: list[dict[str, Any]]) -> set[date]:
        horizon = {today + timedelta(days=offset) for offset in range(YEAR_DAYS)}
        closed = horizon - set(self.open_dates(item_id, today))
        closed |= self.manual_closed.get(item_id, set()) & horizon
        for booking in bookings:
            if booking["status"] == "active":
                closed |= set(_nights(booking["check_in"], booking["check_out"])) & horizon
        return closed


def _nights(start: str, end: str) -> list[date]:
    first, last = date.fromisoformat(start).toordinal(), date.fromisoformat(end).toordinal()
    return [date.fromordinal(day) for day in range(first, last)]


def _lacks_id(booking_id: int, share: float) -> bool:
    # A stable pick, so the same bookings lack their id on every read.
    return share > 0 and zlib.crc32(str(booking_id).encode()) < share * 2**32


def list_bookings(sandbox: SandboxApp, path_params: dict[str, str], query: dict[str, list[str]], _: Any
                  ) -> tuple[int, Any]:
    sandbox.check_user(path_params)
    item = sandbox.owned_item(path_params["item_id"])
    date_start = date_param(query, "date_start")
    date_end = date_param(query, "date_end")
    if date_end < date_start:
        raise Reject(422, "date_end is before date_start", {"date_end": "before date_start"})
    switches = sandbox.switches
    if switches.refuse_past_bookings_read and date_start < sandbox.today:
        # short-term-rent.json: date_start "не в прошлом"; real accounts get a 422 validatingError.
        raise Reject(422, "date_start must not be in the past", {"date_start": _PAST_READ})
    with_unpaid = bool_param(query, "with_unpaid", False)
    bool_param(query, "skip_error", False)
    first, last = date_start.isoformat(), date_end.isoformat()
    by_check_in = switches.bookings_window == "check_in"
    found = [b for b in sandbox.world.bookings_as_of(item.id, sandbox.today)
             if (first <= b["check_in"] <= last if by_check_in else b["check_in"] <= last and b["check_out"] > first)
             and (b["status"] != "pending" or with_unpaid)]
    share = switches.bookings_without_id_share
    if share:
        found = [{k: v for k, v in b.items() if k != "avito_booking_id"} if _lacks_id(b["avito_booking_id"], share)
                 else b for b in found]
    return 200, {"bookings": found}


def put_blocks(sandbox: SandboxApp, path_params: dict[str, str], _: dict[str, list[str]], body: Any
               ) -> tuple[int, Any]:
    sandbox.check_user(path_params)
    item = sandbox.owned_item(path_params["item_id"])
    entries = body_list(body, "bookings")
    blocks = []
    for index, entry in enumerate(entries):
        where = f"bookings[{index}]"
        if not isinstance(entry, dict):
            raise Reject(422, "each booking must be an object", {where: "not an object"})
        start, end = _range(entry, "date_start", "date_end", where)
        sandbox.refuse_past(start, f"{where}.date_start")
        kind = entry.get("type")
        if kind not in (None, "manual", "booking"):
            raise Reject(422, "type must be manual or booking", {f"{where}.type": "unknown value"})
        comment = entry.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise Reject(422, "comment must be a string", {f"{where}.comment": "not a string"})
        blocks.append({"date_start": start.isoformat(), "date_end": end.isoformat(), "type": kind,
                       "comment": comment})
    refuse_overlaps(blocks, "bookings")
    conflicts = []
    for block in blocks:
        paid = [booking for booking in sandbox.world.bookings_as_of(item.id, sandbox.today)
                if booking["status"] == "active" and booking["check_in"] < block["date_end"]
                and booking["check_out"] > block["date_start"]]
        if paid:
            conflicts.append({"interval": {"date_start": block["date_start"], "date_end": block["date_end"]},
                              "bookings": [{key: booking[key] for key in ("avito_booking_id", "check_in",
                                                                          "check_out")} for booking in paid]})
    if conflicts:
        # All or nothing: "На заданные даты есть оплаченные брони", nothing is closed.
        first = conflicts[0]["bookings"][0]["avito_booking_id"]
        extra = {"conflicts": conflicts} if sandbox.switches.block_conflicts else {}
        raise Reject(409, f"dates overlap the paid booking {first}", extra=extra)
    sandbox.calendars.apply_blocks(item.id, blocks, sandbox.switches.calendar_post)
    return 200, {"result": "success"}


def put_intervals(sandbox: SandboxApp, _: dict[str, str], query: dict[str, list[str]], body: Any
                  ) -> tuple[int, Any]:
    bool_param(query, "skip_error", False)
    if not isinstance(body, dict):
        raise Reject(400, "JSON object body required")
    item_id = body.get("item_id")
    if not is_int(item_id):
        raise Reject(422, "item_id must be an integer", {"item_id": "not an integer"})
    item = sandbox.owned_item(item_id)
    intervals = []
    for index, entry in enumerate(body_list(body, "intervals")):
        where = f"intervals[{index}]"
        if not isinstance(entry, dict):
            raise Reject(422, "each interval must be an object", {where: "not an object"})
        start, end = _range(entry, "date_start", "date_end", where)
        quota = entry.get("open")
        if not is_int(quota) or quota <= 0:
            raise Reject(422, "open is a quota and must be > 0", {f"{where}.open": "must be > 0"})
        intervals.append({"date_start": start.isoformat(), "date_end": end.isoformat(), "open": quota})
    refuse_overlaps(intervals, "intervals")
    sandbox.calendars.apply_intervals(item.id, intervals)
    return 200, {"result": "success"}


def put_prices(sandbox: SandboxApp, path_params: dict[str, str], query: dict[str, list[str]], body: Any
               ) -> tuple[int, Any]:
    sandbox.check_user(path_params)
    item = sandbox.owned_item(path_params["item_id"])
    bool_param(query, "skip_error", False)
    updates: list[tuple[date, date, dict[str, int]]] = []
    for index, entry in enumerate(body_list(body, "prices")):
        where = f"prices[{index}]"
        if not isinstance(entry, dict):
            raise Reject(422, "each price must be an object", {where: "not an object"})
        start = date_field(entry, "date_from", where)
        end = date_field(entry, "date_to", where)  # inclusive
        if end < start:
            raise Reject(422, "date_to is before date_from", {f"{where}.date_to": "before date_from"})
        sandbox.refuse_past(start, f"{where}.date_from")
        values: dict[str, int] = {}
        for name, low, high in (("night_price", 1, None), ("minimal_duration", 1, 30), ("extra_guest_fee", 0, None)):
            if name not in entry:
                continue
            value = entry[name]
            if not is_int(value) or value < low or (high is not None and value > high):
                bounds = f"{low}..{high}" if high is not None else f">= {low}"
                raise Reject(422, f"{name} must be an integer {bounds}", {f"{where}.{name}": bounds})
            values[name] = value
        if "night_price" not in values:
            raise Reject(422, "night_price is required", {f"{where}.night_price": "required"})
        updates.append((start, end, values))
    # date_to is inclusive: ranges sharing a night overlap (refuse_overlaps compares open ends).
    refuse_overlaps([{"date_start": start.isoformat(), "date_end": (end + timedelta(days=1)).isoformat()}
                     for start, end, _ in updates], "prices")
    per_day = sandbox.calendars.prices.setdefault(item.id, {})
    for start, end, values in updates:
        for ordinal in range(start.toordinal(), end.toordinal() + 1):
            per_day.setdefault(date.fromordinal(ordinal), {}).update(values)
    return 200, {"result": "success"}


# postBaseParams (BaseParams in short-term-rent.json): the enums a value must be among, None for "an integer >= 0".
_BASE_ENUMS: dict[str, tuple[int, ...] | None] = {
    "night_price": None, "minimal_duration": tuple(range(1, 8)), "extra_guest_fee": None,
    "extra_guest_threshold": tuple(range(1, 9)),
}
_INSTANT_ENUMS = {"min_days": (1, 2, 3, 4, 5), "max_days": (30, 60, 90, 120, 150)}


def put_base_params(sandbox: SandboxApp, path_params: dict[str, str], _: dict[str, list[str]], body: Any
                    ) -> tuple[int, Any]:
    item = sandbox.owned_item(path_params["item_id"])
    if not isinstance(body, dict):
        raise Reject(400, "JSON object body required")
    accepted: dict[str, Any] = {}
    for name, allowed in _BASE_ENUMS.items():
        if body.get(name) is not None:
            accepted[name] = _enum_int(body[name], name, allowed)
    if body.get("instant") is not None:
        instant = body["instant"]
        if not isinstance(instant, dict) or not isinstance(instant.get("active"), bool):
            raise Reject(422, "instant.active must be a boolean", {"instant.active": "required boolean"})
        accepted["instant"] = {"active": instant["active"], **{
            name: _enum_int(instant[name], f"instant.{name}", allowed)
            for name, allowed in _INSTANT_ENUMS.items() if instant.get(name) is not None}}
    if body.get("discount") is not None:
        if not isinstance(body["discount"], list):
            raise Reject(422, "discount must be a list", {"discount": "not a list"})
        accepted["discount"] = []
        for index, discount in enumerate(body["discount"]):
            if not isinstance(discount, dict):
                raise Reject(422, "each discount must be an object", {f"discount[{index}]": "not an object"})
            accepted["discount"].append({
                "threshold": _enum_int(discount.get("threshold"), f"discount[{index}].threshold", (3, 7, 30)),
                "percent": _enum_int(discount.get("percent"), f"discount[{index}].percent", tuple(range(1, 100)))})
    if body.get("refund") is not None:
        refund = body["refund"]
        days = refund.get("days") if isinstance(refund, dict) else None
        accepted["refund"] = {"days": _enum_int(days, "refund.days", (0, 1, 3, 5, 7, 14))}
    sandbox.calendars.base_params.setdefault(item.id, {}).update(accepted)
    return 200, {"result": "success"}


def _enum_int(value: Any, name: str, allowed: tuple[int, ...] | None) -> int:
    if not is_int(value) or (value not in allowed if allowed is not None else value < 0):
        wanted = "an integer >= 0" if allowed is None else f"one of {allowed[0]}..{allowed[-1]}"
        raise Reject(422, f"{name} must be {wanted}", {name: wanted})
    return value


def _range(entry: dict[str, Any], start_name: str, end_name: str, where: str) -> tuple[date, date]:
    start = date_field(entry, start_name, where)
    end = date_field(entry, end_name, where)
    if end <= start:
        raise Reject(422, f"{end_name} must be after {start_name} (it is an open end)",
                     {f"{where}.{end_name}": f"not after {start_name}"})
    return start, end
