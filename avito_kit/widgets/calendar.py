"""The calendar: a listing's month (booked, awaiting payment, blocked, free, from ``metrics.night_states``), and
closing or opening nights FROM <= night < TO through ``actions.plan_block`` / ``plan_open``, previewed in the
confirm step and pushed by ``actions.apply_plan``. Today is Avito's (Moscow's) unless a ``today`` is given."""

from __future__ import annotations

import calendar
import datetime as dt
import html
from typing import Any

import ipywidgets as widgets
import pandas as pd

from .. import charts, metrics
from ..actions import Plan, PullPlan, apply_plan, apply_pull, plan_block, plan_open, plan_pull
from ..client import AvitoApiClient
from ..dates import add_months, avito_today
from ..format import MONTH_NAMES_RU, WEEKDAYS_RU, as_date, format_date, records, shorten
from ..store import Store
from .base import ActionWidget, auto_layout, classed, confirm_step, listing_options, plan_html
from .prices import price_labels

__all__ = ["CalendarWidget", "month_grid_html"]

_STATE_LABELS = {**charts.STATE_LABELS, "pending": "Ожидает оплаты",  # the legend's and the cells' names
                 "external": "Занято на другой площадке"}
_STATE_STYLE = {  # calendar cell colours (background, text): the charts' and the report's, plus "pending"
    "booked": (charts.STATE_COLOURS["booked"], "#ffffff"),
    "pending": ("#FFE0B2", "#5D3A00"),
    "blocked": (charts.STATE_COLOURS["blocked"], "#ffffff"),
    "free": (charts.STATE_COLOURS["free"], "#37474F"),
    "external": ("#7E57C2", "#ffffff"),  # another platform's feed (calendar pull), the source's name in the cell
}


class CalendarWidget(ActionWidget):
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
        self.today = today or avito_today()
        self.plan: Plan | PullPlan | None = None  # the previewed plan awaiting confirmation

        self.listing = classed(widgets.Dropdown(options=listing_options(store), description="Объявление",
                                                style={"description_width": "initial"},
                                                layout=widgets.Layout(width="560px")), "avito-listing")
        if item_id is not None:
            self.listing.value = int(item_id)
        self.month = self.today.replace(day=1)
        self.prev_button = classed(widgets.Button(icon="chevron-left", tooltip="Предыдущий месяц",
                                                  layout=widgets.Layout(width="40px")), "avito-prev-month")
        self.next_button = classed(widgets.Button(icon="chevron-right", tooltip="Следующий месяц",
                                                  layout=widgets.Layout(width="40px")), "avito-next-month")
        self.month_label = classed(widgets.HTML(), "avito-month")
        self.grid = classed(widgets.HTML(), "avito-calendar-grid")
        self.blocks_view = classed(widgets.HTML(), "avito-blocks")
        wide = {"description_width": "130px"}
        self.date_from = classed(widgets.DatePicker(description="С ночи", style=wide), "avito-date-from")
        self.date_to = classed(widgets.DatePicker(description="По (не включая)", style=wide), "avito-date-to")
        self.comment = classed(widgets.Text(placeholder="например, ремонт", description="Комментарий", style=wide),
                               "avito-block-comment")
        self.block_button = classed(widgets.Button(description="Закрыть даты…", icon="lock", button_style="warning",
                                                   layout=auto_layout()),
                                    "avito-block")
        self.open_button = classed(widgets.Button(description="Открыть даты…", icon="unlock", button_style="info",
                                                  layout=auto_layout()),
                                   "avito-open")
        self.pull_button = classed(widgets.Button(description="Подтянуть связанные календари", icon="refresh",
                                                  tooltip="Прочитать iCal-ссылки других площадок и показать, что "
                                                  "уйдёт в Авито", layout=auto_layout()), "avito-pull-links")
        self.preview, self.confirm_button, self.cancel_button, self.confirm_box = confirm_step()
        # a listing's first full-year push from avito_kit: the host confirms the cabinet's dates will be opened
        self.first_push_ok = classed(widgets.Checkbox(description="Понимаю: даты, закрытые в кабинете Авито, "
                                                      "откроются", indent=False, layout=widgets.Layout(
                                                          width="auto", display="none")), "avito-first-push")

        navigation = widgets.HBox([self.prev_button, self.month_label, self.next_button],
                                  layout=widgets.Layout(align_items="center"))
        form = widgets.VBox([self.date_from, self.date_to, self.comment,
                             widgets.HBox([self.block_button, self.open_button]), self.pull_button,
                             self.first_push_ok, self.confirm_box],
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
        self.pull_button.on_click(self._routed(self._on_pull))
        self.confirm_button.on_click(self._routed(self._on_confirm))
        self.first_push_ok.observe(self._routed(lambda _: self._sync_controls()), "value")
        self.cancel_button.on_click(self._routed(self._on_cancel))
        self._routed(self.refresh)()

    @property
    def item_id(self) -> int | None:
        return self.listing.value

    def show_month(self, step: int) -> None:
        """Move the grid ``step`` months."""
        self.month = add_months(self.month, step)
        self.refresh()

    def refresh(self) -> None:
        """Draw the month again from the store."""
        self.month_label.value = (f"<b style='font-size:1.1em;padding:0 8px'>"
                                  f"{MONTH_NAMES_RU[self.month.month - 1]} {self.month.year}</b>")
        if self.item_id is None:
            self.grid.value = "<i>Объявлений пока нет: сначала синхронизируйте данные с Авито.</i>"
            self.blocks_view.value = ""
        else:
            bookings = self.store.bookings(self.item_id, statuses=["active", "pending"])
            blocks = self.store.calendar_blocks(self.item_id)
            selection = (self.date_from.value, self.date_to.value)
            prices = price_labels(self.store, self.item_id, self.month, add_months(self.month, 1))
            self.grid.value = month_grid_html(self.month, bookings, blocks, self.today, selection, prices,
                                              self.store.external_closures(self.item_id))
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
        if first is not None and not (self.month <= first < add_months(self.month, 1)) and _change["owner"] is \
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
            self._say(f"Дата «По» ({format_date(last)}) должна быть позже «С ночи» ({format_date(first)}): "
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
        body = plan_html(plan)
        if plan.refused:
            verb = "закрыть" if plan.action == "block" else "открыть"
            body = ("<div style='color:#b71c1c;font-weight:bold'>⚠ Эти ночи заняты (активные брони или закрытия "
                    f"других площадок, ниже): {verb} их нельзя. Выберите другие даты.</div>" + body)
            self._say("Отказ: ночи заняты бронями или календарями других площадок; ничего не отправлено.", "error")
        else:
            self._say("Проверьте, что уйдёт в Авито, и подтвердите.", "info")
        self.preview.value = body
        self._sync_controls()

    def _on_confirm(self, _button: Any) -> None:
        plan = self.plan
        if self.busy or plan is None or plan.refused or self._needs_first_push_ok():
            return  # a double click, nothing previewed, a refused or an unconfirmed first push: nothing is sent
        self.plan = None
        self._say("Отправляем в Авито…", "info")
        self._launch(lambda: self._apply(plan))

    def _first_push(self) -> bool:
        """The previewed plan is a listing's first full-year availability push."""
        plan = self.plan
        return isinstance(plan, Plan) and plan.availability_payload is not None and plan.first_push

    def _needs_first_push_ok(self) -> bool:
        return self._first_push() and not self.first_push_ok.value

    def _on_pull(self, _button: Any) -> None:
        if self.busy or self.item_id is None:
            return
        self.plan = None
        self._say("Читаем связанные календари…", "info")
        self._launch(self._pull_preview)

    async def _pull_preview(self) -> None:
        if self.store.calendar_links(self.item_id).empty:
            self._say("У объявления нет связанных календарей: `avito-kit calendar link ITEM_ID ССЫЛКА`.", "warn")
            return
        plan = await plan_pull(self.store, self.item_id, today=self.today)
        self.refresh()
        failed = f" Не прочитаны: {', '.join(plan.failed)}." if plan.failed else ""
        if not plan.changed:
            self._say(f"Закрытия не изменились: в Авито ничего не отправляется.{failed}", "warn" if failed else "info")
            return
        self.plan = plan
        self.preview.value = plan_html(plan)
        self._say(f"Проверьте, что уйдёт в Авито, и подтвердите.{failed}", "warn" if failed else "info")

    def _on_cancel(self, _button: Any) -> None:
        self.plan = None
        self._say("Ничего не отправлено.", "info")
        self._sync_controls()

    async def _apply(self, plan: Plan | PullPlan) -> None:
        if isinstance(plan, PullPlan):
            outcome = await apply_pull(self.client, self.store, plan)
            self.refresh()
            self._say(f"Закрытия других площадок объявления {plan.item_id} отправлены: "
                      f"{'Авито принял изменения' if outcome == 'ok' else outcome}, записано в журнал.", "info")
            return
        outcome = await apply_plan(self.client, self.store, plan)
        self.refresh()
        verb = "Закрыты" if plan.action == "block" else "Открыты"
        result = "Авито принял изменения" if outcome == "ok" else outcome
        self._say(f"{verb} ночи {format_date(plan.date_from)} – {format_date(plan.date_to - dt.timedelta(days=1))} "
                  f"объявления {plan.item_id}: {result}, записано в журнал.", "info")

    def _sync_controls(self) -> None:
        planned = self.plan is not None
        ready = self.item_id is not None and not self.busy and not planned
        self.block_button.disabled = self.open_button.disabled = self.pull_button.disabled = not ready
        first_push = self._first_push()
        self.first_push_ok.layout.display = "flex" if first_push else "none"
        if not first_push:
            self.first_push_ok.value = False
        self._show_confirm(planned)
        self.confirm_button.disabled = (self.confirm_button.disabled or bool(self.plan and self.plan.refused)
                                        or self._needs_first_push_ok())
        self.listing.disabled = self.date_from.disabled = self.date_to.disabled = self.busy


def month_grid_html(month: dt.date, bookings: pd.DataFrame, blocks: pd.DataFrame, today: dt.date,
                    selection: tuple[dt.date | None, dt.date | None] = (None, None),
                    prices: dict[dt.date, str] | None = None, external: pd.DataFrame | None = None) -> str:
    """The month as an HTML table, Monday first: each night booked (active), pending, blocked, closed on another
    platform (``external``, as ``store.external_closures(item_id)``: the source's name in the cell) or free;
    past nights faded; the FROM..TO selection outlined; a night's known price and minimum stay (``prices``)."""
    states = metrics.night_states(month, add_months(month, 1), bookings, blocks)
    for closure in records(external) if external is not None else []:
        day = as_date(closure["date_start"])
        while day < as_date(closure["date_end"]):
            if states.get(day, ("",))[0] == "free":  # a booking or the host's own block says more
                states[day] = ("external", closure["source"])
            day += dt.timedelta(days=1)
    first, last = selection
    head = "".join(f"<th style='padding:2px 4px;color:#555'>{d}</th>" for d in WEEKDAYS_RU)
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
            title = html.escape(f"{format_date(day)}: {_STATE_LABELS[state].lower()}" + (f" — {note}" if note else ""),
                                quote=True)
            label = html.escape(shorten(note, 9)) if note else "&nbsp;"
            cells.append(
                f"<td title='{title}' data-state='{state}' data-date='{day.isoformat()}' "
                f"style='background:{background};color:{color};border:{border};opacity:{opacity};width:64px;"
                f"height:40px;vertical-align:top;padding:2px 4px;border-radius:4px'>"
                f"<div style='font-weight:bold;{today_mark}'>{day.day}</div>"
                f"<div style='font-size:10px;white-space:nowrap;overflow:hidden'>{label}</div>"
                + (f"<div class='avito-night-price' style='font-size:9px;white-space:nowrap'>"
                   f"{html.escape(prices[day])}</div>" if prices and day in prices else "") + "</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    legend = " ".join(f"<span style='background:{bg};color:{fg};padding:1px 6px;border-radius:3px'>"
                      f"{html.escape(_STATE_LABELS[state])}</span>" for state, (bg, fg) in _STATE_STYLE.items())
    return (f"<table style='border-collapse:separate;border-spacing:3px'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table><div style='margin-top:4px'>{legend}</div>")


def _blocks_html(blocks: pd.DataFrame, today: dt.date) -> str:
    current = [b for b in records(blocks) if as_date(b["date_end"]) > today]
    if not current:
        return "<div style='color:#555'>С сегодняшнего дня ничего не закрыто вручную.</div>"
    lines = [f"{format_date(b['date_start'])} – {format_date(as_date(b['date_end']) - dt.timedelta(days=1))}"
             + (f" ({html.escape(b['comment'])})" if b.get("comment") else "") for b in current]
    return "<div style='color:#333'><b>Закрыто вручную:</b> " + "; ".join(lines) + "</div>"
