"""The held-out check of a reward: retrain on fresh seeds and compare with both baselines on those seeds.

The search only ever sees `SEARCH_SEEDS`; a reward that merely got lucky there shows it here. The baselines
(the sparse success-only reward and the environment's own reward) are trained once per verifier on the same
held-out seeds through the same sandboxed path, and their numbers travel in every held-out verdict's metrics
so a report can say whether the searched reward beat the human-written one.

A candidate with TUNABLE constants is retrained with its tuned values (else this would judge a different
reward than the search did): the tuner is shared with the task's search verifier, whose memo usually holds
the tuning already; otherwise (e.g. after a resume) the deterministic tuning runs again on the tuning seeds,
never on the held-out ones.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from agent.kernel.identity import fingerprint
from agent.kernel.sandbox import Limits, Sandbox
from agent.kernel.types import Hypothesis, Verdict
from verifiers.reward.evaluator import RewardEvaluator, require_ok
from verifiers.reward.problem import HELD_OUT_SEEDS, RewardProblem
from verifiers.reward.tuning import Tuner


class RewardHeldOut:
    """Held-out verifier: the candidate's success on fresh seeds, with both baselines' on the same seeds."""

    def __init__(
        self,
        problem: RewardProblem,
        *,
        seeds: Sequence[int] = HELD_OUT_SEEDS,
        limits: Limits | None = None,
        sandbox: Sandbox | None = None,
        randomise: dict[str, list[float]] | None = None,
        tuner: Tuner | None = None,
    ) -> None:
        self.problem = problem
        self.name = f"reward-{problem.name}-held-out"
        self._eval = RewardEvaluator(
            problem,
            seeds=seeds,
            name=self.name,
            limits=limits,
            sandbox=sandbox,
            randomise=randomise,
            tuner=tuner,
        )
        self._baselines: dict[str, Verdict] = {}
        #: the retraining's identity (seeds, limits, problem, shipped programs) and this module's own code
        self.version = fingerprint(self._eval.version, sys.modules[__name__])

    @property
    def seeds(self) -> tuple[int, ...]:
        return self._eval.seeds

    @property
    def tuner(self) -> Tuner:
        return self._eval.tuner

    async def baselines(self) -> dict[str, Verdict]:
        """The sparse and the environment's reward trained on the held-out seeds (once, then cached)."""
        for key, source in (("sparse", self.problem.sparse_reward), ("env", self.problem.env_reward)):
            if key not in self._baselines:
                verdict, _ = await self._eval.train(source)
                require_ok(verdict, f"the {key} baseline reward of {self.problem.name}")
                self._baselines[key] = verdict
        return dict(self._baselines)

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        started = time.monotonic()
        verdict, _, tuning = await self._eval.train_tuned(hypothesis.content)
        base = await self.baselines()
        metrics = dict(verdict.metrics)
        lines = [f"Held-out retrain on fresh seeds {list(self.seeds)}:"]
        score_text = "no score" if verdict.score is None else f"{verdict.score:.3f}"
        lines.append(f"  candidate reward: {score_text} mean success ({verdict.status.value})")
        if tuning is not None:
            shown = ", ".join(f"{k}={v:g}" for k, v in tuning.best.values)
            lines.append(f"  with its tuned constants ({shown}; tuned on seeds {list(tuning.seeds)})")
        for key, label in (("env", "environment's own reward"), ("sparse", "sparse success-only reward")):
            b = base[key]
            assert b.score is not None  # require_ok checked it
            metrics[f"baseline_{key}"] = b.score
            for name, value in b.metrics.items():
                if name.startswith("success_seed_"):
                    metrics[f"baseline_{key}_{name}"] = value
            lines.append(f"  {label}: {b.score:.3f} mean success")
            if verdict.score is not None:
                metrics[f"margin_vs_{key}"] = verdict.score - b.score
        if verdict.score is not None:
            metrics["beats_env"] = float(verdict.score >= base["env"].score)  # type: ignore[operator]
        feedback = "\n".join(lines)
        if verdict.score is None:
            feedback += "\n" + verdict.feedback
        return verdict.model_copy(
            update={"metrics": metrics, "feedback": feedback, "duration_s": time.monotonic() - started}
        )
