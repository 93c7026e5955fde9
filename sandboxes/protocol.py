"""The host side of the worker wire format: encode a `Job` as one frame, read bounded reply frames.

Reading is done against a deadline and a size cap, so a hung or misbehaving worker can cost neither unbounded
time nor unbounded host memory: the worker itself keeps only head + tail of each output stream, and a reply
larger than a few times that cap is treated as a broken worker, not buffered.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import time
from abc import ABC, abstractmethod

from pydantic import ValidationError

from agent.kernel.errors import SandboxError
from agent.kernel.sandbox import ExecResult, Job

JSON_OVERHEAD = 1 << 20


class WorkerLost(SandboxError):
    """The worker stopped answering (EOF, deadline passed, malformed frame); the worker must be replaced."""


class WorkerDamaged(WorkerLost):
    """The worker could not set a job up (its environment was damaged, e.g. by an earlier job) and stopped.

    Never the job's own result, whatever state the worker is in when the host looks: retried elsewhere."""


def encode_job(job: Job, *, path: str, rlimit_as: bool) -> bytes:
    names: list[tuple[str, int]] = []
    blobs: list[bytes] = []
    for name, content in job.files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        names.append((name, len(data)))
        blobs.append(data)
    if job.stdin:
        blobs.append(job.stdin)
    header = {
        "command": job.command,
        "files": names,
        "stdin_size": len(job.stdin or b""),
        "env": job.env,
        "limits": job.limits.model_dump(),
        "path": path,
        "rlimit_as": rlimit_as,
    }
    head = json.dumps(header).encode()
    payload = b"".join([struct.pack(">I", len(head)), head, *blobs])
    return struct.pack(">I", len(payload)) + payload


def max_reply_bytes(job: Job) -> int:
    # Two streams, each at most output_bytes of text that is at most 3 bytes per input byte as UTF-8 JSON.
    return 6 * job.limits.output_bytes + JSON_OVERHEAD


def parse_reply(payload: bytes) -> ExecResult:
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise WorkerLost(f"sandbox worker sent a malformed reply: {exc}") from exc
    if not isinstance(data, dict):
        raise WorkerLost("sandbox worker sent a malformed reply")
    if "error" in data:
        kind = WorkerDamaged if data.get("damaged") else WorkerLost
        raise kind(f"sandbox worker failed: {data['error']}")
    try:
        return ExecResult.model_validate(data)
    except ValidationError as exc:
        raise WorkerLost(f"sandbox worker sent an invalid reply: {exc}") from exc


class ByteSource(ABC):
    """A blocking byte stream that can be read against a deadline."""

    @abstractmethod
    def fileno(self) -> int: ...

    @abstractmethod
    def read_raw(self) -> bytes:
        """Read what is available (the fd is readable); b'' means end of stream."""

    def read_some(self, deadline: float) -> bytes:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerLost("sandbox worker did not answer before the host deadline")
            ready, _, _ = select.select([self.fileno()], [], [], remaining)
            if not ready:
                continue
            try:
                return self.read_raw()
            except BlockingIOError:
                continue
            except OSError as exc:
                raise WorkerLost(f"sandbox worker connection failed: {exc}") from exc


class FrameReader:
    """Splits a byte source into length-prefixed frames."""

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self.buf = bytearray()

    def _fill(self, n: int, deadline: float) -> None:
        while len(self.buf) < n:
            chunk = self.source.read_some(deadline)
            if not chunk:
                raise WorkerLost("sandbox worker closed its output (it or its container died)")
            self.buf += chunk

    def read_frame(self, deadline: float, max_size: int) -> bytes:
        self._fill(4, deadline)
        (size,) = struct.unpack(">I", self.buf[:4])
        if size > max_size:
            raise WorkerLost(f"sandbox worker sent a {size}-byte reply (cap {max_size})")
        self._fill(4 + size, deadline)
        frame = bytes(self.buf[4 : 4 + size])
        del self.buf[: 4 + size]
        return frame


class FdSource(ByteSource):
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def read_raw(self) -> bytes:
        return os.read(self.fd, 1 << 20)


class DockerStreamSource(ByteSource):
    """The stdout frames of a docker attach socket (no TTY: 8-byte headers multiplex stdout and stderr)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.raw = bytearray()

    def fileno(self) -> int:
        return self.sock.fileno()

    def read_raw(self) -> bytes:
        return self.sock.recv(1 << 20)

    def read_some(self, deadline: float) -> bytes:
        """Return demultiplexed stdout bytes; loops while only partial frames or stderr have arrived."""
        while True:
            chunk = super().read_some(deadline)
            if not chunk:
                return b""
            self.raw += chunk
            out = bytearray()
            while len(self.raw) >= 8:
                (size,) = struct.unpack(">I", self.raw[4:8])
                if len(self.raw) < 8 + size:
                    break
                if self.raw[0] == 1:
                    out += self.raw[8 : 8 + size]
                del self.raw[: 8 + size]
            if out:
                return bytes(out)
