"""``avito-kit``: exit codes and their one line, nothing sent or written on bad input, and the success paths.

Most cases call ``main()`` in-process against the embedded sandbox (``--sandbox`` builds a fresh ``Sandbox()``
per invocation; tests hand it one they can inspect); a few run ``python -m avito_kit`` for real, where there
is no terminal and the exit code is the process's.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import os
import subprocess
import sys

import pandas as pd
import pytest

from avito_kit import cli, limits, session
from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox
from avito_kit.store import Store

from .fakes import FakeClock
from .helpers import TODAY as T
from .helpers import assert_one_line, cli_run, copy_store, dump_text, file_digest, synced_store_file
from .helpers import iso_day as day


def ru_day(offset: int) -> str:
    """The date as the host reads it in a preview: dd.mm.yyyy."""
    return f"{T + dt.timedelta(days=offset):%d.%m.%Y}"


@pytest.fixture(scope="module")
def synced_db(tmp_path_factory):
    """A store synced from the sandbox of ``avito-kit --sandbox``, as ``avito-kit --sandbox sync`` leaves it."""
    return synced_store_file(tmp_path_factory, cli._sandbox())


@pytest.fixture
def db(synced_db, tmp_path):
    return copy_store(synced_db, tmp_path)


@pytest.fixture
def sandbox(monkeypatch):
    """The sandbox ``--sandbox`` will use: the default one, which the synced store was read from."""
    sandbox = Sandbox()
    monkeypatch.setattr(cli, "_sandbox", lambda: sandbox)
    return sandbox


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def listing(db_path) -> int:
    """A listing with no generated future bookings: its calendar is free to block."""
    return int(Store(db_path).items().query("status == 'removed'").item_id.iloc[0])


def chat(db_path) -> str:
    return Store(db_path).chats().query("chat_type == 'u2i'").chat_id.iloc[0]


# -- bad input: exit 2, one line, nothing sent, nothing written -----------------------------------------------

ITEM = "{item}"  # replaced by a listing of the synced store

BAD_INPUT = [
    (["sync", "--from", "2027-13-01"], "--from must be a date as YYYY-MM-DD"),
    (["sync", "--from", "tomorrow"], "--from must be a date as YYYY-MM-DD, got 'tomorrow'"),
    (["sync", "--from", "2026-05-02", "--to", "2026-05-01"], "--to 2026-05-01 must be on or after --from"),
    (["sync", "--to", "2000-01-01"], "--to 2000-01-01 must be on or after --from"),
    (["calendar", "block", ITEM, "2027-13-01", "2028-01-02", "--yes"], "FROM must be a date as YYYY-MM-DD"),
    (["calendar", "block", ITEM, "tomorrow", day(5), "--yes"], "FROM must be a date as YYYY-MM-DD, got 'tomorrow'"),
    (["calendar", "block", ITEM, day(5), day(3), "--yes"], f"TO {day(3)} must be after FROM {day(5)}"),
    (["calendar", "open", ITEM, day(5), day(5), "--yes"], f"TO {day(5)} must be after FROM {day(5)}"),
    (["calendar", "block", "0", day(3), day(5), "--yes"], "ITEM_ID must be a positive integer, got '0'"),
    (["calendar", "block", "-5", day(3), day(5), "--yes"], "ITEM_ID must be a positive integer, got '-5'"),
    (["calendar", "open", "abc", day(3), day(5), "--yes"], "ITEM_ID must be a positive integer, got 'abc'"),
    (["calendar", "block", "123", day(3), day(5), "--yes"], "listing 123 is not in the store"),
    (["calendar", "block", ITEM, day(-9), day(-2), "--yes"], "in the past"),
    (["reply", "u2i-abc", "", "--yes"], "message text is empty"),
    (["reply", "u2i-abc", "я" * 1001, "--yes"], "message text is 1001 characters; Avito accepts at most 1000"),
    (["reply", "u2i abc", "Здравствуйте", "--yes"], "chat_id must be"),
    (["calendar", "block", ITEM, day(3), day(5)], "no terminal to confirm on: add --yes to send"),
    (["calendar", "open", ITEM, day(3), day(5)], "no terminal to confirm on: add --yes to send"),
    (["reply", "u2i-abc", "Здравствуйте"], "no terminal to confirm on: add --yes to send"),
    (["calendar", "block", ITEM, day(3)], "the following arguments are required: TO"),
    (["calendar", "shut", ITEM, day(3), day(5)], "invalid choice: 'shut'"),
    (["reply", "u2i-abc", "text", "--force"], "unrecognized arguments: --force"),
    ([], "the following arguments are required: command"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=lambda v: " ".join(v)[:40] if isinstance(v, list) else "")
def test_bad_input_exits_2_with_one_line_sending_and_writing_nothing(capsys, db, sandbox, argv, message):
    item = listing(db)
    before = file_digest(db)
    argv = [a.replace(ITEM, str(item)) for a in argv]
    code, out, err = cli_run(capsys, "--sandbox", "--db", db, *argv)
    assert code == 2
    assert message in assert_one_line(err)
    assert sandbox.requests == []
    assert file_digest(db) == before and not db.with_name(db.name + ".wal").exists()
    assert "Traceback" not in out


@pytest.mark.parametrize("argv", [
    ["sync"], ["calendar", "block", "3000000001", day(3), day(5), "--yes"], ["reply", "u2i-abc", "Привет", "--yes"],
    ["calendar", "open", "3000000001", day(3), day(5)], ["reply", "u2i-abc", "Привет"],
])
def test_bad_input_creates_no_database(capsys, tmp_path, sandbox, argv):
    """Without credentials, or for a listing no sync has stored yet, or unconfirmed: not even a file appears."""
    db = tmp_path / "new" / "avito.duckdb"
    with_sandbox = argv[0] == "calendar"
    code, _, err = cli_run(capsys, *(["--sandbox"] if with_sandbox else []), "--db", db, *argv)
    assert code == 2
    line = assert_one_line(err)
    if with_sandbox:
        assert "is not in the store" in line and "avito-kit sync" in line
    else:
        assert "AVITO_CLIENT_ID" in line and "AVITO_CLIENT_SECRET" in line
    assert not db.exists() and not db.parent.exists()
    assert sandbox.requests == []


def test_a_refused_block_over_a_paid_booking_is_exit_2_with_nothing_sent(capsys, db, sandbox):
    store = Store(db)
    active = store.bookings(statuses=["active"])
    booked = active[active.check_in > pd.Timestamp(T)].iloc[0]
    check_in = booked.check_in.date()
    code, _, err = cli_run(capsys, "--sandbox", "--db", db, "calendar", "block", booked.item_id,
                           check_in.isoformat(), (check_in + dt.timedelta(days=1)).isoformat(), "--yes")
    assert code == 2 and f"бронь №{booked.booking_id}" in assert_one_line(err)
    assert sandbox.requests == [] and store.audit_log().empty


# -- success paths ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sync_block_open_and_reply_against_the_sandbox(capsys, db, sandbox):
    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "sync", "--from", day(-30), "--to", day(60))
    assert (code, err) == (0, "")
    assert f"Synced account {sandbox.user_id}, nights {day(-30)} .. {day(60)}" in out
    store = Store(db)
    item, chat_id = listing(db), chat(db)

    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "calendar", "block", item, day(3), day(8),
                             "--comment", "ремонт", "--yes")
    assert (code, err) == (0, "") and "Авито принял" in out and f"закрыты ночи {ru_day(3)} – {ru_day(7)}" in out
    assert sandbox.blocks[item] == [{"date_start": day(3), "date_end": day(8), "type": "manual",
                                     "comment": "ремонт"}]

    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "calendar", "open", item, day(4), day(6), "--yes")
    assert (code, err) == (0, "") and "Авито принял изменения" in out
    assert [(b["date_start"], b["date_end"]) for b in sandbox.blocks[item]] == [(day(3), day(4)), (day(6), day(8))]
    assert sandbox.intervals[item][0] == {"date_start": day(0), "date_end": day(3), "open": 1}
    assert len(store.calendar_blocks(item)) == 2

    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "reply", chat_id, "Ждём вас!", "--yes")
    assert (code, err) == (0, "") and f"отправлено в чат {chat_id}" in out
    assert sandbox.chats[chat_id].messages[-1]["content"] == {"text": "Ждём вас!"}
    assert "Ждём вас!" in store.messages(chat_id).text.tolist()
    assert store.audit_log().outcome.tolist() == ["ok", "ok", "ok"]


def test_a_write_is_shown_then_sent_only_when_the_person_says_yes(capsys, db, sandbox, monkeypatch):
    item = listing(db)
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "calendar", "block", item, day(3), day(5))
    assert code == 2 and "cancelled: nothing was sent" in assert_one_line(err)
    assert f"Закрыть даты объявления {item}: ночи {ru_day(3)} – {ru_day(4)} (2 ночи)" in out
    assert sandbox.requests == []

    monkeypatch.setattr(sys, "stdin", Terminal("да\n"))
    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "calendar", "block", item, day(3), day(5))
    assert code == 0 and "Отправить в Авито? [y/N]" in out and sandbox.blocks[item]


# -- Avito failing: exit 1, one line ------------------------------------------------------------------------


def test_avito_failing_after_retries_is_exit_1_with_one_line(capsys, tmp_path, sandbox, monkeypatch):
    monkeypatch.setattr("avito_kit.client.RetryPolicy", functools.partial(
        limits.RetryPolicy, transient_delay=0.0, rate_limit_base=0.0, jitter=lambda: 0.0))
    clock = FakeClock()  # the limiter slows down after the 503s: its waits only move this clock on
    monkeypatch.setattr(session, "open_client", functools.partial(session.open_client, sleep=clock.sleep, clock=clock))
    for _ in range(3):  # every try of one listing's bookings
        sandbox.queue_fault("503", f"/items/{sandbox.items[0].id}/bookings")
    db = tmp_path / "avito.duckdb"
    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "sync")
    assert code == 1
    assert "Avito answered 503 to GET" in assert_one_line(err) and out == ""
    assert [r.fault for r in sandbox.requests if r.operation == "getRealtyBookings"].count("503") == 3
    assert Store(db).sync_runs().status.tolist() == ["failed"]


def test_a_database_that_fails_is_exit_1_with_one_line(capsys, tmp_path, sandbox):
    db = tmp_path / "avito.duckdb"
    db.write_bytes(b"not a database" * 1000)
    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "sync")
    assert code == 1 and out == ""
    assert str(db) in assert_one_line(err)
    assert sandbox.requests == []


def run_cli(*argv, env=None, timeout=60) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AVITO")}
    return subprocess.run([sys.executable, "-m", "avito_kit", *map(str, argv)], env={**environment, **(env or {})},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.slow
def test_the_real_command_line_exit_codes(db, tmp_path):
    item = listing(db)
    before = file_digest(db)
    unconfirmed = run_cli("--sandbox", "--db", db, "calendar", "block", item, day(3), day(5))
    assert unconfirmed.returncode == 2
    assert assert_one_line(unconfirmed.stderr) == "avito-kit: no terminal to confirm on: add --yes to send"
    assert f"Закрыть даты объявления {item}" in unconfirmed.stdout and file_digest(db) == before

    no_credentials = run_cli("--db", tmp_path / "x.duckdb", "sync")
    assert no_credentials.returncode == 2 and no_credentials.stdout == ""
    assert "AVITO_CLIENT_ID and AVITO_CLIENT_SECRET" in assert_one_line(no_credentials.stderr)
    assert not (tmp_path / "x.duckdb").exists()

    sandbox = Sandbox()
    chat_id = chat(db)
    sandbox.queue_fault("503", f"/chats/{chat_id}/messages")
    with sandbox.serve() as server:
        env = {"AVITO_CLIENT_ID": SANDBOX_CLIENT_ID, "AVITO_CLIENT_SECRET": SANDBOX_CLIENT_SECRET}
        failed = run_cli("--base-url", server.base_url, "--db", db, "reply", chat_id, "Здравствуйте!", "--yes",
                         env=env)
    assert failed.returncode == 1, failed.stderr
    assert "Avito answered 503 to POST" in assert_one_line(failed.stderr)  # no retry warnings: one line
    assert [r.operation for r in sandbox.requests].count("postSendMessage") == 1  # a message is never resent
    assert Store(db).audit_log().outcome.tolist() == ["failed"]


# -- secrets ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_no_secret_reaches_the_database_or_the_output(capsys, caplog, db, sandbox):
    issued, handle = [], sandbox.handle

    def handle_and_keep_tokens(method, path, *args, **kwargs):
        response = handle(method, path, *args, **kwargs)
        if path.startswith("/token") and response.status == 200:
            issued.append(response.json()["access_token"])
        return response

    sandbox.handle = handle_and_keep_tokens
    caplog.set_level("DEBUG")
    outputs = []
    for argv in (["sync"], ["reply", None, "Добрый день!", "--yes"], ["calendar", "block", None, day(3), day(4),
                                                                       "--yes"]):
        if argv[0] == "reply":
            argv[1] = chat(db)
        if argv[0] == "calendar":
            argv[2] = listing(db)
        sandbox.expire_tokens()  # every command asks for a token of its own
        code, out, err = cli_run(capsys, "-v", "--sandbox", "--db", db, *argv)
        assert code == 0, err
        outputs += [out, err]
    assert len(issued) >= 3
    text = dump_text(Store(db)) + "\n".join(outputs) + caplog.text
    assert "Добрый день!" in text  # the dump does hold the data
    for secret in [SANDBOX_CLIENT_SECRET, *issued]:
        assert secret not in text
