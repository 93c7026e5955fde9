"""One search: the loop that proposes, verifies, records and feeds back, for one problem.

select parents (strategy) -> build prompt -> sample n completions concurrently -> parse -> verify
concurrently (verdict cache) -> record -> check budget and convergence -> repeat.

Everything is written to the store the moment it exists. The loop is deterministic given the store's
contents, so a resumed search rebuilds the same prompts, replays recorded completions instead of calling the
model, and takes finished verdicts from the cache.

The verdict cache is keyed by the problem, the candidate, the verifier's name and version *and* the identity
of the sandbox the candidate ran in: a verdict depends on where it was produced (the process sandbox may
lack a library that Docker has), so one backend's verdicts are never reused on another. A task that runs no
candidate code has identity "none"; a sandboxed task searched without a known identity shares nothing.

Infrastructure failures (the sandbox, the verifier's machinery) are retried, never cached and never scored.
When the same kind repeats for `infra_breaker` verifications in a row, a circuit breaker stops the search
with `StopReason.INFRASTRUCTURE` and leaves it unfinished: the iteration that tripped it is not recorded
(its completions are), and on resume every recorded hypothesis whose verdict was an infrastructure failure
is verified again, so the resumed search judges what the model already answered instead of asking again.

Whatever a verifier returns is validated afresh before it is stored or scored (`revalidated_verdict`): a
verdict the kernel's invariants refuse (a NaN score, say, which a candidate can cause) becomes that
candidate's `error` verdict, never an infrastructure failure and never a crash.
"""

from __future__ import annotations

import asyncio
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from agent.kernel.errors import ModelError, ParseError, SandboxError, VerifierError
from agent.kernel.model import Model
from agent.kernel.records import RecordedCall, RecordedHypothesis, Spend
from agent.kernel.task import Task
from agent.kernel.types import (
    MAX_FEEDBACK_CHARS,
    Budget,
    Completion,
    Hypothesis,
    Message,
    StopReason,
    Verdict,
    VerdictStatus,
    clip_text,
    revalidated_verdict,
)
from agent.kernel.verifier import Verifier
from agent.search.archive import Archive, StoreRecords
from agent.search.breaker import INFRA_ARTIFACT, InfraBreaker
from agent.search.budget import BudgetTracker
from agent.search.dedup import judge_deduplicated
from agent.search.entries import facts
from agent.search.executors import Executor, LocalExecutor
from agent.search.halving import reevaluate_top
from agent.search.plan import Plan
from agent.search.prompts import CUT_OFF
from agent.search.settings import SearchSettings
from agent.search.strategies import Strategy
from agent.store.records import SearchRecord, first_error
from agent.store.sqlite import NO_SANDBOX, Store


@dataclass(frozen=True)
class Progress:
    problem_key: str
    iteration: int
    best_score: float | None
    spend: Spend
    elapsed_s: float
    note: str = ""


@dataclass(frozen=True)
class SearchOutcome:
    problem_key: str
    stop_reason: StopReason
    stop_detail: str
    best: RecordedHypothesis | None
    held_out: Verdict | None
    iterations: int
    spend: Spend
    elapsed_s: float


ProgressCallback = Callable[[Progress], None]
#: stop reasons a larger budget can lift (a target or convergence rule included: their flags are budget's)
_LIMITS = frozenset(
    {
        StopReason.MAX_ITERATIONS,
        StopReason.MAX_CALLS,
        StopReason.MAX_TOKENS,
        StopReason.MAX_COST,
        StopReason.MAX_SECONDS,
        StopReason.TARGET_REACHED,
        StopReason.CONVERGED,
    }
)


def cut_off_note(completion: Completion, limit: int | None) -> str:
    """For an answer that did not parse because the completion limit stopped it (an unclosed code block
    reads as "no code block"), the cause and the fix, so the repair prompt asks for less, not for a fence."""
    if completion.finish_reason not in CUT_OFF:
        return ""
    at = f" ({limit} tokens)" if limit else ""
    return (
        f"\nThe answer was cut off at the completion limit{at} before it was complete: answer with a "
        "shorter program (no explanation, fewer comments, the same fenced block)."
    )


class Search:
    def __init__(
        self,
        *,
        task: Task,
        model: Model,
        strategy: Strategy,
        budget: Budget,
        store: Store,
        run_id: str,
        settings: SearchSettings,
        on_progress: ProgressCallback | None = None,
        sandbox_identity: str | None = None,
        executor: Executor | None = None,
    ) -> None:
        """`sandbox_identity`: the identity of the sandbox the task's verifiers run candidates in (the run
        layer resolves it); ignored for a task that runs no candidate code. A sandboxed task without one
        neither reads nor writes the verdict cache, since nothing says which backend judged a verdict."""
        self.task = task
        self.model = model
        self.strategy = strategy
        self.store = store
        self.run_id = run_id
        self.settings = settings
        self.on_progress = on_progress or (lambda _p: None)
        self.key = task.key
        self.sandbox: str | None = sandbox_identity if task.uses_sandbox else NO_SANDBOX
        self.tracker = BudgetTracker(budget)
        #: compact entries; the whole records of the few a prompt shows are read back from the store's rows
        self.archive = Archive(records=StoreRecords(lambda i, s: store.hypothesis(run_id, task.key, i, s)))
        #: where verifications run (agent/search/executors): this process by default, bounded as before
        self.executor: Executor = executor or LocalExecutor(settings.verify_concurrency)
        self._started = time.monotonic()
        self._elapsed_before = 0.0
        self._breaker = InfraBreaker(settings.infra_breaker)

    # -- public -----------------------------------------------------------------------------------------
    async def run(self) -> SearchOutcome:
        row = self.store.get_search(self.run_id, self.key)
        self._restore()
        if row is not None and row.finished:
            if not self._budget_reopens(row):
                return self._finished_outcome(row)
            self.store.reopen_search(self.run_id, self.key)
        stop = await self._rejudge_unjudged()
        if stop is None:
            stop = await self._seed_archive()
        reason, detail = stop or await self._loop()
        if reason in (StopReason.INFRASTRUCTURE, StopReason.MODEL_ERROR):  # resumable, not finished
            return self._suspend(reason, detail)
        return await self._finish(reason, detail)

    # -- state ------------------------------------------------------------------------------------------
    def _elapsed(self) -> float:
        return self._elapsed_before + (time.monotonic() - self._started)

    def _restore(self) -> None:
        """Rebuild the archive and counters from the store (empty for a new search)."""
        row = self.store.get_search(self.run_id, self.key)
        self._elapsed_before = row.elapsed_s if row is not None else 0.0
        done = self.store.iterations(self.run_id, self.key)
        # the last finished iteration (an unreadable row skipped by the store leaves a gap, not a shift)
        finished = max((r.iteration for r in done), default=0)
        self.tracker.iterations = finished
        self.tracker.best_history = [r.best_score for r in done]
        self.archive.extend(
            e for e in self.store.hypotheses(self.run_id, self.key) if e.hypothesis.iteration <= finished
        )
        self.tracker.spend = self.store.spend(self.run_id, self.key)
        self.tracker.elapsed_s = self._elapsed()

    def _best_score(self) -> float | None:
        """The archive's best score (the pipelined loop keeps it as it records, rather than scanning)."""
        return self.archive.best_score()

    def _emit(self, note: str = "") -> None:
        self.on_progress(
            Progress(
                self.key,
                self.tracker.iterations,
                self._best_score(),
                self.tracker.spend,
                self._elapsed(),
                note,
            )
        )

    # -- the loop ---------------------------------------------------------------------------------------
    async def _rejudge_unjudged(self) -> tuple[StopReason, str] | None:
        """Verify again every restored hypothesis whose verdict was an infrastructure failure (it was never
        judged), in place, so a resumed search judges what the model answered before asking it anything."""
        entries = self.archive.entries
        stale = [i for i, e in enumerate(entries) if facts(e).infrastructure]
        if not stale:
            return None
        olds = [self.archive.record(entries[i]) for i in stale]
        verdicts = await asyncio.gather(
            *(self._verify("search", self.task.verifier, o.hypothesis) for o in olds)
        )
        if stop := self._breaker.observe(verdicts):
            return stop
        for i, old, verdict in zip(stale, olds, verdicts, strict=True):
            self.store.record_hypothesis(self.run_id, self.key, old.sample, old.hypothesis, verdict)
            self.archive.replace(i, RecordedHypothesis(old.sample, old.hypothesis, verdict))
        self.tracker.best_history = self._best_history()
        self._emit("re-verified after infrastructure failures")
        return None

    def _best_history(self) -> list[float | None]:
        """Best-so-far after each finished iteration, recomputed from the archive's (re-judged) verdicts."""
        history: list[float | None] = []
        best: float | None = None
        for iteration in range(0, self.tracker.iterations + 1):
            scores = [
                f.score
                for f in map(facts, self.archive.entries)
                if f.iteration == iteration and f.score is not None
            ]
            if scores:
                best = max(scores) if best is None else max(best, *scores)
            if iteration > 0:
                history.append(best)
        return history

    async def _seed_archive(self) -> tuple[StopReason, str] | None:
        """Verify the task's known candidates once, as iteration 0, so the first prompt can build on them."""
        if not self.task.seed_candidates or any(facts(e).iteration == 0 for e in self.archive.entries):
            return None
        seeds = [
            Hypothesis.create(content, iteration=0, model="seed", meta={"seed": True})
            for content in self.task.seed_candidates
        ]
        verdicts = await asyncio.gather(*(self._verify("search", self.task.verifier, h) for h in seeds))
        if stop := self._breaker.observe(verdicts):
            return stop  # not recorded: the seeds are verified again on resume, before any model call
        for sample, (h, v) in enumerate(zip(seeds, verdicts, strict=True)):
            self.store.record_hypothesis(self.run_id, self.key, sample, h, v)
            self.archive.append(RecordedHypothesis(sample, h, v))
        self._emit("seeded")
        return None

    async def _loop(self) -> tuple[StopReason, str]:
        rng = random.Random(self.settings.seed)
        while True:
            self.tracker.elapsed_s = self._elapsed()
            if stop := self.tracker.before_iteration():
                return stop
            iteration = self.tracker.iterations + 1
            rng.seed(self.settings.sample_seed(iteration, 0))
            try:
                async with asyncio.timeout(self.tracker.seconds_left()):
                    failure = await self._iteration(iteration, rng)
            except TimeoutError:
                self.tracker.elapsed_s = self._elapsed()
                return StopReason.MAX_SECONDS, f"wall-clock limit reached during iteration {iteration}"
            if failure is not None:
                return failure
            self._emit()
            if stop := self.tracker.after_iteration():
                return stop

    async def _iteration(self, iteration: int, rng: random.Random) -> tuple[StopReason, str] | None:
        """Run one iteration; returns why to stop when the model produced nothing at all, or when the
        infrastructure breaker tripped (then nothing of this iteration but its model calls is recorded, so a
        resume replays those calls and verifies their answers again)."""
        plan = self.strategy.plan(self.archive, self.settings, iteration, rng, self.task)
        plan = plan.with_answer_start(self.task.answer_start)

        recorded = self.store.recorded_calls(self.run_id, self.key, iteration)
        replayable = {s for s, call in recorded.items() if call.ok}
        calls_left = self.tracker.calls_left()
        samples: list[int] = []
        for s in range(self.settings.samples):
            if s in replayable:
                samples.append(s)
            elif calls_left is None or calls_left > 0:
                samples.append(s)
                calls_left = None if calls_left is None else calls_left - 1

        results = await asyncio.gather(
            *(self._sample(iteration, s, plan.for_sample(s).messages, recorded.get(s)) for s in samples)
        )
        completions = [(s, c) for s, c in zip(samples, results, strict=True) if isinstance(c, Completion)]
        self.tracker.spend = self.store.spend(self.run_id, self.key)
        if not completions:
            errors = [r for r in results if isinstance(r, str)]
            return StopReason.MODEL_ERROR, errors[0] if errors else "no samples could be requested"

        parsed = [self._parse(c, iteration, plan.for_sample(s)) for s, c in completions]
        judged = await judge_deduplicated(parsed, self.archive.entries, self._judge, self.archive.record)
        if stop := self._breaker.observe([v for _, v in judged]):
            return stop
        entries = []
        for (sample, _), (hypothesis, verdict) in zip(completions, judged, strict=True):
            self.store.record_hypothesis(self.run_id, self.key, sample, hypothesis, verdict)
            entries.append(RecordedHypothesis(sample, hypothesis, verdict))
        self.archive.extend(entries)
        # issue 13, noise-aware selection (agent/search/halving.py): with `halving_top` > 0 and a verifier
        # that declares `fidelities`, the top candidates are re-verified on more seeds (and re-recorded)
        await reevaluate_top(
            self.archive, self.task.verifier, self.settings.halving_top,
            lambda v, h: self._verify("search", v, h),
            lambda e: self.store.record_hypothesis(self.run_id, self.key, e.sample, e.hypothesis, e.verdict),
        )  # fmt: skip

        scores = [e.verdict.score for e in entries if e.verdict.score is not None]
        best = self.archive.best_score()
        self.tracker.iterations = iteration
        self.tracker.best_history.append(best)
        self.tracker.elapsed_s = self._elapsed()
        self.store.record_iteration(
            self.run_id,
            self.key,
            iteration,
            best,
            max(scores) if scores else None,
            self.tracker.spend,
            self.tracker.elapsed_s,
        )
        self.store.set_search_elapsed(self.run_id, self.key, self.tracker.elapsed_s)
        return None

    async def _sample(
        self, iteration: int, sample: int, messages: list[Message], recorded: RecordedCall | None
    ) -> Completion | str:
        """One completion: replayed from the store when it was recorded before, else asked of the model."""
        if recorded is not None and recorded.ok and recorded.completion is not None:
            return recorded.completion
        params = {
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.completion_tokens,  # the API's word for the per-completion limit
            "seed": self.settings.sample_seed(iteration, sample),
        }
        try:
            [completion] = await self.model.generate(messages, n=1, **params)
        except ModelError as e:
            self.store.record_call(self.run_id, self.key, iteration, sample, messages, params, None, str(e))
            return str(e)
        self.store.record_call(self.run_id, self.key, iteration, sample, messages, params, completion, None)
        return completion

    def _parse(self, completion: Completion, iteration: int, plan: Plan) -> tuple[Hypothesis, str | None]:
        meta = {"finish_reason": completion.finish_reason} if completion.finish_reason else {}
        meta = {**meta, **plan.meta}
        parent_ids = plan.parent_ids
        try:
            content = plan.content(self.task.parse, completion.text)
        except ParseError as e:
            meta = {**meta, **plan.error_meta(e)}
            error = str(e) + cut_off_note(completion, self.settings.completion_tokens)
            return self._unparsed(completion, iteration, parent_ids, error, meta), error
        except Exception as e:  # a parser bug must not end the search; the candidate is marked invalid
            message = f"the answer could not be parsed ({type(e).__name__}: {e})"
            return self._unparsed(completion, iteration, parent_ids, message, meta), message
        return Hypothesis.create(
            content, parent_ids=parent_ids, iteration=iteration, model=completion.model, meta=meta
        ), None

    @staticmethod
    def _unparsed(
        completion: Completion, iteration: int, parent_ids: tuple[str, ...], error: str, meta: dict[str, Any]
    ) -> Hypothesis:
        return Hypothesis.create(
            completion.text,
            parent_ids=parent_ids,
            iteration=iteration,
            model=completion.model,
            meta={**meta, "parse_error": clip_text(error, MAX_FEEDBACK_CHARS)},  # a parser may quote it all
        )

    async def _judge(self, hypothesis: Hypothesis, parse_error: str | None) -> Verdict:
        if parse_error is not None:
            return Verdict(status=VerdictStatus.INVALID, feedback=parse_error)
        return await self._verify("search", self.task.verifier, hypothesis)

    async def _verify(self, role: str, verifier: Verifier, hypothesis: Hypothesis) -> Verdict:
        """Verify through the cache; infrastructure failures are retried and never cached or scored."""
        name = f"{role}:{verifier.name}"
        if self.sandbox is not None:
            cached = self.store.cached_verdict(
                self.key, hypothesis.id, name, verifier.version, sandbox=self.sandbox
            )
            if cached is not None:
                return cached
        failure = ""
        for _attempt in range(self.settings.verify_retries + 1):
            started = time.monotonic()
            try:
                returned = await self.executor.verify(role, verifier, hypothesis)
                verdict = revalidated_verdict(returned)
            except (SandboxError, VerifierError) as e:
                failure = f"{type(e).__name__}: {e}"
                continue
            except ValidationError as e:
                if e.title != Verdict.__name__:
                    failure = f"{type(e).__name__}: {first_error(e)}"  # a verifier bug, reported as data
                    break
                verdict = _refused(e)  # the candidate's doing (e.g. a NaN score): its verdict, cached
            except Exception as e:  # a verifier bug: report it as data, keep the search alive
                failure = "".join(traceback.format_exception_only(e)).strip()[:2000]
                break
            if verdict.duration_s == 0.0:
                verdict = verdict.timed(time.monotonic() - started)
            if self.sandbox is not None:
                self.store.cache_verdict(
                    self.key, hypothesis.id, name, verifier.version, verdict, sandbox=self.sandbox
                )
            return verdict
        return Verdict(
            status=VerdictStatus.ERROR,
            feedback="This candidate could not be evaluated because of an infrastructure failure; "
            "it was not judged.",
            artifacts={INFRA_ARTIFACT: failure},
        )

    # -- the end ----------------------------------------------------------------------------------------
    def _budget_reopens(self, row: SearchRecord) -> bool:
        """A search finished by a limit that the (resumed run's) budget no longer imposes goes on: `assay
        resume RUN --iterations 10` extends a run that stopped after 5."""
        if row.stop_reason not in _LIMITS:
            return False
        return self.tracker.before_iteration() is None and self.tracker.after_iteration() is None

    def _suspend(self, reason: StopReason, detail: str) -> SearchOutcome:
        """Stop without finishing: the search stays resumable (no held-out check, no final record), since
        what stopped it is outside the candidates and may be fixed."""
        elapsed = self._elapsed()
        self.store.set_search_elapsed(self.run_id, self.key, elapsed)
        self.store.stop_search(self.run_id, self.key, stop_reason=reason.value, stop_detail=detail)
        self._emit(f"stopped: {reason.value}")
        return SearchOutcome(
            self.key, reason, detail, self.archive.best(), None, self.tracker.iterations, self.tracker.spend,
            elapsed,
        )  # fmt: skip

    async def _finish(self, reason: StopReason, detail: str) -> SearchOutcome:
        best = self.archive.best()
        held_out = None
        if best is not None and self.task.held_out is not None:
            held_out = await self._verify("held_out", self.task.held_out, best.hypothesis)
        elapsed = self._elapsed()
        self.store.finish_search(
            self.run_id,
            self.key,
            stop_reason=reason.value,
            stop_detail=detail,
            elapsed_s=elapsed,
            best=best,
            held_out=held_out,
        )
        self._emit(f"stopped: {reason.value}")
        return SearchOutcome(
            self.key, reason, detail, best, held_out, self.tracker.iterations, self.tracker.spend, elapsed
        )

    def _finished_outcome(self, row: SearchRecord) -> SearchOutcome:
        entries = self.store.hypotheses(self.run_id, self.key)
        best = next((e for e in entries if e.hypothesis.id == row.best_hypothesis_id), None)
        return SearchOutcome(
            self.key,
            row.stop_reason or StopReason.INTERRUPTED,  # a finished search always recorded its reason
            row.stop_detail or "",
            best,
            row.held_out,
            max((r.iteration for r in self.store.iterations(self.run_id, self.key)), default=0),
            self.store.spend(self.run_id, self.key),
            row.elapsed_s,
        )


def _refused(error: ValidationError) -> Verdict:
    """The verdict of a candidate whose verifier's verdict broke the kernel's invariants (a non-finite score,
    a score on a crash): an unscored error, with the reason, in place of the verdict that was refused."""
    reason = first_error(error)
    return Verdict(
        status=VerdictStatus.ERROR,
        feedback=f"The verifier's verdict for this candidate was refused ({reason}); it is not scored.",
        artifacts={"refused_verdict": reason},
    )
