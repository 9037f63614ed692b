"""The pipeline config: the Collector's own shape (receivers, processors,
exporters, connectors, service.pipelines) with ``${env:VAR}`` expansion.

Loading fails fast with ``ConfigError``, whose message names the YAML key path
and what was expected, e.g. ``processors.log_sampling.info_ratio: Input should
be less than or equal to 1 (got 1.5)``.

A message never carries a secret: the password of a URL is masked wherever it
appears (``redis://u:****@host/0``), a value quoted under a secret-looking key
is left out, and a value that came from ``${env:VAR}`` is named by its
variable (``(got the value of ${env:VAR})``) instead of quoted, in the loader's
own messages and in those of the components and the pipeline builder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from processors.api import Signal


class ConfigError(ValueError):
    """A config problem, with the key path where it was found.

    Whoever raises it, the message is scrubbed here (``scrub_secrets``): a URL's
    password and the values the last parsed config took from the environment
    never reach a terminal or a log. The path is made of keys, which are never
    expanded: only a URL's password is masked there.
    """

    def __init__(self, path: str, problem: str) -> None:
        path, problem = _USERINFO.sub(_mask_userinfo, path), scrub_secrets(problem)
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


# --- secrets in messages -----------------------------------------------------

# scheme://userinfo@ — the userinfo runs to the last @ before the authority ends.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/?#\s'\"]*)@")
# Shorter values are not looked for in free text: no secret is that short, and "1" or
# "0" would rewrite every such digit of a message. ``(got ...)`` names the variable anyway.
MIN_SCRUBBED_LENGTH = 4


def _mask_userinfo(m: re.Match[str]) -> str:
    user, sep, _ = m.group(2).partition(":")
    return f"{m.group(1)}{user}:****@" if sep else f"{m.group(1)}****@"


class EnvRefs:
    """What ``${env:VAR}`` put into a config: where, and which variables' values.

    ``paths`` maps a YAML key path (``exporters.otlp.endpoint``, ``a.b[0]``) to
    the names of the variables read from the environment for it, ``whole`` holds
    the paths whose value was exactly one reference, and ``values`` maps each
    variable read to its value.
    """

    def __init__(self) -> None:
        self.paths: dict[str, tuple[str, ...]] = {}
        self.whole: set[str] = set()
        self.values: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None
        self._names: dict[str, str] = {}

    def add_value(self, name: str, value: str) -> None:
        self.values[name] = value
        self._pattern = None

    def origin(self, path: str) -> tuple[str, ...] | None:
        """The variables behind the value at ``path`` or at one of its ancestors."""
        while True:
            if path in self.paths:
                return self.paths[path]
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                return None
            path = path[:cut]

    def describe(self, path: str) -> str | None:
        """``the value of ${env:X}`` for a value that came from the environment, else None."""
        names = self.origin(path)
        if not names:
            return None
        refs = ", ".join(f"${{env:{n}}}" for n in names)
        return f"the value of {refs}" if path in self.whole and len(names) == 1 else f"a value made from {refs}"

    def scrub(self, text: str) -> str:
        if not self.values:
            return text
        if self._pattern is None:
            self._names = {}
            alternatives = [r"\$\{env:[A-Za-z_][A-Za-z0-9_]*\}"]  # a reference already written stays
            for name, value in sorted(self.values.items(), key=lambda nv: -len(nv[1])):
                for form in dict.fromkeys((value, repr(value)[1:-1])):  # as typed, and as repr() quotes it
                    if len(form) >= MIN_SCRUBBED_LENGTH:
                        group = f"v{len(self._names)}"
                        self._names[group] = name
                        alternatives.append(f"(?P<{group}>{re.escape(form)})")
            self._pattern = re.compile("|".join(alternatives))

        def name_it(m: re.Match[str]) -> str:
            group = m.lastgroup
            return f"${{env:{self._names[group]}}}" if group else m.group()

        return self._pattern.sub(name_it, text)


# The environment values of the config parsed last: components and the pipeline builder
# raise their ConfigErrors after parsing, far from the expansion.
_last_env = EnvRefs()


def scrub_secrets(text: str) -> str:
    """``text`` with URL passwords masked and the last parsed config's environment values named."""
    if "@" in text:
        text = _USERINFO.sub(_mask_userinfo, text)
    return _last_env.scrub(text)


class ComponentConfig(BaseModel):
    """Base of every component config: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Values under keys like these are never quoted back in an error message: it may be a secret.
_SECRET_KEY = re.compile(r"(key|token|secret|password|passwd|credential|auth)", re.IGNORECASE)


def format_validation_error(prefix: str, exc: ValidationError) -> ConfigError:
    """The first pydantic error, as a ConfigError under ``prefix``, quoting the bad value
    unless the key looks like it holds a secret or the value came from the environment."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    path = ".".join(p for p in (prefix, loc) if p)
    msg = err["msg"]
    secret = any(_SECRET_KEY.search(str(p)) for p in err["loc"])
    from_env = _last_env.describe(_yaml_path(prefix, err["loc"]))
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif "input" in err and not isinstance(err["input"], dict) and not secret:
        if from_env is not None:
            # A validator may quote the value in its own words, typed as YAML made it.
            for form in (repr(err["input"]), str(err["input"])):
                if len(form) >= MIN_SCRUBBED_LENGTH:
                    msg = msg.replace(form, "the value")
            msg = f"{msg} (got {from_env})"
        else:
            msg = f"{msg} (got {err['input']!r})"
    return ConfigError(path, msg)


def _yaml_path(prefix: str, loc: tuple[Any, ...]) -> str:
    """The key path as expand_env spells it: ``a.b[0].c``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def validate_component(model: type[ComponentConfig], raw: Any, path: str) -> ComponentConfig:
    """Build a component config from its YAML mapping, errors under ``path``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, f"expected a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise format_validation_error(path, exc) from None


# --- the service section ---------------------------------------------------

class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receivers: list[str] = Field(min_length=1)
    processors: list[str] = Field(default_factory=list)
    exporters: list[str] = Field(min_length=1)


class MetricsTelemetry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(default=None, description="host:port of the self-metrics endpoint; none when unset")


class TelemetrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: MetricsTelemetry = Field(default_factory=MetricsTelemetry)


MAX_WORKERS = 64


def available_cpus(cgroup_cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """CPUs this process may run on (its affinity), fewer under a cgroup v2 CPU quota: a container
    limited to 2 CPUs on a 32-CPU node would otherwise start 32 workers that share 2 CPUs."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path(cgroup_cpu_max).read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, -(-int(quota) // int(period))))  # rounded up: 1.5 CPUs -> 2 workers
    except (OSError, ValueError):
        pass
    return cpus


class ServerSpec(BaseModel):
    """How the server drains (not a Collector key: our own)."""

    model_config = ConfigDict(extra="forbid")
    drain_timeout_s: float = Field(default=10.0, gt=0, description="Seconds to finish in-flight requests on SIGTERM")
    offload_min_bytes: int = Field(
        default=256 * 1024, ge=0,
        description="Requests of at least this many bytes are processed on a worker thread, so that the event loop "
                    "keeps answering health checks and other requests meanwhile (default 262144; 0 = every request)",
    )
    offload_workers: int = Field(
        default=2, ge=1, le=64,
        description="Worker threads for those requests; more wait their turn (default 2)",
    )
    workers: int | None = Field(
        default=None, ge=1, le=MAX_WORKERS, strict=True,
        description="Worker processes serving the receivers on one SO_REUSEPORT listener (default: the CPUs this "
                    f"process may run on; 1 = a single process, no supervisor; at most {MAX_WORKERS})",
    )

    def worker_count(self) -> int:
        """``workers``, or when unset the CPUs this process may use (``available_cpus``)."""
        if self.workers is not None:
            return self.workers
        return max(1, min(available_cpus(), MAX_WORKERS))


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipelines: dict[str, PipelineSpec] = Field(min_length=1)
    telemetry: TelemetrySpec = Field(default_factory=TelemetrySpec)
    server: ServerSpec = Field(default_factory=ServerSpec)

    @field_validator("pipelines")
    @classmethod
    def _pipeline_names(cls, pipelines: dict[str, PipelineSpec]) -> dict[str, PipelineSpec]:
        for name in pipelines:
            signal = name.split("/", 1)[0]
            if signal not in {s.value for s in Signal}:
                raise ValueError(f"pipeline {name!r} must be named traces, metrics or logs (optionally /name)")
        return pipelines


class RootConfig(BaseModel):
    """The whole file. Component bodies stay raw here; their factories validate them."""

    model_config = ConfigDict(extra="forbid")
    receivers: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    processors: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    exporters: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    connectors: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    service: ServiceSpec


def pipeline_signal(name: str) -> Signal:
    return Signal(name.split("/", 1)[0])


def component_type(component_id: str) -> str:
    """``otlp/processed`` -> ``otlp``."""
    return component_id.split("/", 1)[0]


# --- loading ---------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(node: Any, path: str = "", environ: dict[str, str] | None = None, *,
               refs: EnvRefs | None = None) -> Any:
    """Expand ``${env:VAR}`` / ``${env:VAR:-default}`` in every string.

    A value that is exactly one reference takes the YAML type of what it
    expands to (``${env:RATIO}`` = ``0.5`` becomes a float), as in the Collector.
    An unset variable with no default is an error naming the key path.
    ``refs``, when given, records which key paths took which variables' values
    (a default written in the file is not from the environment).
    """
    env = os.environ if environ is None else environ
    if isinstance(node, dict):
        return {k: expand_env(v, f"{path}.{k}" if path else str(k), env, refs=refs) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, f"{path}[{i}]", env, refs=refs) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node
    read: list[str] = []

    def value_of(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            read.append(name)
            return env[name]
        if default is not None:
            return default
        raise ConfigError(path, f"environment variable {name} is not set")

    whole = _ENV_REF.fullmatch(node)
    if whole:
        value = value_of(whole)
        _record(refs, path, read, env, whole=True)
        try:
            return yaml.safe_load(value) if value != "" else ""
        except (yaml.YAMLError, ValueError, RecursionError):
            # Not a YAML scalar (or a tagged one that does not convert, !!int x):
            # the text itself, as the Collector does.
            return value
    expanded = _ENV_REF.sub(value_of, node)
    _record(refs, path, read, env, whole=False)
    return expanded


def _record(refs: EnvRefs | None, path: str, names: list[str], env: Any, *, whole: bool) -> None:
    if refs is None or not names:
        return
    refs.paths[path] = tuple(dict.fromkeys(names))
    if whole:
        refs.whole.add(path)
    for name in names:
        refs.add_value(name, env[name])


def parse_config(text: str, *, environ: dict[str, str] | None = None) -> RootConfig:
    global _last_env
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"not valid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise ConfigError("", "not valid YAML: nested too deeply") from None
    except (ValueError, TypeError, OverflowError):
        # A scalar whose tag or form names a type its text does not convert to
        # (`!!int x`, `2020-13-01`). Python's message quotes the text: not repeated.
        raise ConfigError("", "not valid YAML: a value does not convert to the type its tag or its form "
                              "implies (!!int, !!float, a date)") from None
    if not isinstance(data, dict):
        raise ConfigError("", "the config must be a mapping with receivers, processors, exporters and service")
    _last_env = refs = EnvRefs()
    data = expand_env(data, environ=environ, refs=refs)
    try:
        return RootConfig.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error("", exc) from None


# Quoted text in a YAML error that is safe to repeat: a token name or one character.
_YAML_QUOTED = re.compile(r"'([^']*)'")


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What PyYAML found and where, without its snippet of the line: the line may hold a secret."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return "cannot be parsed"
    parts = []
    for what, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark)):
        if what is None and mark is None:
            continue
        text = _YAML_QUOTED.sub(_quoted_token, what or "error")
        if mark is not None:
            text += f" (line {mark.line + 1}, column {mark.column + 1})"
        parts.append(text)
    return ": ".join(parts) or "cannot be parsed"


def _quoted_token(m: re.Match[str]) -> str:
    # An alias, an anchor or a tag is text from the file (`password: *hunter2`).
    inner = m.group(1)
    return m.group() if len(inner) <= 2 or (inner.startswith("<") and inner.endswith(">")) else "'…'"


def load_config(path: str | Path, *, environ: dict[str, str] | None = None) -> RootConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError("", f"cannot read config {p}: {exc.strerror}") from None
    return parse_config(text, environ=environ)
