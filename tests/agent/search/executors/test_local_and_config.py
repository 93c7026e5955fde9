"""The local executor's bound, the executor configs (flags, files, the stored config), and that Ray stays
optional: importing assay never imports it, and a missing ray is one line with the install command."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys

import pytest

from agent.kernel.errors import ConfigError
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from agent.run.config import RunConfig, build_config, executor_flags
from agent.search.executors import (
    DEFAULT_EXECUTOR,
    ExecutorContext,
    LocalExecutor,
    LocalExecutorConfig,
    RayExecutorConfig,
)
from agent.search.executors.local import Slots
from tests.support.cli import ROOT, cli_env


class Gate:
    """A verifier whose verifications wait at a gate, counting how many are inside at once."""

    name = "gate"
    version = "1"

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.open = asyncio.Event()
        self.arrived = asyncio.Condition()

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        async with self.arrived:
            self.inside += 1
            self.most = max(self.most, self.inside)
            self.arrived.notify_all()
        await self.open.wait()
        self.inside -= 1
        return Verdict(status=VerdictStatus.OK, score=float(len(hypothesis.content)))


async def test_the_local_executor_runs_at_most_capacity_verifications_at_once() -> None:
    gate = Gate()
    executor = LocalExecutor(2)
    jobs = [
        asyncio.ensure_future(executor.verify("search", gate, Hypothesis.create("x" * n))) for n in (1, 2, 3)
    ]
    async with gate.arrived:
        await gate.arrived.wait_for(lambda: gate.inside == 2)
    for _ in range(20):  # let the third try to get in, if the bound let it
        await asyncio.sleep(0)
    assert gate.inside == 2 and not any(job.done() for job in jobs)
    gate.open.set()
    verdicts = await asyncio.gather(*jobs)
    assert [v.score for v in verdicts] == [1.0, 2.0, 3.0] and gate.most == 2
    await executor.aclose()


def test_a_local_config_takes_the_runs_capacity_unless_it_gives_one() -> None:
    assert LocalExecutorConfig().build(ExecutorContext(capacity=3)).capacity == 3
    assert LocalExecutorConfig(capacity=7).build(ExecutorContext(capacity=3)).capacity == 7
    with pytest.raises(ValueError):
        LocalExecutor(0)


def test_a_ray_config_without_a_verifier_source_is_refused() -> None:
    with pytest.raises(ConfigError, match="verifier source"):
        RayExecutorConfig().build(ExecutorContext(capacity=2))


def test_the_executor_flags_and_files_make_one_stored_executor() -> None:
    assert RunConfig(task="t").executor == DEFAULT_EXECUTOR
    assert executor_flags(None, None) is None
    assert executor_flags("local", None) == {"type": "local"}
    assert executor_flags(None, "10.0.0.1:6379") == {"type": "ray", "address": "10.0.0.1:6379"}
    with pytest.raises(ConfigError, match="--ray-address"):
        executor_flags("local", "10.0.0.1:6379")
    by_name = build_config({"task": "t", "executor": "ray"}, {})
    assert by_name.executor == RayExecutorConfig()
    from_file = {"task": "t", "executor": {"type": "ray", "workers": 3, "attempts": 5}}
    merged = build_config(from_file, {"executor": executor_flags(None, "h:1")})
    assert merged.executor == RayExecutorConfig(address="h:1", workers=3, attempts=5)
    replaced = build_config(from_file, {"executor": executor_flags("local", None)})
    assert replaced.executor == LocalExecutorConfig()
    stored = RunConfig.model_validate_json(merged.model_dump_json())
    assert stored.executor == merged.executor  # a resume reads back the executor the run used
    with pytest.raises(ConfigError, match="executor"):
        build_config({"task": "t", "executor": {"type": "dask"}}, {})


def test_importing_assay_does_not_import_ray() -> None:
    probe = (
        "import sys, agent.cli, agent.run.runner, agent.search.loop, agent.search.executors\n"
        "print('ray' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=cli_env(), cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_missing_ray_is_one_line_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.search.executors.ray import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # what an environment without the extra sees
    with pytest.raises(ConfigError) as refused:
        import_ray()
    assert "pip install -e '.[ray]'" in str(refused.value) and "\n" not in str(refused.value)


async def test_slots_serve_waiters_in_order_and_survive_cancelled_ones() -> None:
    """`Slots` (the local executor's bound): at most `capacity` at once, first come first served, and a
    waiter cancelled while queued, or just as it was handed a slot, neither loses nor leaks a slot."""
    slots, order, inside, most = Slots(2), [], [0], [0]

    async def hold(name: str, gate: asyncio.Event) -> None:
        async with slots:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            order.append(name)
            await gate.wait()
            inside[0] -= 1

    gate = asyncio.Event()
    tasks = [asyncio.create_task(hold(str(i), gate)) for i in range(6)]
    await asyncio.sleep(0)
    tasks[3].cancel()  # queued
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == ["0", "1", "2", "4", "5"] and most[0] == 2 and tasks[3].cancelled()
    handed = Slots(1)
    async with handed:
        waiter = asyncio.create_task(handed.__aenter__())
        await asyncio.sleep(0)
    waiter.cancel()  # the slot was handed to it just before: it must pass it on
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    await asyncio.wait_for(handed.__aenter__(), 1.0)  # the slot is free again
