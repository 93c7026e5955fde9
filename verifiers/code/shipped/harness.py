"""The grading harness that runs *inside* the sandbox; standard library only, shipped into each job as a file.

One job runs two processes (see `verifiers/code/verifier.py` for the threat model):

- the **grader** (`python -I harness.py grade`): started by the sandbox, reads its secret nonce and the test
  spec from stdin (never from disk, so the candidate cannot read the held-out tests), makes itself
  non-dumpable (so a same-user process cannot read its memory, ptrace it or open its `/proc/<pid>/fd/1`),
  then starts the candidate in a second process and runs the tests. The grader never executes candidate code:
  it calls the candidate through `_Proxy`, which ships arguments over a pipe and gets back only plain values
  (None, bool, int, float, str, bytes, complex, list, tuple, dict, set, frozenset) decoded from JSON, so
  an object whose `__eq__` is always true cannot even cross the boundary. At the end it writes one line,
  `ASSAY-RESULT <nonce> <json>`, to its own stdout, which the candidate never holds.
- the **server** (`python harness.py serve ...`): runs the problem's prelude and the candidate, then answers
  calls. Everything in it is candidate-controlled, so nothing it says is trusted beyond "these are the values
  the candidate returns" and "this is the traceback it shows" (feedback only).
"""

from __future__ import annotations

import builtins
import json
import math
import os
import select
import subprocess
import sys
import time
import traceback
from typing import Any

RESULT_MARK = "ASSAY-RESULT"
MAX_REPLY_BYTES = 16 << 20
MAX_VALUE_BYTES = 256 << 10
MAX_SHOWN = 300

# ---------------------------------------------------------------------------------------------- wire values


def encode(value: Any, depth: int = 0) -> Any:
    """A JSON-able form of a plain value; raises TypeError for anything else (custom classes, generators)."""
    if depth > 200:
        raise TypeError("value is nested too deeply")
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float:
        if math.isfinite(value):
            return value
        return {"float": repr(value)}
    if t is list:
        return [encode(v, depth + 1) for v in value]
    if t is tuple:
        return {"tuple": [encode(v, depth + 1) for v in value]}
    if t is dict:
        return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if t is set or t is frozenset:
        return {t.__name__: [encode(v, depth + 1) for v in value]}
    if t is bytes:
        return {"bytes": value.hex()}
    if t is complex:
        return {"complex": [value.real, value.imag]}
    # Lenient for honest candidates (numpy scalars and arrays, int/float subclasses): the result is still
    # rebuilt from plain values, so whatever the object's methods do, only a plain value crosses the pipe.
    if isinstance(value, float):
        return encode(float(value), depth + 1)
    if isinstance(value, int):
        return encode(int(value), depth + 1)
    if callable(getattr(type(value), "tolist", None)):
        return encode(value.tolist(), depth + 1)
    raise TypeError(f"a value of type {t.__name__} cannot be returned; return plain Python values")


def decode(data: Any, depth: int = 0) -> Any:
    """The plain value of an `encode`d form; strict, so malformed input raises ValueError."""
    if depth > 200:
        raise ValueError("value is nested too deeply")
    t = type(data)
    if data is None or t is bool or t is int or t is str or t is float:
        return data
    if t is list:
        return [decode(v, depth + 1) for v in data]
    if t is dict and len(data) == 1:
        ((tag, body),) = data.items()
        if tag == "float" and body in ("inf", "-inf", "nan"):
            return float(body)
        if tag == "tuple" and type(body) is list:
            return tuple(decode(v, depth + 1) for v in body)
        if tag == "dict" and type(body) is list and all(type(p) is list and len(p) == 2 for p in body):
            return {decode(k, depth + 1): decode(v, depth + 1) for k, v in body}
        if tag in ("set", "frozenset") and type(body) is list:
            items = [decode(v, depth + 1) for v in body]
            return set(items) if tag == "set" else frozenset(items)
        if tag == "bytes" and type(body) is str:
            return bytes.fromhex(body)
        if tag == "complex" and type(body) is list and len(body) == 2:
            return complex(float(body[0]), float(body[1]))
    raise ValueError(f"malformed value {str(data)[:80]!r}")


def same(a: Any, b: Any) -> bool:
    """Python equality on plain values, except that floats need only agree to ~1e-6 (printed examples)."""
    num = (int, float)
    if type(a) in num and type(b) in num and (type(a) is float or type(b) is float):
        return a == b or math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if type(a) in (list, tuple) and type(a) is type(b):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict and type(b) is dict:
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 20] + f"... ({len(text)} chars)"


# ---------------------------------------------------------------------------------------------- the server


MAX_OWN_FRAMES = 8


def _candidate_traceback(exc: BaseException, own: tuple[str, ...] = ()) -> str:
    """The traceback as the model needs it to fix its code: its own frames (the files in `own`: the
    candidate and the public prelude) in full, each run of library frames (numpy, scipy, the standard
    library) collapsed to one line naming the last of them, the harness's frames dropped. A library's
    internals are noise to a model that can only change its own lines, and a deep scipy stack would
    otherwise push the candidate's failing line out of the shown window."""
    lines: list[str] = []
    skipped: list[traceback.FrameSummary] = []

    def flush() -> None:
        if skipped:
            last = skipped[-1]
            where = f"{last.filename}, line {last.lineno}, in {last.name}"
            lines.append(f"  ... {len(skipped)} frame(s) in library code, the last: {where}\n")
            skipped.clear()

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.endswith("harness.py")]
    mine = [i for i, f in enumerate(frames) if f.filename in own]
    keep = set(mine[:2] + mine[-MAX_OWN_FRAMES:]) if own else set(range(len(frames)))
    cut = len(mine) - len(keep & set(mine))
    for i, frame in enumerate(frames):
        if i in keep:
            flush()
            if cut and i == mine[-MAX_OWN_FRAMES]:
                lines.append(f"  ... {cut} more frame(s) of your code (recursion?) ...\n")
            lines.extend(traceback.format_list([frame]))
        elif frame.filename not in own:
            skipped.append(frame)
    flush()
    lines += traceback.format_exception_only(type(exc), exc)
    text = "".join(lines)
    return text if len(text) <= 2000 else text[:900] + "\n...\n" + text[-900:]


def serve(candidate_file: str, prelude_file: str, entry_point: str) -> None:
    # Started with -S: site's .pth processing costs ~100 ms in a big venv; the packages stay importable.
    import site

    sys.path.extend(p for p in site.getsitepackages() if p not in sys.path)
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)  # the candidate's prints go to stderr, never into the protocol

    def send(msg: dict[str, Any]) -> None:
        proto_out.write(json.dumps(msg).encode() + b"\n")
        proto_out.flush()

    ns: dict[str, Any] = {"__name__": "__candidate__", "__builtins__": builtins}
    own = tuple(f for f in (candidate_file, prelude_file) if f)
    stub = None
    try:
        if prelude_file:
            with open(prelude_file, encoding="utf-8") as f:
                exec(compile(f.read(), prelude_file, "exec"), ns)
            stub = ns.get(entry_point)
        with open(candidate_file, encoding="utf-8", errors="replace") as f:
            code = compile(f.read(), candidate_file, "exec")
    except SyntaxError as exc:
        send({"load": "syntax", "error": "".join(traceback.format_exception_only(type(exc), exc))})
        return
    try:
        exec(code, ns)
    except BaseException as exc:
        send({"load": "error", "error": _candidate_traceback(exc, own)})
        return
    fn = ns.get(entry_point)
    if fn is None or fn is stub or not callable(fn):
        send({"load": "missing", "error": f"the code does not define a function `{entry_point}`"})
        return
    send({"load": "ok"})
    for line in proto_in:
        request = json.loads(line)
        args, kwargs = decode(request["args"]), decode(request["kwargs"])
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:
            send({"raise": f"{type(exc).__name__}: {exc}"[:MAX_SHOWN], "tb": _candidate_traceback(exc, own)})
            continue
        try:
            send({"ok": encode(value)})
        except (TypeError, ValueError, RecursionError) as exc:
            send({"raise": f"TypeError: {exc}", "tb": ""})


# ---------------------------------------------------------------------------------------------- the grader


class CandidateGone(BaseException):
    """The candidate process died or stopped answering; a BaseException so test code cannot swallow it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "died" | "timeout" | "protocol"


class CandidateRaised(Exception):
    """The candidate's function raised; test code sees an ordinary exception, as in a normal test run."""

    def __init__(self, message: str, tb: str) -> None:
        super().__init__(message)
        self.tb = tb


class _Proxy:
    """Stands in for the candidate's function inside the grader: every call is a round trip to the server."""

    def __init__(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        self.proc = proc
        self.deadline = deadline
        self.buffer = b""
        self.calls = 0

    def status(self) -> int | None:
        """The candidate's exit status once it hung up; None if it hung up the pipe but lives on."""
        try:
            return self.proc.wait(timeout=max(0.1, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None  # killed when grading ends

    def read(self) -> dict[str, Any]:
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        chunks, size = [self.buffer], len(self.buffer)
        while b"\n" not in chunks[-1]:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise CandidateGone("timeout", "the candidate ran past the time limit")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise CandidateGone(
                    "died", f"the candidate's process exited (status {self.status()}) before answering"
                )
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                raise CandidateGone("protocol", "the candidate returned a value larger than 16 MiB")
        line, self.buffer = b"".join(chunks).split(b"\n", 1)
        try:
            msg = json.loads(line)
            if type(msg) is not dict:
                raise ValueError("not an object")
        except ValueError as exc:
            raise CandidateGone("protocol", f"the candidate corrupted the test protocol ({exc})") from None
        return msg

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        request = json.dumps({"args": encode(list(args)), "kwargs": encode(kwargs)}).encode() + b"\n"
        try:
            self.proc.stdin.write(request)  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            raise CandidateGone("died", f"the candidate's process exited (status {self.status()})") from None
        msg = self.read()
        if "raise" in msg:
            raise CandidateRaised(str(msg["raise"]), str(msg.get("tb", "")))
        if "ok" not in msg:
            raise CandidateGone("protocol", "the candidate corrupted the test protocol")
        try:
            return decode(msg["ok"])
        except (ValueError, RecursionError) as exc:
            raise CandidateGone("protocol", f"the candidate corrupted the test protocol ({exc})") from None


def _make_nondumpable() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass


def _failure(exc: BaseException, case: dict[str, Any], ns: dict[str, Any]) -> dict[str, Any]:
    """What a failed case reports: the error, the failing test line, and for `assert a == b` both sides."""
    out: dict[str, Any] = {"passed": False}
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in ("<tests>", "<case>")]
    if frames and frames[-1].line:
        out["line"] = frames[-1].line.strip()
    if isinstance(exc, CandidateRaised):
        out["error"] = f"raised {exc}"
        out["tb"] = exc.tb
        return out
    if isinstance(exc, AssertionError):
        out["error"] = "assertion failed" + (f": {exc}" if str(exc) else "")
    else:
        out["error"] = f"the test raised {type(exc).__name__}: {exc}"[:MAX_SHOWN]
    if case["kind"] == "stmt":
        import ast

        try:
            node = ast.parse(case["code"]).body
            if len(node) == 1 and isinstance(node[0], ast.Assert) and isinstance(node[0].test, ast.Compare):
                test = node[0].test
                if len(test.comparators) == 1:
                    out["got"] = shown(eval(ast.unparse(test.left), ns))
                    out["expected"] = shown(eval(ast.unparse(test.comparators[0]), ns))
        except CandidateGone:
            raise
        except BaseException:
            pass
    return out


def _run_case(case: dict[str, Any], ns: dict[str, Any]) -> dict[str, Any]:
    kind = case["kind"]
    try:
        if kind == "value":
            expected = eval(case["expected"], ns)
            got = eval(case["code"], ns)
            return {"passed": same(got, expected), "got": shown(got), "expected": shown(expected)}
        if kind == "call":
            got = eval(case["code"], ns)
            value = json.dumps(encode(got))
            if len(value) > MAX_VALUE_BYTES:
                return {"passed": False, "error": f"the returned value is too large ({len(value)} bytes)"}
            return {"passed": True, "value": value, "got": shown(got)}
        import linecache

        linecache.cache["<case>"] = (0, None, case["code"].splitlines(True), "<case>")
        exec(compile(case["code"], "<case>", "exec"), ns)
        return {"passed": True}
    except CandidateGone:
        raise
    except Exception as exc:
        return _failure(exc, case, ns)


def grade() -> None:
    _make_nondumpable()
    request = json.loads(sys.stdin.buffer.read())
    nonce, spec = request["nonce"], request["spec"]
    started = time.monotonic()
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the test code prints must not mix with the result line
    report: dict[str, Any] = {"cases": []}
    proc = None
    try:
        ns: dict[str, Any] = {"__name__": "__tests__", "__builtins__": builtins}
        exec(compile(spec.get("prelude", ""), "<prelude>", "exec"), ns)
        exec(compile(spec.get("setup", ""), "<tests>", "exec"), ns)
        import linecache

        linecache.cache["<tests>"] = (0, None, spec.get("setup", "").splitlines(True), "<tests>")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-I",
                "-S",
                "harness.py",
                "serve",
                spec["candidate_file"],
                spec["prelude_file"],
                spec["entry_point"],
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        proxy = _Proxy(proc, started + float(spec["deadline_s"]))
        loaded = proxy.read()
        if loaded.get("load") not in ("ok", "syntax", "missing", "error"):
            raise CandidateGone("protocol", "the candidate corrupted the test protocol while loading")
        report["load"] = loaded.get("load")
        report["load_error"] = str(loaded.get("error", ""))[:4000]
        if loaded.get("load") == "ok":
            ns[spec["entry_point"]] = proxy
            ns["candidate"] = proxy
            for case in spec["cases"]:
                report["cases"].append(_run_case(case, ns))
    except CandidateGone as gone:
        report["gone"] = gone.kind
        report["gone_message"] = str(gone)
    except BaseException:
        report["internal"] = traceback.format_exc()[-4000:]
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
    report["seconds"] = time.monotonic() - started
    result_out.write(f"{RESULT_MARK} {nonce} {json.dumps(report)}\n")
    result_out.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(*sys.argv[2:5])
    else:
        grade()
