"""How one search samples and verifies: the settings the loop reads, defined once.

`RunConfig` extends this model, so a run's config *is* its search settings: a new setting is added here
once and reaches the YAML/TOML keys, the stored config and the loop without a hand-copied twin.
"""

from __future__ import annotations

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

    def sample_seed(self, iteration: int, sample: int) -> int:
        """The same (seed, iteration, sample) always asks the model with the same seed."""
        return self.seed * 1_000_003 + iteration * 1_000 + sample
