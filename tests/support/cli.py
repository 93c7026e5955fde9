"""Run the `assay` console script as a user would: a real subprocess with a scrubbed environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSAY = str(Path(sys.executable).parent / "assay")


def as_foreground() -> None:
    """`preexec_fn` for a child that a test interrupts as Ctrl-C would: SIGINT back to its default action.

    A shell without job control starts background commands with SIGINT ignored, and an ignored signal stays
    ignored across exec, so a suite started with `... &` (as CI scripts and nohup'd runs are) would hand
    every `assay` it starts an ignored SIGINT, and Python then installs no KeyboardInterrupt handler. A
    user's Ctrl-C reaches a foreground process whose SIGINT is not ignored; this gives the test that.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment without any real API key (the example task comes from its entry point)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        PYTHONPATH=str(ROOT),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    env.update(extra)
    return env


def assay(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ASSAY, *args], capture_output=True, text=True, env=env or cli_env(), timeout=timeout, cwd=ROOT
    )


def exact_answer_plugin(task_name: str, description: str) -> str:
    """The source of a plugin task module (for ASSAY_TASK_MODULES): one problem, answered right by "37",
    with no held-out check."""
    return f"""
from agent.kernel import Hypothesis, Task, Verdict, VerdictStatus, fingerprint, task


class Exact:
    name = "exact-37"
    version = fingerprint("exact-37")

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        ok = hypothesis.content.strip() == "37"
        return Verdict(status=VerdictStatus.OK if ok else VerdictStatus.FAIL, score=float(ok))


@task({task_name!r}, {description!r})
def make() -> Task:
    return Task({task_name!r}, "0", "Answer with a number.", parse=str.strip, verifier=Exact())
"""
