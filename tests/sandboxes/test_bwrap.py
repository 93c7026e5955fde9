"""The process sandbox under bubblewrap: what a job could reach without it, it cannot reach with it.

Measured before bwrap: a job read the run store and the project sources, wrote the host's /tmp, reached the
model server on 127.0.0.1 and wrote into other workers' roots. Each of those is tried here with a real
target the test sets up on the host. Where bwrap cannot create namespaces, these skip with the probe's
reason, and the process sandbox must say it is plain.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import sandboxes
from agent.kernel.errors import SandboxError
from agent.kernel.sandbox import Job, Limits
from sandboxes.availability import process_isolation
from sandboxes.bwrap import bwrap_status
from sandboxes.cpu import vector_level
from sandboxes.process import ProcessSandbox, ProcessWorker
from sandboxes.protocol import encode_job
from tests.support.sandbox import PROBE_LIMITS, build, require_bwrap

PROJECT = Path(sandboxes.__file__).resolve().parent.parent


def bwrap_box() -> ProcessSandbox:
    require_bwrap()
    box = build("process", isolation="bwrap", pool_size=1)
    assert isinstance(box, ProcessSandbox)
    return box


@pytest.fixture(scope="module")
def box() -> Iterator[ProcessSandbox]:
    sandbox = bwrap_box()
    try:
        yield sandbox
    finally:
        asyncio.run(sandbox.close())


async def run(box: ProcessSandbox, source: str, *args: str, limits: Limits = Limits(wall_s=30)) -> str:
    result = await box.run(Job(command=["python3", "-c", source, *args], limits=limits))
    assert result.ok, result
    return result.stdout


EXISTING = (
    "import json, os, sys\nprint(json.dumps([p for p in json.loads(sys.argv[1]) if os.path.lexists(p)]))"
)


async def test_a_job_sees_neither_the_store_nor_the_sources_nor_the_home(
    box: ProcessSandbox, tmp_path: Path
) -> None:
    store = tmp_path / "runs.db"
    store.write_text("verdicts and held-out answers")
    home = [str(p) for p in Path.home().iterdir() if p.name != ".pyenv"]  # .pyenv holds the base Python
    targets = [str(store), str(tmp_path), sandboxes.__file__, str(PROJECT / "pyproject.toml")]
    targets += [str(PROJECT / name) for name in ("agent", "tasks", "verifiers", "tests", ".git")]
    targets += [*home, "/home", "/var", "/opt", "/etc/passwd", "/etc/shadow", "/run"]
    present = [t for t in targets if os.path.lexists(t)]
    assert str(store) in present and sandboxes.__file__ in present
    seen = json.loads(await run(box, EXISTING, json.dumps(present)))
    assert seen == [], f"host paths visible inside the sandbox: {seen}"


async def test_a_job_cannot_write_the_hosts_tmp(box: ProcessSandbox) -> None:
    name = f"assay-escape-{os.urandom(6).hex()}"
    write = "import sys\nfor d in ('/tmp', '/dev/shm'):\n    open(f'{d}/{sys.argv[1]}', 'w').write('x')"
    await run(box, write, name)  # the sandbox's own /tmp and /dev/shm: allowed, and private
    assert not os.path.exists(f"/tmp/{name}") and not os.path.exists(f"/dev/shm/{name}")


async def test_a_job_cannot_reach_a_server_on_the_hosts_loopback(box: ProcessSandbox) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        probe = (
            "import socket, sys\ntry:\n    socket.create_connection(('127.0.0.1', int(sys.argv[1])), 3)\n"
            "    print('CONNECTED')\nexcept OSError as e:\n    print('refused', e)"
        )
        out = await run(box, probe, str(port))
        assert out.startswith("refused"), out
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing ever arrived


async def test_a_job_cannot_write_into_another_workers_root(box: ProcessSandbox) -> None:
    other = bwrap_box()
    plain = build("process", isolation="plain", pool_size=1)
    try:
        await plain.run(Job(command=["true"]))  # starts its worker
        (plain_worker,) = plain.pool.idle_workers()  # type: ignore[attr-defined]
        marker = f"/work/marker-{os.urandom(6).hex()}"
        targets = [marker, f"{plain_worker.workroot}/marker"]
        write = (
            "import json, sys\nmade = []\nfor p in json.loads(sys.argv[1]):\n    try:\n"
            "        open(p, 'w').write('x'); made.append(p)\n    except OSError:\n        pass\n"
            "print(json.dumps(made))"
        )
        assert json.loads(await run(box, write, json.dumps(targets))) == [marker]  # its own /work only
        assert not os.path.exists(f"{plain_worker.workroot}/marker")
        assert json.loads(await run(other, EXISTING, json.dumps([marker]))) == []
    finally:
        await other.close()
        await plain.close()


async def test_jobs_run_the_venvs_python_with_torch(box: ProcessSandbox) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed in this venv (the `loss` extra)")
    source = "import sys, torch\nprint(sys.prefix, torch.ones(3).sum().item())"
    prefix, total = (await run(box, source, limits=PROBE_LIMITS)).split()
    assert total == "3.0" and os.path.samefile(prefix, sys.prefix)


async def test_assay_itself_cannot_be_imported_in_a_job(box: ProcessSandbox) -> None:
    # The editable install points at the project, which is not bound, and its start-up hooks are masked
    # (they named the project's path); a regular install's copy would be masked too.
    probe = (
        "import glob, site, sys\ntry:\n    import sandboxes.worker\n    print('IMPORTED')\n"
        "except ImportError:\n    print('absent')\n"
        "hooks = [f for d in site.getsitepackages() for pattern in ('/*.pth', '/__editable__*')\n"
        "         for f in glob.glob(d + pattern)]\n"
        "def text(f):\n    try:\n        return open(f, errors='replace').read()\n"
        "    except OSError:  # masked by a device node on a nodev mount: unreadable, which hides it too\n"
        "        return ''\n"
        "print(sum(sys.argv[1] in text(f) for f in hooks))"
    )
    result = await box.run(Job(command=["python3", "-c", probe, str(PROJECT)]))
    assert result.ok and result.stderr == "", result
    assert result.stdout.split() == ["absent", "0"]


def test_identity_names_the_isolation_and_python(box: ProcessSandbox) -> None:
    assert box.isolation == "bwrap"
    assert box.identity == f"process:bwrap:{box.plan.python}:{vector_level()}"  # type: ignore[union-attr]


async def test_without_bwrap_the_sandbox_says_it_is_plain(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no bwrap binary to be found
    bwrap_status.cache_clear()
    try:
        assert process_isolation().level == "plain"
        assert "bubblewrap is not installed" in (process_isolation().reason or "")
        with pytest.raises(SandboxError, match="bwrap isolation is not available"):
            ProcessSandbox(isolation="bwrap", pool_size=1)
        with caplog.at_level(logging.WARNING, logger="assay.sandbox"):
            plain = ProcessSandbox(isolation="auto", pool_size=1)
        assert plain.isolation == "plain" and plain.identity.startswith("process:plain:")
        assert "WITHOUT isolation" in caplog.text
        await plain.close()
    finally:
        bwrap_status.cache_clear()


def test_disposing_a_busy_worker_leaves_no_process_behind(box: ProcessSandbox) -> None:
    # The host gives up on a worker mid-job (its deadline passed): killing bwrap's init ends the whole pid
    # namespace, the job's daemonised grandchild included.
    worker = ProcessWorker(plan=box.plan)
    daemon = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\ntime.sleep(600)"
    job = Job(command=["python3", "-c", daemon], limits=Limits(wall_s=600))
    worker.send(encode_job(job, path=worker.path, rlimit_as=True), time.monotonic() + 30)
    deadline = time.monotonic() + 30
    while len(worker.leftover_processes()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(worker.leftover_processes()) >= 2, "the job did not start"
    worker.dispose()
    assert worker.leftover_processes() == []
