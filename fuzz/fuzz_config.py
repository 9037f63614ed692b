"""Fuzz target: processors.config.parse_config + processors.pipeline.build_service.

Invariant: any YAML text, under any environment, gives either a ConfigError
that says what is wrong (a non-empty problem) or a built Service; never
another exception. Building opens no socket (start() does). A ConfigError's
problem quotes no value of the environment (four characters or more) that the
text does not hold itself.

The first byte picks how the rest becomes a config:

- 0: the rest is the YAML text (UTF-8, bad bytes replaced), environment empty;
- 1: the rest drives a generator of YAML-ish documents (known keys, odd
  scalars, ``${env:...}`` references, raw fragments spliced into the text)
  and of the environment those references read;
- 2: the rest picks a shipped config (processors/configs/*.yaml, or one made
  of the components' testdata) and applies a few structural mutations
  (delete, replace, rename, splice a value from another config, wrap), and
  picks the environment;
- 3: the rest is ``NAME=value`` lines, an empty line, then the YAML text
  (readable reproducers: ``printf '\\x03X=[\\n\\nservice: ...'``).

    python fuzz/fuzz_config.py -atheris_runs=20000 fuzz/corpus/config
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["processors", "yaml"]):
    import yaml

    from processors.config import MIN_SCRUBBED_LENGTH, ConfigError, parse_config
    from processors.pipeline import Service, build_service
    from processors.registry import Registry

from _support import pick, run

REPO = Path(__file__).resolve().parents[1]
# The session-health connector reads its admin token from the environment when it is built.
os.environ.setdefault("SESSION_HEALTH_ADMIN_TOKEN", "fuzz-admin-token-not-a-secret")
REGISTRY = Registry()  # entry points are looked up once, not on every input

ENV_NAMES = (
    "OTELPROC_RECEIVER_ENDPOINT", "OTELPROC_NEXT_HOP", "OTELPROC_COMPRESSION", "OTELPROC_METRICS_ADDRESS",
    "OTELPROC_SINK_DIR", "LOG_SAMPLING_RATE_INFO", "SESSION_HEALTH_STORE", "SESSION_HEALTH_API_ENDPOINT", "X",
)
ENV_VALUES = (
    "", "0", "1", "0.5", "1.5", "-1", "true", "null", "~", "127.0.0.1:0", "127.0.0.1:99999", "localhost:4317",
    "memory", "redis://127.0.0.1:1/0", "gzip", "none", "[a, b]", "{a: 1}", "a: 1", "[", "{", "a: b: c", "- x",
    "!!binary AAAA", "*alias", "&anchor x", "'quoted'", '"unterminated', "\t", "${env:X}", "./var/fuzz-sink",
)
SCALARS: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2**31, 2**70, 0.5, -0.0, 1e308, float("inf"), float("nan"), "", " ", "x",
    "127.0.0.1:0", "0.0.0.0:4317", "[::1]:0", "memory", "gzip", "none", "WARN", "info", "wa.session.*", "(",
    "[a-", "(?i)token", "é", "${env:X}", "${X:-3}", "${env:NOPE}", "pre ${env:X} post", "${", "1/s", "2000/s",
    [], {},
)
TYPES = ("otlp", "file", "prometheus", "debug", "redaction", "log_sampling", "session_health", "bogus")
SIGNAL_NAMES = ("traces", "metrics", "logs", "logs/alerts", "traces/x", "spans", "logs/")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _testdata_config() -> dict[str, Any]:
    """A standalone-shaped config whose components are every testdata component of sampling and session_health."""
    sampling = _load(REPO / "processors/log_sampling/testdata/config.yaml")
    health = _load(REPO / "processors/session_health/testdata/config.yaml")
    procs = {k: v for k, v in sampling.items() if k != "service"}
    conns = {k: v for k, v in health.items() if k != "service"}
    conn = next(iter(conns))
    return {
        "receivers": {"otlp": {"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": "127.0.0.1:0"}}},
        "processors": procs,
        "connectors": conns,
        "exporters": {"debug": {}, "file": {"path": "./var/fuzz-sink"}, "prometheus": {"endpoint": "127.0.0.1:0"}},
        "service": {"pipelines": {
            "logs": {"receivers": ["otlp"], "processors": list(procs), "exporters": ["debug", conn]},
            "metrics": {"receivers": ["otlp", conn], "exporters": ["prometheus", "file"]},
            "logs/alerts": {"receivers": [conn], "exporters": ["file"]},
            "traces": {"receivers": ["otlp"], "exporters": ["debug"]},
        }},
    }


BASES: list[Any] = [_load(p) for p in sorted((REPO / "processors/configs").glob("*.yaml"))] + [_testdata_config()]
# Values to splice in: every subtree of the bases and of the components' valid and invalid testdata.
_MATERIAL_FILES = sorted(REPO.glob("processors/*/testdata/config*.yaml"))


def _subtrees(node: Any) -> list[Any]:
    out = [node]
    if isinstance(node, dict):
        for v in node.values():
            out += _subtrees(v)
    elif isinstance(node, list):
        for v in node:
            out += _subtrees(v)
    return out


def _keys(node: Any) -> set[str]:
    return {k for sub in _subtrees(node) if isinstance(sub, dict) for k in sub if isinstance(k, str)}


MATERIAL: list[Any] = [s for tree in BASES + [_load(p) for p in _MATERIAL_FILES] for s in _subtrees(tree)]
KEYS: tuple[str, ...] = tuple(sorted(_keys(BASES) | _keys(MATERIAL) | set(TYPES) | set(SIGNAL_NAMES)
                                     | {f"{t}/x" for t in TYPES}))


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 4, data[1:]
    if mode == 0:
        _check(rest.decode("utf-8", "replace"), {})
        return
    if mode == 3:
        header, _, text = rest.decode("utf-8", "replace").partition("\n\n")
        environ = dict(line.partition("=")[::2] for line in header.splitlines())
        _check(text, environ)
        return
    fdp = atheris.FuzzedDataProvider(rest)
    if mode == 1:
        text = _yamlish(fdp)
    else:
        tree = copy.deepcopy(pick(fdp, BASES))
        for _ in range(fdp.ConsumeIntInRange(1, 6)):
            tree = _mutate(fdp, tree)
        text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=fdp.ConsumeBool(),
                              default_flow_style=fdp.ConsumeBool())
    _check(text, _environ(fdp))


def _check(text: str, environ: dict[str, str]) -> None:
    sockets = _open_sockets()
    try:
        config = parse_config(text, environ=environ)
        service = build_service(config, registry=REGISTRY)
    except ConfigError as exc:
        assert isinstance(exc.problem, str) and exc.problem, f"ConfigError without a problem: {exc!r}"
        assert isinstance(exc.path, str)
        for name, value in environ.items():
            if len(value) >= MIN_SCRUBBED_LENGTH and value not in text and "${env:" not in value:
                assert value not in exc.problem, f"the value of {name} is quoted: {exc.problem!r}"
        return
    assert isinstance(service, Service)
    assert set(service.pipelines) == set(config.service.pipelines)
    assert _open_sockets() <= sockets, "building a service opened a socket"


def _open_sockets() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def _environ(fdp: atheris.FuzzedDataProvider) -> dict[str, str]:
    env = {}
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        value = pick(fdp, ENV_VALUES) if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(24)
        env[pick(fdp, ENV_NAMES)] = value
    return env


def _value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    choice = fdp.ConsumeIntInRange(0, 9)
    if choice < 4 or depth > 4:
        return pick(fdp, SCALARS) if fdp.ConsumeBool() else fdp.ConsumeUnicodeNoSurrogates(16)
    if choice < 6:
        return copy.deepcopy(pick(fdp, MATERIAL))
    if choice < 8:
        return {_key(fdp): _value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))}
    return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]


def _key(fdp: atheris.FuzzedDataProvider) -> Any:
    choice = fdp.ConsumeIntInRange(0, 7)
    if choice < 6:
        return pick(fdp, KEYS)
    if choice == 6:
        return fdp.ConsumeUnicodeNoSurrogates(12)
    return pick(fdp, (0, 1.5, True, None))  # YAML allows keys that are not strings


def _yamlish(fdp: atheris.FuzzedDataProvider) -> str:
    tree: dict[Any, Any] = {}
    for section in ("receivers", "processors", "exporters", "connectors", "service"):
        if fdp.ConsumeBool():
            tree[section] = _value(fdp)
    if fdp.ConsumeBool():
        tree["service"] = {"pipelines": {pick(fdp, SIGNAL_NAMES): {
            role: [pick(fdp, KEYS) for _ in range(fdp.ConsumeIntInRange(0, 3))]
            for role in ("receivers", "processors", "exporters") if fdp.ConsumeBool()
        } for _ in range(fdp.ConsumeIntInRange(0, 3))}}
    text = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, default_flow_style=fdp.ConsumeBool())
    # Raw fragments make it YAML-ish: tabs, unclosed brackets, anchors, tags, directives.
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        at = fdp.ConsumeIntInRange(0, len(text))
        text = text[:at] + fdp.ConsumeUnicodeNoSurrogates(16) + text[at:]
    return text


def _slots(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in a tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((node, k))
            _slots(v, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((node, i))
            _slots(v, out)
    return out


def _mutate(fdp: atheris.FuzzedDataProvider, tree: Any) -> Any:
    slots = _slots(tree, [])
    if not slots:
        return _value(fdp)
    parent, key = pick(fdp, slots)
    op = fdp.ConsumeIntInRange(0, 6)
    if op == 0:  # delete
        del parent[key]
    elif op == 1:  # replace with something new
        parent[key] = _value(fdp)
    elif op == 2:  # replace with a piece of another config
        parent[key] = copy.deepcopy(pick(fdp, MATERIAL))
    elif op == 3 and isinstance(parent, dict):  # rename
        parent[_key(fdp)] = parent.pop(key)
    elif op == 4 and isinstance(parent[key], dict):  # add a key
        parent[key][_key(fdp)] = _value(fdp)
    elif op == 5:  # wrap
        parent[key] = [parent[key]] if fdp.ConsumeBool() else {_key(fdp): parent[key]}
    else:  # an environment reference
        name = pick(fdp, ENV_NAMES)
        parent[key] = pick(fdp, (f"${{env:{name}}}", f"${{{name}:-{fdp.ConsumeUnicodeNoSurrogates(6)}}}",
                                 f"x${{env:{name}}}y"))
    return tree


if __name__ == "__main__":
    run(test_one_input)
