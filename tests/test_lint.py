"""The tree has no pyflakes-class errors: undefined names, unused imports, redefinitions."""

from __future__ import annotations

import subprocess

from tests.support.procs import REPO, require_tool


def test_ruff_finds_no_pyflakes_errors():
    ruff = require_tool("ruff", str(REPO / ".venv" / "bin" / "ruff"))
    res = subprocess.run([ruff, "check", "--select", "F", "--output-format", "concise", "--no-cache",
                          "processors", "services", "tests", "bench", "fuzz", "scripts"],
                         cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
