"""What every bench shares: the machine line, ratio tables, and a stopwatch.

Benches never assert: they print a table of ratios against a baseline measured in the same run (so a slower or
busier machine moves both sides), the absolute figures with the machine they were measured on, and whether each
target of issue 6 holds. ``bench/run_all.py`` runs them all (``make bench``); each also runs on its own.
"""

from __future__ import annotations

import datetime as dt
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
