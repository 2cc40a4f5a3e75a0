"""`avito-kit demo`: 120 simulated days of daily syncs give the store a booking history, and end where a direct
sync today would (issue 12 §5)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from avito_kit import metrics
from avito_kit.dates import AVITO_TZ
from avito_kit.demo import HISTORY_DAYS, SimulatedClock, run_demo
from avito_kit.sandbox import Sandbox
from avito_kit.session import EMBEDDED_SWITCHES, open_client
from avito_kit.store import Store
from avito_kit.sync import sync

pytestmark = pytest.mark.slow

# Columns that say when avito_kit saw or wrote a row, not what Avito answered.
BOOKKEEPING = {"first_seen_at", "last_seen_at", "status_changed_at", "updated_at", "synced_at"}
KEYS = {"items": ["item_id"], "bookings": ["booking_id"], "chats": ["chat_id"], "messages": ["message_id"],
        "item_stats": ["item_id", "date"]}


class Demo:
    def __init__(self, store: Store, sandbox: Sandbox, lines: list[str], report: Path) -> None:
        self.store, self.sandbox, self.lines, self.report = store, sandbox, lines, report
        self.today = sandbox.world.today
        self.first = self.today - dt.timedelta(days=HISTORY_DAYS - 1)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    folder = tmp_path_factory.mktemp("demo")
    store, sandbox, lines = Store(folder / "avito.duckdb"), Sandbox(**EMBEDDED_SWITCHES), []
    asyncio.run(run_demo(store, lines.append, sandbox, progress=False, report_path=folder / "report.html"))
    return Demo(store, sandbox, lines, folder / "report.html")


def table(store: Store, name: str) -> pd.DataFrame:
    frame = store.query(f"SELECT * FROM {name}")
    frame = frame.drop(columns=[column for column in frame.columns if column in BOOKKEEPING])
    return frame.sort_values(KEYS[name]).reset_index(drop=True)


def test_the_demo_says_what_it_did(demo):
    assert f"Simulated {HISTORY_DAYS} days of daily syncs ({demo.first} … {demo.today})" in demo.output
    assert "Демо: история смоделирована" in demo.output and "Следующие 30 ночей" in demo.output
    runs = demo.store.sync_runs()
    assert len(runs) == HISTORY_DAYS and set(runs.status) == {"ok"}


def test_after_the_replay_the_store_holds_what_a_direct_sync_today_holds(demo, tmp_path):
    direct = Store(tmp_path / "direct.duckdb")
    now = dt.datetime.now(AVITO_TZ)
    clock = SimulatedClock(dt.datetime.combine(demo.today, now.timetz()))

    async def sync_today() -> None:
        async with open_client(sandbox=Sandbox(**EMBEDDED_SWITCHES, today=demo.today)) as client:
            await sync(client, direct, progress=False, clock=clock)

    asyncio.run(sync_today())
    for name in KEYS:
        replayed, synced = table(demo.store, name), table(direct, name)
        assert len(synced) > 0, name
        pd.testing.assert_frame_equal(replayed, synced, obj=name)


def test_booking_events_hold_first_sightings_over_the_whole_replay(demo):
    events = demo.store.booking_events()
    first_seen = pd.to_datetime(events[events.event == "first_seen"].observed_at).dt.date
    assert first_seen.min() == demo.first and first_seen.max() == demo.today
    assert first_seen.nunique() > HISTORY_DAYS * 3 // 4  # new bookings nearly every day
    assert (events.event == "changed").sum() > 10  # cancellations seen as they happened


def test_lead_times_are_spread(demo):
    """Stays from the replay's first day on: each first seen by the sync of the day it was made (or on the
    first day), not all on the day of one sync."""
    leads = metrics.lead_times(demo.store, demo.first).lead_days
    assert len(leads) > 200
    assert (leads <= 1).mean() < 0.4
    assert leads.quantile(0.5) >= 7 and leads.max() > 60


def test_pace_moves_over_the_replay(demo):
    month = demo.today + dt.timedelta(days=10), demo.today + dt.timedelta(days=40)
    curve = metrics.pace(demo.store, *month, as_of=demo.today, days_back=90)
    assert curve.nights_booked.nunique() > 10  # the books filled day by day, not at once


def test_the_sandbox_is_back_on_its_own_today(demo):
    assert demo.sandbox.today == demo.today and demo.sandbox.moment is None
    assert demo.sandbox.messenger_subscription is True


def test_a_second_demo_on_the_same_store_syncs_today_only(tmp_path):
    store, sandbox, lines = Store(tmp_path / "avito.duckdb"), Sandbox(**EMBEDDED_SWITCHES), []
    asyncio.run(run_demo(store, lines.append, sandbox, progress=False, report_path=tmp_path / "r.html", days=3))
    assert "Simulated 3 days of daily syncs" in lines[1]
    lines.clear()
    asyncio.run(run_demo(store, lines.append, sandbox, progress=False, report_path=tmp_path / "r.html", days=3))
    assert "already holds the demo account: synced today only" in lines[1]
    assert len(store.sync_runs()) == 4


def test_the_report_says_its_history_is_simulated(demo):
    html = demo.report.read_text(encoding="utf-8")
    assert "Демо: история смоделирована" in html


@pytest.mark.browser
def test_the_demo_report_draws_pace_and_lead_time_from_its_history(demo):
    """Issue 12: after the simulated months, the report's pace and lead-time charts have data (not the empty
    state a first sync shows), drawn by Chromium offline."""
    from playwright.sync_api import sync_playwright

    from .browser_support import CHROMIUM_ARGS
    from .helpers import require_chromium

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            tab.goto(demo.report.resolve().as_uri(), wait_until="load")
            tab.wait_for_function("['chart-pace', 'chart-lead_time'].every(id => "
                                  "document.getElementById(id)?.querySelector('svg.main-svg'))", timeout=30_000)
            points = tab.evaluate("""ids => ids.map(id => document.getElementById(id)._fullData
                .map(t => Array.from(t.y || []).filter(v => v !== null && v !== 0 && !Number.isNaN(v)).length)
                .reduce((a, b) => a + b, 0))""", ["chart-pace", "chart-lead_time"])
        finally:
            browser.close()
    assert all(n > 0 for n in points), points
