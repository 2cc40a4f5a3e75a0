"""Orchestration only: Avito (through the client) -> rows -> the store, with cursors and progress.

One ``SyncRun`` per sync: its methods are the steps (listings and their bookings, the stats, chats and their
messages), sharing the client, the store, one writer, the window and the report. Each kind of data is written
in batches, each batch one transaction, and a cursor moves only after what it guards is stored: a run killed at
any point leaves the store consistent and the next run completes it. What overlaps with what, and why, is
measured in bench/RESULTS.md.

A sync never fails because of Avito's rate limit: it runs ``patiently()`` (the client sits out 429s, its limiter
slowing down), and a call that gives up even so is tried again after a pause, the rest of the work going on
meanwhile. Its progress bars say when it waits for the limit; the report counts the 429s met.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from .aio import run
from .checks import check_range
from .client import ITEMS_PAGE_MAX, MESSENGER_PAGE_MAX, REVIEWS_PAGE_MAX, STATS_IDS_MAX, AvitoApiClient
from .dates import Clock, avito_today, utc_now
from .errors import (
    AvitoBadRequest,
    AvitoForbidden,
    AvitoNotFound,
    AvitoPaymentRequired,
    AvitoRateLimited,
    AvitoValidationError,
)
from .pipeline import DONE, Writer, all_or_first_error, fetch_and_store
from .rows import (
    booking_rows,
    bookings_frame,
    chats_frame,
    items_frame,
    message_row,
    messages_frame,
    review_row,
    review_state,
    reviews_frame,
    timestamp,
)
from .store import Store

__all__ = ["DEFAULT_DAYS_AHEAD", "DEFAULT_DAYS_BACK", "LINK_STALE_AFTER", "SyncReport", "SyncRun", "Window",
           "link_notes", "sync", "sync_now", "sync_window"]

log = logging.getLogger(__name__)

DEFAULT_DAYS_BACK = 365
DEFAULT_DAYS_AHEAD = 365
STATS_DAYS_BACK = 270  # items.json itemStatsShallow: "глубина такого запроса ограничена 270 днями"
BATCH_ITEMS = 100  # listings whose bookings are written in one transaction
# Bookings and stats read this recently are not read again: a second sync within minutes (the inbox refresh of a
# notebook) then costs a few requests instead of one per listing. ``max_age=None`` or ``--full`` reads all.
DEFAULT_MAX_AGE = dt.timedelta(minutes=15)
LINK_STALE_AFTER = dt.timedelta(days=1)  # cron pulls linked calendars hourly or daily
NO_MESSENGER_NOTE = "messenger skipped: Avito answered 402 (no messenger API subscription)"
NO_RATINGS_NOTE = "ratings and reviews skipped: Avito answered {status} (the account has no access to ratings)"
WAITING_FOR_LIMIT = "waiting for Avito's rate limit"  # the progress bars' postfix while a request waits for it


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
    bookings_skipped: int = 0  # returned without an avito_booking_id: nothing to track them by
    chats: int = 0
    chats_changed: int = 0
    messages_new: int = 0
    stats_rows: int = 0
    messenger_skipped: bool = False  # Avito answered 402: the account has no messenger API subscription
    reviews_seen: int = 0
    reviews_new: int = 0
    reviews_changed: int = 0
    ratings_skipped: bool = False  # Avito answered 402 or 403 to ratings: not every account has them
    rate_limited: int = 0  # answers 429 met (each waited out or tried again: never a failure)
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
        if self.reviews_seen:
            lines.append(f"  reviews read {self.reviews_seen} (new {self.reviews_new}, changed {self.reviews_changed})")
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


async def sync(client: AvitoApiClient, store: Store, date_from: str | dt.date | None = None,
               date_to: str | dt.date | None = None, progress: bool = True,
               max_age: dt.timedelta | None = DEFAULT_MAX_AGE, *, clock: Clock | None = None) -> SyncReport:
    """Bring the store up to date with the account: listings of every status, bookings (unpaid included)
    for nights ``date_from`` .. ``date_to`` (default a year back to a year ahead), chats of both types,
    new messages of changed chats, and daily stats. Reads only: no chat is marked read.

    A listing's bookings and the stats read less than ``max_age`` ago for a window covering this one are
    kept as stored (the report's notes say how many); ``max_age=None`` reads everything again. ``clock`` (an
    aware "now", for tests) decides Avito's today (Moscow's date) and the run's timestamps.

    >>> report = await sync(client, Store())
    """
    today = avito_today(clock)
    first, last = sync_window(date_from, date_to, today)
    return await SyncRun(client, store, Window(first, last, today), progress=progress, max_age=max_age,
                         clock=clock).run()


def sync_window(date_from: str | dt.date | None = None, date_to: str | dt.date | None = None,
                today: dt.date | None = None, names: tuple[str, str] = ("date_from", "date_to")
                ) -> tuple[dt.date, dt.date]:
    """The nights a sync covers, both ends included: by default a year back to a year ahead of ``today``
    (Avito's today, Moscow's date, when not given). Raises ``ValueError`` for a date that is no date or an end
    before the start.

    >>> sync_window("2025-01-01")  # -> (date(2025, 1, 1), today + 365 days)
    """
    today = today or avito_today()
    return check_range(date_from or today - dt.timedelta(days=DEFAULT_DAYS_BACK),
                       date_to or today + dt.timedelta(days=DEFAULT_DAYS_AHEAD), names, allow_equal=True)


def sync_now(client: AvitoApiClient, store: Store, date_from: str | dt.date | None = None,
             date_to: str | dt.date | None = None, progress: bool = True,
             max_age: dt.timedelta | None = DEFAULT_MAX_AGE, *, clock: Clock | None = None) -> SyncReport:
    """``sync`` for plain code and notebook cells."""
    return run(sync(client, store, date_from, date_to, progress, max_age, clock=clock))


@dataclass
class Window:
    """The nights a run covers, both ends included, and Avito's today. Bookings are read from
    ``bookings_from``: ``first``, or today once Avito refused a start in the past."""

    first: dt.date
    last: dt.date
    today: dt.date
    bookings_from: dt.date = field(init=False)

    def __post_init__(self) -> None:
        self.bookings_from = self.first

    @property
    def end(self) -> dt.date:
        """The day after the last night: the window as a half-open range."""
        return self.last + dt.timedelta(days=1)


class _Freshness:
    """Per-listing cursors ``bookings:<item_id>`` and ``stats:all`` = when, and for which window, they were read."""

    def __init__(self, store: Store, user_id: int, window: Window, max_age: dt.timedelta | None, now: dt.datetime):
        self.store, self.user_id, self.first, self.last = store, user_id, window.first, window.last
        self.now, self.max_age = now, max_age
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


def link_notes(store: Store, now: dt.datetime, stale_after: dt.timedelta = LINK_STALE_AFTER) -> list[str]:
    """The sync reads Avito only and never pulls linked calendars (a pull writes to Avito: `avito-kit calendar
    pull`, by cron); its summary names the links whose last read failed or that were not read for a day."""
    notes = []
    for link in store.calendar_links().itertuples():
        if isinstance(link.error, str):
            notes.append(f"linked calendar {link.item_id}/{link.name} failed at its last pull: {link.error}")
        elif pd.isna(link.pulled_at) or now - link.pulled_at > stale_after:
            notes.append(f"linked calendar {link.item_id}/{link.name} not pulled for over a day "
                         "(`avito-kit calendar pull`)")
    return notes


class SyncRun:
    """One sync: the client, the store, one writer, the window and the report; the steps are its methods.

    ``run()`` goes once. Listings (then their bookings and stats) and chats (then their messages) run at once and
    share the client's limiter, so requests never wait for a store write; the writer keeps the store's writes
    one at a time and in order (a batch's data, then its cursor).
    """

    def __init__(self, client: AvitoApiClient, store: Store, window: Window, *, progress: bool = True,
                 max_age: dt.timedelta | None = DEFAULT_MAX_AGE, clock: Clock | None = None) -> None:
        self.client, self.store, self.window = client, store, window
        self.progress, self.max_age = progress, max_age
        self.now = utc_now(clock)  # when this run read what it stores: observed_at, cursors
        self.report = SyncReport(date_from=window.first, date_to=window.last)
        self.write = Writer(store)
        self.account: asyncio.Future[int] | None = None
        self.freshness: asyncio.Future[_Freshness] | None = None
        self._skipped_listings: set[int] = set()  # listings with bookings that had no id
        self._bars: list[tqdm] = []  # the open progress bars, told when requests wait for Avito's limit
        self._tried_again = 0  # calls that gave up on 429s and were tried again

    async def run(self) -> SyncReport:
        """Sync, record the run in ``sync_runs`` (``failed`` with the error, which is raised again) and
        return the report."""
        client, store, report = self.client, self.store, self.report
        started, requests_before = time.monotonic(), client.requests_sent
        limited_before, limiter = client.limiter.rate_limited, client.limiter
        told = limiter.on_throttle
        limiter.on_throttle = self._throttle_listener(told)
        # The run's record (the writer's first job), the account id (a token first) and the listing pages need
        # nothing from each other: they go at once. Every task started in the block inherits the patience.
        record = asyncio.ensure_future(self.write(store.begin_sync_run))
        try:
            with client.patiently():
                self.account = asyncio.ensure_future(self._answered(client.user_id))
                await all_or_first_error(asyncio.shield(record), self.account, self.listings(), self.chats(),
                                         self.reviews())
        except BaseException as exc:
            self._count_rate_limited(limiter.rate_limited - limited_before)
            report.requests = client.requests_sent - requests_before
            (run_id,) = await asyncio.gather(record, return_exceptions=True)  # it may still be on its way
            if isinstance(run_id, int):
                await asyncio.to_thread(store.finish_sync_run, run_id, "failed", report.counts(),
                                        f"{type(exc).__name__}: {exc}")
            raise
        finally:
            limiter.on_throttle = told
        self._count_rate_limited(limiter.rate_limited - limited_before)
        report.user_id = self.account.result()
        report.requests = client.requests_sent - requests_before
        report.seconds = time.monotonic() - started
        report.notes += await asyncio.to_thread(link_notes, store, self.now)
        await asyncio.to_thread(store.finish_sync_run, record.result(), "ok", report.counts())
        return report

    # -- rate limits -------------------------------------------------------------------------------------

    async def _answered(self, call, *args):
        """``call(*args)``, tried again after a pause each time it gives up on 429s: the sync never fails
        because of Avito's rate limit, it only slows down (the other calls go on meanwhile)."""
        while True:
            try:
                return await call(*args)
            except Exception as exc:
                # The token and the account id come through the auth, which wraps what ended its tries.
                if not isinstance(exc, AvitoRateLimited) and not isinstance(exc.__cause__, AvitoRateLimited):
                    raise
            self._tried_again += 1
            log.warning("Avito kept answering 429 to a %s call: trying it again after a pause",
                        getattr(call, "__name__", "sync"))
            await self.client.limiter.wait_for_limit(self.client.retry.rate_limit_cap)

    def _throttle_listener(self, told):
        def listen(throttled: bool) -> None:
            for bar in self._bars:
                bar.set_postfix_str(WAITING_FOR_LIMIT if throttled else "")
            if told is not None:
                told(throttled)
        return listen

    def _bar(self, **options) -> tqdm:
        bar = tqdm(disable=not self.progress, **options)
        if self.progress:
            self._bars.append(bar)
            if self.client.throttled:
                bar.set_postfix_str(WAITING_FOR_LIMIT)
        return bar

    def _count_rate_limited(self, answers: int) -> None:
        """``answers``: the 429s the client's calls met (the token's and account id's are the auth's own)."""
        self.report.rate_limited = answers
        said = [f"Avito answered 429 (rate limit) {answers} times: the sync slowed down and went on"] if answers else []
        if self._tried_again:
            said.append(f"{self._tried_again} calls gave up on Avito's rate limit (429) and were tried again")
        if said:
            self.report.notes.append("; ".join(said))

    # -- listings, bookings and stats ------------------------------------------------------------------

    async def listings(self) -> None:
        """Listings page by page, each page's bookings read as soon as it arrives; the stats once all are
        listed."""
        items: list[dict] = []
        listed: asyncio.Queue = asyncio.Queue()  # listing ids as their page arrives, then DONE
        self.freshness = asyncio.ensure_future(self._read_freshness())  # while the first page is on its way

        async def list_page_after_page() -> None:
            # Pages come whole: after a call that gave up, go on from the first page not yet listed.
            async for item in self.client.iter_items(page=len(items) // ITEMS_PAGE_MAX + 1):  # no account id
                items.append(item)
                listed.put_nowait(int(item["id"]))

        async def list_items() -> None:
            await self._answered(list_page_after_page)
            listed.put_nowait(DONE)
            fresh = await self.freshness
            await self.write(self.store.upsert_items, items_frame(items), fresh.user_id)
            self.report.items = len(items)
            if fresh.stale(["all"], "stats"):
                await self.stats(fresh, [int(item["id"]) for item in items])

        await all_or_first_error(self.freshness, list_items(), self.bookings(listed))
        self.freshness.result().report_skipped(self.report)

    async def _read_freshness(self) -> _Freshness:
        user_id = await self.account
        return await asyncio.to_thread(_Freshness, self.store, user_id, self.window, self.max_age, self.now)

    async def bookings(self, listed: asyncio.Queue) -> None:
        """The bookings of each listing ``listed`` (ids, then ``DONE``) whose last read is stale."""
        fresh = await self.freshness
        bar = self._bar(total=0, desc="bookings", unit="listing")

        async def stale_listings():
            while (item_id := await listed.get()) is not DONE:
                if fresh.stale([item_id], "bookings"):
                    bar.total += 1
                    yield item_id

        def store_batch(results) -> None:
            self._store_bookings(fresh.user_id, results)
            self.store.record_booking_coverage(fresh.user_id, [(item_id, start, self.window.last)
                                                               for item_id, start, _ in results], self.now)
            fresh.mark([item_id for item_id, _, _ in results], "bookings")  # after what it guards

        try:
            await fetch_and_store(stale_listings(), functools.partial(self._answered, self._fetch_bookings),
                                  store_batch, self.write, bar,
                                  batch_size=BATCH_ITEMS, places=self.client.max_in_flight)
        finally:
            bar.close()
        if self.report.bookings_skipped:
            listings = ", ".join(map(str, sorted(self._skipped_listings)[:5]))
            more = "..." if len(self._skipped_listings) > 5 else ""
            self.report.notes.append(f"{self.report.bookings_skipped} bookings without avito_booking_id skipped "
                                     f"(listings {listings}{more}): nothing to track them by")

    async def _fetch_bookings(self, item_id: int) -> tuple[int, dt.date, list[dict]]:
        """(listing, start of the window read, its booking rows)."""
        start, bookings = await self._read_bookings(item_id)
        # Rows are made here, a listing at a time as its answer arrives, not by the store's thread: Python work
        # there holds the interpreter lock in long stretches, which slows every request under way.
        rows, skipped = booking_rows(item_id, bookings)
        if skipped:
            self.report.bookings_skipped += skipped
            self._skipped_listings.add(item_id)
        return item_id, start, rows

    async def _read_bookings(self, item_id: int) -> tuple[dt.date, list[dict]]:
        window, report = self.window, self.report
        start = window.bookings_from
        try:
            return start, await self.client.get_item_bookings(item_id=item_id, date_start=start,
                                                              date_end=window.last, with_unpaid=True)
        except (AvitoBadRequest, AvitoValidationError):
            if start >= window.today:
                raise
            # short-term-rent.json documents the dates as "not in the past" and Avito enforces it with a 422
            # (REAL-WORLD.md): read from today on and keep the history already in the store.
            if window.bookings_from < window.today:
                window.bookings_from = window.today
                report.notes.append(f"Avito refused bookings before today; read from {window.today} instead")
            if window.today > window.last:
                return window.today, []
            return window.today, await self.client.get_item_bookings(item_id=item_id, date_start=window.today,
                                                                     date_end=window.last, with_unpaid=True)
        except AvitoNotFound:
            report.notes.append(f"listing {item_id}: bookings not found (404)")
            return start, []

    def _store_bookings(self, user_id: int, results: list[tuple[int, dt.date, list[dict]]]) -> None:
        """``results``: (item_id, start of the window read, its booking rows) per listing. Runs in the writer."""
        store, report, end = self.store, self.report, self.window.end
        rows = [row for _, _, item_rows in results for row in item_rows]
        counts = store.upsert_bookings(bookings_frame(rows), user_id, self.now)
        report.bookings_seen += len(rows)
        report.bookings_new += counts.get("new", 0)
        report.bookings_changed += counts.get("changed", 0)
        # A booking vanishes only if the read had to return it: it checks in inside the window read. A stay
        # under way that checked in before a window starting today may not be returned: it stays, and counts.
        # One read finds the listings with such a booking missing; only those pay for a transaction.
        stored = store.booking_ids_checking_in(user_id, [item_id for item_id, _, _ in results],
                                               min((start for _, start, _ in results), default=end), end)
        for item_id, start, item_rows in results:
            seen = [row["booking_id"] for row in item_rows]
            if stored.get(item_id, set()) - set(seen):
                report.bookings_vanished += store.mark_vanished_bookings(user_id, item_id, start, end, seen,
                                                                         self.now)

    async def stats(self, fresh: _Freshness, item_ids: list[int]) -> None:
        """Daily stats of every listing, as far back as Avito looks; days it leaves out stored as zeros."""
        window, report = self.window, self.report
        start = max(window.first, window.today - dt.timedelta(days=STATS_DAYS_BACK - 1))
        end = min(window.last, window.today)
        if item_ids and end >= start:
            if start > window.first:
                report.notes.append(f"stats kept from {start}: Avito looks back at most {STATS_DAYS_BACK} days")

            def store_stats(body: bytes, listings: list[int]) -> None:
                report.stats_rows += self.store.upsert_stats_json(body, listings, start, end, fresh.user_id)

            # One call of 200 listings at a time, each stored before the next: a call's answer is 54,000 days
            # of JSON. The store expands it in the writer's thread, off the event loop.
            for chunk in (item_ids[i:i + STATS_IDS_MAX] for i in range(0, len(item_ids), STATS_IDS_MAX)):
                (body,) = await self._answered(functools.partial(
                    self.client.get_item_stats_json, item_ids=chunk, date_from=start, date_to=end))
                await self.write(store_stats, body, chunk)
        await self.write(fresh.mark, ["all"], "stats")

    # -- chats and messages ----------------------------------------------------------------------------

    async def chats(self) -> None:
        """Every chat, and the new messages of those that moved; skipped, with a note, when the account has
        no messenger API subscription (every messenger call answers 402)."""
        try:
            await self._chats()
        except AvitoPaymentRequired:
            self.report.messenger_skipped = True
            self.report.notes.append(NO_MESSENGER_NOTE)

    async def _chats(self) -> None:
        client, store, report = self.client, self.store, self.report
        user_id = await self.account
        stored = asyncio.ensure_future(asyncio.to_thread(store.chat_updated_map, user_id))  # during the 1st page
        chats: list[dict] = []
        unchanged: list[dict] = []
        listed: asyncio.Queue = asyncio.Queue()  # (changed chat, ids of its stored messages), then DONE
        bar = self._bar(desc="messages", unit="chat")

        async def list_chats() -> None:
            """Every chat, page after page; the changed ones of a page are queued as soon as it arrives, so
            message requests never wait for the next page."""
            page: list[dict] = []

            async def flush() -> None:
                if page:
                    known = await asyncio.to_thread(store.message_ids_by_chat, [c["id"] for c in page])
                    for chat in page:
                        listed.put_nowait((chat, known.get(chat["id"], set())))
                    page.clear()

            known_updated: dict | None = None
            listed_ids: set[str] = set()

            async def chat_after_chat() -> None:
                nonlocal known_updated
                # After a call that gave up, the chats are listed again from the first page: skip those seen.
                async for chat in client.iter_chats():
                    if chat["id"] in listed_ids:
                        continue
                    listed_ids.add(chat["id"])
                    if known_updated is None:
                        known_updated = await stored  # read while the first page was on its way
                    await take(chat)

            async def take(chat: dict) -> None:
                chats.append(chat)
                if known_updated.get(chat["id"]) == timestamp(chat.get("updated")):
                    unchanged.append(chat)
                else:
                    page.append(chat)
                    bar.total = len(chats) - len(unchanged)
                if len(chats) % MESSENGER_PAGE_MAX == 0:  # iter_chats reads pages of this size
                    await flush()

            try:
                await self._answered(chat_after_chat)
            finally:
                if not stored.done():
                    stored.cancel()
                elif not stored.cancelled():
                    stored.exception()  # a failed listing is the error that counts; this one is seen
            await flush()
            listed.put_nowait(DONE)

        async def changed_chats():
            while (entry := await listed.get()) is not DONE:
                yield entry

        async def fetch(entry: tuple[dict, set[str]]) -> tuple[dict, list[dict]]:
            chat, known = entry
            rows = []
            async for message in client.iter_messages(chat_id=chat["id"]):
                if message.get("id") in known:
                    break  # newest first: everything older is stored already
                rows.append(message_row(chat["id"], message, user_id))  # not in the store's thread: see bookings
            return chat, rows

        def store_batch(results) -> None:
            messages = [row for _, rows in results for row in rows]
            # Messages first, then the chat rows whose `updated` is the cursor: a crash in between only means
            # the next run fetches those messages again, never that it skips them.
            report.messages_new += store.upsert_messages(messages_frame(messages), user_id) or 0
            store.upsert_chats(chats_frame([chat for chat, _ in results], user_id), user_id)

        try:
            await all_or_first_error(list_chats(), fetch_and_store(
                changed_chats(), functools.partial(self._answered, fetch), store_batch, self.write, bar,
                batch_size=BATCH_ITEMS, places=client.max_in_flight))
        finally:
            bar.close()
        report.chats = len(chats)
        report.chats_changed = len(chats) - len(unchanged)
        if unchanged:
            await self.write(store.upsert_chats, chats_frame(unchanged, user_id), user_id)

    # -- ratings and reviews ---------------------------------------------------------------------------

    async def reviews(self) -> None:
        """The rating (a snapshot per run) and the reviews, newest first; skipped, with a note, when the
        account has no ratings (Avito answers 402 or 403)."""
        try:
            await self._reviews()
        except (AvitoPaymentRequired, AvitoForbidden) as exc:
            self.report.ratings_skipped = True
            self.report.notes.append(NO_RATINGS_NOTE.format(status=exc.status))

    async def _reviews(self) -> None:
        """Incremental: pages newest first stop after a page whose every review is stored unchanged, once past
        the oldest review whose answer still waits for moderation (its verdict must be seen). ``max_age=None``
        (``--full``) reads them all."""
        client, store, report = self.client, self.store, self.report
        user_id = await self.account
        info = await self._answered(client.get_rating_info)
        states, pending = await asyncio.to_thread(_review_bookmarks, store, user_id)
        rows: list[dict] = []
        unchanged_run = 0
        async with contextlib.aclosing(client.iter_reviews(REVIEWS_PAGE_MAX)) as pages:
            async for review in pages:
                row = review_row(review)
                rows.append(row)
                unchanged_run = unchanged_run + 1 if states.get(row["review_id"]) == review_state(row) else 0
                past_pending = pending is None or row["created_at"] <= pending
                if self.max_age is not None and unchanged_run >= REVIEWS_PAGE_MAX and past_pending:
                    break
        counts = await self.write(store.upsert_reviews, reviews_frame(rows), user_id, self.now)
        await self.write(store.record_rating, user_id, info, self.now)
        report.reviews_seen = len(rows)
        report.reviews_new, report.reviews_changed = counts["new"], counts["changed"]


def _review_bookmarks(store: Store, user_id: int) -> tuple[dict[int, tuple], dt.datetime | None]:
    with store.kept_open():
        return store.review_states(user_id), store.oldest_pending_answer(user_id)
