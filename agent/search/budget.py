"""Budget accounting and the stopping rules of one search."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.kernel.records import Spend
from agent.kernel.types import Budget, StopReason


@dataclass
class BudgetTracker:
    budget: Budget
    iterations: int = 0
    spend: Spend = field(default_factory=Spend)
    elapsed_s: float = 0.0
    best_history: list[float | None] = field(default_factory=list)  # best-so-far after each iteration

    def calls_left(self) -> int | None:
        if self.budget.calls is None:
            return None
        return max(0, self.budget.calls - self.spend.calls)

    def before_iteration(self) -> tuple[StopReason, str] | None:
        """Limits that forbid starting another iteration."""
        b = self.budget
        if b.iterations is not None and self.iterations >= b.iterations:
            return StopReason.MAX_ITERATIONS, f"ran {self.iterations} iterations"
        if (left := self.calls_left()) is not None and left == 0:
            return StopReason.MAX_CALLS, f"used {self.spend.calls} of {b.calls} LLM calls"
        if b.tokens is not None and self.spend.tokens >= b.tokens:
            return StopReason.MAX_TOKENS, f"used {self.spend.tokens} of {b.tokens} tokens"
        if b.cost_usd is not None and self.spend.cost_usd >= b.cost_usd:
            return StopReason.MAX_COST, f"spent ${self.spend.cost_usd:.4f} of ${b.cost_usd:.4f}"
        if b.seconds is not None and self.elapsed_s >= b.seconds:
            return StopReason.MAX_SECONDS, f"ran {self.elapsed_s:.1f} s of {b.seconds:.1f} s"
        return None

    def after_iteration(self) -> tuple[StopReason, str] | None:
        """Stopping rules judged on results: the target, and convergence."""
        b = self.budget
        best = self.best_history[-1] if self.best_history else None
        if b.target is not None and best is not None and best >= b.target:
            return StopReason.TARGET_REACHED, f"best score {best:.6g} >= target {b.target:.6g}"
        if b.patience is not None and len(self.best_history) > b.patience:
            before = self.best_history[-1 - b.patience]
            if best is not None and before is not None and best - before < max(b.min_delta, 1e-12):
                return StopReason.CONVERGED, (
                    f"no gain >= {b.min_delta:g} over {b.patience} iterations (best {best:.6g})"
                )
            if best is None:
                return StopReason.CONVERGED, f"no scored hypothesis after {len(self.best_history)} iterations"
        return None

    def seconds_left(self) -> float | None:
        if self.budget.seconds is None:
            return None
        return max(0.0, self.budget.seconds - self.elapsed_s)
