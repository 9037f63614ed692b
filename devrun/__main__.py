"""``python -m devrun``: the whole pipeline on this machine (what ``make run`` runs)."""

from __future__ import annotations

import argparse
import logging
import sys

from devrun import run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devrun", description="start the Collector (or standalone mode), "
                                     "the processors, the services and their traffic, with a live summary")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")
    parser.add_argument("--standalone", action="store_true", help="standalone mode even when bin/otelcol exists")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run_demo(duration=args.duration, force_standalone=args.standalone)


if __name__ == "__main__":
    sys.exit(main())
