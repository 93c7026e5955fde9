"""Every hostile job ends in a safe result, leaves no process behind, and the next job runs normally."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from agent.kernel.sandbox import Job, Limits, Sandbox
from sandboxes.docker import DockerSandbox
from sandboxes.process import ProcessSandbox
from tests.sandboxes.adversarial_cases import CASES, SECRET, Case

IDS = [c.name for c in CASES]


@pytest.fixture(scope="module", autouse=True)
def decoy_with_secret() -> Iterator[None]:
    """A host process whose initial environment holds an API key a job must not be able to read."""
    os.environ["ASSAY_TEST_API_KEY"] = SECRET
    decoy = subprocess.Popen(["sleep", "600"], env={"OPENAI_API_KEY": SECRET})
    yield
    decoy.kill()
    decoy.wait()
    os.environ.pop("ASSAY_TEST_API_KEY", None)


async def check_case(sandbox: Sandbox, pool_workers: list, case: Case) -> None:
    result = await sandbox.run(case.job())
    assert case.safe(result), f"{case.name}: unsafe result {result!r}"[:3000]
    for worker in pool_workers():
        worker.ping()  # the worker sweeps right after replying; the ping returns once that is done
        assert worker.leftover_processes() == [], f"{case.name} left processes behind"
    after = await sandbox.run(
        Job(command=["python3", "-c", "print('next job ok')"], limits=Limits(wall_s=10))
    )
    assert after.ok and after.stdout == "next job ok\n", after


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_process_sandbox_survives(process_sandbox: ProcessSandbox, case: Case) -> None:
    if os.geteuid() != 0 and case.name in ("kill_minus_one", "kill_parent", "read_host_secret", "fork_bomb"):
        pytest.skip("without root the process sandbox cannot give jobs their own uid: no isolation to test")
    if case.isolated_only and process_sandbox.isolation != "bwrap":
        pytest.skip(f"the plain process sandbox does not isolate: {process_sandbox.reason}")
    await check_case(process_sandbox, process_sandbox.pool.idle_workers, case)


@pytest.mark.docker
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_docker_sandbox_survives(docker_sandbox: DockerSandbox, case: Case) -> None:
    await check_case(docker_sandbox, docker_sandbox.pool.idle_workers, case)


LEAVE_TRACES = """
import os
open("/tmp/trace", "w").write("secret answer")
os.makedirs("/dev/shm/d", exist_ok=True)
open("/dev/shm/d/trace", "w").write("x")
os.makedirs("locked/inner")
open("locked/inner/f", "w").write("x")
os.chmod("locked/inner", 0)
os.chmod("locked", 0)
print(os.getcwd())
"""

LOOK_FOR_TRACES = """
import os, sys
prev = sys.argv[1]
found = [p for p in ("/tmp/trace", "/dev/shm/d", prev,) if os.path.exists(p)]
print(found)
"""


@pytest.mark.docker
async def test_docker_next_job_sees_nothing_of_the_previous_one(docker_sandbox: DockerSandbox) -> None:
    first = await docker_sandbox.run(Job(command=["python3", "-c", LEAVE_TRACES]))
    assert first.ok, first
    second = await docker_sandbox.run(Job(command=["python3", "-c", LOOK_FOR_TRACES, first.stdout.strip()]))
    assert second.ok and second.stdout.strip() == "[]", second


async def test_process_next_job_sees_nothing_of_the_previous_one(process_sandbox: ProcessSandbox) -> None:
    # Under bwrap /tmp and /dev/shm are the sandbox's own; plain as root clears the job uid's entries from
    # the host's. Plain as an ordinary user shares them with the user: only the job's directory is cleared.
    leave, look = LEAVE_TRACES, LOOK_FOR_TRACES
    if process_sandbox.isolation == "plain" and os.geteuid() != 0:
        leave = "\n".join(
            line for line in leave.splitlines() if "/tmp" not in line and "/dev/shm" not in line
        )
        look = look.replace('"/tmp/trace", "/dev/shm/d", ', "")
    first = await process_sandbox.run(Job(command=["python3", "-c", leave]))
    assert first.ok, first
    second = await process_sandbox.run(Job(command=["python3", "-c", look, first.stdout.strip()]))
    assert second.ok and second.stdout.strip() == "[]", second


PIPE_JOB = Job(command=["sh", "-c", "yes | head -n 1"])


@pytest.mark.docker
async def test_docker_jobs_get_default_sigpipe(docker_sandbox: DockerSandbox) -> None:
    # The worker ignores SIGPIPE for itself; a job must not inherit that (`yes` would complain forever).
    r = await docker_sandbox.run(PIPE_JOB)
    assert r.ok and r.stdout == "y\n" and r.stderr == "", r


async def test_process_jobs_get_default_sigpipe(process_sandbox: ProcessSandbox) -> None:
    r = await process_sandbox.run(PIPE_JOB)
    assert r.ok and r.stdout == "y\n" and r.stderr == "", r
