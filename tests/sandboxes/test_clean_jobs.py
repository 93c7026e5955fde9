"""No state survives from one job to the next in a worker or container (issue 11, "clean jobs").

A candidate must not be able to leave anything a later candidate reads (a cached answer), nor damage the
environment so that later jobs fail (failures that would be cached as their verdicts). Each sandbox here has
a single worker, so the second job runs exactly where the first one did. Setup failures are infrastructure
failures: `SandboxError`, the worker replaced, never a result.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from agent.kernel.errors import SandboxError
from agent.kernel.sandbox import Job, Limits, Sandbox
from sandboxes.cpu import vector_level
from sandboxes.process import SHARED_WRITABLE, ProcessSandbox
from tests.sandboxes.adversarial_cases import (
    CLEAN_START,
    DAMAGE,
    FIND_LEFTOVERS,
    LEAVE_EVERYWHERE,
    PRECREATE_NEXT_DIRS,
)
from tests.support.sandbox import build, require_bwrap

SCAN_LIMITS = Limits(wall_s=120)
#: every directory a job may write outside its own, in a container and under bwrap: all cleared per job
ISOLATED_WRITABLE = {"/tmp", "/dev/shm", "/work"}
KINDS = ["bwrap", "plain", pytest.param("docker", marks=pytest.mark.docker)]


@pytest.fixture(scope="module", params=KINDS)
def box(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A single-worker sandbox of each kind: the process sandbox under bwrap and plain, and Docker."""
    kind = request.param
    overrides: dict[str, Any] = {"pool_size": 1, "retries": 0}
    if kind == "docker":
        sandbox = build("docker", **overrides)
    else:
        if kind == "bwrap":
            require_bwrap()
        sandbox = build("process", isolation=kind, **overrides)
    try:
        yield sandbox
    finally:
        asyncio.run(sandbox.close())


def is_plain(sandbox: Sandbox) -> bool:
    return isinstance(sandbox, ProcessSandbox) and sandbox.isolation == "plain"


def scan_args(sandbox: Sandbox) -> list[str]:
    """Plain shares the host's tree: try only its shared temporary directories, not other people's files."""
    if not is_plain(sandbox):
        return []
    return [json.dumps([[d for d in SHARED_WRITABLE if os.path.isdir(d)], False])]


async def run_ok(sandbox: Sandbox, source: str, *args: str, limits: Limits = SCAN_LIMITS) -> str:
    result = await sandbox.run(Job(command=["python3", "-c", source, *args], limits=limits))
    assert result.ok, result
    return result.stdout


async def test_the_next_job_finds_nothing_the_previous_one_left_anywhere(box: Sandbox) -> None:
    if is_plain(box) and os.geteuid() != 0:
        pytest.skip("a plain sandbox without root runs jobs as this user: its files are theirs to share")
    left = json.loads(await run_ok(box, LEAVE_EVERYWHERE, *scan_args(box)))
    written = {os.path.dirname(p) for p in left["files"]}
    if not is_plain(box):  # the audit: nothing else in the sandbox is writable by a job
        assert written == ISOLATED_WRITABLE, left["files"]
    else:
        assert {"/tmp", "/dev/shm"} <= written, left["files"]
    assert all(left["ipc"][kind] >= 0 for kind in ("msg", "shm", "sem")), left
    found = json.loads(await run_ok(box, FIND_LEFTOVERS, json.dumps(left)))
    if is_plain(box) and not os.path.ismount("/dev/mqueue"):
        # The host's POSIX message queues cannot be listed without an mqueue mount: plain's known gap.
        found = [f for f in found if not f.startswith("mqueue")]
    assert found == [], f"the next job found what the previous one left: {found}"


async def test_the_next_jobs_directory_cannot_be_predicted_or_blocked(box: Sandbox) -> None:
    first = json.loads(await run_ok(box, PRECREATE_NEXT_DIRS))
    assert first["made"], "the job could not write into the work root at all: nothing tested"
    look = "import json, os, sys\nmade = json.loads(sys.argv[1])\n"
    look += "print(json.dumps({'cwd': os.getcwd(), 'left': [p for p in made if os.path.lexists(p)]}))"
    second = json.loads(await run_ok(box, look, json.dumps(first["made"])))
    assert second["cwd"] not in first["made"] and second["cwd"] != first["cwd"]
    assert second["left"] == [], "the pre-created directories survived into the next job"


async def test_a_job_that_damages_its_environment_leaves_the_next_one_clean(box: Sandbox) -> None:
    if is_plain(box):
        pytest.skip("plain: the job's /tmp and work root are the host's, which this test would fill")
    damage = await box.run(Job(command=["python3", "-c", DAMAGE], limits=SCAN_LIMITS))
    assert "full:" in damage.stdout, damage
    for _ in range(2):
        assert "clean" in await run_ok(box, CLEAN_START)


async def test_a_failed_setup_is_an_infrastructure_failure_and_the_worker_is_replaced(box: Any) -> None:
    # A file and a directory of the same name: the worker cannot lay the job out. That is never the
    # candidate's verdict (exit 126 once was): it raises, so the search retries it elsewhere.
    before = box.pool.replaced
    broken = Job(command=["python3", "-c", "print('ran')"], files={"a": "x", "a/b": "y"})
    with pytest.raises(SandboxError, match="job setup failed"):
        await box.run(broken)
    assert box.pool.replaced > before
    assert (await run_ok(box, "print('next job ok')")) == "next job ok\n"


def test_identity_names_the_backend_its_isolation_and_software(box: Sandbox) -> None:
    # The verdict cache keys on it: a plain sandbox's results must never be reused for a Docker run.
    if isinstance(box, ProcessSandbox):
        assert box.identity == f"process:{box.isolation}:{box.job_python}:{vector_level()}"
        assert box.job_python == (sys.executable if box.isolation == "bwrap" else box.job_python)
    else:
        from sandboxes.image.build import current_recipe
        from tests.support.sandbox import IMAGE

        assert box.identity == f"docker:{current_recipe(IMAGE)}:{vector_level()}"
