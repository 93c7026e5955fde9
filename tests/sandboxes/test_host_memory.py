"""Host memory stays bounded while a job floods its output: the cap is applied inside the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.sandbox import IMAGE, require_docker

PROBE = """
import asyncio, json, resource, sys
from agent.kernel.sandbox import Job, Limits
from sandboxes.config import DockerSandboxConfig, ProcessSandboxConfig

async def main():
    kind, image = sys.argv[1], sys.argv[2]
    if kind == "docker":
        config = DockerSandboxConfig(image=image, pool_size=1)
    else:
        config = ProcessSandboxConfig(pool_size=1)
    sandbox = config.build()
    warm = await sandbox.run(Job(command=["true"]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    flood = "import sys\\nb = b'x' * (1 << 20)\\nfor _ in range(1024):\\n    sys.stdout.buffer.write(b)"
    r = await sandbox.run(Job(command=["python3", "-c", flood], limits=Limits(wall_s=60)))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    await sandbox.close()
    print(json.dumps({"before_kb": before, "after_kb": after, "truncated": r.output_truncated,
                      "exit": r.exit_code, "timed_out": r.timed_out, "stdout_len": len(r.stdout)}))

asyncio.run(main())
"""


def measure(kind: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, kind, IMAGE], capture_output=True, text=True, timeout=180
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def check(m: dict) -> None:
    assert m["exit"] == 0 and not m["timed_out"] and m["truncated"]  # all 1 GiB was written and read
    assert m["stdout_len"] < (1 << 20) + 200
    assert m["after_kb"] - m["before_kb"] < 64 * 1024, m  # 1 GiB flowed through; the host grew < 64 MiB


def test_process_flood_keeps_host_rss_bounded() -> None:
    check(measure("process"))


@pytest.mark.docker
def test_docker_flood_keeps_host_rss_bounded() -> None:
    require_docker()
    check(measure("docker"))
