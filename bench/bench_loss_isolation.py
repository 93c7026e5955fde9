"""What separating the candidate loss from the trainer costs: seconds per candidate before and after.

"Before" is the loss verifier at commit c34b7c3 (candidate and trainer in one process), checked out as a
worktree; "after" is this tree (trainer and candidate in two processes, one pristine torch zygote per job,
one forked child per seed). Each side runs in a fresh interpreter of its own tree, on the Docker sandbox,
interleaved round by round so machine load falls on both alike: cross-entropy on `loss/noisy-digits` and
DPO on `loss/preference`, 3 seeds each (the search verifier). Also measured in the sandbox: one training
step's round trip through the process boundary.

    git -C . worktree add /tmp/before-loss c34b7c3
    .venv/bin/python bench/bench_loss_isolation.py [--before /tmp/before-loss] [--repeat 3]

Prints a markdown table (the lead copies it into RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

CHILD = r"""
import asyncio, json, sys, time
from sandboxes.config import DockerSandboxConfig
from tasks.loss import known_losses as K, noisy_digits_task, preference_task

CASES = {"noisy-digits/cross-entropy": (noisy_digits_task.build, K.CROSS_ENTROPY),
         "preference/DPO": (preference_task.build, K.DPO)}

async def main():
    sandbox = DockerSandboxConfig(pool_size=1).build()
    try:
        await sandbox.run(noisy_digits_task.build(sandbox=sandbox).verifier.job("x = 1"))  # warm the pool
        for name, (build, source) in CASES.items():
            verifier = build(sandbox=sandbox).verifier
            start = time.monotonic()
            result = await sandbox.run(verifier.job(source))
            verdict = verifier.judge(result)
            print(json.dumps({"case": name, "verify_s": time.monotonic() - start, "wall_s": result.wall_s,
                              "cpu_s": result.cpu_s, "score": verdict.score, "status": verdict.status.value}))
    finally:
        await sandbox.close()

asyncio.run(main())
"""

ROUND_TRIP = r"""
import time
import torch
import harness, peer
harness.make_deterministic()
files = {n: open(n).read() for n in ("loss_server.py", "peer.py")}
files["candidate.py"] = (
    "import torch.nn.functional as F\n"
    "def loss(logits, targets):\n    return F.cross_entropy(logits, targets)\n"
)
logits, y = torch.randn(100, 10, requires_grad=True), torch.randint(0, 10, (100,))
t0 = time.perf_counter()
with peer.Peer("loss_server.py", files, {}, cpu_s=60) as p:
    started = time.perf_counter() - t0
    loss = harness.Loss(p, "loss", 20)
    t1 = time.perf_counter()
    with loss.session():
        session = time.perf_counter() - t1
        for _ in range(100):
            loss.backward([(logits, "diff"), (y, "const")], "")
        t2, c2 = time.perf_counter(), time.process_time()
        for _ in range(1000):
            loss.backward([(logits, "diff"), (y, "const")], "")
        step, step_cpu = (time.perf_counter() - t2) / 1000, (time.process_time() - c2) / 1000
import torch.nn.functional as F
t3 = time.perf_counter()
for _ in range(1000):
    F.cross_entropy(logits, y).backward()
inproc = (time.perf_counter() - t3) / 1000
print(f"zygote start (torch import) {started:.2f} s; session (fork + load) {session * 1e3:.1f} ms; "
      f"round trip {step * 1e3:.3f} ms (trainer CPU {step_cpu * 1e3:.3f} ms); "
      f"the same loss in-process {inproc * 1e3:.3f} ms")
"""


def side(tree: Path) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=tree, env=env, capture_output=True, text=True, timeout=900
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def round_trip() -> str:
    import asyncio

    from agent.kernel.sandbox import Job, Limits
    from sandboxes.config import DockerSandboxConfig
    from verifiers.loss.verifier import HARNESS_SOURCE, PEER_SOURCE, SERVER_SOURCE

    async def run() -> str:
        sandbox = DockerSandboxConfig(pool_size=1).build()
        files = {"harness.py": HARNESS_SOURCE, "peer.py": PEER_SOURCE, "loss_server.py": SERVER_SOURCE}
        job = Job(
            command=["python3", "-c", ROUND_TRIP], files=files, limits=Limits(wall_s=120, memory_mb=4096)
        )
        try:
            result = await sandbox.run(job)
        finally:
            await sandbox.close()
        return result.stdout.strip() or result.stderr[-1000:]

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, default=Path("/tmp/before-loss"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.repeat):
        for label, tree in (("before", args.before), ("after", HERE)):
            for r in side(tree):
                rows.setdefault((r["case"], label), []).append(r)
    print("\n| case | code | score | verify s (median) | job wall s | job CPU s | runs |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (case, label), runs in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] != "before")):
        med = {k: statistics.median(r[k] for r in runs) for k in ("verify_s", "wall_s", "cpu_s")}
        scores = sorted({f"{r['score']:.3f}" for r in runs if r["score"] is not None})
        print(
            f"| {case} | {label} | {', '.join(scores)} | {med['verify_s']:.2f} | {med['wall_s']:.2f} | "
            f"{med['cpu_s']:.2f} | {len(runs)} |"
        )
    print(f"\nin the sandbox: {round_trip()}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
