"""Jupyter widgets: thin ipywidgets wiring over the client, the store and the actions.

Each widget builds its controls, observes their ``value`` and calls the library: it reads the store, plans with
``actions`` and sends through ``actions.send_reply`` / ``actions.apply_plan`` (which audit every write). A write
runs as a task on the kernel's event loop, so the interface never freezes; while it runs, the buttons that
start one are disabled and a second click is ignored (a double click sends once). Every error, from a callback
or a task, lands in the widget's ``output`` area and its status line, never in the kernel's log alone.

>>> inbox = InboxWidget(client, store)     # display(inbox) in a cell
>>> await inbox.wait_idle()                # tests: wait for the write a click started

Stable CSS classes (``avito-reply-text``, ``avito-send``, ``avito-confirm``, ...) are for browser tests.
"""

from __future__ import annotations

import asyncio
import calendar
import concurrent.futures
import datetime as dt
import html
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from . import charts, metrics
from .actions import Plan, apply_plan, mark_read, plan_block, plan_open, send_reply
from .checks import MAX_MESSAGE_LENGTH, check_text
from .client import AvitoApiClient
from .errors import AvitoError
from .store import Store
from .sync import SyncReport, sync

__all__ = ["TEMPLATES", "CalendarWidget", "Dashboard", "InboxWidget", "SyncButton"]

# Reply templates: {guest_name}, {listing_title}, {check_in}, {check_out} come from the chat, its listing and
# the guest's upcoming booking; a placeholder left unfilled keeps Send disabled until the host edits it.
TEMPLATES: dict[str, str] = {
    "Приветствие": "Здравствуйте, {guest_name}! Спасибо за интерес к «{listing_title}». Чем могу помочь?",
    "Даты свободны": "Здравствуйте, {guest_name}! Да, «{listing_title}» свободна с {check_in} по {check_out}. "
                     "Бронируйте, буду рад(а) вас принять.",
    "Заселение": "{guest_name}, ждём вас {check_in}! Заселение с 14:00, выезд {check_out} до 12:00. "
                 "Адрес и код от домофона пришлю в день заезда.",
    "Даты заняты": "Здравствуйте, {guest_name}! К сожалению, «{listing_title}» на эти даты уже занята. "
                   "Могу предложить другие даты.",
    "Спасибо за отзыв": "{guest_name}, спасибо, что выбрали «{listing_title}»! Будем рады видеть вас снова.",
}
PLACEHOLDERS = ("guest_name", "listing_title", "check_in", "check_out")
CHAT_LIST_LIMIT = 300
CONVERSATION_LIMIT = 60  # the newest messages shown; older ones stay in the store

MONTH_NAMES = ("Январь", "Февраль", "Март", "Апрель", "Май", "Июнь", "Июль", "Август", "Сентябрь", "Октябрь",
               "Ноябрь", "Декабрь")
_STATE_LABELS = {**charts.STATE_LABELS, "pending": "Ожидает оплаты"}  # the legend's and the cells' names
_BOOKING_STATUS = {"active": "активна", "pending": "ожидает оплаты"}
_MESSAGE_TYPES = {"image": "фото", "voice": "голосовое сообщение", "file": "файл", "link": "ссылка",
                  "item": "объявление", "location": "геолокация", "call": "звонок", "video": "видео",
                  "system": "системное сообщение", "deleted": "сообщение удалено"}
_ITEM_STATUS = {"old": "в архиве", "removed": "удалено", "blocked": "заблокировано", "rejected": "отклонено"}

_STATE_STYLE = {  # calendar cell colours (background, text): the charts' and the report's, plus "pending"
    "booked": (charts.STATE_COLOURS["booked"], "#ffffff"),
    "pending": ("#FFE0B2", "#5D3A00"),
    "blocked": (charts.STATE_COLOURS["blocked"], "#ffffff"),
    "free": (charts.STATE_COLOURS["free"], "#37474F"),
}


class _ActionWidget(widgets.VBox):
    """A box whose writes run one at a time as event-loop tasks, with a status line and an error ``output``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = _classed(widgets.HTML(), "avito-status")
        self.output = _classed(widgets.Output(layout=widgets.Layout(max_height="240px", overflow="auto")),
                               "avito-output")
        self.pending: asyncio.Future | concurrent.futures.Future | None = None  # the write in flight (tests await)
        self._tasks: set = set()  # strong references: the loop keeps only weak ones
        # The loop of the cell that built the widget, which the client's connections and locks belong to.
        # JupyterLab may deliver widget messages on a kernel subshell, a thread with a loop of its own:
        # a write must still run on this loop.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    @property
    def busy(self) -> bool:
        return self.pending is not None and not self.pending.done()

    async def wait_idle(self) -> None:
        """Wait until the write in flight (if any) has finished; its errors are already in ``output``."""
        while self.busy:
            pending = self.pending
            if isinstance(pending, concurrent.futures.Future):
                pending = asyncio.wrap_future(pending)
            await asyncio.wait({pending})

    def _launch(self, make: Callable[[], Awaitable[Any]]) -> asyncio.Future | concurrent.futures.Future | None:
        """Run ``make()`` as a task on the widget's loop (the kernel's); ignored while another write runs."""
        if self.busy:
            self._say("Подождите: предыдущее действие ещё выполняется…", "warn")
            return None
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        loop = self._loop if self._loop is not None and not self._loop.is_closed() else current
        if loop is None:  # plain Python, no loop anywhere: run it to completion here
            from .aio import run

            run(self._guarded(make))
            return None
        if loop is current:
            task: asyncio.Future | concurrent.futures.Future = loop.create_task(self._guarded(make))
        else:
            task = asyncio.run_coroutine_threadsafe(self._guarded(make), loop)
        self.pending = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._sync_controls()
        return task

    async def _guarded(self, make: Callable[[], Awaitable[Any]]) -> None:
        try:
            await make()
        except Exception as exc:  # shown, not raised: nobody awaits a button's task
            self._show_error(exc)
        finally:
            self._finish()

    def _finish(self) -> None:
        # Called from inside the task: `busy` is still true until it returns, so clear it first.
        self.pending = None
        try:
            self._sync_controls()
        except Exception as exc:
            self._show_error(exc)

    def _routed(self, handler: Callable[..., Any]) -> Callable[..., None]:
        """Wrap a callback so an exception reaches ``output`` instead of the kernel's log."""

        def call(*args: Any) -> None:
            try:
                handler(*args)
            except Exception as exc:
                self._show_error(exc)

        return call

    def _show_error(self, exc: BaseException) -> None:
        expected = isinstance(exc, AvitoError | ValueError | OSError)
        text = f"{type(exc).__name__}: {exc}\n" if expected else "".join(traceback.format_exception(exc))
        self.output.append_stderr(text)
        self._say(f"Ошибка: {exc}", "error")

    def _say(self, text: str, kind: str = "info") -> None:
        color = {"info": "#1b5e20", "warn": "#8a6d00", "error": "#b71c1c"}[kind]
        self.status.value = f'<span style="color:{color}">{html.escape(text)}</span>'

    def _sync_controls(self) -> None:
        """Set every control's enabled state from the widget's state."""


# -- inbox ----------------------------------------------------------------------------------------------


class InboxWidget(_ActionWidget):
    """Guest chats, unread or waiting for a reply first; the conversation; a reply box with templates, a
    character counter and a confirmation step; mark read.

    >>> inbox = InboxWidget(client, store)
    >>> inbox.chat_list.value = chat_id; inbox.reply.value = "Здравствуйте!"
    >>> inbox.send_button.click(); inbox.confirm_button.click(); await inbox.wait_idle()
    """

    def __init__(self, client: AvitoApiClient, store: Store, *, templates: dict[str, str] | None = None,
                 today: dt.date | None = None) -> None:
        super().__init__(layout=widgets.Layout(width="100%"))
        self.client, self.store = client, store
        self.templates = dict(TEMPLATES if templates is None else templates)
        self.today = today
        self._rows: dict[str, dict] = {}
        self._draft: tuple[str, str] | None = None  # (chat_id, text) awaiting confirmation
        self._refreshing = False

        self.only_waiting = widgets.Checkbox(value=False, description="Только новые и без ответа", indent=False,
                                             layout=_auto())
        self.reload_button = _classed(widgets.Button(description="Обновить", icon="refresh",
                                                     tooltip="Заново прочитать чаты из базы"), "avito-reload")
        self.chat_list = _classed(widgets.Select(options=[], rows=18, layout=widgets.Layout(width="100%")),
                                  "avito-chat-list")
        self.header = _classed(widgets.HTML(), "avito-chat-header")
        self.conversation = _classed(widgets.HTML(), "avito-conversation")
        self.template = _classed(widgets.Dropdown(options=[("— шаблон —", "")], description="Шаблон",
                                                  layout=widgets.Layout(width="100%")), "avito-template")
        self.reply = _classed(widgets.Textarea(placeholder="Ответить…", rows=4,
                                               layout=widgets.Layout(width="100%")), "avito-reply-text")
        self.counter = _classed(widgets.HTML(), "avito-counter")
        self.hint = _classed(widgets.HTML(), "avito-hint")
        self.send_button = _classed(widgets.Button(description="Отправить…", icon="paper-plane",
                                                   button_style="primary", layout=_auto()), "avito-send")
        self.mark_read_button = _classed(widgets.Button(description="Отметить прочитанным", icon="check",
                                                        layout=_auto()),
                                         "avito-mark-read")
        self.preview, self.confirm_button, self.cancel_button, self.confirm_box = _confirm_step()

        left = widgets.VBox([widgets.HBox([self.reload_button, self.only_waiting]), self.chat_list],
                            layout=widgets.Layout(width="42%", min_width="320px"))
        right = widgets.VBox([self.header, self.conversation, self.template, self.reply,
                              widgets.HBox([self.counter, self.send_button, self.mark_read_button],
                                           layout=widgets.Layout(align_items="center")),
                              self.hint, self.confirm_box],
                             layout=widgets.Layout(width="58%", padding="0 0 0 10px"))
        self.children = [widgets.HBox([left, right], layout=widgets.Layout(width="100%")), self.status, self.output]
        self.add_class("avito-inbox")

        self.chat_list.observe(self._routed(self._on_select), "value")
        self.only_waiting.observe(self._routed(lambda _: self.refresh()), "value")
        self.template.observe(self._routed(self._on_template), "value")
        self.reply.observe(self._routed(lambda _: self._sync_controls()), "value")
        self.reload_button.on_click(self._routed(lambda _: self.refresh()))
        self.send_button.on_click(self._routed(self._on_send))
        self.confirm_button.on_click(self._routed(self._on_confirm))
        self.cancel_button.on_click(self._routed(self._on_cancel))
        self.mark_read_button.on_click(self._routed(self._on_mark_read))
        self._routed(self.refresh)()

    @property
    def chat_id(self) -> str | None:
        """The selected chat."""
        return self.chat_list.value

    def refresh(self) -> None:
        """Read the chat list from the store again, keeping the selection."""
        frame = inbox_frame(self.store, now=_utc_now())
        if self.only_waiting.value:
            frame = frame[frame["needs_attention"]]
        frame = frame.head(CHAT_LIST_LIMIT)
        self._rows = {row["chat_id"]: row for row in _records(frame)}
        selected = self.chat_list.value
        options = [(_chat_label(row), row["chat_id"]) for row in self._rows.values()]
        self._refreshing = True  # a new list resets the selection: put it back without clearing the draft
        try:
            self.chat_list.options = options
            self.chat_list.value = selected if selected in self._rows else None
        finally:
            self._refreshing = False
        self._show_chat()
        waiting = int(frame["needs_attention"].sum()) if len(frame) else 0
        if not self._rows:
            self._say("Чатов пока нет: сначала синхронизируйте данные с Авито.", "warn")
        elif not self.status.value:
            self._say(f"Чатов: {len(self._rows)}, новых или без ответа: {waiting}.")

    # -- callbacks ------------------------------------------------------------------------------------

    def _on_select(self, _change: Any) -> None:
        if self._refreshing:
            return
        self._draft = None
        self.reply.value = ""
        self.template.value = ""
        self._show_chat()
        self.status.value = ""

    def _on_template(self, change: Any) -> None:
        name = change["new"]
        if not name or self.chat_id is None:
            return
        values = self.placeholder_values(self.chat_id)
        self.reply.value = fill_template(self.templates[name], values)
        missing = [k for k in PLACEHOLDERS if values.get(k) is None and "{" + k + "}" in self.templates[name]]
        if missing:
            self._say("Предстоящая бронь гостя не найдена: замените " +
                      ", ".join("{" + k + "}" for k in missing) + " вручную.", "warn")

    def _on_send(self, _button: Any) -> None:
        problem = self._problem()
        if problem:
            self._say(f"Не отправлено: {problem}", "error")
            return
        self._draft = (self.chat_id, self.reply.value)
        row = self._rows.get(self.chat_id, {})
        length = len(self.reply.value)
        self.preview.value = (
            f"Получатель: <b>{html.escape(row.get('other_user_name') or 'гость')}</b>"
            f" («{html.escape(row.get('title') or 'без объявления')}»), {length} "
            f"{charts.plural(length, 'символ', 'символа', 'символов')}:"
            f"<div style='white-space:pre-wrap;background:#f5f5f5;padding:6px;margin:4px 0'>"
            f"{html.escape(self.reply.value)}</div>")
        self._say("Проверьте сообщение и подтвердите отправку.", "info")
        self._sync_controls()

    def _on_confirm(self, _button: Any) -> None:
        if self.busy or self._draft is None:
            return  # a second click while sending, or nothing to confirm: never a second message
        chat_id, text = self._draft
        self._draft = None
        self._say("Отправляем…", "info")
        self._launch(lambda: self._send_reply(chat_id, text))

    def _on_cancel(self, _button: Any) -> None:
        self._draft = None
        self._say("Не отправлено.", "info")
        self._sync_controls()

    def _on_mark_read(self, _button: Any) -> None:
        if self.chat_id is None or self.busy:
            return
        chat_id = self.chat_id
        self._launch(lambda: self._mark_read(chat_id))

    # -- writes ---------------------------------------------------------------------------------------

    async def _send_reply(self, chat_id: str, text: str) -> None:
        try:
            await send_reply(self.client, self.store, chat_id, text)
        except BaseException:
            if self.chat_id == chat_id and not self.reply.value:
                self.reply.value = text  # keep the text so the host can decide what to do
            raise
        if self.chat_id == chat_id:
            self.reply.value = ""
            self.template.value = ""
        self.refresh()
        self._say(f"Отправлено в {dt.datetime.now():%H:%M}, записано в журнал.", "info")

    async def _mark_read(self, chat_id: str) -> None:
        await mark_read(self.client, self.store, chat_id)
        self.refresh()
        self._say("Чат отмечен прочитанным на Авито.", "info")

    # -- views ----------------------------------------------------------------------------------------

    def placeholder_values(self, chat_id: str) -> dict[str, str | None]:
        """``guest_name``, ``listing_title``, ``check_in``, ``check_out`` for a chat (None when unknown)."""
        row = self._rows.get(chat_id) or {}
        booking = guest_booking(self.store, row.get("item_id"), row.get("other_user_name"),
                                self.today or dt.date.today())
        name = (booking or {}).get("guest_name") or row.get("other_user_name")
        return {
            "guest_name": name.split()[0] if name else None,
            "listing_title": row.get("title"),
            "check_in": _ru_date(booking["check_in"]) if booking else None,
            "check_out": _ru_date(booking["check_out"]) if booking else None,
        }

    def _show_chat(self) -> None:
        chat_id = self.chat_id
        row = self._rows.get(chat_id) if chat_id else None
        names = list(self.templates)
        self.template.options = [("— шаблон —", ""), *[(n, n) for n in names]]
        if row is None:
            self.header.value = "<i>Выберите чат слева.</i>"
            self.conversation.value = ""
        else:
            self.header.value = _chat_header(row, guest_booking(self.store, row.get("item_id"),
                                                                row.get("other_user_name"),
                                                                self.today or dt.date.today()))
            messages = self.store.messages(chat_id).tail(CONVERSATION_LIMIT)
            self.conversation.value = _conversation_html(messages)
        self._sync_controls()

    def _problem(self) -> str | None:
        if self.chat_id is None:
            return "сначала выберите чат"
        text = self.reply.value
        try:
            check_text(text)
        except ValueError as exc:  # check_text speaks to developers: say it to the host
            if not text.strip():
                return "сообщение пустое"
            if len(text) > MAX_MESSAGE_LENGTH:
                n = len(text)
                return (f"слишком длинное сообщение: {n} {charts.plural(n, 'символ', 'символа', 'символов')} "
                        f"из {MAX_MESSAGE_LENGTH}")
            return str(exc)
        unfilled = [p for p in PLACEHOLDERS if "{" + p + "}" in text]
        if unfilled:
            return "замените " + ", ".join("{" + p + "}" for p in unfilled) + " своим текстом"
        return None

    def _sync_controls(self) -> None:
        text = self.reply.value
        over = len(text) > MAX_MESSAGE_LENGTH
        color = "#b71c1c" if over else "#555"
        self.counter.value = (f'<span style="color:{color};font-family:monospace;margin-right:8px">'
                              f"{len(text)} / {MAX_MESSAGE_LENGTH}</span>")
        problem = self._problem()
        show_hint = problem and text and self.chat_id is not None
        self.hint.value = f'<span style="color:#b71c1c">{html.escape(problem)}</span>' if show_hint else ""
        confirming = self._draft is not None
        self.send_button.disabled = self.busy or confirming or problem is not None
        self.reply.disabled = self.template.disabled = self.busy or confirming
        self.confirm_button.disabled = self.cancel_button.disabled = self.busy or not confirming
        self.mark_read_button.disabled = self.busy or self.chat_id is None
        self.chat_list.disabled = self.busy
        self.confirm_box.layout.display = "flex" if confirming else "none"


# -- calendar -------------------------------------------------------------------------------------------


class CalendarWidget(_ActionWidget):
    """A listing's month (booked / blocked / free), and closing or opening nights FROM <= night < TO with a
    preview of exactly what will be pushed; a range overlapping an active booking cannot be confirmed.

    >>> cal = CalendarWidget(client, store)
    >>> cal.date_from.value, cal.date_to.value = dt.date(2027, 1, 10), dt.date(2027, 1, 12)
    >>> cal.block_button.click(); cal.confirm_button.click(); await cal.wait_idle()
    """

    def __init__(self, client: AvitoApiClient, store: Store, *, item_id: int | None = None,
                 today: dt.date | None = None) -> None:
        super().__init__(layout=widgets.Layout(width="100%"))
        self.client, self.store = client, store
        self.today = today or dt.date.today()
        self.plan: Plan | None = None  # the previewed plan awaiting confirmation

        self.listing = _classed(widgets.Dropdown(options=_listing_options(store), description="Объявление",
                                                 style={"description_width": "initial"},
                                                 layout=widgets.Layout(width="560px")), "avito-listing")
        if item_id is not None:
            self.listing.value = int(item_id)
        self.month = self.today.replace(day=1)
        self.prev_button = _classed(widgets.Button(icon="chevron-left", tooltip="Предыдущий месяц",
                                                   layout=widgets.Layout(width="40px")), "avito-prev-month")
        self.next_button = _classed(widgets.Button(icon="chevron-right", tooltip="Следующий месяц",
                                                   layout=widgets.Layout(width="40px")), "avito-next-month")
        self.month_label = _classed(widgets.HTML(), "avito-month")
        self.grid = _classed(widgets.HTML(), "avito-calendar-grid")
        self.blocks_view = _classed(widgets.HTML(), "avito-blocks")
        wide = {"description_width": "130px"}
        self.date_from = _classed(widgets.DatePicker(description="С ночи", style=wide), "avito-date-from")
        self.date_to = _classed(widgets.DatePicker(description="По (не включая)", style=wide), "avito-date-to")
        self.comment = _classed(widgets.Text(placeholder="например, ремонт", description="Комментарий", style=wide),
                                "avito-block-comment")
        self.block_button = _classed(widgets.Button(description="Закрыть даты…", icon="lock", button_style="warning",
                                                    layout=_auto()),
                                     "avito-block")
        self.open_button = _classed(widgets.Button(description="Открыть даты…", icon="unlock", button_style="info",
                                                   layout=_auto()),
                                    "avito-open")
        self.preview, self.confirm_button, self.cancel_button, self.confirm_box = _confirm_step()

        navigation = widgets.HBox([self.prev_button, self.month_label, self.next_button],
                                  layout=widgets.Layout(align_items="center"))
        form = widgets.VBox([self.date_from, self.date_to, self.comment,
                             widgets.HBox([self.block_button, self.open_button]), self.confirm_box],
                            layout=widgets.Layout(padding="0 0 0 16px"))
        month_view = widgets.VBox([navigation, self.grid, self.blocks_view], layout=widgets.Layout(flex="0 0 auto"))
        form.layout.flex = "1 1 auto"
        self.children = [self.listing, widgets.HBox([month_view, form]),
                         self.status, self.output]
        self.add_class("avito-calendar")

        self.listing.observe(self._routed(self._on_listing), "value")
        for picker in (self.date_from, self.date_to):
            picker.observe(self._routed(self._on_dates), "value")
        self.comment.observe(self._routed(self._on_dates), "value")
        self.prev_button.on_click(self._routed(lambda _: self.show_month(-1)))
        self.next_button.on_click(self._routed(lambda _: self.show_month(+1)))
        self.block_button.on_click(self._routed(lambda _: self._preview("block")))
        self.open_button.on_click(self._routed(lambda _: self._preview("open")))
        self.confirm_button.on_click(self._routed(self._on_confirm))
        self.cancel_button.on_click(self._routed(self._on_cancel))
        self._routed(self.refresh)()

    @property
    def item_id(self) -> int | None:
        return self.listing.value

    def show_month(self, step: int) -> None:
        """Move the grid ``step`` months."""
        self.month = _add_months(self.month, step)
        self.refresh()

    def refresh(self) -> None:
        """Draw the month again from the store."""
        self.month_label.value = (f"<b style='font-size:1.1em;padding:0 8px'>"
                                  f"{MONTH_NAMES[self.month.month - 1]} {self.month.year}</b>")
        if self.item_id is None:
            self.grid.value = "<i>Объявлений пока нет: сначала синхронизируйте данные с Авито.</i>"
            self.blocks_view.value = ""
        else:
            bookings = self.store.bookings(self.item_id, statuses=["active", "pending"])
            blocks = self.store.calendar_blocks(self.item_id)
            selection = (self.date_from.value, self.date_to.value)
            self.grid.value = month_grid_html(self.month, bookings, blocks, self.today, selection)
            self.blocks_view.value = _blocks_html(blocks, self.today)
        self._sync_controls()

    # -- callbacks ------------------------------------------------------------------------------------

    def _on_listing(self, _change: Any) -> None:
        self.plan = None
        self.status.value = ""
        self.refresh()

    def _on_dates(self, _change: Any) -> None:
        if self.plan is not None:  # the preview no longer matches the form: it must be made again
            self.plan = None
            self._say("Даты изменились: нажмите «Закрыть даты…» или «Открыть даты…» ещё раз.", "info")
        first = self.date_from.value
        if first is not None and not (self.month <= first < _add_months(self.month, 1)) and _change["owner"] is \
                self.date_from:
            self.month = first.replace(day=1)
        self.refresh()

    def _preview(self, action: str) -> None:
        if self.busy:
            return
        self.plan = None
        self._sync_controls()
        first, last = self.date_from.value, self.date_to.value
        if self.item_id is None:
            self._say("Выберите объявление.", "error")
            return
        if first is None or last is None:
            self._say("Выберите даты «С ночи» и «По».", "error")
            return
        if last <= first:
            self._say(f"Дата «По» ({_ru_date(last)}) должна быть позже «С ночи» ({_ru_date(first)}): "
                      "«По» — первая ночь, которая не меняется.", "error")
            return
        if last <= self.today:
            self._say("Эти даты уже прошли: календарь Авито начинается с сегодняшнего дня.", "error")
            return
        try:
            if action == "block":
                plan = plan_block(self.store, self.item_id, first, last, self.comment.value.strip() or None,
                                  today=self.today)
            else:
                plan = plan_open(self.store, self.item_id, first, last, today=self.today)
        except ValueError as exc:
            self._say(f"Не удалось подготовить изменения: {exc}", "error")
            return
        self.plan = plan
        # JupyterLab's output CSS breaks a <pre> inside any word: wrap the Russian lines at spaces only
        body = (f"<pre style='margin:0;white-space:pre-wrap;word-break:normal;overflow-wrap:break-word'>"
                f"{html.escape(plan.describe())}</pre>")
        if plan.conflicts:
            body = ("<div style='color:#b71c1c;font-weight:bold'>⚠ На эти даты есть активные брони: закрыть их "
                    "нельзя. Выберите другие даты.</div>" + body)
            self._say("Отказ: в диапазоне есть активные брони; ничего не отправлено.", "error")
        else:
            self._say("Проверьте, что уйдёт в Авито, и подтвердите.", "info")
        self.preview.value = body
        self._sync_controls()

    def _on_confirm(self, _button: Any) -> None:
        plan = self.plan
        if self.busy or plan is None or plan.conflicts:
            return  # a double click, nothing previewed, or a refused plan: nothing is sent
        self.plan = None
        self._say("Отправляем в Авито…", "info")
        self._launch(lambda: self._apply(plan))

    def _on_cancel(self, _button: Any) -> None:
        self.plan = None
        self._say("Ничего не отправлено.", "info")
        self._sync_controls()

    async def _apply(self, plan: Plan) -> None:
        outcome = await apply_plan(self.client, self.store, plan)
        self.refresh()
        verb = "Закрыты" if plan.action == "block" else "Открыты"
        result = "Авито принял изменения" if outcome == "ok" else outcome
        self._say(f"{verb} ночи {_ru_date(plan.date_from)} – {_ru_date(plan.date_to - dt.timedelta(days=1))} "
                  f"объявления {plan.item_id}: {result}, записано в журнал.", "info")

    def _sync_controls(self) -> None:
        planned = self.plan is not None
        ready = self.item_id is not None and not self.busy and not planned
        self.block_button.disabled = self.open_button.disabled = not ready
        self.confirm_button.disabled = self.busy or not planned or bool(self.plan and self.plan.conflicts)
        self.cancel_button.disabled = self.busy or not planned
        self.listing.disabled = self.date_from.disabled = self.date_to.disabled = self.busy
        self.confirm_box.layout.display = "flex" if planned else "none"


# -- sync -----------------------------------------------------------------------------------------------


class SyncButton(_ActionWidget):
    """A button that syncs the store with Avito, with progress and the report below it.

    tqdm's bars (widgets in Jupyter) are captured in ``output`` where the front end routes output from a task
    to it (Jupyter Notebook, nbclient); JupyterLab 4.6 delivers widget messages on a kernel subshell and drops
    such output, so the button also shows a progress bar of its own.

    >>> SyncButton(client, store, on_done=lambda report: inbox.refresh())
    """

    def __init__(self, client: AvitoApiClient, store: Store, *, date_from: dt.date | str | None = None,
                 date_to: dt.date | str | None = None, progress: bool = True,
                 on_done: Callable[[SyncReport], Any] | None = None,
                 description: str = "Синхронизировать с Авито") -> None:
        super().__init__()
        self.client, self.store = client, store
        self.date_from, self.date_to, self.progress, self.on_done = date_from, date_to, progress, on_done
        self.report: SyncReport | None = None
        self.button = _classed(widgets.Button(description=description, icon="refresh", button_style="primary",
                                              layout=widgets.Layout(width="auto", min_width="220px")), "avito-sync")
        self.bar = _classed(widgets.IntProgress(value=0, max=1, description="", layout=widgets.Layout(
            width="220px", visibility="hidden")), "avito-sync-progress")
        self.report_view = _classed(widgets.HTML(), "avito-sync-report")
        self.children = [widgets.HBox([self.button, self.bar], layout=widgets.Layout(align_items="center")),
                         self.output, self.report_view, self.status]
        self.output.layout.max_height = None
        self.add_class("avito-sync-button")
        self.button.on_click(self._routed(self._on_click))

    def _on_click(self, _button: Any) -> None:
        if self.busy:
            return
        self.output.clear_output()
        self.bar.layout.visibility = "visible"
        self.bar.value, self.bar.bar_style = 0, "info"
        self._say("Синхронизация…", "info")
        self._launch(self._sync)

    async def _sync(self) -> None:
        failure: Exception | None = None
        # Caught inside: in IPython an Output context swallows the exception after showing it.
        with self.output:
            try:
                report = await sync(self.client, self.store, self.date_from, self.date_to, progress=self.progress)
            except Exception as exc:
                failure = exc
        if failure is not None:
            self.bar.bar_style = "danger"
            raise failure
        self.report = report
        self.bar.value, self.bar.bar_style = 1, "success"
        self.report_view.value = f"<pre style='margin:4px 0'>{html.escape(str(report))}</pre>"
        self._say(f"Синхронизировано в {dt.datetime.now():%H:%M}.", "info")
        if self.on_done is not None:
            self.on_done(report)

    def _sync_controls(self) -> None:
        self.button.disabled = self.busy


# -- dashboard ------------------------------------------------------------------------------------------

PERIODS = {  # label -> (first night, last night) from today
    "Этот месяц": lambda t: (t.replace(day=1), _add_months(t.replace(day=1), 1) - dt.timedelta(days=1)),
    "Следующие 30 ночей": lambda t: (t, t + dt.timedelta(days=29)),
    "Следующие 90 ночей": lambda t: (t, t + dt.timedelta(days=89)),
    "Прошлый месяц": lambda t: (_add_months(t.replace(day=1), -1), t.replace(day=1) - dt.timedelta(days=1)),
    "Последние 90 ночей": lambda t: (t - dt.timedelta(days=90), t - dt.timedelta(days=1)),
    "Этот год": lambda t: (dt.date(t.year, 1, 1), dt.date(t.year, 12, 31)),
}


class Dashboard(_ActionWidget):
    """KPI cards, the шахматка and the month-by-month chart for a period and a listing (or all), updated in
    place (``go.FigureWidget`` and ``batch_update()``) whenever a picker changes. Reads the store only.

    >>> dashboard = Dashboard(store)
    >>> dashboard.period.value = "Следующие 30 ночей"; dashboard.kpis   # the totals row shown in the cards
    """

    def __init__(self, store: Store, *, today: dt.date | None = None) -> None:
        super().__init__(layout=widgets.Layout(width="100%"))
        self.store = store
        self.today = today or dt.date.today()
        self.kpis: pd.DataFrame | None = None
        self.period = _classed(widgets.Dropdown(options=[*PERIODS, "Свои даты"], value="Этот месяц",
                                                description="Период"), "avito-period")
        first, last = PERIODS["Этот месяц"](self.today)
        self.date_from = _classed(widgets.DatePicker(value=first, description="С ночи"), "avito-date-from")
        self.date_to = _classed(widgets.DatePicker(value=last, description="По ночь"), "avito-date-to")
        self.listing = _classed(widgets.Dropdown(
            options=[("Все объявления", 0), *_listing_options(store)], value=0,  # 0: all (None shows blank)
            description="Объявление", style={"description_width": "initial"},
            layout=widgets.Layout(width="520px")), "avito-dashboard-listing")
        self.cards = _classed(widgets.HTML(), "avito-kpi-cards")
        self.grid_figure = go.FigureWidget()
        self.monthly_figure = go.FigureWidget()
        self.children = [widgets.HBox([self.period, self.date_from, self.date_to]), self.listing, self.cards,
                         self.grid_figure, self.monthly_figure, self.status, self.output]
        self.add_class("avito-dashboard")
        self._setting_period = False
        self.period.observe(self._routed(self._on_period), "value")
        for control in (self.date_from, self.date_to, self.listing):
            control.observe(self._routed(self._on_change), "value")
        self._routed(self.update)()

    @property
    def item_ids(self) -> list[int] | None:
        return [self.listing.value] if self.listing.value else None

    def update(self) -> None:
        """Recompute the cards and both charts for the current pickers."""
        first, last = self.date_from.value, self.date_to.value
        if first is None or last is None or last < first:
            self._say("Выберите период: первая ночь не позже последней.", "error")
            return
        self.kpis = metrics.kpis(self.store, first, last, by="total", item_ids=self.item_ids)
        forward = metrics.forward_occupancy(self.store, as_of=self.today, item_ids=self.item_ids)
        self.cards.value = _kpi_cards_html(self.kpis, forward)
        replace_figure(self.grid_figure, charts.occupancy_grid(
            metrics.grid(self.store, first, last, item_ids=self.item_ids)))
        replace_figure(self.monthly_figure, charts.monthly_occupancy_revenue(
            metrics.year_over_year(self.store, last.year, item_ids=self.item_ids)))
        self._say(f"Ночи {charts.format_date(first)} – {charts.format_date(last)}.", "info")

    def _on_period(self, change: Any) -> None:
        if change["new"] not in PERIODS:
            return  # "Свои даты": the pickers decide
        first, last = PERIODS[change["new"]](self.today)
        self._setting_period = True
        try:
            self.date_from.value, self.date_to.value = first, last
        finally:
            self._setting_period = False
        self.update()

    def _on_change(self, change: Any) -> None:
        if self._setting_period:
            return
        if change["owner"] is not self.listing and self.period.value in PERIODS:
            self._setting_period = True
            try:
                self.period.value = "Свои даты"
            finally:
                self._setting_period = False
        self.update()


def replace_figure(target: go.FigureWidget, figure: go.Figure) -> None:
    """Show ``figure`` in the widget ``target`` in one batched update: traces of the same kinds are updated in
    place, otherwise replaced; the layout follows ``figure``."""
    with target.batch_update():
        if [t.type for t in target.data] == [t.type for t in figure.data]:
            for old, new in zip(target.data, figure.data, strict=True):
                properties = new.to_plotly_json()
                properties.pop("type", None)
                old.update(properties, overwrite=True)
        else:
            target.data = []
            target.add_traces(list(figure.data))
        target.layout = figure.layout


def _kpi_cards_html(totals: pd.DataFrame, forward: pd.DataFrame) -> str:
    row = _records(totals)[0] if len(totals) else {}
    nights = f"{charts.format_int(row.get('nights_booked'))} из {charts.format_int(row.get('nights_available'))}"
    cards = [
        ("Загрузка", charts.format_pct(row.get("occupancy")), f"ночей занято {nights}"),
        ("Выручка", charts.format_rub(row.get("revenue")), "по ночам периода"),
        ("ADR", charts.format_rub(row.get("adr")), "выручка / занятые ночи"),
        ("RevPAR", charts.format_rub(row.get("revpar")), "выручка / доступные ночи"),
        ("Заезды", charts.format_int(row.get("stays")),
         "ср. длительность " + ("—" if row.get("alos") is None else f"{row['alos']:.1f}".replace(".", ","))),
    ]
    cards += [(f"Вперёд {r['horizon_days']} дн.", charts.format_pct(r["occupancy"]), charts.format_rub(r["revenue"]))
              for r in _records(forward)]
    return "<div style='display:flex;flex-wrap:wrap;gap:8px;margin:6px 0'>" + "".join(
        f"<div class='avito-kpi' style='border:1px solid #dde3ea;border-radius:8px;padding:8px 12px;min-width:120px'>"
        f"<div style='color:#607080;font-size:12px'>{html.escape(title)}</div>"
        f"<div style='font-size:20px;font-weight:600'>{html.escape(value)}</div>"
        f"<div style='color:#8090a0;font-size:11px'>{html.escape(note)}</div></div>"
        for title, value, note in cards) + "</div>"


# -- pure helpers (reads of the store and HTML) ---------------------------------------------------------


def inbox_frame(store: Store, now: dt.datetime | None = None) -> pd.DataFrame:
    """One row per chat: listing title, guest, last message, unread count and since when the guest waits
    (the first incoming message after the host's last reply); unread or waiting chats first, newest first."""
    frame = store.query(_INBOX_SQL)
    now = now or _utc_now()
    frame["needs_attention"] = (frame["unread"] > 0) | frame["waiting_since"].notna()
    frame["waited"] = [now - pd.Timestamp(t).to_pydatetime() if pd.notna(t) else None
                       for t in frame["waiting_since"]]
    return frame.sort_values(["needs_attention", "last_at"], ascending=[False, False],
                             na_position="last").reset_index(drop=True)


_INBOX_SQL = """
WITH per_chat AS (
    SELECT chat_id,
           max(created) FILTER (WHERE direction = 'out') AS last_out,
           max(created) AS last_at,
           arg_max(text, created) AS last_text,
           arg_max(direction, created) AS last_direction,
           count(*) FILTER (WHERE direction = 'in' AND NOT coalesce(is_read, false)) AS unread
    FROM messages GROUP BY chat_id
), waiting AS (
    SELECT m.chat_id, min(m.created) AS waiting_since
    FROM messages m JOIN per_chat p ON p.chat_id = m.chat_id
    WHERE m.direction = 'in' AND (p.last_out IS NULL OR m.created > p.last_out)
    GROUP BY m.chat_id
)
SELECT c.chat_id, c.item_id, c.chat_type, i.title, c.other_user_name,
       coalesce(p.last_text, c.last_message_text) AS last_text,
       coalesce(p.last_at, c.last_message_at) AS last_at,
       coalesce(p.last_direction, c.last_message_direction) AS last_direction,
       coalesce(p.unread, 0) AS unread,
       w.waiting_since
FROM chats c
LEFT JOIN items i ON i.item_id = c.item_id
LEFT JOIN per_chat p ON p.chat_id = c.chat_id
LEFT JOIN waiting w ON w.chat_id = c.chat_id
"""


def guest_booking(store: Store, item_id: Any, guest_name: str | None, today: dt.date) -> dict | None:
    """The guest's next active or pending booking of the listing (ending today or later), matched by first name
    and, when the chat shows one, the surname's initial (Avito's chats show "Максим К.")."""
    if item_id is None or pd.isna(item_id) or not guest_name:
        return None
    wanted = guest_name.replace(".", " ").split()
    bookings = store.bookings(int(item_id), statuses=["active", "pending"])
    for booking in _records(bookings):
        name = (booking.get("guest_name") or "").split()
        if _date(booking["check_out"]) < today or not name or name[0].lower() != wanted[0].lower():
            continue
        if len(wanted) > 1 and (len(name) < 2 or name[1][:1].lower() != wanted[1][:1].lower()):
            continue
        return {**booking, "check_in": _date(booking["check_in"]), "check_out": _date(booking["check_out"])}
    return None


def _confirm_step() -> tuple[widgets.HTML, widgets.Button, widgets.Button, widgets.VBox]:
    """The preview with Confirm and Cancel that every write of a widget goes through."""
    preview = _classed(widgets.HTML(), "avito-preview")
    confirm = _classed(widgets.Button(description="Подтвердить и отправить", button_style="success",
                                      layout=_auto()), "avito-confirm")
    cancel = _classed(widgets.Button(description="Отмена"), "avito-cancel")
    box = widgets.VBox([preview, widgets.HBox([confirm, cancel])],
                       layout=widgets.Layout(border="1px solid #1565c0", padding="6px"))
    return preview, confirm, cancel, box


def fill_template(template: str, values: dict[str, str | None]) -> str:
    """The template with every known placeholder filled; unknown ones stay as ``{name}`` for the host."""
    text = template
    for key, value in values.items():
        if value:
            text = text.replace("{" + key + "}", str(value))
    return text


def month_grid_html(month: dt.date, bookings: pd.DataFrame, blocks: pd.DataFrame, today: dt.date,
                    selection: tuple[dt.date | None, dt.date | None] = (None, None)) -> str:
    """The month as an HTML table, Monday first: each night booked (active), pending, blocked or free;
    past nights faded; the FROM..TO selection outlined."""
    states = night_states(month, _add_months(month, 1), bookings, blocks)
    first, last = selection
    head = "".join(f"<th style='padding:2px 4px;color:#555'>{d}</th>" for d in charts.WEEKDAYS_RU)
    rows = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month):
        cells = []
        for day in week:
            if day.month != month.month:
                cells.append("<td></td>")
                continue
            state, note = states[day]
            background, color = _STATE_STYLE[state]
            selected = first is not None and last is not None and first <= day < last
            border = "2px solid #1565c0" if selected else "2px solid transparent"
            opacity = "0.45" if day < today else "1"
            today_mark = "text-decoration:underline;" if day == today else ""
            title = html.escape(f"{day:%d.%m.%Y}: {_STATE_LABELS[state].lower()}" + (f" — {note}" if note else ""),
                                quote=True)
            label = html.escape(_short(note, 9)) if note else "&nbsp;"
            cells.append(
                f"<td title='{title}' data-state='{state}' data-date='{day.isoformat()}' "
                f"style='background:{background};color:{color};border:{border};opacity:{opacity};width:64px;"
                f"height:40px;vertical-align:top;padding:2px 4px;border-radius:4px'>"
                f"<div style='font-weight:bold;{today_mark}'>{day.day}</div>"
                f"<div style='font-size:10px;white-space:nowrap;overflow:hidden'>{label}</div></td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    legend = " ".join(f"<span style='background:{bg};color:{fg};padding:1px 6px;border-radius:3px'>"
                      f"{html.escape(_STATE_LABELS[state])}</span>" for state, (bg, fg) in _STATE_STYLE.items())
    return (f"<table style='border-collapse:separate;border-spacing:3px'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table><div style='margin-top:4px'>{legend}</div>")


def night_states(first: dt.date, last: dt.date, bookings: pd.DataFrame, blocks: pd.DataFrame
                 ) -> dict[dt.date, tuple[str, str | None]]:
    """Night -> (state, note) for nights ``first`` <= night < ``last``: an active booking wins over a block,
    a block over a pending booking."""
    nights = {first + dt.timedelta(days=i): ("free", None) for i in range((last - first).days)}
    rank = {"free": 0, "pending": 1, "blocked": 2, "booked": 3}

    def paint(start: Any, end: Any, state: str, note: str | None) -> None:
        day = max(_date(start), first)
        while day < min(_date(end), last):
            if rank[state] > rank[nights[day][0]]:
                nights[day] = (state, note)
            day += dt.timedelta(days=1)

    for b in _records(bookings):
        state = "booked" if b["status"] == "active" else "pending"
        paint(b["check_in"], b["check_out"], state, b.get("guest_name"))
    for b in _records(blocks):
        paint(b["date_start"], b["date_end"], "blocked", b.get("comment") or "закрыто")
    return nights


def _listing_options(store: Store) -> list[tuple[str, int]]:
    """(label, item_id) of every listing, active ones first."""
    items = store.items()
    order = items.assign(inactive=items["status"] != "active").sort_values(["inactive", "item_id"])
    return [(f"{r.title} · {r.item_id}"
             + ("" if r.status == "active" else f" ({_ITEM_STATUS.get(r.status, r.status)})"), int(r.item_id))
            for r in order.itertuples()]


def _blocks_html(blocks: pd.DataFrame, today: dt.date) -> str:
    current = [b for b in _records(blocks) if _date(b["date_end"]) > today]
    if not current:
        return "<div style='color:#555'>С сегодняшнего дня ничего не закрыто вручную.</div>"
    lines = [f"{_date(b['date_start']):%d.%m.%Y} – {_date(b['date_end']) - dt.timedelta(days=1):%d.%m.%Y}"
             + (f" ({html.escape(b['comment'])})" if b.get("comment") else "") for b in current]
    return "<div style='color:#333'><b>Закрыто вручную:</b> " + "; ".join(lines) + "</div>"


def _chat_label(row: dict) -> str:
    unread = int(row.get("unread") or 0)
    if row.get("waited") is not None:
        when = "ждёт " + _duration(row["waited"])
    elif pd.notna(row.get("last_at")):
        when = _local(row["last_at"]).strftime("%d.%m %H:%M")
    else:
        when = "—"
    mark = f"● {unread} · " if unread else ""
    title = _short(row.get("title") or "без объявления", 26)
    last = _short((row.get("last_text") or "").replace("\n", " "), 40)
    return f"{mark}{when} · {row.get('other_user_name') or 'гость'} · {title} · {last}"


def _chat_header(row: dict, booking: dict | None) -> str:
    parts = [f"<b>{html.escape(row.get('other_user_name') or 'Гость')}</b>",
             html.escape(row.get("title") or "без объявления")]
    if booking:
        status = _BOOKING_STATUS.get(booking["status"], booking["status"])
        parts.append(f"бронь {booking['check_in']:%d.%m} – {booking['check_out']:%d.%m} ({status})")
    if row.get("waited") is not None:
        parts.append(f"<span style='color:#b71c1c'>ждёт ответа {_duration(row['waited'])}</span>")
    return " · ".join(parts)


def _conversation_html(messages: pd.DataFrame) -> str:
    bubbles = []
    for m in _records(messages):
        out = m["direction"] == "out"
        text = html.escape(m.get("text") or f"[{_MESSAGE_TYPES.get(m.get('type'), 'сообщение')}]")
        when = _local(m["created"]).strftime("%d.%m %H:%M") if pd.notna(m.get("created")) else ""
        side = "margin-left:auto;background:#e3f2fd" if out else "margin-right:auto;background:#f1f1f1"
        bubbles.append(f"<div style='{side};max-width:80%;padding:4px 8px;border-radius:8px;margin:3px 0;"
                       f"white-space:pre-wrap'>{text}<div style='font-size:10px;color:#777;text-align:right'>"
                       f"{when}</div></div>")
    inner = "".join(bubbles) or "<i>Сообщений этого чата в базе нет.</i>"
    # column-reverse keeps the newest message in view without any script
    return ("<div style='max-height:340px;overflow-y:auto;display:flex;flex-direction:column-reverse;"
            "border:1px solid #ddd;padding:4px;border-radius:4px'>"
            f"<div style='display:flex;flex-direction:column'>{inner}</div></div>")


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with None for every missing value (pandas gives NaN, NaT or NA)."""
    return [{k: (None if not isinstance(v, list | dict) and pd.isna(v) else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


def _auto() -> widgets.Layout:
    """A layout as wide as the control's Russian label: ipywidgets cuts a button's at 148px."""
    return widgets.Layout(width="auto")


def _classed(widget: widgets.DOMWidget, *classes: str) -> Any:
    for name in classes:
        widget.add_class(name)
    return widget


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _local(value: Any) -> dt.datetime:
    """A stored naive-UTC timestamp in the machine's time zone."""
    return pd.Timestamp(value).tz_localize("UTC").tz_convert(dt.datetime.now().astimezone().tzinfo)


def _duration(delta: dt.timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    return "только что" if minutes < 1 else charts.format_minutes(minutes)


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return pd.Timestamp(value).date()


def _ru_date(value: dt.date) -> str:
    return f"{value:%d.%m.%Y}"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _add_months(month: dt.date, step: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + step
    return dt.date(index // 12, index % 12 + 1, 1)
