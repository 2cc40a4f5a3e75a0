"""Charts: pure DataFrame -> Figure, checked on ``fig.data`` and ``fig.layout`` (trace types, values, colours per
state, Russian formats in hovers, titles naming their definition, the empty-period figure), never on pixels."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from avito_kit import charts
from avito_kit.charts import EMPTY_MESSAGE, STATE_COLOURS, STATE_LABELS
from avito_kit.format import NBSP

ITEM_A, ITEM_B, ITEM_C = 3_000_000_001, 3_000_000_002, 3_000_000_003  # ids above 2^31, as Avito's are


# -- synthetic frames with exactly the metrics columns ---------------------------------------------------------


def facts_frame() -> pd.DataFrame:
    """Two listings with one title (rows must not merge) and one more, 1..5 March 2026 (nights_facts + price)."""
    rows = []

    def night(item, title, day, state, booking=None, guest=None, revenue=0.0, check_in=None, check_out=None):
        rows.append({"item_id": item, "title": title, "night": pd.Timestamp(f"2026-03-{day:02d}"), "state": state,
                     "booking_id": booking, "guest_name": guest, "nightly_revenue": revenue,
                     "check_in": pd.Timestamp(check_in) if check_in else pd.NaT,
                     "check_out": pd.Timestamp(check_out) if check_out else pd.NaT, "price": 4000.0})

    for day in (1, 2):
        night(ITEM_A, "Студия у метро", day, "booked", 2**60, "Иван Петров", 12345.0, "2026-03-01", "2026-03-03")
    night(ITEM_A, "Студия у метро", 3, "blocked")
    night(ITEM_A, "Студия у метро", 4, "free")
    night(ITEM_A, "Студия у метро", 5, "free")
    for day in (1, 2, 3, 4, 5):
        night(ITEM_B, "Студия у метро", day, "free")
    night(ITEM_C, "Лофт", 1, "free")
    night(ITEM_C, "Лофт", 2, "booked", 2**60 + 1, "Анна", 5000.0, "2026-03-02", "2026-03-06")
    frame = pd.DataFrame(rows)
    frame["booking_id"] = frame["booking_id"].astype("UInt64")
    return frame


def yoy_frame() -> pd.DataFrame:
    months = pd.date_range("2026-01-01", periods=12, freq="MS")
    occ = np.linspace(0.4, 0.95, 12)
    return pd.DataFrame({
        "month": months, "occupancy": occ, "revenue": occ * 100_000, "adr": 4500.0, "revpar": occ * 4500,
        "nights_booked": (occ * 100).round(), "ly_occupancy": occ - 0.1, "ly_revenue": occ * 90_000,
        "ly_adr": 4100.0, "ly_revpar": (occ - 0.1) * 4100, "ly_nights_booked": (occ * 90).round(),
    })


def kpis_month_frame() -> pd.DataFrame:
    """Two months, two listings each, and the total rows (item_id NA), as kpis(by="month") returns them."""
    rows = []
    for period in ("2026-01-01", "2026-02-01"):
        for item, booked, revenue in ((ITEM_A, 20, 80_000.0), (ITEM_B, 10, 50_000.0)):
            rows.append({"period": pd.Timestamp(period), "item_id": item, "nights_available": 31,
                         "nights_booked": booked, "revenue": revenue, "occupancy": booked / 31,
                         "adr": revenue / booked, "revpar": revenue / 31})
        rows.append({"period": pd.Timestamp(period), "item_id": None, "nights_available": 62, "nights_booked": 30,
                     "revenue": 130_000.0, "occupancy": 30 / 62, "adr": 130_000 / 30, "revpar": 130_000 / 62})
    frame = pd.DataFrame(rows)
    frame["item_id"] = frame["item_id"].astype("Int64")
    return frame


def pace_frame() -> pd.DataFrame:
    days = np.arange(10, -1, -1)
    as_of = pd.Timestamp("2026-07-01") - pd.to_timedelta(days, unit="D")
    return pd.DataFrame({"as_of": as_of, "days_before": days, "nights_booked": 50 - days,
                         "revenue": (50 - days) * 4000.0, "ly_as_of": as_of - pd.DateOffset(years=1),
                         "ly_nights_booked": 40 - days, "ly_revenue": (40 - days) * 3500.0})


def messaging_frame() -> pd.DataFrame:
    minutes = [2.0, 4.0, 10.0, 45.0, 90.0, 2000.0, np.nan, np.nan]
    answered = [True, True, True, False, True, True, False, True]  # the last: no incoming message, no response
    return pd.DataFrame({"chat_id": [f"u2i-{i}" for i in range(8)], "item_id": pd.array([ITEM_A] * 8, "Int64"),
                         "other_user_name": "Гость", "first_incoming_at": pd.Timestamp("2026-01-01 10:00"),
                         "first_response_at": pd.NaT, "response_minutes": minutes, "answered": answered,
                         "last_message_at": pd.Timestamp("2026-01-02"), "waiting_since": pd.NaT})


def funnel_frame() -> pd.DataFrame:
    return pd.DataFrame({"week_start": pd.to_datetime(["2026-01-05", "2026-01-05", "2026-01-12"]),
                         "item_id": [ITEM_A, ITEM_B, ITEM_A], "title": ["A", "B", "A"],
                         "views": [1000, 500, 1500], "contacts": [40, 10, 50], "favorites": [60, 20, 70],
                         "bookings": [2, 1, 3]})


def weekday_frame() -> pd.DataFrame:
    weeks = pd.to_datetime(["2026-01-05", "2026-01-12"])
    rows = [{"weekday": d, "week_start": w, "occupancy": (d + 1) / 10 if j == 0 else 0.5}
            for j, w in enumerate(weeks) for d in range(7)]
    rows[-1]["occupancy"] = np.nan  # a Sunday with no available nights
    return pd.DataFrame(rows)


# -- the grid ------------------------------------------------------------------------------------------------------


def test_occupancy_grid_one_heatmap_per_state_in_its_fixed_colour():
    fig = charts.occupancy_grid(facts_frame())
    assert [type(t) for t in fig.data] == [go.Heatmap] * 3
    assert [t.meta for t in fig.data] == ["booked", "blocked", "free"]
    for trace in fig.data:
        colours = {c for _, c in trace.colorscale}
        assert colours == {STATE_COLOURS[trace.meta]}
        assert trace.name == STATE_LABELS[trace.meta]
        assert trace.showscale is False
    assert len(set(STATE_COLOURS.values())) == 3


def test_occupancy_grid_cells_match_the_facts():
    fig = charts.occupancy_grid(facts_frame())
    booked, blocked, free = (np.array(t.z, dtype=float) for t in fig.data)
    rows = list(fig.data[0].y)
    # Listings sorted by title; the two "Студия у метро" rows stay apart, labelled by their ids' tails.
    assert rows == ["Лофт", "Студия у метро · 0001", "Студия у метро · 0002"]
    assert len(fig.data[0].x) == 5
    assert np.array_equal(booked == 1, np.array([[0, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]], bool))
    assert np.array_equal(blocked == 1, np.array([[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]], bool))
    assert np.array_equal(free == 1, np.array([[1, 0, 0, 0, 0], [0, 0, 0, 1, 1], [1, 1, 1, 1, 1]], bool))
    # Nights missing from the facts (Лофт 3..5 March) are gaps: no colour, no hover.
    assert all(np.isnan(t.z[0][4]) for t in fig.data) and fig.data[0].customdata[0][4] is None
    assert all(t.hoverongaps is False for t in fig.data)


def test_occupancy_grid_hover_has_title_date_state_guest_and_rubles():
    fig = charts.occupancy_grid(facts_frame())
    booked, blocked, free = fig.data
    # Hover text is made by each trace's template from short customdata, not stored per cell.
    assert all(t.hovertext is None for t in fig.data)
    for trace in fig.data:
        assert trace.hovertemplate.startswith("<b>%{y}</b><br>%{x|%d.%m.%Y, %a}<br>" + trace.name)
    assert booked.customdata[1][0] == [": Иван Петров", 12345, "01.03.2026", "03.03.2026"]
    assert (f"Занято%{{customdata[0]}}<br>%{{customdata[1]:,.0f}}{NBSP}₽ за ночь<br>заезд %{{customdata[2]}} — "
            "выезд %{customdata[3]}") in booked.hovertemplate
    assert booked.customdata[1][3] is None  # a free night carries no booking
    assert blocked.customdata[1][2] == free.customdata[1][3] == 4000 and np.isnan(free.customdata[1][0])
    assert f"цена %{{customdata:,.0f}}{NBSP}₽ за ночь" in free.hovertemplate  # "4 000 ₽": separators ", "


def big_facts(listings: int, nights: int = 60) -> pd.DataFrame:
    """``listings`` listings over ``nights`` nights: listing n is free on its first n % 15 nights, booked after."""
    days = pd.date_range("2026-03-01", periods=nights)
    rows = [{"item_id": 10_000 + n, "title": f"Квартира {n:04d}", "night": day,
             "state": "free" if d < n % 15 else "booked", "guest_name": "Гость", "nightly_revenue": 3000.0,
             "check_in": days[0], "check_out": days[-1], "price": 3000.0}
            for n in range(listings) for d, day in enumerate(days)]
    return pd.DataFrame(rows)


def test_occupancy_grid_pages_listings_by_title():
    facts = big_facts(120, nights=10)
    assert charts.grid_pages(facts, page_size=50) == 3
    fig = charts.occupancy_grid(facts, page=3, page_size=50)
    assert fig.data[0].y == tuple(f"Квартира {n:04d}" for n in range(100, 120))
    assert "страница 3 из 3: объявления 101–120 из 120" in fig.layout.title.subtitle.text
    with pytest.raises(ValueError, match=r"page must be 1\.\.3"):
        charts.occupancy_grid(facts, page=4, page_size=50)


def test_attention_order_puts_empty_nights_soon_and_short_gaps_first():
    facts = big_facts(4, nights=20)
    # Listing 1 has one free night soon; listing 2 two; listing 3 three; listing 0 none, but a one-night gap
    # (a tie with listing 1, broken by title).
    gap = (facts["item_id"] == 10_000) & (facts["night"] == pd.Timestamp("2026-03-18"))
    facts.loc[gap, "state"] = "free"
    assert charts.attention_order(facts) == [10_003, 10_002, 10_000, 10_001]
    facts.loc[(facts["item_id"] == 10_000) & (facts["night"] >= pd.Timestamp("2026-03-16")), "state"] = "free"
    assert charts.attention_order(facts)[-1] == 10_000  # four free nights at the end: no gap, none soon


@pytest.mark.slow
def test_occupancy_grid_of_many_listings_is_compact_with_the_rest_in_one_row():
    facts = big_facts(1_000)
    order = charts.attention_order(facts)
    fig = charts.occupancy_grid(facts, order=order, page=1, page_size=40, rest_row=True)
    assert [t.meta for t in fig.data] == ["booked", "blocked", "free", "rest"]
    # Every trace has the 40 listings' rows and the summary row (plotly.js needs as many rows as categories).
    assert all(len(t.y) == 41 and len(t.z) == 41 for t in fig.data)
    assert fig.data[0].y[0] == "Квартира 0014"  # 14 free nights soon: first
    rest = fig.data[3]
    assert rest.y[-1] == "Остальные 960 объявлений: доля занятых"
    assert rest.customdata[-1][0] == [67, 960]  # the first night: listings 0, 15, .. 990 are booked
    assert 0 <= rest.z[-1][0] <= rest.z[-1][-1] == 1.0 and np.isnan(rest.z[0]).all()
    assert all(np.isnan(t.z[-1]).all() for t in fig.data[:3])
    assert len(fig.to_json()) < 40 * 60 * 150  # under 150 bytes a cell (was 1.4 KB)
def test_occupancy_grid_leaves_its_input_alone():
    facts = facts_frame()
    before = facts.copy()
    charts.occupancy_grid(facts)
    pd.testing.assert_frame_equal(facts, before)


# -- month by month, ADR / RevPAR, pace ----------------------------------------------------------------------------


def test_monthly_occupancy_revenue_bars_and_lines_with_last_year():
    yoy = yoy_frame()
    fig = charts.monthly_occupancy_revenue(yoy)
    assert [type(t).__name__ for t in fig.data] == ["Bar", "Bar", "Scatter", "Scatter"]
    ly_bars, bars, ly_line, line = fig.data
    assert list(bars.x)[:3] == ["янв", "фев", "мар"]
    np.testing.assert_allclose(bars.y, yoy["revenue"])
    np.testing.assert_allclose(ly_bars.y, yoy["ly_revenue"])
    np.testing.assert_allclose(line.y, yoy["occupancy"])
    np.testing.assert_allclose(ly_line.y, yoy["ly_occupancy"])
    assert bars.name == "Выручка 2026" and ly_bars.name == "Выручка 2025"
    assert line.yaxis == "y2" and bars.yaxis == "y"
    assert fig.layout.separators == ", "
    assert f"40{NBSP}000{NBSP}₽" in bars.hovertext[0]
    assert "Загрузка: 40,0" in bars.hovertext[0]
    assert "янв 2025" in ly_bars.hovertext[0]


def test_adr_revpar_trend_uses_the_total_rows():
    fig = charts.adr_revpar_trend(kpis_month_frame())
    adr, revpar = fig.data
    assert (adr.name, revpar.name) == ("ADR", "RevPAR")
    assert list(adr.x) == ["янв", "фев"]
    np.testing.assert_allclose(adr.y, [130_000 / 30] * 2)
    np.testing.assert_allclose(revpar.y, [130_000 / 62] * 2)
    assert f"4{NBSP}333{NBSP}₽" in adr.hovertext[0]


def test_adr_revpar_trend_recomputes_from_sums_without_total_rows():
    per_item = kpis_month_frame().dropna(subset=["item_id"])
    fig = charts.adr_revpar_trend(per_item)
    np.testing.assert_allclose(fig.data[0].y, [130_000 / 30] * 2)  # not the mean of the listings' ADRs
    np.testing.assert_allclose(fig.data[1].y, [130_000 / 62] * 2)


def test_pace_curve_runs_towards_the_period_with_last_year_dashed():
    fig = charts.pace_curve(pace_frame())
    assert [t.name for t in fig.data] == ["Ночи, прошлый год", "Ночи, этот год", "Выручка, прошлый год",
                                          "Выручка, этот год"]
    assert all(isinstance(t, go.Scatter) for t in fig.data)
    assert list(fig.data[1].x) == list(range(10, -1, -1))
    assert list(fig.data[1].y) == list(range(40, 51))
    assert fig.data[0].line.dash == "dash"
    assert fig.layout.xaxis.autorange == "reversed"
    assert "за 10 дней до начала (на 21.06.2026)" in fig.data[1].hovertext[0]
    assert f"160{NBSP}000{NBSP}₽" in fig.data[1].hovertext[0]


# -- distributions -------------------------------------------------------------------------------------------------


def test_lead_time_histogram_buckets_and_median():
    lead = pd.DataFrame({"booking_id": range(6), "item_id": ITEM_A, "lead_days": [0, 1, 3, 10, 45, 200]})
    fig = charts.lead_time_histogram(lead)
    (bar,) = fig.data
    assert isinstance(bar, go.Bar)
    assert list(bar.x) == ["0–1 дн.", "2–7 дн.", "8–14 дн.", "15–30 дн.", "31–60 дн.", "61–90 дн.", "91+ дн."]
    assert list(bar.y) == [2, 1, 1, 0, 1, 0, 1]
    assert "медиана 6 дней" in fig.layout.title.subtitle.text  # median of 3 and 10, rounded


def test_length_of_stay_histogram():
    los = pd.DataFrame({"nights": [1, 2, 3], "stays": [2, 5, 3]})
    fig = charts.length_of_stay_histogram(los)
    (bar,) = fig.data
    assert list(bar.x) == [1, 2, 3] and list(bar.y) == [2, 5, 3]
    assert "ALOS) 2,1 ночи" in fig.layout.title.subtitle.text  # (1*2 + 2*5 + 3*3) / 10
    assert "5 броней (50" in bar.hovertext[1]


def test_weekday_heatmap_rows_are_monday_to_sunday():
    fig = charts.weekday_heatmap(weekday_frame())
    (heat,) = fig.data
    assert isinstance(heat, go.Heatmap)
    assert list(heat.y) == ["Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс"]
    assert list(heat.x) == ["05.01", "12.01"]
    z = np.array(heat.z, dtype=float)
    assert z.shape == (7, 2)
    np.testing.assert_allclose(z[:, 0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    assert math.isnan(z[6, 1])
    assert (heat.zmin, heat.zmax) == (0, 1)
    assert "09.01.2026" in heat.hovertext[4][0]  # Friday of the week from 05.01


def test_listing_funnel_sums_all_listings_and_weeks():
    fig = charts.listing_funnel(funnel_frame())
    (funnel,) = fig.data
    assert isinstance(funnel, go.Funnel)
    assert list(funnel.y) == ["Просмотры", "Контакты", "В избранном", "Брони"]
    assert list(funnel.x) == [3000, 100, 150, 6]
    assert f"3{NBSP}000" in funnel.text[0]
    assert "0,20" in funnel.text[3]  # 6 of 3000 views


def test_response_time_histogram_and_unanswered_in_title():
    fig = charts.response_time(messaging_frame())
    (bar,) = fig.data
    assert list(bar.y) == [2, 1, 0, 1, 1, 0, 0, 1]  # 2, 4 | 10 | 45 | 90 | 2000 minutes
    assert sum(bar.y) == 6
    title = fig.layout.title.text
    assert "без ответа 2 чата" in title
    assert "медиана 28 мин" in title  # median of 2, 4, 10, 45, 90, 2000: 27.5


# -- titles, empty input -------------------------------------------------------------------------------------------

CHARTS = {
    "occupancy_grid": (charts.occupancy_grid, facts_frame, "занято / закрыто / свободно"),
    "monthly_occupancy_revenue": (charts.monthly_occupancy_revenue, yoy_frame, "занятые / доступные ночи"),
    "adr_revpar_trend": (charts.adr_revpar_trend, kpis_month_frame, "выручка / занятые ночи"),
    "pace_curve": (charts.pace_curve, pace_frame, "на руках (OTB)"),
    "lead_time_histogram": (charts.lead_time_histogram,
                            lambda: pd.DataFrame({"lead_days": [1, 2]}), "первое появление брони → заезд"),
    "length_of_stay_histogram": (charts.length_of_stay_histogram,
                                 lambda: pd.DataFrame({"nights": [2], "stays": [1]}), "выезд − заезд"),
    "weekday_heatmap": (charts.weekday_heatmap, weekday_frame, "занятые / доступные ночи"),
    "listing_funnel": (charts.listing_funnel, funnel_frame, "просмотры → контакты → избранное → брони"),
    "response_time": (charts.response_time, messaging_frame, "Первый ответ гостю"),
}


@pytest.mark.parametrize("name", CHARTS)
def test_title_names_its_definition(name):
    chart, frame, definition = CHARTS[name]
    fig = chart(frame())
    assert isinstance(fig, go.Figure)
    assert definition in fig.layout.title.text
    assert fig.layout.separators == ", "
    assert not fig.layout.annotations or EMPTY_MESSAGE not in [a.text for a in fig.layout.annotations]


@pytest.mark.parametrize("name", CHARTS)
@pytest.mark.parametrize("how", ["no rows", "None"])
def test_empty_input_gives_the_no_data_figure(name, how):
    chart, frame, definition = CHARTS[name]
    empty = None if how == "None" else frame().iloc[0:0]
    fig = chart(empty)
    assert len(fig.data) == 0
    assert [a.text for a in fig.layout.annotations] == [EMPTY_MESSAGE]
    assert definition in fig.layout.title.text


def test_yoy_with_only_missing_values_is_empty():
    yoy = yoy_frame()
    for column in ("occupancy", "revenue", "ly_occupancy", "ly_revenue"):
        yoy[column] = np.nan
    assert [a.text for a in charts.monthly_occupancy_revenue(yoy).layout.annotations] == [EMPTY_MESSAGE]


def test_charts_module_is_pure():
    """No store, metrics, database or display: only pandas, numpy, plotly and avito_kit's own (pure) formats, and
    no call that shows or writes."""
    tree = ast.parse(Path(charts.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level}
    own = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert {name.split(".")[0] for name in imported} <= {"__future__", "collections", "math", "typing", "numpy",
                                                          "pandas", "plotly"}
    assert own == {"format"}
    called = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Attribute)}
    assert not called & {"show", "write_html", "write_image", "to_image", "display"}
