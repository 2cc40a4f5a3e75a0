"""Charts: DataFrame -> plotly ``go.Figure``. Pure: no store, no I/O, never displays.

Every function takes the frame a ``metrics`` function returns and gives a figure labelled in Russian, the way a
host reads numbers: rubles as ``12 345 ₽``, dates as ``31.12.2025``, months as ``янв 2026``, percentages as
``72,5 %`` (``avito_kit.format``). Each title names the definition it shows (see METRICS.md); an empty
frame gives a figure that says "Нет данных за период" instead of failing.

Example::

    from avito_kit import charts, metrics
    fig = charts.occupancy_grid(metrics.grid(store, "2026-01-01", "2026-02-29"))
    fig.show()   # the caller displays; charts never do
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .format import (
    NBSP,
    WEEKDAYS_RU,
    format_date,
    format_decimal,
    format_int,
    format_minutes,
    format_pct,
    format_rub,
    is_missing,
    month_label,
    plural,
    shorten,
)

__all__ = [
    "EMPTY_MESSAGE",
    "STATE_COLOURS",
    "STATE_LABELS",
    "adr_revpar_trend",
    "attention_grid",
    "attention_order",
    "grid_pages",
    "history_note",
    "lead_time_histogram",
    "length_of_stay_histogram",
    "listing_funnel",
    "monthly_occupancy_revenue",
    "occupancy_grid",
    "pace_curve",
    "rating_over_time",
    "response_time",
    "weekday_heatmap",
]

EMPTY_MESSAGE = "Нет данных за период"

# The шахматка's three states, one fixed colour each (the report's legend and the widgets reuse them).
STATE_COLOURS: dict[str, str] = {"booked": "#1E88E5", "blocked": "#8D99AE", "free": "#E9EEF4"}
STATE_LABELS: dict[str, str] = {"booked": "Занято", "blocked": "Закрыто хозяином", "free": "Свободно"}

# Palette: this year in Avito-like blue, last year in a muted grey-blue, a warm accent for the second measure.
BLUE, BLUE_LIGHT, GREY, ORANGE, GREEN = "#1E88E5", "#90CAF9", "#9AA5B1", "#F08C2E", "#2E9E6A"
FONT = "Inter, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


# -- helpers ------------------------------------------------------------------------------------------------


def _weekday(d: Any) -> str:
    return WEEKDAYS_RU[pd.Timestamp(d).weekday()].lower()


# -- shared layout -----------------------------------------------------------------------------------------


def _style(fig: go.Figure, title: str, subtitle: str | None = None, *, height: int = 420) -> go.Figure:
    """The house style: white template, Russian separators (decimal comma, space thousands), title left."""
    fig.update_layout(
        template="plotly_white",
        separators=", ",
        height=height,
        title={
            "text": title,
            "x": 0.01,
            "xanchor": "left",
            "font": {"size": 16},
            **({"subtitle": {"text": subtitle, "font": {"size": 12, "color": "#52606D"}}} if subtitle else {}),
        },
        font={"family": FONT, "size": 12, "color": "#1F2933"},
        hoverlabel={"font": {"family": FONT, "size": 12}, "align": "left"},
        margin={"l": 70, "r": 30, "t": 90 if subtitle else 70, "b": 60},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    return fig


def _empty(title: str, subtitle: str | None = None, *, height: int = 320, message: str = EMPTY_MESSAGE
           ) -> go.Figure:
    """A figure that says there is nothing to show, with the chart's title, instead of an error."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 16, "color": "#7B8794"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, title, subtitle, height=height)


def _is_empty(df: pd.DataFrame | None, *columns: str) -> bool:
    if df is None or len(df) == 0:
        return True
    return bool(columns) and all(df[c].isna().all() for c in columns if c in df.columns)


# -- what a history-dependent chart rests on -------------------------------------------------------------------
# metrics' pace, pickup, lead_times and listing_funnel put in ``df.attrs`` since when avito_kit has read the
# account's bookings and how many bookings observed when made they count (metrics: left-censoring). A frame
# without these attrs (built by hand) is drawn as it is.

PACE_MIN_HISTORY_DAYS = 14
PACE_TOO_SHORT = "Мало истории: темпу продаж нужны синхронизации хотя бы за две недели"
LEAD_TOO_SHORT = "Мало истории: сроку бронирования нужны брони, сделанные после первой синхронизации"


def _has_history(df: pd.DataFrame | None) -> bool:
    return df is not None and "history_since" in df.attrs


def history_note(df: pd.DataFrame | None) -> str | None:
    """"история с 01.06.2026; 12 броней" from a metrics frame's attrs (None without them): the line each
    history-dependent chart, card and widget shows."""
    if not _has_history(df):
        return None
    since, n = df.attrs.get("history_since"), int(df.attrs.get("bookings") or 0)
    if since is None:
        return "синхронизаций ещё не было"
    return f"история с {format_date(since)}; {format_int(n)} {plural(n, 'бронь', 'брони', 'броней')}"


def _with_note(subtitle: str, df: pd.DataFrame | None) -> str:
    note = history_note(df)
    return f"{subtitle}; {note}" if note else subtitle


def _num(s: pd.Series) -> np.ndarray:
    """Numbers as float64 with NaN for missing (Decimal, Int64 and object columns alike)."""
    return pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.normalize()


# -- the grid calendar (шахматка) ---------------------------------------------------------------------------

GRID_TITLE = "Шахматка: занято / закрыто / свободно по ночам"
GRID_PAGE_SIZE = 50  # listings a page of the grid shows (notebook paging)
ATTENTION_ROWS = 40  # listings the report's and the dashboard's grid details before summing up the rest
SOON_NIGHTS = 14  # "empty nights soon": free nights among the first 14 of the grid
_ROW_HEIGHT = 34
_STATE_CODES = {"free": 0, "blocked": 1, "booked": 2}  # the compact cell values (see occupancy_grid)


def occupancy_grid(facts: pd.DataFrame | None, *, page: int | None = None, page_size: int = GRID_PAGE_SIZE,
                   order: Iterable[int] | None = None, rest_row: bool = False) -> go.Figure:
    """The шахматка: listings × nights, one heatmap trace per state in its :data:`STATE_COLOURS` colour.

    ``facts`` is ``metrics.nightly_facts`` or ``metrics.grid`` (``item_id, title, night, state, booking_id,
    guest_name, nightly_revenue, check_in, check_out`` and optionally ``price``). Hover: listing, date, state,
    guest and the nightly price in rubles. A night is named by its evening date.

    Compact for many listings: each trace's cells are ``1`` or empty, and the hover text is made by the trace's
    ``hovertemplate`` from short ``customdata`` (guest, price, stay), not one string per cell.
    ``order`` (item ids) sets the rows' order (default: by title); ``page`` (1-based) shows only that page of
    ``page_size`` listings, the way to read every listing of a large account in a notebook; ``rest_row`` adds
    one row under them with the share of booked nights, night by night, of every listing not shown.

    >>> fig = occupancy_grid(metrics.grid(store, today, today + timedelta(days=59)))
    >>> [t.name for t in fig.data]
    ['Занято', 'Закрыто хозяином', 'Свободно']
    >>> occupancy_grid(facts, page=3, page_size=50)   # listings 101..150 by title
    """
    if _is_empty(facts):
        return _empty(GRID_TITLE, _GRID_SUBTITLE)
    return _occupancy_grid(_grid_facts(facts), page=page, page_size=page_size, order=order, rest_row=rest_row)


_GRID_SUBTITLE = "ночь названа датой вечера; бронь занимает ночи от заезда до выезда − 1"
_GRID_COLUMNS = ("item_id", "title", "night", "state", "guest_name", "nightly_revenue", "check_in", "check_out",
                 "price")


def _grid_facts(facts: pd.DataFrame) -> pd.DataFrame:
    """The grid's columns of ``facts`` (a copy), nights as midnight timestamps, one row per listing and night."""
    df = facts[[c for c in facts.columns if c in _GRID_COLUMNS]].copy()
    df["night"] = _dates(df["night"])
    return df.drop_duplicates(["item_id", "night"], keep="last")


def _occupancy_grid(df: pd.DataFrame, *, page: int | None, page_size: int, order: Iterable[int] | None,
                    rest_row: bool, caption: str | None = None) -> go.Figure:
    subtitle = _GRID_SUBTITLE
    nights = pd.date_range(df["night"].min(), df["night"].max(), freq="D")

    listings = _grid_rows(df, order)
    total = len(listings)
    pages = max(1, math.ceil(total / page_size)) if page is not None else 1
    if page is not None:
        if page_size < 1 or not 1 <= page <= pages:
            raise ValueError(f"page must be 1..{pages} for page_size {page_size}; got page={page}, "
                             f"page_size={page_size}")
        listings = listings.iloc[(page - 1) * page_size: page * page_size]
    shown = set(listings["item_id"])
    rest = df[~df["item_id"].isin(shown)] if rest_row else df.iloc[:0]
    df = df[df["item_id"].isin(shown)]
    y = list(listings["label"])
    if len(rest):
        # Every trace carries every row (plotly.js expects as many z rows as the shared axis has categories):
        # the states' traces leave the summary row empty, the summary's trace every other row.
        y.append(_rest_label(rest))
    row_of = dict(zip(listings["item_id"], range(len(listings)), strict=True))
    col = ((df["night"] - nights[0]).dt.days).to_numpy()
    row = df["item_id"].map(row_of).to_numpy()
    code = np.full((len(y), len(nights)), -1, dtype=np.int8)  # -1: no fact for that night (a gap)
    code[row, col] = df["state"].map(_STATE_CODES).fillna(-1).to_numpy(dtype=np.int8)
    booked_info = np.full(code.shape, None, dtype=object)
    booked = (df["state"] == "booked").to_numpy()
    booked_info[row[booked], col[booked]] = _booking_details(df[booked])
    prices = _price_labels(listings, df)
    if prices is not None and len(rest):
        prices = np.append(prices, np.nan)

    x = list(nights.to_pydatetime())
    when = "<b>%{y}</b><br>%{x|%d.%m.%Y, %a}<br>"
    fig = go.Figure()
    for state in ("booked", "blocked", "free"):
        # numpy arrays go out as typed binary (plotly's "bdata"): 4 bytes a cell, and nothing to validate per cell
        z = np.where(code == _STATE_CODES[state], 1.0, np.nan).astype(np.float32)
        extra: dict[str, Any] = {}
        if state == "booked":
            extra = {"customdata": booked_info,
                     "hovertemplate": when + STATE_LABELS[state] + "%{customdata[0]}"
                                      f"<br>%{{customdata[1]:,.0f}}{NBSP}₽ за ночь"
                                      "<br>заезд %{customdata[2]} — выезд %{customdata[3]}<extra></extra>"}
        elif prices is not None:  # the listing's price as a number: a few bytes a cell
            extra = {"customdata": np.where(code == _STATE_CODES[state], prices[:, None], np.nan),
                     "hovertemplate": when + STATE_LABELS[state] + f"<br>цена %{{customdata:,.0f}}{NBSP}₽ за ночь"
                                      "<extra></extra>"}
        else:
            extra = {"hovertemplate": when + STATE_LABELS[state] + "<extra></extra>"}
        fig.add_trace(go.Heatmap(
            z=z, x=x, y=y, name=STATE_LABELS[state], meta=state,
            colorscale=[[0.0, STATE_COLOURS[state]], [1.0, STATE_COLOURS[state]]], zmin=0, zmax=1,
            showscale=False, showlegend=True, hoverongaps=False, xgap=1, ygap=3, **extra,
        ))
    if len(rest):
        fig.add_trace(_rest_trace(rest, nights, y))
    # Saturdays and Sundays are marked on the axis so weekends stand out in the grid.
    fig.update_xaxes(type="date", tickformat="%d.%m", ticks="outside", showgrid=False, side="top",
                     dtick=7 * 86_400_000 if len(nights) > 21 else 86_400_000,
                     tick0=nights[0].to_pydatetime())
    fig.update_yaxes(autorange="reversed", showgrid=False, automargin=True)
    period = f"{format_date(nights[0])} — {format_date(nights[-1])}"
    if caption:
        period += f"; {caption}"
    elif page is not None and pages > 1:
        first = (page - 1) * page_size + 1
        last = first + len(listings) - 1
        rows = f"объявления {first}–{last}" if last > first else f"объявление {first}"
        period += f"; страница {page} из {pages}: {rows} из {total}"
    _style(fig, GRID_TITLE, f"{period}; {subtitle}", height=max(260, 150 + _ROW_HEIGHT * len(y)))
    fig.update_layout(legend={"y": -0.02, "yanchor": "top", "x": 0, "xanchor": "left"},
                      margin={"l": 20, "t": 100, "b": 40})
    return fig


def attention_grid(facts: pd.DataFrame | None, *, rows: int = ATTENTION_ROWS, min_stay: int = 2) -> go.Figure:
    """The шахматка as the report and the dashboard show it: every listing when there are at most ``rows``;
    otherwise the ``rows`` listings that need attention first (:func:`attention_order`) and one row summing up
    the others night by night, so that a 1,000-listing account stays readable (and light)."""
    if _is_empty(facts) or facts["item_id"].nunique() <= rows:
        return occupancy_grid(facts)
    df = _grid_facts(facts)
    return _occupancy_grid(df, order=_attention_order(df, SOON_NIGHTS, min_stay), page=1, page_size=rows,
                           rest_row=True, caption=f"{rows} из {df['item_id'].nunique()} объявлений, которым нужно "
                                                  "внимание, и остальные одной строкой")


def grid_pages(facts: pd.DataFrame | None, page_size: int = GRID_PAGE_SIZE) -> int:
    """How many pages ``occupancy_grid(facts, page=..., page_size=page_size)`` has (at least 1)."""
    listings = 0 if _is_empty(facts) else facts["item_id"].nunique()
    return max(1, math.ceil(listings / page_size))


def attention_order(facts: pd.DataFrame | None, *, soon: int = SOON_NIGHTS, min_stay: int = 2) -> list[int]:
    """Item ids, the listings that need attention first: most free nights among the first ``soon`` nights of
    ``facts`` plus nights in free runs shorter than ``min_stay`` between two stays (nobody can book them);
    ties by title. Feed it to ``occupancy_grid(facts, order=...)``."""
    return [] if _is_empty(facts) else _attention_order(_grid_facts(facts), soon, min_stay)


def _attention_order(df: pd.DataFrame, soon: int, min_stay: int) -> list[int]:
    df = df[["item_id", "title", "night", "state"]].sort_values(["item_id", "night"])
    free = df["state"] == "free"
    first_night = df["night"].min()
    soon_free = (free & (df["night"] < first_night + pd.Timedelta(days=soon))).groupby(df["item_id"]).sum()
    # Runs of one state per listing; a short free run counts when a booked run is on both sides.
    run = ((df["state"] != df["state"].shift()) | (df["item_id"] != df["item_id"].shift())).cumsum()
    runs = df.groupby(run).agg(item_id=("item_id", "first"), state=("state", "first"), nights=("night", "size"))
    same_item = runs["item_id"].shift() == runs["item_id"]
    before = runs["state"].shift().where(same_item)
    after = runs["state"].shift(-1).where(runs["item_id"].shift(-1) == runs["item_id"])
    short = (runs["state"] == "free") & (runs["nights"] < min_stay) & (before == "booked") & (after == "booked")
    gap = runs["nights"].where(short, 0).groupby(runs["item_id"]).sum()
    score = soon_free.add(gap, fill_value=0)
    listings = _grid_rows(df, None)
    listings["score"] = listings["item_id"].map(score).fillna(0)
    return [int(i) for i in listings.sort_values("score", ascending=False, kind="stable")["item_id"]]


def _grid_rows(df: pd.DataFrame, order: Iterable[int] | None) -> pd.DataFrame:
    """One row per listing (``item_id, title, label``) in title order or ``order``'s; a repeated title gets the
    id's tail so rows never merge."""
    listings = df.groupby("item_id", sort=False)["title"].first().reset_index()
    listings["title"] = listings["title"].fillna("").astype(str).str.strip()
    listings.loc[listings["title"] == "", "title"] = "Объявление " + listings["item_id"].astype(str)
    listings = listings.sort_values(["title", "item_id"], kind="stable").reset_index(drop=True)
    short = listings["title"].map(lambda t: shorten(t, 32))
    repeated = short.duplicated(keep=False)
    short[repeated] = short[repeated] + " · " + listings.loc[repeated, "item_id"].astype(str).str[-4:]
    listings["label"] = short
    if order is not None:
        rank = {int(item_id): n for n, item_id in enumerate(order)}
        listings["rank"] = listings["item_id"].map(lambda i: rank.get(int(i), len(rank)))
        listings = listings.sort_values("rank", kind="stable").drop(columns="rank").reset_index(drop=True)
    return listings


def _booking_details(booked: pd.DataFrame) -> list[list[str]]:
    """Per booked night: [": guest" or "", the nightly price in rubles, check-in, check-out] (as 01.03.2026).
    A stay's cells repeat these few short strings; everything else of the hover is in the template."""
    def column(name: str) -> pd.Series:
        return booked[name] if name in booked.columns else pd.Series(None, index=booked.index, dtype=object)

    guest = column("guest_name").map(lambda g: "" if is_missing(g) or not str(g).strip() else f": {g}")
    revenue = column("nightly_revenue").map(lambda v: None if is_missing(v) else round(float(v)))
    check_in = _dates(column("check_in")).dt.strftime("%d.%m.%Y").fillna("—")
    check_out = _dates(column("check_out")).dt.strftime("%d.%m.%Y").fillna("—")
    return [list(cell) for cell in zip(guest, revenue, check_in, check_out, strict=True)]


def _price_labels(listings: pd.DataFrame, df: pd.DataFrame) -> np.ndarray | None:
    """Per row: the listing's current price in rubles (NaN if unknown), or None when the facts carry no price."""
    if "price" not in df.columns or df["price"].isna().all():
        return None
    price = pd.to_numeric(df.groupby("item_id")["price"].last(), errors="coerce").astype("float64")
    return price.reindex(listings["item_id"]).round().to_numpy(dtype=np.float64)


def _rest_label(rest: pd.DataFrame) -> str:
    listings = rest["item_id"].nunique()
    return f"Остальные {listings} {plural(listings, 'объявление', 'объявления', 'объявлений')}: доля занятых"


def _rest_trace(rest: pd.DataFrame, nights: pd.DatetimeIndex, y: list[str]) -> go.Heatmap:
    """The last row of ``y``: the share of booked nights among the listings not shown, night by night."""
    per_night = pd.DataFrame({"booked": rest["state"] == "booked", "open": rest["state"] != "blocked"}).groupby(
        rest["night"]).sum().reindex(nights)
    share = (per_night["booked"] / per_night["open"].where(per_night["open"] > 0)).round(3)
    z = np.full((len(y), len(nights)), np.nan, dtype=np.float32)
    z[-1] = share.to_numpy(dtype=np.float32)
    counts = [[_int(b), _int(o)] for b, o in zip(per_night["booked"], per_night["open"], strict=True)]
    return go.Heatmap(
        z=z, x=list(nights.to_pydatetime()), y=y, customdata=[[None] * len(nights)] * (len(y) - 1) + [counts],
        name="Остальные объявления", meta="rest", showlegend=False, hoverongaps=False, xgap=1, ygap=3,
        colorscale=[[0.0, STATE_COLOURS["free"]], [1.0, STATE_COLOURS["booked"]]], zmin=0, zmax=1,
        showscale=False,
        hovertemplate="<b>%{y}</b><br>%{x|%d.%m.%Y, %a}<br>занято %{customdata[0]} из %{customdata[1]} "
                      "доступных<extra></extra>",
    )


def _int(value: Any) -> int | None:
    return None if is_missing(value) else int(value)


# -- month by month ---------------------------------------------------------------------------------------------

YOY_TITLE = "Выручка и загрузка (занятые / доступные ночи) по месяцам: этот год и прошлый"


def monthly_occupancy_revenue(yoy: pd.DataFrame | None) -> go.Figure:
    """Bars of revenue and lines of occupancy per month, last year overlaid (``metrics.year_over_year``).

    Revenue splits each stay per night (METRICS.md), so a stay across a month boundary counts in both months.

    >>> fig = monthly_occupancy_revenue(metrics.year_over_year(store, 2026))
    """
    subtitle = "выручка разнесена по ночам; загрузка = занятые ночи / доступные (без закрытых хозяином)"
    if _is_empty(yoy, "revenue", "occupancy", "ly_revenue", "ly_occupancy"):
        return _empty(YOY_TITLE, subtitle)
    df = yoy.copy()
    df["month"] = pd.to_datetime(df["month"])
    df = df.sort_values("month")
    with_year = df["month"].dt.year.nunique() > 1
    x = [month_label(m, with_year) for m in df["month"]]
    years = sorted(df["month"].dt.year.unique())
    this, last = (f" {years[0]}", f" {years[0] - 1}") if len(years) == 1 else ("", " год назад")

    def hover(prefix: str, months: Iterable[pd.Timestamp], rows: pd.DataFrame, shift: int) -> list[str]:
        out = []
        for m, (_, r) in zip(months, rows.iterrows(), strict=True):
            ly = "ly_" if shift else ""
            out.append(
                f"<b>{prefix} · {month_label(m - pd.DateOffset(years=shift))}</b><br>"
                f"Выручка: {format_rub(r.get(ly + 'revenue'))}<br>"
                f"Загрузка: {format_pct(r.get(ly + 'occupancy'))}<br>"
                f"Занятых ночей: {format_int(r.get(ly + 'nights_booked'))}<br>"
                f"ADR: {format_rub(r.get(ly + 'adr'))} · RevPAR: {format_rub(r.get(ly + 'revpar'))}"
            )
        return out

    months = list(df["month"])
    # Months without history are NaN (metrics.year_over_year): plotly leaves them out, never a 0 % point.
    if np.isnan(_num(df["ly_occupancy"])).all() and np.isnan(_num(df["ly_revenue"])).all():
        subtitle += "; за прошлый год данных нет"
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=x, y=_num(df["ly_revenue"]), name="Выручка" + last, marker_color=BLUE_LIGHT,
                         hovertext=hover("Прошлый год", months, df, 1),
                         hovertemplate="%{hovertext}<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Bar(x=x, y=_num(df["revenue"]), name="Выручка" + this, marker_color=BLUE,
                         hovertext=hover("Этот год", months, df, 0),
                         hovertemplate="%{hovertext}<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=x, y=_num(df["ly_occupancy"]), name="Загрузка" + last, mode="lines+markers",
                             line={"color": GREY, "dash": "dash", "width": 2},
                             hovertext=hover("Прошлый год", months, df, 1),
                             hovertemplate="%{hovertext}<extra></extra>"), secondary_y=True)
    fig.add_trace(go.Scatter(x=x, y=_num(df["occupancy"]), name="Загрузка" + this, mode="lines+markers",
                             line={"color": ORANGE, "width": 3},
                             hovertext=hover("Этот год", months, df, 0),
                             hovertemplate="%{hovertext}<extra></extra>"), secondary_y=True)
    _style(fig, YOY_TITLE, subtitle, height=440)
    fig.update_layout(barmode="group", bargap=0.25, bargroupgap=0.05, hovermode="closest")
    fig.update_xaxes(type="category", title_text="Месяц")
    fig.update_yaxes(title_text="Выручка, ₽", tickformat=",.0f", ticksuffix=f"{NBSP}₽", rangemode="tozero",
                     secondary_y=False)
    fig.update_yaxes(title_text="Загрузка", tickformat=".0%", range=[0, 1.0], tickmode="linear", tick0=0, dtick=0.2,
                     showgrid=False, secondary_y=True)
    return fig


# -- ADR and RevPAR ------------------------------------------------------------------------------------------------

ADR_TITLE = "ADR (выручка / занятые ночи) и RevPAR (выручка / доступные ночи)"


def adr_revpar_trend(kpis_by_month_total: pd.DataFrame | None) -> go.Figure:
    """ADR and RevPAR by period, from ``metrics.kpis(store, ..., by="month")``: the total rows (``item_id``
    NA) are used; a frame with only per-listing rows is summed and the ratios recomputed from the sums.

    >>> fig = adr_revpar_trend(metrics.kpis(store, "2025-01-01", "2025-12-31", by="month"))
    """
    subtitle = "средняя цена занятой ночи и выручка на доступную ночь, по всем объявлениям"
    if _is_empty(kpis_by_month_total):
        return _empty(ADR_TITLE, subtitle)
    df = _total_rows(kpis_by_month_total)
    if _is_empty(df, "adr", "revpar"):
        return _empty(ADR_TITLE, subtitle)
    df["period"] = pd.to_datetime(df["period"])
    df = df.sort_values("period")
    monthly = bool((df["period"].dt.day == 1).all())
    with_year = not monthly or df["period"].dt.year.nunique() > 1
    x = [month_label(p, with_year) if monthly else format_date(p) for p in df["period"]]
    hover = []
    for p, (_, r) in zip(df["period"], df.iterrows(), strict=True):
        head = month_label(p) if monthly else f"неделя с {format_date(p)}"
        hover.append(
            f"<b>{head}</b><br>ADR: {format_rub(r.get('adr'))}<br>RevPAR: {format_rub(r.get('revpar'))}<br>"
            f"Загрузка: {format_pct(r.get('occupancy'))}<br>Выручка: {format_rub(r.get('revenue'))}"
        )
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=_num(df["adr"]), name="ADR", mode="lines+markers",
                             line={"color": BLUE, "width": 3}, hovertext=hover,
                             hovertemplate="%{hovertext}<extra></extra>"))
    fig.add_trace(go.Scatter(x=x, y=_num(df["revpar"]), name="RevPAR", mode="lines+markers",
                             line={"color": GREEN, "width": 3}, fill="tozeroy", fillcolor="rgba(46,158,106,0.08)",
                             hovertext=hover, hovertemplate="%{hovertext}<extra></extra>"))
    _style(fig, ADR_TITLE, subtitle, height=400)
    fig.update_xaxes(type="category", title_text="Месяц" if monthly else "Неделя")
    fig.update_yaxes(title_text="₽ за ночь", tickformat=",.0f", ticksuffix=f"{NBSP}₽", rangemode="tozero")
    return fig


def _total_rows(kpis: pd.DataFrame) -> pd.DataFrame:
    df = kpis.copy()
    if "item_id" not in df.columns:
        return df
    totals = df[df["item_id"].isna()]
    if len(totals):
        return totals.copy()
    sums = df.groupby("period", as_index=False)[["revenue", "nights_booked", "nights_available"]].sum()
    booked, available = _num(sums["nights_booked"]), _num(sums["nights_available"])
    revenue = _num(sums["revenue"])
    with np.errstate(divide="ignore", invalid="ignore"):
        sums["adr"] = np.where(booked > 0, revenue / booked, np.nan)
        sums["revpar"] = np.where(available > 0, revenue / available, np.nan)
        sums["occupancy"] = np.where(available > 0, booked / available, np.nan)
    return sums


# -- pace ----------------------------------------------------------------------------------------------------------

PACE_TITLE = "Темп бронирований: ночи и выручка на руках (OTB) за N дней до периода, против прошлого года"


def pace_curve(pace: pd.DataFrame | None) -> go.Figure:
    """On-the-books nights (top) and revenue (bottom) for the period as known ``days_before`` its start, this
    year against the same moment a year earlier (``metrics.pace``). Time runs left to right towards the period.

    >>> fig = pace_curve(metrics.pace(store, "2026-07-01", "2026-07-31"))
    """
    subtitle = _with_note("брони, сделанные при avito_kit (по дате, когда он их увидел); пунктир — год назад", pace)
    if _has_history(pace) and pace.attrs.get("history_days", 0) < PACE_MIN_HISTORY_DAYS:
        return _empty(PACE_TITLE, subtitle, message=PACE_TOO_SHORT)
    if _is_empty(pace, "nights_booked", "ly_nights_booked"):
        return _empty(PACE_TITLE, subtitle)
    df = pace.sort_values("days_before", ascending=False).reset_index(drop=True)
    x = _num(df["days_before"])

    def hover(as_of_col: str, nights_col: str, revenue_col: str, label: str) -> list[str]:
        out = []
        for _, r in df.iterrows():
            days = int(r["days_before"])
            out.append(
                f"<b>{label}</b> · за {days} {plural(days, 'день', 'дня', 'дней')} до начала"
                f" (на {format_date(r.get(as_of_col))})<br>"
                f"Ночей на руках: {format_int(r.get(nights_col))}<br>Выручка на руках: {format_rub(r.get(revenue_col))}"
            )
        return out

    this_hover = hover("as_of", "nights_booked", "revenue", "Этот год")
    last_hover = hover("ly_as_of", "ly_nights_booked", "ly_revenue", "Прошлый год")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.55, 0.45])
    fig.add_trace(go.Scatter(x=x, y=_num(df["ly_nights_booked"]), name="Ночи, прошлый год", mode="lines",
                             line={"color": GREY, "dash": "dash", "width": 2, "shape": "hv"},
                             hovertext=last_hover, hovertemplate="%{hovertext}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=_num(df["nights_booked"]), name="Ночи, этот год", mode="lines",
                             line={"color": BLUE, "width": 3, "shape": "hv"},
                             hovertext=this_hover, hovertemplate="%{hovertext}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=_num(df["ly_revenue"]), name="Выручка, прошлый год", mode="lines",
                             line={"color": GREY, "dash": "dot", "width": 2, "shape": "hv"},
                             hovertext=last_hover, hovertemplate="%{hovertext}<extra></extra>"), row=2, col=1)
    fig.add_trace(go.Scatter(x=x, y=_num(df["revenue"]), name="Выручка, этот год", mode="lines",
                             line={"color": GREEN, "width": 3, "shape": "hv"},
                             hovertext=this_hover, hovertemplate="%{hovertext}<extra></extra>"), row=2, col=1)
    _style(fig, PACE_TITLE, subtitle, height=500)
    fig.update_xaxes(autorange="reversed", showgrid=True)
    fig.update_xaxes(title_text="Дней до начала периода", row=2, col=1)
    fig.update_yaxes(title_text="Ночей", rangemode="tozero", tickformat=",.0f", row=1, col=1)
    fig.update_yaxes(title_text="Выручка, ₽", rangemode="tozero", tickformat=",.0f", ticksuffix=f"{NBSP}₽",
                     row=2, col=1)
    fig.update_layout(hovermode="x unified")
    return fig


# -- lead time and length of stay ----------------------------------------------------------------------------------

LEAD_BUCKETS: tuple[tuple[int, float, str], ...] = (
    (0, 1, "0–1 дн."), (2, 7, "2–7 дн."), (8, 14, "8–14 дн."), (15, 30, "15–30 дн."),
    (31, 60, "31–60 дн."), (61, 90, "61–90 дн."), (91, math.inf, "91+ дн."),
)
LEAD_TITLE = "За сколько дней бронируют (первое появление брони → заезд)"


def lead_time_histogram(lead_times: pd.DataFrame | None) -> go.Figure:
    """How far ahead guests book: bookings per lead-time bucket, the median in the subtitle
    (``metrics.lead_times``; lead = first seen by avito_kit → check-in, as Avito gives no creation time).

    >>> fig = lead_time_histogram(metrics.lead_times(store))
    """
    if _has_history(lead_times) and not lead_times.attrs.get("bookings"):
        return _empty(LEAD_TITLE, history_note(lead_times), message=LEAD_TOO_SHORT)
    if _is_empty(lead_times, "lead_days"):
        return _empty(LEAD_TITLE, "бронирований за период нет")
    days = pd.Series(_num(lead_times["lead_days"])).dropna().clip(lower=0)
    if days.empty:
        return _empty(LEAD_TITLE)
    counts = [int(((days >= lo) & (days <= hi)).sum()) for lo, hi, _ in LEAD_BUCKETS]
    labels = [label for *_, label in LEAD_BUCKETS]
    total = len(days)
    median = float(days.median())
    hover = [f"<b>{label}</b><br>{format_int(n)} {plural(n, 'бронь', 'брони', 'броней')} "
             f"({format_pct(n / total, 0)})" for label, n in zip(labels, counts, strict=True)]
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=BLUE, text=counts, textposition="outside",
                           cliponaxis=False, hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
                           name="Брони"))
    subtitle = (f"медиана {format_int(median)} {plural(median, 'день', 'дня', 'дней')}, "
                f"{format_int(total)} {plural(total, 'бронь', 'брони', 'броней')}; "
                "брони, которые уже были при первой синхронизации, не в счёт")
    if _has_history(lead_times):
        subtitle += f"; история с {format_date(lead_times.attrs.get('history_since'))}"
    _style(fig, LEAD_TITLE, subtitle, height=380)
    fig.update_xaxes(type="category", title_text="За сколько дней до заезда")
    fig.update_yaxes(title_text="Броней", rangemode="tozero", tickformat=",d")
    fig.update_layout(showlegend=False)
    return fig


LOS_TITLE = "Длительность проживания (ночей в брони: выезд − заезд)"


def length_of_stay_histogram(los: pd.DataFrame | None) -> go.Figure:
    """Stays per length in nights (``metrics.length_of_stay``: ``nights, stays``); the mean (ALOS) and the
    share of one-night stays in the subtitle, to help set a minimum stay.

    >>> fig = length_of_stay_histogram(metrics.length_of_stay(store))
    """
    if _is_empty(los, "stays"):
        return _empty(LOS_TITLE)
    df = los.copy()
    df["nights"] = _num(df["nights"])
    df["stays"] = _num(df["stays"])
    df = df.dropna(subset=["nights", "stays"]).sort_values("nights")
    df = df[df["stays"] > 0]
    if df.empty:
        return _empty(LOS_TITLE)
    total = float(df["stays"].sum())
    alos = float((df["nights"] * df["stays"]).sum() / total)
    x = [int(n) for n in df["nights"]]
    y = [int(s) for s in df["stays"]]
    hover = [f"<b>{n} {plural(n, 'ночь', 'ночи', 'ночей')}</b><br>{format_int(s)} "
             f"{plural(s, 'бронь', 'брони', 'броней')} ({format_pct(s / total, 0)})" for n, s in zip(x, y, strict=True)]
    fig = go.Figure(go.Bar(x=x, y=y, marker_color=GREEN, text=y, textposition="outside", cliponaxis=False,
                           hovertext=hover, hovertemplate="%{hovertext}<extra></extra>", name="Брони"))
    one_night = float(df.loc[df["nights"] == 1, "stays"].sum()) / total
    subtitle = (f"средняя (ALOS) {format_decimal(alos)} {plural(math.floor(alos), 'ночь', 'ночи', 'ночей')}"
                f"; на одну ночь — {format_pct(one_night, 0)} броней")
    _style(fig, LOS_TITLE, subtitle, height=380)
    fig.update_xaxes(title_text="Ночей", dtick=1, tickformat="d")
    fig.update_yaxes(title_text="Броней", rangemode="tozero", tickformat=",d")
    fig.update_layout(showlegend=False, bargap=0.2)
    return fig


# -- weekdays ------------------------------------------------------------------------------------------------------

WEEKDAY_TITLE = "Загрузка по дням недели (занятые / доступные ночи)"


def weekday_heatmap(df: pd.DataFrame | None) -> go.Figure:
    """Occupancy by weekday (rows Пн..Вс) and week (columns), from ``metrics.weekday_heatmap``
    (``weekday`` 0 = Monday, ``week_start``, ``occupancy``). A night is named by its evening: «Пт» is the night
    from Friday to Saturday.

    >>> fig = weekday_heatmap(metrics.weekday_heatmap(store, "2026-01-01", "2026-03-31"))
    """
    subtitle = "«Пт» — ночь с пятницы на субботу; серое — нет доступных ночей"
    if _is_empty(df, "occupancy"):
        return _empty(WEEKDAY_TITLE, subtitle)
    data = df.copy()
    data["week_start"] = _dates(data["week_start"])
    data["weekday"] = pd.to_numeric(data["weekday"]).astype(int)
    data["occupancy"] = _num(data["occupancy"])
    weeks = sorted(data["week_start"].unique())
    table = data.pivot_table(index="weekday", columns="week_start", values="occupancy", aggfunc="mean",
                             dropna=False).reindex(index=range(7), columns=weeks)
    x = [format_date(w)[:5] for w in weeks]
    hover = [[f"<b>{WEEKDAYS_RU[d]}</b>, неделя с {format_date(w)}<br>"
              f"{format_date(pd.Timestamp(w) + pd.Timedelta(days=d))}: загрузка {format_pct(table.iat[d, j], 0)}"
              for j, w in enumerate(weeks)] for d in range(7)]
    z = table.to_numpy(dtype="float64")
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=list(WEEKDAYS_RU), zmin=0, zmax=1, xgap=2, ygap=2, hoverongaps=False,
        colorscale=[[0.0, "#F1F6FB"], [0.5, BLUE_LIGHT], [1.0, "#0D47A1"]],
        colorbar={"tickformat": ".0%", "thickness": 12, "len": 0.9},
        hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
        texttemplate="%{z:.0%}" if len(weeks) <= 16 else None, textfont={"size": 10},
    ))
    # The weekday means, right of the grid, answer "which nights sell" at a glance.
    means = np.nanmean(np.where(np.isnan(z), np.nan, z), axis=1) if np.isfinite(z).any() else np.full(7, np.nan)
    _style(fig, WEEKDAY_TITLE, subtitle, height=380)
    fig.update_xaxes(type="category", title_text="Неделя с", showgrid=False)
    fig.update_yaxes(autorange="reversed", showgrid=False,
                     ticktext=[f"{d} · {format_pct(m, 0)}" for d, m in zip(WEEKDAYS_RU, means, strict=True)],
                     tickvals=list(WEEKDAYS_RU))
    fig.update_layout(plot_bgcolor="#E4E7EB")
    return fig


# -- listing funnel ------------------------------------------------------------------------------------------------

FUNNEL_TITLE = "Воронка: просмотры → контакты → избранное → брони"
FUNNEL_STAGES: tuple[tuple[str, str], ...] = (
    ("views", "Просмотры"), ("contacts", "Контакты"), ("favorites", "В избранном"), ("bookings", "Брони"),
)


def listing_funnel(df: pd.DataFrame | None) -> go.Figure:
    """Totals over all listings and weeks of ``metrics.listing_funnel``: views → contacts → favourites →
    bookings, each step with its share of views and of the step before.

    >>> fig = listing_funnel(metrics.listing_funnel(store, "2026-01-01", "2026-03-31"))
    """
    subtitle = _with_note("сумма за период (статистика Avito); брони — сделанные при avito_kit", df)
    stages = [c for c, _ in FUNNEL_STAGES]
    if _is_empty(df, *stages):
        return _empty(FUNNEL_TITLE, subtitle)
    totals = [float(np.nansum(_num(df[c]))) if c in df.columns else 0.0 for c in stages]
    if not any(totals):
        return _empty(FUNNEL_TITLE, subtitle)
    labels = [label for _, label in FUNNEL_STAGES]
    hover = []
    for i, (label, v) in enumerate(zip(labels, totals, strict=True)):
        text = f"<b>{label}</b>: {format_int(v)}"
        if i:
            text += f"<br>{format_pct(v / totals[0] if totals[0] else np.nan)} от просмотров"
            text += f"<br>{format_pct(v / totals[i - 1] if totals[i - 1] else np.nan)} от шага «{labels[i - 1]}»"
        hover.append(text)
    text = [format_int(v) + ("" if i == 0 else f" · {format_pct(v / totals[0] if totals[0] else np.nan, 2)} "
                                                "от просмотров") for i, v in enumerate(totals)]
    fig = go.Figure(go.Funnel(
        y=labels, x=totals, text=text, textinfo="text", textposition="outside", cliponaxis=False,
        textfont={"size": 13, "color": "#1F2933"},
        marker={"color": [BLUE, "#42A5F5", BLUE_LIGHT, GREEN]},
        connector={"fillcolor": "#EEF2F6"}, hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
        name="Воронка",
    ))
    n_listings = df["item_id"].nunique() if "item_id" in df.columns else None
    if n_listings:
        subtitle += f"; объявлений: {n_listings}"
    _style(fig, FUNNEL_TITLE, subtitle, height=360)
    fig.update_layout(showlegend=False, margin={"l": 110})
    return fig


# -- guest messages ------------------------------------------------------------------------------------------------

RESPONSE_BUCKETS: tuple[tuple[float, float, str], ...] = (
    (0, 5, "до 5 мин"), (5, 15, "5–15 мин"), (15, 30, "15–30 мин"), (30, 60, "30–60 мин"),
    (60, 180, "1–3 ч"), (180, 720, "3–12 ч"), (720, 1440, "12–24 ч"), (1440, math.inf, "больше суток"),
)
RESPONSE_TITLE = "Первый ответ гостю"


def response_time(messaging_df: pd.DataFrame | None) -> go.Figure:
    """Chats per first-response time (``metrics.messaging``: ``response_minutes``, ``answered``); the median and
    the count of chats where a guest is waiting for an answer (``answered`` false) in the title.

    >>> fig = response_time(metrics.messaging(store))
    """
    if _is_empty(messaging_df):
        return _empty(RESPONSE_TITLE)
    df = messaging_df
    # ``answered`` means no guest is waiting now; a chat answered once and written to again since is waiting,
    # yet its first response time still counts in the distribution.
    answered = (df["answered"].astype("boolean").fillna(False).astype(bool) if "answered" in df.columns
                else df["response_minutes"].notna())
    minutes = pd.Series(_num(df["response_minutes"])).dropna().clip(lower=0)
    unanswered = int((~answered).sum())
    median = float(minutes.median()) if len(minutes) else math.nan
    title = (f"{RESPONSE_TITLE}: медиана {format_minutes(median)}, без ответа {unanswered} "
             f"{plural(unanswered, 'чат', 'чата', 'чатов')}")
    subtitle = "от первого сообщения гостя в чате до первого ответа; «без ответа» — гость ждёт сейчас"
    if minutes.empty:
        return _empty(title, subtitle)
    counts = [int(((minutes >= lo) & (minutes < hi)).sum()) for lo, hi, _ in RESPONSE_BUCKETS]
    labels = [label for *_, label in RESPONSE_BUCKETS]
    total = len(minutes)
    colours = [GREEN if hi <= 60 else ORANGE if hi <= 720 else "#D64545" for _, hi, _ in RESPONSE_BUCKETS]
    hover = [f"<b>{label}</b><br>{format_int(n)} {plural(n, 'чат', 'чата', 'чатов')} ({format_pct(n / total, 0)})"
             for label, n in zip(labels, counts, strict=True)]
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=colours, text=counts, textposition="outside",
                           cliponaxis=False, hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
                           name="Чаты"))
    _style(fig, title, subtitle, height=380)
    fig.update_xaxes(type="category", title_text="Время первого ответа")
    fig.update_yaxes(title_text="Чатов", rangemode="tozero", tickformat=",d")
    fig.update_layout(showlegend=False)
    return fig



RATING_TITLE = "Рейтинг на Авито"
SCORES_TITLE = "Оценки в отзывах"


def rating_over_time(history: pd.DataFrame | None, distribution: pd.DataFrame | None = None) -> go.Figure:
    """The rating each time a sync saw it change (``metrics.rating_history``), as steps held until the next
    change; with ``distribution`` (``metrics.score_distribution``) the reviews per score beside it.

    >>> fig = rating_over_time(metrics.rating_history(store), metrics.score_distribution(store))
    """
    has_history = not _is_empty(history, "score")
    has_scores = distribution is not None and len(distribution) and int(distribution["reviews"].sum()) > 0
    if not has_history and not has_scores:
        return _empty(RATING_TITLE, "отзывы появятся после синхронизации (если у аккаунта есть рейтинг)")
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.1,
                        subplot_titles=("Рейтинг по синхронизациям", SCORES_TITLE))
    title = RATING_TITLE
    if has_history:
        df = history.dropna(subset=["score"])
        last = df.iloc[-1]
        title = f"{RATING_TITLE}: {float(last['score']):.1f} из 5, {format_int(last['reviews_count'])} " + plural(
            int(last["reviews_count"]), "отзыв", "отзыва", "отзывов")
        fig.add_trace(go.Scatter(x=_dates(df["observed_at"]), y=_num(df["score"]), mode="lines+markers",
                                 line_shape="hv", line_color=GREEN, name="Рейтинг",
                                 hovertemplate="%{x|%d.%m.%Y}: %{y:.1f}<extra></extra>"), row=1, col=1)
        fig.update_yaxes(range=[1, 5.2], title_text="Рейтинг", row=1, col=1)
    if has_scores:
        colours = ["#D64545", "#D64545", ORANGE, GREEN, GREEN]
        fig.add_trace(go.Bar(x=[f"{int(s)}★" for s in distribution["score"]], y=distribution["reviews"],
                             marker_color=colours, text=distribution["reviews"], textposition="outside",
                             cliponaxis=False, name="Отзывы", hovertemplate="%{x}: %{y}<extra></extra>"),
                      row=1, col=2)
        fig.update_yaxes(title_text="Отзывов", rangemode="tozero", tickformat=",d", row=1, col=2)
    _style(fig, title, "рейтинг Авито не хранит историю: avito_kit записывает его при каждой синхронизации",
           height=380)
    fig.update_layout(showlegend=False)
    return fig
