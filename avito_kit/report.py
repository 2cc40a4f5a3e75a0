"""The host's report: one self-contained HTML file (plotly.js inlined once; opens offline) and PNG export.

``write_report`` reads the store through ``metrics``, draws with ``charts`` and writes the file atomically::

    from avito_kit import Store
    from avito_kit.report import write_report
    path = write_report(Store())        # reports/avito_report.html: the last 30 days up to today

What the file holds: a header (account, period, data as of, generated at); KPI cards for the period, each
against the previous period of equal length and the same dates a year earlier; forward occupancy for 7, 30
and 60 nights; what needs attention (guests waiting, gap nights, cancellations); the grid of the next 60
nights (over 40 listings: the 40 that need attention first and one row for the rest); a table per listing
(sorts by a click on a header, 25 rows a page); month by month against last year; ADR and RevPAR; the pace
of next month; lead time; length of stay; weekdays; the listing funnel; response times; and the definitions
(METRICS.md). ``write_report(..., notice="...")`` adds a highlighted line at the top (the demo's note).

``export_png(fig, path)`` renders one figure through kaleido 1.x, which drives a Chrome or Chromium.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from . import charts, metrics
from .checks import parse_date
from .dates import add_months, avito_today, month_end, year_back
from .files import write_atomically
from .format import (
    NBSP,
    format_date,
    format_datetime,
    format_decimal,
    format_int,
    format_minutes,
    format_pct,
    format_rub,
    none_if_missing,
    plural,
    shorten,
)
from .store import Store

__all__ = ["DEFAULT_REPORT_PATH", "REPORT_CHARTS", "ReportData", "collect", "export_png", "find_browser",
           "render_html", "report_figures", "write_report"]

DEFAULT_REPORT_PATH = Path("reports") / "avito_report.html"
PERIOD_DAYS = 30  # the default period: the last 30 nights up to today
GRID_DAYS = 60  # the grid shows today .. today + 59
WEEKDAY_WEEKS = 13  # the weekday heatmap: the last 13 ISO weeks up to date_to
MIN_STAY = 2  # gap nights: free runs shorter than this between two stays
TABLE_PAGE = 25  # rows a page of the per-listing table shows

# The charts of the report, in page order (the browser test counts them).
REPORT_CHARTS = ("grid", "yoy", "adr_revpar", "pace", "lead_time", "length_of_stay", "weekdays", "funnel",
                 "response_time", "rating")
UNANSWERED_REVIEWS_SHOWN = 10  # the reviews section lists at most this many waiting for an answer

PLOT_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "locale": "ru",
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}

# Russian for the parts of the plotly.js interface the charts use: date formats and the mode bar.
_PLOTLY_LOCALE_RU = """
Plotly.register({moduleType: 'locale', name: 'ru', dictionary: {
  'Autoscale': 'Автомасштаб', 'Download plot as a png': 'Скачать PNG', 'Download plot': 'Скачать',
  'Pan': 'Сдвиг', 'Reset axes': 'Сбросить оси', 'Zoom': 'Увеличить', 'Zoom in': 'Приблизить',
  'Zoom out': 'Отдалить', 'Produced with Plotly.js': 'Plotly.js', 'Double-click to zoom back out':
  'Двойной щелчок — вернуть масштаб', 'Reset': 'Сбросить', 'Snapshot succeeded': 'Снимок готов'},
  format: {days: ['воскресенье', 'понедельник', 'вторник', 'среда', 'четверг', 'пятница', 'суббота'],
    shortDays: ['вс', 'пн', 'вт', 'ср', 'чт', 'пт', 'сб'],
    months: ['январь', 'февраль', 'март', 'апрель', 'май', 'июнь', 'июль', 'август', 'сентябрь', 'октябрь',
             'ноябрь', 'декабрь'],
    shortMonths: ['янв', 'фев', 'мар', 'апр', 'май', 'июн', 'июл', 'авг', 'сен', 'окт', 'ноя', 'дек'],
    date: '%d.%m.%Y', decimal: ',', thousands: ' '}});
"""


# -- gathering ------------------------------------------------------------------------------------------------


@dataclass
class ReportData:
    """Everything the report shows, as the ``metrics`` frames; ``render_html`` turns it into the page."""

    date_from: dt.date
    date_to: dt.date
    today: dt.date
    account: str = "—"
    listings: int = 0
    titles: dict[int, str] = field(default_factory=dict)
    data_as_of: dt.datetime | None = None
    history_from: dt.date | None = None  # the first night any sync asked Avito for: no data before it
    known_periods: set[str] = field(default_factory=set)  # of "previous" and "last_year": those with any history
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now().astimezone())
    kpis: pd.DataFrame | None = None  # total rows: this period, the previous one, the same dates a year earlier
    kpis_previous: pd.DataFrame | None = None
    kpis_last_year: pd.DataFrame | None = None
    kpis_by_item: pd.DataFrame | None = None
    forward: pd.DataFrame | None = None
    grid: pd.DataFrame | None = None
    gaps: pd.DataFrame | None = None
    yoy: pd.DataFrame | None = None
    kpis_by_month: pd.DataFrame | None = None
    pace: pd.DataFrame | None = None
    pace_from: dt.date | None = None
    pace_to: dt.date | None = None
    lead_times: pd.DataFrame | None = None
    length_of_stay: pd.DataFrame | None = None
    weekday_heatmap: pd.DataFrame | None = None
    weekday_split: pd.DataFrame | None = None
    funnel: pd.DataFrame | None = None
    messaging: pd.DataFrame | None = None
    messaging_summary: pd.DataFrame | None = None
    cancellations: pd.DataFrame | None = None
    review_inbox: pd.DataFrame | None = None
    rating_history: pd.DataFrame | None = None
    score_distribution: pd.DataFrame | None = None
    notice: str | None = None  # a line shown at the top of the page (e.g. the demo's "history is simulated")

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    @property
    def previous(self) -> tuple[dt.date, dt.date]:
        """The period of equal length just before."""
        return self.date_from - dt.timedelta(days=self.days), self.date_from - dt.timedelta(days=1)

    @property
    def last_year(self) -> tuple[dt.date, dt.date]:
        """The same dates a year earlier (29 February maps to 28 February)."""
        return year_back(self.date_from), year_back(self.date_to)


def collect(store: Store, date_from: dt.date, date_to: dt.date, today: dt.date) -> ReportData:
    """Read every frame the report needs from ``store`` through ``metrics`` (read-only)."""
    data = ReportData(date_from=date_from, date_to=date_to, today=today)
    items = store.items()
    if len(items):
        accounts = sorted({int(u) for u in items["user_id"].dropna()})
        data.account = ", ".join(str(a) for a in accounts) or "—"
        data.listings = len(items)
        data.titles = {int(i): str(t) for i, t in zip(items["item_id"], items["title"], strict=True) if pd.notna(t)}
    runs = store.sync_runs()
    ok = runs[runs["status"] == "ok"] if len(runs) else runs
    if len(ok):
        data.data_as_of = pd.Timestamp(ok["finished_at"].max()).to_pydatetime()
        data.history_from = _synced_from(ok["counts"])

    data.kpis = metrics.kpis(store, date_from, date_to, by="total")
    data.kpis_previous = metrics.kpis(store, *data.previous, by="total")
    data.kpis_last_year = metrics.kpis(store, *data.last_year, by="total")
    # A comparison with a period no sync read and no booking covers would be against zeros, not history.
    data.known_periods = {name for name in ("previous", "last_year")
                          if metrics.has_history(store, *getattr(data, name))}
    data.kpis_by_item = metrics.kpis(store, date_from, date_to, by="item")
    data.forward = metrics.forward_occupancy(store, as_of=today, horizons=(7, 30, 60))

    grid_to = today + dt.timedelta(days=GRID_DAYS - 1)
    data.grid = metrics.grid(store, today, grid_to)
    data.gaps = metrics.gap_nights(store, today, grid_to, min_stay=MIN_STAY)

    data.yoy = metrics.year_over_year(store, date_to.year)
    first_month = add_months(date_to, -11)
    data.kpis_by_month = metrics.kpis(store, first_month, month_end(date_to), by="month")

    data.pace_from = add_months(today, 1)
    data.pace_to = month_end(data.pace_from)
    data.pace = metrics.pace(store, data.pace_from, data.pace_to, as_of=today, days_back=90)

    year_ago = date_to - dt.timedelta(days=364)
    data.lead_times = metrics.lead_times(store, year_ago, date_to)
    data.length_of_stay = metrics.length_of_stay(store, year_ago, date_to)
    week_start = date_to - dt.timedelta(days=date_to.weekday()) - dt.timedelta(weeks=WEEKDAY_WEEKS - 1)
    data.weekday_heatmap = metrics.weekday_heatmap(store, week_start, date_to)
    data.weekday_split = metrics.weekday_split(store, date_from, date_to)
    data.funnel = metrics.listing_funnel(store, date_from, date_to)
    data.messaging = metrics.messaging(store)
    data.messaging_summary = metrics.messaging_summary(store)
    data.cancellations = metrics.cancellation_summary(store, date_from, date_to)
    data.review_inbox = metrics.review_inbox(store)
    data.rating_history = metrics.rating_history(store)
    data.score_distribution = metrics.score_distribution(store)
    return data


def write_report(
    store: Store,
    out_path: str | os.PathLike[str] | None = None,
    date_from: str | dt.date | None = None,
    date_to: str | dt.date | None = None,
    today: str | dt.date | None = None,
    notice: str | None = None,
) -> Path:
    """Write the report for nights ``date_from`` .. ``date_to`` (default the 30 nights up to ``today``) to one
    self-contained HTML file (default ``reports/avito_report.html``; folders created; written atomically).

    Forward-looking parts (forward occupancy, the grid of the next 60 nights, next month's pace) start at
    ``today`` (default today in Moscow, Avito's day: ``dates.avito_today()``). ``notice``, when given, is shown
    at the top of the page in a highlighted box (plain text). Returns the path written.

    >>> write_report(Store(), date_from="2026-06-01", date_to="2026-06-30")
    PosixPath('reports/avito_report.html')
    """
    day = avito_today() if today is None else parse_date(today, "today")
    last = day if date_to is None else parse_date(date_to, "date_to")
    first = last - dt.timedelta(days=PERIOD_DAYS - 1) if date_from is None else parse_date(date_from, "date_from")
    if last < first:
        raise ValueError(f"date_to {last} must be on or after date_from {first}")
    data = collect(store, first, last, day)
    data.notice = notice
    page = render_html(data)
    path = Path(out_path) if out_path is not None else DEFAULT_REPORT_PATH
    write_atomically(path, page.encode("utf-8"))
    return path


# -- rendering --------------------------------------------------------------------------------------------------


def report_figures(data: ReportData) -> dict[str, go.Figure]:
    """The report's charts by name, in :data:`REPORT_CHARTS` order."""
    monthly, yoy = data.kpis_by_month, data.yoy
    if data.history_from is not None:
        # Months that start before the first synced night would show as empty: unknown, so left out (NaN).
        start = pd.Timestamp(data.history_from)
        if monthly is not None and len(monthly):
            monthly = monthly[pd.to_datetime(monthly["period"]) >= start]
        if yoy is not None and len(yoy):
            yoy = yoy.copy()
            month = pd.to_datetime(yoy["month"])
            this = ["occupancy", "revenue", "adr", "revpar", "nights_booked"]
            yoy[this] = yoy[this].astype("float64")
            yoy[["ly_" + c for c in this]] = yoy[["ly_" + c for c in this]].astype("float64")
            yoy.loc[month < start, this] = float("nan")
            yoy.loc[month - pd.DateOffset(years=1) < start, ["ly_" + c for c in this]] = float("nan")
    figures = {
        "grid": charts.attention_grid(data.grid, min_stay=MIN_STAY),
        "yoy": charts.monthly_occupancy_revenue(yoy),
        "adr_revpar": charts.adr_revpar_trend(monthly),
        "pace": charts.pace_curve(data.pace),
        "lead_time": charts.lead_time_histogram(data.lead_times),
        "length_of_stay": charts.length_of_stay_histogram(data.length_of_stay),
        "weekdays": charts.weekday_heatmap(data.weekday_heatmap),
        "funnel": charts.listing_funnel(data.funnel),
        "response_time": charts.response_time(data.messaging),
        "rating": charts.rating_over_time(data.rating_history, data.score_distribution),
    }
    if data.pace_from is not None and data.pace_to is not None and len(figures["pace"].data):
        figures["pace"].update_layout(title_text=charts.PACE_TITLE + f": {format_date(data.pace_from)} — "
                                      f"{format_date(data.pace_to)}")
    assert tuple(figures) == REPORT_CHARTS
    return figures


def render_html(data: ReportData) -> str:
    """The whole page as one string: plotly.js inlined once in <head>, every chart a div that uses it."""
    figures = report_figures(data)
    plots = {name: _plot_div(fig, name) for name, fig in figures.items()}
    period = f"{format_date(data.date_from)} — {format_date(data.date_to)}"
    days = data.days
    body = f"""
<header class="top">
  <div class="wrap">
    <div class="brand">avito_kit · отчёт хозяина</div>
    <h1>Посуточная аренда: {period}</h1>
    <div class="meta">
      <span>Аккаунт Avito <b>{_e(data.account)}</b></span>
      <span>Объявлений <b>{data.listings}</b></span>
      <span>Период <b>{days} {plural(days, 'ночь', 'ночи', 'ночей')}</b></span>
      <span>Данные на <b>{_e(format_datetime(data.data_as_of, suffix=" UTC"))}</b></span>
      <span>Сформирован <b>{_e(format_datetime(data.generated_at))}</b></span>
    </div>
  </div>
</header>
<main class="wrap">
  {_notice(data)}
  {_no_data_banner(data)}
  <section>
    <h2>Итоги периода</h2>
    <p class="lead">Сравнение с предыдущими {days} {plural(days, 'ночью', 'ночами', 'ночами')}
      ({_e(_range_label(*data.previous))}) и с теми же датами год назад ({_e(_range_label(*data.last_year))}).</p>
    {_kpi_cards(data)}
  </section>
  <section>
    <h2>Загрузка вперёд</h2>
    <p class="lead">Занятые / доступные ночи, начиная с {format_date(data.today)}: то, что уже забронировано.</p>
    {_forward_cards(data)}
    {_attention(data)}
  </section>
  <section class="card-block">
    {plots['grid']}
    {_grid_note(data)}
    {_gaps_table(data)}
  </section>
  <section class="card-block">
    <h2>По объявлениям за период</h2>
    {_listing_table(data)}
  </section>
  <section class="card-block">
    {plots['yoy']}
    {_history_note(data)}
  </section>
  <section class="card-block">{plots['adr_revpar']}</section>
  <section class="card-block">{plots['pace']}</section>
  <section class="pair">
    <div class="card-block">{plots['lead_time']}</div>
    <div class="card-block">{plots['length_of_stay']}</div>
  </section>
  <section class="card-block">
    {plots['weekdays']}
    {_weekday_split(data)}
  </section>
  <section class="pair">
    <div class="card-block">{plots['funnel']}</div>
    <div class="card-block">{plots['response_time']}</div>
  </section>
  <section class="card-block">
    <h2>Отзывы</h2>
    {plots['rating']}
    {_reviews_table(data)}
  </section>
  {_definitions()}
</main>
<footer class="wrap foot">avito_kit · файл самодостаточен: открывается без интернета · {period}</footer>
"""
    # "</script" inside the bundle would end its tag early; plotly.js has none, but the page must never break.
    bundle = get_plotlyjs().replace("</script", "<\\/script")
    return f"""<!DOCTYPE html>
<html lang="ru">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="avito_kit">
<title>Отчёт Avito · {period}</title>
<style>{_CSS}</style>
<script id="plotly-js">{bundle}</script>
<script>{_PLOTLY_LOCALE_RU}</script>
</head>
<body>
{body}
<script>{_TABLE_JS}</script>
</body>
</html>
"""


def _plot_div(fig: go.Figure, name: str) -> str:
    height = fig.layout.height or 420
    div = pio.to_html(fig, include_plotlyjs=False, full_html=False, config=PLOT_CONFIG, default_width="100%",
                      default_height=f"{height}px", div_id=f"chart-{name}", validate=True)
    # plotly writes Cyrillic as \uXXXX (6 bytes a letter); the page is UTF-8, so the letters go in as they are.
    div = _ESCAPED_TEXT.sub(lambda m: m.group(1) + chr(int(m.group(2), 16)), div)
    return f'<div class="chart" data-chart="{name}">{div}</div>'


# Cyrillic, NBSP, dashes and the ruble sign: never markup, so safe unescaped inside the plot's <script>.
_ESCAPED_TEXT = re.compile(r"(?<!\\)((?:\\\\)*)\\u(04[0-9a-fA-F]{2}|00a0|2013|2014|20bd|00ab|00bb)")


def _grid_note(data: ReportData) -> str:
    listings = 0 if data.grid is None or not len(data.grid) else data.grid["item_id"].nunique()
    if listings <= charts.ATTENTION_ROWS:
        return ""
    return (f'<p class="small">Показаны {charts.ATTENTION_ROWS} из {listings} объявлений, которым нужно внимание: '
            f"больше всего свободных ночей в ближайшие {charts.SOON_NIGHTS} ночей и ночей в окнах короче {MIN_STAY} "
            "ночей. "
            "Нижняя строка — остальные объявления вместе: доля занятых ночей из доступных. Всю шахматку "
            "по страницам покажет блокнот: <code>charts.occupancy_grid(metrics.grid(store, первая, последняя), "
            "page=1)</code>; цифры по каждому объявлению — в таблице ниже.</p>")


def _notice(data: ReportData) -> str:
    if not data.notice:
        return ""
    return f'<div class="note warn banner notice"><b>{_e(data.notice)}</b></div>'


def _total(df: pd.DataFrame | None) -> dict[str, Any]:
    if df is None or not len(df):
        return {}
    rows = df[df["item_id"].isna()] if "item_id" in df.columns else df
    return (rows if len(rows) else df).iloc[-1].to_dict()


def _kpi_cards(data: ReportData) -> str:
    now, prev, ly = _total(data.kpis), _total(data.kpis_previous), _total(data.kpis_last_year)
    alos = now.get("alos")
    stays = now.get("stays")
    cards = [
        ("Загрузка", format_pct(now.get("occupancy")), "занятые / доступные ночи", "occupancy", "pp"),
        ("Выручка", format_rub(now.get("revenue")), "сумма ночей периода (цена брони / ночи)", "revenue", "rel"),
        ("ADR", format_rub(now.get("adr")), "выручка / занятые ночи", "adr", "rel"),
        ("RevPAR", format_rub(now.get("revpar")), "выручка / доступные ночи", "revpar", "rel"),
        ("Занято ночей", f"{format_int(now.get('nights_booked'))} из {format_int(now.get('nights_available'))}",
         "в активных бронях / доступные", "nights_booked", "rel"),
        ("Заезды · ALOS", f"{format_int(stays)} · {format_decimal(alos, unit='ноч.')}",
         "брони с заездом в периоде · средняя длительность", "stays", "rel"),
    ]
    out = []
    for label, value, definition, key, kind in cards:
        deltas = "".join(
            _delta(now.get(key), base.get(key), kind, against) if _covered(data, period) else
            f'<div class="delta flat"><span class="arrow">·</span> нет истории <span>{against}</span></div>'
            for base, against, period in ((prev, "к пред. периоду", "previous"),
                                          (ly, f"к {data.last_year[0].year} году", "last_year")))
        out.append(f"""<div class="kpi" data-kpi="{key}">
  <div class="kpi-label">{label}</div>
  <div class="kpi-value">{_e(value)}</div>
  <div class="kpi-def">{definition}</div>
  <div class="kpi-deltas">{deltas}</div>
</div>""")
    return f'<div class="kpis">{"".join(out)}</div>'


def _delta(value: Any, base: Any, kind: str, against: str) -> str:
    """▲/▼ with the change against ``base``: percentage points for occupancy, a relative change otherwise."""
    v, b = _float(value), _float(base)
    if v is None or b is None or (kind == "rel" and b == 0):
        return f'<div class="delta flat"><span class="arrow">·</span> нет данных <span>{against}</span></div>'
    diff = (v - b) * 100 if kind == "pp" else (v - b) / abs(b) * 100
    unit = f"{NBSP}п.п." if kind == "pp" else f"{NBSP}%"
    if abs(diff) < 0.05:
        cls, arrow = "flat", "■"
    else:
        cls, arrow = ("up", "▲") if diff > 0 else ("down", "▼")
    sign = "+" if diff > 0 else "−" if diff < 0 else "±"
    number = format_decimal(abs(diff))
    return (f'<div class="delta {cls}"><span class="arrow">{arrow}</span> {sign}{number}{unit} '
            f'<span>{against}</span></div>')


def _forward_cards(data: ReportData) -> str:
    df = data.forward
    if df is None or not len(df):
        return '<p class="empty">Нет данных за период</p>'
    out = []
    for _, r in df.iterrows():
        h = int(r["horizon_days"])
        occ = _float(r["occupancy"])
        width = 0 if occ is None else max(0.0, min(occ, 1.0)) * 100
        out.append(f"""<div class="fwd" data-horizon="{h}">
  <div class="kpi-label">Следующие {h} {plural(h, 'ночь', 'ночи', 'ночей')}</div>
  <div class="kpi-value">{format_pct(occ)}</div>
  <div class="bar"><div style="width:{width:.1f}%"></div></div>
  <div class="kpi-def">{format_int(r['nights_booked'])} из {format_int(r['nights_available'])} ночей ·
    {format_rub(r['revenue'])} · {format_date(r['date_from'])} — {format_date(r['date_to'])}</div>
</div>""")
    return f'<div class="fwds">{"".join(out)}</div>'


def _attention(data: ReportData) -> str:
    summary = _total(data.messaging_summary)
    waiting = int(_float(summary.get("unanswered")) or 0)
    median = summary.get("median_response_minutes")
    gaps = data.gaps if data.gaps is not None else pd.DataFrame()
    gap_nights = int(gaps["nights"].sum()) if len(gaps) else 0
    canc = _total(data.cancellations)
    n_canc = int(_float(canc.get("cancellations")) or 0)
    items = [
        ("warn" if waiting else "ok", f"{waiting} {plural(waiting, 'гость ждёт', 'гостя ждут', 'гостей ждут')} ответа",
         f"медиана первого ответа {format_minutes(median)}"),
        ("warn" if gap_nights else "ok",
         f"{gap_nights} {plural(gap_nights, 'ночь', 'ночи', 'ночей')} в окнах короче {MIN_STAY} ночей",
         f"в ближайшие {GRID_DAYS} ночей: их не забронировать при минимальном сроке {MIN_STAY}"),
        ("warn" if n_canc else "ok", f"{n_canc} {plural(n_canc, 'отмена', 'отмены', 'отмен')} за период",
         f"потеряно {format_rub(canc.get('lost_revenue'))}; доля {format_pct(canc.get('cancellation_rate'))} "
         "от новых броней"),
    ]
    reviews = data.review_inbox if data.review_inbox is not None else pd.DataFrame()
    if len(reviews):
        waiting_reviews = int(reviews["needs_answer"].sum())
        low = int((reviews["needs_answer"] & (reviews["score"] <= 3)).sum())
        items.append(("warn" if waiting_reviews else "ok",
                      f"{waiting_reviews} {plural(waiting_reviews, 'отзыв', 'отзыва', 'отзывов')} без ответа",
                      f"из них с оценкой 3 и ниже: {low}; ответ виден всем, кто выбирает жильё"))
    cells = "".join(f'<div class="note {cls}"><b>{_e(head)}</b><span>{_e(text)}</span></div>'
                    for cls, head, text in items)
    return f'<div class="notes">{cells}</div>'


def _reviews_table(data: ReportData) -> str:
    """The newest reviews waiting for an answer (``metrics.review_inbox``), with the command that answers one."""
    reviews = data.review_inbox
    if reviews is None or reviews.empty:
        return '<p class="lead">Отзывов нет: у аккаунта нет рейтинга или синхронизация их ещё не читала.</p>'
    waiting = reviews[reviews["needs_answer"]].head(UNANSWERED_REVIEWS_SHOWN)
    if waiting.empty:
        return '<p class="lead">На все отзывы есть ответ.</p>'
    rows = "".join(
        f"<tr><td>{_e(r.review_id)}</td><td>{_e(format_date(r.created_at))}</td><td>{_e(int(r.score))}★</td>"
        f"<td>{_e(none_if_missing(r.sender_name) or '—')}</td><td>{_e(none_if_missing(r.item_title) or '—')}</td>"
        f"<td>{_e(shorten(none_if_missing(r.text) or '', 120))}</td>"
        f"<td>{_e('отклонён модерацией' if r.answer_status == 'rejected' else 'нет')}</td></tr>"
        for r in waiting.itertuples())
    return ('<p class="lead">Отзывы без ответа, новые сверху; ответить: '
            "<code>avito-kit review answer REVIEW_ID \"текст\"</code> или виджет ReviewsWidget.</p>"
            '<div class="table-wrap"><table class="reviews"><thead><tr><th>Отзыв</th><th>Дата</th><th>Оценка</th>'
            f"<th>Гость</th><th>Объявление</th><th>Текст</th><th>Ответ</th></tr></thead><tbody>{rows}</tbody>"
            "</table></div>")


def _gaps_table(data: ReportData) -> str:
    gaps = data.gaps
    if gaps is None or not len(gaps):
        return ""
    rows = "".join(
        f"<tr><td>{_e(r['title'])}</td><td data-v='{pd.Timestamp(r['gap_start']).value}'>"
        f"{format_date(r['gap_start'])}</td><td data-v='{pd.Timestamp(r['gap_end']).value}'>"
        f"{format_date(pd.Timestamp(r['gap_end']) - pd.Timedelta(days=1))}</td>"
        f"<td class='num'>{int(r['nights'])}</td></tr>"
        for _, r in gaps.sort_values("gap_start").iterrows()
    )
    return f"""<details class="gaps"><summary>Окна между бронями короче {MIN_STAY} ночей: {len(gaps)}
  — откройте даты для брони на одну ночь или снизьте минимальный срок</summary>
<table class="sortable" data-page-size="{TABLE_PAGE}"><thead><tr><th data-sort="text">Объявление</th>
<th data-sort="num">Первая ночь</th><th data-sort="num">Последняя ночь</th><th class="num" data-sort="num">Ночей</th>
</tr></thead>
<tbody>{rows}</tbody></table></details>"""


def _listing_table(data: ReportData) -> str:
    df = data.kpis_by_item
    if df is None or not len(df):
        return '<p class="empty">Нет данных за период</p>'
    titles = data.titles
    rows = df[df["item_id"].notna()].sort_values("revenue", ascending=False)
    total = _total(df)
    top = max((_float(v) or 0.0) for v in rows["revenue"]) if len(rows) else 0.0

    def row(r: dict[str, Any], name: str, cls: str = "") -> str:
        occ = _float(r.get("occupancy"))
        rev = _float(r.get("revenue")) or 0.0
        occ_bar = 0 if occ is None else max(0.0, min(occ, 1.0)) * 100
        rev_bar = rev / top * 100 if top else 0
        # data-v: the number a click on the column's header sorts by (the shown text is formatted)
        return (f'<tr class="{cls}"><td>{_e(name)}</td>'
                f'<td class="num" data-v="{_sort_value(occ)}"><div class="cellbar">'
                f'<div style="width:{occ_bar:.0f}%"></div></div>{format_pct(occ)}</td>'
                f'<td class="num" data-v="{_sort_value(rev)}"><div class="cellbar rev">'
                f'<div style="width:{rev_bar:.0f}%"></div></div>{format_rub(r.get("revenue"))}</td>'
                f'<td class="num" data-v="{_sort_value(r.get("adr"))}">{format_rub(r.get("adr"))}</td>'
                f'<td class="num" data-v="{_sort_value(r.get("revpar"))}">{format_rub(r.get("revpar"))}</td>'
                f'<td class="num" data-v="{_sort_value(r.get("nights_booked"))}">'
                f'{format_int(r.get("nights_booked"))} / {format_int(r.get("nights_available"))}</td>'
                f'<td class="num" data-v="{_sort_value(r.get("stays"))}">{format_int(r.get("stays"))}</td>'
                f'<td class="num" data-v="{_sort_value(r.get("alos"))}">{format_decimal(r.get("alos"), unit="ноч.")}'
                "</td></tr>")

    body = "".join(row(r, titles.get(int(r["item_id"]), f"Объявление {int(r['item_id'])}"))
                   for r in rows.to_dict("records"))
    foot = row(total, "Итого", "total") if total else ""
    heads = "".join(f'<th class="num" data-sort="num">{h}</th>' for h in (
        "Загрузка", "Выручка", "ADR", "RevPAR", "Ночей занято / доступно", "Заезды", "ALOS"))
    return f"""<p class="small">Щелчок по заголовку столбца сортирует таблицу (ещё один — в обратном порядке).</p>
<div class="table-wrap"><table class="listings sortable" data-page-size="{TABLE_PAGE}">
<thead><tr><th data-sort="text">Объявление</th>{heads}</tr></thead>
<tbody>{body}</tbody><tfoot>{foot}</tfoot></table></div>"""


def _sort_value(value: Any) -> str:
    number = _float(value)
    return "" if number is None or number != number else repr(round(number, 6))


def _weekday_split(data: ReportData) -> str:
    df = data.weekday_split
    if df is None or not len(df):
        return ""
    names = {"weekday": "Будни (вс–чт)", "weekend": "Выходные (пт, сб)"}
    parts = [f'<div class="split"><b>{names.get(r["day_type"], _e(r["day_type"]))}</b> загрузка '
             f'{format_pct(r["occupancy"])} · ADR {format_rub(r["adr"])} · {format_int(r["nights_booked"])} ночей</div>'
             for _, r in df.iterrows()]
    return f'<div class="splits">За период {_e(_range_label(data.date_from, data.date_to))}: {"".join(parts)}</div>'


def _no_data_banner(data: ReportData) -> str:
    if data.listings:
        return ""
    return ('<div class="note warn banner"><b>В базе нет объявлений</b><span>Сначала синхронизируйте аккаунт: '
            "<code>avito-kit sync</code>, затем постройте отчёт снова.</span></div>")


def _history_note(data: ReportData) -> str:
    if data.history_from is None or data.history_from <= dt.date(data.date_to.year - 1, 1, 1):
        return ""
    return (f'<p class="small">История в базе avito_kit — с ночи {format_date(data.history_from)} (первая '
            "синхронизация; старше Avito не отдаёт): месяцы раньше неё не показаны.</p>")


def _covered(data: ReportData, period: str) -> bool:
    """Whether the report compares with ``period`` ("previous" or "last_year"): some history of it is stored, and
    no sync window started after its first night."""
    first_night = getattr(data, period)[0]
    return period in data.known_periods and (data.history_from is None or first_night >= data.history_from)


def _synced_from(counts: pd.Series) -> dt.date | None:
    """The earliest ``date_from`` of the sync runs' counts (JSON): the first night the store can know."""
    found = []
    for raw in counts.dropna():
        try:
            found.append(dt.date.fromisoformat(json.loads(raw)["date_from"]))
        except (TypeError, ValueError, KeyError):  # an older or foreign counts object: no date to learn
            continue
    return min(found) if found else None


def _definitions() -> str:
    items = [
        ("Ночь", "бронь с заезда по выезд занимает ночи от даты заезда до выезда − 1; ночь названа датой вечера."),
        ("Занятая ночь", "внутри активной брони; отменённые, ожидающие и неизвестные статусы ночи не занимают."),
        ("Закрытая ночь", "внутри ручной блокировки хозяина в календаре и не занятая бронью."),
        ("Загрузка", "занятые / доступные ночи, где доступные = все − закрытые (как у Guesty, Lodgify, AirDNA)."),
        ("Выручка", "каждая занятая ночь несёт цену брони / число её ночей: бронь на стыке месяцев делится."),
        ("ADR", "выручка / занятые ночи. RevPAR — выручка / доступные ночи."),
        ("Заезды и ALOS", "активные брони с заездом в периоде; ALOS — их средняя полная длительность."),
        ("Итоги", "суммы ночей и выручки по объявлениям; доли пересчитаны из сумм, а не усреднены."),
        ("Темп (pace)", "ночи и выручка на руках к дате, как их знала база тогда, против того же момента год назад."),
        ("Срок бронирования", "от первого появления брони в базе до заезда: брони, найденные при первой "
                              "синхронизации, получают её дату, и их срок занижен."),
        ("Окна", f"свободные ночи между двумя бронями, короче минимального срока ({MIN_STAY})."),
        ("Ответ", "от первого входящего сообщения гостя до первого ответа хозяина; «ждёт ответа» — после "
                  "последнего ответа пришло сообщение гостя."),
    ]
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    return f"""<section class="defs"><h2>Определения</h2>
<p class="small">Все числа считаются по определениям avito_kit (METRICS.md) из одной таблицы «ночь × объявление»
в DuckDB.</p><dl>{rows}</dl></section>"""


# -- small helpers ------------------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _float(value: Any) -> float | None:
    """A number, or None for a missing or non-numeric value."""
    try:
        return float(none_if_missing(value))
    except (TypeError, ValueError):
        return None


def _range_label(first: dt.date, last: dt.date) -> str:
    return f"{format_date(first)} — {format_date(last)}"


# -- PNG export ----------------------------------------------------------------------------------------------------

_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_BROWSER_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome",
                  "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
                  "/Applications/Chromium.app/Contents/MacOS/Chromium")


def find_browser() -> str | None:
    """The Chrome or Chromium kaleido 1.x will drive: ``BROWSER_PATH`` (choreographer's own override) when set,
    else one on ``PATH`` or in a usual place; ``None`` when there is none."""
    override = os.environ.get("BROWSER_PATH")
    if override:
        return override if Path(override).is_file() and os.access(override, os.X_OK) else None
    for name in _BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in _BROWSER_PATHS if Path(p).is_file() and os.access(p, os.X_OK)), None)


def export_png(fig: go.Figure, path: str | os.PathLike[str], width: int = 1200, height: int = 600,
               *, scale: float = 1.0) -> Path:
    """Render ``fig`` to a PNG file with kaleido (written atomically; folders created); returns the path.

    kaleido 1.x runs a headless Chrome or Chromium: :func:`find_browser` picks it (set ``BROWSER_PATH`` to
    choose one). No browser, or no kaleido: ``RuntimeError`` saying what to install.

    >>> export_png(charts.occupancy_grid(facts), "reports/grid.png")
    PosixPath('reports/grid.png')
    """
    browser = find_browser()
    if browser is None:
        hint = (f"BROWSER_PATH={os.environ['BROWSER_PATH']!r} is not an executable file"
                if os.environ.get("BROWSER_PATH") else "no Chrome or Chromium found")
        raise RuntimeError(f"PNG export needs Chrome or Chromium for kaleido 1.x: {hint}; install one "
                           "(Debian: apt-get install chromium) or set BROWSER_PATH to its executable")
    try:
        import kaleido
    except ImportError as exc:
        raise RuntimeError("PNG export needs kaleido>=1: pip install 'avito_kit[notebook]'") from exc
    opts = {"format": "png", "width": int(width), "height": int(height), "scale": scale}
    # MathJax off: kaleido would otherwise load it from a CDN, and the export must work offline.
    png = kaleido.calc_fig_sync(fig, opts=opts, kopts={"path": browser, "mathjax": False})
    if not isinstance(png, bytes | bytearray) or not bytes(png[:8]) == b"\x89PNG\r\n\x1a\n":
        raise RuntimeError(f"kaleido returned no PNG for the figure (browser {browser})")
    out = Path(path)
    write_atomically(out, bytes(png))
    return out


# Sorting (click a header; again to reverse) and paging of every table.sortable; rows stay in the page's HTML,
# only shown or hidden, so the page works the same without scripts (all rows shown).
_TABLE_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  var body = table.tBodies[0], size = +table.dataset.pageSize || 25, page = 0, pager = null;
  var rows = Array.prototype.slice.call(body.rows);
  function pages() { return Math.max(1, Math.ceil(rows.length / size)); }
  function show() {
    rows.forEach(function (row, i) { row.style.display = Math.floor(i / size) === page ? '' : 'none'; });
    if (!pager) return;
    var first = page * size + 1, last = Math.min(rows.length, (page + 1) * size);
    pager.querySelector('.where').textContent = 'Строки ' + first + '–' + last + ' из ' + rows.length +
      ' · страница ' + (page + 1) + ' из ' + pages();
    pager.querySelector('.prev').disabled = page === 0;
    pager.querySelector('.next').disabled = page >= pages() - 1;
  }
  if (rows.length > size) {
    pager = document.createElement('div');
    pager.className = 'pager';
    pager.innerHTML = '<button type="button" class="prev">‹ Назад</button><span class="where"></span>' +
      '<button type="button" class="next">Вперёд ›</button>';
    pager.querySelector('.prev').onclick = function () { page = Math.max(0, page - 1); show(); };
    pager.querySelector('.next').onclick = function () { page = Math.min(pages() - 1, page + 1); show(); };
    (table.closest('.table-wrap') || table).insertAdjacentElement('afterend', pager);
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    if (!th.dataset.sort) return;
    th.classList.add('sorts');
    th.title = 'Сортировать';
    th.onclick = function () {
      var down = th.getAttribute('aria-sort') !== 'descending';
      Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', down ? 'descending' : 'ascending');
      function key(row) {
        var cell = row.cells[col];
        if (th.dataset.sort === 'text') return cell.textContent.trim().toLowerCase();
        var v = cell.dataset.v;
        return v === undefined || v === '' ? null : +v;
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (x === y) return 0;
        if (x === null) return 1;  // empty cells last either way
        if (y === null) return -1;
        return (x < y ? -1 : 1) * (down ? -1 : 1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
      page = 0;
      show();
    };
  });
  show();
});
"""

_CSS = """
:root { --ink:#1F2933; --muted:#616E7C; --line:#E4E7EB; --bg:#F5F7FA; --blue:#1E88E5; --green:#1E8E5A;
        --red:#D64545; --navy:#0B2540; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
       font: 14px/1.45 Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; }
.wrap { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
.top { background: linear-gradient(120deg, #0B2540 0%, #12406E 60%, #1E88E5 130%); color:#fff; padding: 28px 0 30px; }
.brand { font-size: 12px; letter-spacing: .08em; text-transform: uppercase; opacity: .75; }
h1 { margin: 6px 0 14px; font-size: 28px; font-weight: 650; }
.meta { display:flex; flex-wrap:wrap; gap: 8px 22px; font-size: 13px; opacity: .92; }
.meta b { font-weight: 600; }
section { margin: 26px 0; }
h2 { font-size: 19px; margin: 0 0 6px; font-weight: 650; }
.lead { color: var(--muted); margin: 0 0 14px; }
.kpis { display:grid; grid-template-columns: repeat(auto-fill, minmax(185px, 1fr)); gap: 14px; }
.kpi, .fwd, .card-block, .note { background:#fff; border:1px solid var(--line); border-radius: 12px;
       box-shadow: 0 1px 2px rgba(16,24,40,.04); }
.kpi, .fwd { padding: 14px 16px; }
.kpi-label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.kpi-value { font-size: 25px; font-weight: 700; margin: 4px 0 2px; white-space: nowrap; }
.kpi-def { font-size: 12px; color: var(--muted); }
.kpi-deltas { margin-top: 10px; border-top: 1px dashed var(--line); padding-top: 8px; }
.delta { font-size: 12.5px; font-weight: 600; }
.delta span:last-child { font-weight: 400; color: var(--muted); }
.delta.up { color: var(--green); } .delta.down { color: var(--red); } .delta.flat { color: var(--muted); }
.fwds { display:grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 14px; }
.bar { height: 8px; background: #E9EEF4; border-radius: 4px; overflow: hidden; margin: 8px 0; }
.bar > div { height: 100%; background: var(--blue); border-radius: 4px; }
.notes { display:grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 14px; margin-top: 14px; }
.note { padding: 12px 16px; border-left: 4px solid var(--green); display:flex; flex-direction:column; gap:2px; }
.note.warn { border-left-color: #F08C2E; }
.banner { margin-top: 22px; }
.note span { color: var(--muted); font-size: 12.5px; }
.card-block { padding: 14px 16px; }
.pair { display:grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.pair .card-block { min-width: 0; }
@media (max-width: 900px) { .pair { grid-template-columns: 1fr; } }
.chart { width: 100%; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th { text-align:left; font-weight:600; color: var(--muted); font-size: 12px; border-bottom: 1px solid var(--line);
     padding: 8px 10px; }
td { padding: 8px 10px; border-bottom: 1px solid #F0F2F5; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.total td { font-weight: 700; border-top: 2px solid var(--line); }
.table-wrap { overflow-x: auto; margin-top: 10px; }
.cellbar { display:inline-block; width: 56px; height: 6px; background:#E9EEF4; border-radius:3px;
           margin-right: 8px; vertical-align: middle; overflow:hidden; }
.cellbar > div { height:100%; background: var(--blue); }
.cellbar.rev > div { background: #2E9E6A; }
details.gaps { margin: 8px 4px 0; }
details.gaps summary { cursor: pointer; color: #B26A00; font-weight: 600; }
details.gaps table { margin-top: 8px; max-width: 760px; }
.splits { display:flex; flex-wrap: wrap; gap: 8px 20px; color: var(--muted); margin: 6px 6px 2px; }
.split b { color: var(--ink); }
.small { font-size: 12px; color: var(--muted); margin: 6px 6px 0; }
.empty { color: var(--muted); }
.defs dl { display:grid; grid-template-columns: 180px 1fr; gap: 6px 16px; margin: 12px 0 0; font-size: 13px; }
.defs dt { font-weight: 600; } .defs dd { margin: 0; color: #3E4C59; }
.foot { color: var(--muted); font-size: 12px; padding-bottom: 30px; }
th.sorts { cursor: pointer; user-select: none; }
th.sorts:hover { color: var(--ink); }
th.sorts::after { content: ' ↕'; opacity: .35; }
th[aria-sort=descending]::after { content: ' ▼'; opacity: .8; }
th[aria-sort=ascending]::after { content: ' ▲'; opacity: .8; }
.pager { display:flex; align-items:center; gap: 12px; margin: 10px 4px 0; color: var(--muted); font-size: 13px; }
.pager button { border:1px solid var(--line); background:#fff; border-radius: 6px; padding: 4px 10px;
                cursor: pointer; color: var(--ink); font: inherit; }
.pager button:disabled { opacity: .4; cursor: default; }
.notice { border-left-color: #F08C2E; }
"""
