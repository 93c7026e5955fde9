"""What the reward verifiers need from a reward problem, and the seeds that keep search and held-out apart.

The family defines the protocol; `tasks/reward/` implements it (a simulator, a fixed trainer, the success
measure). The seeds live here because keeping them disjoint is part of the verifier's honesty, not a detail
of any one task: the search trains on SEARCH_SEEDS only, the held-out check retrains on HELD_OUT_SEEDS, and
the inner tuning of TUNABLE constants uses TUNING_SEEDS, neither searched nor held out. MORE_SEARCH_SEEDS
extend the search seeds when successive halving re-verifies a top candidate on more of them (never
held-out or tuning seeds).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Protocol

import numpy as np

SEARCH_SEEDS = (0, 1, 2)
HELD_OUT_SEEDS = (1000, 1001, 1002)
TUNING_SEEDS = (500,)
MORE_SEARCH_SEEDS = (3, 4, 5, 6, 7, 8)  # the 4th to 9th search seeds (agent/search/halving.py)


class RewardProblem(Protocol):
    """One reward-design problem: what the job ships and how the host measures a trained policy."""

    name: str
    #: the simulator module (also shipped); its PARAMS are the dynamics a randomisation may vary
    sim: ModuleType
    #: the fixed trainer module (also shipped); its name is shown in the feedback
    trainer: ModuleType
    trainer_config: dict[str, Any]
    success_text: str
    sparse_reward: str
    env_reward: str
    eval_starts: int
    #: mean success at or above this makes a verdict `ok`
    target: float

    def starts(self) -> np.ndarray:
        """The fixed evaluation start states (the same for every candidate and seed)."""
        ...

    def policy_shape(self) -> tuple[int, ...]: ...

    def evaluate(
        self, policy: np.ndarray, params: dict | None = None, starts: np.ndarray | None = None
    ) -> float:
        """Success rate of a trained policy on the host's own simulator."""
        ...

    def job_files(self) -> dict[str, str]:
        """The self-contained sources the job needs besides the family's runner: `sim.py`, `trainer.py`
        and their helpers (the verifier adds `runner.py`, the candidate and the config)."""
        ...
