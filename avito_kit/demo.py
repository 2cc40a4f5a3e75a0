"""``avito-kit demo`` / ``make demo``: the main job, run against the embedded sandbox.

Start the sandbox, sync it into the store (``data/avito.duckdb`` unless ``--db``), write the HTML report, print
the KPIs of the next 30 nights and what to open next. It always uses the sandbox, even when credentials are
set: a demo never touches a real account.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from .dates import avito_today
from .metrics import kpis
from .report import write_report
from .sandbox import Sandbox, sandbox_from_env
from .session import EMBEDDED_SWITCHES, open_client
from .store import Store
from .sync import SyncReport, sync
from .tables import kpi_table

__all__ = ["run_demo"]


async def run_demo(store: Store, say: Callable[[str], None] = print, sandbox: Sandbox | None = None,
                   progress: bool = True, report_path: str | Path | None = None) -> SyncReport:
    """Sync the sandbox into ``store``, write the report, and tell what happened through ``say``."""
    sandbox = sandbox or sandbox_from_env(**EMBEDDED_SWITCHES)
    say(f"Embedded sandbox: account {sandbox.user_id}, {len(sandbox.items)} listings, {len(sandbox.chats)} chats "
        f"(no credentials used; set AVITO_CLIENT_ID/AVITO_CLIENT_SECRET and run `avito-kit sync` for your own)")
    async with open_client(sandbox=sandbox) as client:
        report = await sync(client, store, progress=progress)
    say(str(report))
    counts = store.counts()
    say(f"Store {store.path}: " + ", ".join(f"{table} {n}" for table, n in counts.items()))
    path = write_report(store, report_path)
    say(f"Report: {path} (one file, opens offline)")
    today = avito_today()
    last = today + dt.timedelta(days=29)
    titles = dict(zip(*store.items()[["item_id", "title"]].to_dict("list").values(), strict=True))
    say(kpi_table(kpis(store, today, last, by="item"), titles, f"Следующие 30 ночей: {today} … {last}"))
    say("Next: `make lab` (notebooks/01_sync_and_explore.ipynb … 04_calendar.ipynb), open the report in a browser, "
        "or `avito-kit --sandbox calendar block ITEM_ID FROM TO`")
    return report
