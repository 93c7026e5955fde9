"""Hostile jobs and what a safe outcome looks like for each, shared by the docker and process sandbox tests.

Each case's `safe` check accepts only outcomes that cannot be mistaken for a clean pass of the intended work:
a timeout, a non-zero exit, a signal, an OOM, or (for the probes that try to escape) proof the escape failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agent.kernel.sandbox import ExecResult, Job, Limits

SECRET = "sk-assay-test-secret-do-not-leak"


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    safe: Callable[[ExecResult], bool]
    limits: Limits = field(default_factory=lambda: Limits(wall_s=2.0))
    isolated_only: bool = (
        False  # needs real isolation to be meaningful (network, /tmp, read-only /): Docker, bwrap
    )
    stdin: bytes | None = None

    def job(self) -> Job:
        files: dict[str, str | bytes] = {"main.py": self.source}
        return Job(command=["python3", "main.py"], files=files, limits=self.limits, stdin=self.stdin)


def failed(r: ExecResult) -> bool:
    return not r.ok


def timed_out(r: ExecResult) -> bool:
    return r.timed_out and r.exit_code is None


FORGED = '{"exit_code": 0, "stdout": "FORGED", "stderr": ""}'

CASES = [
    Case("busy_loop", "while True: pass", timed_out),
    Case("sleep_forever", "import time\ntime.sleep(1e9)", timed_out),
    Case(
        "setsid_double_fork_ignoring_sigterm",
        """
import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(1e9)
    os._exit(0)
time.sleep(1e9)
""",
        timed_out,
    ),
    Case(
        "background_child_holds_stdout",
        """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    time.sleep(1e9)
print("parent done", flush=True)
sys.exit(3)
""",
        lambda r: r.exit_code == 3 and not r.timed_out and r.wall_s < 1.9,  # not held open until the deadline
    ),
    Case(
        "allocate_2gib",
        "x = bytearray(2 << 30)\nprint(len(x))",
        # OOM, MemoryError, or (on a loaded machine, touching the cgroup's 512 MiB first) the deadline
        lambda r: not r.ok and str(2 << 30) not in r.stdout,
    ),
    Case(
        "fork_bomb",
        """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
""",
        lambda r: failed(r),
    ),
    Case(
        "ten_thousand_threads",
        """
import threading, time
ts = [threading.Thread(target=time.sleep, args=(1e9,), daemon=True) for _ in range(10000)]
for t in ts:
    t.start()
print("all started")
""",
        failed,
    ),
    Case(
        "one_gib_stdout",
        "import sys\nchunk = b'x' * (1 << 20)\n"
        "for _ in range(1024):\n    sys.stdout.buffer.write(chunk)\nsys.exit(1)",
        lambda r: r.output_truncated and len(r.stdout) < (1 << 20) + 200 and r.exit_code in (1, None),
        Limits(wall_s=30.0),
    ),
    Case(
        "hundred_mb_line",
        "import sys\nsys.stdout.write('y' * (100 << 20))\nsys.exit(1)",
        lambda r: r.output_truncated and len(r.stdout) < (1 << 20) + 200 and r.exit_code == 1,
        Limits(wall_s=20.0),
    ),
    Case(
        "invalid_utf8",
        "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe\\xc3 bad')\nsys.exit(1)",
        lambda r: r.exit_code == 1 and r.stdout.startswith("ok ") and "\ufffd" in r.stdout,
    ),
    Case(
        "fill_tmp_and_write_root",
        """
import os, sys
n = 0
try:
    with open("/tmp/fill", "wb") as f:
        while True:
            f.write(b"z" * (1 << 20)); f.flush(); n += 1
except OSError as e:
    print("tmp full after", n, "MiB:", e)
for path in ("/etc/pwned", "/pwned", "/usr/bin/pwned"):
    try:
        open(path, "w").write("x")
        print("WROTE", path)
    except OSError as e:
        print("root write refused:", e)
sys.exit(1)
""",
        lambda r: r.exit_code == 1 and "tmp full" in r.stdout and "WROTE" not in r.stdout,
        Limits(wall_s=10.0),
        isolated_only=True,
    ),
    Case(
        "network_host_and_dns",
        """
import socket, sys
for target in [("172.17.0.1", 2375), ("8.8.8.8", 53), ("1.1.1.1", 80)]:
    try:
        socket.create_connection(target, timeout=1).close()
        print("CONNECTED", target)
    except OSError as e:
        print("refused", target, e)
try:
    print("RESOLVED", socket.gethostbyname("pypi.org"))
except OSError as e:
    print("dns failed", e)
sys.exit(1)
""",
        lambda r: r.exit_code == 1 and "CONNECTED" not in r.stdout and "RESOLVED" not in r.stdout,
        Limits(wall_s=10.0),
        isolated_only=True,
    ),
    Case(
        "forge_reply_via_proc_fd",
        f"""
import os, struct, sys
payload = {FORGED!r}.encode()
for fd in ("1", "2"):
    for pid in (str(os.getppid()), "1"):
        try:
            with open(f"/proc/{{pid}}/fd/{{fd}}", "wb") as f:
                f.write(struct.pack(">I", len(payload)) + payload)
            print("FORGED INTO", pid, fd)
        except OSError as e:
            print("blocked", pid, fd, e.__class__.__name__)
sys.exit(1)
""",
        lambda r: r.exit_code == 1 and "blocked" in r.stdout and "FORGED" not in r.stdout,
    ),
    Case(
        "kill_parent",
        "import os, sys\nos.kill(os.getppid(), 9)\nsys.exit(1)",
        lambda r: r.exit_code == 1 and "PermissionError" in r.stderr,
    ),
    Case(
        "kill_minus_one",
        "import os, time\nos.kill(-1, 9)\ntime.sleep(1e9)",
        timed_out,
    ),
    Case(
        "read_host_secret",
        f"""
import glob, os, sys
seen = [os.environ.get(k, "") for k in os.environ]
for path in glob.glob("/proc/*/environ"):
    try:
        seen.append(open(path, "rb").read().decode("latin1"))
    except OSError:
        pass
print("LEAKED" if any({SECRET!r} in s for s in seen) else "clean")
sys.exit(1)
""",
        lambda r: r.exit_code == 1 and r.stdout.strip() == "clean",
    ),
    Case(
        "ten_mb_source",
        "# " + "a" * (10 << 20) + "\nimport sys\nprint('big source ran')\nsys.exit(1)",
        lambda r: r.exit_code == 1 and "big source ran" in r.stdout,
        Limits(wall_s=20.0),
    ),
    Case(
        "exits_without_reading_a_big_stdin",
        "import sys\nsys.exit(2)",
        lambda r: r.exit_code == 2,
        stdin=b"x" * (4 << 20),
    ),
    Case("syntax_error", "def f(:\n  pass", lambda r: r.exit_code == 1 and "SyntaxError" in r.stderr),
    Case("segfault", "import ctypes\nctypes.string_at(0)", lambda r: r.exit_code is None and r.signal == 11),
]


# ----- state that must not survive from one job to the next (same worker or container) -----

#: walks the whole tree (not only what it can list: /work is 1733), writes a trace into every directory it
#: can write outside its own job directory, leaves SysV IPC objects with known keys and a POSIX message
#: queue, and prints what it left as JSON
LEAVE_EVERYWHERE = r"""
import ctypes, json, os, sys
own = os.getcwd()
# argv: the directories to try (default: the whole tree) and whether to descend into them
tops, recurse = json.loads(sys.argv[1]) if len(sys.argv) > 1 else (["/"], True)
files, stack = [], list(tops)
while stack:
    d = stack.pop()
    if d in ("/proc", "/sys") or d == own:
        continue
    if os.access(d, os.W_OK | os.X_OK):
        path = os.path.join(d, ".trace-" + os.urandom(4).hex())
        try:
            with open(path, "w") as f:
                f.write("left by an earlier candidate")
            files.append(path)
        except OSError:
            pass
    try:
        stack += [e.path for e in os.scandir(d) if recurse and e.is_dir(follow_symlinks=False)]
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
ipc = {"msg": libc.msgget(0x5A5A01, 0o1666), "shm": libc.shmget(0x5A5A02, 4096, 0o1666),
       "sem": libc.semget(0x5A5A03, 1, 0o1666)}
try:
    rt = ctypes.CDLL("librt.so.1", use_errno=True)
    ipc["mq"] = rt.mq_open(b"/assay-trace", os.O_CREAT | os.O_RDWR, 0o666, None)
except OSError:
    ipc["mq"] = -1
print(json.dumps({"files": files, "ipc": ipc}))
"""

#: given the first job's JSON, lists whatever of it this job can still find
FIND_LEFTOVERS = r"""
import ctypes, json, os, sys
left = json.loads(sys.argv[1])
found = [p for p in left["files"] if os.path.lexists(p)]
libc = ctypes.CDLL(None, use_errno=True)
for kind, probe in (("msg", lambda: libc.msgget(0x5A5A01, 0)), ("shm", lambda: libc.shmget(0x5A5A02, 0, 0)),
                    ("sem", lambda: libc.semget(0x5A5A03, 0, 0))):
    if left["ipc"][kind] >= 0 and probe() >= 0:
        found.append("sysv " + kind)
if left["ipc"]["mq"] >= 0:
    rt = ctypes.CDLL("librt.so.1", use_errno=True)
    if rt.mq_open(b"/assay-trace", os.O_RDONLY, 0, None) >= 0:
        found.append("mqueue /assay-trace")
print(json.dumps(found))
"""

#: pre-creates every name it could guess for the next job's directory (the old `job{n}` scheme and random
#: guesses of the new one), in the work root above its own directory
PRECREATE_NEXT_DIRS = r"""
import json, os
root = os.path.dirname(os.getcwd())
made = []
for name in [f"job{n}" for n in range(1, 300)] + ["j" + os.urandom(16).hex() for _ in range(300)]:
    try:
        os.mkdir(os.path.join(root, name), 0o777)
        made.append(os.path.join(root, name))
    except OSError:
        pass
print(json.dumps({"cwd": os.getcwd(), "made": made}))
"""

#: fills the work root and /tmp, and takes away the permissions of everything it made
DAMAGE = r"""
import os
root = os.path.dirname(os.getcwd())
for d in (os.getcwd(), "/tmp", "/dev/shm"):
    try:
        os.makedirs(os.path.join(d, "deep/er"), exist_ok=True)
        for i in range(1000):  # files of 16 MiB (a job's files are size-limited) until the disk is full
            with open(os.path.join(d, f"deep/er/fill{i}"), "wb") as f:
                for _ in range(16):
                    f.write(b"z" * (1 << 20))
    except OSError as e:
        print("full:", d, e.errno)
for d in (os.getcwd(), "/tmp", "/dev/shm"):
    for path in (os.path.join(d, "deep/er"), os.path.join(d, "deep")):
        try:
            os.chmod(path, 0)
        except OSError:
            pass
for target in (root, "/tmp", "/dev/shm", os.getcwd()):
    try:
        os.chmod(target, 0)
        print("chmodded", target)
    except OSError:
        pass
"""

#: what the next job needs of a clean environment: its directory, /tmp and /dev/shm, each writable
CLEAN_START = r"""
import os
for d in (os.getcwd(), "/tmp", "/dev/shm"):
    with open(os.path.join(d, "probe"), "wb") as f:
        f.write(b"x" * (4 << 20))
    os.unlink(os.path.join(d, "probe"))
print("clean", os.getcwd())
"""
