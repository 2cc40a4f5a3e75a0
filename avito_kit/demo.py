"""``avito-kit demo`` / ``make demo``: the main job, run against the embedded sandbox.

Start the sandbox, sync it into the store (``data/avito.duckdb`` unless ``--db``), print what is there and
what to open next. It always uses the sandbox, even when credentials are set: a demo never touches a real account.
"""

from __future__ import annotations

from collections.abc import Callable

from .sandbox import Sandbox
from .session import open_client
from .store import Store
from .sync import SyncReport, sync

__all__ = ["run_demo"]


async def run_demo(store: Store, say: Callable[[str], None] = print, sandbox: Sandbox | None = None,
                   progress: bool = True) -> SyncReport:
    """Sync the sandbox into ``store`` and report through ``say``."""
    sandbox = sandbox or Sandbox()
    say(f"Embedded sandbox: account {sandbox.user_id}, {len(sandbox.items)} listings, {len(sandbox.chats)} chats "
        f"(no credentials used; set AVITO_CLIENT_ID/AVITO_CLIENT_SECRET and run `avito-kit sync` for your own)")
    async with open_client(sandbox=sandbox) as client:
        report = await sync(client, store, progress=progress)
    say(str(report))
    counts = store.counts()
    say(f"Store {store.path}: " + ", ".join(f"{table} {n}" for table, n in counts.items()))
    say("Next: `make lab` and open notebooks/01_sync_and_explore.ipynb, or try "
        "`avito-kit --sandbox calendar block ITEM_ID FROM TO`")
    return report
