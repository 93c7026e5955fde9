"""Tasks for the Ray executor's tests (a plugin module, named in ASSAY_TASK_MODULES or a run's task_module).

The workers of a Ray cluster rebuild these tasks themselves (the module is importable there because the
test cluster runs with the repository on PYTHONPATH), so they exercise the real path: a reference crosses,
the worker's own verifier judges.

- `raytest/guess`: example/guess's scoring with a fixed 0.4 s per verification, so a run killed mid-way
  has Ray jobs in flight.
- `raytest/faults`: a verifier for infrastructure faults on the worker itself, driven by the content (this
  is a test task; a real verifier never trusts its candidate): `hold:<dir>` writes the worker's pid to a
  file in <dir> and waits (a test kills that process), and answers at once when the file is already there
  (the retry); `die` kills the worker's own process every time.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from agent.kernel import Hypothesis, Task, Verdict, VerdictStatus, fingerprint, task

SECRET = 37
#: seconds each raytest/guess verification takes
GUESS_DELAY_S = 0.4


def parse_number(text: str) -> str:
    from tasks.example.guess import parse_number as parse

    return parse(text)


class SlowGuess:
    name = "raytest-guess"
    version = fingerprint("raytest-guess", SECRET, GUESS_DELAY_S)

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        await asyncio.sleep(GUESS_DELAY_S)
        guess = int(hypothesis.content)
        if guess == SECRET:
            return Verdict(status=VerdictStatus.OK, score=0.0, feedback="correct")
        direction = "too low" if guess < SECRET else "too high"
        return Verdict(
            status=VerdictStatus.FAIL, score=-float(abs(guess - SECRET)), feedback=f"{guess} is {direction}"
        )


class WorkerFaults:
    name = "raytest-faults"
    version = fingerprint("raytest-faults", 1)

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        content = hypothesis.content.strip()
        if content == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        if content.startswith("hold:"):
            marker = Path(content.removeprefix("hold:")) / "first-worker.pid"
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                await asyncio.sleep(120)  # killed long before
            return Verdict(status=VerdictStatus.OK, score=1.0, feedback=f"answered by pid {os.getpid()}")
        return Verdict(status=VerdictStatus.FAIL, score=0.0, feedback="unknown fault")


@task("raytest/guess", "guess 37, slowly (for the Ray executor's tests)")
def make_guess() -> Task:
    return Task(
        "raytest/guess", "0", "Guess an integer in 0-100. Answer 'ANSWER: <n>'.", parse_number, SlowGuess()
    )


@task("raytest/faults", "worker faults (for the Ray executor's tests)")
def make_faults() -> Task:
    return Task("raytest/faults", "0", "Say a fault.", str.strip, WorkerFaults())
