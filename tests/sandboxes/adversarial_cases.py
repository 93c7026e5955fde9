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
    docker_only: bool = False  # needs the container's isolation to be meaningful (network, /tmp, read-only /)
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
        lambda r: r.oom or (r.exit_code not in (0, None)),
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
        docker_only=True,
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
        docker_only=True,
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
