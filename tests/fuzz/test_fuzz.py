"""Bounded coverage-guided fuzzing of the processor server's parsers (fuzz/).

Each target runs in a subprocess for a bounded number of inputs from its
generated seed corpus, with a fixed libFuzzer seed so that a run is
repeatable, after replaying the crashes saved under fuzz/crashes/<target>/.
A harness that finds an input breaking its invariant fails the test, which
shows the traceback and where the input was saved. Longer campaigns:
``python fuzz/run.py --time 600`` (fuzz/README.md).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import REPO

FUZZ = REPO / "fuzz"
SEED = int(os.environ.get("FUZZ_SEED", "1"))
# (target, inputs, seconds at most): 1-10 s each on a shared core; a slow machine stops on time.
BUDGETS = [
    ("payload", 20_000, 20),
    ("otlp_json", 20_000, 20),
    ("config", 3_000, 20),
    ("decompress", 20_000, 20),
    ("redaction", 10_000, 20),
    ("splice", 3000, 20),
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _atheris() -> None:
    if importlib.util.find_spec("atheris") is None:
        pytest.fail("atheris is not installed: `make venv` (pip install -e '.[services,dev]') installs it")


def fuzz(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FUZZ / "run.py"), "--corpus", str(tmp_path / "corpus"),
         "--crashes", str(tmp_path / "crashes"), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240, cwd=tmp_path,
    )


@pytest.mark.parametrize(("target", "runs", "seconds"), BUDGETS, ids=[b[0] for b in BUDGETS])
def test_harness_finds_no_failing_input(tmp_path: Path, target: str, runs: int, seconds: int) -> None:
    result = fuzz(tmp_path, "--runs", str(runs), "--time", str(seconds), "--seed", str(SEED), target)
    assert result.returncode == 0, f"fuzz_{target} found a failing input:\n{result.stdout[-12000:]}"
    assert f"ok fuzz_{target}" in result.stdout
    assert "Done" in result.stdout, f"fuzz_{target} did not run to its bound:\n{result.stdout[-4000:]}"
    # The seeds were generated and fuzzing added to them: the harness really ran on real inputs.
    assert len(list((tmp_path / "corpus" / target).iterdir())) >= 5


def test_a_failing_input_fails_the_run_and_is_saved(tmp_path: Path) -> None:
    """The runner itself: an input that breaks a harness's invariant is reported, not swallowed."""
    harnesses = tmp_path / "harnesses"
    harnesses.mkdir()
    (harnesses / "fuzz_boom.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(FUZZ)!r})\n"
        "from _support import run\n"
        "def test_one_input(data):\n"
        "    assert not data.startswith(b'boom'), 'boom'\n"
        "run(test_one_input)\n"
    )
    seeds = tmp_path / "corpus" / "boom"
    seeds.mkdir(parents=True)
    (seeds / "seed").write_bytes(b"boom!")

    result = fuzz(tmp_path, "--harness-dir", str(harnesses), "--runs", "100", "--time", "20", "boom")

    assert result.returncode == 1
    assert "FAILED fuzz_boom" in result.stdout and "AssertionError: boom" in result.stdout
    saved = list((tmp_path / "crashes" / "boom").iterdir())
    assert [p.read_bytes() for p in saved] == [b"boom!"]
