"""Full sync and re-sync against the sandbox served over loopback HTTP with 40 ms latency per request.

Baseline, measured in the same run: the original integration's style, one awaited call after another (a plain
``httpx.AsyncClient`` making the same reads in sequence) and one autocommitted INSERT per row into DuckDB. A
row INSERT costs milliseconds (each one a commit), so the baseline's inserts are timed on the first
``SAMPLE_ROWS`` rows of each table and extrapolated to all its rows; its requests are all made and timed.

The sandbox is served from a process of its own (``common.SandboxProcess``), as Avito is.

    python bench/bench_sync.py            # about a minute and a half
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
from common import Row, SandboxProcess, print_table, seconds, stopwatch

from avito_kit.auth import AvitoAuth
from avito_kit.client import (
    ALL_ITEM_STATUSES,
    ITEMS_PAGE_MAX,
    MESSENGER_PAGE_MAX,
    REVIEWS_PAGE_MAX,
    STATS_FIELDS,
    STATS_IDS_MAX,
    AvitoApiClient,
)
from avito_kit.limits import DOCUMENTED_LIMITS, WINDOW_SECONDS, limit_key
from avito_kit.sandbox import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, Sandbox
from avito_kit.store import Store
from avito_kit.sync import STATS_DAYS_BACK, sync, sync_window

N_ITEMS, N_CHATS, MESSAGES_PER_CHAT = 200, 600, 20
LATENCY = 0.04
CHANGED_CHATS = 6  # 1% of the chats get a new message before the re-sync
SAMPLE_ROWS = 300  # per table: the baseline's row INSERTs timed on these, extrapolated to the rest
FULL_RUNS = 3  # avito_kit's full sync is timed as the best of this many (the baseline takes a minute: once)


def minimum_requests(n_items: int, n_chats: int, messages_per_chat: int, n_reviews: int) -> int:
    """Token, account, listing pages, a bookings call per listing, chat pages, message pages, stats calls, the
    rating and the review pages.

    Listings come with no total: paging stops at a short page, so a count that is an exact multiple of the page
    size costs one more (empty) page. Chats and messages come with ``meta.has_more`` (the sandbox's default, as
    real accounts send): the last page says it is the last, and an empty chat or account costs one page. Reviews
    come with ``total``: an exact multiple of the page size costs no extra page, an account without any one.
    """
    item_pages = n_items // ITEMS_PAGE_MAX + 1
    chat_pages = max(1, math.ceil(n_chats / MESSENGER_PAGE_MAX))
    message_pages = n_chats * max(1, math.ceil(messages_per_chat / MESSENGER_PAGE_MAX))
    review_pages = max(1, math.ceil(n_reviews / REVIEWS_PAGE_MAX))
    return (2 + item_pages + n_items + chat_pages + message_pages + math.ceil(n_items / STATS_IDS_MAX)
            + 1 + review_pages)


def review_count(**world) -> int:
    """The reviews a sandbox built with ``world`` serves. The world is a pure function of its seed, options and
    Avito's today, so one built here serves what the bench's sandbox process serves (``check_same_world``)."""
    sandbox = Sandbox(**world)
    return len(sandbox.reviews.as_of(sandbox.moment))


def check_same_world(sandbox: SandboxProcess, n_reviews: int) -> None:
    served = sandbox.ask("reviews")
    assert served == n_reviews, f"the sandbox process serves {served} reviews, one built here {n_reviews}"


def time_bound(requests: dict[str, int], latency: float, in_flight: int, per_minute_default: int) -> float:
    """The larger of the rate-limit bound (a window of 60 s per ``limit`` calls beyond the first window) and
    latency x requests / requests in flight."""
    rate_bound = 0.0
    for key, count in requests.items():
        limit = DOCUMENTED_LIMITS.get(key, per_minute_default)
        rate_bound = max(rate_bound, max(0, math.ceil(count / limit) - 1) * WINDOW_SECONDS)
    return max(rate_bound, latency * sum(requests.values()) / in_flight)


def limit_keys(requests: list[tuple[str | None, str]]) -> dict[str, int]:
    """Requests per limiter window (the token call counts against none)."""
    counts: dict[str, int] = {}
    for operation, path in requests:
        key = "token" if operation == "getAccessToken" else limit_key(path)
        counts[key] = counts.get(key, 0) + 1
    return counts


# -- the baseline: one awaited call after another, one INSERT per row ------------------------------------------


class RowInserter:
    """One autocommitted INSERT per row, timed on the first ``SAMPLE_ROWS`` of each table, counted after."""

    def __init__(self, path: Path) -> None:
        import duckdb

        Store(path)  # the same schema as avito_kit's
        self.con = duckdb.connect(str(path))
        self.timed: dict[str, float] = {}
        self.rows: dict[str, int] = {}

    def insert(self, table: str, columns: tuple[str, ...], values: list) -> None:
        self.rows[table] = self.rows.get(table, 0) + 1
        if self.rows[table] > SAMPLE_ROWS:
            return
        with stopwatch() as took:
            self.con.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) "
                             f"VALUES ({', '.join('?' * len(columns))})", values)
        self.timed[table] = self.timed.get(table, 0.0) + took()

    def extrapolated(self) -> float:
        return sum(self.timed[t] / min(n, SAMPLE_ROWS) * n for t, n in self.rows.items())


async def sequential_baseline(base_url: str, path: Path) -> tuple[float, float, int]:
    """Returns (seconds of HTTP, extrapolated seconds of INSERTs, requests made)."""
    db = RowInserter(path)
    first, last = sync_window()
    requests = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        async def get(path: str, **params):
            nonlocal requests
            requests += 1
            response = await http.get(path, params=params, headers=headers)
            response.raise_for_status()
            return response.json()

        with stopwatch() as took:
            requests += 1
            token = (await http.post("/token", data={"grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID,
                                                     "client_secret": SANDBOX_CLIENT_SECRET})).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            user_id = (await get("/core/v1/accounts/self"))["id"]
            items, page = [], 1
            while True:
                resources = (await get("/core/v1/items", per_page=ITEMS_PAGE_MAX, page=page,
                                       status=",".join(ALL_ITEM_STATUSES)))["resources"]
                items += resources
                for item in resources:
                    db.insert("items", ("item_id", "user_id", "title", "status", "price", "url"),
                              [item["id"], user_id, item["title"], item["status"], item.get("price"), item.get("url")])
                if len(resources) < ITEMS_PAGE_MAX:
                    break
                page += 1
            for item in items:
                body = await get(f"/realty/v1/accounts/{user_id}/items/{item['id']}/bookings",
                                 date_start=first.isoformat(), date_end=last.isoformat(), with_unpaid="true")
                for b in body["bookings"]:
                    db.insert("bookings", ("booking_id", "user_id", "item_id", "check_in", "check_out", "status",
                                           "base_price", "first_seen_at", "last_seen_at", "status_changed_at"),
                              [b["avito_booking_id"], user_id, item["id"], b["check_in"], b["check_out"],
                               b["status"], b["base_price"], "2025-01-01", "2025-01-01", "2025-01-01"])
            chats, offset = [], 0
            while True:
                body = await get(f"/messenger/v2/accounts/{user_id}/chats", limit=MESSENGER_PAGE_MAX, offset=offset,
                                 chat_types="u2i,u2u")
                chats += body["chats"]
                if not _more(body):
                    break
                offset += MESSENGER_PAGE_MAX
            for chat in chats:
                messages = (await get(f"/messenger/v3/accounts/{user_id}/chats/{chat['id']}/messages/",
                                      limit=MESSENGER_PAGE_MAX, offset=0))["messages"]
                for m in messages:
                    db.insert("messages", ("message_id", "chat_id", "user_id", "author_id", "direction", "type",
                                           "text"),
                              [m["id"], chat["id"], user_id, m.get("author_id"), m["direction"], m["type"],
                               (m.get("content") or {}).get("text")])
                db.insert("chats", ("chat_id", "user_id", "updated"), [chat["id"], user_id, None])
            ids = [item["id"] for item in items]
            for start in range(0, len(ids), STATS_IDS_MAX):
                requests += 1
                response = await http.post(f"/stats/v1/accounts/{user_id}/items", headers=headers,
                                           json=_stats_body(ids[start:start + STATS_IDS_MAX]))
                for entry in response.json()["result"]["items"]:
                    for day in entry["stats"]:
                        db.insert("item_stats", ("item_id", "date", "user_id", "uniq_views", "uniq_contacts",
                                                 "uniq_favorites"),
                                  [entry["itemId"], day["date"], user_id, day.get("uniqViews"),
                                   day.get("uniqContacts"), day.get("uniqFavorites")])
            rating = (await get("/ratings/v1/info"))["rating"] or {}
            db.insert("rating_snapshots", ("user_id", "observed_at", "is_enabled", "score", "reviews_count",
                                           "reviews_with_score_count"),
                      [user_id, "2025-01-01", True, rating.get("score"), rating.get("reviewsCount"),
                       rating.get("reviewsWithScoreCount")])
            offset = 0
            while True:
                body = await get("/ratings/v1/reviews", offset=offset, limit=REVIEWS_PAGE_MAX)
                for r in body["reviews"]:
                    db.insert("reviews", ("review_id", "user_id", "item_id", "score", "text", "created_at",
                                          "answer_status", "first_seen_at", "last_seen_at", "updated_at"),
                              [r["id"], user_id, r["item"]["id"], r["score"], r["text"],
                               dt.datetime.fromtimestamp(r["createdAt"], dt.UTC).replace(tzinfo=None),
                               (r.get("answer") or {}).get("status"), "2025-01-01", "2025-01-01", "2025-01-01"])
                offset += len(body["reviews"])
                if not _more_reviews(body, offset):
                    break
    inserts = sum(db.timed.values())
    db.con.close()
    return took() - inserts, db.extrapolated(), requests


async def concurrent_floor(base_url: str, in_flight: int) -> tuple[float, int]:
    """The same reads with a bare ``httpx.AsyncClient``, ``in_flight`` at a time, parsed and thrown away: what
    this machine, httpx and the sandbox's server allow at best. Returns (seconds, requests)."""
    first, last = sync_window()
    places = asyncio.Semaphore(in_flight)
    requests = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=30,
                                 limits=httpx.Limits(max_connections=in_flight)) as http:
        async def call(method: str, path: str, **kwargs):
            nonlocal requests
            async with places:
                requests += 1
                response = await http.request(method, path, **kwargs)
            response.raise_for_status()
            return response.json()

        with stopwatch() as took:
            form = {"grant_type": "client_credentials", "client_id": SANDBOX_CLIENT_ID,
                    "client_secret": SANDBOX_CLIENT_SECRET}
            token = (await call("POST", "/token", data=form))["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            user_id = (await call("GET", "/core/v1/accounts/self", headers=headers))["id"]

            async def pages(path: str, size: int, key: str, **params) -> list[dict]:
                found, page = [], 0
                while True:
                    paging = {"per_page": size, "page": page + 1} if key == "resources" else {
                        "limit": size, "offset": page * size}
                    body = await call("GET", path, headers=headers, params={**params, **paging})
                    found += body[key]
                    if not _more(body, size):
                        return found
                    page += 1

            async def messages(chat_id: str):
                return await call("GET", f"/messenger/v3/accounts/{user_id}/chats/{chat_id}/messages/",
                                  headers=headers, params={"limit": MESSENGER_PAGE_MAX, "offset": 0})

            async def chats_then_messages():
                chats = await pages(f"/messenger/v2/accounts/{user_id}/chats", MESSENGER_PAGE_MAX, "chats",
                                    chat_types="u2i,u2u")
                await asyncio.gather(*(messages(chat["id"]) for chat in chats))

            async def items_then_bookings():
                items = await pages("/core/v1/items", ITEMS_PAGE_MAX, "resources", status=",".join(ALL_ITEM_STATUSES))
                ids = [item["id"] for item in items]
                await asyncio.gather(
                    call("POST", f"/stats/v1/accounts/{user_id}/items", headers=headers, json=_stats_body(ids)),
                    *(call("GET", f"/realty/v1/accounts/{user_id}/items/{i}/bookings", headers=headers,
                           params={"date_start": first.isoformat(), "date_end": last.isoformat(),
                                   "with_unpaid": "true"}) for i in ids))

            async def rating_and_reviews():
                async def reviews():
                    offset = 0
                    while True:
                        body = await call("GET", "/ratings/v1/reviews", headers=headers,
                                          params={"offset": offset, "limit": REVIEWS_PAGE_MAX})
                        offset += len(body["reviews"])
                        if not _more_reviews(body, offset):
                            return

                await asyncio.gather(call("GET", "/ratings/v1/info", headers=headers), reviews())

            await asyncio.gather(chats_then_messages(), items_then_bookings(), rating_and_reviews())
    return took(), requests


def _more(body: dict, size: int = MESSENGER_PAGE_MAX) -> bool:
    """Whether a page has a next one: its ``meta.has_more`` when sent (chats), else whether it was full."""
    entries = body.get("chats", body.get("resources")) or []
    has_more = (body.get("meta") or {}).get("has_more")
    return has_more if isinstance(has_more, bool) else len(entries) >= size


def _more_reviews(body: dict, read: int) -> bool:
    """As ``client.iter_reviews`` pages: a short page or ``total`` reached ends them."""
    total = body.get("total")
    return len(body["reviews"]) >= REVIEWS_PAGE_MAX and not (isinstance(total, int) and read >= total)


def _stats_body(ids: list[int]) -> dict:
    """What the sync asks for: the last STATS_DAYS_BACK days to today."""
    today = dt.date.today()
    return {"dateFrom": (today - dt.timedelta(days=STATS_DAYS_BACK - 1)).isoformat(), "dateTo": today.isoformat(),
            "itemIds": ids, "fields": list(STATS_FIELDS), "periodGrouping": "day"}


# -- avito_kit -------------------------------------------------------------------------------------------------


async def avito_kit_sync(base_url: str, store: Store, cache: Path, **sync_args):
    auth = AvitoAuth(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, base_url=base_url, cache_path=cache)
    async with AvitoApiClient(auth) as client:
        with stopwatch() as took:
            report = await sync(client, store, progress=False, **sync_args)
        return took(), report, client.limiter


def main() -> bool:
    folder = Path(tempfile.mkdtemp(prefix="avito_bench_sync_"))
    print(f"Sync bench: {N_ITEMS} listings, {N_CHATS} chats of {MESSAGES_PER_CHAT} messages, "
          f"{LATENCY * 1000:.0f} ms latency over loopback HTTP; files in {folder}", flush=True)
    # Real accounts' envelopes (the sandbox's default: chats and messages with meta.has_more) and a readable past,
    # as an account synced for a year has.
    world = {"seed": 42, "n_items": N_ITEMS, "n_chats": N_CHATS, "messages_per_chat": MESSAGES_PER_CHAT,
             "refuse_past_bookings_read": False}
    n_reviews = review_count(**world)
    sandbox = SandboxProcess(LATENCY, **world)
    try:
        check_same_world(sandbox, n_reviews)
        timings = []
        for run in range(FULL_RUNS):  # each into a new store with a new token: the same work every time
            mark = sandbox.ask("count")
            took, _, limiter = asyncio.run(avito_kit_sync(sandbox.base_url, Store(folder / f"kit{run}.duckdb"),
                                                          folder / f"token{run}.json"))
            requests = sandbox.ask("requests", mark)
            timings.append(took)
        full_seconds = min(timings)
        print(f"avito_kit full syncs: {', '.join(seconds(t) for t in timings)}; the best counts", flush=True)
        full_requests = len(requests)
        keys = limit_keys(requests)
        store = Store(folder / f"kit{FULL_RUNS - 1}.duckdb")
        counts = store.counts()
        assert (counts["items"], counts["chats"], counts["messages"]) == (
            N_ITEMS, N_CHATS, N_CHATS * MESSAGES_PER_CHAT), counts
        assert counts["reviews"] == n_reviews, (counts["reviews"], n_reviews)
        print(f"avito_kit full sync: {seconds(full_seconds)}, {full_requests} requests, "
              f"{counts['bookings']} bookings, {counts['messages']} messages, {counts['item_stats']} stats rows, "
              f"{counts['reviews']} reviews", flush=True)

        assert sandbox.ask("new_messages", CHANGED_CHATS) == CHANGED_CHATS
        mark = sandbox.ask("count")
        token = folder / f"token{FULL_RUNS - 1}.json"
        quick_seconds, quick, _ = asyncio.run(avito_kit_sync(sandbox.base_url, store, token))
        quick_requests = sandbox.ask("count") - mark
        assert quick.messages_new == CHANGED_CHATS, quick
        mark = sandbox.ask("count")
        again_seconds, _, _ = asyncio.run(avito_kit_sync(sandbox.base_url, store, token, max_age=None))
        again_requests = sandbox.ask("count") - mark
        print(f"avito_kit re-syncs: {seconds(quick_seconds)} ({quick_requests} requests) with max_age, "
              f"{seconds(again_seconds)} ({again_requests} requests) with max_age=None", flush=True)

        mark = sandbox.ask("count")
        floor_seconds, floor_requests = asyncio.run(concurrent_floor(sandbox.base_url, limiter.max_in_flight))
        assert floor_requests == sandbox.ask("count") - mark == full_requests, (floor_requests, full_requests)
        print(f"bare httpx, the same reads {limiter.max_in_flight} at a time, nothing stored: "
              f"{seconds(floor_seconds)}", flush=True)

        mark = sandbox.ask("count")
        http_seconds, insert_seconds, base_requests = asyncio.run(
            sequential_baseline(sandbox.base_url, folder / "baseline.duckdb"))
        assert base_requests == sandbox.ask("count") - mark
        baseline = http_seconds + insert_seconds
        print(f"sequential baseline: {seconds(http_seconds)} of requests ({base_requests}) + "
              f"{seconds(insert_seconds)} of row INSERTs (extrapolated from {SAMPLE_ROWS} rows per table)",
              flush=True)
    finally:
        sandbox.close()

    shutil.rmtree(folder, ignore_errors=True)
    minimum = minimum_requests(N_ITEMS, N_CHATS, MESSAGES_PER_CHAT, n_reviews)
    bound = time_bound(keys, LATENCY, limiter.max_in_flight, limiter.default_per_minute)
    rows = [
        Row("full sync: speed-up over the sequential baseline", seconds(full_seconds), seconds(baseline),
            baseline / full_seconds, ">= 5x", baseline / full_seconds >= 5),
        Row("  the same against the baseline's requests alone (no INSERTs)", seconds(full_seconds),
            seconds(http_seconds), http_seconds / full_seconds, "", None),
        Row("full sync: time / bound", seconds(full_seconds),
            f"{seconds(bound)} ({LATENCY * 1000:.0f} ms x {full_requests} / {limiter.max_in_flight} in flight)",
            full_seconds / bound, "<= 1.3", full_seconds / bound <= 1.3),
        Row("  bare httpx floor (same reads, same places, nothing stored) / bound", seconds(floor_seconds),
            seconds(bound), floor_seconds / bound, "", None),
        Row("  full sync / bare httpx floor", seconds(full_seconds), seconds(floor_seconds),
            full_seconds / floor_seconds, "", None),
        Row("full sync: requests / minimum", str(full_requests), str(minimum), full_requests / minimum, "<= 1.1",
            full_requests / minimum <= 1.1),
        Row(f"re-sync, {CHANGED_CHATS} chats changed: requests / full sync's", str(quick_requests),
            str(full_requests), quick_requests / full_requests, "<= 0.15", quick_requests / full_requests <= 0.15),
        Row(f"re-sync, {CHANGED_CHATS} chats changed: time / full sync's", seconds(quick_seconds),
            seconds(full_seconds), quick_seconds / full_seconds, "", None),
        Row("re-sync with max_age=None: requests / full sync's", str(again_requests), str(full_requests),
            again_requests / full_requests, "", None),
        Row("re-sync with max_age=None: time / full sync's", seconds(again_seconds), seconds(full_seconds),
            again_seconds / full_seconds, "", None),
    ]
    return print_table("Sync over loopback HTTP, 40 ms latency", rows)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
