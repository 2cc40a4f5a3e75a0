"""The HTML report: one self-contained file written atomically from a synced sandbox store, numbers that match
``metrics``, and (browser tier) every chart drawn by the inlined plotly.js in Chromium with the network cut off.
PNG export through kaleido drives the same Chromium."""

from __future__ import annotations

import datetime as dt
import re
import struct
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs_version

from avito_kit import charts, metrics, report
from avito_kit.format import format_int, format_pct, format_rub
from avito_kit.report import REPORT_CHARTS, export_png, write_report
from avito_kit.sandbox import Sandbox
from avito_kit.session import open_client
from avito_kit.store import Store
from avito_kit.widgets import InboxWidget

from .helpers import CHROMIUM, clean_sync, require_chromium, synced_store_file

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
PLOTLY_BANNER = f"plotly.js v{get_plotlyjs_version()}"


@pytest.fixture(scope="module")
def synced_store(tmp_path_factory) -> Store:
    return Store(synced_store_file(tmp_path_factory, Sandbox(seed=1), "store"))


@pytest.fixture(scope="module")
def report_file(synced_store, tmp_path_factory) -> Path:
    return write_report(synced_store, tmp_path_factory.mktemp("out") / "nested" / "report.html")


@pytest.fixture(scope="module")
def page(report_file) -> str:
    return report_file.read_text(encoding="utf-8")


# -- the file ---------------------------------------------------------------------------------------------------


def test_report_is_one_file_in_a_created_folder(report_file):
    assert report_file.name == "report.html"
    assert [p.name for p in report_file.parent.iterdir()] == ["report.html"]  # no temporary file left behind


def test_plotly_js_is_inlined_exactly_once(page):
    assert page.count(PLOTLY_BANNER) == 1
    assert page.count('<script id="plotly-js">') == 1
    assert page.count("Plotly.newPlot(") == len(REPORT_CHARTS)


def test_nothing_is_loaded_from_the_network(page):
    tags = re.findall(r"<(?:script|link|img|iframe|source|video|audio)\b[^>]*>", page, flags=re.IGNORECASE)
    for tag in tags:
        assert not re.search(r"\b(?:src|href)\s*=", tag, flags=re.IGNORECASE), tag
    # Outside plotly.js (whose code mentions map-tile and attribution URLs it never loads here), no URL at all.
    ours = re.sub(r'<script id="plotly-js">.*?</script>', "", page, count=1, flags=re.DOTALL)
    assert len(ours) < len(page) - 1_000_000
    assert not re.search(r"https?://", ours), re.search(r".{60}https?://.{60}", ours)
    assert "@import" not in ours and "url(" not in ours


def test_every_chart_is_in_the_page_in_order(page):
    found = re.findall(r'<div class="chart" data-chart="([a-z_]+)">', page)
    assert tuple(found) == REPORT_CHARTS
    assert '<html lang="ru">' in page and '<meta charset="utf-8">' in page


def test_header_says_account_period_and_when(page, synced_store):
    today = dt.date.today()
    start = today - dt.timedelta(days=29)
    account = int(synced_store.items()["user_id"].iloc[0])
    assert f"{start:%d.%m.%Y} — {today:%d.%m.%Y}" in page
    assert f"Аккаунт Avito <b>{account}</b>" in page
    assert "Сформирован <b>" in page and "Данные на <b>" in page


def test_kpi_cards_show_the_metrics_of_the_period(page, synced_store):
    today = dt.date.today()
    total = metrics.kpis(synced_store, today - dt.timedelta(days=29), today, by="total").iloc[0]
    cards = dict(re.findall(r'data-kpi="(\w+)">.*?<div class="kpi-value">(.*?)</div>', page, flags=re.DOTALL))
    assert cards["occupancy"] == format_pct(total["occupancy"])
    assert cards["revenue"] == format_rub(total["revenue"])
    assert cards["adr"] == format_rub(total["adr"])
    assert cards["revpar"] == format_rub(total["revpar"])
    assert cards["nights_booked"] == f"{format_int(total['nights_booked'])} из {format_int(total['nights_available'])}"
    assert cards["stays"].startswith(f"{total['stays']} · ")
    # Each card is compared twice: with the previous 30 nights and with the same dates a year earlier.
    assert page.count("к пред. периоду") == 6
    assert len(re.findall(r'<div class="delta (?:up|down|flat)">', page)) == 12


def test_forward_occupancy_cards(page, synced_store):
    forward = metrics.forward_occupancy(synced_store, as_of=dt.date.today())
    for _, row in forward.iterrows():
        card = re.search(rf'data-horizon="{row["horizon_days"]}">.*?<div class="kpi-value">(.*?)</div>', page,
                         flags=re.DOTALL)
        assert card is not None and card.group(1) == format_pct(row["occupancy"])


def test_definitions_footnote_cites_metrics_md(page):
    assert "METRICS.md" in page
    assert "занятые / доступные ночи" in page
    assert "выручка / доступные ночи" in page


@pytest.mark.slow
def test_default_path_and_period(synced_store, isolated_workdir):
    path = write_report(synced_store, today="2026-03-31")
    assert path == Path("reports") / "avito_report.html"
    assert (isolated_workdir / "reports" / "avito_report.html").is_file()
    assert "02.03.2026 — 31.03.2026" in path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_explicit_period(synced_store, tmp_path):
    path = write_report(synced_store, tmp_path / "r.html", date_from="2026-01-01", date_to="2026-01-31",
                        today="2026-01-15")
    text = path.read_text(encoding="utf-8")
    assert "01.01.2026 — 31.01.2026" in text
    assert "01.12.2025 — 31.12.2025" in text  # the previous 31 nights


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to"),
    ({"date_from": "01.02.2026"}, "date_from"),
    ({"today": dt.datetime(2026, 1, 1, 12)}, "today"),
])
def test_bad_dates_raise_before_writing(synced_store, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        write_report(synced_store, tmp_path / "r.html", **kwargs)
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_written_atomically(synced_store, tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    target.write_text("previous report", encoding="utf-8")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(synced_store, target)
    assert target.read_text(encoding="utf-8") == "previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


@pytest.mark.slow
def test_empty_store_still_gives_a_report(tmp_path):
    path = write_report(Store(tmp_path / "empty.duckdb"), tmp_path / "empty.html", today="2026-06-30")
    text = path.read_text(encoding="utf-8")
    assert text.count("Plotly.newPlot(") == len(REPORT_CHARTS)
    assert "В базе нет объявлений" in text
    assert "avito-kit sync" in text


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory) -> Store:
    """What ``make demo`` syncs: the sandbox with its default seed."""
    return Store(synced_store_file(tmp_path_factory, Sandbox(), "demo"))


@pytest.mark.slow
async def test_the_inbox_and_the_report_count_the_same_waiting_guests(demo_store, tmp_path):
    """One definition (metrics.messaging): a system message neither asks nor answers. The demo holds chats where
    Avito's system message came after the host's answer, which the inbox once counted as a guest waiting."""
    page = write_report(demo_store, tmp_path / "r.html").read_text(encoding="utf-8")
    waiting = int(re.search(r"<b>(\d+) (?:гость ждёт|гостя ждут|гостей ждут) ответа</b>", page).group(1))
    async with open_client(sandbox=Sandbox()) as client:
        inbox = InboxWidget(client, demo_store)
    assert sum(row["waited"] is not None for row in inbox._rows.values()) == waiting
    assert metrics.inbox(demo_store).waiting_since.notna().sum() == waiting > 0
    assert metrics.messaging_summary(demo_store).unanswered[0] == waiting


# -- the browser -----------------------------------------------------------------------------------------------


@pytest.mark.browser
async def test_report_renders_offline_in_chromium(report_file):
    require_chromium()
    from playwright.async_api import async_playwright

    blocked: list[str] = []
    errors: list[str] = []

    async def only_files(route) -> None:
        if route.request.url.startswith("file:"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
            await context.route("**/*", only_files)
            tab = await context.new_page()
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            await tab.goto(report_file.resolve().as_uri(), wait_until="load")
            await tab.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot').length >= {len(REPORT_CHARTS)}", timeout=30_000)
            drawn = await tab.evaluate(
                "[...document.querySelectorAll('.js-plotly-plot')]"
                ".filter(el => el.querySelector('svg.main-svg')).map(el => el.id)")
            grid_traces = await tab.evaluate("document.getElementById('chart-grid').data.map(t => t.meta)")
            heat_cells = await tab.locator("#chart-grid .heatmaplayer image, #chart-grid .hm image").count()
        finally:
            await browser.close()
    assert drawn == [f"chart-{name}" for name in REPORT_CHARTS]
    assert grid_traces == ["booked", "blocked", "free"]
    assert heat_cells >= 1
    assert errors == []
    assert blocked == []


# -- PNG export ----------------------------------------------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.mark.browser
def test_export_png_with_chromium(tmp_path, monkeypatch):
    require_chromium()
    monkeypatch.setenv("BROWSER_PATH", str(CHROMIUM))
    fig = charts.length_of_stay_histogram(pd.DataFrame({"nights": [1, 2, 3], "stays": [4, 9, 2]}))
    path = export_png(fig, tmp_path / "png" / "los.png", width=800, height=400)
    assert path == tmp_path / "png" / "los.png"
    assert png_size(path) == (800, 400)
    assert [p.name for p in path.parent.iterdir()] == ["los.png"]


def test_export_png_without_a_browser_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chrome"))
    with pytest.raises(RuntimeError, match="BROWSER_PATH"):
        export_png(go.Figure(), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# -- a notice, compact plots, a table that sorts and pages (issue 12) --------------------------------------------


@pytest.mark.slow
def test_a_notice_is_shown_at_the_top_escaped(synced_store, tmp_path):
    path = write_report(synced_store, tmp_path / "r.html", notice="История смоделирована <демо> & пример")
    page = path.read_text(encoding="utf-8")
    notice = page.index('class="note warn banner notice"')
    assert "История смоделирована &lt;демо&gt; &amp; пример" in page[notice:notice + 200]
    assert notice < page.index("Итоги периода")
    assert 'class="note warn banner notice"' not in write_report(synced_store, tmp_path / "plain.html").read_text(
        encoding="utf-8")


def test_plots_carry_cyrillic_as_utf8_and_keep_escaped_backslashes():
    fig = go.Figure(go.Bar(x=["Занято", "a\\u0410b"], y=[1, 2]))
    div = report._plot_div(fig, "x")
    assert '"Занято"' in div and "\\u0417" not in div
    assert '"a\\\\u0410b"' in div  # a literal backslash-u in the data stays as it was


def test_small_report_keeps_every_listing_in_the_grid_and_a_sortable_table(synced_store, page):
    grid = charts.attention_grid(metrics.grid(synced_store, dt.date.today(), dt.date.today() + dt.timedelta(days=59)))
    assert [t.meta for t in grid.data] == ["booked", "blocked", "free"]  # no summary row for a small account
    table = page[page.index('<table class="listings sortable"'):]
    assert table.count('data-sort="num"') == 7 and 'data-page-size="25"' in table
    assert "Показаны 40 из" not in page


@pytest.mark.slow
def test_a_first_sync_of_a_real_account_compares_with_no_year_it_has_no_data_for(tmp_path):
    """Avito refuses past bookings reads (422), so a first sync knows nothing of last year: every KPI card says
    "нет истории" against last year instead of a change against zeros."""
    sandbox = Sandbox(seed=4, n_items=3, n_chats=3)  # Avito's behaviour: past reads refused
    store = clean_sync(sandbox, tmp_path / "first.duckdb")
    today = sandbox.today
    path = write_report(store, tmp_path / "r.html", date_from=today, date_to=today + dt.timedelta(days=29),
                        today=today)
    html = path.read_text(encoding="utf-8")
    last_year = today.year - 1
    cards = html.count('class="kpi"')
    assert cards >= 6
    assert html.count(f"нет истории <span>к {last_year} году</span>") == cards
