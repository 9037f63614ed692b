"""The whole tree is clean under the committed lint config (``[tool.ruff]`` in pyproject.toml).

RUF100 is selected there, so a ``noqa`` that silences nothing is a finding too."""

from __future__ import annotations

import subprocess
import tomllib

from tests.support.procs import REPO, require_tool

PYPROJECT = REPO / "pyproject.toml"


def test_the_tree_is_clean_under_the_committed_config():
    ruff = require_tool("ruff", str(REPO / ".venv" / "bin" / "ruff"))
    res = subprocess.run([ruff, "check", "--config", str(PYPROJECT), "--output-format", "concise", "--no-cache", "."],
                         cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_config_is_the_one_the_tree_is_written_for():
    ruff = tomllib.loads(PYPROJECT.read_text())["tool"]["ruff"]
    assert ruff["line-length"] == 120
    # The rule sets the tree's noqa comments name (BLE, B, UP, ...) are on, and stale noqa is flagged.
    assert {"E", "F", "W", "B", "BLE", "N", "UP", "SIM", "I", "ANN", "RUF100"} <= set(ruff["lint"]["select"])


def test_no_nested_ruff_config_overrides_it():
    tracked = subprocess.run(["git", "ls-files", "--", "*ruff.toml", "*.ruff.toml"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    assert tracked == [], f"a nested ruff config would lint part of the tree differently: {tracked}"
