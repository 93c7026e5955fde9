"""A model ensemble: several models in one run, one chosen per request (by weight or by a bandit).

Reached through the ordinary model spec: `openai/a,anthropic/b` (equal weights) or `openai/a=2,openai/b=1`,
with `model_split` (`weights`, `thompson`, `thompson-cost`, see `agent.models.bandit`) saying how requests
are split. Each completion's `model` is the member's spec, so every recorded call and every hypothesis
says which member answered it (its cost is the call's, recorded with it under the same iteration and
sample).

Determinism: a request is decided by a generator seeded from the request's own seed (the loop's
`sample_seed`, a function of the run seed, iteration and sample) and, for the bandit, by the search's
recorded history, read through `attach` (the run layer hands in a reader of the store). A resumed run
therefore makes the same choices as an uninterrupted one.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agent.kernel.errors import ConfigError
from agent.kernel.model import Model
from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Completion, Message
from agent.models.bandit import SPLITS, arm_stats, thompson_choice, weighted_choice

#: the recorded history of the current search: its finished hypotheses, and each call's cost by
#: (iteration, sample)
History = Callable[[], tuple[Sequence[RecordedHypothesis], Mapping[tuple[int, int], float]]]


@dataclass(frozen=True)
class Member:
    spec: str
    weight: float = 1.0


def is_ensemble_spec(spec: str) -> bool:
    """Several members (`a,b`) or one weighted member (`a=2`)."""
    return "," in spec or _weight_of(spec)[1] is not None


def _weight_of(part: str) -> tuple[str, float | None]:
    head, sep, tail = part.rpartition("=")
    if not sep:
        return part, None
    try:
        return head, float(tail)
    except ValueError:
        return part, None  # an `=` that is not a weight belongs to the model's name


def parse_ensemble(spec: str) -> list[Member]:
    """`openai/a=2,anthropic/b` -> members with weights 2 and 1; refuses what would be ambiguous."""
    members: list[Member] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            raise ConfigError(f"bad model spec {spec!r}: an empty member (two commas, or a trailing one)")
        name, weight = _weight_of(part)
        weight = 1.0 if weight is None else weight
        if not weight > 0 or weight == float("inf"):
            raise ConfigError(f"bad model spec {spec!r}: the weight of {name} must be a positive number")
        if any(m.spec == name for m in members):
            raise ConfigError(f"bad model spec {spec!r}: {name} is named twice")
        members.append(Member(name, weight))
    return members


class EnsembleModel:
    """A Model that forwards each request to one member, chosen by `split`."""

    def __init__(
        self, members: Sequence[tuple[Member, Model]], *, split: str = "weights", seed: int = 0
    ) -> None:
        if not members:
            raise ConfigError("a model ensemble needs at least one member")
        if split not in SPLITS:
            raise ConfigError(f"unknown model_split {split!r}: use one of {', '.join(SPLITS)}")
        self.members = [m for m, _ in members]
        self.models = {m.spec: model for m, model in members}
        self.split = split
        self.name = ",".join(m.spec for m in self.members)
        self._fallback = random.Random(f"assay-ensemble:{seed}")  # for a request without a seed
        self._history: History | None = None

    def attach(self, history: History | None) -> None:
        """Read the current search's recorded history from `history` (None: start from nothing)."""
        self._history = history

    def choose(self, seed: int | None) -> str:
        """The member that answers the request with `seed` (deterministic in the seed and the history)."""
        rng = self._fallback if seed is None else random.Random(f"assay-ensemble:{seed}")
        arms = [m.spec for m in self.members]
        if self.split == "weights" or len(arms) == 1:
            return weighted_choice(arms, [m.weight for m in self.members], rng)
        entries, costs = self._history() if self._history is not None else ((), {})
        stats = arm_stats(entries, costs, arms)
        return thompson_choice(stats, arms, rng, per_dollar=self.split == "thompson-cost")

    async def generate(
        self,
        messages: Sequence[Message],
        *,
        n: int = 1,
        temperature: float = 0.8,
        max_tokens: int = 1024,
        seed: int | None = None,
    ) -> list[Completion]:
        if n < 1:
            raise ValueError("n must be >= 1")
        seeds = [None if seed is None else seed + i for i in range(n)]
        chosen = [self.choose(s) for s in seeds]
        answers = await asyncio.gather(
            *(
                self.models[spec].generate(
                    messages, n=1, temperature=temperature, max_tokens=max_tokens, seed=s
                )
                for spec, s in zip(chosen, seeds, strict=True)
            )
        )
        return [
            c.model_copy(update={"model": spec})
            for spec, completions in zip(chosen, answers, strict=True)
            for c in completions
        ]

    async def close(self) -> None:
        for model in self.models.values():
            await model.close()


def make_ensemble(
    spec: str, build: Callable[[str], Model], *, split: str = "weights", seed: int = 0
) -> EnsembleModel:
    """The ensemble of `spec`, each member built by `build` from its own spec (`make_model`'s job)."""
    return EnsembleModel([(m, build(m.spec)) for m in parse_ensemble(spec)], split=split, seed=seed)
