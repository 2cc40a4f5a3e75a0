"""Linked calendars against the sandbox: a pull pushes manual and external closures as one set, a pull that changes
nothing sends nothing, an external closure over a booking is reported rather than pushed into a 409, an open over
another platform's closure is refused, a failed link is named while the others go on, and the export reads back."""

from __future__ import annotations

import datetime as dt
import io
import sys

import pytest

from avito_kit import actions, cli
from avito_kit.aio import run
from avito_kit.feeds import Closure, parse_feed
from avito_kit.sandbox import Sandbox
from avito_kit.sandbox.feeds import sample_feed
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.widgets import CalendarWidget

from .helpers import TODAY as T
from .helpers import assert_one_line, cli_run, copy_store, day, iso_day, synced_store_file


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


BOOKING = (45, 48)  # an active Avito booking inside the second Airbnb stay (40 .. 47): a double booking


def make_sandbox() -> tuple[Sandbox, int]:
    sandbox = Sandbox(seed=22, n_items=5, n_chats=4)
    item_id = next(item.id for item in sandbox.items if item.status == "removed")
    sandbox.add_booking(item_id, day(BOOKING[0]), day(BOOKING[1]))
    return sandbox, item_id


@pytest.fixture(scope="module")
def synced_file(tmp_path_factory):
    return synced_store_file(tmp_path_factory, make_sandbox()[0])


@pytest.fixture
def world(synced_file, tmp_path, monkeypatch):
    """(sandbox, store, item_id, feeds folder); the CLI's --sandbox is this sandbox."""
    sandbox, item_id = make_sandbox()
    monkeypatch.setattr(cli, "_sandbox", lambda: sandbox)
    folder = tmp_path / "feeds"
    folder.mkdir()
    for name in ("airbnb", "sutochno", "login", "broken"):
        (folder / f"{name}.ics").write_bytes(sample_feed(name, T))
    return sandbox, Store(copy_store(synced_file, tmp_path)), item_id, folder


def bookings_pushes(sandbox: Sandbox) -> list:
    return [r.body for r in sandbox.requests if r.operation and "ooking" in r.operation and r.method == "POST"]


async def apply_plan(sandbox: Sandbox, store: Store, plan: actions.Plan) -> str:
    async with open_client(sandbox=sandbox) as client:
        return await actions.apply_plan(client, store, plan)


async def pull(sandbox: Sandbox, store: Store, item_id: int) -> tuple[actions.PullPlan, str]:
    plan = await actions.plan_pull(store, item_id)
    async with open_client(sandbox=sandbox) as client:
        return plan, await actions.apply_pull(client, store, plan)


async def test_a_pull_pushes_manual_and_external_closures_then_a_second_pull_sends_nothing(world):
    sandbox, store, item_id, folder = world
    await apply_plan(sandbox, store, actions.plan_block(store, item_id, day(5), day(7), "ремонт"))
    store.link_calendar(item_id, "Airbnb", str(folder / "airbnb.ics"))

    plan, outcome = await pull(sandbox, store, item_id)
    assert outcome == "ok" and plan.read == ["Airbnb"] and plan.failed == {}
    assert [(b["date_start"], b["date_end"], b["comment"]) for b in sandbox.blocks[item_id]] == [
        (iso_day(5), iso_day(7), "ремонт"), (iso_day(10), iso_day(13), "Airbnb"),
        (iso_day(40), iso_day(45), "Airbnb"), (iso_day(60), iso_day(62), "Airbnb")]
    assert store.audit_log().action.tolist()[-1] == "calendar_pull"

    sent = len(sandbox.requests)
    plan, outcome = await pull(sandbox, store, item_id)
    assert (outcome, plan.changed, len(sandbox.requests)) == ("unchanged", False, sent)
    assert "в Авито ничего не отправляется" in plan.describe()


async def test_an_external_closure_over_an_active_booking_is_reported_not_pushed(world):
    sandbox, store, item_id, folder = world
    store.link_calendar(item_id, "Airbnb", str(folder / "airbnb.ics"))
    plan, outcome = await pull(sandbox, store, item_id)
    assert outcome == "ok"  # no 409: the booking's nights are left out of the push
    assert [(c["source"], c["date_start"], c["date_end"]) for c in plan.over_bookings] == [("Airbnb", day(40), day(47))]
    assert "пересекаются с бронью" in plan.describe() and "двойное бронирование" in plan.describe()
    pushed = {(b["date_start"], b["date_end"]) for b in bookings_pushes(sandbox)[-1]["bookings"]}
    assert (iso_day(40), iso_day(45)) in pushed and not any(a < iso_day(48) and b > iso_day(45) for a, b in pushed)


def test_open_is_refused_over_another_platforms_closure_naming_it(world, capsys):
    """Sync: the CLI runs its own event loop."""
    sandbox, store, item_id, folder = world
    store.link_calendar(item_id, "Суточно", str(folder / "sutochno.ics"))
    run(pull(sandbox, store, item_id))
    stay = next(c for c in parse_feed(sample_feed("sutochno", T), T) if c.summary.startswith("Бронь"))
    plan = actions.plan_open(store, item_id, stay.date_start, stay.date_end + dt.timedelta(days=2))
    assert plan.refused and "Суточно" in plan.describe()
    with pytest.raises(ValueError, match="nothing was sent"):
        run(apply_plan(sandbox, store, plan))
    sent = len(sandbox.requests)
    code, _, err = cli_run(capsys, "--sandbox", "--db", store.path, "calendar", "open", item_id,
                             stay.date_start.isoformat(), stay.date_end.isoformat(), "--yes")
    assert code == 2 and "Суточно" in assert_one_line(err) and len(sandbox.requests) == sent
    # the nights around it open, and the availability pushed never includes the external closure
    free = actions.plan_open(store, item_id, day(1), day(3))
    assert not free.refused and not any(
        dt.date.fromisoformat(a["date_start"]) < stay.date_end and dt.date.fromisoformat(a["date_end"]) >
        stay.date_start for a in free.availability_payload)


def test_a_failed_link_is_named_and_the_others_still_pushed(world, capsys):
    sandbox, store, item_id, folder = world
    store.link_calendar(item_id, "Airbnb", str(folder / "airbnb.ics"))
    store.link_calendar(item_id, "Старый сайт", str(folder / "login.ics"))
    store.link_calendar(item_id, "Битый", str(folder / "broken.ics"))
    code, out, err = cli_run(capsys, "--sandbox", "--db", store.path, "calendar", "pull", "--yes")
    assert code == 1 and "Авито принял изменения" in out
    line = assert_one_line(err)
    assert "2 linked calendar(s) failed" in line and "Старый сайт: not an iCalendar feed" in line and "Битый" in line
    assert any(b["comment"] == "Airbnb" for b in sandbox.blocks[item_id])
    links = store.calendar_links(item_id).set_index("name")
    assert links.error.isna().tolist() == [True, False, False]  # sorted: Airbnb, Битый, Старый сайт

    code, out, err = cli_run(capsys, "--db", store.path, "calendar", "links", item_id)
    assert code == 0 and "«Старый сайт»" in out and "ошибка: not an iCalendar feed" in out


def test_link_unlink_and_bad_input_are_one_line(world, capsys):
    sandbox, store, item_id, folder = world
    code, out, err = cli_run(capsys, "--db", store.path, "calendar", "link", item_id, folder / "nope.ics")
    assert code == 2 and "is neither an http(s) URL nor a file" in assert_one_line(err)
    code, out, err = cli_run(capsys, "--db", store.path, "calendar", "link", item_id,
                             "https://www.airbnb.ru/calendar/ical/1.ics?s=tok")
    assert code == 0 and "«www.airbnb.ru»" in out
    code, out, err = cli_run(capsys, "--db", store.path, "calendar", "links")
    assert "tok" not in out and "https://www.airbnb.ru/calendar/ical/1.ics (?…)" in out
    code, out, err = cli_run(capsys, "--db", store.path, "calendar", "unlink", item_id, "www.airbnb.ru")
    assert code == 0 and store.calendar_links().empty
    code, out, err = cli_run(capsys, "--db", store.path, "calendar", "unlink", item_id, "www.airbnb.ru")
    assert code == 2 and "no link named" in assert_one_line(err)
    code, out, err = cli_run(capsys, "--sandbox", "--db", store.path, "calendar", "pull")
    assert code == 2 and "no linked calendars" in assert_one_line(err) and sandbox.requests == []


def test_export_writes_bookings_and_closures_names_only_when_asked(world, capsys, tmp_path):
    _, store, item_id, _ = world
    out_file = tmp_path / "out.ics"
    code, *_ = cli_run(capsys, "--db", store.path, "calendar", "export", item_id, "--out", out_file)
    guest = store.active_bookings(item_id, day(0), day(365)).guest_name.iloc[0]
    assert code == 0 and guest not in out_file.read_text()
    assert Closure(day(BOOKING[0]), day(BOOKING[1]), "Авито: бронь") in parse_feed(out_file.read_bytes(), T)
    cli_run(capsys, "--db", store.path, "calendar", "export", item_id, "--out", out_file, "--with-names")
    assert guest in out_file.read_text()
    code, *_ = cli_run(capsys, "--db", store.path, "calendar", "export", "--out", tmp_path / "all")
    assert code == 0 and len(list((tmp_path / "all").glob("*.ics"))) == len(store.items())


# -- guards on full-year pushes --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_first_full_year_push_needs_its_own_confirmation_and_previews_compare_with_the_last(world, capsys,
                                                                                                 monkeypatch):
    sandbox, store, item_id, _ = world
    plan = actions.plan_open(store, item_id, day(2), day(4))
    preview = plan.describe()
    assert plan.first_push and actions.CABINET_WARNING in preview and actions.FIRST_PUSH_WARNING in preview
    argv = ("--sandbox", "--db", store.path, "calendar", "open", item_id, day(2), day(4))
    code, out, err = cli_run(capsys, *argv, "--yes")
    assert code == 2 and "add --first-push to confirm" in assert_one_line(err) and sandbox.requests == []
    assert "кабинете Авито" in out

    monkeypatch.setattr(sys, "stdin", Terminal("y\nнет\n"))  # yes to the push, not to the first-push question
    code, out, err = cli_run(capsys, *argv)
    assert code == 2 and "cancelled" in err and sandbox.requests == []
    monkeypatch.setattr(sys, "stdin", Terminal("y\nда\n"))
    code, out, err = cli_run(capsys, *argv)
    assert code == 0 and sandbox.intervals[item_id]

    later = actions.plan_block(store, item_id, day(8), day(10))
    assert not later.first_push
    assert f"Против прошлой отправки:\n  + закрываются ночи {day(8):%d.%m.%Y} – {day(9):%d.%m.%Y}" in later.describe()
    code, out, err = cli_run(capsys, *argv[:-2], day(20), day(22), "--yes")  # no longer the first: --yes is enough
    assert (code, err) == (0, "") and actions.CABINET_WARNING in out


@pytest.mark.slow
async def test_the_calendar_widget_pulls_links_and_paints_and_guards_external_closures(world):
    sandbox, store, item_id, folder = world
    store.link_calendar(item_id, "Airbnb", str(folder / "airbnb.ics"))
    async with open_client(sandbox=sandbox) as client:
        cal = CalendarWidget(client, store, item_id=item_id, today=T)
        cal.pull_button.click()
        await cal.wait_idle()
        assert "(Airbnb)" in cal.preview.value and not cal.confirm_button.disabled and bookings_pushes(sandbox) == []
        cal.confirm_button.click()
        await cal.wait_idle()
        assert any(b["comment"] == "Airbnb" for b in sandbox.blocks[item_id]) and "отправлены" in cal.status.value
        cal.month = day(10).replace(day=1)
        cal.refresh()
        assert f"data-state='external' data-date='{day(10).isoformat()}'" in cal.grid.value
        assert "Занято на другой площадке" in cal.grid.value

        cal.date_from.value, cal.date_to.value = day(10), day(12)
        cal.open_button.click()
        assert cal.confirm_button.disabled and "Airbnb" in cal.preview.value
        cal.pull_button.click()
        await cal.wait_idle()
        assert "не изменились" in cal.status.value and len(bookings_pushes(sandbox)) == 1


def test_the_sync_summary_names_failed_links_without_failing(world, capsys):
    _, store, item_id, folder = world
    store.link_calendar(item_id, "Airbnb", str(folder / "airbnb.ics"))
    store.link_calendar(item_id, "Старый сайт", str(folder / "login.ics"))
    cli_run(capsys, "--sandbox", "--db", store.path, "calendar", "pull", "--yes")
    code, out, err = cli_run(capsys, "--sandbox", "--db", store.path, "sync", "--no-progress")
    assert (code, err) == (0, "")
    assert f"note: linked calendar {item_id}/Старый сайт failed at its last pull: not an iCalendar feed" in out
    assert "Airbnb" not in out  # read just now


async def test_the_widgets_first_full_year_push_needs_its_checkbox(world):
    sandbox, store, item_id, _ = world
    async with open_client(sandbox=sandbox) as client:
        cal = CalendarWidget(client, store, item_id=item_id, today=T)
        cal.date_from.value, cal.date_to.value = day(2), day(4)
        cal.open_button.click()
        assert actions.FIRST_PUSH_WARNING in cal.preview.value
        assert cal.confirm_button.disabled and cal.first_push_ok.layout.display == "flex"
        cal.confirm_button.click()  # ignored while unconfirmed
        await cal.wait_idle()
        assert sandbox.requests == []
        cal.first_push_ok.value = True
        assert not cal.confirm_button.disabled
        cal.confirm_button.click()
        await cal.wait_idle()
        assert sandbox.intervals[item_id] and cal.first_push_ok.layout.display == "none"
        cal.open_button.click()  # the next push is not the first: no checkbox
        assert not cal.confirm_button.disabled and cal.first_push_ok.layout.display == "none"
