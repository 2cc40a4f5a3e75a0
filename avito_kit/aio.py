"""``run()``: call the async API from plain code and from Jupyter cells alike.

Jupyter already runs an event loop in the kernel's thread, so ``asyncio.run`` refuses there; nest-asyncio lets
``run(client.get_chats())`` work in a cell, and ``await client.get_chats()`` works as well. Outside a running
loop, one long-lived loop serves every call so that an ``httpx.AsyncClient`` keeps its connections across calls.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Awaitable
from typing import TypeVar

import nest_asyncio

__all__ = ["run"]

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def run(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion and return its result, inside or outside a running event loop.

    >>> chats = run(client.get_chats())
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        nest_asyncio.apply(loop)
        return loop.run_until_complete(awaitable)
    return _shared_loop().run_until_complete(awaitable)


def _shared_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            atexit.register(_close_loop, _loop)
        return _loop


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """At exit, end the shared loop as ``asyncio.run`` ends its own: pending tasks (a client's closer) are
    cancelled and finish, so connections close and Python warns of no task destroyed while pending."""
    if loop.is_closed():
        return
    pending = asyncio.all_tasks(loop)
    for task in pending:
        task.cancel()
    if pending:  # gather() of nothing would look for the thread's current loop, which there may be none of
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
