"""The worker's standard-library helpers: bounded output buffers, frames, and removal of a job's traces.

Like `worker.py` it runs inside the sandbox, so it imports only the standard library: the worker is shipped
as one program, this file's text followed by `worker.py`'s (`worker.shipped_source`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
from collections import deque

IPC_RMID = 0
#: SysV IPC kinds: /proc/sysvipc file, column of the owner's uid, and how to remove one by id
IPC_KINDS = (("shm", 7, "shmctl"), ("msg", 7, "msgctl"), ("sem", 4, "semctl"))


def read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(struct.pack(">I", len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


class CappedBuffer:
    """Keeps the first and last `cap // 2` bytes of a stream and counts the rest, so memory stays bounded."""

    def __init__(self, cap: int) -> None:
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_len = 0
        self.total = 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if not data:
            return
        self.tail.append(data)
        self.tail_len += len(data)
        while self.tail_len - len(self.tail[0]) >= self.tail_cap:
            self.tail_len -= len(self.tail.popleft())

    @property
    def truncated(self) -> bool:
        return self.total > self.head_cap + self.tail_cap

    def text(self) -> str:
        tail = b"".join(self.tail)[-self.tail_cap :] if self.tail else b""
        if not self.truncated:
            return (bytes(self.head) + tail).decode("utf-8", "replace")
        dropped = self.total - len(self.head) - len(tail)
        marker = f"\n... [{dropped} bytes truncated] ...\n"
        return bytes(self.head).decode("utf-8", "replace") + marker + tail.decode("utf-8", "replace")


def remove_own(root: str) -> None:
    """Delete every entry directly under `root` that our uid owns (with all it holds); run as the job's uid,
    so only the job's own files can go."""
    for path in owned_entries(root, os.getuid()):
        remove_path(path)


def remove_path(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        remove_tree(path)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def owned_entries(root: str, uid: int) -> list[str]:
    """The entries directly under `root` owned by `uid` (an unreadable root yields none)."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    found = []
    for name in names:
        path = os.path.join(root, name)
        with contextlib.suppress(OSError):
            if os.lstat(path).st_uid == uid:
                found.append(path)
    return found


def remove_ipc(uid: int) -> list[str]:
    """Remove the SysV shared memory, message queues and semaphores `uid` owns in this IPC namespace (a
    container's or bwrap's, shared by its jobs); returns those still there."""
    libc = ctypes.CDLL(None, use_errno=True)
    left = []
    for kind, column, call in IPC_KINDS:
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                rows = [line.split() for line in f.readlines()[1:]]
        except OSError:
            continue
        for row in rows:
            if len(row) > column and int(row[column]) == uid:
                ident = int(row[1])
                removed = getattr(libc, call)(ident, *((0,) if kind == "sem" else ()), IPC_RMID, None) == 0
                if not removed:
                    left.append(f"sysv {kind} {ident}")
    return left


def count_processes(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                count += os.stat(f"/proc/{entry}").st_uid == uid
    return count


def remove_tree(root: str) -> None:
    """Delete a tree the job owns, giving back permissions it took away from itself (chmod 000) on the way;
    iterative, so a very deep tree cannot exhaust the stack."""
    stack, dirs = [root], []
    while stack:
        d = stack.pop()
        with contextlib.suppress(OSError):
            if not os.path.islink(d):
                os.chmod(d, 0o700)
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        dirs.append(d)
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    os.unlink(e.path)
            except OSError:
                pass
    for d in reversed(dirs):
        with contextlib.suppress(OSError):
            os.rmdir(d)


def oom_kills() -> int:
    """The cgroup's OOM-kill counter (v1 or v2); 0 where there is no cgroup to read (the process sandbox)."""
    for path in ("/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"):
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            continue
    return 0
