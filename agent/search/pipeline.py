"""The pipelined (steady-state) loop: `loop: pipelined`, an option of every strategy.

The generational loop (agent/search/loop.py) waits for all of an iteration's samples, then for all of their
verifications, so one slow verification (a reward trained for 10 s) idles the model and every other verifier
slot. Here a prompt is planned and sent as soon as a request slot is free, each candidate is verified as soon
as its answer is parsed, and each plan sees the archive as it is at that moment (ShinkaEvolve's asynchronous
runner works the same way). What is in flight is bounded twice: at most `pipeline_requests` prompts await
the model, and a new prompt is sent only while fewer than `capacity + samples` candidates await a verdict
(capacity: the executor's, else `verify_concurrency`), so the verifier always has work queued and the queue
never grows without bound.

What an "iteration" is here: one plan, i.e. one prompt of the strategy (with its repair prompts) and its
`samples` answers. Iteration numbers are handed out when a plan is made; an iteration *finishes* when every
one of its candidates has a verdict, and iterations may finish out of order. The budget reads them so:
`iterations` bounds the plans made, `calls` the completions requested (in-flight ones included, so it holds
exactly), and `target` / `patience` are judged on the best score after each finished iteration, in the order
they finished. Once a stop is decided no new prompt is sent; what is in flight is drained (its calls are
paid for, so its verdicts are recorded), except on the wall-clock limit or a tripped infrastructure breaker,
where it is cancelled and left to the resume. Successive halving (`halving_top`) is generational only.

Deterministic replay. Every recorded hypothesis carries `pipeline_seq` (its position in the archive, in the
order verdicts arrived) and `pipeline_seen` (how many archive entries its plan saw); every recorded call
carries `archive_seen` in its params. A resumed search rebuilds the archive in `pipeline_seq` order, so each
plan it replays is rebuilt from exactly the entries it saw (hence the same prompt, parents and edit base),
the recorded completions are replayed instead of asking the model, and only candidates without a recorded
verdict are verified. A plan's answers are requested together and recorded together, so a plan is either
wholly recorded or not at all; one whose request failed is planned again on resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from agent.kernel.errors import ConfigError, ModelError
from agent.kernel.records import RecordedCall, RecordedHypothesis, Spend
from agent.kernel.registry import Registry
from agent.kernel.types import Completion, Hypothesis, Message, StopReason, Verdict
from agent.search.archive import RankIndex, rank_key
from agent.search.dedup import first_of_each_form, judge_deduplicated
from agent.search.entries import SEQ, Entry, facts, form_of
from agent.search.loop import Search
from agent.search.plan import Plan

#: writes are committed in groups at most this old (agent/store/sqlite.py `group_commits`): a kill -9 loses
#: at most the last 50 ms of records, which the resume then redoes
GROUP_COMMIT_S = 0.05
SEEN = "pipeline_seen"
ARCHIVE_SEEN = "archive_seen"  # in a call's recorded params
#: stop reasons decided by results (or failures), which win over a limit that merely blocked a new plan
_RESULT_STOPS = frozenset(
    {StopReason.TARGET_REACHED, StopReason.CONVERGED, StopReason.INFRASTRUCTURE, StopReason.MODEL_ERROR}
)
#: stops after which in-flight work is cancelled (left to the resume) rather than drained
_CANCELLING = frozenset({StopReason.INFRASTRUCTURE, StopReason.MAX_SECONDS})


def archive_order(entry: RecordedHypothesis) -> tuple[int, int, int]:
    """Archive order: seeds and entries recorded without a sequence first (as the generational loop
    orders them), then every pipelined verdict in the order it arrived."""
    seq = entry.hypothesis.meta.get(SEQ)
    if isinstance(seq, int):
        return (1, seq, 0)
    return (0, entry.hypothesis.iteration, entry.sample)


@dataclass
class _Replay:
    """A plan recorded before a resume: the archive it saw and its replayable answers by sample."""

    seen: int
    calls: dict[int, RecordedCall]
    judged: set[int] = field(default_factory=set)  # samples whose verdict is recorded


class PipelinedSearch(Search):
    """A `Search` whose loop is pipelined; everything else (parsing, verifying through the cache and the
    executor, the breaker, recording, finishing, held-out) is the generational search's own."""

    # -- state ------------------------------------------------------------------------------------------
    def _restore(self) -> None:
        if self.settings.halving_top:
            raise ConfigError("halving_top needs the generational loop (loop: generational)")
        row = self.store.get_search(self.run_id, self.key)
        self._elapsed_before = row.elapsed_s if row is not None else 0.0
        done = sorted(self.store.iterations(self.run_id, self.key), key=lambda r: (r.elapsed_s, r.iteration))
        self._finish_order = [r.iteration for r in done]
        self._finished = set(self._finish_order)
        self.tracker.iterations = len(done)
        self.tracker.best_history = [r.best_score for r in done]
        self.archive.extend(sorted(self.store.hypotheses(self.run_id, self.key), key=archive_order))
        self.tracker.spend = self.store.spend(self.run_id, self.key)
        self.tracker.elapsed_s = self._elapsed()
        self._replays: dict[int, _Replay] = {}
        by_iteration: dict[int, dict[int, Any]] = defaultdict(dict)
        for call in self.store.calls(self.run_id, self.key):
            by_iteration[call.iteration][call.sample] = call
        for iteration, calls in by_iteration.items():
            ok = {s: c.recorded() for s, c in calls.items() if c.ok}
            seen = next((c.params.get(ARCHIVE_SEEN) for c in calls.values()), None)
            if ok and isinstance(seen, int):
                self._replays[iteration] = _Replay(seen, ok)
            else:  # its request failed: planned again, and its error rows replaced, so not counted
                spent = self.tracker.spend
                self.tracker.spend = Spend(spent.calls - len(calls), spent.tokens, spent.cost_usd)
        for f in map(facts, self.archive.entries):
            if (replay := self._replays.get(f.iteration)) is not None and f.sequenced:
                replay.judged.add(f.sample)
        self._seq = sum(1 for e in self.archive.entries if facts(e).sequenced)

    def _best_history(self) -> list[float | None]:
        """After re-judging: the best so far after each finished iteration, in the order they finished,
        recomputed from the archive's (re-judged) verdicts."""
        scores: dict[int, list[float]] = defaultdict(list)
        for f in map(facts, self.archive.entries):
            if f.score is not None:
                scores[f.iteration].append(f.score)
        best = max(scores.get(0, []), default=None)
        history: list[float | None] = []
        for iteration in self._finish_order:
            best = max([*scores.get(iteration, []), *([] if best is None else [best])], default=None)
            history.append(best)
        return history

    _tracking_best = False  # set by `_loop`, which keeps `_best` from then on

    def _best_score(self) -> float | None:
        if not self._tracking_best:
            return super()._best_score()
        return None if self._best is None else self._best.verdict.score

    @property
    def _capacity(self) -> int:
        return self.executor.capacity

    # -- the loop ---------------------------------------------------------------------------------------
    async def _loop(self) -> tuple[StopReason, str]:
        self._changed = asyncio.Event()
        self._requests = 0  # plans whose model request is in flight
        self._backlog = 0  # answers requested or parsed, not yet judged
        self._result_stop: tuple[StopReason, str] | None = None
        self._reserved = 0  # completions requested by plans in flight, not yet recorded
        self._planned = len(self._replays)
        #: normal form -> its first judged entry (the compact entry itself: it holds the digest, so the map
        #: costs a dict slot an entry)
        self._firsts: dict[bytes, Entry] = first_of_each_form(self.archive.entries)
        #: the archive's best, kept as entries are recorded (`Archive.best` scans it all, per iteration)
        self._best = self.archive.best()
        self._tracking_best = True
        self._index = RankIndex(self.archive.entries, self.archive.records)  # the plans' views, indexed
        self._scores: dict[int, list[float]] = defaultdict(list)  # of unfinished iterations
        for f in map(facts, self.archive.entries):
            if f.iteration not in self._finished and f.score is not None:
                self._scores[f.iteration].append(f.score)
        tasks: set[asyncio.Task[None]] = set()
        self.store.group_commits(GROUP_COMMIT_S)
        try:
            async with asyncio.timeout(self.tracker.seconds_left()):
                limit = await self._pump(tasks)
        except TimeoutError:
            self.tracker.elapsed_s = self._elapsed()
            return StopReason.MAX_SECONDS, "wall-clock limit reached with work in flight"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.store.group_commits(0.0)  # commits what is pending; the end of the search commits per write
        return self._result_stop or limit or (StopReason.MAX_ITERATIONS, "nothing left to plan")

    async def _pump(self, tasks: set[asyncio.Task[None]]) -> tuple[StopReason, str] | None:
        """Start plans while slots allow; returns the limit that ended planning (None: a result did)."""
        limit: tuple[StopReason, str] | None = None
        pending = sorted(i for i in self._replays if i not in self._finished)
        fresh = self._fresh_numbers()
        while True:
            while self._result_stop is None and limit is None and self._may_start():
                if pending:
                    iteration = pending.pop(0)
                    self._start_plan(tasks, iteration, self._replays[iteration])
                    continue
                self.tracker.elapsed_s = self._elapsed()
                if stop := self._before_plan():
                    limit = stop
                    break
                iteration = next(fresh)
                samples = self.settings.samples
                if (calls := self.tracker.budget.calls) is not None:
                    samples = min(samples, calls - self.tracker.spend.calls - self._reserved)
                self._start_plan(tasks, iteration, None, samples)
            self._raise_failures(tasks)
            if self._result_stop is not None and self._result_stop[0] in _CANCELLING:
                return limit
            if not tasks:
                return limit
            self._changed.clear()
            with contextlib.suppress(TimeoutError):  # wake at least once a group's time to commit it
                await asyncio.wait_for(self._changed.wait(), GROUP_COMMIT_S)
            self.store.flush_due()

    def _fresh_numbers(self) -> Iterator[int]:
        """Iteration numbers for new plans: those of plans never recorded (a request that failed or was
        in flight at a kill) first, then new ones."""
        used = set(self._replays) | self._finished
        top = max(used, default=0)
        for number in range(1, top):
            if number not in used:
                yield number
        number = top
        while True:
            number += 1
            yield number

    def _may_start(self) -> bool:
        """A request slot is free and the verifier's queue is short enough to take another plan's answers
        (so the queue is never empty while answers can be had, and never grows without bound)."""
        if self._requests >= self.settings.pipeline_requests:
            return False
        return self._backlog < self._capacity + self.settings.samples

    def _before_plan(self) -> tuple[StopReason, str] | None:
        """The limits on making another plan: `iterations` on plans made, `calls` on completions requested
        (reserved by plans in flight), tokens, cost and seconds on what was spent so far."""
        budget = self.tracker.budget
        if budget.iterations is not None and self._planned >= budget.iterations:
            return StopReason.MAX_ITERATIONS, f"planned {self._planned} iterations"
        if budget.calls is not None and self.tracker.spend.calls + self._reserved >= budget.calls:
            return StopReason.MAX_CALLS, f"requested {budget.calls} of {budget.calls} LLM calls"
        saved, self.tracker.iterations = self.tracker.iterations, 0  # iterations are judged above
        try:
            return self.tracker.before_iteration()
        finally:
            self.tracker.iterations = saved

    @staticmethod
    def _raise_failures(tasks: set[asyncio.Task[None]]) -> None:
        """Drop finished plan tasks; a plan that raised (the store, a bug) ends the search with it."""
        for task in [t for t in tasks if t.done()]:
            tasks.discard(task)
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error

    # -- one plan ---------------------------------------------------------------------------------------
    def _start_plan(
        self, tasks: set[asyncio.Task[None]], iteration: int, replay: _Replay | None, samples: int = 0
    ) -> None:
        """Plan now, from the archive as it is (or as the recorded plan saw it), count what the plan holds
        against the slots, and hand the rest to a task."""
        seen = replay.seen if replay is not None else len(self.archive.entries)
        rng = random.Random(self.settings.sample_seed(iteration, 0))
        view = self._index.view(seen)
        plan = self.strategy.plan(view, self.settings, iteration, rng, self.task)
        plan = plan.with_answer_start(self.task.answer_start)
        wanted = sorted(replay.calls) if replay is not None else list(range(samples))
        if replay is None:
            self._planned += 1
            self._reserved += samples
        todo = [s for s in wanted if replay is None or s not in replay.judged]
        self._backlog += len(todo)
        self._requests += 1
        task = asyncio.create_task(self._run_plan(iteration, plan, seen, wanted, todo, replay))
        task.add_done_callback(lambda _t: self._changed.set())  # the pump wakes when a plan ends
        tasks.add(task)

    async def _run_plan(
        self,
        iteration: int,
        plan: Plan,
        seen: int,
        wanted: list[int],
        todo: list[int],
        replay: _Replay | None,
    ) -> None:
        """Request or replay the plan's answers, then verify and record each candidate the moment it is
        parsed; the iteration finishes with its last verdict."""
        try:
            if replay is not None:
                completions = {s: replay.calls[s].completion for s in todo}
            else:
                completions = await self._request(iteration, plan, wanted, seen)
                self._reserved -= len(wanted)
        finally:
            self._requests -= 1
            self._changed.set()
        if not completions and todo:
            self._backlog -= len(todo)
            self._stop_with(StopReason.MODEL_ERROR, f"iteration {iteration}: the model produced nothing")
            return
        self._backlog -= len(todo) - len(completions)
        await asyncio.gather(
            *(
                self._judge_and_record(iteration, s, c, plan.for_sample(s), seen)
                for s, c in completions.items()
            )
        )
        if self._result_stop is None or self._result_stop[0] not in _CANCELLING:
            self._finish_iteration(iteration)

    async def _request(
        self, iteration: int, plan: Plan, samples: list[int], seen: int
    ) -> dict[int, Completion | None]:
        """The answers of one plan: consecutive samples that share a prompt are one `generate(n=...)`
        (one request where the provider takes `n`); every answer is recorded with the archive it saw."""
        groups: list[list[int]] = []
        for s in samples:
            if groups and plan.for_sample(s).messages is plan.for_sample(groups[-1][-1]).messages:
                groups[-1].append(s)
            else:
                groups.append([s])
        results = await asyncio.gather(
            *(self._generate(iteration, g, plan.for_sample(g[0]).messages) for g in groups)
        )
        out: dict[int, Completion | None] = {}
        with self.store.together():  # a kill keeps all of a plan's calls or none (its replay is whole)
            for group, result in zip(groups, results, strict=True):
                for s in group:
                    params = self._params(iteration, s)
                    completion = result[s - group[0]] if isinstance(result, list) else None
                    error = result if isinstance(result, str) else None
                    self.store.record_call(
                        self.run_id, self.key, iteration, s, plan.for_sample(s).messages,
                        {**params, ARCHIVE_SEEN: seen}, completion, error,
                    )  # fmt: skip
                    self._spend(completion)
                    if completion is not None:
                        out[s] = completion
        return out

    def _params(self, iteration: int, sample: int) -> dict[str, Any]:
        return {
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.completion_tokens,
            "seed": self.settings.sample_seed(iteration, sample),
        }

    async def _generate(
        self, iteration: int, group: list[int], messages: list[Message]
    ) -> list[Completion] | str:
        params = self._params(iteration, group[0])  # the model seeds sample i of n with seed + i
        try:
            completions = await self.model.generate(messages, n=len(group), **params)
        except ModelError as e:
            return str(e)
        if len(completions) != len(group):
            return f"the model returned {len(completions)} completions for {len(group)} requested"
        return list(completions)

    def _spend(self, completion: Completion | None) -> None:
        """Spend kept in memory as calls are recorded (the store's sum is the same; reading it per call
        would cost a scan of every call)."""
        spent = self.tracker.spend
        if completion is None:
            self.tracker.spend = Spend(spent.calls + 1, spent.tokens, spent.cost_usd)
            return
        tokens = completion.usage.prompt_tokens + completion.usage.completion_tokens
        self.tracker.spend = Spend(
            spent.calls + 1, spent.tokens + tokens, spent.cost_usd + (completion.cost_usd or 0.0)
        )

    async def _judge_and_record(
        self, iteration: int, sample: int, completion: Completion | None, plan: Plan, seen: int
    ) -> None:
        try:
            if completion is None:
                return
            parsed = self._parse(completion, iteration, plan)
            first = self._firsts.get(form_of(parsed[0])) if parsed[1] is None else None
            judged = await judge_deduplicated(
                [parsed], [first] if first else [], self._judge, self.archive.record
            )
            [(hypothesis, verdict)] = judged
            if self._result_stop is not None and self._result_stop[0] in _CANCELLING:
                return  # the breaker tripped meanwhile: this one is verified again on resume
            if stop := self._breaker.observe([verdict]):
                self._stop_with(*stop)
                return
            self._record(sample, hypothesis, verdict, seen)
        finally:
            self._backlog -= 1
            self._changed.set()

    def _record(self, sample: int, hypothesis: Hypothesis, verdict: Verdict, seen: int) -> None:
        meta = {**hypothesis.meta, SEQ: self._seq, SEEN: seen}
        hypothesis = hypothesis.model_copy(update={"meta": meta})
        self._seq += 1
        self.store.record_hypothesis(self.run_id, self.key, sample, hypothesis, verdict)
        entry = RecordedHypothesis(sample, hypothesis, verdict)
        kept = self.archive.append(entry)
        self._index.add(kept)
        for form, first in first_of_each_form([kept]).items():
            self._firsts.setdefault(form, first)
        if verdict.score is not None:
            self._scores[hypothesis.iteration].append(verdict.score)
            if self._best is None or rank_key(entry) > rank_key(self._best):  # `max` keeps the first
                self._best = entry

    def _finish_iteration(self, iteration: int) -> None:
        scores = self._scores.pop(iteration, [])
        best = self._best_score()
        self.tracker.iterations += 1
        self.tracker.best_history.append(best)
        self.tracker.elapsed_s = self._elapsed()
        self._finished.add(iteration)
        self._finish_order.append(iteration)
        self.store.record_iteration(
            self.run_id, self.key, iteration, best, max(scores) if scores else None,
            self.tracker.spend, self.tracker.elapsed_s,
        )  # fmt: skip
        self.store.set_search_elapsed(self.run_id, self.key, self.tracker.elapsed_s)
        self._emit()
        if stop := self.tracker.after_iteration():
            self._stop_with(*stop)

    def _stop_with(self, reason: StopReason, detail: str) -> None:
        if self._result_stop is None and reason in _RESULT_STOPS:
            self._result_stop = (reason, detail)
        self._changed.set()


#: the loops a search can run, by the `loop` setting's name
LOOPS: Registry[type[Search]] = Registry("loop")
LOOPS.add("generational", Search)
LOOPS.add("pipelined", PipelinedSearch)


def make_search(loop: str, **kwargs: Any) -> Search:
    """The search of the named loop (`generational` or `pipelined`) with the `Search` arguments."""
    return LOOPS.get(loop)(**kwargs)
