"""Prices and listing settings: the price action (nights FROM <= night < TO, ``actions.plan_prices``) and the
listing-settings panel (base parameters, ``actions.plan_listing``), each previewed in the confirm step and sent
once by ``actions.apply_price_plan`` / ``apply_listing_plan`` (which audit and keep every push: Avito never reads
them back). ``PriceAction.follow(calendar)`` makes it act on a ``CalendarWidget``'s listing and selected nights."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..actions import ListingPlan, PricePlan, apply_listing_plan, apply_price_plan, plan_listing, plan_prices
from ..client import (
    BASE_DISCOUNT_THRESHOLDS,
    BASE_EXTRA_GUEST_THRESHOLD,
    BASE_INSTANT_MAX_DAYS,
    BASE_INSTANT_MIN_DAYS,
    BASE_MINIMAL_DURATION,
    BASE_REFUND_DAYS,
    AvitoApiClient,
)
from ..dates import avito_today
from ..format import format_date, format_rub, is_missing
from ..store import Store
from ..tables import base_params_text
from .base import ActionWidget, auto_layout, classed, confirm_step, listing_options, plan_html

__all__ = ["ListingSettingsPanel", "PriceAction", "current_settings_html", "known_prices_html", "price_labels"]

_WIDE = {"description_width": "170px"}
_KEEP = ("не менять", None)


class _PreviewedWrite(ActionWidget):
    """A form whose one write is previewed, confirmed, then sent as a task: subclasses plan and apply."""

    def __init__(self, client: AvitoApiClient, store: Store, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client, self.store = client, store
        self.plan: PricePlan | ListingPlan | None = None
        self.preview, self.confirm_button, self.cancel_button, self.confirm_box = confirm_step()
        self.confirm_button.on_click(self._routed(self._on_confirm))
        self.cancel_button.on_click(self._routed(self._on_cancel))

    def _show_plan(self, plan: PricePlan | ListingPlan) -> None:
        self.plan = plan
        self.preview.value = plan_html(plan)
        self._say("Проверьте, что уйдёт в Авито, и подтвердите.", "info")
        self._sync_controls()

    def _drop_plan(self, *_: Any) -> None:
        if self.plan is not None:
            self.plan = None
            self._say("Параметры изменились: подготовьте отправку ещё раз.", "info")
        self._sync_controls()

    def _on_confirm(self, _button: Any) -> None:
        plan = self.plan
        if self.busy or plan is None:
            return  # a double click or nothing previewed: nothing is sent
        self.plan = None
        self._say("Отправляем в Авито…", "info")
        self._launch(lambda: self._apply(plan))

    def _on_cancel(self, _button: Any) -> None:
        self.plan = None
        self._say("Ничего не отправлено.", "info")
        self._sync_controls()

    async def _apply(self, plan: Any) -> None:
        raise NotImplementedError


class PriceAction(_PreviewedWrite):
    """Set the price (and optionally the minimum stay and extra-guest fee) of nights FROM <= night < TO.

    >>> act = PriceAction(client, store, item_id=item_id)
    >>> act.date_from.value, act.date_to.value, act.price.value = dt.date(2027, 1, 8), dt.date(2027, 1, 10), 5500
    >>> act.price_button.click(); act.confirm_button.click(); await act.wait_idle()
    """

    def __init__(self, client: AvitoApiClient, store: Store, *, item_id: int | None = None,
                 today: dt.date | None = None) -> None:
        super().__init__(client, store)
        self.today = today or avito_today()
        self.listing = classed(widgets.Dropdown(options=listing_options(store), description="Объявление",
                                                style=_WIDE, layout=widgets.Layout(width="560px")), "avito-listing")
        if item_id is not None:
            self.listing.value = int(item_id)
        self.date_from = classed(widgets.DatePicker(description="С ночи", style=_WIDE), "avito-price-from")
        self.date_to = classed(widgets.DatePicker(description="По (не включая)", style=_WIDE), "avito-price-to")
        self.price = classed(widgets.BoundedIntText(value=0, min=0, max=10_000_000, description="Цена за ночь, ₽",
                                                    style=_WIDE), "avito-price")
        self.min_stay = classed(widgets.Dropdown(options=[_KEEP, *[(str(n), n) for n in range(1, 31)]],
                                                 description="Мин. ночей", style=_WIDE), "avito-price-min-stay")
        self.extra_guest_fee = classed(widgets.BoundedIntText(value=0, min=0, max=1_000_000, style=_WIDE,
                                                              description="Доплата за гостя, ₽ (0 — не менять)"),
                                       "avito-price-extra-guest")
        self.known = classed(widgets.HTML(), "avito-known-prices")
        self.price_button = classed(widgets.Button(description="Задать цену…", icon="rub", button_style="primary",
                                                   layout=auto_layout()), "avito-price-set")
        self.children = [widgets.HTML("<b>Цена ночей</b>"), self.listing, self.date_from, self.date_to, self.price,
                         self.min_stay, self.extra_guest_fee, self.known, self.price_button, self.confirm_box,
                         self.status, self.output]
        self.add_class("avito-price-action")
        for control in (self.listing, self.date_from, self.date_to, self.price, self.min_stay, self.extra_guest_fee):
            control.observe(self._routed(self._on_change), "value")
        self.price_button.on_click(self._routed(self._preview))
        self._routed(self._on_change)()

    def follow(self, calendar: Any) -> PriceAction:
        """Act on ``calendar``'s listing and selected nights (a ``CalendarWidget``), and redraw it after a push."""
        for name in ("listing", "date_from", "date_to"):
            widgets.dlink((getattr(calendar, name), "value"), (getattr(self, name), "value"))
        self._calendar = calendar
        return self

    def _on_change(self, *_: Any) -> None:
        self._drop_plan()
        item_id, first, last = self.listing.value, self.date_from.value, self.date_to.value
        self.known.value = (known_prices_html(self.store, item_id, first, last)
                            if item_id is not None and first is not None and last is not None and last > first else "")

    def _preview(self, _button: Any = None) -> None:
        if self.busy:
            return
        self.plan = None
        first, last = self.date_from.value, self.date_to.value
        if self.listing.value is None or first is None or last is None:
            self._say("Выберите объявление и даты «С ночи» и «По».", "error")
            self._sync_controls()
            return
        try:
            plan = plan_prices(self.store, self.listing.value, first, last, self.price.value,
                               minimal_duration=self.min_stay.value, extra_guest_fee=self.extra_guest_fee.value or None,
                               today=self.today)
        except ValueError as exc:
            self._say(f"Не удалось подготовить цены: {exc}", "error")
            self._sync_controls()
            return
        self._show_plan(plan)

    async def _apply(self, plan: PricePlan) -> None:
        await apply_price_plan(self.client, self.store, plan)
        self._on_change()
        calendar = getattr(self, "_calendar", None)
        if calendar is not None:
            calendar.refresh()
        self._say(f"Цены ночей {format_date(plan.date_from)} – {format_date(plan.date_to - dt.timedelta(days=1))} "
                  f"объявления {plan.item_id}: Авито принял, записано в журнал.", "info")

    def _sync_controls(self) -> None:
        planned = self.plan is not None
        self.price_button.disabled = self.busy or planned or self.listing.value is None
        self._show_confirm(planned)


class ListingSettingsPanel(_PreviewedWrite):
    """A listing's base parameters: what avito_kit last pushed is shown; only the fields changed are sent.

    >>> panel = ListingSettingsPanel(client, store, item_id=item_id)
    >>> panel.min_stay.value, panel.instant.value = 2, True
    >>> panel.save_button.click(); panel.confirm_button.click(); await panel.wait_idle()
    """

    def __init__(self, client: AvitoApiClient, store: Store, *, item_id: int | None = None) -> None:
        super().__init__(client, store)
        self.listing = classed(widgets.Dropdown(options=listing_options(store), description="Объявление",
                                                style=_WIDE, layout=widgets.Layout(width="560px")), "avito-listing")
        if item_id is not None:
            self.listing.value = int(item_id)

        def choice(label: str, values: Any, css: str, show: Any = str) -> widgets.Dropdown:
            return classed(widgets.Dropdown(options=[_KEEP, *[(show(v), v) for v in values]], description=label,
                                            style=_WIDE), css)

        self.night_price = classed(widgets.BoundedIntText(value=0, min=0, max=10_000_000, style=_WIDE,
                                                          description="Цена за ночь, ₽ (0 — не менять)"),
                                   "avito-base-price")
        self.min_stay = choice("Мин. ночей", BASE_MINIMAL_DURATION, "avito-base-min-stay")
        self.instant = choice("Мгновенная бронь", (True, False), "avito-base-instant",
                              lambda v: "включена" if v else "выключена")
        self.instant_min_days = choice("МБ не ближе, дней", BASE_INSTANT_MIN_DAYS, "avito-base-instant-min")
        self.instant_max_days = choice("МБ не дальше, дней", BASE_INSTANT_MAX_DAYS, "avito-base-instant-max")
        self.discounts = {n: classed(widgets.BoundedIntText(value=0, min=0, max=99, style=_WIDE,
                                                            description=f"Скидка от {n} ночей, %"),
                                     f"avito-base-discount-{n}") for n in BASE_DISCOUNT_THRESHOLDS}
        self.send_discounts = classed(widgets.Checkbox(value=False, description="отправить скидки (0 — без скидки)"),
                                      "avito-base-send-discounts")
        self.refund_days = choice("Бесплатная отмена за, дней", BASE_REFUND_DAYS, "avito-base-refund")
        self.extra_guest_fee = classed(widgets.BoundedIntText(value=0, min=0, max=1_000_000, style=_WIDE,
                                                              description="Доплата за гостя, ₽ (0 — не менять)"),
                                       "avito-base-extra-guest")
        self.extra_guest_threshold = choice("Гостей без доплаты", BASE_EXTRA_GUEST_THRESHOLD,
                                            "avito-base-guest-threshold")
        self.current = classed(widgets.HTML(), "avito-base-current")
        self.save_button = classed(widgets.Button(description="Отправить параметры…", icon="sliders",
                                                  button_style="primary", layout=auto_layout()), "avito-base-save")
        fields = [self.night_price, self.min_stay, self.instant, self.instant_min_days, self.instant_max_days,
                  *self.discounts.values(), self.send_discounts, self.refund_days, self.extra_guest_fee,
                  self.extra_guest_threshold]
        self.children = [widgets.HTML("<b>Параметры объявления</b>"), self.listing, self.current, *fields,
                         self.save_button, self.confirm_box, self.status, self.output]
        self.add_class("avito-listing-settings")
        self.listing.observe(self._routed(self._on_listing), "value")
        for control in fields:
            control.observe(self._routed(self._drop_plan), "value")
        self.save_button.on_click(self._routed(self._preview))
        self._routed(self._on_listing)()

    def _on_listing(self, *_: Any) -> None:
        self._drop_plan()
        self.current.value = "" if self.listing.value is None else current_settings_html(
            self.store.current_base_params(self.listing.value))

    def _options(self) -> dict:
        return {"night_price": self.night_price.value or None, "minimal_duration": self.min_stay.value,
                "instant_active": self.instant.value, "instant_min_days": self.instant_min_days.value,
                "instant_max_days": self.instant_max_days.value,
                "discounts": ({n: box.value for n, box in self.discounts.items() if box.value}
                              if self.send_discounts.value else None),
                "refund_days": self.refund_days.value, "extra_guest_fee": self.extra_guest_fee.value or None,
                "extra_guest_threshold": self.extra_guest_threshold.value}

    def _preview(self, _button: Any = None) -> None:
        if self.busy:
            return
        self.plan = None
        if self.listing.value is None:
            self._say("Выберите объявление.", "error")
            self._sync_controls()
            return
        try:
            plan = plan_listing(self.store, self.listing.value, **self._options())
        except ValueError as exc:
            self._say(f"Не удалось подготовить параметры: {exc}", "error")
            self._sync_controls()
            return
        self._show_plan(plan)

    async def _apply(self, plan: ListingPlan) -> None:
        await apply_listing_plan(self.client, self.store, plan)
        self._on_listing()
        self._say(f"Параметры объявления {plan.item_id}: Авито принял, записано в журнал.", "info")

    def _sync_controls(self) -> None:
        planned = self.plan is not None
        self.save_button.disabled = self.busy or planned or self.listing.value is None
        self._show_confirm(planned)


def known_prices_html(store: Store, item_id: int, first: dt.date, last: dt.date) -> str:
    """The nights' known prices, runs of equal price joined: what the host overwrites."""
    frame = store.night_prices(item_id, first, last)
    runs: list[list[Any]] = []
    for row in frame.itertuples():
        key = (None if is_missing(row.night_price) else int(row.night_price),
               None if is_missing(row.minimal_duration) else int(row.minimal_duration))
        if runs and runs[-1][2] == key:
            runs[-1][1] = row.night
        else:
            runs.append([row.night, row.night, key])
    parts = []
    for start, end, (price, stay) in runs:
        span = format_date(start) if start == end else f"{format_date(start)} – {format_date(end)}"
        text = "цена не задана avito_kit" if price is None else format_rub(price)
        parts.append(f"{span}: {text}" + (f", мин. {stay}" if stay else ""))
    return "<div style='color:#333'><b>Сейчас:</b> " + html.escape("; ".join(parts)) + "</div>"


def current_settings_html(current: dict) -> str:
    return f"<div style='color:#333'><b>Отправлено последним:</b> {html.escape(base_params_text(current))}</div>"


def price_labels(store: Store, item_id: int, first: dt.date, last: dt.date) -> dict[dt.date, str]:
    """Night -> its known price and minimum stay as a calendar cell shows them ("5 500 ₽ · от 2"), for the
    nights first <= night < last that avito_kit has a price for."""
    labels = {}
    for row in store.night_prices(item_id, first, last).itertuples():
        if is_missing(row.night_price):
            continue
        stay = "" if is_missing(row.minimal_duration) else f" · от {int(row.minimal_duration)}"
        labels[pd.Timestamp(row.night).date()] = f"{format_rub(row.night_price)}{stay}"
    return labels
