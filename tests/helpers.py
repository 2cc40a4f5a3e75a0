"""What several test modules share, so that no test module imports another.

- Days: ``day(offset)`` (Avito's day, a date) and ``iso_day(offset)`` (the same as ``YYYY-MM-DD`` text).
- Synced stores: ``sync_with`` / ``clean_sync`` sync a sandbox into a store; ``synced_store_file`` syncs one once for a
  module-scoped fixture and ``copy_store`` hands each test that writes its own copy of it.
- Table snapshots: ``snapshot`` (every table without its write-time columns), ``assert_same_tables``,
  ``assert_tables_equal``, ``assert_consistent`` (what holds whenever no sync writes), ``dump_text``.
- The CLI in-process: ``cli_run``, ``assert_one_line``, ``file_digest``.
- ``require_chromium`` for the browser tier.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from avito_kit.cli import main
from avito_kit.dates import avito_today
from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.sync import sync

TODAY = avito_today()  # Avito's day: Moscow's date

# When a row was written or seen, not what it says: differs between two runs by design.
WRITE_TIMES = {"first_seen_at", "last_seen_at", "status_changed_at", "updated_at", "synced_at", "observed_at",
               "logged_at", "finished_at", "started_at", "applied_at"}
KEYS = {"items": ["item_id"], "bookings": ["booking_id"], "chats": ["chat_id"], "messages": ["message_id"],
        "item_stats": ["item_id", "date"], "calendar_blocks": ["item_id", "date_start"]}
RUN_BOOKKEEPING = ("sync_runs", "sync_cursors", "schema_version")  # when things were read, not what

CHROMIUM = Path("/usr/bin/chromium")


# -- days -------------------------------------------------------------------------------------------------------


def day(offset: int) -> dt.date:
    """Avito's day (Moscow's date) ``offset`` days from today."""
    return TODAY + dt.timedelta(days=offset)


def iso_day(offset: int) -> str:
    """``day(offset)`` as the CLI and the API take it: ``YYYY-MM-DD``."""
    return day(offset).isoformat()


# -- sandboxes and synced stores --------------------------------------------------------------------------------


def issue_token(sandbox: Sandbox) -> str:
    """A token from ``sandbox``'s ``/token`` (registered with the session's secrets like every other)."""
    form = f"grant_type=client_credentials&client_id={SANDBOX_CLIENT_ID}&client_secret={SANDBOX_CLIENT_SECRET}"
    answer = sandbox.handle("POST", "/token", "", {"Content-Type": "application/x-www-form-urlencoded"},
                            form.encode())
    return answer.json()["access_token"]


async def sync_with(sandbox: Sandbox, store: Store, **sync_args):
    """A sync that reads everything (``max_age=None``), unless the test asks for the default reuse."""
    sync_args.setdefault("max_age", None)
    async with open_client(sandbox=sandbox) as client:
        return await sync(client, store, progress=False, **sync_args)


def clean_sync(sandbox: Sandbox, path: Path) -> Store:
    """One uneventful sync of ``sandbox`` into a new file (from plain code)."""
    store = Store(path)
    asyncio.run(sync_with(sandbox, store))
    return store


async def clean_sync_async(sandbox: Sandbox, path: Path) -> Store:
    store = Store(path)
    await sync_with(sandbox, store)
    return store


def synced_store_file(tmp_path_factory: pytest.TempPathFactory, sandbox: Sandbox, name: str = "synced") -> Path:
    """Sync ``sandbox`` once into ``avito.duckdb`` in a new temporary folder: the body of a module-scoped
    fixture, whose tests read it as it is or write to a ``copy_store`` of it."""
    path = tmp_path_factory.mktemp(name) / "avito.duckdb"
    clean_sync(sandbox, path)
    return path


def copy_store(source: Path, folder: Path, name: str = "avito.duckdb") -> Path:
    """A copy of the store file ``source`` (and its write-ahead log, when there is one) as ``folder / name``."""
    target = folder / name
    for suffix in ("", ".wal"):
        if (part := source.with_name(source.name + suffix)).exists():
            shutil.copy(part, target.with_name(name + suffix))
    return target


# -- table snapshots --------------------------------------------------------------------------------------------


def snapshot(store: Store, skip: tuple[str, ...] = RUN_BOOKKEEPING) -> dict[str, pd.DataFrame]:
    """Every table but ``skip`` (run bookkeeping: when things were read), without its write-time columns, in a
    stable order (one connection)."""
    result = {}
    with store.connect(read_only=True) as con:
        columns = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                              "ORDER BY table_name, ordinal_position").fetchall()
        for table in sorted({t for t, _ in columns} - set(skip)):
            kept = ", ".join(c for t, c in columns if t == table and c not in WRITE_TIMES)
            result[table] = con.execute(f"SELECT {kept} FROM {table} ORDER BY ALL").df()
    return result


def assert_same_tables(left: Store, right: Store) -> None:
    a, b = snapshot(left), snapshot(right)
    assert a.keys() == b.keys()
    for table in a:
        pd.testing.assert_frame_equal(a[table], b[table], obj=table)


def assert_tables_equal(got: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame], context: str) -> None:
    """``snapshot``s equal, a booking's ``vanished_at`` compared as vanished or not (it is when it was seen)."""
    assert got.keys() == expected.keys(), context
    for table in expected:
        left, right = got[table], expected[table]
        if "vanished_at" in right.columns:
            left, right = (f.assign(vanished_at=f.vanished_at.notna()) for f in (left, right))
        pd.testing.assert_frame_equal(left, right, obj=f"{table} ({context})")


def tables_of(con) -> list[str]:
    return [t for (t,) in con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()]


def dump_text(store: Store) -> str:
    """Every table of the file as text, to search for what must never be stored."""
    with store.connect(read_only=True) as con:
        return "\n".join(con.execute(f"SELECT * FROM {t}").df().to_csv(index=False) for t in tables_of(con))


def assert_consistent(store: Store) -> None:
    """What must hold whenever no sync is writing, a killed one included."""
    with store.connect(read_only=True) as con:
        def rows(sql):
            return con.execute(sql).fetchall()

        for table, key in KEYS.items():
            duplicated = rows(f"SELECT {', '.join(key)} FROM {table} GROUP BY ALL HAVING count(*) > 1")
            assert not duplicated, f"duplicate keys in {table}"
        without_first_seen = rows("SELECT booking_id FROM bookings EXCEPT SELECT booking_id FROM booking_events "
                                  "WHERE event = 'first_seen'")
        assert not without_first_seen, "every booking has its first_seen event"
        twice = rows("SELECT booking_id FROM booking_events WHERE event = 'first_seen' GROUP BY 1 HAVING count(*) > 1")
        assert not twice, "one first_seen event per booking"
        # A chat row is the cursor of its messages, so it is written only after them.
        ahead = rows("SELECT c.chat_id FROM chats c LEFT JOIN messages m USING (chat_id) "
                     "GROUP BY c.chat_id, c.last_message_at HAVING max(m.created) IS DISTINCT FROM c.last_message_at")
        assert not ahead, f"chats stored ahead of their messages: {ahead[:3]}"


# -- the CLI in-process -----------------------------------------------------------------------------------------


def cli_run(capsys, *argv: str) -> tuple[int, str, str]:
    """``avito-kit *argv`` in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own exits
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("avito-kit: "), err
    assert "Traceback" not in err
    return lines[0]


def file_digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


# -- the browser tier -------------------------------------------------------------------------------------------


def require_chromium() -> str:
    """Debian's Chromium's path; skip without it on a developer's machine, fail under CI=true."""
    if CHROMIUM.is_file():
        return str(CHROMIUM)
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium for the browser tests")
    pytest.skip(f"{CHROMIUM} is not installed")
