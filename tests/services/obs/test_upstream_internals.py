"""The private upstream parts obs uses are all there, and the installed versions are the tested ones."""

from __future__ import annotations

import ast
from pathlib import Path

from services.obs import upstream_internals

OBS = Path(upstream_internals.__file__).parent
_LOGS_HOMES = frozenset({"_logs", "_log_exporter"})


def test_every_private_part_obs_uses_is_on_the_installed_libraries() -> None:
    missing = upstream_internals.check()
    assert not missing, "upstream moved what obs uses (services/obs/upstream_internals.py):\n" + "\n".join(missing)


def test_the_installed_opentelemetry_versions_are_within_the_tested_bounds() -> None:
    problems = upstream_internals.check_versions()
    assert not problems, "\n".join(problems)


def test_a_version_outside_the_bounds_is_named_with_what_to_do(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project.optional-dependencies]\nservices = [\n  "opentelemetry-sdk>=1.0,<1.1",\n'
                         '  "opentelemetry-api",\n]\n')
    problems = upstream_internals.check_versions(pyproject)
    assert len(problems) == 2
    assert problems[0].startswith("opentelemetry-sdk 1.") and "outside the tested bounds '>=1.0,<1.1'" in problems[0]
    assert "upstream_internals.py" in problems[0]
    assert problems[1] == "opentelemetry-api: no upper bound in pyproject.toml; pin the versions obs was tested with"


def test_no_other_obs_module_imports_a_private_upstream_name() -> None:
    """The list stays whole: an ``_internal``/``_incubating``/``_semconv`` import or an underscore name
    from an ``opentelemetry`` module anywhere else in obs fails here."""
    offenders = []
    for path in sorted(OBS.glob("*.py")):
        if path.name == "upstream_internals.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opentelemetry"):
                module_parts = node.module.split(".")
                # The logs SDK and the OTLP log exporter have no other home: their documented import paths.
                private_module = any(p.startswith("_") and p not in _LOGS_HOMES for p in module_parts)
                private_names = [a.name for a in node.names
                                 if a.name.startswith("_") and not a.name.startswith("__")]
                if private_module or private_names:
                    offenders.append(f"{path.name}:{node.lineno} from {node.module} import "
                                     + ", ".join(a.name for a in node.names))
    assert not offenders, "take these from services/obs/upstream_internals.py:\n" + "\n".join(offenders)
