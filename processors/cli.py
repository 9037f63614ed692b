"""``otelproc``: serve, validate and inspect processor pipelines.

    otelproc serve --config FILE       run the pipelines until SIGTERM/SIGINT
    otelproc validate --config FILE    check a config and exit (0 valid, 2 invalid)
    otelproc components                list the component types that are installed
    otelproc run                       the local demo (make run)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from importlib import resources
from pathlib import Path

from processors.config import ConfigError, RootConfig, load_config, parse_config
from processors.registry import KINDS, Registry

DEFAULT_CONFIG = "standalone.yaml"


def _load(path: str | None) -> RootConfig:
    if path:
        return load_config(path)
    return parse_config(_config_text(None))


def _config_text(path: str | None) -> str:
    if path:
        return Path(path).read_text()
    return resources.files("processors.configs").joinpath(DEFAULT_CONFIG).read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otelproc", description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "validate"):
        p = sub.add_parser(name)
        p.add_argument("--config", help=f"pipeline YAML (default: the embedded {DEFAULT_CONFIG})")
    sub.add_parser("components")
    run = sub.add_parser("run", help="start the Collector (or standalone mode), the processors and a sample emitter")
    run.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")
    run.add_argument("--standalone", action="store_true", help="standalone mode even when bin/otelcol exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.command == "components":
        reg = Registry()
        for kind in KINDS:
            print(f"{kind}: {', '.join(reg.available(kind))}")
        return 0
    if args.command == "run":
        from devrun import run_demo

        return run_demo(duration=args.duration, force_standalone=args.standalone)

    from processors.pipeline import build_service

    try:
        config = _load(args.config)
        if args.command == "validate":
            from processors.supervisor import worker_count

            worker_count(config, build_service(config))
            print(f"{args.config or DEFAULT_CONFIG}: valid")
            return 0
        from processors.supervisor import worker_count

        service = build_service(config)  # every config error here, before any worker starts
        workers = worker_count(config, service)
        if workers > 1:
            from processors.supervisor import Supervisor

            runtime = Supervisor(config, _config_text(args.config), count=workers, log_level=args.log_level)
        else:
            from processors.runtime import Runtime

            runtime = Runtime(config, service=service)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(runtime.run() if workers > 1 else runtime.run_until_signalled())
    except OSError as exc:
        print(f"otelproc: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
