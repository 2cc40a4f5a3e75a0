"""Input checks shared by the client, the CLI and the widgets: each bad value raises ``ValueError`` with one
clear line, before anything is sent or written."""

from __future__ import annotations

import datetime as dt

__all__ = ["MAX_MESSAGE_LENGTH", "check_answer_text", "check_chat_id", "check_id", "check_range", "check_text",
           "parse_date"]

MAX_MESSAGE_LENGTH = 1000  # messenger.json, postSendMessage


def parse_date(value: str | dt.date, name: str = "date") -> dt.date:
    """A ``date`` or an ISO ``YYYY-MM-DD`` string (a datetime is refused: Avito's calendar is by day)."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a date (YYYY-MM-DD), not a date and time: {value!r}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {value!r}")


def check_range(start: str | dt.date, end: str | dt.date, names: tuple[str, str] = ("date_start", "date_end"),
                *, allow_equal: bool = False) -> tuple[dt.date, dt.date]:
    """Two dates with ``end`` after ``start`` (or equal, for inclusive ranges)."""
    first, last = parse_date(start, names[0]), parse_date(end, names[1])
    if last < first or (last == first and not allow_equal):
        relation = "on or after" if allow_equal else "after"
        raise ValueError(f"{names[1]} {last} must be {relation} {names[0]} {first}")
    return first, last


def check_id(value: object, name: str = "id") -> int:
    """A positive integer id (listing and booking ids exceed 2^31 and 2^53: kept as exact ints)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if number <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return number


def check_chat_id(value: object) -> str:
    """Avito chat ids are opaque non-empty strings such as ``u2i-PJIG1~Uh...``."""
    if not isinstance(value, str) or not value.strip() or any(c.isspace() or c == "/" for c in value):
        raise ValueError(f"chat_id must be a non-empty Avito chat id without spaces or '/', got {value!r}")
    return value


def check_text(text: object, limit: int = MAX_MESSAGE_LENGTH) -> str:
    """Message text: not blank, at most ``limit`` characters."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("message text is empty")
    if len(text) > limit:
        raise ValueError(f"message text is {len(text)} characters; Avito accepts at most {limit}")
    return text


def check_answer_text(text: object) -> str:
    """A review answer: not blank. ratings.json sets no maximum length (CreateAnswerRequestBody.message), so
    none is invented here; Avito's moderation judges the rest."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("answer text is empty")
    return text
