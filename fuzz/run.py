"""Runs fuzz campaigns: seeds each target's corpus, replays the saved crashes,
fuzzes for a bounded time or number of runs, and reports any new crash.

    python fuzz/run.py                       # every target, 60 s each
    python fuzz/run.py --time 600 config     # one target, ten minutes
    python fuzz/run.py --runs 5000 --seed 1  # bounded and repeatable (what the tests do)

Exit status 1 when a harness failed; each crashing input is saved under
``--crashes/<target>/`` and replays with ``python fuzz/fuzz_<target>.py FILE``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("payload", "otlp_json", "config", "decompress", "redaction", "splice")


def campaign(target: str, *, corpus: Path, crashes: Path, replay: Path | None, seconds: int, runs: int | None,
             seed: int | None, harness_dir: Path = HERE, extra: list[str] | None = None) -> tuple[int, list[Path], str]:
    """Fuzz one target; returns (harness exit status, new crash files, its output)."""
    sys.path.insert(0, str(HERE))
    import make_seeds

    target_corpus = corpus / target
    if target in make_seeds.TARGETS and not any(target_corpus.glob("*")):
        make_seeds.write(target, corpus)
    target_corpus.mkdir(parents=True, exist_ok=True)
    dictionary = make_seeds.write_dict(target, corpus) if target in make_seeds.TARGETS else None
    out_dir = crashes / target
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.iterdir())

    argv = [sys.executable, str(harness_dir / f"fuzz_{target}.py"), f"-max_total_time={seconds}",
            f"-artifact_prefix={out_dir}/", "-timeout=60", "-rss_limit_mb=4096", "-print_final_stats=1"]
    if runs is not None:
        argv.append(f"-atheris_runs={runs}")
    if seed is not None:
        argv.append(f"-seed={seed}")
    if dictionary is not None:
        argv.append(f"-dict={dictionary}")
    argv += extra or []
    argv.append(str(target_corpus))  # first corpus dir: new inputs are added here
    if replay is not None and (replay / target).is_dir():
        argv.append(str(replay / target))  # read-only: earlier crashes run first, as regression inputs
    env = dict(os.environ)
    if seed is not None:
        # Coverage depends on set and dict order too: fix the hash seed as well for a repeatable run.
        env["PYTHONHASHSEED"] = str(seed)
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                          timeout=seconds + 300, env=env)
    found = sorted(set(out_dir.iterdir()) - before)
    return proc.returncode, found, proc.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--time", type=int, default=60, help="seconds per target (default 60)")
    parser.add_argument("--runs", type=int, default=None, help="stop a target after this many inputs")
    parser.add_argument("--seed", type=int, default=None, help="libFuzzer's random seed (default: a new one each run)")
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus", help="corpus root (default fuzz/corpus)")
    parser.add_argument("--crashes", type=Path, default=HERE / "crashes",
                        help="where new crashes go (default fuzz/crashes)")
    parser.add_argument("--replay", type=Path, default=HERE / "crashes",
                        help="saved crashes to rerun first (default fuzz/crashes)")
    parser.add_argument("--harness-dir", type=Path, default=HERE, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="print a harness's output only when it fails")
    args, extra = parser.parse_known_args(argv)  # anything else goes to libFuzzer (-jobs=2, -max_len=...)
    targets = args.targets or list(TARGETS)

    failed = []
    for target in targets:
        print(f"==> fuzz_{target}: {args.time}s" + (f", at most {args.runs} runs" if args.runs else ""), flush=True)
        rc, found, output = campaign(target, corpus=args.corpus, crashes=args.crashes, replay=args.replay,
                                     seconds=args.time, runs=args.runs, seed=args.seed,
                                     harness_dir=args.harness_dir, extra=extra)
        if rc != 0 or found:
            failed.append(target)
            print(output[-20000:])
            print(f"FAILED fuzz_{target} (exit status {rc}); crashing inputs: "
                  + (", ".join(str(p) for p in found) or "none saved"))
        else:
            if not args.quiet:
                print("\n".join(line for line in output.splitlines() if line.startswith(("Done", "stat::"))))
            print(f"ok fuzz_{target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
