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
from agent.search.archive import Archive
from agent.search.budget import BudgetTracker
from agent.search.prompts import build_messages
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
        self.archive = Archive()
        self._verify_slots = asyncio.Semaphore(settings.verify_concurrency)
        self._started = time.monotonic()
        self._elapsed_before = 0.0

    # -- public -----------------------------------------------------------------------------------------
    async def run(self) -> SearchOutcome:
        row = self.store.get_search(self.run_id, self.key)
        if row is not None and row.finished:
            return self._finished_outcome(row)
        self._restore()
        await self._seed_archive()
        reason, detail = await self._loop()
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

    def _emit(self, note: str = "") -> None:
        self.on_progress(
            Progress(
                self.key,
                self.tracker.iterations,
                self.archive.best_score(),
                self.tracker.spend,
                self._elapsed(),
                note,
            )
        )

    # -- the loop ---------------------------------------------------------------------------------------
    async def _seed_archive(self) -> None:
        """Verify the task's known candidates once, as iteration 0, so the first prompt can build on them."""
        if not self.task.seed_candidates or any(e.hypothesis.iteration == 0 for e in self.archive.entries):
            return
        seeds = [
            Hypothesis.create(content, iteration=0, model="seed", meta={"seed": True})
            for content in self.task.seed_candidates
        ]
        verdicts = await asyncio.gather(*(self._verify("search", self.task.verifier, h) for h in seeds))
        for sample, (h, v) in enumerate(zip(seeds, verdicts, strict=True)):
            self.store.record_hypothesis(self.run_id, self.key, sample, h, v)
            self.archive.entries.append(RecordedHypothesis(sample, h, v))
        self._emit("seeded")

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
                return StopReason.MODEL_ERROR, failure
            self._emit()
            if stop := self.tracker.after_iteration():
                return stop

    async def _iteration(self, iteration: int, rng: random.Random) -> str | None:
        """Run one iteration; returns an error message when the model produced nothing at all."""
        parents = self.strategy.select_parents(self.archive, self.settings.top_k, rng)
        messages = build_messages(self.task.system_prompt, self.task.instructions, parents)
        parent_ids = tuple(p.hypothesis.id for p in parents)

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
            *(self._sample(iteration, s, messages, recorded.get(s)) for s in samples)
        )
        completions = [(s, c) for s, c in zip(samples, results, strict=True) if isinstance(c, Completion)]
        self.tracker.spend = self.store.spend(self.run_id, self.key)
        if not completions:
            errors = [r for r in results if isinstance(r, str)]
            return errors[0] if errors else "no samples could be requested"

        hypotheses = [(s, self._parse(c, iteration, parent_ids)) for s, c in completions]
        verdicts = await asyncio.gather(*(self._judge(h, parse_error) for _, (h, parse_error) in hypotheses))
        entries = []
        for (sample, (hypothesis, _)), verdict in zip(hypotheses, verdicts, strict=True):
            self.store.record_hypothesis(self.run_id, self.key, sample, hypothesis, verdict)
            entries.append(RecordedHypothesis(sample, hypothesis, verdict))
        self.archive.extend(entries)

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

    def _parse(
        self, completion: Completion, iteration: int, parent_ids: tuple[str, ...]
    ) -> tuple[Hypothesis, str | None]:
        meta = {"finish_reason": completion.finish_reason} if completion.finish_reason else {}
        try:
            content = self.task.parse(completion.text)
        except ParseError as e:
            return self._unparsed(completion, iteration, parent_ids, str(e), meta), str(e)
        except Exception as e:  # a parser bug must not end the search; the candidate is marked invalid
            message = f"the answer could not be parsed ({type(e).__name__}: {e})"
            return self._unparsed(completion, iteration, parent_ids, message, meta), message
        return Hypothesis.create(
            content, parent_ids=parent_ids, iteration=iteration, model=completion.model, meta=meta
        ), None

    @staticmethod
    def _unparsed(
        completion: Completion, iteration: int, parent_ids: tuple[str, ...], error: str, meta: dict[str, str]
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
                async with self._verify_slots:
                    returned = await verifier.verify(hypothesis)
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
                verdict = verdict.model_copy(update={"duration_s": time.monotonic() - started})
            if self.sandbox is not None:
                self.store.cache_verdict(
                    self.key, hypothesis.id, name, verifier.version, verdict, sandbox=self.sandbox
                )
            return verdict
        return Verdict(
            status=VerdictStatus.ERROR,
            feedback="This candidate could not be evaluated because of an infrastructure failure; "
            "it was not judged.",
            artifacts={"infrastructure_error": failure},
        )

    # -- the end ----------------------------------------------------------------------------------------
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
