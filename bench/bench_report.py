"""The report and the dashboard for a large account: 1,000 listings, three years of bookings (issue 12 §4).

The store is the metrics bench's (``bench_metrics.populate``); "today" is 2025-11-01, so the period, the grid of
the next 60 nights and next month's pace all fall inside the bookings. Measured:

- ``write_report`` in a process of its own: seconds, peak RSS of that process (``RUSAGE_CHILDREN``), file size;
- the file opened in Chromium (Playwright, offline): seconds from navigation until every chart has drawn its SVG;
- the Dashboard: seconds from a picker change (listing, then period) until its cards and charts are updated.

    python bench/bench_report.py          # about a minute
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_metrics import populate
from common import ROOT, Row, print_table, seconds, stopwatch

from avito_kit.store import Store

TODAY = dt.date(2025, 11, 1)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
MAX_BYTES, MAX_SECONDS, MAX_RSS_MB, MAX_OPEN, MAX_REACTION = 8_000_000, 10.0, 400, 5.0, 0.3


def write_in_child(db: Path, out: Path) -> tuple[float, float]:
    """``write_report`` in a fresh interpreter: (seconds inside it, peak RSS in MB of that process)."""
    code = ("import sys, time, datetime as dt\n"
            "from avito_kit.store import Store\nfrom avito_kit.report import write_report\n"
            "store = Store(sys.argv[1])\nstarted = time.perf_counter()\n"
            f"write_report(store, sys.argv[2], today=dt.date.fromisoformat({TODAY.isoformat()!r}))\n"
            "print(time.perf_counter() - started)\n")
    child = subprocess.run([sys.executable, "-c", code, str(db), str(out)], cwd=ROOT, capture_output=True,
                           text=True, check=False)
    if child.returncode:
        raise RuntimeError(child.stderr[-2000:])
    return float(child.stdout.split()[-1]), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


async def open_seconds(url: str, charts: int) -> float:
    """Seconds from navigation until every chart of the page has drawn (best of two loads)."""
    from playwright.async_api import async_playwright

    timings = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(2):
                tab = await browser.new_page(viewport={"width": 1280, "height": 900})
                started = time.perf_counter()
                await tab.goto(url, wait_until="load")
                await tab.wait_for_function(
                    "[...document.querySelectorAll('.js-plotly-plot')].filter(el => el.querySelector("
                    f"'svg.main-svg')).length >= {charts}", timeout=60_000)
                timings.append(time.perf_counter() - started)
                await tab.close()
        finally:
            await browser.close()
    return min(timings)


def dashboard_reactions(store: Store) -> tuple[float, dict[str, float], dict[str, float]]:
    """Seconds to build a Dashboard on ``store``; then, for each picker change in the order a host would make
    them, the seconds until its cards and charts are updated (the observers run synchronously) and the CPU
    seconds of this process meanwhile (less sensitive to a machine shared with other work)."""
    from avito_kit.widgets import Dashboard

    with stopwatch() as took:
        board = Dashboard(store, today=TODAY)
    built = took()
    changes = {
        "one listing": lambda: setattr(board.listing, "value", board.listing.options[1][1]),
        "all listings again": lambda: setattr(board.listing, "value", 0),
        "period: next 90 nights": lambda: setattr(board.period, "value", "Следующие 90 ночей"),
        "period: last month": lambda: setattr(board.period, "value", "Прошлый месяц"),
        "own first night": lambda: setattr(board.date_from, "value", board.date_from.value + dt.timedelta(days=3)),
        "another listing": lambda: setattr(board.listing, "value", board.listing.options[500][1]),
    }
    reactions, cpu = {}, {}
    for name, change in changes.items():
        started = time.process_time()
        with stopwatch() as took:
            change()
        reactions[name], cpu[name] = took(), time.process_time() - started
    return built, reactions, cpu


def main() -> bool:
    from avito_kit.report import REPORT_CHARTS

    folder = Path(tempfile.mkdtemp(prefix="avito_bench_report_"))
    db = folder / "kit.duckdb"
    store = Store(db)
    with stopwatch() as took:
        n = populate(store)
    print(f"Report bench: 1,000 listings, {n:,} bookings (store filled in {seconds(took())}); files in {folder}",
          flush=True)
    out = folder / "report.html"
    write_seconds, rss_mb = write_in_child(db, out)
    size = out.stat().st_size
    print(f"write_report: {seconds(write_seconds)}, peak RSS {rss_mb:.0f} MB, file {size / 1e6:.2f} MB", flush=True)
    opened = asyncio.run(open_seconds(out.resolve().as_uri(), len(REPORT_CHARTS)))
    print(f"opened in Chromium, every chart drawn: {seconds(opened)}", flush=True)
    built, reactions, cpu = dashboard_reactions(Store(db))
    print(f"Dashboard: built in {seconds(built)}; " + "; ".join(
        f"{name} {seconds(took)} (CPU {seconds(cpu[name])})" for name, took in reactions.items()), flush=True)
    print(f"load average while measuring: {os.getloadavg()[0]:.1f}", flush=True)
    shutil.rmtree(folder, ignore_errors=True)

    reaction = max(reactions.values())
    rows = [
        Row("report file, plotly.js inlined", f"{size / 1e6:.2f} MB", "8 MB", size / MAX_BYTES, "<= 8 MB",
            size <= MAX_BYTES),
        Row("write_report, seconds", seconds(write_seconds), "10 s", write_seconds / MAX_SECONDS, "<= 10 s",
            write_seconds <= MAX_SECONDS),
        Row("write_report, peak RSS of its process", f"{rss_mb:.0f} MB", "400 MB", rss_mb / MAX_RSS_MB,
            "<= 400 MB", rss_mb <= MAX_RSS_MB),
        Row("opened in Chromium, every chart drawn", seconds(opened), "5 s", opened / MAX_OPEN, "<= 5 s",
            opened <= MAX_OPEN),
        Row("Dashboard, slowest picker change", seconds(reaction), "300 ms", reaction / MAX_REACTION,
            "<= 300 ms", reaction <= MAX_REACTION),
        Row("Dashboard, slowest picker change, CPU seconds", seconds(max(cpu.values())), "300 ms",
            max(cpu.values()) / MAX_REACTION, "(info)", None),
        Row("Dashboard, built", seconds(built), "", 0.0, "(info)", None),
    ]
    return print_table("Report and dashboard: 1,000 listings x 3 years", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
