"""A full sync against a sandbox that allows 100 requests per rolling minute and answers the rest 429 with no
headers at all (issue 10 §3.4: what most Avito endpoints do), served from a process of its own in real time.

The reference, computed in the same run: the limit's own bound, the requests the sync needed (every answer that
was not a 429) at 100 a minute. The sync is told nothing of the limit: its limiter finds the pace from the 429s.

    python bench/bench_rate_limit.py        # about three minutes: the limit's bound is the point
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from bench_sync import avito_kit_sync, check_same_world, minimum_requests, review_count
from common import Row, SandboxProcess, print_table, seconds

from avito_kit.store import Store

LIMIT_PER_MINUTE = 100
N_ITEMS, N_CHATS, MESSAGES_PER_CHAT = 120, 150, 20  # 306 requests (29 of them ratings): a bound of 3.1 minutes
LATENCY = 0.04


def main() -> bool:
    folder = Path(tempfile.mkdtemp(prefix="avito_bench_rate_"))
    print(f"Rate-limited sync bench: {N_ITEMS} listings, {N_CHATS} chats of {MESSAGES_PER_CHAT} messages, "
          f"{LATENCY * 1000:.0f} ms latency, {LIMIT_PER_MINUTE} requests per rolling minute answered 429 without "
          f"headers beyond; real time; files in {folder}", flush=True)
    # Default (real accounts') envelopes; a readable past, as an account synced for a year has (the bare
    # sandbox's 422 on past reads would add requests that are not the limit's doing).
    world = {"seed": 42, "n_items": N_ITEMS, "n_chats": N_CHATS, "messages_per_chat": MESSAGES_PER_CHAT,
             "refuse_past_bookings_read": False, "account_limit_per_minute": LIMIT_PER_MINUTE}
    n_reviews = review_count(**world)
    sandbox = SandboxProcess(LATENCY, **world)
    try:
        check_same_world(sandbox, n_reviews)  # asks the pipe, not HTTP: no request counted against the limit
        mark = sandbox.ask("count")
        took, report, limiter = asyncio.run(avito_kit_sync(sandbox.base_url, Store(folder / "kit.duckdb"),
                                                           folder / "token.json"))
        statuses = sandbox.ask("statuses", mark)
        counts = Store(folder / "kit.duckdb").counts()
    finally:
        sandbox.close()
    shutil.rmtree(folder, ignore_errors=True)

    assert (counts["items"], counts["chats"], counts["messages"]) == (
        N_ITEMS, N_CHATS, N_CHATS * MESSAGES_PER_CHAT), counts
    refused = statuses.count(429)
    needed = len(statuses) - refused
    assert set(statuses) - {429} == {200}, sorted(set(statuses))
    assert report.rate_limited == refused, (report.rate_limited, refused)
    bound = needed / LIMIT_PER_MINUTE * 60
    minimum = minimum_requests(N_ITEMS, N_CHATS, MESSAGES_PER_CHAT, n_reviews)
    print(f"avito_kit full sync: {seconds(took)}, {len(statuses)} answers of which {refused} were 429; "
          f"{needed} requests needed (minimum {minimum}); the limiter ended at "
          f"{limiter.per_minute('default')} a minute, {limiter.in_flight_limit} in flight", flush=True)
    rows = [
        Row("full sync under the limit: time / the limit's bound", seconds(took),
            f"{seconds(bound)} ({needed} requests / {LIMIT_PER_MINUTE} a minute)", took / bound, "<= 1.5",
            took / bound <= 1.5),
        Row("  answers 429 / all answers", str(refused), str(len(statuses)), refused / len(statuses), "<= 0.25",
            refused / len(statuses) <= 0.25),
        Row("  requests needed / minimum", str(needed), str(minimum), needed / minimum, "<= 1.1",
            needed / minimum <= 1.1),
    ]
    return print_table(f"Sync under a headerless limit of {LIMIT_PER_MINUTE} requests per rolling minute", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
