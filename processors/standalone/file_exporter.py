"""The ``file`` exporter: OTLP/JSON lines, one file per signal, in the format
of the Collector's file exporter (one export request per line, see
processors/standalone/otlp_json.py), so the same tools read either sink.

    exporters:
      file:
        path: ./var/sinks                  # traces.jsonl, metrics.jsonl, logs.jsonl in it
        # path: /data/{signal}/otlp.jsonl  # or a template
        rotation: {max_megabytes: 100, max_backups: 10}
        fsync: never                       # or always

A request is acknowledged only once its line has been written in full to the
file (``write(2)`` returned: the kernel has it; with ``fsync: always`` the disk
has it too). A failed write is truncated away and raised as a retryable
ExportError, so the sender retries and no half line stays behind.

Metrics without data points are left out, as the Collector's exporters leave
them out (silently: nothing is lost, so nothing is counted as dropped), with
the scope and resource entries they leave empty; a request with nothing left
writes no line.

JSON encoding costs about 45 µs per span (json_format is pure Python) against
well under 1 µs per span for the write, so encoding and writing both run in a
worker thread (``asyncio.to_thread``): the event loop keeps serving while a
large request is encoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Literal

from google.protobuf.message import Message
from pydantic import Field, field_validator

from processors.api import CreateSettings, Exporter, ExportError, Payload, Signal
from processors.config import ComponentConfig
from processors.registry import Factory
from processors.standalone import otlp_json

SIGNAL_PLACEHOLDER = "{signal}"
_MIB = 1024 * 1024
# lumberjack's backup names (the Collector's file exporter): traces-2006-01-02T15-04-05.000.jsonl
_BACKUP_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"


class RotationConfig(ComponentConfig):
    max_megabytes: float = Field(
        default=100, gt=0, description="Default 100. Size at which the file is renamed to a timestamped backup.")
    max_backups: int = Field(
        default=100, ge=0, description="Default 100. Backups kept per signal, newest first; 0 keeps every one.")


class FileExporterConfig(ComponentConfig):
    path: str = Field(
        min_length=1,
        description="Required. A directory that gets traces.jsonl, metrics.jsonl and logs.jsonl, "
                    "or a file path template containing {signal}.",
    )
    rotation: RotationConfig | None = Field(
        default=None, description="Default: no rotation (the files grow without limit).")
    fsync: Literal["never", "always"] = Field(
        default="never",
        description="Default never: acknowledged lines survive a crash of this process but not of the machine. "
                    "always: fsync before acknowledging (slower, survives power loss).",
    )

    @field_validator("path")
    @classmethod
    def _only_signal_in_braces(cls, path: str) -> str:
        try:
            path.format(signal="traces")
        except (KeyError, IndexError, ValueError):
            raise ValueError(f"{path!r}: the only placeholder allowed is {SIGNAL_PLACEHOLDER}") from None
        return path

    def path_for(self, signal: Signal) -> Path:
        if SIGNAL_PLACEHOLDER in self.path:
            return Path(self.path.format(signal=signal.value))
        return Path(self.path) / f"{signal.value}.jsonl"


class SignalFile:
    """One append-only JSONL file; rotation and writes under one lock."""

    def __init__(self, path: Path, rotation: RotationConfig | None, fsync: bool) -> None:
        self.path = path
        self._max_bytes = int(rotation.max_megabytes * _MIB) if rotation else None
        self._max_backups = rotation.max_backups if rotation else 0
        self._fsync = fsync
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._size = 0
        self._last_backup_ms = 0

    def append(self, data: bytes) -> None:
        with self._lock:
            if self._fd is None:
                self._open()
            if self._max_bytes is not None and self._size and self._size + len(data) > self._max_bytes:
                self._rotate()
            assert self._fd is not None
            before = self._size
            try:
                _write_all(self._fd, data)
                if self._fsync:
                    os.fsync(self._fd)
            except OSError:
                # A partial line would corrupt the file for every reader: cut it off.
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, before)
                raise
            self._size = before + len(data)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def backups(self) -> list[Path]:
        """Rotated files of this signal, oldest first (their names sort by time)."""
        pattern = f"{self.path.stem}-????-??-??T??-??-??.???{self.path.suffix}"
        return sorted(self.path.parent.glob(pattern))

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        self._size = os.fstat(self._fd).st_size

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        os.rename(self.path, self._backup_name())
        if self._max_backups:
            for old in self.backups()[: -self._max_backups]:
                old.unlink(missing_ok=True)
        self._open()

    def _backup_name(self) -> Path:
        # Names must sort in rotation order (pruning keeps the last ones): several
        # rotations within a millisecond, or a clock step back, take the next free millisecond.
        ms = max(int(time.time() * 1000), self._last_backup_ms + 1)
        while True:
            stamp = time.strftime(_BACKUP_TIME_FORMAT, time.gmtime(ms // 1000)) + f".{ms % 1000:03d}"
            candidate = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")
            if not candidate.exists():
                self._last_backup_ms = ms
                return candidate
            ms += 1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class FileExporter(Exporter):
    def __init__(self, config: FileExporterConfig, settings: CreateSettings) -> None:
        self.config = config
        self.id = settings.component_id
        self.files = {signal: SignalFile(config.path_for(signal), config.rotation, config.fsync == "always")
                      for signal in Signal}

    async def start(self) -> None:
        # Fail at startup, like the Collector's file exporter, when a file could not be written;
        # the files themselves appear with their first line, so unused signals leave none.
        for file in self.files.values():
            directory = file.path.parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RuntimeError(f"exporters.{self.id}: cannot create {directory}: {exc.strerror or exc}") from None
            if not os.access(directory, os.W_OK) or (file.path.exists() and not os.access(file.path, os.W_OK)):
                raise RuntimeError(f"exporters.{self.id}: cannot write {file.path}: permission denied")

    async def export(self, payload: Payload) -> None:
        message = payload.message  # parsed here: a malformed payload is the sender's error, not ours
        file = self.files[payload.signal]
        try:
            await asyncio.to_thread(_encode_and_append, file, payload.signal, message)
        except OSError as exc:
            raise ExportError(f"{self.id}: writing {file.path}: {exc.strerror or exc}", retryable=True) from None

    async def shutdown(self) -> None:
        for file in self.files.values():
            file.close()


def _encode_and_append(file: SignalFile, signal: Signal, message: Message) -> None:
    if signal is Signal.METRICS:
        message = without_empty_metrics(message)
        if message is None:
            return
    file.append((otlp_json.encode(signal, message) + "\n").encode("utf-8"))


def _has_points(metric: Message) -> bool:  # an opentelemetry.proto Metric
    data = metric.WhichOneof("data")
    return data is not None and len(getattr(metric, data).data_points) > 0


def without_empty_metrics(message: Message) -> Message | None:
    """``message`` itself when every metric has data points; else a pruned copy (the payload is
    shared with the other exporters, so it is not edited), or None when nothing is left."""
    metrics = [m for rm in message.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    if metrics and all(_has_points(m) for m in metrics):
        return message
    pruned = type(message)()
    for rm in message.resource_metrics:
        scopes = []
        for sm in rm.scope_metrics:
            kept = [m for m in sm.metrics if _has_points(m)]
            if kept:
                scopes.append((sm, kept))
        if not scopes:
            continue
        out_rm = pruned.resource_metrics.add(schema_url=rm.schema_url)
        out_rm.resource.CopyFrom(rm.resource)
        for sm, kept in scopes:
            out_sm = out_rm.scope_metrics.add(schema_url=sm.schema_url)
            out_sm.scope.CopyFrom(sm.scope)
            out_sm.metrics.extend(kept)
    return pruned if pruned.resource_metrics else None


FACTORY = Factory(type="file", config_model=FileExporterConfig, create=FileExporter, stability="beta")
