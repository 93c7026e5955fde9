"""`example/guess`: the smallest complete task, and the one the search loop's own tests run.

It is installed and registered like any plugin (the `assay.tasks` entry point `example`), and it shows the
whole contract of a task in a few lines: a parser from completion text to content, a search verifier with
`name`, a derived `version` and `async verify`, a held-out verifier, and `@task`.

The task: guess a secret integer; the verifier answers "too low"/"too high", so a model that reads the
feedback converges and one that does not cannot. The verifier is real code (no mocks of assay), just cheap.
`ASSAY_EXAMPLE_VERIFY_DELAY` slows each verification, so a test can kill a run in the middle of one.
"""

from __future__ import annotations

import asyncio
import os

from agent.kernel import Hypothesis, ParseError, Suite, Task, Verdict, VerdictStatus, fingerprint, task
from agent.kernel.needs import Needs

SECRETS = (37, 5, 81, 12)


def parse_number(text: str) -> str:
    for token in reversed(text.replace(",", " ").split()):
        token = token.strip(".!")
        if token.lstrip("-").isdigit():
            return str(int(token))
    raise ParseError("no integer found: answer with a single integer, e.g. 'ANSWER: 42'")


class GuessVerifier:
    """Scores -|guess - secret|; tells the direction, so feedback carries real information."""

    name = "guess"

    def __init__(self, secret: int) -> None:
        self.secret = secret
        self.version = fingerprint("guess", secret)  # everything that can change a verdict
        self.calls = 0

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        self.calls += 1
        delay = float(os.environ.get("ASSAY_EXAMPLE_VERIFY_DELAY", "0"))
        if delay:
            await asyncio.sleep(delay)
        guess = int(hypothesis.content)
        if guess == self.secret:
            return Verdict(status=VerdictStatus.OK, score=0.0, feedback="correct")
        direction = "too low" if guess < self.secret else "too high"
        return Verdict(
            status=VerdictStatus.FAIL,
            score=-float(abs(guess - self.secret)),
            feedback=f"{guess} is {direction}",
        )


class ExactVerifier:
    """The held-out check: pass/fail only, with a marker that must never reach a prompt."""

    name = "guess-exact"

    def __init__(self, secret: int) -> None:
        self.secret = secret
        self.version = fingerprint("guess-exact", secret)

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        ok = int(hypothesis.content) == self.secret
        return Verdict(
            status=VerdictStatus.OK if ok else VerdictStatus.FAIL,
            score=1.0 if ok else 0.0,
            feedback="HELD-OUT-SECRET-MARKER",
        )


def make_guess_task(index: int, secret: int) -> Task:
    return Task(
        name="example/guess",
        problem_id=str(index),
        instructions=f"Guess secret integer #{index}, between 0 and 100. Answer with 'ANSWER: <integer>'.",
        parse=parse_number,
        verifier=GuessVerifier(secret),
        held_out=ExactVerifier(secret),
        needs=Needs(),  # the whole verifier is above: nothing beyond assay itself
    )


@task("example/guess", "guess a secret integer from too-low/too-high feedback (for tests)")
def guess() -> Suite:
    problems = tuple(make_guess_task(i, s) for i, s in enumerate(SECRETS))
    return Suite("example/guess", "guess a secret integer", problems, default_problems="0")
