"""``avito-kit demo`` / ``make demo``: what a host sees after months of use, run against the embedded sandbox.

The sandbox replays its world over time (bookings made and canceled on their own dates) and the demo syncs it
once a day over the last ``HISTORY_DAYS`` days, each sync at its simulated date (one injected clock drives the
sandbox's day, its tokens and rate windows, the client and the sync): ``booking_events`` then hold real
first-seen dates, so pace, pickup and lead time have something to show. The daily syncs read bookings from their
day on, as Avito allows, and the sandbox's messenger is off for them (the sync skips it on 402): messages carry
their own times and feed no history metric, and reading chats daily would add a third to the demo's time. The last sync,
today's, reads the default window and the messenger, leaving the store as a direct sync today would (apart from
when bookings were first seen). Then the demo writes the HTML report, which says the history is simulated, and
prints the KPIs of the next 30 nights and what to open next. It always uses the sandbox, even when credentials
are set: a demo never touches a real account.

>>> run(run_demo(Store("data/avito.duckdb")))
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .dates import AVITO_TZ
from .format import format_date, plural
from .metrics import kpis
from .report import write_report
from .sandbox import Sandbox, sandbox_from_env
from .session import EMBEDDED_SWITCHES, open_client
from .store import Store
from .sync import SyncReport, sync
from .tables import kpi_table

__all__ = ["HISTORY_DAYS", "SIMULATED_HISTORY_NOTICE", "Replay", "SimulatedClock", "replay_history", "run_demo"]

HISTORY_DAYS = 120
SIMULATED_HISTORY_NOTICE = (
    "Демо: история смоделирована. Песочница воспроизвела {days} своего аккаунта (брони создавались и "
    "отменялись в свои даты), и avito-kit синхронизировал её раз в день, с {first} по {last}.")
DEMO_ACCOUNT_NOTICE = "Демо: данные песочницы avito-kit, история броней смоделирована."


class SimulatedClock:
    """The demo's "now", moved a day at a time: an aware datetime for the sync (``clock()``), unix seconds for the
    sandbox and the client (``clock.timestamp()``), so tokens, rate windows and the sync agree on the hour."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def timestamp(self) -> float:
        return self.now.timestamp()


@dataclass
class Replay:
    """What ``replay_history`` did: one sync report per simulated day, oldest first; the last is today's."""

    first: dt.date
    last: dt.date
    reports: list[SyncReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def notice(self) -> str:
        """The line the demo's report opens with: its history is simulated."""
        days = f"{len(self.reports)} {plural(len(self.reports), 'день', 'дня', 'дней')}"
        return SIMULATED_HISTORY_NOTICE.format(days=days, first=format_date(self.first),
                                               last=format_date(self.last))

    def __str__(self) -> str:
        first, between, today = self.reports[0], self.reports[1:-1], self.reports[-1]
        lines = [f"Simulated {len(self.reports)} days of daily syncs ({self.first} … {self.last}) in "
                 f"{self.seconds:.1f} s: the sandbox replayed its bookings as they were made and canceled, and "
                 f"each day's sync read them from that day on, as Avito allows."]
        if between:
            lines.append(f"  The first day found {first.bookings_new} bookings already made (when, nobody knows); "
                         f"the {len(between)} days after saw {sum(r.bookings_new for r in between)} new bookings "
                         f"and {sum(r.bookings_changed for r in between)} cancellations: the history behind pace, "
                         f"pickup and lead time.")
        lines.append(f"  Today's sync also read the past year ({today.bookings_new} bookings new to the store) and "
                     f"the messenger, which the daily syncs skipped.")
        return "\n".join(lines)


async def replay_history(store: Store, sandbox: Sandbox, days: int = HISTORY_DAYS, *, progress: bool = True,
                         now: dt.datetime | None = None) -> Replay:
    """Sync ``sandbox`` into ``store`` once a day for ``days`` days, the last one the sandbox's today, each at its
    simulated date (see the module docstring: bookings from that day on, no messenger but on the last day); the
    sandbox ends on its own today, with its clock and messenger switch restored.

    ``now``: the aware time of day of the last sync (default: now, on the sandbox's today in Moscow). A store
    that already holds syncs of this account after the first simulated day would get history out of order.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    world_today = sandbox.world.today
    last = now or dt.datetime.now(AVITO_TZ)
    last = dt.datetime.combine(world_today, last.astimezone(AVITO_TZ).timetz())  # Moscow's date is the world's
    clock = SimulatedClock(last - dt.timedelta(days=days - 1))
    replay = Replay(first=world_today - dt.timedelta(days=days - 1), last=world_today)
    started, sandbox_clock, messenger = time.monotonic(), sandbox.clock, sandbox.messenger_subscription
    sandbox.clock = clock.timestamp
    sandbox.reset_rate_limits()  # the clock went back: requests counted "in the last minute" lie ahead of it
    bar = tqdm(total=days, desc="simulated days", unit="day", disable=not progress)
    try:
        async with open_client(sandbox=sandbox, clock=clock.timestamp) as client:
            with store.kept_open():  # one open file for every sync: opening it costs more than a day's sync
                for back in range(days - 1, -1, -1):
                    clock.now = last - dt.timedelta(days=back)
                    sandbox.today = world_today - dt.timedelta(days=back)
                    sandbox.messenger_subscription = back == 0 and messenger
                    # A host syncing daily reads bookings from today on (Avito refuses a past start); the
                    # last sync, today's, reads the default window, a year back included, as a direct one does.
                    date_from = None if back == 0 else sandbox.today
                    replay.reports.append(await sync(client, store, date_from, progress=False, clock=clock))
                    bar.update()
    finally:
        bar.close()
        sandbox.today, sandbox.clock, sandbox.messenger_subscription = world_today, sandbox_clock, messenger
        sandbox.reset_rate_limits()
    replay.seconds = time.monotonic() - started
    return replay


async def run_demo(store: Store, say: Callable[[str], None] = print, sandbox: Sandbox | None = None,
                   progress: bool = True, report_path: str | Path | None = None, days: int = HISTORY_DAYS
                   ) -> SyncReport:
    """Replay ``days`` days of the sandbox into ``store`` (see the module docstring), write the report, and tell
    what happened through ``say``; returns today's sync report. A store that already holds the demo account
    gets only today's sync (its history is there already)."""
    sandbox = sandbox or sandbox_from_env(**EMBEDDED_SWITCHES)
    say(f"Embedded sandbox: account {sandbox.user_id}, {len(sandbox.items)} listings, {len(sandbox.chats)} chats "
        f"(no credentials used; set AVITO_CLIENT_ID/AVITO_CLIENT_SECRET and run `avito-kit sync` for your own)")
    if store.get_cursors(sandbox.user_id):
        say(f"{store.path} already holds the demo account: synced today only (delete the file to replay "
            f"{days} days of history again)")
        async with open_client(sandbox=sandbox) as client:
            report = await sync(client, store, progress=progress)
        notice = DEMO_ACCOUNT_NOTICE
    else:
        replay = await replay_history(store, sandbox, days, progress=progress)
        say(str(replay))
        report, notice = replay.reports[-1], replay.notice
    say("Today's sync: " + str(report))
    counts = store.counts()
    say(f"Store {store.path}: " + ", ".join(f"{table} {n}" for table, n in counts.items()))
    path = write_report(store, report_path, notice=notice)
    say(f"Report: {path} (one file, opens offline) — {notice}")
    today = sandbox.world.today
    last = today + dt.timedelta(days=29)
    titles = dict(zip(*store.items()[["item_id", "title"]].to_dict("list").values(), strict=True))
    say(kpi_table(kpis(store, today, last, by="item"), titles, f"Следующие 30 ночей: {today} … {last}"))
    say("Next: `make lab` (notebooks/01_sync_and_explore.ipynb … 06_reviews.ipynb), open the report in a browser, "
        "or `avito-kit --sandbox calendar block ITEM_ID FROM TO`")
    return report
