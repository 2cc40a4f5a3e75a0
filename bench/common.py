"""What every bench shares: the machine line, ratio tables, and a stopwatch.

Benches never assert: they print a table of ratios against a baseline measured in the same run (so a slower or
busier machine moves both sides), the absolute figures with the machine they were measured on, and whether each
target of issue 6 holds. ``bench/run_all.py`` runs them all (``make bench``); each also runs on its own.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import platform
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/bench_x.py` from a clone without an installed avito_kit
    sys.path.insert(0, str(ROOT))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line naming what the absolute figures were measured on."""
    import duckdb
    import pandas

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{dt.date.today().isoformat()}, {cores} cores, {cpu_model()}, Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}, pandas {pandas.__version__}, {platform.system()} {platform.release()}")


@dataclass
class Row:
    """One line of a result table: a measured figure against its reference and the target it must meet."""

    what: str
    measured: str
    reference: str
    ratio: float
    target: str
    ok: bool | None  # None: shown for information, no target


def print_table(title: str, rows: list[Row]) -> bool:
    """Print ``rows`` under ``title`` as a Markdown table; True when every target holds."""
    print(f"\n### {title}\n")
    print(f"Machine: {machine()}\n")
    header = ("what", "measured", "reference", "ratio", "target", "met")
    lines = [header, *((r.what, r.measured, r.reference, f"{r.ratio:.3g}", r.target,
                        "" if r.ok is None else ("yes" if r.ok else "**NO**")) for r in rows)]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print("| " + " | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)) + " |")
        if index == 0:
            print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    met = all(r.ok is not False for r in rows)
    print(f"\n{'All targets met.' if met else 'TARGET MISSED.'}", flush=True)
    return met


@contextmanager
def stopwatch():
    """``with stopwatch() as t: ...`` then ``t()`` is the elapsed seconds (frozen at exit)."""
    started = time.perf_counter()
    ended: list[float] = []
    yield lambda: (ended[0] if ended else time.perf_counter()) - started
    ended.append(time.perf_counter())


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1000:.0f} ms"


class SandboxProcess:
    """The sandbox served over loopback HTTP from a process of its own, as Avito is: its request handling (a
    millisecond or two of Python per request) must not compete with the client for one interpreter lock, nor
    its world count in the client's memory. Asked through a pipe for its request log and to change its world.

    >>> sandbox = SandboxProcess(0.04, seed=42, n_items=200)
    >>> sandbox.base_url, sandbox.ask("count")
    """

    def __init__(self, latency: float, **world) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve_sandbox, args=(child, world, latency), daemon=True)
        self._process.start()
        self.base_url = self._pipe.recv()

    def ask(self, *command):
        self._pipe.send(command)
        return self._pipe.recv()

    def close(self) -> None:
        self.ask("stop")
        self._process.join(timeout=10)


def _serve_sandbox(pipe, world: dict, latency: float) -> None:
    from avito_kit.sandbox import Sandbox

    sandbox = Sandbox(**world)
    for item in sandbox.items:  # make the stats answers now, not while the first request waits
        sandbox.stats_rows(item.id)
    with sandbox.serve(latency=latency) as server:
        pipe.send(server.base_url)
        while True:
            command, *args = pipe.recv()
            if command == "stop":
                pipe.send(None)
                return
            if command == "requests":  # (operation, path) of every request since the given index
                pipe.send([(r.operation, r.path) for r in sandbox.requests[args[0]:]])
            elif command == "count":
                pipe.send(len(sandbox.requests))
            elif command == "reviews":  # how many reviews the account serves (to check the world is the same)
                pipe.send(len(sandbox.reviews.as_of(sandbox.moment)))
            elif command == "statuses":  # the HTTP status of every request since the given index
                pipe.send([r.status for r in sandbox.requests[args[0]:]])
            elif command == "new_messages":  # one incoming message in each of n chats spread over the list
                chats = list(sandbox.chats)[:: len(sandbox.chats) // args[0]][:args[0]]
                for chat_id in chats:
                    sandbox.add_incoming_message(chat_id, "Здравствуйте, квартира ещё свободна?")
                pipe.send(len(chats))
