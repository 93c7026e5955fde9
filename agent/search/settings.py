"""How one search samples and verifies: the settings the loop reads, defined once.

`RunConfig` extends this model, so a run's config *is* its search settings: a new setting is added here
once and reaches the YAML/TOML keys, the stored config and the loop without a hand-copied twin.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SearchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(default=4, ge=1, le=256)  # hypotheses sampled per iteration
    top_k: int = Field(default=1, ge=1, le=32)  # parents (with feedback) shown in each prompt
    temperature: float = Field(default=0.8, ge=0, le=2)
    #: the limit of one completion (the Model protocol's `max_tokens`); the search's budget is `tokens`
    completion_tokens: int = Field(default=1024, ge=16)
    seed: int = 0
    verify_concurrency: int = Field(default=4, ge=1)
    verify_retries: int = Field(default=2, ge=0)  # retries of infrastructure failures (never of candidates)
    #: stop the search, resumably, once this many verifications in a row failed for the same kind of
    #: infrastructure reason (after their retries): more model calls could not be judged either
    infra_breaker: int = Field(default=5, ge=1, le=1000)
    # -- evolve (agent/search/islands.py): the population and what each prompt shows --------------------
    islands: int = Field(default=4, ge=1, le=64)  # iteration t breeds on island (t - 1) mod islands
    #: after every this many iterations the best of each island is copied to the next; 0: never
    migration_interval: int = Field(default=10, ge=0)
    #: a parent of rank r (0 = the island's best) is drawn with weight exp(-r / selection_temperature)
    selection_temperature: float = Field(default=2.0, gt=0, le=1000)
    diverse_k: int = Field(default=2, ge=0, le=16)  # programs of other behaviours shown besides the top
    #: `diff`: answers may be SEARCH/REPLACE edits of the parent (a failed edit is shown for repair, once)
    edits: Literal["rewrite", "diff"] = "rewrite"
    #: refine/evolve: each candidate that failed (crash, timeout, gate, parse) gets one repair prompt in the
    #: next iteration (agent/search/repair.py); false: failures (failed edits too) are only ranked
    repair: bool = True
    #: how an island's parent is chosen: by rank of score, or from its Pareto front over the score and the
    #: task's `objectives` (agent/search/pareto.py); the front is recorded in each child's meta
    selection: Literal["score", "pareto"] = "score"
    #: successive halving (agent/search/halving.py) for a verifier with `fidelities` (reward, loss): this
    #: many top candidates are re-verified on more seeds before they become parents or the best; 0: off
    halving_top: int = Field(default=0, ge=0, le=32)
    #: issue 16 (agent/search/pipeline.py): `generational` waits for each iteration's samples and verdicts;
    #: `pipelined` sends a prompt whenever a request slot is free and verifies each answer once parsed
    loop: Literal["generational", "pipelined"] = "generational"
    pipeline_requests: int = Field(default=2, ge=1, le=256)  # pipelined: prompts awaiting the model at once

    def sample_seed(self, iteration: int, sample: int) -> int:
        """The same (seed, iteration, sample) always asks the model with the same seed."""
        return self.seed * 1_000_003 + iteration * 1_000 + sample
