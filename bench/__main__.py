"""`make bench`: every benchmark in one run, each printing ratios against
baselines measured in the same run; results in bench/results/*.json."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

ORDER = ["bench_core"]  # first: the baselines the others are read against


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = ORDER + sorted(p.stem for p in here.glob("bench_*.py") if p.stem not in ORDER)
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    failed = []
    for i, name in enumerate(names, 1):
        print(f"\n[{i}/{len(names)}] {name}", flush=True)
        t0 = time.perf_counter()
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as exc:  # noqa: BLE001 - report and go on with the others
            print(f"  FAILED: {type(exc).__name__}: {exc}")
            failed.append(name)
        print(f"  ({time.perf_counter() - t0:.0f}s)")
    print(f"\nbench: {len(names) - len(failed)} ran, {len(failed)} failed {failed or ''}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
