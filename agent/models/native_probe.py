"""A one-time check, in a child process, that the installed llama.cpp runs on this CPU.

Why: llama-cpp-python built with its default native flags (`-march=native` on the build machine, or a wheel
built elsewhere) can contain instructions this CPU lacks; on this project's machines it dies with SIGILL
(AMX, DESIGN.md). In process, that signal kills `assay run` with no message and no record of why. So before
the first in-process import and load, a child imports llama_cpp, loads the model with a tiny context and
evaluates one token (the matrix kernels that crash); a child killed by a signal becomes one line saying what
happened and the exact command that rebuilds the runtime portably.

It costs one model load per machine and build: a passed probe is remembered on disk under the cache
(`$ASSAY_CACHE`, else `$XDG_CACHE_HOME/assay`, else `~/.cache/assay`), keyed by the runtime's shared
libraries (path, size, mtime), the CPU's flags from /proc/cpuinfo and the probe program itself. A rebuild,
another CPU or another probe program probes again. Failures are not remembered: the fix changes the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent.kernel.errors import ConfigError, ModelError

#: what scripts/install_local_model.sh builds with (portable: AVX2 and friends, no -march=native)
PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
)
OK_MARK = "assay-native-probe-ok"
#: import, load with a tiny context on one thread, evaluate one token: the same code paths a sample takes
PROBE_PROGRAM = f"""
import sys
import llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=64, n_batch=8, n_threads=1, verbose=False)
tokens = llm.tokenize(b"Hello", add_bos=True)[:2]
llm.eval(tokens)
print({OK_MARK!r})
"""
DEFAULT_TIMEOUT_S = 600.0  # a 1 GB model on a loaded 2-core machine; it is a bound, not an estimate

_PASSED: set[str] = set()  # keys probed in this process
_GUARD = threading.Lock()


class NativeRuntimeError(ModelError, ConfigError):
    """llama.cpp cannot run on this CPU as built (or its one-token test failed); the message says how to
    rebuild it. A ConfigError as well, so the CLI says it in one line before any work."""


def rebuild_command() -> str:
    """The exact commands that replace the runtime with a portable build."""
    pip = f"{sys.executable} -m pip"
    return (
        f"{pip} uninstall -y llama-cpp-python && bash scripts/install_local_model.sh --small "
        f'(or: CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" {pip} install --no-cache-dir --force-reinstall '
        '--no-binary llama-cpp-python "llama-cpp-python==0.3.36")'
    )


def runtime_libraries() -> list[Path]:
    """The shared libraries of the installed llama_cpp package, found without importing it (an import runs
    the libraries' initialisers, which a native build may already crash in)."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    found: set[Path] = set()
    for location in spec.submodule_search_locations:
        for pattern in ("lib/*.so*", "lib/*.dylib", "*.so*"):
            found.update(p.resolve() for p in Path(location).glob(pattern) if p.is_file())
    return sorted(found)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first CPU's feature flags, sorted (empty where /proc/cpuinfo is unreadable)."""
    with contextlib.suppress(OSError):
        for line in cpuinfo.read_text(errors="replace").splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() in ("flags", "Features"):
                return " ".join(sorted(set(value.split())))
    return ""


def probe_key(program: str = PROBE_PROGRAM) -> str:
    """What the verdict depends on: the libraries as built, the CPU, the probe program, the Python."""
    libraries = []
    for lib in runtime_libraries():
        st = lib.stat()
        libraries.append([str(lib), st.st_size, st.st_mtime_ns])
    material = {"libraries": libraries, "cpu_flags": cpu_flags(), "program": program, "python": sys.version}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def probe_cache_dir() -> Path:
    root = os.environ.get("ASSAY_CACHE")
    if root:
        return Path(root).expanduser() / "native-probe"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "assay" / "native-probe"


@dataclass(frozen=True)
class ProbeResult:
    key: str
    cached: bool  # True: a passed probe was remembered (in this process or on disk); no child ran
    seconds: float


def check_native_runtime(
    model_path: Path,
    *,
    program: str = PROBE_PROGRAM,
    cache: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ProbeResult:
    """Run the probe once per (build, CPU, program) unless a passed one is remembered; raise
    NativeRuntimeError, in one line, when the child dies or fails."""
    started = time.monotonic()
    key = probe_key(program)
    marker = (cache or probe_cache_dir()) / f"{key}.json"
    with _GUARD:
        if key in _PASSED or marker.is_file():
            _PASSED.add(key)
            return ProbeResult(key, True, time.monotonic() - started)
        _run_probe(model_path, program, timeout_s)
        _PASSED.add(key)
        seconds = time.monotonic() - started
        _remember(marker, {"key": key, "model": str(model_path), "probe_s": round(seconds, 3)})
    return ProbeResult(key, False, seconds)


def _run_probe(model_path: Path, program: str, timeout_s: float) -> None:
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", program, str(model_path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise NativeRuntimeError(
            f"llama.cpp's one-token test of {model_path.name} did not finish within {timeout_s:.0f} s "
            "(a child process; nothing was loaded in this one)"
        ) from None
    if proc.returncode < 0:
        raise NativeRuntimeError(crash_message(-proc.returncode, model_path))
    if proc.returncode != 0 or OK_MARK not in proc.stdout:
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise NativeRuntimeError(
            f"llama.cpp failed its one-token test of {model_path.name} in a child process ({detail})"
        )


def crash_message(signum: int, model_path: Path) -> str:
    """One line: which signal, what it means, and the rebuild command."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    if signum == signal.SIGILL:
        what = (
            "crashed with SIGILL (illegal instruction): it was built for instructions this CPU lacks "
            "(a native build, e.g. AVX-512 or AMX)"
        )
    else:
        what = f"was killed by {name} (a native build for another CPU, or a broken install)"
    return (
        f"llama-cpp-python {what} in a one-token test of {model_path.name} in a child process; "
        f"rebuild it portably: {rebuild_command()}"
    )


def _remember(marker: Path, record: dict[str, object]) -> None:
    """Write the passed probe's record atomically; an unwritable cache only costs a probe next time."""
    with contextlib.suppress(OSError):
        marker.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=marker.parent, prefix=".probe-")
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        os.replace(tmp, marker)
