"""``avito-kit price set|show`` and ``listing set``: bad input exit 2 with one line and nothing sent or written,
the preview, what Avito receives, what the store keeps, Avito failures exit 1 and a dropped push audited."""

from __future__ import annotations

import io
import json
import sys

import pytest

from avito_kit.store import Store

from .openapi_contract import default_spec_dir, load_contract
from .test_cli import (  # the same synced store and sandbox as `avito-kit` tests
    Terminal,
    assert_one_line,
    cli_run,
    day,
    listing,
    ru_day,
)

# Fixtures: the synced store, its copy per test, the sandbox `--sandbox` uses, no terminal.
from .test_cli import db as db
from .test_cli import no_terminal as no_terminal
from .test_cli import sandbox as sandbox
from .test_cli import synced_db as synced_db
from .test_cli import (  # the same checks: exit 2, one line, no request, the file untouched
    test_bad_input_exits_2_with_one_line_sending_and_writing_nothing as refused_untouched,
)

ITEM = "{item}"  # replaced by a listing of the synced store, as in test_cli

BAD_INPUT = [
    (["price", "set", ITEM, day(3), day(5), "0", "--yes"], "night_price must be a positive integer, got 0"),
    (["price", "set", ITEM, day(3), day(5), "-100", "--yes"], "night_price must be a positive integer, got -100"),
    (["price", "set", ITEM, day(3), day(5), "4500.5", "--yes"], "invalid int value: '4500.5'"),
    (["price", "set", ITEM, day(-3), day(5), "4500", "--yes"], "is in the past"),
    (["price", "set", ITEM, day(5), day(5), "4500", "--yes"], f"TO {day(5)} must be after FROM {day(5)}"),
    (["price", "set", ITEM, "2027-02-30", day(5), "4500", "--yes"], "FROM must be a date as YYYY-MM-DD"),
    (["price", "set", ITEM, day(3), day(5), "4500", "--min-stay", "31", "--yes"],
     "minimal_duration must be an integer 1..30, got 31"),
    (["price", "set", ITEM, day(3), day(5), "4500", "--extra-guest-fee", "-1", "--yes"],
     "extra_guest_fee must be an integer >= 0"),
    (["price", "set", "0", day(3), day(5), "4500", "--yes"], "ITEM_ID must be a positive integer, got '0'"),
    (["price", "set", "123", day(3), day(5), "4500", "--yes"], "listing 123 is not in the store"),
    (["price", "set", ITEM, day(3), day(5), "4500"], "no terminal to confirm on: add --yes to send"),
    (["price", "show", ITEM, "--from", day(5), "--to", day(2)], f"--to {day(2)} must be after --from {day(5)}"),
    (["price", "show", "123"], "listing 123 is not in the store"),
    (["listing", "set", ITEM, "--yes"], "no base parameter to send"),
    (["listing", "set", ITEM, "--min-stay", "8", "--yes"], "minimal_duration must be one of 1..7, got 8"),
    (["listing", "set", ITEM, "--instant", "maybe", "--yes"], "invalid choice: 'maybe'"),
    (["listing", "set", ITEM, "--instant", "on", "--instant-max-days", "45", "--yes"],
     "instant max_days must be one of 30, 60, 90, 120, 150, got 45"),
    (["listing", "set", ITEM, "--instant-min-days", "2", "--yes"], "instant booking days need --instant on or off"),
    (["listing", "set", ITEM, "--discount", "7-10", "--yes"], "--discount must be NIGHTS:PERCENT such as 7:10"),
    (["listing", "set", ITEM, "--discount", "5:10", "--yes"], "discount threshold (nights) must be one of 3, 7, 30"),
    (["listing", "set", ITEM, "--discount", "7:100", "--yes"], "discount percent must be an integer 1..99"),
    (["listing", "set", ITEM, "--refund-days", "2", "--yes"], "refund days must be one of 0, 1, 3, 5, 7, 14, got 2"),
    (["listing", "set", ITEM, "--extra-guest-threshold", "9", "--yes"], "extra_guest_threshold must be one of 1..8"),
    (["listing", "set", ITEM, "--night-price", "0", "--yes"], "night_price must be a positive integer, got 0"),
    (["listing", "set", ITEM, "--min-stay", "2"], "no terminal to confirm on: add --yes to send"),
    (["listing", "set", "123", "--min-stay", "2", "--yes"], "listing 123 is not in the store"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=lambda v: " ".join(v)[:50] if isinstance(v, list) else "")
def test_bad_input_exits_2_with_one_line_sending_and_writing_nothing(capsys, db, sandbox, argv, message):
    refused_untouched(capsys, db, sandbox, argv, message)


@pytest.mark.parametrize("argv", [["price", "set", "3000000001", day(3), day(5), "4500", "--yes"],
                                  ["price", "show", "3000000001"], ["listing", "set", "3000000001", "--min-stay", "2"]])
def test_without_a_store_nothing_is_created(capsys, tmp_path, sandbox, argv):
    db = tmp_path / "new" / "avito.duckdb"
    code, _, err = cli_run(capsys, "--sandbox", "--db", db, *argv)
    assert code == 2 and "avito-kit sync" in assert_one_line(err)
    assert not db.parent.exists() and sandbox.requests == []


def test_a_weekend_price_and_a_minimum_stay_are_sent_kept_and_shown(capsys, db, sandbox):
    item = listing(db)
    code, out, _ = cli_run(capsys, "--sandbox", "--db", db, "price", "set", item, day(4), day(6), "5500",
                           "--min-stay", "2", "--extra-guest-fee", "500", "--yes")
    assert code == 0, out
    assert f"ночи {ru_day(4)} – {ru_day(5)} (2 ночи)" in out and "Авито принял изменения" in out
    (request,) = [r for r in sandbox.requests if r.operation == "postRealtyPrices"]
    assert request.body == {"prices": [{"date_from": day(4), "date_to": day(5), "night_price": 5500,
                                        "minimal_duration": 2, "extra_guest_fee": 500}]}
    if default_spec_dir().is_dir():
        load_contract().validate_request("POST", request.path, None, json_body=request.body)

    code, out, _ = cli_run(capsys, "--sandbox", "--db", db, "listing", "set", item, "--night-price", "3000",
                           "--min-stay", "3", "--instant", "on", "--instant-min-days", "1", "--discount", "7:10",
                           "--discount", "30:20", "--refund-days", "7", "--yes")
    assert code == 0 and "мгновенное бронирование: включено" in out
    (base,) = [r for r in sandbox.requests if r.operation == "postBaseParams"]
    assert base.body == {"night_price": 3000, "minimal_duration": 3, "instant": {"active": True, "min_days": 1},
                         "discount": [{"threshold": 7, "percent": 10}, {"threshold": 30, "percent": 20}],
                         "refund": {"days": 7}}
    if default_spec_dir().is_dir():
        load_contract().validate_request("POST", base.path, None, json_body=base.body)

    code, out, _ = cli_run(capsys, "--db", db, "price", "show", item, "--from", day(3), "--to", day(7), "--json")
    assert code == 0
    nights = json.loads(out)
    assert [(n["night"], n["night_price"], n["minimal_duration"], n["source"]) for n in nights] == [
        (day(3), 3000, 3, "base"), (day(4), 5500, 2, "period"), (day(5), 5500, 2, "period"),
        (day(6), 3000, 3, "base")]
    audit = Store(db).audit_log()
    assert audit.action.tolist() == ["price_set", "listing_set"] and set(audit.outcome) == {"ok"}
    assert nights[1]["audit_id"] == int(audit.audit_id.iloc[0])
    code, out, _ = cli_run(capsys, "--db", db, "price", "show", item, "--from", day(3), "--to", day(5))
    assert code == 0 and "5\u00a0500\u00a0₽" in out and "цена периода" in out and "базовая цена" in out
    assert "отправленные последними: цена 3\u00a0000\u00a0₽; мин. ночей 3; мгновенная бронь включена" in out


def test_a_price_is_sent_only_when_the_person_says_yes(capsys, db, sandbox, monkeypatch):
    item = listing(db)
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    code, out, err = cli_run(capsys, "--sandbox", "--db", db, "price", "set", item, day(4), day(6), "5500")
    assert code == 2 and "cancelled: nothing was sent" in assert_one_line(err)
    assert "5\u00a0500\u00a0₽ за ночь" in out
    assert not [r for r in sandbox.requests if r.operation == "postRealtyPrices"]
    monkeypatch.setattr("builtins.input", lambda prompt: "да")
    code, out, _ = cli_run(capsys, "--sandbox", "--db", db, "price", "set", item, day(4), day(6), "5500")
    assert code == 0 and len([r for r in sandbox.requests if r.operation == "postRealtyPrices"]) == 1
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def test_a_dropped_push_is_exit_1_audited_unknown_and_not_resent(capsys, db, sandbox):
    item = listing(db)
    sandbox.queue_fault("drop", f"/items/{item}/prices")
    code, _, err = cli_run(capsys, "--sandbox", "--db", db, "price", "set", item, day(4), day(6), "5500", "--yes")
    assert code == 1
    assert_one_line(err)
    assert len([r for r in sandbox.requests if r.operation == "postRealtyPrices"]) == 1
    store = Store(db)
    assert store.audit_log().outcome.tolist() == ["unknown"] and store.price_pushes().empty


def test_avito_refusing_a_push_is_exit_1(capsys, db, sandbox):
    item = listing(db)
    del sandbox.world.items_by_id[item]
    code, _, err = cli_run(capsys, "--sandbox", "--db", db, "listing", "set", item, "--min-stay", "2", "--yes")
    assert code == 1 and "404" in assert_one_line(err)
    assert Store(db).audit_log().outcome.tolist() == ["failed"]
