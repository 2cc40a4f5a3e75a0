"""The inbox: guest chats, the ones that need the host first; the conversation; a reply with templates, a
character counter and the confirm step; mark read. The list is ``metrics.inbox`` (the report counts waiting
guests by the same rule); a guest's booking for the templates is ``metrics.guest_booking``."""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

import ipywidgets as widgets
import pandas as pd

from .. import metrics
from ..actions import NO_MESSENGER_TEXT, mark_read, send_reply
from ..checks import MAX_MESSAGE_LENGTH, check_text
from ..client import AvitoApiClient
from ..dates import avito_today
from ..format import format_date, format_minutes, plural, records, shorten
from ..store import Store
from .base import ActionWidget, auto_layout, classed, confirm_step

__all__ = ["PLACEHOLDERS", "TEMPLATES", "InboxWidget", "fill_template"]

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

_BOOKING_STATUS = {"active": "активна", "pending": "ожидает оплаты"}
_MESSAGE_TYPES = {"image": "фото", "voice": "голосовое сообщение", "file": "файл", "link": "ссылка",
                  "item": "объявление", "location": "геолокация", "call": "звонок", "video": "видео",
                  "system": "системное сообщение", "deleted": "сообщение удалено"}


class InboxWidget(ActionWidget):
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
                                             layout=auto_layout())
        self.reload_button = classed(widgets.Button(description="Обновить", icon="refresh",
                                                    tooltip="Заново прочитать чаты из базы"), "avito-reload")
        self.chat_list = classed(widgets.Select(options=[], rows=18, layout=widgets.Layout(width="100%")),
                                 "avito-chat-list")
        self.header = classed(widgets.HTML(), "avito-chat-header")
        self.conversation = classed(widgets.HTML(), "avito-conversation")
        self.template = classed(widgets.Dropdown(options=[("— шаблон —", "")], description="Шаблон",
                                                 layout=widgets.Layout(width="100%")), "avito-template")
        self.reply = classed(widgets.Textarea(placeholder="Ответить…", rows=4,
                                              layout=widgets.Layout(width="100%")), "avito-reply-text")
        self.counter = classed(widgets.HTML(), "avito-counter")
        self.hint = classed(widgets.HTML(), "avito-hint")
        self.send_button = classed(widgets.Button(description="Отправить…", icon="paper-plane",
                                                  button_style="primary", layout=auto_layout()), "avito-send")
        self.mark_read_button = classed(widgets.Button(description="Отметить прочитанным", icon="check",
                                                       layout=auto_layout()),
                                        "avito-mark-read")
        self.preview, self.confirm_button, self.cancel_button, self.confirm_box = confirm_step()

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

    def _today(self) -> dt.date:
        # Read at each use: a widget left open past midnight in Moscow matches the next day's bookings.
        return self.today or avito_today()

    def refresh(self) -> None:
        """Read the chat list from the store again, keeping the selection."""
        frame = metrics.inbox(self.store)
        if self.only_waiting.value:
            frame = frame[frame["needs_attention"]]
        frame = frame.head(CHAT_LIST_LIMIT)
        self._rows = {row["chat_id"]: row for row in records(frame)}
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
        if _messenger_skipped(self.store):
            self._say(f"{NO_MESSENGER_TEXT}: " + ("показаны чаты прошлых синхронизаций, ответить не получится."
                                                  if self._rows else "чаты не синхронизированы; объявления, брони "
                                                  "и статистика — да."), "warn")
        elif not self._rows:
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
            f"{plural(length, 'символ', 'символа', 'символов')}:"
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
        booking = metrics.guest_booking(self.store, row.get("item_id"), row.get("other_user_name"), self._today())
        name = (booking or {}).get("guest_name") or row.get("other_user_name")
        return {
            "guest_name": name.split()[0] if name else None,
            "listing_title": row.get("title"),
            "check_in": format_date(booking["check_in"]) if booking else None,
            "check_out": format_date(booking["check_out"]) if booking else None,
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
            booking = metrics.guest_booking(self.store, row.get("item_id"), row.get("other_user_name"),
                                            self._today())
            self.header.value = _chat_header(row, booking)
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
                return (f"слишком длинное сообщение: {n} {plural(n, 'символ', 'символа', 'символов')} "
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
        self._show_confirm(confirming)
        self.mark_read_button.disabled = self.busy or self.chat_id is None
        self.chat_list.disabled = self.busy


def _messenger_skipped(store: Store) -> bool:
    """Whether the last completed sync skipped the messenger because Avito answered 402."""
    runs = store.sync_runs()
    done = runs[runs["status"] == "ok"]
    return bool(len(done)) and bool(json.loads(done["counts"].iloc[-1] or "{}").get("messenger_skipped"))


def fill_template(template: str, values: dict[str, str | None]) -> str:
    """The template with every known placeholder filled; unknown ones stay as ``{name}`` for the host."""
    text = template
    for key, value in values.items():
        if value:
            text = text.replace("{" + key + "}", str(value))
    return text


def _chat_label(row: dict) -> str:
    unread = int(row.get("unread") or 0)
    if row.get("waited") is not None:
        when = "ждёт " + _duration(row["waited"])
    elif pd.notna(row.get("last_at")):
        when = _local(row["last_at"]).strftime("%d.%m %H:%M")
    else:
        when = "—"
    mark = f"● {unread} · " if unread else ""
    title = shorten(row.get("title") or "без объявления", 26)
    last = shorten((row.get("last_text") or "").replace("\n", " "), 40)
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
    for m in records(messages):
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


def _local(value: Any) -> dt.datetime:
    """A stored naive-UTC timestamp in the machine's time zone."""
    return pd.Timestamp(value).tz_localize("UTC").tz_convert(dt.datetime.now().astimezone().tzinfo)


def _duration(delta: dt.timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 0)
    return "только что" if minutes < 1 else format_minutes(minutes)
