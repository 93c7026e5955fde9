"""What the viewer and the report show of a run, gathered from the store once, as plain values.

The web page, the self-contained report and `assay show` render the same `RunView`, so they cannot disagree
about what a run did. Everything here is read through `ReadOnlyStore` and is hostile text (candidates are
written by a model rewarded for a high score): renderers must escape it, nothing here interprets it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Message, Verdict
from agent.store.queries import ModelCost, ReadOnlyStore, RunTotals
from agent.store.records import CallRecord, IterationRecord, RunRecord

#: lines of context around each change of a lineage diff
DIFF_CONTEXT = 3


@dataclass(frozen=True)
class Candidate:
    """One hypothesis with its verdict and the prompt it answered."""

    iteration: int
    sample: int
    id: str
    content: str
    parent_ids: tuple[str, ...]
    model: str
    verdict: Verdict
    prompt_key: str | None  # key into ProblemView.prompts; None: no recorded call (a seed)
    call_index: int | None  # 1-based position among the problem's calls, for the score-by-calls plot
    #: the label of an earlier candidate that answered the very same prompt (shown there, not repeated)
    prompt_shown_at: str | None = None

    @property
    def label(self) -> str:
        return f"it{self.iteration}.s{self.sample}"


@dataclass(frozen=True)
class LineageStep:
    """One step from the best candidate's ancestor towards it: what changed, and what the model was told."""

    candidate: Candidate
    parent: Candidate | None
    diff: list[str]  # unified diff lines from the parent's content (empty for the root)
    feedback_seen: str | None  # the parent's feedback, shown to the model in the prompt that led here


@dataclass
class ProblemView:
    key: str
    status: str
    stop_reason: str | None
    stop_detail: str | None
    elapsed_s: float
    best_score: float | None
    best_status: str | None
    held_out: Verdict | None
    statement: str | None
    iterations: list[IterationRecord]
    candidates: list[Candidate]
    prompts: dict[str, list[Message]] = field(default_factory=dict)
    lineage: list[LineageStep] = field(default_factory=list)
    status_mix: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class RunView:
    run: RunRecord
    totals: RunTotals
    config: dict[str, Any]
    problems: list[ProblemView]
    costs: list[ModelCost]
    notes: list[str]
    generated: float = field(default_factory=time.time)

    @property
    def model(self) -> str:
        return str(self.config.get("model") or "?")

    @property
    def strategy(self) -> str:
        return str(self.config.get("strategy") or "?")


def prompt_key(messages: tuple[Message, ...]) -> str:
    """Equal prompts (every sample of an iteration answers the same one) are kept and shown once."""
    blob = json.dumps([[m.role, m.content] for m in messages])
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _score_key(c: Candidate) -> float:
    return -math.inf if c.verdict.score is None else c.verdict.score


def lineage(best_id: str | None, candidates: list[Candidate]) -> list[LineageStep]:
    """The best candidate's ancestry, root first. A candidate's parent is its best-scoring parent (the
    attempt the model most plausibly built on) among those not already in the chain; the walk ends at a
    candidate without one."""
    by_id: dict[str, Candidate] = {}
    for c in candidates:
        by_id.setdefault(c.id, c)
    chain: list[Candidate] = []
    seen: set[str] = set()
    current = by_id.get(best_id) if best_id else None
    while current is not None and current.id not in seen:
        chain.append(current)
        seen.add(current.id)
        parents = [by_id[p] for p in current.parent_ids if p in by_id and p not in seen]
        current = max(
            parents, key=lambda p: -1e300 if p.verdict.score is None else p.verdict.score, default=None
        )
    chain.reverse()
    steps = []
    for i, c in enumerate(chain):
        parent = chain[i - 1] if i else None
        diff = []
        if parent is not None:
            diff = list(
                difflib.unified_diff(
                    parent.content.splitlines(),
                    c.content.splitlines(),
                    fromfile=parent.label,
                    tofile=c.label,
                    n=DIFF_CONTEXT,
                    lineterm="",
                )
            )
        steps.append(LineageStep(c, parent, diff, parent.verdict.feedback if parent else None))
    return steps


def _candidates(
    entries: list[RecordedHypothesis], calls: list[CallRecord], prompts: dict[str, list[Message]]
) -> list[Candidate]:
    call_at = {(c.iteration, c.sample): (i + 1, c) for i, c in enumerate(calls)}
    shown_at: dict[str, str] = {}
    out = []
    for e in entries:
        h = e.hypothesis
        found = call_at.get((h.iteration, e.sample)) if h.iteration > 0 else None
        key = None
        label = f"it{h.iteration}.s{e.sample}"
        if found is not None:
            key = prompt_key(found[1].messages)
            prompts.setdefault(key, list(found[1].messages))
        out.append(
            Candidate(
                iteration=h.iteration,
                sample=e.sample,
                id=h.id,
                content=h.content,
                parent_ids=h.parent_ids,
                model=h.model,
                verdict=e.verdict,
                prompt_key=key,
                call_index=found[0] if found else None,
                prompt_shown_at=shown_at.get(key) if key else None,
            )
        )
        if key:
            shown_at.setdefault(key, label)
    return out


def problem_view(store: ReadOnlyStore, run_id: str, search: Any) -> ProblemView:
    key = search.problem_key
    calls = store.calls(run_id, key)
    prompts: dict[str, list[Message]] = {}
    candidates = _candidates(store.hypotheses(run_id, key), calls, prompts)
    return ProblemView(
        key=key,
        status=search.status,
        stop_reason=search.stop_reason.value if search.stop_reason else None,
        stop_detail=search.stop_detail,
        elapsed_s=search.elapsed_s,
        best_score=search.best_score,
        best_status=search.best_status.value if search.best_status else None,
        held_out=search.held_out,
        statement=store.problem_statement(run_id, key),
        iterations=store.iterations(run_id, key),
        candidates=candidates,
        prompts=prompts,
        lineage=lineage(search.best_hypothesis_id or _best_so_far(candidates), candidates),
        status_mix=dict(Counter(c.verdict.status.value for c in candidates)),
        calls=len(calls),
        tokens=sum(c.prompt_tokens + c.completion_tokens for c in calls),
        cost_usd=sum(c.cost_usd or 0.0 for c in calls),
    )


def _best_so_far(candidates: list[Candidate]) -> str | None:
    """A search still running has no recorded best yet: show the lineage of its best candidate so far."""
    scored = [c for c in candidates if c.verdict.score is not None]
    return max(scored, key=lambda c: c.verdict.score or 0.0).id if scored else None


def run_view(store: ReadOnlyStore, run: str) -> RunView | None:
    """The whole run, or None when no run has this id (or unique prefix)."""
    record = store.get_run(run)
    if record is None:
        return None
    problems = [problem_view(store, record.id, s) for s in store.searches(record.id)]
    return RunView(
        run=record,
        totals=store.run_totals(record),
        config=record.config,
        problems=problems,
        costs=store.cost_per_model(record.id),
        notes=store.notes,
    )
