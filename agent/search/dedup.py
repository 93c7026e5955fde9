"""Near-duplicates: the same program up to comments, whitespace and formatting is not verified again.

Exact duplicates share a verdict already (a hypothesis's id is its content hash, the cache's key). A model
also often re-proposes a program that differs only in a comment or in spacing; verifying it again costs a
sandbox run (seconds, for a loss trained from scratch) and tells nothing new. Python is compared by its
syntax tree (`ast.dump` drops comments and formatting); anything that does not parse by its words. The
copy reuses the first one's verdict and says so in its meta (`near_duplicate_of`), so the records show that
it was never judged on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Hypothesis, Verdict
from agent.search.breaker import infrastructure_error
from agent.search.entries import NEAR_DUPLICATE_OF, Entry, facts, form_of, normal_form

__all__ = ["NEAR_DUPLICATE_OF", "first_of_each_form", "judge_deduplicated", "normal_form"]
_form = form_of  # (the pipelined loop's name for it)


def _judged(entry: Entry) -> bool:
    """A verdict another copy may reuse: the candidate was parsed and really judged."""
    f = facts(entry)
    return not f.parse_error and not f.infrastructure


def first_of_each_form(entries: Iterable[Entry]) -> dict[bytes, Entry]:
    """Normal form -> the first entry of `entries` with that form whose verdict another copy may reuse."""
    firsts: dict[bytes, Entry] = {}
    for entry in entries:
        if _judged(entry):
            firsts.setdefault(facts(entry).form, entry)
    return firsts


def as_record(entry: Entry) -> RecordedHypothesis:
    """The whole record of an entry that is one (an archive's `record` also reads compact ones back)."""
    if not isinstance(entry, RecordedHypothesis):
        raise TypeError("a compact archive entry needs its archive's `record` to be read whole")
    return entry


Judge = Callable[[Hypothesis, str | None], Awaitable[Verdict]]


async def judge_deduplicated(
    items: list[tuple[Hypothesis, str | None]],
    archive: Iterable[Entry],
    judge: Judge,
    record: Callable[[Entry], RecordedHypothesis] = as_record,
) -> list[tuple[Hypothesis, Verdict]]:
    """Judge `items` (hypothesis, parse error) concurrently, verifying each normal form once: a copy of an
    archived program, or of an earlier item of the same batch, takes that one's verdict. An exact copy
    of an archived one goes to the verdict cache, which knows which sandbox judged it; an exact copy
    within the batch takes the first's verdict as it is; a near one records `near_duplicate_of`. `record`
    reads an archived entry whole (its verdict is what a near copy takes)."""
    firsts = first_of_each_form(archive)
    batch: dict[bytes, int] = {}  # normal form -> index of the item of this batch that is verified
    plan: list[tuple[Hypothesis, Entry | int | None]] = []
    for index, (h, parse_error) in enumerate(items):
        if parse_error is not None:
            plan.append((h, None))
            continue
        form = form_of(h)
        source: Entry | int | None = firsts.get(form)
        if source is not None and not isinstance(source, int) and facts(source).id == h.id:
            source = None  # an exact copy: the verdict cache decides (it knows which sandbox judged)
        if source is None and form in batch:
            source = batch[form]
        elif source is None:
            batch[form] = index
        plan.append((h, source))
    own = [i for i, (_, source) in enumerate(plan) if source is None]
    if len(own) == 1:  # the pipelined loop judges one at a time: no task to run one coroutine (issue 16)
        judged = {own[0]: await judge(*items[own[0]])}
    else:
        judged = dict(zip(own, await asyncio.gather(*(judge(*items[i]) for i in own)), strict=True))
    out: list[tuple[Hypothesis, Verdict]] = []
    for index, (h, source) in enumerate(plan):
        if source is None:
            out.append((h, judged[index]))
            continue
        if isinstance(source, int):
            first, verdict = items[source][0], judged[source]
        else:
            whole = record(source)
            first, verdict = whole.hypothesis, whole.verdict
        if isinstance(source, int) and infrastructure_error(verdict) is not None:
            verdict = await judge(h, None)  # the first could not be judged: this copy tries on its own
        elif first.id != h.id:
            h = h.model_copy(update={"meta": {**h.meta, NEAR_DUPLICATE_OF: first.id}})
        out.append((h, verdict))
    return out
