"""The widgets' callbacks in pytest: set values, click, await the write, then check what the sandbox received,
what the store and its audit log hold, and that bad input is refused in the widget with nothing sent."""

from __future__ import annotations

import asyncio
import datetime as dt

import pandas as pd
import plotly.graph_objects as go
import pytest

from avito_kit import charts, metrics
from avito_kit.dates import avito_today
from avito_kit.format import format_pct
from avito_kit.sandbox import Sandbox
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.widgets import CalendarWidget, Dashboard, InboxWidget, SyncButton
from avito_kit.widgets.dashboard import replace_figure
from avito_kit.widgets.inbox import fill_template

from .helpers import copy_store, synced_store_file

TODAY = avito_today()
MONTHS = ("Январь", "Февраль", "Март", "Апрель", "Май", "Июнь", "Июль", "Август", "Сентябрь", "Октябрь", "Ноябрь",
          "Декабрь")
WRITES = {"postSendMessage", "chatRead", "putBookingsInfo", "putIntervals"}


WORLD = {"seed": 11, "n_items": 4, "n_chats": 12}


@pytest.fixture(scope="module")
def synced_file(tmp_path_factory):
    return synced_store_file(tmp_path_factory, Sandbox(**WORLD))


@pytest.fixture
def sandbox():
    return Sandbox(**WORLD)


@pytest.fixture
async def client(sandbox):
    async with open_client(sandbox=sandbox) as client:
        yield client


@pytest.fixture
def store(synced_file, tmp_path):
    """A copy of the store synced once from a sandbox identical to ``sandbox``."""
    return Store(copy_store(synced_file, tmp_path, "widgets.duckdb"))


def writes(sandbox: Sandbox, operation: str | None = None) -> list:
    return [r for r in sandbox.requests if r.operation in WRITES and operation in (None, r.operation)]


def waiting_chat(inbox: InboxWidget) -> str:
    return next(chat_id for chat_id, row in inbox._rows.items() if row["waited"] is not None)


# -- inbox --------------------------------------------------------------------------------------------------


async def test_inbox_lists_unread_and_waiting_chats_first(client, store):
    frame = metrics.inbox(store)
    attention = frame["needs_attention"].tolist()
    assert attention == sorted(attention, reverse=True) and any(attention) and not all(attention)
    inbox = InboxWidget(client, store)
    labels = [label for label, _ in inbox.chat_list.options]
    assert len(labels) == len(frame)
    assert labels[0].startswith(("● ", "ждёт ")) and not labels[-1].startswith(("● ", "ждёт "))
    inbox.only_waiting.value = True
    assert len(inbox.chat_list.options) == sum(attention)


async def test_selecting_a_chat_shows_its_conversation(client, store):
    inbox = InboxWidget(client, store)
    chat_id = waiting_chat(inbox)
    inbox.chat_list.value = chat_id
    last = store.messages(chat_id)["text"].dropna().iloc[-1]
    assert last.split("\n")[0][:20] in inbox.conversation.value.replace("&#x27;", "'").replace("&quot;", '"')
    assert inbox._rows[chat_id]["other_user_name"] in inbox.header.value


async def test_send_needs_confirmation_then_sends_once_and_audits(sandbox, client, store):
    inbox = InboxWidget(client, store)
    chat_id = waiting_chat(inbox)
    inbox.chat_list.value = chat_id
    inbox.reply.value = "Здравствуйте! Да, квартира свободна."
    assert inbox.counter.value.endswith("36 / 1000</span>")
    assert not inbox.send_button.disabled and inbox.confirm_box.layout.display == "none"

    inbox.send_button.click()
    assert inbox.confirm_box.layout.display == "flex" and "квартира свободна" in inbox.preview.value
    assert inbox.reply.disabled and inbox.send_button.disabled
    assert writes(sandbox) == []  # nothing leaves before Confirm

    inbox.confirm_button.click()
    inbox.confirm_button.click()  # a double click
    assert inbox.confirm_button.disabled and inbox.pending is not None
    await inbox.wait_idle()

    assert len(writes(sandbox, "postSendMessage")) == 1
    assert sandbox.chats[chat_id].messages[-1]["content"] == {"text": "Здравствуйте! Да, квартира свободна."}
    stored = store.messages(chat_id)
    assert stored.iloc[-1]["text"] == "Здравствуйте! Да, квартира свободна." and stored.iloc[-1]["direction"] == "out"
    audit = store.audit_log()
    assert audit[["action", "target", "outcome"]].values.tolist() == [["reply", chat_id, "ok"]]
    assert "квартира свободна" in inbox.conversation.value  # shown at once
    assert inbox.reply.value == "" and inbox.confirm_box.layout.display == "none"
    assert inbox._rows[chat_id]["waited"] is None  # answered: no longer waiting
    assert inbox.output.outputs == ()


async def test_a_click_delivered_on_another_thread_runs_on_the_widget_loop(sandbox, client, store):
    """JupyterLab may deliver widget messages on a kernel subshell (a thread with its own loop); the write must
    still run on the loop the client belongs to."""
    inbox = InboxWidget(client, store)
    chat_id = waiting_chat(inbox)
    inbox.chat_list.value = chat_id
    inbox.reply.value = "Добрый вечер"
    inbox.send_button.click()

    async def click_twice() -> None:
        inbox.confirm_button.click()
        inbox.confirm_button.click()

    await asyncio.to_thread(asyncio.run, click_twice())
    await inbox.wait_idle()
    assert inbox.output.outputs == ()
    assert len(writes(sandbox, "postSendMessage")) == 1
    assert sandbox.chats[chat_id].messages[-1]["content"] == {"text": "Добрый вечер"}


@pytest.mark.parametrize("text, problem", [
    ("", "пустое"),
    ("   \n ", "пустое"),
    ("я" * 1001, "1001 символ из 1000"),
    ("Ждём вас {check_in}!", "{check_in}"),
])
async def test_invalid_reply_is_refused_in_the_widget(sandbox, client, store, text, problem):
    inbox = InboxWidget(client, store)
    inbox.chat_list.value = waiting_chat(inbox)
    inbox.reply.value = text
    assert inbox.send_button.disabled
    assert inbox.counter.value.endswith(f"{len(text)} / 1000</span>")
    inbox.send_button.click()  # click() bypasses `disabled`: the handler refuses on its own
    inbox.confirm_button.click()
    await inbox.wait_idle()
    assert problem in inbox.status.value and "Не отправлено" in inbox.status.value
    assert inbox.confirm_box.layout.display == "none"
    assert writes(sandbox) == [] and store.audit_log().empty


async def test_cancel_sends_nothing(sandbox, client, store):
    inbox = InboxWidget(client, store)
    inbox.chat_list.value = waiting_chat(inbox)
    inbox.reply.value = "Добрый день"
    inbox.send_button.click()
    inbox.cancel_button.click()
    inbox.confirm_button.click()
    await inbox.wait_idle()
    assert writes(sandbox) == [] and inbox.reply.value == "Добрый день" and not inbox.send_button.disabled


async def test_template_is_filled_from_the_guest_booking(client, store):
    inbox = InboxWidget(client, store, today=TODAY)
    chat_id = next(c for c, row in inbox._rows.items()
                   if row["item_id"] is not None and inbox.placeholder_values(c)["check_in"] is None)
    row = inbox._rows[chat_id]
    first_name, initial = row["other_user_name"].split()[0], row["other_user_name"].split()[1][0]
    check_in, check_out = TODAY + dt.timedelta(days=40), TODAY + dt.timedelta(days=43)
    store.upsert_bookings(pd.DataFrame({
        "booking_id": [424242], "item_id": [row["item_id"]], "check_in": [check_in], "check_out": [check_out],
        "status": ["active"], "base_price": [9000], "guest_name": [f"{first_name} {initial}ванов"]}), 1)
    inbox.chat_list.value = chat_id
    inbox.template.value = "Заселение"
    assert inbox.reply.value == (f"{first_name}, ждём вас {check_in:%d.%m.%Y}! Заселение с 14:00, выезд "
                                 f"{check_out:%d.%m.%Y} до 12:00. Адрес и код от домофона пришлю в день заезда.")
    assert not inbox.send_button.disabled
    inbox.template.value = "Приветствие"
    assert f"«{row['title']}»" in inbox.reply.value


async def test_template_without_a_booking_keeps_placeholders_and_send_disabled(client, store):
    inbox = InboxWidget(client, store)
    chat_id = next(c for c, row in inbox._rows.items() if row["item_id"] is None)  # u2u: no listing
    inbox.chat_list.value = chat_id
    inbox.template.value = "Даты свободны"
    assert "{check_in}" in inbox.reply.value and "{listing_title}" in inbox.reply.value
    assert inbox.send_button.disabled and "вручную" in inbox.status.value
    assert fill_template("{guest_name} {check_in}", {"guest_name": "Анна", "check_in": None}) == "Анна {check_in}"


async def test_mark_read_marks_the_chat_on_avito_and_in_the_store(sandbox, client, store):
    inbox = InboxWidget(client, store)
    chat_id = next(c for c, row in inbox._rows.items() if row["unread"] > 0)
    inbox.chat_list.value = chat_id
    inbox.mark_read_button.click()
    inbox.mark_read_button.click()
    await inbox.wait_idle()
    assert len(writes(sandbox, "chatRead")) == 1
    assert all(m["is_read"] for m in sandbox.chats[chat_id].messages if m["direction"] == "in")
    label = next(label for label, value in inbox.chat_list.options if value == chat_id)
    assert inbox._rows[chat_id]["unread"] == 0 and not label.startswith("● ")
    assert store.query("SELECT count(*) n FROM messages WHERE chat_id = ? AND direction = 'in' "
                       "AND NOT is_read", [chat_id])["n"][0] == 0
    assert store.audit_log()[["action", "outcome"]].values.tolist() == [["mark_read", "ok"]]


async def test_a_failed_send_is_shown_audited_and_keeps_the_text(sandbox, client, store):
    inbox = InboxWidget(client, store)
    chat_id = waiting_chat(inbox)
    inbox.chat_list.value = chat_id
    inbox.reply.value = "Здравствуйте"
    before = len(sandbox.chats[chat_id].messages)
    sandbox.queue_fault("503", path_contains="/messages")
    inbox.send_button.click()
    inbox.confirm_button.click()
    await inbox.wait_idle()
    assert len(sandbox.chats[chat_id].messages) == before
    assert "AvitoServerError" in inbox.output.outputs[0]["text"] and "Ошибка" in inbox.status.value
    assert store.audit_log()["outcome"].tolist() == ["failed"]
    assert inbox.reply.value == "Здравствуйте" and not inbox.send_button.disabled


# -- calendar -----------------------------------------------------------------------------------------------


def free_range(store: Store, item_id: int, nights: int = 3, start: int = 20) -> tuple[dt.date, dt.date]:
    """The first run of ``nights`` free nights from ``start`` days ahead."""
    busy = store.bookings(item_id, statuses=["active", "pending"])
    day = TODAY + dt.timedelta(days=start)
    while True:
        end = day + dt.timedelta(days=nights)
        if not ((busy["check_in"].dt.date < end) & (busy["check_out"].dt.date > day)).any():
            return day, end
        day += dt.timedelta(days=1)


def active_booking(store: Store, item_id: int) -> tuple[dt.date, dt.date]:
    future = store.bookings(item_id, statuses=["active"]).query("check_in > @pd.Timestamp.now()")
    row = future.iloc[0]
    return row["check_in"].date(), row["check_out"].date()


async def test_block_previews_then_pushes_once_and_audits(sandbox, client, store):
    cal = CalendarWidget(client, store, today=TODAY)
    item_id = cal.item_id
    first, last = free_range(store, item_id)
    cal.date_from.value, cal.date_to.value = first, last
    cal.comment.value = "ремонт"
    cal.block_button.click()
    assert cal.confirm_box.layout.display == "flex" and not cal.confirm_button.disabled
    assert f"Закрыть даты объявления {item_id}: ночи {first:%d.%m.%Y}" in cal.preview.value
    assert f"закрыты ночи {first:%d.%m.%Y} – {last - dt.timedelta(days=1):%d.%m.%Y}" in cal.preview.value
    assert writes(sandbox) == []

    cal.confirm_button.click()
    cal.confirm_button.click()
    await cal.wait_idle()

    assert len(writes(sandbox, "putBookingsInfo")) == 1
    assert {"date_start": first.isoformat(), "date_end": last.isoformat(), "type": "manual",
            "comment": "ремонт"} in sandbox.blocks[item_id]
    assert store.calendar_blocks(item_id)[["date_start", "date_end"]].map(pd.Timestamp.date).values.tolist() == [
        [first, last]]
    assert store.audit_log()[["action", "target", "outcome"]].values.tolist() == [
        ["calendar_block", str(item_id), "ok"]]
    assert "Закрыты ночи" in cal.status.value and cal.confirm_box.layout.display == "none"
    cal.month = first.replace(day=1)
    cal.refresh()
    assert f"data-state='blocked' data-date='{first.isoformat()}'" in cal.grid.value
    assert "ремонт" in cal.blocks_view.value


@pytest.mark.slow
async def test_open_after_block_pushes_blocks_and_availability(sandbox, client, store):
    cal = CalendarWidget(client, store, today=TODAY)
    item_id = cal.item_id
    first, last = free_range(store, item_id, nights=4)
    cal.date_from.value, cal.date_to.value = first, last
    cal.block_button.click()
    cal.confirm_button.click()
    await cal.wait_idle()
    cal.date_from.value, cal.date_to.value = first, first + dt.timedelta(days=2)
    cal.open_button.click()
    assert "Открыть даты объявления" in cal.preview.value and "доступность" in cal.preview.value
    cal.confirm_button.click()
    await cal.wait_idle()
    assert sandbox.blocks[item_id] == [{"date_start": (first + dt.timedelta(days=2)).isoformat(),
                                        "date_end": last.isoformat(), "type": "manual", "comment": None}]
    assert len(writes(sandbox, "putIntervals")) == 1
    assert store.audit_log()["outcome"].tolist() == ["ok", "ok"]


async def test_block_over_an_active_booking_cannot_be_confirmed(sandbox, client, store):
    cal = CalendarWidget(client, store, today=TODAY)
    check_in, _ = active_booking(store, cal.item_id)
    cal.date_from.value, cal.date_to.value = check_in - dt.timedelta(days=1), check_in + dt.timedelta(days=1)
    cal.block_button.click()
    assert "есть активные брони" in cal.preview.value and cal.confirm_button.disabled
    cal.confirm_button.click()
    await cal.wait_idle()
    assert writes(sandbox) == [] and store.audit_log().empty and cal.item_id not in sandbox.blocks


@pytest.mark.parametrize("days, problem", [
    ((10, 8), "должна быть позже «С ночи»"),
    ((10, 10), "должна быть позже «С ночи»"),
    ((-10, -8), "уже прошли"),
    ((10, None), "Выберите даты «С ночи» и «По»"),
])
async def test_bad_ranges_are_refused_with_nothing_planned(sandbox, client, store, days, problem):
    cal = CalendarWidget(client, store, today=TODAY)
    cal.date_from.value = TODAY + dt.timedelta(days=days[0])
    cal.date_to.value = None if days[1] is None else TODAY + dt.timedelta(days=days[1])
    cal.block_button.click()
    cal.confirm_button.click()
    await cal.wait_idle()
    assert problem in cal.status.value and cal.plan is None and cal.confirm_box.layout.display == "none"
    assert writes(sandbox) == []


async def test_changing_the_dates_discards_the_preview(sandbox, client, store):
    cal = CalendarWidget(client, store, today=TODAY)
    first, last = free_range(store, cal.item_id)
    cal.date_from.value, cal.date_to.value = first, last
    cal.block_button.click()
    cal.date_to.value = last + dt.timedelta(days=1)
    assert cal.plan is None and cal.confirm_box.layout.display == "none"
    cal.confirm_button.click()
    await cal.wait_idle()
    assert writes(sandbox) == []


async def test_month_navigation_and_listing_picker(client, store):
    cal = CalendarWidget(client, store, today=TODAY)
    assert cal.listing.options[0][1] == cal.item_id and len(cal.listing.options) == len(store.items())
    start = cal.month
    cal.next_button.click()
    cal.next_button.click()
    cal.prev_button.click()
    assert (cal.month.year * 12 + cal.month.month) - (start.year * 12 + start.month) == 1
    assert f"{MONTHS[cal.month.month - 1]} {cal.month.year}" in cal.month_label.value
    cal.listing.value = cal.listing.options[1][1]
    assert cal.grid.value.count("data-state=") == pd.Period(cal.month, "M").days_in_month


# -- sync ---------------------------------------------------------------------------------------------------


async def test_sync_button_syncs_once_and_shows_the_report(sandbox, client, tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    done = []
    button = SyncButton(client, store, progress=False, on_done=done.append)
    button.button.click()
    button.button.click()
    assert button.button.disabled
    await button.wait_idle()
    assert len(store.sync_runs()) == 1 and store.counts()["items"] == 4
    assert done == [button.report] and "Synced account" in button.report_view.value
    assert button.bar.bar_style == "success" and button.bar.value == button.bar.max
    assert not button.button.disabled


async def test_a_failing_sync_is_shown_in_the_output(sandbox, tmp_path):
    waits = []

    async def no_wait(seconds: float) -> None:  # the client's backoff, recorded instead of waited
        waits.append(seconds)

    store = Store(tmp_path / "empty.duckdb")
    async with open_client(sandbox=sandbox, sleep=no_wait) as client:
        button = SyncButton(client, store, progress=False)
        for _ in range(6):  # more than the client's retries
            sandbox.queue_fault("503", path_contains="/core/v1/items")
        button.button.click()
        await button.wait_idle()
    assert waits  # it did retry
    assert "AvitoServerError" in "".join(o.get("text", "") for o in button.output.outputs)
    assert store.sync_runs()["status"].tolist() == ["failed"] and not button.button.disabled
    assert button.bar.bar_style == "danger" and button.report is None


# -- dashboard ----------------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_dashboard_follows_its_pickers_in_place(store):
    board = Dashboard(store, today=TODAY)
    grid_widget, monthly_widget = board.grid_figure, board.monthly_figure
    first, last = TODAY.replace(day=1), board.date_to.value
    expected = metrics.kpis(store, first, last, by="total")
    assert board.kpis["nights_booked"].tolist() == expected["nights_booked"].tolist()
    assert format_pct(expected["occupancy"][0]) in board.cards.value
    assert [t.type for t in grid_widget.data] == ["heatmap"] * 3 and len(monthly_widget.data) == 4

    board.period.value = "Следующие 90 ночей"
    assert (board.date_from.value, board.date_to.value) == (TODAY, TODAY + dt.timedelta(days=89))
    assert board.grid_figure is grid_widget and len(grid_widget.data[0].x) == 90  # the same widget, new data

    item_id = board.listing.options[1][1]  # active listings first
    assert store.items().set_index("item_id").loc[item_id, "status"] == "active"
    board.listing.value = item_id
    one = metrics.kpis(store, TODAY, TODAY + dt.timedelta(days=89), by="total", item_ids=[item_id])
    assert board.kpis["revenue"].tolist() == one["revenue"].tolist()
    assert {len(set(t.y)) for t in grid_widget.data if t.y is not None} == {1}

    board.date_from.value = TODAY + dt.timedelta(days=10)
    assert board.period.value == "Свои даты" and board.kpis["nights_total"][0] == 80
    board.date_to.value = TODAY
    assert "Выберите период" in board.status.value and board.output.outputs == ()


async def test_replace_figure_updates_traces_of_the_same_kind_in_place():
    target = go.FigureWidget(go.Figure(go.Bar(x=[1, 2], y=[3, 4])))
    bar = target.data[0]
    replace_figure(target, go.Figure(go.Bar(x=[5], y=[6]), layout={"title": {"text": "новый"}}))
    assert target.data[0] is bar and list(bar.x) == [5] and target.layout.title.text == "новый"
    replace_figure(target, go.Figure([go.Scatter(x=[1], y=[1]), go.Scatter(x=[2], y=[2])]))
    assert [t.type for t in target.data] == ["scatter", "scatter"]


async def test_dashboard_slices_its_kept_grid_exactly_as_metrics_reads_it(store):
    board = Dashboard(store, today=TODAY)
    active = board.listing.options[1][1]
    inactive = [item_id for label, item_id in board.listing.options[1:] if label.endswith(")")][:1] or None
    periods = [(TODAY, TODAY + dt.timedelta(days=29)), (TODAY - dt.timedelta(days=20), TODAY + dt.timedelta(days=5)),
               (board._facts_from, board._facts_to)]
    for first, last in periods:
        for ids in (None, [active], inactive):
            expected = metrics.grid(store, first, last, item_ids=ids)
            # An empty read has no dtypes to compare (DuckDB gives object columns then).
            pd.testing.assert_frame_equal(board._grid(first, last, ids), expected, check_dtype=len(expected) > 0)


async def test_replace_figure_clears_what_the_new_layout_lacks_and_keeps_the_template():
    target = go.FigureWidget()
    replace_figure(target, charts.occupancy_grid(None))  # the empty chart: an annotation, hidden axes
    assert len(target.layout.annotations) == 1 and target.layout.xaxis.visible is False
    shown = charts.length_of_stay_histogram(pd.DataFrame({"nights": [1, 2], "stays": [3, 4]}))
    replace_figure(target, shown)
    assert target.layout.annotations == () and target.layout.xaxis.visible is None
    assert target.layout.title.text == shown.layout.title.text and target.layout.template == shown.layout.template
