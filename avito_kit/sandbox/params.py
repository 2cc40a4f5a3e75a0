"""Reading request input the way Avito's endpoints check it: each helper returns the parsed value or raises
``Reject`` with the HTTP status and, for 422, the ``fields`` map the short-term-rent spec describes."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

__all__ = [
    "Reject",
    "body_date",
    "body_list",
    "bool_param",
    "date_field",
    "date_param",
    "int_param",
    "is_int",
    "list_param",
    "parse_date",
    "path_int",
    "refuse_overlaps",
    "single",
]

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Reject(Exception):
    """A request refused with an HTTP error; rendered in the error shape of the endpoint's family."""

    def __init__(self, status: int, message: str, fields: dict[str, str] | None = None, *,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields
        self.extra = extra or {}  # further keys of the error object, e.g. a 409's "conflicts"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def path_int(raw: str, name: str) -> int:
    if not raw.isdigit():
        raise Reject(400, f"{name} must be a positive integer")
    return int(raw)


def single(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def int_param(query: dict[str, list[str]], name: str, default: int | None, low: int | None,
               high: int | None) -> int | None:
    raw = single(query, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Reject(400, f"{name} must be an integer") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise Reject(400, f"{name} must be between {low} and {high}" if high is not None else f"{name} < {low}")
    return value


def bool_param(query: dict[str, list[str]], name: str, default: bool) -> bool:
    raw = single(query, name)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false", "1", "0"):
        raise Reject(400, f"{name} must be true or false")
    return raw.lower() in ("true", "1")


def list_param(query: dict[str, list[str]], name: str) -> list[str]:
    # Both "a,b" (the specs' examples) and repeated parameters are accepted.
    return [part for raw in query.get(name, ()) for part in raw.split(",") if part]


def date_param(query: dict[str, list[str]], name: str) -> date:
    raw = single(query, name)
    if raw is None:
        raise Reject(400, f"{name} is required")
    parsed = parse_date(raw)
    if parsed is None:
        raise Reject(400, f"{name} must be a date YYYY-MM-DD")
    return parsed


def date_field(entry: dict[str, Any], name: str, where: str) -> date:
    parsed = parse_date(entry.get(name))
    if parsed is None:
        raise Reject(422, f"{name} must be a date YYYY-MM-DD", {f"{where}.{name}": "not a date YYYY-MM-DD"})
    return parsed


def body_date(body: dict[str, Any], name: str) -> date:
    parsed = parse_date(body.get(name))
    if parsed is None:
        raise Reject(400, f"{name} must be a date YYYY-MM-DD")
    return parsed


def body_list(body: Any, name: str) -> list[Any]:
    if not isinstance(body, dict):
        raise Reject(400, "JSON object body required")
    value = body.get(name)
    if not isinstance(value, list):
        raise Reject(422, f"{name} must be a list", {name: "required list"})
    return value


def refuse_overlaps(ranges: Iterable[dict[str, Any]], name: str) -> None:
    ordered = sorted(enumerate(ranges), key=lambda pair: pair[1]["date_start"])
    for (_, previous), (index, current) in itertools.pairwise(ordered):
        if current["date_start"] < previous["date_end"]:
            raise Reject(422, f"{name} overlap each other", {f"{name}[{index}]": "overlaps another range"})
