"""Store: the only code that talks to DuckDB. Avito keeps no history; this file is the host's memory.

Every query on the store's tables lives here (and the analytics' SQL in ``metrics``): the sync and the actions
call named reads and writes (``active_bookings``, ``message_ids_by_chat``, ``upsert_stats_json``...), never SQL.
The tables, their migrations and the columns each upsert accepts are in ``avito_kit.schema``.

Connections are short-lived: every public method opens the file, works, and closes it, so a notebook never
holds DuckDB's exclusive file lock while ``avito-kit sync`` runs; a method that finds the file locked by
another process retries with backoff for up to ``lock_timeout`` seconds. Each write batch is one
transaction: it lands whole or not at all. Timestamps are naive UTC.

Example::

    store = Store("data/avito.duckdb")
    store.upsert_items(pd.DataFrame({"item_id": [3_000_000_001], "title": ["Studio"]}), user_id=42)
    store.items()
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from . import schema
from .dates import utc_now
from .errors import StoreLockedError
from .schema import (
    BLOCKS,
    BOOKINGS,
    CHATS,
    ITEM_STATS,
    ITEMS,
    MESSAGES,
    REVIEWS,
    SCHEMA_VERSION,
    TABLES,
    Batch,
)

__all__ = ["DEFAULT_DB_PATH", "SCHEMA_VERSION", "Store", "StoreLockedError"]

# Sync reads and writes from worker threads while the kernel may use the store too. duckdb.connect in two
# threads at once can hand the second one the database instance before the Python client has registered its
# pandas scan there ("Table Function with name pandas_scan does not exist" on the next `register`): connections
# are opened one at a time. Two transactions writing the same rows at once fail one of them ("Duplicate key"):
# this process writes one transaction at a time.
_CONNECTING = threading.Lock()
_WRITING = threading.RLock()

DEFAULT_DB_PATH = Path("data") / "avito.duckdb"


# The store never sees tokens; this only catches a caller passing one by mistake.
_SECRET_KEY = re.compile(r"secret|token|password|authorization|api[_-]?key", re.IGNORECASE)


class Store:
    """The local DuckDB store. Holds no connection between calls.

    ``path``: the database file; default ``$AVITO_KIT_DB``, else ``data/avito.duckdb`` under the current
    directory. Its parent directory is created, and the schema migrated to :data:`SCHEMA_VERSION`.
    ``lock_timeout``: seconds to keep retrying while another process holds the file lock.

    Example::

        store = Store()                     # data/avito.duckdb
        store.bookings(statuses=["active"])
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 30.0) -> None:
        raw = path if path is not None else os.environ.get("AVITO_KIT_DB") or DEFAULT_DB_PATH
        # Resolved now so that a later os.chdir() (notebooks do it) keeps pointing at the same file.
        self.path = Path(raw).expanduser().resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_timeout = lock_timeout
        self.migrate()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- connections ------------------------------------------------------------------------------------

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the database file for one operation and close it on exit.

        Waits (with backoff, up to ``lock_timeout`` seconds) while another process holds the file;
        then raises :class:`StoreLockedError`. Keep the block short: while it is open, no other process
        can open the file.

        Example::

            with store.connect(read_only=True) as con:
                con.sql("SELECT count(*) FROM bookings").fetchone()
        """
        con = self._open(read_only)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def kept_open(self) -> Iterator[Store]:
        """Keep the file open (read-write) for a block of several operations, then close it.

        Opening and closing the file costs tens of milliseconds (the last close checkpoints it); inside the
        block every method, in any thread of this process, reuses the open database instead. Other processes
        wait for the block to end, so keep it to one batch of work, as ``sync`` does for each write.

        Example::

            with store.kept_open():
                store.upsert_messages(messages, 42)
                store.upsert_chats(chats, 42)
        """
        con = self._open(read_only=False)
        try:
            yield self
        finally:
            con.close()

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        started = time.monotonic()
        delay = 0.005
        while True:
            try:
                with _CONNECTING:
                    return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.ConnectionException as exc:
                if "different configuration" not in str(exc):
                    raise
                # This process already has the file open read-write (a caller inside `connect()`):
                # DuckDB refuses a second, read-only configuration, but shares the read-write one.
                if read_only:
                    read_only = False
                    continue
                # Another thread of this process is reading (read-only) right now: wait for it as for another
                # process's lock. Sync reads and writes from worker threads; a notebook may read meanwhile.
                busy: duckdb.Error = exc
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                busy = exc
            waited = time.monotonic() - started
            if waited >= self.lock_timeout:
                raise StoreLockedError(self.path, waited, busy) from busy
            # Jitter keeps two waiting processes from retrying in lockstep.
            time.sleep(min(delay * (0.5 + random.random()), max(self.lock_timeout - waited, 0.001)))
            delay = min(delay * 2, 0.2)

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with _WRITING, self.connect() as con:
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    # -- schema -----------------------------------------------------------------------------------------

    def migrate(self) -> int:
        """Bring the schema to :data:`SCHEMA_VERSION`; a no-op on a current database. Returns the version.

        Called by the constructor. Example: ``Store(path).migrate()  # -> 2``
        """
        with self.connect() as con:
            return schema.migrate(con, SCHEMA_VERSION)

    def schema_version(self) -> int:
        """The schema version of the file. Example: ``store.schema_version()  # -> 2``"""
        with self.connect(read_only=True) as con:
            return schema.current_version(con)

    # -- listings ---------------------------------------------------------------------------------------

    def upsert_items(self, df: pd.DataFrame | None, user_id: int) -> int:
        """Insert or update listings; returns the number of rows in the (de-duplicated) batch.

        Columns: ``item_id`` (required), ``title``, ``address``, ``status``, ``price``, ``url``,
        ``category_id``, ``category_name``. A column absent from ``df`` is left as stored.

        Example::

            store.upsert_items(pd.DataFrame({"item_id": [3_000_000_001], "status": ["active"]}), user_id=42)
        """
        frame = _prepare(df, ITEMS)
        if frame is None:
            return 0
        with self._transaction() as con:
            con.register("batch", frame)
            con.execute(
                _upsert_sql(
                    "items",
                    ITEMS,
                    frame,
                    extra={"user_id": "$user_id", "updated_at": "$now"},
                    insert_only={"first_seen_at": "$now"},
                ),
                {"user_id": user_id, "now": utc_now()},
            )
        return len(frame)

    def upsert_item_stats(self, df: pd.DataFrame | None, user_id: int) -> int:
        """Insert or update daily listing statistics; returns the batch size.

        Columns: ``item_id``, ``date`` (required), ``uniq_views``, ``uniq_contacts``, ``uniq_favorites``.

        Example::

            store.upsert_item_stats(pd.DataFrame({"item_id": [1], "date": ["2025-05-01"], "uniq_views": [7]}), 42)
        """
        frame = _prepare(df, ITEM_STATS)
        if frame is None:
            return 0
        with self._transaction() as con:
            con.register("batch", frame)
            con.execute(
                _upsert_sql("item_stats", ITEM_STATS, frame, extra={"user_id": "$user_id", "updated_at": "$now"}),
                {"user_id": user_id, "now": utc_now()},
            )
        return len(frame)

    def upsert_stats_json(self, body: bytes | str, item_ids: Iterable[int], date_from: date | str,
                          date_to: date | str, user_id: int) -> int:
        """Store one itemStatsShallow answer as it came (its JSON text): a row per listing of ``item_ids`` and
        day of ``date_from`` .. ``date_to``, days Avito left out as zeros; returns the rows written.

        DuckDB parses and expands the answer (54,000 days for 200 listings): Python would hold the interpreter
        lock for long stretches. Listings not asked for, days outside the window and repeated days are dropped.

        Example: ``store.upsert_stats_json(body, [3_000_000_001], "2026-05-01", "2026-05-31", user_id=42)``
        """
        text = body.decode() if isinstance(body, bytes) else body
        params = {"body": text or "{}", "listings": [int(i) for i in item_ids], "first": _as_date(date_from),
                  "last": _as_date(date_to)}
        with self.kept_open():
            return self.upsert_item_stats(self.query(_STATS_ROWS_SQL, params), user_id)

    # -- bookings ---------------------------------------------------------------------------------------

    def upsert_bookings(
        self, df: pd.DataFrame | None, user_id: int, observed_at: datetime | None = None
    ) -> dict[str, int]:
        """Record one sighting of bookings, keeping their history. One transaction, all in SQL.

        New bookings are inserted with a 'first_seen' event. A booking whose status, dates or price
        differ from the stored row is updated, with a 'changed' event carrying the ``previous_*`` values
        (``status_changed_at`` moves only when the status did). A booking seen again after it had
        vanished gets a 'reappeared' event. Every booking in the batch gets ``last_seen_at = observed_at``.

        Columns: ``booking_id`` (Avito's ``avito_booking_id``; ints up to 2^64-1, never floats), ``item_id``,
        ``check_in``, ``check_out``, ``status``, ``base_price`` (whole stay) are required; optional
        ``nights`` (default check_out - check_in), ``guest_count``, ``guest_name``, ``guest_email``,
        ``guest_phone``, ``safe_deposit_total``, ``safe_deposit_owner_amount``, ``safe_deposit_tax``.
        Unknown statuses are kept as they are.

        Returns disjoint counts ``{"new", "changed", "unchanged", "reappeared"}`` summing to the batch size.

        Example::

            store.upsert_bookings(pd.DataFrame({
                "booking_id": [2**63], "item_id": [3_000_000_001], "check_in": ["2025-07-01"],
                "check_out": ["2025-07-04"], "status": ["active"], "base_price": [24000]}), user_id=42)
            # -> {"new": 1, "changed": 0, "unchanged": 0, "reappeared": 0}
        """
        counts = {"new": 0, "changed": 0, "unchanged": 0, "reappeared": 0}
        frame = _prepare(df, BOOKINGS)
        if frame is None:
            return counts
        params = {"user_id": user_id, "now": _utc_naive(observed_at)}
        with self._transaction() as con:
            con.register("batch", frame)
            con.execute(_BOOKING_DIFF_SQL.format(select=_select_list(BOOKINGS, frame)))
            con.execute(_BOOKING_EVENTS_SQL, params)
            for statement in _booking_upsert_sql(frame):
                con.execute(statement, params)
            for kind, n in con.execute("SELECT kind, count(*) FROM _diff GROUP BY kind").fetchall():
                counts[kind] = n
            con.execute("DROP TABLE _diff")
        return counts

    def mark_vanished_bookings(
        self,
        user_id: int,
        item_id: int,
        date_from: date | str,
        date_to: date | str,
        seen_booking_ids: Iterable[int],
        observed_at: datetime | None = None,
    ) -> int:
        """Record 'vanished' for bookings Avito no longer returns; returns how many vanished now.

        A booking of ``item_id`` checking in within the fetched window [date_from, date_to) that is not in
        ``seen_booking_ids`` gets one 'vanished' event and ``vanished_at``; the row itself stays. A stay that
        checked in before ``date_from`` is left alone: whether Avito returns a stay under way is unknown
        (REAL-WORLD.md), and once the window starts today it must keep counting, not vanish. Bookings
        already vanished, or seen at or after ``observed_at`` (another window of the same sync run), are
        left alone; pass the same ``observed_at`` as to :meth:`upsert_bookings`.

        Example::

            store.mark_vanished_bookings(42, 3_000_000_001, "2025-07-01", "2026-07-01", [2**63], observed_at=t)
        """
        seen = pd.DataFrame(
            {"booking_id": _exact_ints(pd.Series(list(seen_booking_ids), dtype=object), "seen_booking_ids", "UBIGINT")}
        )
        params = {
            "user_id": user_id,
            "item_id": item_id,
            "date_from": _as_date(date_from),
            "date_to": _as_date(date_to),
            "now": _utc_naive(observed_at),
        }
        with self._transaction() as con:
            con.register("seen", seen)
            con.execute(_VANISHED_SQL, params)
            (n,) = con.execute("SELECT count(*) FROM _gone").fetchone()
            con.execute(_VANISHED_APPLY_SQL, {"now": params["now"]})
            con.execute(_VANISHED_MARK_SQL, {"now": params["now"]})
            con.execute("DROP TABLE _gone")
        return n

    def record_booking_coverage(
        self, user_id: int, windows: Iterable[tuple[int, date | str, date | str]], observed_at: datetime | None = None
    ) -> int:
        """Record that a sync read these listings' bookings for nights ``date_from .. date_to`` (both included) at
        ``observed_at``; returns how many new coverage ranges were stored.

        Only nights no earlier read covered are stored, each range with the time it was first read, so the table
        answers "since when has avito_kit watched this listing's night" with one disjoint range per listing and
        extension. A booking first seen by that very read was already there (metrics' left-censoring rule).
        ``windows``: (item_id, date_from, date_to); an empty window (from after to) covers nothing.

        Example: ``store.record_booking_coverage(42, [(3_000_000_001, "2025-07-01", "2026-07-01")], observed_at=t)``
        """
        # One window per listing and statement: a listing's second window sees the ranges its first one stored.
        rounds: list[list[tuple[int, date, date]]] = []
        for item_id, first, last in windows:
            window = (int(item_id), _as_date(first), _as_date(last))
            if window[1] <= window[2]:
                free = next((r for r in rounds if all(w[0] != window[0] for w in r)), None)
                if free is None:
                    rounds.append(free := [])
                free.append(window)
        stored = 0
        with self._transaction() as con:
            for windows_round in rounds:
                con.register("windows", pd.DataFrame(windows_round, columns=["item_id", "read_from", "read_to"]))
                params = {"user_id": user_id, "now": _utc_naive(observed_at)}
                stored += len(con.execute(_COVERAGE_SQL, params).fetchall())
        return stored

    def booking_coverage(self, item_id: int | None = None) -> pd.DataFrame:
        """The nights whose bookings a sync has read, per listing: item_id, cover_from, cover_to, observed_at (first
        read). Example: ``store.booking_coverage(3_000_000_001)``"""
        return self.query(
            "SELECT user_id, item_id, cover_from, cover_to, observed_at FROM booking_coverage "
            "WHERE $i IS NULL OR item_id = $i ORDER BY item_id, cover_from", {"i": item_id}
        )

    def active_bookings(self, item_id: int, date_from: date | str, date_to: date | str) -> pd.DataFrame:
        """The listing's active bookings with a night in [date_from, date_to), by check-in: what a calendar
        block must not cover. Columns: booking_id, check_in, check_out, guest_name.

        Example: ``store.active_bookings(3_000_000_001, "2026-07-01", "2026-08-01")``
        """
        return self.query(
            "SELECT booking_id, check_in, check_out, guest_name FROM bookings "
            "WHERE item_id = ? AND status = 'active' AND check_in < ? AND check_out > ? ORDER BY check_in",
            [item_id, _as_date(date_to), _as_date(date_from)],
        )

    def booking_ids_checking_in(self, user_id: int, item_ids: Iterable[int], date_from: date | str,
                                date_to: date | str) -> dict[int, set[int]]:
        """``{item_id: {booking_id}}`` of the bookings not vanished that check in within [date_from, date_to):
        those a bookings read of that window must return (see :meth:`mark_vanished_bookings`). Ids exact.

        Example: ``store.booking_ids_checking_in(42, [3_000_000_001], "2026-07-01", "2027-07-01")``
        """
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT item_id, booking_id FROM bookings WHERE user_id = ? AND vanished_at IS NULL "
                "AND list_contains(?, item_id) AND check_in >= ? AND check_in < ?",
                [user_id, [int(i) for i in item_ids], _as_date(date_from), _as_date(date_to)],
            ).fetchall()
        found: dict[int, set[int]] = {}
        for item_id, booking_id in rows:
            found.setdefault(int(item_id), set()).add(int(booking_id))
        return found

    # -- messenger --------------------------------------------------------------------------------------

    def upsert_chats(self, df: pd.DataFrame | None, user_id: int) -> int:
        """Insert or update chats; returns the batch size.

        Columns: ``chat_id`` (required), ``item_id`` (null for u2u), ``chat_type``, ``created``,
        ``updated``, ``other_user_id``, ``other_user_name``, ``last_message_text``, ``last_message_at``,
        ``last_message_direction``, ``unread``. Timestamps: datetimes, or unix seconds as Avito sends them.

        Example::

            store.upsert_chats(pd.DataFrame({"chat_id": ["u2i-abc"], "updated": [1717000000]}), user_id=42)
        """
        frame = _prepare(df, CHATS)
        if frame is None:
            return 0
        with self._transaction() as con:
            con.register("batch", frame)
            con.execute(
                _upsert_sql("chats", CHATS, frame, extra={"user_id": "$user_id", "synced_at": "$now"}),
                {"user_id": user_id, "now": utc_now()},
            )
        return len(frame)

    def upsert_messages(self, df: pd.DataFrame | None, user_id: int) -> int:
        """Insert messages not yet stored; returns how many were new.

        Stored messages keep their text and content as first seen (a later 'deleted' message keeps what
        the host saw); only ``is_read`` and ``read_at`` are updated. Columns: ``message_id``, ``chat_id``
        (required), ``author_id``, ``direction`` ('in' | 'out'; if absent or null, 'out' when
        author_id == user_id), ``type``, ``text``, ``created``, ``is_read``, ``read_at``, ``content``
        (the raw content dict, or its JSON text).

        Example::

            store.upsert_messages(pd.DataFrame({"message_id": ["m1"], "chat_id": ["u2i-abc"],
                                                "author_id": [7], "text": ["Здравствуйте"]}), user_id=42)
        """
        frame = _prepare(df, MESSAGES)
        if frame is None:
            return 0
        cols = [c for c in MESSAGES.columns if c in frame.columns and c != "direction"]
        author = "CAST(author_id AS BIGINT)" if "author_id" in frame.columns else "NULL"
        given = "CAST(direction AS VARCHAR)" if "direction" in frame.columns else "NULL"
        updates = [f"{c} = coalesce(excluded.{c}, messages.{c})" for c in ("is_read", "read_at") if c in cols]
        conflict = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        with self._transaction() as con:
            con.register("batch", frame)
            (before,) = con.execute("SELECT count(*) FROM messages").fetchone()
            con.execute(
                f"""
                INSERT INTO messages ({", ".join(cols)}, direction, user_id, first_seen_at)
                SELECT {_select_list(MESSAGES, frame, only=cols)},
                       coalesce({given}, CASE WHEN {author} = $user_id THEN 'out'
                                              WHEN {author} IS NOT NULL THEN 'in' END),
                       $user_id, $now
                FROM batch
                ON CONFLICT (message_id) {conflict}
                """,
                {"user_id": user_id, "now": utc_now()},
            )
            (after,) = con.execute("SELECT count(*) FROM messages").fetchone()
        return after - before

    def message_ids_by_chat(self, chat_ids: Iterable[str]) -> dict[str, set[str]]:
        """The stored message ids of many chats in one read (a file open per chat costs seconds per thousand).

        Example: ``"m1" in store.message_ids_by_chat(["u2i-abc"]).get("u2i-abc", set())``
        """
        chat_ids = list(chat_ids)
        if not chat_ids:
            return {}
        with self.connect(read_only=True) as con:
            rows = con.execute("SELECT chat_id, message_id FROM messages WHERE list_contains(?, chat_id)",
                               [chat_ids]).fetchall()
        known: dict[str, set[str]] = {}
        for chat_id, message_id in rows:
            known.setdefault(chat_id, set()).add(message_id)
        return known

    def mark_chat_read(self, chat_id: str, user_id: int, read_at: datetime | None = None) -> int:
        """After Avito marked a chat read: its unread incoming messages get ``is_read`` and ``read_at``, the
        chat ``unread = false`` (one transaction). Returns how many messages changed.

        Example: ``store.mark_chat_read("u2i-abc", 42)``
        """
        params = {"chat_id": chat_id, "user_id": user_id, "now": utc_now(), "read_at": _utc_naive(read_at)}
        with self._transaction() as con:
            changed = con.execute(
                "UPDATE messages SET is_read = true, read_at = $read_at "
                "WHERE chat_id = $chat_id AND direction = 'in' AND NOT coalesce(is_read, false) RETURNING 1",
                {k: params[k] for k in ("chat_id", "read_at")},
            ).fetchall()
            con.execute(
                "INSERT INTO chats (chat_id, user_id, unread, synced_at) VALUES ($chat_id, $user_id, false, $now) "
                "ON CONFLICT (chat_id) DO UPDATE SET unread = false, user_id = excluded.user_id, "
                "synced_at = excluded.synced_at",
                {k: params[k] for k in ("chat_id", "user_id", "now")},
            )
        return len(changed)

    def chat_updated_map(self, user_id: int) -> dict[str, datetime | None]:
        """``{chat_id: updated}`` as stored for an account: sync fetches messages only of chats that moved.

        Example: ``store.chat_updated_map(42).get("u2i-abc")  # -> datetime(2024, 5, 29, 16, 26, 40)``
        """
        with self.connect(read_only=True) as con:
            rows = con.execute("SELECT chat_id, updated FROM chats WHERE user_id = ?", [user_id]).fetchall()
        return dict(rows)

    # -- calendar ---------------------------------------------------------------------------------------

    def replace_calendar_blocks(self, user_id: int, item_id: int, blocks_df: pd.DataFrame | None) -> int:
        """Replace the host's full set of manual blocks of one listing (one transaction); returns its size.

        Columns: ``date_start``, ``date_end`` (exclusive: one night D is D..D+1, as Avito takes them),
        ``comment``. Ranges must not overlap (Avito refuses overlaps). None or empty clears the listing.

        Example::

            store.replace_calendar_blocks(42, 3_000_000_001, pd.DataFrame(
                {"date_start": ["2025-08-01"], "date_end": ["2025-08-03"], "comment": ["repairs"]}))
        """
        frame = _prepare(blocks_df, BLOCKS)
        params = {"user_id": user_id, "item_id": item_id, "now": utc_now()}
        with self._transaction() as con:
            con.execute("DELETE FROM calendar_blocks WHERE item_id = $item_id", {"item_id": item_id})
            if frame is None:
                return 0
            con.register("batch", frame)
            con.execute(
                f"""
                INSERT INTO calendar_blocks (date_start, date_end, comment, user_id, item_id, updated_at)
                SELECT {_select_list(BLOCKS, frame, only=["date_start", "date_end", "comment"])},
                       $user_id, $item_id, $now
                FROM batch
                """,
                params,
            )
            overlap = con.execute(
                """
                SELECT a.date_start, a.date_end, b.date_start, b.date_end
                FROM calendar_blocks a JOIN calendar_blocks b
                  ON a.item_id = b.item_id AND a.date_start < b.date_start AND b.date_start < a.date_end
                WHERE a.item_id = $item_id LIMIT 1
                """,
                {"item_id": item_id},
            ).fetchone()
            if overlap:
                raise ValueError(f"calendar blocks overlap: {overlap[:2]} and {overlap[2:]}")
        return len(frame)

    def calendar_blocks(self, item_id: int | None = None) -> pd.DataFrame:
        """The stored manual blocks, by listing and start date. Example: ``store.calendar_blocks(item_id)``

        Columns: user_id, item_id, date_start, date_end (exclusive), comment, updated_at.
        """
        return self.query(
            "SELECT user_id, item_id, date_start, date_end, comment, updated_at FROM calendar_blocks "
            "WHERE $item_id IS NULL OR item_id = $item_id ORDER BY item_id, date_start",
            {"item_id": item_id},
        )

    # -- linked calendars (iCal feeds of other platforms) and the last calendar push ----------------------

    def link_calendar(self, item_id: int, name: str, source: str) -> None:
        """Link a feed (URL or file) to a listing under ``name``; linking the same name again replaces its source.

        Example: ``store.link_calendar(item_id, "Airbnb", "https://www.airbnb.ru/calendar/ical/1.ics?s=...")``
        """
        with self._transaction() as con:
            con.execute(
                "INSERT INTO calendar_links (item_id, name, source, added_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (item_id, name) DO UPDATE SET source = excluded.source, etag = NULL, "
                "last_modified = NULL, pulled_at = NULL, error = NULL",
                [item_id, name, source, utc_now()])

    def unlink_calendar(self, item_id: int, name: str) -> bool:
        """Forget a link and the closures read from it; False when there was none."""
        with self._transaction() as con:
            found = con.execute("DELETE FROM calendar_links WHERE item_id = ? AND name = ? RETURNING name",
                                [item_id, name]).fetchall()
            con.execute("DELETE FROM external_closures WHERE item_id = ? AND source = ?", [item_id, name])
        return bool(found)

    def calendar_links(self, item_id: int | None = None) -> pd.DataFrame:
        """The linked feeds. Columns: item_id, name, source, etag, last_modified, pulled_at, error, added_at."""
        return self.query("SELECT * FROM calendar_links WHERE $i IS NULL OR item_id = $i ORDER BY item_id, name",
                          {"i": item_id})

    def record_link_read(self, item_id: int, name: str, *, closures: pd.DataFrame | None = None,
                         etag: str | None = None, last_modified: str | None = None, error: str | None = None) -> None:
        """Keep the outcome of reading one link: with ``error`` only the error (its closures stay as last read);
        with ``closures`` (date_start, date_end, summary) they replace the link's closures; with neither (304:
        not modified) only the time. One transaction."""
        now = utc_now()
        with self._transaction() as con:
            if error is not None:
                con.execute("UPDATE calendar_links SET error = ? WHERE item_id = ? AND name = ?",
                            [error, item_id, name])
                return
            con.execute("UPDATE calendar_links SET error = NULL, pulled_at = ?, etag = coalesce(?, etag), "
                        "last_modified = coalesce(?, last_modified) WHERE item_id = ? AND name = ?",
                        [now, etag, last_modified, item_id, name])
            if closures is None:
                return
            con.execute("DELETE FROM external_closures WHERE item_id = ? AND source = ?", [item_id, name])
            rows = [(item_id, name, _as_date(r.date_start), _as_date(r.date_end), r.summary, now)
                    for r in closures.itertuples()]
            if rows:
                con.executemany("INSERT INTO external_closures VALUES (?, ?, ?, ?, ?, ?)", rows)

    def external_closures(self, item_id: int | None = None) -> pd.DataFrame:
        """Nights other platforms' feeds say are taken. Columns: item_id, source, date_start, date_end (exclusive),
        summary, read_at. Example: ``store.external_closures(item_id)``"""
        return self.query("SELECT * FROM external_closures WHERE $i IS NULL OR item_id = $i "
                          "ORDER BY item_id, date_start, source", {"i": item_id})

    def record_calendar_push(self, item_id: int, bookings: list[dict], availability: list[dict] | None, *,
                             audit_id: int | None = None) -> None:
        """Keep what the last calendar push Avito accepted for a listing contained (JSON as sent)."""
        with self._transaction() as con:
            con.execute("INSERT OR REPLACE INTO calendar_pushes VALUES (?, ?, ?, ?, ?)",
                        [item_id, _json(bookings), _json(availability), utc_now(), audit_id])

    def last_calendar_push(self, item_id: int) -> dict[str, Any] | None:
        """``{"bookings": [...], "availability": [...] | None, "pushed_at": ...}`` of the last accepted push, or
        None when avito_kit never pushed this listing's calendar."""
        with self.connect(read_only=True) as con:
            row = con.execute("SELECT bookings, availability, pushed_at FROM calendar_pushes WHERE item_id = ?",
                              [item_id]).fetchone()
        if row is None:
            return None
        return {"bookings": json.loads(row[0]), "availability": json.loads(row[1]) if row[1] else None,
                "pushed_at": row[2]}

    # -- prices and base parameters (Avito never reads them back: every push is kept) -------------------

    def record_price_push(self, user_id: int | None, item_id: int, prices: list[dict], *, audit_id: int | None = None,
                          pushed_at: datetime | None = None) -> int:
        """Keep one push Avito accepted (postRealtyPrices): one row per period, ``date_to`` inclusive as sent.
        Returns the rows added. Rows are never updated: :meth:`night_prices` reads the latest push per night.

        Example::

            store.record_price_push(42, item_id, [{"date_from": "2026-12-04", "date_to": "2026-12-05",
                                                   "night_price": 5500, "minimal_duration": 2}], audit_id=7)
        """
        rows = [(user_id, item_id, _as_date(p["date_from"]), _as_date(p["date_to"]), p["night_price"],
                 p.get("minimal_duration"), p.get("extra_guest_fee"), _utc_naive(pushed_at), audit_id) for p in prices]
        with self._transaction() as con:
            con.executemany(
                "INSERT INTO prices (user_id, item_id, date_from, date_to, night_price, minimal_duration, "
                "extra_guest_fee, pushed_at, audit_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def price_pushes(self, item_id: int | None = None) -> pd.DataFrame:
        """Every period pushed, in push order. Example: ``store.price_pushes(item_id)``

        Columns: row_id, user_id, item_id, date_from, date_to (inclusive), night_price, minimal_duration,
        extra_guest_fee, pushed_at, audit_id.
        """
        return self.query("SELECT * FROM prices WHERE $i IS NULL OR item_id = $i ORDER BY row_id", {"i": item_id})

    def night_prices(self, item_id: int, date_from: date | str, date_to: date | str) -> pd.DataFrame:
        """What avito_kit knows of each night ``date_from <= night < date_to`` of a listing, one row per night.

        Each field comes from the latest push that set it for that night (a push covering the night, else the
        listing's latest base parameters): ``night``, ``night_price``, ``minimal_duration``, ``extra_guest_fee``,
        ``source`` ('period', 'base' or None: nothing pushed), ``pushed_at`` and ``audit_id`` of the period
        push that set the price.

        Example: ``store.night_prices(item_id, "2026-12-01", "2027-01-01").query("source == 'period'")``
        """
        first, last = _as_date(date_from), _as_date(date_to)
        return self.query(
            """
            WITH nights AS (
                SELECT CAST(range AS DATE) AS night FROM range($first::TIMESTAMP, $last::TIMESTAMP, INTERVAL 1 DAY)
            ), period AS (
                SELECT n.night,
                       arg_max(p.night_price, p.row_id) AS night_price,
                       arg_max(p.minimal_duration, p.row_id) FILTER (WHERE p.minimal_duration IS NOT NULL)
                           AS minimal_duration,
                       arg_max(p.extra_guest_fee, p.row_id) FILTER (WHERE p.extra_guest_fee IS NOT NULL)
                           AS extra_guest_fee,
                       arg_max(p.pushed_at, p.row_id) AS pushed_at,
                       arg_max(p.audit_id, p.row_id) AS audit_id
                FROM nights n JOIN prices p ON p.item_id = $item_id AND n.night BETWEEN p.date_from AND p.date_to
                GROUP BY n.night
            ), base AS (
                SELECT arg_max(night_price, row_id) FILTER (WHERE night_price IS NOT NULL) AS night_price,
                       arg_max(minimal_duration, row_id) FILTER (WHERE minimal_duration IS NOT NULL)
                           AS minimal_duration,
                       arg_max(extra_guest_fee, row_id) FILTER (WHERE extra_guest_fee IS NOT NULL) AS extra_guest_fee
                FROM base_params WHERE item_id = $item_id
            )
            SELECT n.night,
                   coalesce(p.night_price, b.night_price) AS night_price,
                   coalesce(p.minimal_duration, b.minimal_duration) AS minimal_duration,
                   coalesce(p.extra_guest_fee, b.extra_guest_fee) AS extra_guest_fee,
                   CASE WHEN p.night IS NOT NULL THEN 'period' WHEN b.night_price IS NOT NULL THEN 'base' END
                       AS source,
                   p.pushed_at, p.audit_id
            FROM nights n LEFT JOIN period p USING (night) CROSS JOIN base b
            ORDER BY n.night
            """,
            {"item_id": item_id, "first": first, "last": last},
        )

    def record_base_params(self, user_id: int | None, item_id: int, params: dict, *, audit_id: int | None = None,
                           pushed_at: datetime | None = None) -> None:
        """Keep one postBaseParams body Avito accepted (fields not sent stay NULL).

        Example: ``store.record_base_params(42, item_id, {"minimal_duration": 2, "instant": {"active": True}})``
        """
        instant, refund = params.get("instant") or {}, params.get("refund") or {}
        row = {"user_id": user_id, "item_id": item_id, "night_price": params.get("night_price"),
               "minimal_duration": params.get("minimal_duration"), "instant_active": instant.get("active"),
               "instant_min_days": instant.get("min_days"), "instant_max_days": instant.get("max_days"),
               "discounts": _json(params.get("discount")), "refund_days": refund.get("days"),
               "extra_guest_fee": params.get("extra_guest_fee"),
               "extra_guest_threshold": params.get("extra_guest_threshold"), "pushed_at": _utc_naive(pushed_at),
               "audit_id": audit_id}
        with self._transaction() as con:
            con.execute(f"INSERT INTO base_params ({', '.join(row)}) VALUES ({', '.join('$' + k for k in row)})",
                        row)

    def base_params(self, item_id: int | None = None) -> pd.DataFrame:
        """Every base-parameters push, in push order (``discounts`` as JSON text). Example:
        ``store.base_params(item_id)``"""
        return self.query("SELECT * FROM base_params WHERE $i IS NULL OR item_id = $i ORDER BY row_id",
                          {"i": item_id})

    def current_base_params(self, item_id: int) -> dict[str, Any]:
        """Each base parameter as last pushed (None: never pushed), over all pushes of the listing.

        Example: ``store.current_base_params(item_id)["minimal_duration"]``
        """
        fields = ("night_price", "minimal_duration", "instant_active", "instant_min_days", "instant_max_days",
                  "discounts", "refund_days", "extra_guest_fee", "extra_guest_threshold", "pushed_at")
        select = ", ".join(f"arg_max({f}, row_id) FILTER (WHERE {f} IS NOT NULL) AS {f}" for f in fields)
        with self.connect(read_only=True) as con:
            row = con.execute(f"SELECT {select} FROM base_params WHERE item_id = ?", [item_id]).fetchone()
        current = dict(zip(fields, row, strict=True))
        current["discounts"] = json.loads(current["discounts"]) if current["discounts"] else None
        return current

    # -- audit ------------------------------------------------------------------------------------------

    def audit_begin(self, action: str, target: str | None, payload: Any = None) -> int:
        """Log a write to Avito as 'pending' BEFORE sending it; returns the audit_id for :meth:`audit_finish`.

        ``payload`` (JSON-serialisable) is what is sent. It must never contain secrets: the store never
        sees tokens, and a payload with a key that looks like one (token, secret, password, ...) is refused.

        Example::

            audit_id = store.audit_begin("block_dates", "item:3000000001", {"bookings": [...]})
        """
        _refuse_secrets(payload)
        with self._transaction() as con:
            (audit_id,) = con.execute(
                "INSERT INTO audit_log (logged_at, action, target, payload, outcome) "
                "VALUES ($now, $action, $target, $payload, 'pending') RETURNING audit_id",
                {"now": utc_now(), "action": action, "target": target, "payload": _json(payload)},
            ).fetchone()
        return int(audit_id)

    def audit_finish(self, audit_id: int, outcome: str, detail: str | None = None) -> None:
        """Record how a logged write ended (e.g. 'ok', 'conflict', 'failed') with an optional detail.

        Example: ``store.audit_finish(audit_id, "conflict", "409: overlaps a paid booking")``
        """
        with self._transaction() as con:
            found = con.execute(
                "UPDATE audit_log SET outcome = $outcome, detail = $detail, finished_at = $now "
                "WHERE audit_id = $audit_id RETURNING audit_id",
                {"outcome": outcome, "detail": detail, "now": utc_now(), "audit_id": audit_id},
            ).fetchall()
        if not found:
            raise KeyError(f"no audit entry {audit_id}")

    def audit_log(self) -> pd.DataFrame:
        """All logged writes, oldest first. Example: ``store.audit_log().query("outcome == 'pending'")``

        Columns: audit_id, logged_at, action, target, payload (JSON text), outcome, detail, finished_at.
        """
        return self.query(
            "SELECT audit_id, logged_at, action, target, payload, outcome, detail, finished_at "
            "FROM audit_log ORDER BY audit_id"
        )

    # -- sync bookkeeping -------------------------------------------------------------------------------

    def begin_sync_run(self) -> int:
        """Record the start of a sync run (status 'running'); returns its run_id.

        Example: ``run_id = store.begin_sync_run()``
        """
        with self._transaction() as con:
            (run_id,) = con.execute(
                "INSERT INTO sync_runs (started_at, status) VALUES (?, 'running') RETURNING run_id", [utc_now()]
            ).fetchone()
        return int(run_id)

    def finish_sync_run(
        self, run_id: int, status: str, counts: Mapping[str, Any] | None = None, error: str | None = None
    ) -> None:
        """Record the end of a sync run: status 'ok' or 'failed', counts per kind, the error if any.

        Example: ``store.finish_sync_run(run_id, "ok", {"bookings": 12, "messages": 40})``
        """
        if status not in ("ok", "failed"):
            raise ValueError(f"status must be 'ok' or 'failed', not {status!r}")
        with self._transaction() as con:
            found = con.execute(
                "UPDATE sync_runs SET status = $status, finished_at = $now, counts = $counts, error = $error "
                "WHERE run_id = $run_id RETURNING run_id",
                {
                    "status": status,
                    "now": utc_now(),
                    "counts": _json(dict(counts or {})),
                    "error": error,
                    "run_id": run_id,
                },
            ).fetchall()
        if not found:
            raise KeyError(f"no sync run {run_id}")

    def sync_runs(self) -> pd.DataFrame:
        """All sync runs, oldest first. Example: ``store.sync_runs().tail(1)``

        Columns: run_id, started_at, finished_at, status, counts (JSON text), error.
        """
        return self.query(
            "SELECT run_id, started_at, finished_at, status, counts, error FROM sync_runs ORDER BY run_id"
        )

    def get_cursors(self, user_id: int, prefix: str = "") -> dict[str, Any]:
        """``{key: value}`` of an account's cursors whose key starts with ``prefix``.

        Example: ``store.get_cursors(42, "chat_updated:")  # -> {"chat_updated:u2i-abc": 1717000000}``
        """
        with self.connect(read_only=True) as con:
            rows = con.execute(
                "SELECT key, value FROM sync_cursors WHERE user_id = ? AND starts_with(key, ?)",
                [user_id, prefix],
            ).fetchall()
        return {key: json.loads(value) for key, value in rows}

    def set_cursors(self, user_id: int, mapping: Mapping[str, Any]) -> None:
        """Set cursors (JSON-serialisable values; datetimes become ISO strings) in one transaction.

        Example: ``store.set_cursors(42, {"chat_updated:u2i-abc": 1717000000})``
        """
        if not mapping:
            return
        frame = pd.DataFrame({"key": list(mapping), "value": [_json(v) for v in mapping.values()]})
        with self._transaction() as con:
            con.register("batch", frame)
            con.execute(
                "INSERT INTO sync_cursors (user_id, key, value, updated_at) "
                "SELECT $user_id, key, CAST(value AS JSON), $now FROM batch "
                "ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                {"user_id": user_id, "now": utc_now()},
            )

    # -- reviews and the rating ---------------------------------------------------------------------------

    def upsert_reviews(self, df: pd.DataFrame | None, user_id: int, observed_at: datetime | None = None
                       ) -> dict[str, int]:
        """Record one sighting of reviews, keeping their history as bookings do: a new review gets a
        'first_seen' event; one whose score, text or answer (id, status, text) differs from the stored row is
        updated with a 'changed' event carrying the ``previous_*`` values (``updated_at`` moves). Every review
        of the batch gets ``last_seen_at = observed_at``.

        Columns: ``review_id``, ``score``, ``created_at`` (required), ``item_id``, ``item_title``, ``stage``,
        ``text``, ``used_in_score``, ``can_answer``, ``sender_name``, ``image_count``, ``images``,
        ``answer_id``, ``answer_text``, ``answer_status``, ``answer_created_at``, ``answer_reject_reasons``
        (``rows.review_row`` makes them). Returns ``{"new", "changed", "unchanged"}``.
        """
        counts = {"new": 0, "changed": 0, "unchanged": 0}
        frame = _prepare(df, REVIEWS)
        if frame is None:
            return counts
        given = [c for c in REVIEWS.columns if c in frame.columns]
        params = {"user_id": user_id, "now": _utc_naive(observed_at)}
        with self._transaction() as con:
            con.register("batch", frame)
            con.execute(_REVIEW_DIFF_SQL.format(select=_select_list(REVIEWS, frame)))
            con.execute(_REVIEW_EVENTS_SQL, params)
            con.execute(f"""
                UPDATE reviews SET {", ".join(f"{c} = d.{c}" for c in given if c != "review_id")},
                    user_id = $user_id, last_seen_at = $now,
                    updated_at = CASE WHEN d.kind = 'changed' THEN $now ELSE reviews.updated_at END
                FROM _review_diff d WHERE reviews.review_id = d.review_id AND d.kind <> 'new'""", params)
            con.execute(f"""
                INSERT INTO reviews ({", ".join(given)}, user_id, first_seen_at, last_seen_at, updated_at)
                SELECT {", ".join(given)}, $user_id, $now, $now, $now FROM _review_diff WHERE kind = 'new'""",
                        params)
            for kind, n in con.execute("SELECT kind, count(*) FROM _review_diff GROUP BY kind").fetchall():
                counts[kind] = n
            con.execute("DROP TABLE _review_diff")
        return counts

    def record_review_answer(self, review_id: int, user_id: int | None, answer: dict[str, Any] | None,
                             observed_at: datetime | None = None) -> int:
        """The answer avito_kit just wrote (``{"answer_id", "answer_text", "answer_status",
        "answer_created_at"}``) or removed (None), with a 'changed' event; returns the rows changed (0 for a
        review not in the store: the next sync brings it)."""
        fields = ("answer_id", "answer_text", "answer_status", "answer_created_at")
        values = {name: (answer or {}).get(name) for name in fields}
        row = self.query("SELECT * FROM reviews WHERE review_id = ?", [review_id])
        if row.empty:
            return 0
        stored = row.iloc[0].to_dict()
        frame = pd.DataFrame([{**{c: stored[c] for c in REVIEWS.columns}, **values,
                               "answer_reject_reasons": None, "can_answer": answer is None}])
        return self.upsert_reviews(frame, user_id if user_id is not None else int(stored["user_id"]),
                                   observed_at)["changed"]

    def record_rating(self, user_id: int, info: dict[str, Any] | None, observed_at: datetime | None = None
                      ) -> bool:
        """Record getRatingsInfoV1's answer (``{"isEnabled", "rating": {...} | None}``) when it differs from the
        last snapshot: a row per change, stamped with the sync that first saw it (a sync finding the rating as
        recorded adds nothing, so syncing twice leaves the store as syncing once). Returns whether it wrote."""
        rating = (info or {}).get("rating") or {}
        values = [(info or {}).get("isEnabled"), rating.get("score"), rating.get("reviewsCount"),
                  rating.get("reviewsWithScoreCount")]
        with self._transaction() as con:
            last = con.execute("SELECT is_enabled, score, reviews_count, reviews_with_score_count "
                               "FROM rating_snapshots "
                               "WHERE user_id = ? ORDER BY observed_at DESC LIMIT 1", [user_id]).fetchone()
            if last is not None and list(last) == values:
                return False
            con.execute("INSERT OR REPLACE INTO rating_snapshots VALUES (?, ?, ?, ?, ?, ?)",
                        [user_id, _utc_naive(observed_at), *values])
        return True

    def reviews(self, item_id: int | None = None, *, user_id: int | None = None) -> pd.DataFrame:
        """Reviews, newest first. Example: ``store.reviews().query("answer_id.isna()")``"""
        return self.query("SELECT * FROM reviews WHERE ($i IS NULL OR item_id = $i) AND ($u IS NULL OR user_id = $u) "
                          "ORDER BY created_at DESC, review_id DESC", {"i": item_id, "u": user_id})

    def review_events(self, review_id: int | None = None) -> pd.DataFrame:
        """The reviews' history, in the order observed. Example: ``store.review_events(92000001)``"""
        return self.query("SELECT * FROM review_events WHERE $r IS NULL OR review_id = $r "
                          "ORDER BY observed_at, review_id, event", {"r": review_id})

    def rating_snapshots(self, *, user_id: int | None = None) -> pd.DataFrame:
        """The rating each time a sync saw it change, oldest first. Example: ``store.rating_snapshots().score``"""
        return self.query("SELECT * FROM rating_snapshots WHERE $u IS NULL OR user_id = $u ORDER BY observed_at",
                          {"u": user_id})

    def review_states(self, user_id: int) -> dict[int, tuple]:
        """review_id -> (score, text, answer_id, answer_status, answer_text) as stored: the sync's incremental
        read stops at a page it already holds unchanged."""
        rows = self.query("SELECT review_id, score, text, answer_id, answer_status, answer_text FROM reviews "
                          "WHERE user_id = ?", [user_id])
        return {int(r[0]): tuple(None if pd.isna(v) else v for v in r[1:]) for r in rows.itertuples(index=False)}

    def oldest_pending_answer(self, user_id: int) -> datetime | None:
        """When the oldest review whose answer waits for moderation was written: an incremental sync reads at
        least that far back, so the moderation's verdict is seen."""
        value = self.query("SELECT min(created_at) FROM reviews WHERE user_id = ? AND answer_status = 'moderation'",
                           [user_id]).iloc[0, 0]
        return None if pd.isna(value) else value.to_pydatetime()

    # -- reads ------------------------------------------------------------------------------------------

    def items(self, *, user_id: int | None = None) -> pd.DataFrame:
        """Listings, by item_id. Example: ``store.items()``"""
        return self.query("SELECT * FROM items WHERE $u IS NULL OR user_id = $u ORDER BY item_id", {"u": user_id})

    def has_item(self, item_id: int) -> bool:
        """Whether the listing is in the store. Example: ``store.has_item(3_000_000_001)``"""
        return not self.query("SELECT 1 FROM items WHERE item_id = ?", [item_id]).empty

    def bookings(
        self, item_id: int | None = None, statuses: Iterable[str] | None = None, *, user_id: int | None = None
    ) -> pd.DataFrame:
        """Bookings (cancelled and vanished ones included unless filtered), by check_in.

        ``booking_id`` comes back as uint64, exact. Example: ``store.bookings(statuses=["active"])``
        """
        return self.query(
            "SELECT * FROM bookings WHERE ($item_id IS NULL OR item_id = $item_id) "
            "AND ($statuses IS NULL OR list_contains($statuses, status)) "
            "AND ($u IS NULL OR user_id = $u) ORDER BY check_in, booking_id",
            {"item_id": item_id, "statuses": None if statuses is None else list(statuses), "u": user_id},
        )

    def booking_events(self, booking_id: int | None = None) -> pd.DataFrame:
        """The booking history, in the order observed. Example: ``store.booking_events(2**63)``"""
        return self.query(
            "SELECT * FROM booking_events WHERE $b IS NULL OR booking_id = $b ORDER BY observed_at, booking_id, event",
            {"b": None if booking_id is None else _check_ubigint(booking_id)},
        )

    def chats(self, *, user_id: int | None = None) -> pd.DataFrame:
        """Chats, most recently updated first. Example: ``store.chats().query("unread")``"""
        return self.query(
            "SELECT * FROM chats WHERE $u IS NULL OR user_id = $u ORDER BY updated DESC NULLS LAST, chat_id",
            {"u": user_id},
        )

    def messages(self, chat_id: str | None = None) -> pd.DataFrame:
        """Messages, oldest first (``content`` as JSON text). Example: ``store.messages("u2i-abc")``"""
        return self.query(
            "SELECT * FROM messages WHERE $c IS NULL OR chat_id = $c ORDER BY chat_id, created, message_id",
            {"c": chat_id},
        )

    def item_stats(self, item_id: int | None = None) -> pd.DataFrame:
        """Daily listing statistics, by item and date. Example: ``store.item_stats()``"""
        return self.query(
            "SELECT * FROM item_stats WHERE $i IS NULL OR item_id = $i ORDER BY item_id, date", {"i": item_id}
        )

    def query(self, sql: str, params: Any = None) -> pd.DataFrame:
        """Run read-only SQL (the analytics layer's entry point) and return a DataFrame.

        Example: ``store.query("SELECT status, count(*) n FROM bookings GROUP BY ALL")``
        """
        with self.connect(read_only=True) as con:
            return con.execute(sql, params).df()

    def counts(self) -> dict[str, int]:
        """Rows per table. Example: ``store.counts()["bookings"]``"""
        with self.connect(read_only=True) as con:
            row = con.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {t})" for t in TABLES)).fetchone()
        return dict(zip(TABLES, row, strict=True))


# -- SQL ----------------------------------------------------------------------------------------------------

# Classify each incoming booking against the stored row. IS DISTINCT FROM treats NULL = NULL as equal.
_BOOKING_DIFF_SQL = """
CREATE TEMP TABLE _diff AS
WITH incoming AS (SELECT {select} FROM batch)
SELECT i.*,
       b.status AS previous_status, b.check_in AS previous_check_in,
       b.check_out AS previous_check_out, b.base_price AS previous_base_price,
       CASE WHEN b.booking_id IS NULL THEN 'new'
            WHEN i.status IS DISTINCT FROM b.status OR i.check_in IS DISTINCT FROM b.check_in
              OR i.check_out IS DISTINCT FROM b.check_out OR i.base_price IS DISTINCT FROM b.base_price
              THEN 'changed'
            WHEN b.vanished_at IS NOT NULL THEN 'reappeared'
            ELSE 'unchanged' END AS kind
FROM incoming i LEFT JOIN bookings b ON b.booking_id = i.booking_id
"""

# The parts of each window (one per listing) no stored range covers yet: the gaps before each stored range that
# overlaps it, and after the last (the whole window when none overlaps). Stored ranges are disjoint per listing,
# so the gaps are too. Interval arithmetic, not a row per night: a sync of 1,000 listings reads 730,000 nights.
_COVERAGE_SQL = """
INSERT INTO booking_coverage (user_id, item_id, cover_from, cover_to, observed_at)
WITH _overlapping AS (
    SELECT w.item_id, w.read_from, c.cover_from, c.cover_to
    FROM windows w JOIN booking_coverage c
      ON c.item_id = w.item_id AND c.cover_to >= w.read_from AND c.cover_from <= w.read_to
),
_gaps AS (
    SELECT item_id, coalesce(lag(cover_to) OVER (PARTITION BY item_id ORDER BY cover_from) + 1, read_from) AS first,
           cover_from - 1 AS last
    FROM _overlapping
    UNION ALL
    SELECT w.item_id, coalesce(max(o.cover_to) + 1, w.read_from), w.read_to
    FROM windows w LEFT JOIN _overlapping o ON o.item_id = w.item_id
    GROUP BY w.item_id, w.read_from, w.read_to
)
SELECT $user_id, item_id, first, last, $now FROM _gaps WHERE first <= last
RETURNING 1
"""

_BOOKING_EVENTS_SQL = """
INSERT INTO booking_events (booking_id, item_id, user_id, observed_at, event, status, check_in, check_out,
                            nights, base_price, previous_status, previous_check_in, previous_check_out,
                            previous_base_price)
SELECT booking_id, item_id, $user_id, $now, CASE kind WHEN 'new' THEN 'first_seen' ELSE kind END,
       status, check_in, check_out, nights, base_price,
       previous_status, previous_check_in, previous_check_out, previous_base_price
FROM _diff WHERE kind <> 'unchanged'
"""


def _booking_upsert_sql(frame: pd.DataFrame) -> tuple[str, str]:
    """The stored rows updated, then the new ones inserted (``_diff.kind`` tells which is which).

    Two plain statements rather than one INSERT ... ON CONFLICT DO UPDATE: DuckDB takes the conflict path row
    by row, 20 s for half a million changed bookings against 0.2 s for the UPDATE (bench/bench_store.py).
    Every SET expression sees the row as it was, so status_changed_at compares with the stored status.
    """
    given = [c for c in BOOKINGS.columns if c in frame.columns or c == "nights"]
    updates = [f"{c} = d.{c}" for c in given if c != "booking_id"]
    update = f"""
    UPDATE bookings SET
        {", ".join(updates)},
        user_id = $user_id,
        last_seen_at = $now,
        status_changed_at = CASE WHEN bookings.status IS DISTINCT FROM d.status
                                 THEN $now ELSE bookings.status_changed_at END,
        vanished_at = NULL
    FROM _diff d WHERE bookings.booking_id = d.booking_id AND d.kind <> 'new'
    """
    insert = f"""
    INSERT INTO bookings ({", ".join(given)}, user_id, first_seen_at, last_seen_at, status_changed_at)
    SELECT {", ".join(given)}, $user_id, $now, $now, $now FROM _diff WHERE kind = 'new'
    """
    return update, insert


# Every listing x day of the window from one stats answer; days Avito left out (no activity) are zeros.
_STATS_ROWS_SQL = """
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

# Reviews: the same classification as bookings, over score, text and the answer.
_REVIEW_DIFF_SQL = """
CREATE TEMP TABLE _review_diff AS
WITH incoming AS (SELECT {select} FROM batch)
SELECT i.*,
       r.score AS previous_score, r.text AS previous_text, r.answer_id AS previous_answer_id,
       r.answer_status AS previous_answer_status, r.answer_text AS previous_answer_text,
       CASE WHEN r.review_id IS NULL THEN 'new'
            WHEN i.score IS DISTINCT FROM r.score OR i.text IS DISTINCT FROM r.text
              OR i.answer_id IS DISTINCT FROM r.answer_id OR i.answer_status IS DISTINCT FROM r.answer_status
              OR i.answer_text IS DISTINCT FROM r.answer_text THEN 'changed'
            ELSE 'unchanged' END AS kind
FROM incoming i LEFT JOIN reviews r ON r.review_id = i.review_id
"""

_REVIEW_EVENTS_SQL = """
INSERT INTO review_events (review_id, user_id, observed_at, event, score, text, answer_id, answer_status,
                           answer_text, previous_score, previous_text, previous_answer_id, previous_answer_status,
                           previous_answer_text)
SELECT review_id, $user_id, $now, CASE kind WHEN 'new' THEN 'first_seen' ELSE kind END, score, text, answer_id,
       answer_status, answer_text, previous_score, previous_text, previous_answer_id, previous_answer_status,
       previous_answer_text
FROM _review_diff WHERE kind <> 'unchanged'
"""

_VANISHED_SQL = """
CREATE TEMP TABLE _gone AS
SELECT b.* FROM bookings b
WHERE b.user_id = $user_id AND b.item_id = $item_id
  AND b.check_in >= $date_from AND b.check_in < $date_to
  AND b.vanished_at IS NULL AND b.last_seen_at < $now
  AND NOT EXISTS (SELECT 1 FROM seen s WHERE s.booking_id = b.booking_id)
"""

_VANISHED_APPLY_SQL = """
INSERT INTO booking_events (booking_id, item_id, user_id, observed_at, event, status, check_in, check_out,
                            nights, base_price, previous_status, previous_check_in, previous_check_out,
                            previous_base_price)
SELECT booking_id, item_id, user_id, $now, 'vanished', status, check_in, check_out, nights, base_price,
       status, check_in, check_out, base_price
FROM _gone
"""

_VANISHED_MARK_SQL = """
UPDATE bookings SET vanished_at = $now FROM _gone g WHERE bookings.booking_id = g.booking_id
"""


def _select_list(spec: Batch, frame: pd.DataFrame, only: Iterable[str] | None = None) -> str:
    """``CAST(col AS type) AS col`` for the given columns; absent optional ones as typed NULLs.

    Casting in SQL makes a bad value (a date that is no date) fail the whole batch inside its transaction.
    """
    names = list(only) if only is not None else list(spec.columns)
    out = []
    for name in names:
        sql_type = spec.columns[name]
        if name == "nights" and spec is BOOKINGS:
            computed = "date_diff('day', CAST(check_in AS DATE), CAST(check_out AS DATE))"
            value = f"coalesce(CAST(nights AS INTEGER), {computed})" if "nights" in frame.columns else computed
            out.append(f"{value} AS nights")
        elif name in frame.columns:
            out.append(f"CAST({_quote(name)} AS {sql_type}) AS {name}")
        else:
            out.append(f"CAST(NULL AS {sql_type}) AS {name}")
    return ", ".join(out)


def _upsert_sql(
    table: str,
    spec: Batch,
    frame: pd.DataFrame,
    extra: Mapping[str, str],
    insert_only: Mapping[str, str] | None = None,
) -> str:
    """INSERT ... ON CONFLICT DO UPDATE over the columns present in the batch, plus ``extra`` SQL values."""
    given = [c for c in spec.columns if c in frame.columns]
    insert_only = dict(insert_only or {})
    target = [*given, *extra, *insert_only]
    values = [_select_list(spec, frame, only=given), *extra.values(), *insert_only.values()]
    updates = [f"{c} = excluded.{c}" for c in [*given, *extra] if c not in spec.key]
    return f"""
    INSERT INTO {table} ({", ".join(target)})
    SELECT {", ".join(values)} FROM batch
    ON CONFLICT ({", ".join(spec.key)}) DO UPDATE SET {", ".join(updates)}
    """


# -- Python-side batch preparation --------------------------------------------------------------------------


def _prepare(df: pd.DataFrame | None, spec: Batch) -> pd.DataFrame | None:
    """Check columns, make ids exact and timestamps naive UTC, and keep the last row per key.

    Returns None for an empty batch. Dates, numbers and strings are cast in SQL.
    """
    if df is None or len(df) == 0:
        return None
    unknown = [c for c in df.columns if c not in spec.columns]
    missing = [c for c in spec.required if c not in df.columns]
    if unknown or missing:
        raise ValueError(f"batch columns: unknown {unknown}, missing {missing}; expected {list(spec.columns)}")
    out = {}
    for name in df.columns:
        sql_type = spec.columns[name]
        col = df[name]
        if sql_type in ("BIGINT", "UBIGINT"):
            col = _exact_ints(col, name, sql_type)
        elif sql_type == "TIMESTAMP":
            col = _timestamps(col)
        elif sql_type == "JSON":
            col = col.map(lambda v: v if v is None or isinstance(v, str) else _json(v), na_action="ignore")
        out[name] = col.reset_index(drop=True)
    frame = pd.DataFrame(out)
    # DuckDB would keep the first of two rows with one key, or refuse the batch: the newest row wins.
    return frame.drop_duplicates(subset=list(spec.key), keep="last").reset_index(drop=True)


def _exact_ints(col: pd.Series, name: str, sql_type: str) -> pd.Series:
    if pd.api.types.is_float_dtype(col):
        values = col.dropna().to_numpy(dtype=float)
        if (np.abs(values) >= 2**53).any() or (values != np.floor(values)).any():
            raise TypeError(f"{name}: float ids lose precision above 2^53; pass Python ints or int64/uint64")
    try:
        return pd.Series(pd.array(col, dtype="UInt64" if sql_type == "UBIGINT" else "Int64"), index=col.index)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name}: not a valid {sql_type} id column: {exc}") from exc


def _timestamps(col: pd.Series) -> pd.Series:
    """Naive UTC timestamps from datetimes (aware ones converted) or unix seconds, as Avito's messenger sends."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return pd.to_datetime(col, unit="s")
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        return col.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(col):
        return col
    return pd.to_datetime(col, utc=True).dt.tz_localize(None)


def _check_ubigint(value: int) -> int:
    if not 0 <= int(value) < 2**64:
        raise ValueError(f"booking id out of range: {value}")
    return int(value)


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


def _utc_naive(value: datetime | None) -> datetime:
    if value is None:
        return utc_now()
    value = pd.Timestamp(value).to_pydatetime()
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _refuse_secrets(payload: Any) -> None:
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            if isinstance(key, str) and _SECRET_KEY.search(key):
                raise ValueError(f"audit payload key {key!r} looks like a secret; never log credentials")
            _refuse_secrets(value)
    elif isinstance(payload, list | tuple):
        for value in payload:
            _refuse_secrets(value)
