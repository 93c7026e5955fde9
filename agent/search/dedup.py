"""Near-duplicates: the same program up to comments, whitespace and formatting is not verified again.

Exact duplicates share a verdict already (a hypothesis's id is its content hash, the cache's key). A model
also often re-proposes a program that differs only in a comment or in spacing; verifying it again costs a
sandbox run (seconds, for a loss trained from scratch) and tells nothing new. Python is compared by its
syntax tree (`ast.dump` drops comments and formatting); anything that does not parse by its words. The
copy reuses the first one's verdict and says so in its meta (`near_duplicate_of`), so the records show that
it was never judged on its own.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Hypothesis, Verdict
from agent.search.breaker import infrastructure_error

NEAR_DUPLICATE_OF = "near_duplicate_of"
#: hypothesis id -> the digest of its normal form (ids are content hashes, so an entry never goes stale).
#: A digest, not the form: `ast.dump` of a 2 KB program is ~10 KB, kept for every hypothesis of a long run
#: (issue 16: memory flat); 16 bytes a hypothesis here. Past the cap the oldest go (a miss only recomputes).
_forms: dict[str, bytes] = {}
_MAX_FORMS = 100_000


def normal_form(content: str) -> bytes:
    """A key (a 16-byte digest) equal for programs that differ only in comments, whitespace or formatting."""
    try:
        form = "py:" + ast.dump(ast.parse(content))
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not Python (or hostile nesting)
        form = "text:" + " ".join(content.split())
    return hashlib.blake2b(form.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _form(h: Hypothesis) -> bytes:
    form = _forms.get(h.id)
    if form is None:
        form = normal_form(h.content)
        if len(_forms) >= _MAX_FORMS:
            del _forms[next(iter(_forms))]
        _forms[h.id] = form
    return form


def _judged(entry: RecordedHypothesis) -> bool:
    """A verdict another copy may reuse: the candidate was parsed and really judged."""
    return "parse_error" not in entry.hypothesis.meta and infrastructure_error(entry.verdict) is None


def first_of_each_form(entries: Iterable[RecordedHypothesis]) -> dict[bytes, RecordedHypothesis]:
    firsts: dict[bytes, RecordedHypothesis] = {}
    for entry in entries:
        if _judged(entry):
            firsts.setdefault(_form(entry.hypothesis), entry)
    return firsts


Judge = Callable[[Hypothesis, str | None], Awaitable[Verdict]]


async def judge_deduplicated(
    items: list[tuple[Hypothesis, str | None]], archive: Iterable[RecordedHypothesis], judge: Judge
) -> list[tuple[Hypothesis, Verdict]]:
    """Judge `items` (hypothesis, parse error) concurrently, verifying each normal form once: a copy of an
    archived program, or of an earlier item of the same batch, takes that one's verdict. An exact copy
    of an archived one goes to the verdict cache, which knows which sandbox judged it; an exact copy
    within the batch takes the first's verdict as it is; a near one records `near_duplicate_of`."""
    firsts = first_of_each_form(archive)
    batch: dict[bytes, int] = {}  # normal form -> index of the item of this batch that is verified
    plan: list[tuple[Hypothesis, RecordedHypothesis | int | None]] = []
    for index, (h, parse_error) in enumerate(items):
        if parse_error is not None:
            plan.append((h, None))
            continue
        form = _form(h)
        source: RecordedHypothesis | int | None = firsts.get(form)
        if isinstance(source, RecordedHypothesis) and source.hypothesis.id == h.id:
            source = None  # an exact copy: the verdict cache decides (it knows which sandbox judged)
        if source is None and form in batch:
            source = batch[form]
        elif source is None:
            batch[form] = index
        plan.append((h, source))
    own = [i for i, (_, source) in enumerate(plan) if source is None]
    judged = dict(zip(own, await asyncio.gather(*(judge(*items[i]) for i in own)), strict=True))
    out: list[tuple[Hypothesis, Verdict]] = []
    for index, (h, source) in enumerate(plan):
        if source is None:
            out.append((h, judged[index]))
            continue
        first = items[source][0] if isinstance(source, int) else source.hypothesis
        verdict = judged[source] if isinstance(source, int) else source.verdict
        if isinstance(source, int) and infrastructure_error(verdict) is not None:
            verdict = await judge(h, None)  # the first could not be judged: this copy tries on its own
        elif first.id != h.id:
            h = h.model_copy(update={"meta": {**h.meta, NEAR_DUPLICATE_OF: first.id}})
        out.append((h, verdict))
    return out
