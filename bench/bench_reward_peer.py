"""Before/after benchmark of the reward candidate's own process: seconds per candidate, side by side.

Before: the reward ran in the trainer's process (commit c34b7c3, checked out as a git worktree). After: the
trusted runner calls the candidate's process with arrays (one fresh process per seed). For each sandbox and
task it evaluates the environment's reward on the 3 search seeds once with each code base, alternating
before/after so both see the same machine load, each in a fresh interpreter that imports only its own tree.
Also the per-call round trip of the new wire (a Q-learning-sized batch: 16 rows) outside any sandbox.

    git -C /work/main worktree add /tmp/before-reward c34b7c3
    .venv/bin/python bench/bench_reward_peer.py [--before /tmp/before-reward] [--sandboxes process,docker]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ONE = """
import asyncio, json, sys, time
sys.path.insert(0, {root!r})
from tests.support.sandbox import build
from agent.kernel.sandbox import Job
from agent.kernel.types import Hypothesis
from tasks.reward.problems import PROBLEMS, SEARCH_SEEDS
from verifiers.reward.evaluator import RewardEvaluator

async def main():
    box = build({kind!r})
    try:
        problem = PROBLEMS[{task!r}]
        ev = RewardEvaluator(problem, seeds=SEARCH_SEEDS, sandbox=box)
        await box.run(Job(command=["python3", "-c", "import numpy"]))  # warm the pool
        started = time.monotonic()
        verdict = await ev.verify(Hypothesis.create(problem.env_reward))
        wall = time.monotonic() - started
        print(json.dumps({{"wall": wall, "score": verdict.score, "cpu": verdict.metrics.get("train_cpu_s")}}))
    finally:
        await box.close()

asyncio.run(main())
"""

CALLS = """
import os, sys, time
import numpy as np
sys.path.insert(0, os.getcwd())
import runner
files = {{n: open(n).read() for n in runner.SHIPPED}}
peer = runner.RewardPeer(files, None)
obs = np.random.rand({n}, 2); action = np.random.randint(0, 3, {n}); done = np.zeros({n}, bool)
for _ in range(300):
    peer(obs, action, obs, done)
started = time.perf_counter()
for _ in range(3000):
    peer(obs, action, obs, done)
print((time.perf_counter() - started) / 3000 * 1e6)
peer.close()
"""


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def one(root: str, kind: str, task: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", ONE.format(root=root, kind=kind, task=task)],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
        timeout=600,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(lines[-1])


def per_call_us(n: int) -> float:
    """The new wire's round trip for one call, the env reward of mountaincar answering, no sandbox."""
    sys.path.insert(0, str(ROOT))
    from tasks.reward.problems import PROBLEMS
    from verifiers.peer import PEER_SOURCE

    shipped = ROOT / "verifiers" / "reward" / "shipped"
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("runner.py", "reward_server.py"):
            (Path(tmp) / name).write_text((shipped / name).read_text())
        (Path(tmp) / "peer.py").write_text(PEER_SOURCE)
        sims = ROOT / "tasks" / "reward" / "shipped"
        (Path(tmp) / "sim.py").write_text((sims / "sims" / "mountaincar.py").read_text())
        (Path(tmp) / "trainer.py").write_text((sims / "trainers" / "qlearning.py").read_text())
        (Path(tmp) / "stats.py").write_text((sims / "trainers" / "stats.py").read_text())
        (Path(tmp) / "candidate.py").write_text(PROBLEMS["mountaincar"].env_reward)
        out = subprocess.run(
            [sys.executable, "-c", CALLS.format(n=n)], capture_output=True, text=True, cwd=tmp, check=True
        )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--before", default="/tmp/before-reward")
    parser.add_argument("--sandboxes", default="process,docker")
    parser.add_argument("--tasks", default="mountaincar,pendulum")
    args = parser.parse_args()
    if not os.path.isdir(args.before):
        sys.exit(f"no checkout of the old code at {args.before}: git worktree add {args.before} c34b7c3")
    print(f"load average before: {load()}")
    calls = [per_call_us(16) for _ in range(3)]
    print(f"new wire, one call of 16 rows: {', '.join(f'{c:.0f}' for c in calls)} us (3 runs); load {load()}")
    print("| sandbox | task | before: s per candidate | after: s per candidate | before score | after score |"
          " load |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|")
    for kind in args.sandboxes.split(","):
        for task in args.tasks.split(","):
            before = one(args.before, kind, task)
            after = one(str(ROOT), kind, task)
            print(
                f"| {kind} | {task} | {before['wall']:.1f} | {after['wall']:.1f} | {before['score']:.3f} "
                f"| {after['score']:.3f} | {load()} |",
                flush=True,
            )
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
