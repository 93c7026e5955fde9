"""The candidate in a process of its own: the trusted side (`Peer`) and the candidate's side (`serve`).

Threat model. A reward or a loss is code the model wrote, and a model that searches long enough will find
any path from that code to the training that judges it: replace the trainer's `train` through
`sys.modules`, patch the optimiser, edit the trainer's config through stack frames, write a forged result
line on a duplicated stdout descriptor, train extra seeds itself. All of these need the candidate and the
trainer to share a process. Here they do not:

- the trusted program (the trainer, the simulator, the seeds, the model, the result channel) stays in the
  job's main process, made non-dumpable (`PR_SET_DUMPABLE 0`), so a process of the same uid can neither
  ptrace it nor open its `/proc/<pid>/{mem,fd,environ}`; its config arrives on stdin (never in a file)
  and it reads no file and imports no module from the job directory after the candidate starts;
- the candidate runs in a fresh interpreter (`python3 -I`, exec'd, so it inherits no memory of the trusted
  process), in a directory of its own holding only what it may read, with a clean environment, no
  descriptor but the two pipes of this protocol and stderr, a CPU budget (RLIMIT_CPU, the same on every
  split, so it says nothing about which one is judging) and, where the job runs as root, its own uid;
- the only thing that crosses is arrays: the trusted side sends inputs and reads back arrays whose dtype,
  shape and size it checks before it believes them (`read_message` bounds every length before reading).

The candidate can still lie in its replies (any value of the right shape), and that is the point: a reward
or a loss *is* the values it returns. What it cannot do is decide what the trainer does with them.

Wire format, both ways: 4-byte big-endian length of a JSON header, the header, then the raw bytes of the
arrays the header lists as `[dtype, shape]`. This file imports only the standard library and numpy.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import os
import resource
import select
import shutil
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

PR_SET_DUMPABLE = 4
#: the dtypes an array may have on the wire; anything else (object arrays above all) is refused
DTYPES = ("float64", "float32", "int64", "int32", "bool")
MAX_HEADER = 1 << 16
MAX_NDIM = 4
#: uid and gid the candidate drops to when the trusted side runs as root
NOBODY = 65534
#: the candidate's source is copied into its own directory under this name (tracebacks point at it)
CANDIDATE_FILE = "candidate.py"


class CandidateFault(Exception):
    """The candidate's process broke the protocol, raised, exceeded its budget or died: its own verdict."""


class CandidateRaised(CandidateFault):
    """The candidate's code raised; `traceback` is its own frames, for the model."""

    def __init__(self, message: str, tb: str) -> None:
        super().__init__(message)
        self.traceback = tb


# ----- the wire -------------------------------------------------------------------------------------------
def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def write_message(fd: int, header: dict[str, Any], arrays: Sequence[np.ndarray] = ()) -> None:
    blobs = [np.require(a, requirements="C") for a in arrays]  # (ascontiguousarray makes 0-d arrays 1-d)
    head = dict(header, arrays=[[str(a.dtype), list(a.shape)] for a in blobs])
    raw = json.dumps(head, separators=(",", ":")).encode()
    view = memoryview(b"".join([struct.pack(">I", len(raw)), raw, *(a.tobytes() for a in blobs)]))
    while view:
        view = view[os.write(fd, view) :]


def _array_specs(specs: object, max_bytes: int) -> list[tuple[str, tuple[int, ...], int]]:
    """Validate the header's array list before a byte of the arrays is read."""
    if not isinstance(specs, list) or len(specs) > 64:
        raise CandidateFault("the reply's array list is malformed")
    out, total = [], 0
    for spec in specs:
        ok = isinstance(spec, list) and len(spec) == 2 and spec[0] in DTYPES and isinstance(spec[1], list)
        shape = spec[1] if ok else []
        if not ok or len(shape) > MAX_NDIM or not all(type(d) is int and 0 <= d < 1 << 31 for d in shape):
            raise CandidateFault(f"the reply has a malformed array ({str(spec)[:80]})")
        size = math.prod(shape) * np.dtype(spec[0]).itemsize
        total += size
        if total > max_bytes:
            raise CandidateFault(f"the reply is larger than {max_bytes} bytes")
        out.append((spec[0], tuple(shape), size))
    return out


def read_message(
    fd: int, max_bytes: int, deadline: float | None = None
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """One message, every length bounded before it is read (EOFError, TimeoutError or CandidateFault)."""
    (n,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if n > MAX_HEADER:
        raise CandidateFault(f"the reply header is {n} bytes (at most {MAX_HEADER})")
    try:
        header = json.loads(_read_exact(fd, n, deadline))
    except (ValueError, RecursionError):
        raise CandidateFault("the reply header is not JSON") from None
    if not isinstance(header, dict):
        raise CandidateFault("the reply header is not an object")
    arrays = []
    for dtype, shape, size in _array_specs(header.get("arrays", []), max_bytes):
        data = _read_exact(fd, size, deadline) if size else b""
        arrays.append(np.frombuffer(data, dtype=dtype).reshape(shape))
    return header, arrays


# ----- the trusted side -------------------------------------------------------------------------------------
def harden() -> None:
    """Make the trusted process unreachable from a same-uid candidate and deaf to the job directory.

    Called after the trusted program imported everything it needs and read its config: from here on no
    import may resolve into the job directory (a candidate could write a `json.py` there)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    here = {os.getcwd(), os.path.dirname(os.path.abspath(sys.argv[0] or ".")), "", "."}
    sys.path[:] = [p for p in sys.path if p not in here and os.path.abspath(p) not in here]
    sys.path_importer_cache.clear()
    sys.dont_write_bytecode = True


def derive_seed(salt: str, seed: int) -> int:
    """The seed a trainer really uses: a keyed hash of the named seed, so a candidate that knows the seed
    lists (they are in assay's source) cannot match what it observes to a seed, and with it to a split."""
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{salt}:{seed}".encode()).digest()[:4], "big")


def read_config() -> dict[str, Any]:
    """The trusted program's config, from stdin: nothing in the job directory says which seeds or split."""
    config = json.loads(sys.stdin.buffer.read())
    if not isinstance(config, dict):
        raise ValueError("the job's config is not an object")
    return config


class Peer:
    """One candidate process, started fresh (one per seed: nothing survives from one training to the next)."""

    def __init__(
        self,
        server: str,
        files: dict[str, str],
        init: dict[str, Any],
        *,
        cpu_s: int,
        max_reply_bytes: int = 64 << 20,
        call_timeout_s: float | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.max_reply_bytes = max_reply_bytes
        self.call_timeout_s = call_timeout_s
        self.cpu_s = cpu_s
        self.home = _private_dir(files)
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        clean = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": self.home}
        clean.update(env or {})
        root = os.getuid() == 0 and _reachable_by_others(sys.executable)
        if root:
            os.chown(self.home, NOBODY, NOBODY)
            for name in os.listdir(self.home):
                os.chown(os.path.join(self.home, name), NOBODY, NOBODY)
        server_path = os.path.join(self.home, server)
        argv = [sys.executable, "-I", "-B", server_path, str(to_child_r), str(from_child_w), str(cpu_s)]
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=2,  # what the candidate prints is feedback at most, never the result channel
            cwd=self.home,
            env=clean,
            pass_fds=(to_child_r, from_child_w),
            close_fds=True,
            user=NOBODY if root else None,
            group=NOBODY if root else None,
            extra_groups=[] if root else None,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        try:
            self.info = self._request({"op": "init", "init": init}, (), startup=True)[0]
        except BaseException:
            self.close()  # no process or private directory outlives a candidate that failed to start
            raise

    def call(self, arrays: Sequence[np.ndarray], **header: Any) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Send inputs, return the (still untrusted, but well-formed) reply."""
        return self._request({"op": "call", **header}, arrays)

    def _request(
        self, header: dict[str, Any], arrays: Sequence[np.ndarray], startup: bool = False
    ) -> tuple[dict[str, Any], list[np.ndarray]]:
        timeout = self.call_timeout_s if not startup else None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            write_message(self._to_child, header, arrays)
            reply, out = read_message(self._from_child, self.max_reply_bytes, deadline)
        except (EOFError, BrokenPipeError):
            raise CandidateFault(self._died()) from None
        except TimeoutError:
            self.close()
            raise CandidateFault(f"the candidate did not answer within {timeout:g} s") from None
        if "exception" in reply:
            tb = str(reply.get("traceback", ""))[:8000]
            raise CandidateRaised(str(reply["exception"])[:2000], tb)
        if "fault" in reply:
            raise CandidateFault(str(reply["fault"])[:2000])
        return reply, out

    def _died(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.close()
            return "the candidate's process stopped answering"
        if code == -24 or (code == -9 and self._cpu_used() >= self.cpu_s):  # SIGXCPU, then SIGKILL past hard
            return f"the candidate used more than its {self.cpu_s} s of CPU time"
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        return f"the candidate's process ended ({how})"

    def _cpu_used(self) -> float:
        with contextlib.suppress(OSError, ValueError):
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime
        return 0.0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._to_child)
        with contextlib.suppress(OSError):
            os.close(self._from_child)
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _reachable_by_others(path: str) -> bool:
    """Whether another uid could run this interpreter (every directory on its real path searchable)."""
    real = os.path.realpath(path)
    parts = [real]
    while os.path.dirname(parts[-1]) != parts[-1]:
        parts.append(os.path.dirname(parts[-1]))
    try:
        return all(os.stat(p).st_mode & 0o001 for p in parts)
    except OSError:
        return False


def _private_dir(files: dict[str, str]) -> str:
    """A fresh directory with only the files the candidate may read (its source and the server)."""
    import tempfile

    home = tempfile.mkdtemp(prefix="cand-", dir=os.getcwd())
    for name, text in files.items():
        with open(os.path.join(home, name), "w", encoding="utf-8") as f:
            f.write(text)
    os.chmod(home, 0o755)
    return home


# ----- the candidate's side ---------------------------------------------------------------------------------
def candidate_traceback(limit: int = 4000) -> str:
    """The current exception's traceback from the candidate's first frame on (the server's are noise)."""
    exc_type, exc, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    first = next((i for i, f in enumerate(frames) if f.filename.endswith(CANDIDATE_FILE)), 0)
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames[first:])]
    lines += traceback.format_exception_only(exc_type, exc)
    text = "".join(lines)
    return text if len(text) <= limit else text[:1000] + "\n...\n" + text[-(limit - 1000) :]


def load_candidate(namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute the candidate's source as module `candidate` in a namespace seeded with `namespace`."""
    import types

    with open(CANDIDATE_FILE, encoding="utf-8") as f:
        source = f.read()
    module = types.ModuleType("candidate")
    module.__file__ = os.path.abspath(CANDIDATE_FILE)
    module.__dict__.update(namespace or {})
    sys.modules["candidate"] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module.__dict__


def limit_cpu(seconds: int) -> None:
    """RLIMIT_CPU of `seconds` (hard limit one more, so SIGXCPU comes first), never above the hard limit
    this process inherited: the job's own limit may be lower, and raising a hard limit is refused."""
    _, inherited = resource.getrlimit(resource.RLIMIT_CPU)
    hard = seconds + 1 if inherited == resource.RLIM_INFINITY else min(seconds + 1, inherited)
    resource.setrlimit(resource.RLIMIT_CPU, (min(seconds, hard), hard))


Handler = Callable[[dict[str, Any], list[np.ndarray]], tuple[dict[str, Any], list[np.ndarray]]]


def serve(setup: Callable[[dict[str, Any]], tuple[Handler, dict[str, Any]]]) -> None:
    """The candidate process's loop: `setup(init)` loads the candidate and returns the handler of calls.

    Runs as `python3 -I server.py <in-fd> <out-fd> <cpu-s>`; the budget is applied before any candidate code
    runs, with a hard limit it cannot raise."""
    fd_in, fd_out, cpu = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    limit_cpu(cpu)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.stdout = sys.stderr
    try:
        header, _ = read_message(fd_in, 1 << 20)
    except (EOFError, CandidateFault):
        return
    try:
        handler, info = setup(header.get("init") or {})
    except CandidateFault as e:
        write_message(fd_out, {"fault": str(e)})
        return
    except BaseException as e:
        write_message(fd_out, {"exception": f"{type(e).__name__}: {e}", "traceback": candidate_traceback()})
        return
    write_message(fd_out, {"ready": True, **info})
    while True:
        try:
            header, arrays = read_message(fd_in, 1 << 30)
        except (EOFError, CandidateFault):
            return
        try:
            reply, out = handler(header, arrays)
        except CandidateFault as e:
            reply, out = {"fault": str(e)}, []
        except BaseException as e:
            reply = {"exception": f"{type(e).__name__}: {e}", "traceback": candidate_traceback()}
            out = []
        write_message(fd_out, reply, out)
