"""The detector registry is the one list of detectors: the config's names, the rules, the raw
scan and the README all follow it. Every config field's description gives its default and
whether it fails open or closed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from processors.redaction.config import ALL_DETECTORS, OTHER_RULES, DetectorKind, RedactionConfig, RuleName
from processors.redaction.detectors import DETECTORS, Detector, register
from processors.redaction.rules import RuleSet

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "processors" / "redaction" / "README.md"

# Run in a fresh interpreter: the Literals are built when the config module is imported, so
# the throwaway detector registers first, and the registry of this process stays as it is.
THROWAWAY = r'''
import json
from processors.redaction.detectors import DETECTORS, Detector, Pattern, register

@register
class TicketDetector(Detector):
    KIND = "ticket"
    PRIORITY = 45
    DENSE = True
    PATTERNS = (Pattern("ticket", r"\bTKT-[0-9]{6}\b", 0.9),)

from processors.api import Signal
from processors.config import ConfigError, validate_component
from processors.redaction.config import ALL_DETECTORS, RedactionConfig
from processors.redaction.rules import RuleSet
from tests.processors.redaction.builders import entries, plant, read, request, run, text_of
from tests.processors.redaction.conftest import build

out = {"registry": list(DETECTORS), "all": list(ALL_DETECTORS)}
cfg = validate_component(RedactionConfig, {"detectors": ["ticket", "email"], "operators": {"ticket": "redact"}},
                         "processors.redaction")
out["config"] = [cfg.detectors, cfg.operator_for("ticket")]
rules = RuleSet(validate_component(RedactionConfig, {}, "processors.redaction"))
out["rules"] = [d.kind for d in rules.detectors]
out["verdict"] = rules.rewrite("see TKT-123456 now").text
out["scan"] = sorted({(p.rule, p.dense) for p in rules.scan_patterns() if p.rule == "ticket"})
req = request(Signal.LOGS)
plant(req, "log_body_string", "closed TKT-654321 for anna")
out["processed"] = text_of(read(entries(run(build(), req, Signal.LOGS))[0], "log_body_string"))
try:
    validate_component(RedactionConfig, {"detectors": ["tickets"]}, "processors.redaction")
except ConfigError as exc:
    out["error"] = exc.problem
print(json.dumps(out))
'''


def test_a_detector_added_through_the_registry_alone_is_used_everywhere():
    proc = subprocess.run([sys.executable, "-c", THROWAWAY], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    import json

    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # Listed in priority order: 45 sits between phone (40) and credit_card (50).
    expected = ["jwt", "api_key", "email", "phone", "ticket", "credit_card", "iban", "ip", "geo"]
    assert out["registry"] == out["all"] == out["rules"] == expected
    assert out["config"] == [["ticket", "email"], "redact"]
    assert out["verdict"] == "see **** now"
    assert out["scan"] == [["ticket", True]]  # the raw scan has a pattern for it, in the dense database
    assert out["processed"] == "closed **** for anna"  # the fast path hit it, the splice replaced it
    assert "'ticket'" in out["error"] and "(got 'tickets')" in out["error"]


def test_registering_after_the_config_is_built_is_refused():
    class Late(Detector):
        KIND = "late"
        PRIORITY = 99

    with pytest.raises(RuntimeError, match="before processors.redaction.config is imported"):
        register(Late)
    assert "late" not in DETECTORS


def test_the_config_names_come_from_the_registry():
    assert get_args(DetectorKind) == ALL_DETECTORS == tuple(DETECTORS)
    assert get_args(RuleName) == tuple(DETECTORS) + OTHER_RULES
    assert [c.PRIORITY for c in DETECTORS.values()] == sorted(c.PRIORITY for c in DETECTORS.values())


def test_dense_scan_patterns_are_the_dense_detectors():
    dense = {p.rule for p in RuleSet(RedactionConfig()).scan_patterns() if p.dense and p.rule in DETECTORS}
    assert dense == {kind for kind, cls in DETECTORS.items() if cls.DENSE} == {"credit_card", "iban"}


def _readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"### {title}\n")
    end = text.find("\n### ", start + 1)
    return text[start:end if end > 0 else None]


def test_the_readme_detector_table_lists_the_registry_in_priority_order():
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d+) \|", _readme_section("Detectors"), re.M)
    assert [(kind, int(prio)) for kind, prio in rows] == [(k, c.PRIORITY) for k, c in DETECTORS.items()]


def test_the_readme_detectors_key_names_every_detector():
    keys = README.read_text()
    entry = keys[keys.index("- `detectors` (list"):]
    entry = entry[:entry.index("\n- ")]
    assert re.findall(r"`([a-z_]+)`", entry)[1:] == list(DETECTORS)


def _fields(model: type[BaseModel], prefix: str = ""):
    for name, field in model.model_fields.items():
        yield f"{prefix}{name}", field
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            yield from _fields(sub, f"{prefix}{name}.")


FIELDS = dict(_fields(RedactionConfig))


def _shown(default) -> str:
    if isinstance(default, bool):
        return "true" if default else "false"
    return str(default)


@pytest.mark.parametrize("path", sorted(FIELDS))
def test_every_field_gives_its_default_and_its_failure_mode(path):
    field = FIELDS[path]
    description = field.description or ""
    assert re.search(r"\bFails (open|closed)\b", description), f"{path}: say whether it fails open or closed"
    match = re.search(r"\bDefault ([^.;]+)", description)
    assert match, f"{path}: give the default"
    default = field.get_default(call_default_factory=True)
    if isinstance(default, (bool, int, str)):
        assert match.group(1).split()[0].rstrip(",:") == _shown(default), path
    elif default is None:
        assert match.group(1).startswith("unset"), path
    elif default in ([], {}):
        assert match.group(1).startswith(str(default)), path
    elif isinstance(default, list) and path != "blocked_keys":  # the key policy is named, not quoted
        assert all(d in description for d in default), path
