"""Reliability: faults, crashes and bad input.

- Fault soak: twenty seeded sandboxes answering 10% 5xx, 5% 429, dropped and refused connections and expiring
  tokens end in exactly the tables of one clean run.
- Crashes: twenty syncs killed (SIGKILL) at seeded random points, each followed by a clean run: nothing lost,
  nothing duplicated.
- Bad input: a table of CLI and Python API calls that must each fail with one clear line (exit 2) or a
  ``ValueError``, before anything is sent to Avito or written to the store.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from avito_kit import actions, checks, cli, metrics
from avito_kit.auth import AvitoAuth
from avito_kit.client import AvitoApiClient
from avito_kit.limits import RetryPolicy
from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox
from avito_kit.session import SANDBOX_BASE_URL, open_client
from avito_kit.store import Store
from avito_kit.sync import DEFAULT_MAX_AGE, sync

from .fakes import FakeClock
from .helpers import (
    assert_consistent,
    assert_one_line,
    assert_tables_equal,
    cli_run,
    copy_store,
    file_digest,
    snapshot,
    synced_store_file,
)
from .helpers import iso_day as day

# -- fault soak ---------------------------------------------------------------------------------------------

SOAK_WORLD = {"seed": 23, "n_items": 6, "n_chats": 20}
SOAK_RUNS = 20
SOAK_RATES = {"error_rate": 0.10, "rate_limit_rate": 0.05, "drop_rate": 0.03, "refuse_rate": 0.02}


async def faulty_sync(fault_seed: int, path: Path, monkeypatch) -> tuple[Store, Sandbox]:
    """One sync against a sandbox failing at ``SOAK_RATES``, with tokens expiring on the way; nothing waits:
    the client, its token and the sandbox share a fake clock whose sleep only moves it on."""
    clock = FakeClock()
    # A minute of fake time is enough for a token to expire now and then (the client does not know when).
    sandbox = Sandbox(**SOAK_WORLD, clock=clock, token_ttl=60, send_retry_after=True, fault_seed=fault_seed)
    transport = sandbox.transport()
    auth = AvitoAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, base_url=SANDBOX_BASE_URL, transport=transport,
                     cache_path=path.with_suffix(".token.json"), sleep=clock.sleep)
    client = AvitoApiClient(auth, transport=transport, sleep=clock.sleep, clock=clock,
                            retry=RetryPolicy(attempts=10, jitter=random.Random(fault_seed).random))
    store = Store(path)
    async with client:
        for name, rate in SOAK_RATES.items():
            setattr(sandbox, name, rate)
        sandbox.queue_fault("expire_token", "/bookings")
        sandbox.queue_fault("expire_token", "/messages/")
        await sync(client, store, progress=False, max_age=None)
    return store, sandbox


@pytest.mark.slow
async def test_twenty_faulty_runs_end_in_the_tables_of_a_clean_run(tmp_path, monkeypatch):
    clean = Store(tmp_path / "clean.duckdb")
    async with open_client(sandbox=Sandbox(**SOAK_WORLD)) as client:
        await sync(client, clean, progress=False, max_age=None)
    expected = snapshot(clean)
    seen: dict[str | None, int] = {}
    runs = await asyncio.gather(*(faulty_sync(fault_seed, tmp_path / f"faulty{fault_seed}.duckdb", monkeypatch)
                                  for fault_seed in range(SOAK_RUNS)))  # independent: run them side by side
    for fault_seed, (store, sandbox) in enumerate(runs):
        assert_tables_equal(snapshot(store), expected, f"fault seed {fault_seed}")
        assert_consistent(store)
        assert store.sync_runs().status.tolist() == ["ok"]
        for request in sandbox.requests:
            seen[request.fault] = seen.get(request.fault, 0) + 1
        assert 403 in {r.status for r in sandbox.requests}, "expired tokens were refused, then replaced"
    faults = {kind: n for kind, n in seen.items() if kind}
    assert {"500", "502", "503", "429", "drop", "refuse", "expire_token"} <= faults.keys(), faults
    assert sum(faults.values()) > 0.15 * sum(seen.values())


# -- crashes ------------------------------------------------------------------------------------------------


def crash_world(updated: bool):
    """The crash tests' sandbox. ``updated``: the same account a little later: three chats with a new message,
    a booking cancelled, one no longer returned, one new. A fixed clock gives the new messages the same
    timestamps in every process, so a child's world and the reference's are the same."""
    import datetime

    from avito_kit.sandbox import Sandbox

    sandbox = Sandbox(seed=29, n_items=6, n_chats=40, clock=lambda: 1_000_000_000.0)
    if updated:
        for chat_id in list(sandbox.chats)[:3]:
            sandbox.add_incoming_message(chat_id, "Ещё вопрос: можно с собакой?")
        paid = [(item.id, b) for item in sandbox.items for b in sandbox.bookings(item.id) if b["status"] == "active"]
        sandbox.set_booking_status(paid[0][1]["avito_booking_id"], "canceled")
        sandbox.bookings(paid[-1][0]).remove(paid[-1][1])
        first = datetime.date.today() + datetime.timedelta(days=300)
        sandbox.add_booking(sandbox.items[1].id, first, first + datetime.timedelta(days=3))
    return sandbox


# A process that imports avito_kit once, then forks a sync per command: a kill costs a fork, not a Python start.
FORKING_SYNCS = """
import asyncio, os, sys
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.sync import DEFAULT_MAX_AGE, sync

{crash_world}


def run(db, updated):
    sandbox = crash_world(updated)
    handle = sandbox.handle

    def handle_and_tell(*args, **kwargs):
        # The test kills the process a random number of requests in. One write of the whole line: print() may
        # write "request" and its newline apart, and a kill between them would glue the parent's "exit" to it.
        os.write(1, b"request\\n")
        return handle(*args, **kwargs)

    sandbox.handle = handle_and_tell

    async def main():
        async with open_client(sandbox=sandbox) as client:
            await sync(client, Store(db), progress=False, max_age=None if updated else DEFAULT_MAX_AGE)

    asyncio.run(main())
    os.write(1, b"done\\n")


print("ready", flush=True)
for command in sys.stdin:
    db, variant = command.split()
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(go_write)
        os.read(go_read, 1)  # wait until the parent has told the test this pid
        try:
            run(db, variant == "updated")
        finally:
            os._exit(0)
    os.close(go_read)
    print("pid", pid, flush=True)
    os.write(go_write, b"x")
    os.close(go_write)
    _, status = os.waitpid(pid, 0)
    print("exit", os.waitstatus_to_exitcode(status), flush=True)
"""
CRASH_KILLS = 20


class ForkingSyncs:
    """Runs syncs in children forked from a process that has imported avito_kit already; kills them at will."""

    def __init__(self, script: Path) -> None:
        self.errors = script.with_suffix(".stderr")
        with self.errors.open("w") as errors:  # a file: a pipe nobody reads could fill up and block
            self.process = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=errors, text=True)
        assert self._line() == "ready", self.errors.read_text()

    def _line(self) -> str:
        return self.process.stdout.readline().strip()

    def kill_after(self, db: Path, updated: bool, requests: int, delay: float) -> bool:
        """Start a sync and SIGKILL it ``delay`` seconds after its sandbox got ``requests`` requests; False when
        it finished first."""
        self.process.stdin.write(f"{db} {'updated' if updated else 'first'}\n")
        self.process.stdin.flush()
        kind, pid = self._line().split()
        assert kind == "pid", self.errors.read_text()
        seen, line = 0, ""
        while "exit " not in line:  # "exit N" comes from the parent once the child is gone
            line = self._line()
            seen += line == "request"
            if line == "request" and seen == requests:
                time.sleep(delay)  # the kill may land in a request, between two, or in a write
                os.kill(int(pid), signal.SIGKILL)
        return line.endswith(f"exit {-signal.SIGKILL}")

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.process.stdout.close()


async def clean_run(db: Path, updated: bool) -> Store:
    store = Store(db)
    async with open_client(sandbox=crash_world(updated)) as client:
        await sync(client, store, progress=False, max_age=None if updated else DEFAULT_MAX_AGE)
    return store


@pytest.mark.slow
async def test_twenty_syncs_killed_at_random_points_lose_and_duplicate_nothing(tmp_path):
    """Even kills hit a first sync into an empty file (with the default max_age, so the next run trusts the
    cursors the killed one left); odd kills hit a sync of the updated account into a copy of a synced file (every
    kind of write: new messages, changed and vanished bookings). Each kill is followed by a clean run, which must
    leave the tables of a run that was never killed."""
    script = tmp_path / "forking_syncs.py"
    script.write_text(FORKING_SYNCS.format(crash_world=inspect.getsource(crash_world)))
    synced = await clean_run(tmp_path / "synced.duckdb", updated=False)
    expected_first = snapshot(synced)
    updated_reference = tmp_path / "updated.duckdb"
    shutil.copy(synced.path, updated_reference)
    expected_update = snapshot(await clean_run(updated_reference, updated=True))
    rng = random.Random(20261128)
    syncs = ForkingSyncs(script)
    kills = attempts = 0
    try:
        while kills < CRASH_KILLS:
            attempts += 1
            assert attempts <= 2 * CRASH_KILLS, "the syncs kept finishing before they could be killed"
            updated = kills % 2 == 1
            db = tmp_path / f"kill{kills}.duckdb"
            db.unlink(missing_ok=True)
            if updated:
                shutil.copy(synced.path, db)
            # A first sync makes about 50 requests, an update about 15.
            if not syncs.kill_after(db, updated, rng.randint(1, 15 if updated else 50), rng.uniform(0.0, 0.04)):
                continue
            killed = Store(db)
            assert_consistent(killed)
            # The killed run's record: none (killed before it was written; requests start meanwhile), or 'running'
            this_run = killed.sync_runs().status.tolist()[len(synced.sync_runs()) if updated else 0:]
            if this_run == ["ok"]:
                continue  # the kill landed after the sync had recorded its end: not a kill during a sync
            kills += 1
            assert this_run in ([], ["running"])  # killed: it could not record its end

            store = await clean_run(db, updated)
            assert_consistent(store)
            assert_tables_equal(snapshot(store), expected_update if updated else expected_first,
                                f"kill {kills}, {'update' if updated else 'first sync'}")
    finally:
        syncs.close()


# -- bad input ----------------------------------------------------------------------------------------------

ITEM, CHAT = "{item}", "{chat}"  # replaced by a listing and a chat of the synced store


@dataclass(frozen=True)
class Bad:
    """One bad input: CLI arguments (a list) or an API call (a function of the env), and the error's words."""

    call: list[str] | Any
    message: str
    db_absent: bool = False  # the CLI is pointed at a file that does not exist, and must not create it

    def __str__(self) -> str:
        if isinstance(self.call, list):
            return "cli " + " ".join(self.call)[:50]
        return "api " + self.message[:50]


@dataclass
class Env:
    client: AvitoApiClient
    store: Store
    item: int
    chat: str


def sync_bad(**window):
    return lambda env: sync(env.client, env.store, progress=False, **window)


async def all_items(env: Env, **args) -> list:
    return [item async for item in env.client.iter_items(**args)]


BAD_INPUTS = [
    # the command line: exit 2, one line on stderr
    Bad(["sync", "--from", "2025-02-30"], "--from must be a date as YYYY-MM-DD, got '2025-02-30'"),
    Bad(["sync", "--to", "1.1.2026"], "--to must be a date as YYYY-MM-DD, got '1.1.2026'"),
    Bad(["sync", "--from", "2026-01-10", "--to", "2026-01-09"], "--to 2026-01-09 must be on or after --from"),
    Bad(["sync", "--full", "yes"], "unrecognized arguments: yes"),
    Bad(["calendar", "block", ITEM, "2026-1-5", day(9), "--yes"], "FROM must be a date as YYYY-MM-DD"),
    Bad(["calendar", "open", ITEM, day(3), "soon", "--yes"], "TO must be a date as YYYY-MM-DD, got 'soon'"),
    Bad(["calendar", "block", "1e3", day(3), day(5), "--yes"], "ITEM_ID must be a positive integer, got '1e3'"),
    Bad(["calendar", "open", "999", day(3), day(5), "--yes"], "listing 999 is not in the store"),
    Bad(["calendar", "block", ITEM, day(5), day(5), "--yes"], f"TO {day(5)} must be after FROM {day(5)}"),
    Bad(["calendar", "open", ITEM, day(-10), day(-1), "--yes"], "is in the past"),
    Bad(["calendar", "block", ITEM, day(3), day(5), "--comment"], "argument --comment: expected one argument"),
    Bad(["reply", "u2i/abc", "Здравствуйте", "--yes"], "chat_id must be a non-empty Avito chat id"),
    Bad(["reply", CHAT, "   ", "--yes"], "message text is empty"),
    Bad(["reply", CHAT, "я" * 1001, "--yes"], "message text is 1001 characters; Avito accepts at most 1000"),
    Bad(["kpi", "--from", "2026-01-01"], "the following arguments are required: --to"),
    Bad(["kpi", "--from", "2026-02-01", "--to", "2026-01-01"], "--to 2026-01-01 must be on or after --from"),
    Bad(["kpi", "--from", "yesterday", "--to", "2026-01-01"], "--from must be a date as YYYY-MM-DD"),
    Bad(["kpi", "--from", "2026-01-01", "--to", "2026-01-31", "--by", "year"], "invalid choice: 'year'"),
    Bad(["kpi", "--from", "2026-01-01", "--to", "2026-01-31"], "no store at", db_absent=True),
    Bad(["report", "--from", "2026-13-01"], "--from must be a date as YYYY-MM-DD"),
    Bad(["report", "--from", "2026-02-01", "--to", "2026-01-01"], "--to 2026-01-01 must be on or after --from"),
    Bad(["sandbox", "--port", "http"], "argument --port: invalid int value: 'http'"),
    Bad(["bogus"], "invalid choice: 'bogus'"),
    # the Python API: ValueError with the reason
    Bad(lambda env: env.client.get_item_bookings(0, day(1), day(2)), "item_id must be a positive integer, got 0"),
    Bad(lambda env: env.client.get_item_bookings(env.item, day(5), day(1)), "must be on or after date_start"),
    Bad(lambda env: env.client.get_chats(limit=0), "limit must be 1..100, got 0"),
    Bad(lambda env: env.client.get_chats(offset=1001), "offset must be 0..1000, got 1001"),
    Bad(lambda env: env.client.get_messages_in_chat(""), "chat_id must be a non-empty Avito chat id"),
    Bad(lambda env: env.client.send_message(env.chat, ""), "message text is empty"),
    Bad(lambda env: env.client.send_message(env.chat, "я" * 1001), "Avito accepts at most 1000"),
    Bad(lambda env: env.client.update_item_bookings(env.item, [{"date_start": day(3), "date_end": day(6)},
                                                               {"date_start": day(5), "date_end": day(8)}]),
        "ranges overlap"),
    Bad(lambda env: env.client.update_item_bookings(env.item, [day(3)]), "each range must be a dict"),
    Bad(lambda env: env.client.update_item_availability(env.item, [{"date_start": day(3), "date_end": day(5),
                                                                     "open": 0}]),
        "interval open must be a quota > 0, got 0"),
    Bad(lambda env: env.client.update_item_prices(env.item, [{"date_from": day(3), "date_to": day(5),
                                                               "night_price": -1}]),
        "night_price must be a positive integer, got -1"),
    Bad(lambda env: env.client.get_item_stats([env.item, -1], day(-5), day(0)), "item_id must be a positive"),
    Bad(lambda env: all_items(env, statuses=["archived"]), "item status must be among"),
    Bad(lambda env: all_items(env, per_page=100), "per_page must be 1..99, got 100"),
    Bad(lambda env: actions.plan_block(env.store, env.item, day(5), day(3)), f"to {day(3)} must be after from"),
    Bad(lambda env: actions.plan_block(env.store, 123, day(3), day(5)), "listing 123 is not in the store"),
    Bad(lambda env: actions.plan_open(env.store, env.item, day(-10), day(-2)), "is in the past"),
    Bad(lambda env: actions.send_reply(env.client, env.store, "u2i abc", "Привет"), "chat_id must be"),
    Bad(lambda env: actions.send_reply(env.client, env.store, env.chat, "\n"), "message text is empty"),
    Bad(sync_bad(date_from="2026-02-30"), "date_from must be a date as YYYY-MM-DD, got '2026-02-30'"),
    Bad(sync_bad(date_from=day(5), date_to=day(3)), f"date_to {day(3)} must be on or after date_from"),
    Bad(lambda env: metrics.kpis(env.store, "2026-02-01", "2026-01-01"), "date_to 2026-01-01 must be on or after"),
    Bad(lambda env: metrics.kpis(env.store, "2026-01-01", "2026-01-31", by="year"), "by must be one of"),
    Bad(lambda env: metrics.kpis(env.store, "2026-01-01", "2026-01-31", item_ids=[0]),
        "item_ids must be positive integers, got 0"),
    Bad(lambda env: checks.check_id(True, "item_id"), "item_id must be a positive integer, got True"),
    Bad(lambda env: checks.parse_date(dt.datetime(2026, 1, 1, 12), "date_from"), "not a date and time"),
    Bad(lambda env: checks.check_chat_id(None), "chat_id must be a non-empty Avito chat id"),
]
CLI_CASES = [case for case in BAD_INPUTS if isinstance(case.call, list)]
API_CASES = [case for case in BAD_INPUTS if not isinstance(case.call, list)]
BAD_WORLD = {"seed": 31, "n_items": 6, "n_chats": 8}


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> tuple[Path, int, str]:
    """A store synced from ``BAD_WORLD``; a listing of it with no future bookings; a chat."""
    path = synced_store_file(tmp_path_factory, Sandbox(**BAD_WORLD), "bad_input")
    store = Store(path)
    item = int(store.items().query("status == 'removed'").item_id.iloc[0])
    return path, item, str(store.chats().query("chat_type == 'u2i'").chat_id.iloc[0])


@pytest.fixture
def bad_env(synced, tmp_path):
    """A copy of the synced store (opened once, as a caller would have it), its listing and chat, and the
    sandbox it came from, whose request log must stay empty."""
    path, item, chat = synced
    db = copy_store(path, tmp_path)
    return db, Store(db), item, chat, Sandbox(**BAD_WORLD)


def test_bad_input_table_is_wide():
    assert len(BAD_INPUTS) >= 30 and len(CLI_CASES) >= 15 and len(API_CASES) >= 15


@pytest.mark.parametrize("case", CLI_CASES, ids=str)
def test_bad_cli_input_is_one_line_and_exit_2_with_nothing_sent_or_written(case, bad_env, capsys, monkeypatch):
    db, _, item, chat, sandbox = bad_env
    monkeypatch.setattr(cli, "_sandbox", lambda: sandbox)
    if case.db_absent:
        db = db.with_name("absent.duckdb")
    before = file_digest(db)
    argv = [a.replace(ITEM, str(item)).replace(CHAT, chat) for a in case.call]
    code, out, err = cli_run(capsys, "--sandbox", "--db", db, *argv)
    assert code == 2, (out, err)
    assert case.message in assert_one_line(err)
    assert "Traceback" not in out
    assert sandbox.requests == []
    assert file_digest(db) == before and not db.with_name(db.name + ".wal").exists()
    if case.db_absent:
        assert not db.exists()


@pytest.mark.parametrize("case", API_CASES, ids=str)
async def test_bad_api_input_is_a_value_error_with_nothing_sent_or_written(case, bad_env):
    db, store, item, chat, sandbox = bad_env
    before = file_digest(db)
    async with open_client(sandbox=sandbox) as client:
        with pytest.raises(ValueError) as raised:
            outcome = case.call(Env(client, store, item, chat))
            if inspect.isawaitable(outcome):
                await outcome
    assert case.message in str(raised.value)
    assert "\n" not in str(raised.value)  # one line
    assert sandbox.requests == []
    assert file_digest(db) == before and not db.with_name(db.name + ".wal").exists()
