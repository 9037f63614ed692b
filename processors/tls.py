"""TLS settings in the Collector's words (configtls), and what builds on them.

    tls:
      cert_file: /certs/tls.crt      # our certificate chain (PEM)
      key_file: /certs/tls.key       # its private key (PEM)
      ca_file: /certs/ca.crt         # client side: the CA that signs the server's certificate
      client_ca_file: /certs/ca.crt  # server side: require a client certificate signed by this CA (mTLS)
      min_version: "1.2"             # "1.2" or "1.3"
      reload_interval: 10s           # how often the files are looked at for a change
      insecure: false                # client side: true dials cleartext
      insecure_skip_verify: false    # client side: refused on gRPC (grpcio cannot skip the check)
      server_name_override: ""       # client side: the name the server's certificate must carry

Every file is read and parsed when the config is validated, and a key path
names what is wrong (``exporters.otlp.tls.key_file: ...``). A certificate of
ours that has expired is logged (``tls: /certs/tls.crt expired on ...``) at
load and on each reload; it does not stop the process, so a rotation can fix it.

Reload: the files' mtime, size and inode are looked at on a new connection,
at most every ``reload_interval``; when one changed the files are read again
and new connections use them, without a restart. Open connections keep
theirs. A half-written rotation (key and certificate not matching yet) is
logged and the previous files stay in use until the next look.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import grpc
from cryptography import x509
from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from processors.config import ComponentConfig

log = logging.getLogger("otelproc.tls")


def _duration(value: object) -> float:
    from processors.receivers.otlp import parse_duration  # at validation time: that module imports this one

    return parse_duration(value)


Duration = Annotated[float, BeforeValidator(_duration)]
_TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def _readable(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    path = Path(value)
    if not path.is_file():
        raise ValueError(f"no such file: {value}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"not readable: {value}")
    return value


def _check_ca(value: str | None) -> str | None:
    value = _readable(value)
    if value is not None:
        try:
            ssl.create_default_context(cafile=value)
        except ssl.SSLError as exc:
            raise ValueError(f"no PEM certificate in {value} ({exc.reason or exc})") from None
    return value


class TLSConfig(ComponentConfig):
    """The keys both sides take (configtls ``Config``)."""

    ca_file: str | None = Field(default=None, description="CA certificates (PEM) that verify the peer (default: none)")
    cert_file: str | None = Field(default=None, description="Our certificate chain, PEM (default: none)")
    key_file: str | None = Field(
        default=None, validate_default=True, description="The private key of cert_file, PEM (default: none)"
    )
    min_version: Literal["1.2", "1.3"] = Field(default="1.2", description='Lowest TLS version taken (default "1.2")')
    reload_interval: Duration = Field(
        default=10.0, ge=0,
        description='How often the files are looked at for a change; "0s" looks on every new connection '
                    '(default "10s"; the Collector reloads only when it is set)',
    )

    requires_cert: ClassVar[bool] = False  # a server must have a certificate

    @field_validator("ca_file")
    @classmethod
    def _ca(cls, value: str | None) -> str | None:
        return _check_ca(value)

    @field_validator("cert_file")
    @classmethod
    def _cert(cls, value: str | None) -> str | None:
        return _readable(value)

    @field_validator("key_file")
    @classmethod
    def _pair(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = _readable(value)
        if "cert_file" not in info.data:
            return value  # cert_file itself was refused
        cert = info.data["cert_file"]
        if value is None and cert is not None:
            raise ValueError("required with cert_file")
        if value is not None and cert is None:
            raise ValueError("set without cert_file")
        if cert is None and cls.requires_cert:
            raise ValueError("a TLS server needs cert_file and key_file")
        if cert is not None:
            try:
                ssl.create_default_context().load_cert_chain(cert, value)
            except ssl.SSLError as exc:
                raise ValueError(f"cannot use {value} with {cert}: {exc.reason or exc}") from None
            for problem in expiry_problems(cert):
                log.error("%s", problem)
        return value

    def files(self) -> list[str]:
        return [f for f in (self.cert_file, self.key_file, self.ca_file, getattr(self, "client_ca_file", None)) if f]


class TLSServerConfig(TLSConfig):
    """A listener's ``tls:`` (configtls ``ServerConfig``)."""

    client_ca_file: str | None = Field(
        default=None, description="Require a client certificate signed by these CAs, PEM: mTLS (default: none, "
                                  "no client certificate asked for)",
    )
    requires_cert: ClassVar[bool] = True

    @field_validator("client_ca_file")
    @classmethod
    def _client_ca(cls, value: str | None) -> str | None:
        return _check_ca(value)


class TLSClientConfig(TLSConfig):
    """A dialler's ``tls:`` (configtls ``ClientConfig``)."""

    insecure: bool = Field(default=False, description="Dial cleartext, no TLS (default false)")
    insecure_skip_verify: bool = Field(
        default=False, description="Do not verify the server's certificate (default false)"
    )
    server_name_override: str = Field(
        default="", description="The name the server's certificate must carry, instead of the endpoint's host "
                                "(default: the host)",
    )


class GrpcServerTLSConfig(TLSServerConfig):
    """What grpcio can serve: its TLS floor is 1.2 and cannot be raised from Python."""

    @field_validator("min_version")
    @classmethod
    def _grpc_floor(cls, value: str) -> str:
        if value != "1.2":
            raise ValueError('grpcio serves TLS 1.2 and 1.3 and cannot refuse 1.2 from Python: use "1.2" with gRPC')
        return value


class GrpcClientTLSConfig(TLSClientConfig):
    """What grpcio can dial: no TLS floor above 1.2, and no skipping the server's certificate."""

    @field_validator("min_version")
    @classmethod
    def _grpc_floor(cls, value: str) -> str:
        return GrpcServerTLSConfig._grpc_floor(value)

    @field_validator("insecure_skip_verify")
    @classmethod
    def _no_skip(cls, value: bool) -> bool:
        if value:
            raise ValueError("grpcio always verifies the server's certificate: set ca_file to the CA that signed it "
                             "(and server_name_override when the name differs), or insecure: true for cleartext")
        return value


# --- our own certificates' expiry ------------------------------------------

def expiry_problems(cert_file: str, now: dt.datetime | None = None) -> list[str]:
    """``tls: <file> expired on <when>`` (or is not valid yet) for each certificate of the chain in ``cert_file``."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        certs = x509.load_pem_x509_certificates(Path(cert_file).read_bytes())
    except (OSError, ValueError) as exc:
        return [f"tls: cannot read {cert_file}: {exc}"]
    problems = []
    for cert in certs:
        if cert.not_valid_after_utc < now:
            problems.append(f"tls: {cert_file} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC "
                            f"(subject {cert.subject.rfc4514_string()}); peers will refuse it")
        elif cert.not_valid_before_utc > now:
            problems.append(f"tls: {cert_file} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC "
                            f"(subject {cert.subject.rfc4514_string()})")
    return problems


# --- watching the files ------------------------------------------------------

class WatchedFiles:
    """Whether any of ``paths`` changed (mtime, size, inode), looked at most every ``interval`` seconds.

    Thread-safe: grpc core calls its certificate fetcher on its own threads."""

    def __init__(self, paths: list[str], interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.paths = paths
        self.interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._seen = self._stat()
        self._checked = clock()

    def _stat(self) -> tuple[Any, ...]:
        out = []
        for p in self.paths:
            try:
                st = os.stat(p)
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def changed(self) -> bool:
        with self._lock:
            now = self._clock()
            if now - self._checked < self.interval:
                return False
            self._checked = now
            seen = self._stat()
            if seen == self._seen:
                return False
            self._seen = seen
            return True


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


# --- gRPC ----------------------------------------------------------------------

def grpc_server_credentials(config: TLSServerConfig, *, name: str = "grpc") -> grpc.ServerCredentials:
    """Server credentials that re-read the files when they change (``grpc.dynamic_ssl_server_credentials``);
    a client certificate signed by ``client_ca_file`` is required when it is set."""
    require_client = config.client_ca_file is not None

    def configuration() -> Any:
        key, cert = _read(config.key_file), _read(config.cert_file)
        ssl.create_default_context().load_cert_chain(config.cert_file, config.key_file)  # they match
        return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=_read(config.client_ca_file))

    watched = WatchedFiles(config.files(), config.reload_interval)

    def fetch() -> Any:
        if not watched.changed():
            return None  # grpc keeps the configuration it has
        try:
            new = configuration()
        except (OSError, ssl.SSLError) as exc:
            log.warning("tls: %s: the changed files cannot be used yet (%s); keeping the previous ones", name, exc)
            return None
        for problem in expiry_problems(config.cert_file):
            log.error("%s", problem)
        log.info("tls: %s: reloaded %s", name, ", ".join(config.files()))
        return new

    return grpc.dynamic_ssl_server_credentials(configuration(), fetch,
                                               require_client_authentication=require_client)


def grpc_channel_credentials(config: TLSClientConfig) -> tuple[grpc.ChannelCredentials, list[tuple[str, Any]]]:
    """Channel credentials and the channel options they need (the name override)."""
    creds = grpc.ssl_channel_credentials(
        root_certificates=_read(config.ca_file), private_key=_read(config.key_file),
        certificate_chain=_read(config.cert_file),
    )
    options = [("grpc.ssl_target_name_override", config.server_name_override)] if config.server_name_override else []
    return creds, options


# --- aiohttp / asyncio -----------------------------------------------------------

def _server_context(config: TLSServerConfig) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _TLS_VERSIONS[config.min_version]
    ctx.load_cert_chain(config.cert_file, config.key_file)
    if config.client_ca_file:
        ctx.load_verify_locations(cafile=config.client_ca_file)
        ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def server_ssl_context(config: TLSServerConfig, *, name: str = "http") -> ssl.SSLContext:
    """An ``ssl.SSLContext`` for an asyncio server whose handshakes move to a context made from the files
    again once they changed (its ``sni_callback`` runs on every ClientHello)."""
    first = _server_context(config)
    watched = WatchedFiles(config.files(), config.reload_interval)
    current = [first]

    def on_hello(sock: ssl.SSLObject, _server_name: str | None, _ctx: ssl.SSLContext) -> None:
        if watched.changed():
            try:
                current[0] = _server_context(config)
            except (OSError, ssl.SSLError) as exc:
                log.warning("tls: %s: the changed files cannot be used yet (%s); keeping the previous ones", name, exc)
            else:
                for problem in expiry_problems(config.cert_file):
                    log.error("%s", problem)
                log.info("tls: %s: reloaded %s", name, ", ".join(config.files()))
        if current[0] is not first:
            sock.context = current[0]
        return None

    first.sni_callback = on_hello
    return first


class TlsAcceptor(asyncio.Protocol):
    """Runs the TLS handshake of an accepted connection itself (``loop.start_tls``) so that a refused
    peer is logged (asyncio logs it only in debug mode), then hands the TLS transport to ``inner``."""

    def __init__(self, inner: asyncio.Protocol, context: ssl.SSLContext, *, name: str,
                 handshake_timeout: float = 10.0) -> None:
        self.inner = inner
        self.context = context
        self.name = name
        self.handshake_timeout = handshake_timeout
        self._task: asyncio.Task | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.pause_reading()  # type: ignore[attr-defined]  # the ClientHello is for the TLS layer
        self._task = asyncio.get_running_loop().create_task(self._handshake(transport))  # type: ignore[arg-type]

    async def _handshake(self, raw: asyncio.Transport) -> None:
        peer = raw.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if peer else "?"
        try:
            tls = await asyncio.get_running_loop().start_tls(
                raw, self.inner, self.context, server_side=True, ssl_handshake_timeout=self.handshake_timeout)
        except ssl.SSLCertVerificationError as exc:
            log.warning("tls: %s: refused the client certificate of %s: %s", self.name, where, exc.verify_message)
            raw.close()
            return
        except ssl.SSLError as exc:
            log.warning("tls: %s: TLS handshake with %s failed: %s", self.name, where, _ssl_reason(exc))
            raw.close()
            return
        except (TimeoutError, OSError, ConnectionError) as exc:
            log.info("tls: %s: TLS handshake with %s did not finish: %s", self.name, where, exc or type(exc).__name__)
            raw.close()
            return
        if tls is None:  # closed during the handshake
            return
        self.inner.connection_made(tls)

    def data_received(self, data: bytes) -> None:  # pragma: no cover - reading is paused until start_tls
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()


def _ssl_reason(exc: ssl.SSLError) -> str:
    reason = exc.reason or ""
    if reason in ("HTTP_REQUEST", "WRONG_VERSION_NUMBER"):
        return f"{reason}: a cleartext client on the TLS port"
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return f"{reason}: the client sent no certificate, and client_ca_file requires one"
    if "CERTIFICATE" in reason or "UNKNOWN_CA" in reason:
        return f"{reason}: the client does not trust our certificate"
    return str(reason or exc)
