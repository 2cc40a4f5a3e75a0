"""The sync's concurrency plumbing: requests run at once, store writes one at a time, first error wins.

Nothing here knows Avito or the tables: ``Writer`` serialises store work into worker threads,
``all_or_first_error`` runs coroutines and raises the first failure itself, ``fetch_and_store`` overlaps
fetching keys with writing their results in batches. Why this shape: bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio

from .store import Store

__all__ = ["DONE", "Writer", "all_or_first_error", "fetch_and_store"]


class Writer:
    """Store writes one at a time, in the order asked for, each in a worker thread: requests go on meanwhile.

    One writer per sync keeps the ordering the cursors rely on (a batch's data, then its cursor) and never runs
    two DuckDB transactions at once; each job keeps the file open for its few operations (one open and close,
    not one per operation). A caller cancelled mid-write waits for the thread, which cannot be stopped, so the
    next write (or the failed run's record) never overlaps it.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = asyncio.Lock()

    async def __call__(self, fn, *args):
        async with self._lock:
            job = asyncio.ensure_future(asyncio.to_thread(self._run, fn, *args))
            try:
                return await asyncio.shield(job)
            except asyncio.CancelledError:
                await asyncio.wait([job])
                raise

    def _run(self, fn, *args):
        with self._store.kept_open():
            return fn(*args)


async def all_or_first_error(*coroutines) -> list:
    """Run the coroutines at once; on the first failure cancel the rest, wait for them, and raise that failure
    itself (not an ExceptionGroup: callers catch ``AvitoServerError`` and friends)."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:  # this task was cancelled: so are its children
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
        raise
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()
    return [task.result() for task in tasks]


DONE = object()  # the end of a queue of keys


async def fetch_and_store(keys, fetch, store_batch, write: Writer, bar, *, batch_size: int, places: int) -> None:
    """``fetch`` every key (an iterable or async iterable) and store the results through ``write``, a batch of
    ``batch_size`` at a time (the rest at the end), while fetching goes on.

    Twice as many fetches as the limiter has ``places`` are under way, so a freed place always has a request
    waiting for it; fetching pauses while two batches are waiting to be written. Once every key is handed out,
    what has arrived is written without waiting for a full batch: the write left after the last answer, which
    the whole sync waits for, is then a small one.
    """
    todo: asyncio.Queue = asyncio.Queue(maxsize=places)
    results: list = []
    arrived, room = asyncio.Event(), asyncio.Event()
    room.set()
    handed_out = fetched = False

    async def feed() -> None:
        nonlocal handed_out
        if hasattr(keys, "__aiter__"):
            async for key in keys:
                await todo.put(key)
        else:
            for key in keys:
                await todo.put(key)
        handed_out = True
        arrived.set()
        for _ in range(2 * places):
            await todo.put(DONE)

    async def fetcher() -> None:
        while (key := await todo.get()) is not DONE:
            result = await fetch(key)
            await room.wait()
            results.append(result)
            arrived.set()
            if len(results) >= 2 * batch_size:
                room.clear()

    async def fetch_all() -> None:
        nonlocal fetched
        await all_or_first_error(feed(), *(fetcher() for _ in range(2 * places)))
        fetched = True
        arrived.set()

    async def store_all() -> None:
        while results or not fetched:
            if len(results) < batch_size and not fetched and not (handed_out and results):
                arrived.clear()
                await arrived.wait()
                continue
            batch = results[:batch_size]
            del results[:batch_size]
            room.set()
            await write(store_batch, batch)
            bar.update(len(batch))

    await all_or_first_error(fetch_all(), store_all())
