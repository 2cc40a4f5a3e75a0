"""The dashboard: KPI cards, the шахматка and the month-by-month chart for a period and a listing (or all),
from ``metrics`` and ``charts``, updated in place whenever a picker changes. Reads the store only."""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from .. import charts, metrics
from ..dates import add_months, avito_today, month_end
from ..format import format_date, format_decimal, format_int, format_pct, format_rub, records
from ..store import Store
from .base import ActionWidget, classed, listing_options

__all__ = ["PERIODS", "Dashboard", "replace_figure"]

GRID_CACHE_NIGHTS = 120  # presets shorter than this share one grid frame read once (see Dashboard.update)

PERIODS = {  # label -> (first night, last night) from today
    "Этот месяц": lambda t: (t.replace(day=1), month_end(t)),
    "Следующие 30 ночей": lambda t: (t, t + dt.timedelta(days=29)),
    "Следующие 90 ночей": lambda t: (t, t + dt.timedelta(days=89)),
    "Прошлый месяц": lambda t: (add_months(t, -1), t.replace(day=1) - dt.timedelta(days=1)),
    "Последние 90 ночей": lambda t: (t - dt.timedelta(days=90), t - dt.timedelta(days=1)),
    "Этот год": lambda t: (dt.date(t.year, 1, 1), dt.date(t.year, 12, 31)),
}


class Dashboard(ActionWidget):
    """KPI cards, the шахматка and the month-by-month chart for a period and a listing (or all), updated in
    place (``go.FigureWidget`` and ``batch_update()``) whenever a picker changes. Reads the store only.

    >>> dashboard = Dashboard(store)
    >>> dashboard.period.value = "Следующие 30 ночей"; dashboard.kpis   # the totals row shown in the cards
    """

    def __init__(self, store: Store, *, today: dt.date | None = None) -> None:
        super().__init__(layout=widgets.Layout(width="100%"))
        self.store = store
        self.today = today or avito_today()
        self.kpis: pd.DataFrame | None = None
        # What a period change leaves as it was: forward occupancy (from today) by listing, the months by year
        # and listing. Each costs a query of ~0.1 s on 1,000 listings; a picker change must stay under 0.3 s.
        self._forward: dict[tuple[int, ...] | None, pd.DataFrame] = {}
        self._monthly: dict[tuple[int, tuple[int, ...] | None], go.Figure] = {}
        self._facts: pd.DataFrame | None = None  # metrics.grid of every listing, _facts_from .. _facts_to
        self._facts_from = self._facts_to = self.today
        self._active: set[int] = set()
        self.period = classed(widgets.Dropdown(options=[*PERIODS, "Свои даты"], value="Этот месяц",
                                               description="Период"), "avito-period")
        first, last = PERIODS["Этот месяц"](self.today)
        self.date_from = classed(widgets.DatePicker(value=first, description="С ночи"), "avito-date-from")
        self.date_to = classed(widgets.DatePicker(value=last, description="По ночь"), "avito-date-to")
        self.listing = classed(widgets.Dropdown(
            options=[("Все объявления", 0), *listing_options(store)], value=0,  # 0: all (None shows blank)
            description="Объявление", style={"description_width": "initial"},
            layout=widgets.Layout(width="520px")), "avito-dashboard-listing")
        self.cards = classed(widgets.HTML(), "avito-kpi-cards")
        self.grid_figure = go.FigureWidget()
        self.monthly_figure = go.FigureWidget()
        self.children = [widgets.HBox([self.period, self.date_from, self.date_to]), self.listing, self.cards,
                         self.grid_figure, self.monthly_figure, self.status, self.output]
        self.add_class("avito-dashboard")
        self._setting_period = False
        self._shown_monthly: tuple[int, tuple[int, ...] | None] | None = None
        self.period.observe(self._routed(self._on_period), "value")
        for control in (self.date_from, self.date_to, self.listing):
            control.observe(self._routed(self._on_change), "value")
        self._routed(self.update)()

    @property
    def item_ids(self) -> list[int] | None:
        return [self.listing.value] if self.listing.value else None

    def update(self) -> None:
        """Recompute the cards and both charts for the current pickers from the store as it is now (after a
        sync, say); a picker change reuses what does not depend on the period."""
        self._forward.clear()
        self._monthly.clear()
        self._shown_monthly = None
        periods = [period(self.today) for period in PERIODS.values()]
        with self.store.kept_open():
            # The preset periods' years for all listings now, so that picking a preset never waits for them.
            for year in sorted({last.year for _, last in periods}):
                self._monthly_figure(year, None)
            # The nights of every preset but the whole year, every listing: a period or listing within them is
            # a slice of this frame, not a query (~0.15-0.3 s on 1,000 listings).
            near = [(first, last) for first, last in periods if (last - first).days < GRID_CACHE_NIGHTS]
            self._facts_from = min(first for first, _ in near)
            self._facts_to = max(last for _, last in near)
            self._facts = metrics.grid(self.store, self._facts_from, self._facts_to)
            self._active = set(self.store.items().query("status == 'active'")["item_id"].astype("int64"))
            self._show()

    def _grid(self, first: dt.date, last: dt.date, ids: list[int] | None) -> pd.DataFrame:
        """``metrics.grid(store, first, last, item_ids=ids)``, sliced from the kept frame when it covers them."""
        facts = self._facts
        if facts is None or first < self._facts_from or last > self._facts_to:
            return metrics.grid(self.store, first, last, item_ids=ids)
        nights = facts["night"]
        rows = facts[(nights >= pd.Timestamp(first)) & (nights <= pd.Timestamp(last))
                     & (facts["item_id"].isin(ids) if ids else True)]
        # As metrics.grid: an active listing, or one with a booked night in the period.
        booked = set(rows.loc[rows["state"] == "booked", "item_id"].astype("int64"))
        keep = self._active | booked
        return rows[rows["item_id"].astype("int64").isin(keep)].reset_index(drop=True)

    def _monthly_figure(self, year: int, key: tuple[int, ...] | None) -> go.Figure:
        if (year, key) not in self._monthly:
            self._monthly[year, key] = charts.monthly_occupancy_revenue(
                metrics.year_over_year(self.store, year, item_ids=list(key) if key else None))
        return self._monthly[year, key]

    def _show(self) -> None:
        # One open file for the few reads of an update: each open and close costs ~25 ms.
        with self.store.kept_open():
            self._show_open()

    def _show_open(self) -> None:
        first, last = self.date_from.value, self.date_to.value
        if first is None or last is None or last < first:
            self._say("Выберите период: первая ночь не позже последней.", "error")
            return
        ids = self.item_ids
        key = tuple(ids) if ids else None
        self.kpis = metrics.kpis(self.store, first, last, by="total", item_ids=ids)
        if key not in self._forward:
            self._forward[key] = metrics.forward_occupancy(self.store, as_of=self.today, item_ids=ids)
        self.cards.value = _kpi_cards_html(self.kpis, self._forward[key])
        # Many listings: those that need attention first and one row for the rest (charts.attention_grid);
        # every listing page by page: charts.occupancy_grid(metrics.grid(...), page=2).
        replace_figure(self.grid_figure, charts.attention_grid(self._grid(first, last, ids)))
        if (last.year, key) != self._shown_monthly:
            replace_figure(self.monthly_figure, self._monthly_figure(last.year, key))
            self._shown_monthly = (last.year, key)
        self._say(f"Ночи {format_date(first)} – {format_date(last)}.", "info")

    def _on_period(self, change: Any) -> None:
        if change["new"] not in PERIODS:
            return  # "Свои даты": the pickers decide
        first, last = PERIODS[change["new"]](self.today)
        self._setting_period = True
        try:
            self.date_from.value, self.date_to.value = first, last
        finally:
            self._setting_period = False
        self._show()

    def _on_change(self, change: Any) -> None:
        if self._setting_period:
            return
        if change["owner"] is not self.listing and self.period.value in PERIODS:
            self._setting_period = True
            try:
                self.period.value = "Свои даты"
            finally:
                self._setting_period = False
        self._show()


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
        layout = figure.layout.to_plotly_json()
        template = layout.pop("template", None)
        shown = target.layout.to_plotly_json()
        if shown.pop("template", None) != template:  # validating a whole template costs ~0.1 s: only when it differs
            target.layout.template = template
        # Keys the new layout lacks (an empty chart's annotation, say) are cleared, the others replaced.
        target.update_layout({**dict.fromkeys(shown), **layout}, overwrite=True)


def _kpi_cards_html(totals: pd.DataFrame, forward: pd.DataFrame) -> str:
    row = records(totals)[0] if len(totals) else {}
    nights = f"{format_int(row.get('nights_booked'))} из {format_int(row.get('nights_available'))}"
    cards = [
        ("Загрузка", format_pct(row.get("occupancy")), f"ночей занято {nights}"),
        ("Выручка", format_rub(row.get("revenue")), "по ночам периода"),
        ("ADR", format_rub(row.get("adr")), "выручка / занятые ночи"),
        ("RevPAR", format_rub(row.get("revpar")), "выручка / доступные ночи"),
        ("Заезды", format_int(row.get("stays")),
         "ср. длительность " + format_decimal(row.get("alos"))),
    ]
    cards += [(f"Вперёд {r['horizon_days']} дн.", format_pct(r["occupancy"]), format_rub(r["revenue"]))
              for r in records(forward)]
    return "<div style='display:flex;flex-wrap:wrap;gap:8px;margin:6px 0'>" + "".join(
        f"<div class='avito-kpi' style='border:1px solid #dde3ea;border-radius:8px;padding:8px 12px;min-width:120px'>"
        f"<div style='color:#607080;font-size:12px'>{html.escape(title)}</div>"
        f"<div style='font-size:20px;font-weight:600'>{html.escape(value)}</div>"
        f"<div style='color:#8090a0;font-size:11px'>{html.escape(note)}</div></div>"
        for title, value, note in cards) + "</div>"
