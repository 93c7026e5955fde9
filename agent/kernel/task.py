"""Tasks and suites: what the search is given.

A `Task` is one problem: what the model is shown, how its completion becomes a hypothesis, the search
verifier that guides the search, and an optional held-out verifier whose result is reported but never shown
to the model. A `Suite` is a named list of tasks (one for a single-problem task); the CLI runs one search per
selected problem and reports the solve rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from agent.kernel.errors import ConfigError
from agent.kernel.needs import NO_NEEDS, Needs
from agent.kernel.verifier import Verifier, check_verifier

DEFAULT_SYSTEM_PROMPT = (
    "You are a careful expert. Propose one candidate solution per answer, in exactly the format asked for. "
    "When feedback on earlier attempts is given, use it to fix their mistakes."
)


@dataclass(frozen=True)
class Objective:
    """A further objective of a multi-objective task: the verdict metric `name`, to maximise or minimise.

    The score is always the first objective (maximised); a task lists the others explicitly, so nothing
    reads meaning into a metric's name. Selection may then keep a Pareto front (agent/search/pareto.py)."""

    name: str
    direction: Literal["max", "min"] = "max"

    def __post_init__(self) -> None:
        if not self.name or self.direction not in ("max", "min"):
            raise ConfigError(f"objective {self.name!r}: needs a metric name and direction 'max' or 'min'")


@dataclass(frozen=True)
class Task:
    name: str
    problem_id: str
    instructions: str
    parse: Callable[[str], str]  # completion text -> hypothesis content; raises ParseError
    verifier: Verifier
    held_out: Verifier | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    #: known-good or reference candidates to verify first and seed the archive with (DiscoPOP-style)
    seed_candidates: tuple[str, ...] = ()
    #: numbers that describe the problem for reports (e.g. baselines); never shown to the model
    info: dict[str, str] = field(default_factory=dict)
    #: its verifiers run candidate code in the shared sandbox: a run resolves that sandbox (Docker unless
    #: `process` is chosen knowingly) before the first model call, so a missing Docker stops it in one line
    uses_sandbox: bool = False
    #: the Python modules its grading imports on the host and in the sandbox: a run checks them before the
    #: first model call, so a missing extra or image is one line, not a budget spent on unjudged answers
    needs: Needs = NO_NEEDS
    #: objectives besides the score (verdict metrics by name, with directions); empty: the score alone
    objectives: tuple[Objective, ...] = ()
    #: the completion cap (the Model protocol's `max_tokens`) an answer of this task needs, used unless the
    #: user gives one (`--completion-tokens` or the config): a small model's rambling then stops where a
    #: complete answer would (a reward function fits in ~640 tokens); None: the run's default
    completion_tokens: int | None = None
    #: the first characters of every whole answer (a fence and the function's signature), which a model that
    #: continues an answer (the embedded llama.cpp model) is made to begin with: asked for compute_reward, the
    #: 1.5B model was cut off in 7 of its 36 free-form answers of stop 31, 6 of them after copying the
    #: environment's source (issue 12). The answer's text then includes it; the API adapters do not send it
    #: (agent/kernel/model.py). Never used for diff edits. "": none.
    answer_start: str = ""

    def __post_init__(self) -> None:
        check_verifier(self.verifier, f"task {self.key}: verifier")
        cap = self.completion_tokens
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigError(f"task {self.key}: completion_tokens must be a positive integer, got {cap!r}")
        if self.held_out is not None:
            check_verifier(self.held_out, f"task {self.key}: held-out verifier")
        if not callable(self.parse):
            raise ConfigError(f"task {self.key}: parse must be a function from completion text to content")
        if not isinstance(self.needs, Needs):
            raise ConfigError(f"task {self.key}: needs must be a Needs (agent.kernel.needs)")

    @property
    def key(self) -> str:
        """Identifies the problem in the verdict cache and the store."""
        return f"{self.name}#{self.problem_id}"


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    problems: tuple[Task, ...]
    #: which problems run when `--problems` is omitted
    default_problems: str = "0"
    #: the score at which a search stops when the user gives no `--target` (e.g. 1.0 for a pass/fail task,
    #: where nothing beats a pass); None: no target, the search runs until another limit stops it
    default_target: float | None = None

    def __post_init__(self) -> None:
        target = self.default_target
        if target is not None and (isinstance(target, bool) or not math.isfinite(target)):
            raise ConfigError(f"suite {self.name}: default_target must be a finite number, got {target!r}")

    def select(self, spec: str | None) -> list[Task]:
        """Pick problems by a spec: `3`, `0-9`, `0,2,5-7`, `all`, or problem ids."""
        spec = (spec or self.default_problems).strip()
        if spec == "all":
            return list(self.problems)
        by_id = {t.problem_id: i for i, t in enumerate(self.problems)}
        chosen: list[int] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            if part in by_id:
                chosen.append(by_id[part])
                continue
            try:
                if "-" in part:
                    lo_s, hi_s = part.split("-", 1)
                    lo, hi = int(lo_s), int(hi_s)
                    if lo > hi:
                        raise ValueError
                    chosen.extend(range(lo, hi + 1))
                else:
                    chosen.append(int(part))
            except ValueError:
                raise ConfigError(
                    f"bad problem selection {part!r} (use e.g. 3, 0-9, 0,2,5-7 or all)"
                ) from None
        bad = [i for i in chosen if not 0 <= i < len(self.problems)]
        if bad:
            raise ConfigError(
                f"problem index {bad[0]} is out of range: {self.name} has {len(self.problems)} problems "
                f"(0-{len(self.problems) - 1})"
            )
        return [self.problems[i] for i in dict.fromkeys(chosen)]
