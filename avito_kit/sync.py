"""Orchestration only: Avito (through the client) -> rows -> the store, with cursors and progress.

Each kind of data is written in batches, each batch one transaction, and a cursor moves only after what it
guards is stored: a run killed at any point leaves the store consistent and the next run completes it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from .aio import run
from .checks import check_range
from .client import MESSENGER_PAGE_MAX, STATS_IDS_MAX, AvitoApiClient
from .errors import AvitoBadRequest, AvitoNotFound, AvitoValidationError
from .store import Store

__all__ = ["DEFAULT_DAYS_AHEAD", "DEFAULT_DAYS_BACK", "SyncReport", "sync", "sync_now", "sync_window"]

log = logging.getLogger(__name__)

DEFAULT_DAYS_BACK = 365
DEFAULT_DAYS_AHEAD = 365
STATS_DAYS_BACK = 270  # items.json itemStatsShallow: "глубина такого запроса ограничена 270 днями"
BATCH_ITEMS = 100  # listings whose bookings are written in one transaction
# Bookings and stats read this recently are not read again: a second sync within minutes (the inbox refresh of a
# notebook) then costs a few requests instead of one per listing. ``max_age=None`` or ``--full`` reads all.
DEFAULT_MAX_AGE = dt.timedelta(minutes=15)


@dataclass
class SyncReport:
    """What one sync did; ``notes`` says where Avito made it deviate from the plan."""

    user_id: int = 0
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    items: int = 0
    bookings_seen: int = 0
    bookings_new: int = 0
    bookings_changed: int = 0
    bookings_vanished: int = 0
    chats: int = 0
    chats_changed: int = 0
    messages_new: int = 0
    stats_rows: int = 0
    requests: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(self).items()}

    def __str__(self) -> str:
        lines = [
            f"Synced account {self.user_id}, nights {self.date_from} .. {self.date_to} in {self.seconds:.1f} s "
            f"({self.requests} requests)",
            f"  listings {self.items}; bookings seen {self.bookings_seen} (new {self.bookings_new}, changed "
            f"{self.bookings_changed}, no longer returned {self.bookings_vanished})",
            f"  chats {self.chats} ({self.chats_changed} changed); new messages {self.messages_new}; "
            f"stats rows {self.stats_rows}",
        ]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


async def sync(client: AvitoApiClient, store: Store, date_from: str | dt.date | None = None,
               date_to: str | dt.date | None = None, progress: bool = True,
               max_age: dt.timedelta | None = DEFAULT_MAX_AGE) -> SyncReport:
    """Bring the store up to date with the account: listings of every status, bookings (unpaid included)
    for nights ``date_from`` .. ``date_to`` (default a year back to a year ahead), chats of both types,
    new messages of changed chats, and daily stats. Reads only: no chat is marked read.

    A listing's bookings and the stats read less than ``max_age`` ago for a window covering this one are
    kept as stored (the report's notes say how many); ``max_age=None`` reads everything again.

    >>> report = await sync(client, Store())
    """
    today = dt.date.today()
    first, last = sync_window(date_from, date_to, today)
    started, requests_before = time.monotonic(), client.requests_sent
    report = SyncReport(date_from=first, date_to=last)
    write = _Writer(store)
    # The run's record (the writer's first job), the account id (a token first) and the listing pages need
    # nothing from each other: they go at once. Listings (then their bookings and stats) and chats (then their
    # messages) share the client's limiter, so requests never wait for a store write.
    run = asyncio.ensure_future(write(store.begin_sync_run))
    account = asyncio.ensure_future(client.user_id())
    try:
        await _all_or_first_error(
            asyncio.shield(run), account,
            _sync_listings(client, store, write, account, first, last, today, report, progress, max_age),
            _sync_chats(client, store, write, account, report, progress),
        )
    except BaseException as exc:
        report.requests = client.requests_sent - requests_before
        (run_id,) = await asyncio.gather(run, return_exceptions=True)  # the record may still be on its way
        if isinstance(run_id, int):
            await asyncio.to_thread(store.finish_sync_run, run_id, "failed", report.counts(),
                                    f"{type(exc).__name__}: {exc}")
        raise
    report.user_id = account.result()
    report.requests = client.requests_sent - requests_before
    report.seconds = time.monotonic() - started
    await asyncio.to_thread(store.finish_sync_run, run.result(), "ok", report.counts())
    return report


def sync_window(date_from: str | dt.date | None = None, date_to: str | dt.date | None = None,
                today: dt.date | None = None, names: tuple[str, str] = ("date_from", "date_to")
                ) -> tuple[dt.date, dt.date]:
    """The nights a sync covers, both ends included: by default a year back to a year ahead of ``today``.
    Raises ``ValueError`` for a date that is no date or an end before the start.

    >>> sync_window("2025-01-01")  # -> (date(2025, 1, 1), today + 365 days)
    """
    today = today or dt.date.today()
    return check_range(date_from or today - dt.timedelta(days=DEFAULT_DAYS_BACK),
                       date_to or today + dt.timedelta(days=DEFAULT_DAYS_AHEAD), names, allow_equal=True)


def sync_now(client: AvitoApiClient, store: Store, date_from: str | dt.date | None = None,
             date_to: str | dt.date | None = None, progress: bool = True,
             max_age: dt.timedelta | None = DEFAULT_MAX_AGE) -> SyncReport:
    """``sync`` for plain code and notebook cells."""
    return run(sync(client, store, date_from, date_to, progress, max_age))


class _Freshness:
    """Per-listing cursors ``bookings:<item_id>`` and ``stats:all`` = when, and for which window, they were read."""

    def __init__(self, store: Store, user_id: int, first: dt.date, last: dt.date, max_age: dt.timedelta | None):
        self.store, self.user_id, self.first, self.last = store, user_id, first, last
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.max_age = max_age
        self.cursors = store.get_cursors(user_id, "") if max_age else {}
        self.skipped: dict[str, int] = {}

    def stale(self, keys: list, kind: str) -> list:
        """The keys whose last read is older than ``max_age`` or did not cover this window."""
        stale = [key for key in keys if not self._fresh(self.cursors.get(f"{kind}:{key}"))]
        self.skipped[kind] = self.skipped.get(kind, 0) + len(keys) - len(stale)
        return stale

    def _fresh(self, cursor: dict | None) -> bool:
        if not cursor or not self.max_age:
            return False
        read_at = dt.datetime.fromisoformat(cursor["read_at"])
        return (self.now - read_at < self.max_age and cursor["from"] <= self.first.isoformat()
                and cursor["to"] >= self.last.isoformat())

    def mark(self, keys: list, kind: str) -> None:
        """Called once what the cursors guard is stored, so a crash never leaves a cursor ahead of its data."""
        value = {"read_at": self.now.isoformat(), "from": self.first.isoformat(), "to": self.last.isoformat()}
        self.store.set_cursors(self.user_id, {f"{kind}:{key}": value for key in keys})

    def report_skipped(self, report: SyncReport) -> None:
        if self.skipped.get("bookings"):
            report.notes.append(f"bookings of {self.skipped['bookings']} listings were read less than "
                                f"{self.max_age} ago: kept (sync --full reads them again)")
        if self.skipped.get("stats"):
            report.notes.append(f"stats were read less than {self.max_age} ago: kept")


# -- running it: concurrent requests, one store write at a time ------------------------------------------------


class _Writer:
    """Store writes one at a time, in the order asked for, each in a worker thread: requests go on meanwhile.

    One writer per sync keeps the ordering the cursors rely on (a batch's data, then its cursor) and never runs
    two DuckDB transactions at once; each job keeps the file open for its few operations (one open and close,
    not one per operation). A caller cancelled mid-write waits for the thread, which cannot be stopped, so the
    next write (or the failed run's record) never overlaps it.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = asyncio.Lock()

    async def __call__(self, fn, *args):
        async with self._lock:
            job = asyncio.ensure_future(asyncio.to_thread(self._run, fn, *args))
            try:
                return await asyncio.shield(job)
            except asyncio.CancelledError:
                await asyncio.wait([job])
                raise

    def _run(self, fn, *args):
        with self._store.kept_open():
            return fn(*args)


async def _all_or_first_error(*coroutines) -> list:
    """Run the coroutines at once; on the first failure cancel the rest, wait for them, and raise that failure
    itself (not an ExceptionGroup: callers catch ``AvitoServerError`` and friends)."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:  # this task was cancelled: so are its children
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        raise
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()
    return [task.result() for task in tasks]


_DONE = object()


async def _fetch_and_store(keys, fetch, store_batch, write: _Writer, bar, batch_size: int, places: int) -> None:
    """``fetch`` every key (an iterable or async iterable) and store the results through ``write``, a batch of
    ``batch_size`` at a time (the rest at the end), while fetching goes on.

    Twice as many fetches as the limiter has ``places`` are under way, so a freed place always has a request
    waiting for it; fetching pauses while two batches are waiting to be written. Once every key is handed out,
    what has arrived is written without waiting for a full batch: the write left after the last answer, which
    the whole sync waits for, is then a small one.
    """
    todo: asyncio.Queue = asyncio.Queue(maxsize=places)
    results: list = []
    arrived, room = asyncio.Event(), asyncio.Event()
    room.set()
    handed_out = fetched = False

    async def feed() -> None:
        nonlocal handed_out
        if hasattr(keys, "__aiter__"):
            async for key in keys:
                await todo.put(key)
        else:
            for key in keys:
                await todo.put(key)
        handed_out = True
        arrived.set()
        for _ in range(2 * places):
            await todo.put(_DONE)

    async def fetcher() -> None:
        while (key := await todo.get()) is not _DONE:
            result = await fetch(key)
            await room.wait()
            results.append(result)
            arrived.set()
            if len(results) >= 2 * batch_size:
                room.clear()

    async def fetch_all() -> None:
        nonlocal fetched
        await _all_or_first_error(feed(), *(fetcher() for _ in range(2 * places)))
        fetched = True
        arrived.set()

    async def store_all() -> None:
        while results or not fetched:
            if len(results) < batch_size and not fetched and not (handed_out and results):
                arrived.clear()
                await arrived.wait()
                continue
            batch = results[:batch_size]
            del results[:batch_size]
            room.set()
            await write(store_batch, batch)
            bar.update(len(batch))

    await _all_or_first_error(fetch_all(), store_all())


# -- listings, bookings and stats ----------------------------------------------------------------------


async def _sync_listings(client, store, write, account, first, last, today, report, progress, max_age) -> None:
    """Listings page by page, each page's bookings read as soon as it arrives; the stats once all are listed."""
    items: list[dict] = []
    listed: asyncio.Queue = asyncio.Queue()  # listing ids as their page arrives, then _DONE

    async def read_freshness() -> _Freshness:
        return await asyncio.to_thread(_Freshness, store, await account, first, last, max_age)

    freshness = asyncio.ensure_future(read_freshness())  # read while the first page is on its way

    async def list_items() -> None:
        async for item in client.iter_items():  # needs no account id
            items.append(item)
            listed.put_nowait(int(item["id"]))
        listed.put_nowait(_DONE)
        fresh = await freshness
        await write(store.upsert_items, items_frame(items), fresh.user_id)
        report.items = len(items)
        if fresh.stale(["all"], "stats"):
            item_ids = [int(item["id"]) for item in items]
            await _sync_stats(client, store, write, fresh.user_id, item_ids, first, last, today, report, fresh)

    await _all_or_first_error(freshness, list_items(),
                              _sync_bookings(client, store, write, listed, freshness, last, today, report, progress))
    freshness.result().report_skipped(report)


async def _sync_bookings(client, store, write, listed: asyncio.Queue, freshness, last, today, report,
                         progress) -> None:
    fresh: _Freshness = await freshness
    first, user_id = fresh.first, fresh.user_id
    bar = tqdm(total=0, desc="bookings", unit="listing", disable=not progress)

    async def stale_listings():
        while (item_id := await listed.get()) is not _DONE:
            if fresh.stale([item_id], "bookings"):
                bar.total += 1
                yield item_id

    window = {"start": first}

    async def fetch(item_id: int) -> tuple[int, dt.date, list[dict]]:
        item_id, start, bookings = await read(item_id)
        # Rows are made here, a listing at a time as its answer arrives, not by the store's thread: Python work
        # there holds the interpreter lock in long stretches, and each return of the event loop from a system
        # call then waits for it (up to 5 ms a time), which slows every request under way.
        return item_id, start, [booking_row(item_id, b) for b in bookings]

    async def read(item_id: int) -> tuple[int, dt.date, list[dict]]:
        start = window["start"]
        try:
            return item_id, start, await client.get_item_bookings(item_id, start, last, with_unpaid=True)
        except (AvitoBadRequest, AvitoValidationError):
            if start >= today:
                raise
            # short-term-rent.json documents the dates as "not in the past": if Avito enforces it, read from
            # today on and keep the history already in the store.
            if window["start"] < today:
                window["start"] = today
                report.notes.append(f"Avito refused bookings before today; read from {today} instead")
            if today > last:
                return item_id, today, []
            return item_id, today, await client.get_item_bookings(item_id, today, last, with_unpaid=True)
        except AvitoNotFound:
            report.notes.append(f"listing {item_id}: bookings not found (404)")
            return item_id, start, []

    def store_batch(results) -> None:
        _store_bookings(store, user_id, results, report)
        fresh.mark([item_id for item_id, _, _ in results], "bookings")  # after what it guards

    try:
        await _fetch_and_store(stale_listings(), fetch, store_batch, write, bar, BATCH_ITEMS,
                               client.max_in_flight)
    finally:
        bar.close()


def _store_bookings(store: Store, user_id: int, results, report: SyncReport) -> None:
    """``results``: (item_id, start of the window read, its booking rows) per listing."""
    observed_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [row for _, _, item_rows in results for row in item_rows]
    counts = store.upsert_bookings(bookings_frame(rows), user_id, observed_at)
    report.bookings_seen += len(rows)
    report.bookings_new += counts.get("new", 0)
    report.bookings_changed += counts.get("changed", 0)
    window_end = report.date_to + dt.timedelta(days=1)  # nights up to date_to: a half-open window
    # One read finds the listings where a stored booking was not returned; only those pay for a transaction
    # (one per listing: a thousand listings would otherwise mean a thousand file opens every run).
    stored = store.query(
        "SELECT item_id, booking_id FROM bookings WHERE user_id = ? AND vanished_at IS NULL "
        "AND list_contains(?, item_id) AND check_in < ? AND check_out > ?",
        [user_id, [item_id for item_id, _, _ in results], window_end, min((s for _, s, _ in results), default=None)],
    )
    for item_id, start, item_rows in results:
        seen = [row["booking_id"] for row in item_rows]
        candidates = set(map(int, stored.booking_id[stored.item_id == item_id])) - set(seen)  # exact: > 2^63
        if candidates:
            report.bookings_vanished += store.mark_vanished_bookings(user_id, item_id, start, window_end, seen,
                                                                     observed_at)


async def _sync_stats(client, store, write, user_id, item_ids, first, last, today, report, fresh) -> None:
    start = max(first, today - dt.timedelta(days=STATS_DAYS_BACK - 1))
    end = min(last, today)
    if item_ids and end >= start:
        if start > first:
            report.notes.append(f"stats kept from {start}: Avito looks back at most {STATS_DAYS_BACK} days")

        def store_stats(body: bytes, listings: list[int]) -> None:
            frame = store.query(STATS_ROWS_SQL, {"body": body.decode() or "{}", "listings": listings,
                                                 "first": start, "last": end})
            report.stats_rows += store.upsert_item_stats(frame, user_id)

        # One call of 200 listings at a time, each stored before the next: a call's answer is 54,000 days of
        # JSON (a thousand listings' at once would be most of the sync's memory). DuckDB parses and expands it
        # in the writer's thread: json.loads and pandas on the event loop stalled every request under way.
        for chunk in (item_ids[i:i + STATS_IDS_MAX] for i in range(0, len(item_ids), STATS_IDS_MAX)):
            (body,) = await client.get_item_stats_json(chunk, start, end)
            await write(store_stats, body, chunk)
    await write(fresh.mark, ["all"], "stats")


# -- chats and messages --------------------------------------------------------------------------------


async def _sync_chats(client, store, write, account, report, progress) -> None:
    user_id = await account
    stored = asyncio.ensure_future(asyncio.to_thread(store.chat_updated_map, user_id))  # read during the 1st page
    chats: list[dict] = []
    unchanged: list[dict] = []
    listed: asyncio.Queue = asyncio.Queue()  # (changed chat, ids of its stored messages), then _DONE
    bar = tqdm(desc="messages", unit="chat", disable=not progress)

    async def list_chats() -> None:
        """Every chat, page after page; the changed ones of a page are queued as soon as it arrives, so message
        requests never wait for the next page."""
        page: list[dict] = []

        async def flush() -> None:
            if page:
                known = await asyncio.to_thread(_known_message_ids, store, [c["id"] for c in page])
                for chat in page:
                    listed.put_nowait((chat, known.get(chat["id"], set())))
                page.clear()

        known_updated: dict | None = None
        try:
            async for chat in client.iter_chats():
                if known_updated is None:
                    known_updated = await stored  # read while the first page was on its way
                chats.append(chat)
                if known_updated.get(chat["id"]) == _ts(chat.get("updated")):
                    unchanged.append(chat)
                else:
                    page.append(chat)
                    bar.total = len(chats) - len(unchanged)
                if len(chats) % MESSENGER_PAGE_MAX == 0:  # iter_chats reads pages of this size
                    await flush()
        finally:
            if not stored.done():
                stored.cancel()
            elif not stored.cancelled():
                stored.exception()  # a failed listing is the error that counts; this one is seen
        await flush()
        listed.put_nowait(_DONE)

    async def changed_chats():
        while (entry := await listed.get()) is not _DONE:
            yield entry

    async def fetch(entry: tuple[dict, set[str]]) -> tuple[dict, list[dict]]:
        chat, known = entry
        rows = []
        async for message in client.iter_messages(chat["id"]):
            if message.get("id") in known:
                break  # newest first: everything older is stored already
            rows.append(message_row(chat["id"], message, user_id))  # here, not in the store's thread: see bookings
        return chat, rows

    def store_batch(results) -> None:
        messages = [row for _, rows in results for row in rows]
        # Messages first, then the chat rows whose `updated` is the cursor: a crash in between only means
        # the next run fetches those messages again, never that it skips them.
        report.messages_new += store.upsert_messages(messages_frame(messages), user_id) or 0
        store.upsert_chats(chats_frame([chat for chat, _ in results], user_id), user_id)

    try:
        await _all_or_first_error(list_chats(), _fetch_and_store(changed_chats(), fetch, store_batch, write, bar,
                                                                 BATCH_ITEMS, client.max_in_flight))
    finally:
        bar.close()
    report.chats = len(chats)
    report.chats_changed = len(chats) - len(unchanged)
    if unchanged:
        await write(store.upsert_chats, chats_frame(unchanged, user_id), user_id)


def _known_message_ids(store: Store, chat_ids: list[str]) -> dict[str, set[str]]:
    """The stored message ids of many chats in one read (a file open per chat costs seconds per thousand)."""
    if not chat_ids:
        return {}
    frame = store.query("SELECT chat_id, message_id FROM messages WHERE list_contains(?, chat_id)", [chat_ids])
    known: dict[str, set[str]] = {}
    for chat_id, message_id in zip(frame.chat_id, frame.message_id, strict=True):
        known.setdefault(chat_id, set()).add(message_id)
    return known


# -- API dicts -> rows -----------------------------------------------------------------------------------


def _ts(seconds: int | float | None) -> pd.Timestamp | None:
    """Avito's unix seconds as a naive UTC timestamp."""
    return None if seconds is None else pd.Timestamp(int(seconds), unit="s")


def items_frame(items: Iterable[dict]) -> pd.DataFrame:
    rows = [{
        "item_id": int(item["id"]),
        "title": item.get("title"),
        "address": item.get("address"),
        "status": item.get("status"),
        "price": item.get("price"),
        "url": item.get("url"),
        "category_id": (item.get("category") or {}).get("id"),
        "category_name": (item.get("category") or {}).get("name"),
    } for item in items]
    return pd.DataFrame(rows, columns=["item_id", "title", "address", "status", "price", "url", "category_id",
                                       "category_name"])


BOOKING_COLUMNS = ["booking_id", "item_id", "check_in", "check_out", "nights", "status", "base_price",
                   "guest_count", "guest_name", "guest_email", "guest_phone"]


def booking_row(item_id: int, booking: dict) -> dict:
    contact = booking.get("contact") or {}
    check_in = dt.date.fromisoformat(booking["check_in"])
    check_out = dt.date.fromisoformat(booking["check_out"])
    return {
        "booking_id": int(booking["avito_booking_id"]),
        "item_id": item_id,
        "check_in": check_in,
        "check_out": check_out,
        "nights": booking.get("nights") or (check_out - check_in).days,
        "status": booking.get("status"),
        "base_price": booking.get("base_price"),
        "guest_count": booking.get("guest_count"),
        "guest_name": contact.get("name"),
        "guest_email": contact.get("email"),
        "guest_phone": contact.get("phone"),
    }


def bookings_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=BOOKING_COLUMNS)
    # Booking ids reach 2^63: unsigned 64-bit, never float.
    frame["booking_id"] = frame["booking_id"].astype("uint64")
    return frame


def chats_frame(chats: Iterable[dict], user_id: int) -> pd.DataFrame:
    rows = []
    for chat in chats:
        context = chat.get("context") or {}
        is_item = context.get("type") == "item"
        other = next((u for u in chat.get("users") or [] if u.get("id") != user_id), {})
        last = chat.get("last_message") or {}
        rows.append({
            "chat_id": chat["id"],
            "item_id": (context.get("value") or {}).get("id") if is_item else None,
            "chat_type": "u2i" if is_item else "u2u",
            "created": _ts(chat.get("created")),
            "updated": _ts(chat.get("updated")),
            "other_user_id": other.get("id"),
            "other_user_name": other.get("name"),
            "last_message_text": message_text(last) if last else None,
            "last_message_at": _ts(last.get("created")),
            "last_message_direction": last.get("direction"),
        })
    return pd.DataFrame(rows, columns=["chat_id", "item_id", "chat_type", "created", "updated", "other_user_id",
                                       "other_user_name", "last_message_text", "last_message_at",
                                       "last_message_direction"])


def message_text(message: dict) -> str | None:
    """The readable text of a message; only some types carry ``content.text``."""
    content = message.get("content") or {}
    if content.get("text"):
        return content["text"]
    for key in ("link", "location"):
        if isinstance(content.get(key), dict) and content[key].get("text"):
            return content[key]["text"]
    if isinstance(content.get("item"), dict):
        return content["item"].get("title")
    return None


def message_row(chat_id: str, message: dict, user_id: int) -> dict:
    return {
        "message_id": message["id"],
        "chat_id": chat_id,
        "author_id": message.get("author_id"),
        "direction": message.get("direction") or ("out" if message.get("author_id") == user_id else "in"),
        "type": message.get("type"),
        "text": message_text(message),
        "created": message.get("created"),  # unix seconds: made timestamps by messages_frame, all at once
        "is_read": message.get("is_read"),
        "content": _to_json(message.get("content") or {}),
    }


_to_json = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(..., ensure_ascii=False) builds one per call


def messages_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["message_id", "chat_id", "author_id", "direction", "type", "text",
                                        "created", "is_read", "content"])
    frame["created"] = pd.to_datetime(frame["created"], unit="s")
    return frame


# Every listing x day of the window from one stats answer; days Avito left out (no activity) are zeros.
STATS_ROWS_SQL = """
WITH answer AS (
    SELECT unnest(from_json(CAST($body AS JSON), '{"result": {"items": [{"itemId": "UBIGINT", "stats": [{
        "date": "VARCHAR", "uniqViews": "BIGINT", "uniqContacts": "BIGINT", "uniqFavorites": "BIGINT"}]}]}}'
    ).result.items) AS entry
), reported AS (
    SELECT entry.itemId AS item_id, unnest(entry.stats, recursive := true) FROM answer
), days AS (
    SELECT item_id, CAST(left(date, 10) AS DATE) AS day, any_value(uniqViews) AS views,
           any_value(uniqContacts) AS contacts, any_value(uniqFavorites) AS favorites
    FROM reported GROUP BY ALL
)
SELECT CAST(listing.item_id AS BIGINT) AS item_id, CAST(grid.day AS TIMESTAMP) AS date,
       coalesce(views, 0) AS uniq_views, coalesce(contacts, 0) AS uniq_contacts,
       coalesce(favorites, 0) AS uniq_favorites
FROM unnest(CAST($listings AS UBIGINT[])) WITH ORDINALITY AS listing(item_id, position)
CROSS JOIN generate_series(CAST($first AS DATE), CAST($last AS DATE), INTERVAL 1 DAY) AS grid(day)
LEFT JOIN days ON days.item_id = listing.item_id AND days.day = grid.day
ORDER BY listing.position, grid.day
"""
