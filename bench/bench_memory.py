"""Memory: peak resident memory of a full sync of 1,000 listings, measured in a child process.

A child process syncs a sandbox of 1,000 listings (two years of bookings each), 1,000 chats of 20 messages and
270 days of stats into a new store; the parent reads the child's peak RSS with
``getrusage(RUSAGE_CHILDREN).ru_maxrss``. Measured twice:

- the sync alone: the sandbox served over loopback HTTP from another process (no latency), so the child holds
  only avito_kit, its libraries and its data: the figure the target is about;
- the sandbox in the child too (in-process transport): adds the sandbox's world, shown for information.

The client's polite default of 1,000 requests a minute is raised for the bench (2,260 requests, 232 of them the
rating and 11,535 reviews in pages of 50, would otherwise take over two minutes of waiting); what is held in
memory does not depend on it.

    python bench/bench_memory.py          # about half a minute
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from common import ROOT, Row, SandboxProcess, print_table, seconds, stopwatch

N_ITEMS, N_CHATS, MESSAGES_PER_CHAT = 1_000, 1_000, 20
WORLD = {"seed": 5, "n_items": N_ITEMS, "n_chats": N_CHATS, "messages_per_chat": MESSAGES_PER_CHAT,
         "refuse_past_bookings_read": False}  # two years of bookings read, as the recorded figures were
LIMIT_MB = 500

CHILD = """
    import asyncio, resource, sys, tempfile, time
    from pathlib import Path
    from avito_kit.auth import AvitoAuth
    from avito_kit.client import AvitoApiClient
    from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox
    from avito_kit.session import open_client
    from avito_kit.store import Store
    from avito_kit.sync import sync

    db, base_url = sys.argv[1], sys.argv[2]
    if base_url == "in-process":
        client = open_client(sandbox=Sandbox(**{world!r}), default_per_minute=100_000)
    else:
        auth = AvitoAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, base_url=base_url,
                         cache_path=Path(tempfile.mkdtemp()) / "token.json")
        client = AvitoApiClient(auth, default_per_minute=100_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    async def main():
        async with client:
            return await sync(client, Store(db), progress=False)

    started = time.perf_counter()
    report = asyncio.run(main())
    print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, report.items, report.bookings_new,
          report.messages_new, report.stats_rows, report.requests, time.perf_counter() - started)
"""


def sync_child(db: Path, base_url: str) -> tuple[float, float, float]:
    """Run one sync child; returns peak RSS in MB: of every child so far (RUSAGE_CHILDREN), of this child as it
    says itself, and of this child before it started syncing."""
    code = textwrap.dedent(CHILD.format(world=WORLD))
    with stopwatch() as took:
        child = subprocess.run([sys.executable, "-c", code, str(db), base_url], cwd=ROOT, capture_output=True,
                               text=True, check=False)
    if child.returncode != 0:
        print(child.stderr)
        raise SystemExit("the sync child failed")
    before_kb, peak_kb, items, bookings, messages, stats, requests, sync_seconds = child.stdout.split()
    print(f"  {items} listings, {bookings} bookings, {messages} messages, {stats} stats rows, {requests} requests; "
          f"sync {seconds(float(sync_seconds))}, child {seconds(took())} in all", flush=True)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return children / 1024, int(peak_kb) / 1024, int(before_kb) / 1024  # kilobytes on Linux


def main() -> bool:
    folder = Path(tempfile.mkdtemp(prefix="avito_bench_memory_"))
    print(f"Memory bench: a full sync of {N_ITEMS:,} listings and {N_CHATS:,} chats of {MESSAGES_PER_CHAT} "
          f"messages in a child process; files in {folder}", flush=True)
    sandbox = SandboxProcess(0.0, **WORLD)
    try:
        print("the sandbox in a process of its own:", flush=True)
        # Read before the sandbox's process is waited for: RUSAGE_CHILDREN then covers the sync child alone.
        alone_mb, alone_self_mb, alone_before_mb = sync_child(folder / "alone.duckdb", sandbox.base_url)
    finally:
        sandbox.close()
    assert abs(alone_mb - alone_self_mb) < 1, (alone_mb, alone_self_mb)
    print("the sandbox in the child too:", flush=True)
    _, with_world_mb, with_world_before_mb = sync_child(folder / "with_world.duckdb", "in-process")
    print(f"peak RSS: {alone_mb:.0f} MB for the sync alone ({alone_before_mb:.0f} MB before it started); "
          f"{with_world_mb:.0f} MB with the sandbox in the process ({with_world_before_mb:.0f} MB before)",
          flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    rows = [
        Row(f"full sync of {N_ITEMS:,} listings: peak RSS", f"{alone_mb:.0f} MB", f"{LIMIT_MB} MB",
            alone_mb / LIMIT_MB, f"<= {LIMIT_MB} MB", alone_mb <= LIMIT_MB),
        Row("  of which before the sync (interpreter, libraries)", f"{alone_before_mb:.0f} MB", f"{alone_mb:.0f} MB",
            alone_before_mb / alone_mb, "", None),
        Row("  the same with the sandbox's world in the process", f"{with_world_mb:.0f} MB", f"{LIMIT_MB} MB",
            with_world_mb / LIMIT_MB, "", None),
        Row("    of which before the sync (sandbox world included)", f"{with_world_before_mb:.0f} MB",
            f"{with_world_mb:.0f} MB", with_world_before_mb / with_world_mb, "", None),
    ]
    return print_table(f"Memory: full sync of {N_ITEMS:,} listings", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
