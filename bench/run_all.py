"""``make bench``: every bench, each in a process of its own, then one summary. Exit status 1 if a target is missed.

    .venv/bin/python bench/run_all.py [sync rate_limit store metrics memory report]   # about 10 minutes; or those named
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from common import machine

HERE = Path(__file__).resolve().parent
BENCHES = ("sync", "rate_limit", "store", "metrics", "memory", "report")


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        print(f"unknown bench {', '.join(unknown)}; choose among {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    print(f"avito_kit benches on {machine()}", flush=True)
    outcomes: dict[str, tuple[int, float]] = {}
    for name in names or BENCHES:
        print(f"\n== bench_{name}.py ==", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / f"bench_{name}.py")])
        outcomes[name] = (code, time.perf_counter() - started)
    print("\n== summary ==")
    for name, (code, took) in outcomes.items():
        verdict = {0: "all targets met", 1: "TARGET MISSED"}.get(code, f"FAILED (exit {code})")
        print(f"  bench_{name}.py: {verdict} ({took:.0f} s)")
    print(f"  total {sum(took for _, took in outcomes.values()):.0f} s; figures and history in bench/RESULTS.md")
    return 0 if all(code == 0 for code, _ in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
