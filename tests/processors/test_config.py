"""The pipeline config: the Collector's shape, env expansion, errors that name the key path."""

from __future__ import annotations

import pytest

from processors.config import ConfigError, expand_env, parse_config

MINIMAL = """
receivers:
  otlp: {grpc: {endpoint: 127.0.0.1:0}}
exporters:
  otlp: {endpoint: 127.0.0.1:1}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp]}
"""


def test_minimal_config_parses_with_defaults():
    cfg = parse_config(MINIMAL)
    assert list(cfg.service.pipelines) == ["traces"]
    assert cfg.service.pipelines["traces"].processors == []
    assert cfg.service.server.drain_timeout_s == 10.0


def test_unknown_top_level_key_names_the_key():
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL + "extensionz: {}\n")
    assert str(err.value) == "extensionz: unknown key"


def test_unknown_key_inside_a_pipeline_names_the_path():
    text = MINIMAL.replace("traces: {receivers: [otlp], exporters: [otlp]}",
                           "traces: {receivers: [otlp], exporters: [otlp], procesors: []}")
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert err.value.path == "service.pipelines.traces.procesors"


def test_pipeline_names_must_be_signals():
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL.replace("    traces:", "    spans:"))
    assert err.value.path == "service.pipelines"
    assert "'spans'" in err.value.problem


def test_env_references_expand_with_type_and_default():
    env = {"RATIO": "0.25", "HOST": "collector"}
    tree = {"a": "${env:RATIO}", "b": "${env:HOST}:4317", "c": "${env:MISSING:-x}", "d": "${HOST}"}
    assert expand_env(tree, environ=env) == {"a": 0.25, "b": "collector:4317", "c": "x", "d": "collector"}


def test_unset_env_without_default_names_the_key_path():
    with pytest.raises(ConfigError) as err:
        expand_env({"processors": {"redaction": {"hash_key": "${env:NOPE}"}}}, environ={})
    assert err.value.path == "processors.redaction.hash_key"
    assert "NOPE" in err.value.problem


def test_invalid_yaml_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("receivers: [unclosed")


def test_errors_never_quote_values_of_secret_looking_keys():
    from pydantic import Field

    from processors.config import ComponentConfig, validate_component

    class WithSecret(ComponentConfig):
        api_token: str = Field(min_length=32)
        ratio: float = Field(le=1)

    with pytest.raises(ConfigError) as err:
        validate_component(WithSecret, {"api_token": "hunter2-short", "ratio": 0.5}, "exporters.x")
    assert err.value.path == "exporters.x.api_token"
    assert "hunter2" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        validate_component(WithSecret, {"api_token": "a" * 32, "ratio": 1.5}, "exporters.x")
    assert "(got 1.5)" in str(err.value)


def test_an_env_value_that_is_not_yaml_stays_text():
    assert expand_env({"endpoint": "${env:X}"}, environ={"X": "a: b: c"}) == {"endpoint": "a: b: c"}


def test_absurd_nesting_is_a_config_error_not_a_crash():
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_config("a: " + "[" * 600 + "]" * 600)


SECRET = "S3cr3t-hunter2"


def test_a_url_password_is_masked_in_any_message():
    err = ConfigError("connectors.x.store", f"'http://u:{SECRET}@redis/0' is not redis:// (got 'http://u:{SECRET}@redis/0')")
    assert SECRET not in str(err)
    assert err.problem == "'http://u:****@redis/0' is not redis:// (got 'http://u:****@redis/0')"
    assert ConfigError("", f"https://{SECRET}@host/x").problem == "https://****@host/x"
    assert ConfigError("", "mail anna@example.org").problem == "mail anna@example.org"  # not a URL


def test_a_value_from_the_environment_is_named_not_quoted():
    text = MINIMAL + "  server: {drain_timeout_s: '${env:SECRET}'}\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, environ={"SECRET": SECRET})
    assert err.value.path == "service.server.drain_timeout_s"
    assert err.value.problem.endswith("(got the value of ${env:SECRET})")
    assert SECRET not in str(err.value)


def test_a_number_from_the_environment_is_named_too():
    text = MINIMAL + "  server: {drain_timeout_s: '${env:SECRET}'}\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, environ={"SECRET": "-7356"})
    assert err.value.problem == "Input should be greater than 0 (got the value of ${env:SECRET})"


def test_a_value_partly_from_the_environment_names_its_variables():
    text = MINIMAL + "  server: {drain_timeout_s: '1${env:A}${env:B}'}\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, environ={"A": "x-secret-a", "B": "y-secret-b"})
    assert err.value.problem.endswith("(got a value made from ${env:A}, ${env:B})")
    assert "secret" not in str(err.value)


def test_a_default_written_in_the_file_is_quoted_as_before():
    text = MINIMAL + "  server: {drain_timeout_s: '${env:UNSET_HERE:-soon}'}\n"
    with pytest.raises(ConfigError) as err:
        parse_config(text, environ={})
    assert err.value.problem.endswith("(got 'soon')")


def test_expand_env_records_where_each_variable_went():
    from processors.config import EnvRefs

    refs = EnvRefs()
    tree = {"a": {"b": "${env:X}", "c": ["${env:Y:-d}", "p${env:Y}${env:X}"]}, "e": "${env:NOPE:-n}"}
    out = expand_env(tree, environ={"X": "16", "Y": "y"}, refs=refs)
    assert out == {"a": {"b": 16, "c": ["y", "py16"]}, "e": "n"}  # typed as before
    assert refs.paths == {"a.b": ("X",), "a.c[0]": ("Y",), "a.c[1]": ("Y", "X")}
    assert refs.whole == {"a.b", "a.c[0]"}
    assert refs.values == {"X": "16", "Y": "y"}


def test_an_environment_value_in_any_later_message_is_named():
    cfg = parse_config(MINIMAL.replace("127.0.0.1:1", "'${env:HOP}'"), environ={"HOP": "hop.internal:4317"})
    assert cfg is not None
    err = ConfigError("exporters.otlp", "cannot reach 'hop.internal:4317' (hop.internal:4317)")
    assert err.problem == "cannot reach '${env:HOP}' (${env:HOP})"


def test_short_environment_values_are_left_in_free_text():
    parse_config(MINIMAL + "  server: {drain_timeout_s: '${env:N}'}\n", environ={"N": "1"})
    assert ConfigError("x", "Input should be less than or equal to 1").problem.endswith("equal to 1")


def test_a_yaml_error_quotes_no_text_of_the_file():
    with pytest.raises(ConfigError) as err:
        parse_config(f'password: "{SECRET}\nb: 2\n')
    assert SECRET not in str(err.value)
    assert err.value.problem == ("not valid YAML: while scanning a quoted scalar (line 1, column 11): "
                                 "found unexpected end of stream (line 3, column 1)")
    with pytest.raises(ConfigError) as err:
        parse_config(f"password: *{SECRET}\n")
    assert err.value.problem == "not valid YAML: found undefined alias '…' (line 1, column 11)"


@pytest.mark.parametrize("text", [f"a: !!int {SECRET}", f"a: !!float {SECRET}", "a: 2020-13-01"])
def test_a_scalar_that_does_not_convert_is_a_config_error(text):
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert SECRET not in str(err.value) and err.value.problem.startswith("not valid YAML: a value does not convert")


@pytest.mark.parametrize("value", [f"!!int {SECRET}", "2020-13-01", "[" * 2000])
def test_an_environment_value_that_does_not_convert_stays_text(value):
    assert expand_env({"v": "${env:X}"}, environ={"X": value}) == {"v": value}


def test_a_key_path_is_never_rewritten_by_environment_values():
    parse_config(MINIMAL.replace("127.0.0.1:1", "'${env:HOP}'"), environ={"HOP": "traces"})
    err = ConfigError("service.pipelines.traces.processors[0]", "processor 'traces' is not declared")
    assert str(err) == "service.pipelines.traces.processors[0]: processor '${env:HOP}' is not declared"


# --- service.server.workers --------------------------------------------------------

@pytest.mark.parametrize(("value", "problem"), [
    ("0", "greater than or equal to 1"),
    ("65", "less than or equal to 64"),
    ("2.5", "valid integer"),
    ("two", "valid integer"),
    ("true", "valid integer"),
])
def test_workers_out_of_range_names_the_key_path(value, problem):
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL + f"  server: {{workers: {value}}}\n")
    assert err.value.path == "service.server.workers"
    assert problem in err.value.problem


def test_workers_default_to_the_cpus_this_process_may_use(tmp_path):
    import os

    from processors.config import available_cpus

    cfg = parse_config(MINIMAL)
    assert cfg.service.server.workers is None
    assert cfg.service.server.worker_count() == min(available_cpus(), 64)
    assert available_cpus() <= len(os.sched_getaffinity(0))
    assert parse_config(MINIMAL + "  server: {workers: 3}\n").service.server.worker_count() == 3
    # From the environment, and unset there: null is the default.
    text = MINIMAL + '  server: {workers: "${env:OTELPROC_WORKERS:-null}"}\n'
    assert parse_config(text, environ={}).service.server.workers is None
    assert parse_config(text, environ={"OTELPROC_WORKERS": "4"}).service.server.worker_count() == 4


def test_a_cgroup_cpu_quota_bounds_the_default_worker_count(tmp_path):
    import os

    from processors.config import available_cpus

    cpu_max = tmp_path / "cpu.max"
    affinity = len(os.sched_getaffinity(0))
    for text, want in (("max 100000", affinity), ("50000 100000", 1), ("150000 100000", min(2, affinity)),
                       ("not a quota", affinity)):
        cpu_max.write_text(text)
        assert available_cpus(str(cpu_max)) == want, text
    assert available_cpus(str(tmp_path / "absent")) == affinity
