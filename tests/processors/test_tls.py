"""TLS and mTLS on the processors' OTLP receiver (gRPC and OTLP/HTTP) and the
otlp exporter, with certificates minted for each test (tests/support/certs.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from processors.api import Signal
from processors.config import ConfigError, parse_config
from processors.pipeline import build_service
from tests.processors.conftest import serving
from tests.support.certs import CertAuthority
from tests.support.pipeline import collector_pipeline, count_items
from tests.support.procs import free_port


@pytest.fixture
def pki(tmp_path):
    ca = CertAuthority.create(tmp_path / "ca", "otelpipe test CA")
    other = CertAuthority.create(tmp_path / "other-ca", "some other CA")
    return {
        "ca": ca,
        "server": ca.issue(tmp_path / "server", "processors", server=True),
        "client": ca.issue(tmp_path / "client", "collector"),
        "expired": ca.issue(tmp_path / "expired", "collector", expired=True),
        "foreign": other.issue(tmp_path / "foreign", "collector"),
    }


def _request(n: int = 3) -> trace_service_pb2.ExportTraceServiceRequest:
    req = trace_service_pb2.ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add()
    for i in range(n):
        s = spans.spans.add(name=f"s{i}", trace_id=bytes([i + 1]) * 16, span_id=bytes([i + 1]) * 8)
        s.start_time_unix_nano, s.end_time_unix_nano = 1, 2
    return req


def _tls_receiver_yaml(pki, next_hop: str, *, http: bool = False, reload: str = "10s") -> str:
    server, ca = pki["server"], pki["ca"]
    tls = (f'{{cert_file: "{server.cert_file}", key_file: "{server.key_file}", client_ca_file: "{ca.cert_file}", '
           f'reload_interval: {reload}}}')
    http_part = f'\n    http: {{endpoint: "127.0.0.1:{free_port()}", tls: {tls}}}' if http else ""
    return f"""
receivers:
  otlp:
    grpc: {{endpoint: "127.0.0.1:0", tls: {tls}}}{http_part}
exporters:
  otlp: {{endpoint: "{next_hop}", timeout: 5s}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"""


class _Sink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans = 0

    async def Export(self, request, context):  # noqa: N802 - the generated name
        self.spans += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        return trace_service_pb2.ExportTraceServiceResponse()


async def _sink_server(credentials: grpc.ServerCredentials | None = None):
    server = grpc.aio.server()
    sink = _Sink()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    port = (server.add_secure_port("127.0.0.1:0", credentials) if credentials
            else server.add_insecure_port("127.0.0.1:0"))
    await server.start()
    return server, sink, port


def _channel(port: int, pki, *, cert: str | None = "client", ca: str = "ca") -> grpc.aio.Channel:
    key = chain = None
    if cert is not None:
        key, chain = pki[cert].key_file.read_bytes(), pki[cert].cert_file.read_bytes()
    creds = grpc.ssl_channel_credentials(pki[ca].cert_file.read_bytes(), key, chain)
    return grpc.aio.secure_channel(f"127.0.0.1:{port}", creds)


async def _export(channel: grpc.aio.Channel) -> grpc.StatusCode:
    async with channel:
        try:
            await trace_service_pb2_grpc.TraceServiceStub(channel).Export(_request(), timeout=5)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


# --- gRPC receiver -------------------------------------------------------------

async def test_grpc_receiver_takes_a_client_certificate_of_its_ca_and_refuses_the_rest(pki):
    server, sink, port = await _sink_server()
    try:
        async with serving(_tls_receiver_yaml(pki, f"127.0.0.1:{port}")) as rt:
            rx = rt.service.receivers["otlp"].grpc_port
            assert await _export(_channel(rx, pki)) == grpc.StatusCode.OK
            assert sink.spans == 3
            # No client certificate, one from another CA, an expired one, and cleartext: all refused.
            assert await _export(_channel(rx, pki, cert=None)) == grpc.StatusCode.UNAVAILABLE
            assert await _export(_channel(rx, pki, cert="foreign")) == grpc.StatusCode.UNAVAILABLE
            assert await _export(_channel(rx, pki, cert="expired")) == grpc.StatusCode.UNAVAILABLE
            assert await _export(grpc.aio.insecure_channel(f"127.0.0.1:{rx}")) == grpc.StatusCode.UNAVAILABLE
            assert sink.spans == 3
    finally:
        await server.stop(0)


def _peer_serial(port: int, pki, *, alpn: str, client: str = "client") -> int:
    """The serial number of the certificate the server presents to a new connection."""
    ctx = ssl.create_default_context(cafile=pki["ca"].cert_file)
    ctx.load_cert_chain(pki[client].cert_file, pki[client].key_file)
    ctx.set_alpn_protocols([alpn])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


async def test_a_rotated_server_certificate_is_served_to_new_connections_without_a_restart(pki, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="otelproc.tls")
    server, _sink, port = await _sink_server()
    try:
        async with serving(_tls_receiver_yaml(pki, f"127.0.0.1:{port}", http=True, reload="0s")) as rt:
            rx = rt.service.receivers["otlp"]
            old = pki["server"].serial
            assert await asyncio.to_thread(_peer_serial, rx.grpc_port, pki, alpn="h2") == old
            assert await asyncio.to_thread(_peer_serial, rx.http_port, pki, alpn="http/1.1") == old
            # Rotate in place, as a mounted Secret changes: same paths, new files.
            time.sleep(0.01)  # a distinct mtime
            new = pki["ca"].issue(tmp_path / "server", "processors", server=True)
            assert new.serial != old
            assert await asyncio.to_thread(_peer_serial, rx.grpc_port, pki, alpn="h2") == new.serial
            assert await asyncio.to_thread(_peer_serial, rx.http_port, pki, alpn="http/1.1") == new.serial
            assert await _export(_channel(rx.grpc_port, pki)) == grpc.StatusCode.OK
            assert any("reloaded" in r.getMessage() for r in caplog.records)
    finally:
        await server.stop(0)


# --- OTLP/HTTP receiver ----------------------------------------------------------

def _http_post(port: int, pki, *, cert: str | None) -> int | str:
    """POST /v1/traces over TLS; the status, or the client's view of a refused handshake."""
    import http.client

    ctx = ssl.create_default_context(cafile=pki["ca"].cert_file)
    if cert is not None:
        ctx.load_cert_chain(pki[cert].cert_file, pki[cert].key_file)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request("POST", "/v1/traces", body=_request().SerializeToString(),
                     headers={"Content-Type": "application/x-protobuf"})
        return conn.getresponse().status
    except (ssl.SSLError, ConnectionError, OSError) as exc:
        return f"refused: {exc}"
    finally:
        conn.close()


def _cleartext_post(port: int) -> int | str:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/v1/traces", body=b"", headers={"Content-Type": "application/x-protobuf"})
        return conn.getresponse().status
    except (ConnectionError, OSError, http.client.HTTPException) as exc:
        return f"refused: {exc}"
    finally:
        conn.close()


async def test_http_receiver_over_mtls_refuses_and_logs_missing_expired_foreign_and_cleartext(pki, caplog):
    caplog.set_level(logging.INFO, logger="otelproc.tls")
    server, sink, port = await _sink_server()
    try:
        async with serving(_tls_receiver_yaml(pki, f"127.0.0.1:{port}", http=True)) as rt:
            rx = rt.service.receivers["otlp"].http_port
            assert await asyncio.to_thread(_http_post, rx, pki, cert="client") == 200
            assert sink.spans == 3

            caplog.clear()
            assert str(await asyncio.to_thread(_http_post, rx, pki, cert="expired")).startswith("refused")
            await asyncio.sleep(0.1)
            expired = [r.getMessage() for r in caplog.records if "refused the client certificate" in r.getMessage()]
            assert expired and "certificate has expired" in expired[0], caplog.text

            caplog.clear()
            assert str(await asyncio.to_thread(_http_post, rx, pki, cert="foreign")).startswith("refused")
            await asyncio.sleep(0.1)
            assert "refused the client certificate" in caplog.text and "unable to get local issuer" in caplog.text

            caplog.clear()
            assert str(await asyncio.to_thread(_http_post, rx, pki, cert=None)).startswith("refused")
            await asyncio.sleep(0.1)
            assert "the client sent no certificate" in caplog.text, caplog.text

            caplog.clear()
            assert str(await asyncio.to_thread(_cleartext_post, rx)).startswith("refused")
            await asyncio.sleep(0.1)
            assert "a cleartext client on the TLS port" in caplog.text, caplog.text
            assert sink.spans == 3
    finally:
        await server.stop(0)


# --- exporter ----------------------------------------------------------------------

async def test_exporter_dials_mtls_and_fails_against_a_server_of_another_ca(pki):
    from processors.tls import TLSServerConfig, grpc_server_credentials

    creds = grpc_server_credentials(TLSServerConfig(cert_file=str(pki["server"].cert_file),
                                                    key_file=str(pki["server"].key_file),
                                                    client_ca_file=str(pki["ca"].cert_file)))
    server, sink, port = await _sink_server(creds)
    try:
        def config(ca: str, cert: str) -> str:
            tls = (f'{{ca_file: "{pki[ca].cert_file}", cert_file: "{pki[cert].cert_file}", '
                   f'key_file: "{pki[cert].key_file}"}}')
            return f"""
receivers:
  otlp: {{grpc: {{endpoint: "127.0.0.1:0"}}}}
exporters:
  otlp: {{endpoint: "127.0.0.1:{port}", timeout: 3s, tls: {tls}}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"""
        async with serving(config("ca", "client")) as rt:
            rx = rt.service.receivers["otlp"].grpc_port
            assert await _export(grpc.aio.insecure_channel(f"127.0.0.1:{rx}")) == grpc.StatusCode.OK
            assert sink.spans == 3
        # Our client certificate from another CA: the next hop refuses it, and we answer UNAVAILABLE (retryable).
        async with serving(config("ca", "foreign")) as rt:
            rx = rt.service.receivers["otlp"].grpc_port
            assert await _export(grpc.aio.insecure_channel(f"127.0.0.1:{rx}")) == grpc.StatusCode.UNAVAILABLE
            assert sink.spans == 3
    finally:
        await server.stop(0)


# --- the whole chain ---------------------------------------------------------------

def _collector_overlay(path: Path, pki) -> Path:
    """Collector settings for mTLS on both of its hops to and from the processors: each loadbalancing
    exporter dials with a client certificate, and otlp/processed requires one."""
    ca, server, client = pki["ca"], pki["server"], pki["client"]
    dial = (f'{{insecure: false, ca_file: "{ca.cert_file}", cert_file: "{client.cert_file}", '
            f'key_file: "{client.key_file}"}}')
    path.write_text(f"""
receivers:
  otlp/processed:
    protocols:
      grpc:
        tls: {{cert_file: "{server.cert_file}", key_file: "{server.key_file}", client_ca_file: "{ca.cert_file}"}}
exporters:
  loadbalancing/traces: {{protocol: {{otlp: {{tls: {dial}}}}}}}
  loadbalancing/logs: {{protocol: {{otlp: {{tls: {dial}}}}}}}
  loadbalancing/metrics: {{protocol: {{otlp: {{tls: {dial}}}}}}}
""")
    return path


@pytest.mark.e2e
def test_collector_to_processors_to_collector_all_over_mtls(pki, tmp_path):
    ca, server, client = pki["ca"], pki["server"], pki["client"]
    processors_yaml = f"""
receivers:
  otlp:
    grpc:
      endpoint: ${{env:OTELPROC_RECEIVER_ENDPOINT}}
      tls: {{cert_file: "{server.cert_file}", key_file: "{server.key_file}", client_ca_file: "{ca.cert_file}"}}
exporters:
  otlp:
    endpoint: ${{env:OTELPROC_NEXT_HOP}}
    timeout: 10s
    tls: {{ca_file: "{ca.cert_file}", cert_file: "{client.cert_file}", key_file: "{client.key_file}"}}
service:
  server: {{workers: 1}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
  telemetry:
    metrics: {{address: "${{env:OTELPROC_METRICS_ADDRESS}}"}}
"""
    overlay = _collector_overlay(tmp_path / "mtls-overlay.yaml", pki)
    # The overlay goes on the one Collector that is both ingress and egress.
    with collector_pipeline(tmp_path, processors_yaml, overlays=[overlay]) as p:
        assert "mTLS" in p.processors.proc.output()
        with grpc.insecure_channel(p.otlp_grpc_endpoint) as channel:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(_request(5), timeout=10)
        reqs = p.wait_for(Signal.TRACES, lambda r: count_items(Signal.TRACES, r) >= 5, timeout=60)
        assert count_items(Signal.TRACES, reqs) == 5
        # Neither hop to the processors takes cleartext: a plain client to either is refused.
        with grpc.insecure_channel(f"127.0.0.1:{p.processors.port}") as channel:
            with pytest.raises(grpc.RpcError) as err:
                trace_service_pb2_grpc.TraceServiceStub(channel).Export(_request(1), timeout=3)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with grpc.insecure_channel(f"127.0.0.1:{p.egress.processed_port}") as channel, \
                pytest.raises(grpc.RpcError):
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(_request(1), timeout=3)


# --- config errors ---------------------------------------------------------------

def _build(text: str):
    return build_service(parse_config(text))


@pytest.mark.parametrize("case, path, words", [
    ("missing", "receivers.otlp.grpc.tls.cert_file", "no such file"),
    ("key_without_cert", "receivers.otlp.grpc.tls.key_file", "set without cert_file"),
    ("cert_without_key", "receivers.otlp.grpc.tls.key_file", "required with cert_file"),
    ("mismatched", "receivers.otlp.grpc.tls.key_file", "cannot use"),
    ("bad_min_version", "receivers.otlp.http.tls.min_version", "'1.2' or '1.3'"),
    ("grpc_min_13", "receivers.otlp.grpc.tls.min_version", "grpcio"),
    ("not_a_ca", "exporters.otlp.tls.ca_file", "no PEM certificate"),
    ("skip_verify", "exporters.otlp.tls.insecure_skip_verify", "grpcio always verifies"),
    ("bare_timeout", "exporters.otlp.timeout", "duration"),
])
def test_config_errors_name_the_key_path(pki, tmp_path, case, path, words):
    server, other = pki["server"], pki["client"]
    grpc_tls = f'{{cert_file: "{server.cert_file}", key_file: "{server.key_file}"}}'
    http = ""
    exporter = '{endpoint: "127.0.0.1:1"}'
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    if case == "missing":
        grpc_tls = f'{{cert_file: "{tmp_path / "nope.pem"}", key_file: "{server.key_file}"}}'
    elif case == "key_without_cert":
        grpc_tls = f'{{key_file: "{server.key_file}"}}'
    elif case == "cert_without_key":
        grpc_tls = f'{{cert_file: "{server.cert_file}"}}'
    elif case == "mismatched":
        grpc_tls = f'{{cert_file: "{server.cert_file}", key_file: "{other.key_file}"}}'
    elif case == "bad_min_version":
        http = f'\n    http: {{endpoint: "127.0.0.1:0", tls: {{cert_file: "{server.cert_file}", ' \
               f'key_file: "{server.key_file}", min_version: "1.1"}}}}'
    elif case == "grpc_min_13":
        grpc_tls = f'{{cert_file: "{server.cert_file}", key_file: "{server.key_file}", min_version: "1.3"}}'
    elif case == "not_a_ca":
        exporter = f'{{endpoint: "127.0.0.1:1", tls: {{ca_file: "{junk}"}}}}'
    elif case == "skip_verify":
        exporter = '{endpoint: "127.0.0.1:1", tls: {insecure_skip_verify: true}}'
    elif case == "bare_timeout":
        exporter = '{endpoint: "127.0.0.1:1", timeout: 10}'
    text = f"""
receivers:
  otlp:
    grpc: {{endpoint: "127.0.0.1:0", tls: {grpc_tls}}}{http}
exporters:
  otlp: {exporter}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
"""
    with pytest.raises(ConfigError) as err:
        _build(text)
    assert err.value.path == path, str(err.value)
    assert words in err.value.problem, str(err.value)


def test_timeout_is_a_duration_and_timeout_s_still_reads(pki):
    from processors.exporters.otlp import OtlpExporterConfig

    assert OtlpExporterConfig(endpoint="h:1", timeout="1m30s").deadline == 90
    assert OtlpExporterConfig(endpoint="h:1", timeout_s=2.5).deadline == 2.5
    assert OtlpExporterConfig(endpoint="h:1").deadline == 10
    with pytest.raises(ValueError, match="not both"):
        OtlpExporterConfig(endpoint="h:1", timeout="1s", timeout_s=1)


def test_an_expired_certificate_of_ours_is_logged_at_load(pki, caplog):
    from processors.tls import TLSServerConfig

    caplog.set_level(logging.ERROR, logger="otelproc.tls")
    old = pki["expired"]
    TLSServerConfig(cert_file=str(old.cert_file), key_file=str(old.key_file))
    assert f"tls: {old.cert_file} expired on {old.not_after:%Y-%m-%d}" in caplog.text, caplog.text
    assert os.path.exists(old.cert_file)
