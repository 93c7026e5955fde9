"""A real multi-fidelity verifier whose per-seed score is noisy by construction, for successive halving.

A candidate's content is `true=<mean>` optionally followed by `lucky=<bonus>`: seed 0 scores mean + bonus
(the lucky seed), every other seed scores the mean; a score is the average over the seeds judged. So a
candidate lucky on one seed leads on the base fidelity and is found out on more seeds.
"""

from __future__ import annotations

from agent.kernel import Hypothesis, Verdict, VerdictStatus, fingerprint


def _parse(content: str) -> tuple[float, float]:
    values = dict(part.split("=") for part in content.split())
    return float(values["true"]), float(values.get("lucky", 0.0))


class NoisyVerifier:
    """`verify` judges on one seed; `verify_at` on 1, 4 or 16. It counts its calls per fidelity."""

    name = "noisy"
    fidelities: tuple[int, ...] = (1, 4, 16)

    def __init__(self) -> None:
        self.version = fingerprint("noisy", self.fidelities)
        self.calls: list[tuple[str, int]] = []  # (content, seeds)

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        return await self.verify_at(hypothesis, self.fidelities[0])

    async def verify_at(self, hypothesis: Hypothesis, seeds: int) -> Verdict:
        self.calls.append((hypothesis.content, seeds))
        mean, lucky = _parse(hypothesis.content)
        score = (mean + lucky + mean * (seeds - 1)) / seeds
        return Verdict(status=VerdictStatus.OK, score=score, feedback=f"mean over {seeds} seeds: {score}")
