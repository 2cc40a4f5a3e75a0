"""Reviews: the guests' reviews, those waiting for an answer first; the review with its listing and the stay it
follows when one matches; an answer with a preview and the confirm step; the answer's moderation status. The
list is ``metrics.review_inbox`` (the report counts unanswered reviews by the same rule)."""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

import ipywidgets as widgets

from .. import metrics
from ..actions import ANSWER_STATUS_TEXT, plan_review_answer, review_line, send_review_answer
from ..client import AvitoApiClient
from ..format import format_date, is_missing, records, shorten
from ..store import Store
from .base import ActionWidget, auto_layout, classed, confirm_step

__all__ = ["ReviewsWidget"]

REVIEW_LIST_LIMIT = 300
_STATUS_COLOR = {"moderation": "#8a6d00", "published": "#1b5e20", "rejected": "#b71c1c"}


class ReviewsWidget(ActionWidget):
    """Reviews, unanswered first; the selected one with its listing and stay; an answer box with a preview and
    a confirmation step; the answer's moderation status.

    >>> reviews = ReviewsWidget(client, store)
    >>> reviews.review_list.value = review_id; reviews.answer.value = "Спасибо!"
    >>> reviews.send_button.click(); reviews.confirm_button.click(); await reviews.wait_idle()
    """

    def __init__(self, client: AvitoApiClient, store: Store) -> None:
        super().__init__(layout=widgets.Layout(width="100%"))
        self.client, self.store = client, store
        self._rows: dict[int, dict] = {}
        self._draft: tuple[int, str] | None = None  # (review_id, text) awaiting confirmation
        self._refreshing = False

        self.reload_button = classed(widgets.Button(description="Обновить", icon="refresh",
                                                    tooltip="Заново прочитать отзывы из базы"), "avito-reload")
        self.review_list = classed(widgets.Select(options=[], rows=18, layout=widgets.Layout(width="100%")),
                                   "avito-review-list")
        self.details = classed(widgets.HTML(), "avito-review")
        self.answer = classed(widgets.Textarea(placeholder="Ответить на отзыв…", rows=4,
                                               layout=widgets.Layout(width="100%")), "avito-answer-text")
        self.send_button = classed(widgets.Button(description="Ответить…", icon="reply", button_style="primary",
                                                  layout=auto_layout()), "avito-send")
        self.preview, self.confirm_button, self.cancel_button, self.confirm_box = confirm_step()

        left = widgets.VBox([self.reload_button, self.review_list],
                            layout=widgets.Layout(width="42%", min_width="320px"))
        right = widgets.VBox([self.details, self.answer, self.send_button, self.confirm_box],
                             layout=widgets.Layout(width="58%", padding="0 0 0 10px"))
        self.children = [widgets.HBox([left, right], layout=widgets.Layout(width="100%")), self.status, self.output]
        self.add_class("avito-reviews")

        self.review_list.observe(self._routed(self._on_select), "value")
        self.answer.observe(self._routed(lambda _: self._sync_controls()), "value")
        self.reload_button.on_click(self._routed(lambda _: self.refresh()))
        self.send_button.on_click(self._routed(self._on_send))
        self.confirm_button.on_click(self._routed(self._on_confirm))
        self.cancel_button.on_click(self._routed(self._on_cancel))
        self._routed(self.refresh)()

    @property
    def review_id(self) -> int | None:
        """The selected review."""
        return self.review_list.value

    def refresh(self) -> None:
        """Read the reviews from the store again, keeping the selection."""
        frame = metrics.review_inbox(self.store).head(REVIEW_LIST_LIMIT)
        self._rows = {int(row["review_id"]): row for row in records(frame)}
        selected = self.review_list.value
        self._refreshing = True  # a new list resets the selection: put it back without clearing the draft
        try:
            self.review_list.options = [(_review_label(row), review_id) for review_id, row in self._rows.items()]
            self.review_list.value = selected if selected in self._rows else None
        finally:
            self._refreshing = False
        self._show_review()
        waiting = sum(bool(row["needs_answer"]) for row in self._rows.values())
        if not self._rows:
            self._say("Отзывов пока нет: сначала синхронизируйте данные с Авито.", "warn")
        elif not self.status.value:
            self._say(f"Отзывов: {len(self._rows)}, без ответа: {waiting}.")

    # -- callbacks ------------------------------------------------------------------------------------

    def _on_select(self, _change: Any) -> None:
        if self._refreshing:
            return
        self._draft = None
        self.answer.value = ""
        self._show_review()
        self.status.value = ""

    def _on_send(self, _button: Any) -> None:
        if self.review_id is None:
            self._say("Не отправлено: сначала выберите отзыв", "error")
            return
        plan = plan_review_answer(self.store, self.review_id, self.answer.value)  # ValueError: shown, not sent
        self._draft = (self.review_id, self.answer.value)
        self.preview.value = ("<div style='white-space:pre-wrap;background:#f5f5f5;padding:6px;margin:4px 0'>"
                              f"{html.escape(plan.describe())}</div>")
        self._say("Проверьте ответ и подтвердите отправку.", "info")
        self._sync_controls()

    def _on_confirm(self, _button: Any) -> None:
        if self.busy or self._draft is None:
            return  # a second click while sending, or nothing to confirm: never a second answer
        review_id, text = self._draft
        self._draft = None
        self._say("Отправляем…", "info")
        self._launch(lambda: self._send_answer(review_id, text))

    def _on_cancel(self, _button: Any) -> None:
        self._draft = None
        self._say("Не отправлено.", "info")
        self._sync_controls()

    async def _send_answer(self, review_id: int, text: str) -> None:
        await send_review_answer(self.client, self.store, review_id, text)
        if self.review_id == review_id:
            self.answer.value = ""
        self.refresh()
        self._say(f"Ответ отправлен в {dt.datetime.now():%H:%M}: Авито опубликует его после модерации.", "info")

    # -- views ----------------------------------------------------------------------------------------

    def _show_review(self) -> None:
        row = self._rows.get(self.review_id) if self.review_id is not None else None
        self.details.value = "<i>Выберите отзыв слева.</i>" if row is None else _review_html(row)
        self._sync_controls()

    def _sync_controls(self) -> None:
        row = self._rows.get(self.review_id) if self.review_id is not None else None
        can_answer = bool(row and row["needs_answer"])
        confirming = self._draft is not None
        self.send_button.disabled = self.busy or confirming or not can_answer or not self.answer.value.strip()
        self.answer.disabled = self.busy or confirming or not can_answer
        self._show_confirm(confirming)
        self.review_list.disabled = self.busy


def _review_label(row: dict) -> str:
    mark = "● " if row["needs_answer"] else ""
    stars = "★" * int(row["score"]) + "☆" * (5 - int(row["score"]))
    return f"{mark}{stars} {row.get('sender_name') or 'гость'} · {format_date(row['created_at'])} · " + shorten(
        row.get("text") or "", 40)


def _review_html(row: dict) -> str:
    parts = [f"<b>{html.escape(review_line(row))}</b>"]
    if row.get("booking_id") is not None and not is_missing(row.get("check_in")):
        parts.append(f"Проживание: {format_date(row['check_in'])} – {format_date(row['check_out'])} "
                     f"(бронь №{row['booking_id']})")
    else:
        parts.append("<i>Проживание не найдено в базе</i>")
    parts.append(f"<div style='white-space:pre-wrap;margin:4px 0'>{html.escape(row.get('text') or '')}</div>")
    if row.get("image_count"):
        parts.append(f"Фото: {int(row['image_count'])}")
    status = row.get("answer_status")
    if row.get("answer_id") is not None and status:
        color = _STATUS_COLOR.get(status, "#555")
        parts.append(f"<span class='avito-answer-status' style='color:{color}'>Ответ "
                     f"{html.escape(ANSWER_STATUS_TEXT.get(status, status))}</span>: "
                     f"«{html.escape(row.get('answer_text') or '')}»")
        reasons = json.loads(row["answer_reject_reasons"]) if row.get("answer_reject_reasons") else []
        if reasons:
            parts.append("Причина: " + html.escape(", ".join(r.get("title", "") for r in reasons))
                         + ". Можно ответить заново.")
    return "<br>".join(parts)
