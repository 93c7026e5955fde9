"""Successive halving for noisy verifiers: the top candidates are re-verified on more seeds.

A reward or loss verifier trains on a few seeds, so a candidate can score high by luck. Before a candidate
becomes a parent or the reported best, it is judged again on the verifier's next fidelity (more seeds),
and its verdict is replaced by the better-founded one; a lucky candidate drops, the next one moves up and is
re-verified in turn, until the `top` candidates all rest on the most seeds. Only those are ever
re-verified: everyone else keeps its cheap verdict.

The policy is a pure function of the archive (`promotions`), so a resumed search, whose archive holds the
re-verified verdicts the store recorded, asks for the same re-verifications (none that were done: their
verdicts are cached under a name that carries the number of seeds, `AtFidelity`). The capability is the
kernel's `MultiFidelityVerifier`, an explicit `fidelities` field; the held-out check does not use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Hypothesis, Verdict
from agent.kernel.verifier import SEEDS_METRIC, MultiFidelityVerifier, Verifier, fidelities_of
from agent.search.archive import Archive, rank_key
from agent.search.breaker import infrastructure_error
from agent.search.entries import Entry, facts

VerifyFn = Callable[[Verifier, Hypothesis], Awaitable[Verdict]]
RecordFn = Callable[[RecordedHypothesis], None]


class AtFidelity:
    """`inner` judging on `seeds` seeds, as a plain Verifier: its name carries the seed count, so the
    verdict cache (keyed on name and version) never mixes fidelities; its verdicts say their seed count."""

    def __init__(self, inner: MultiFidelityVerifier, seeds: int) -> None:
        self.inner = inner
        self.seeds = seeds
        self.name = f"{inner.name}@{seeds}seeds"
        self.version = inner.version

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        verdict = await self.inner.verify_at(hypothesis, self.seeds)
        note = f"[re-verified on {self.seeds} seeds]"
        feedback = f"{note}\n{verdict.feedback}" if verdict.feedback else note
        # first, so that the bound on the number of metrics never drops it
        metrics = {SEEDS_METRIC: float(self.seeds), **verdict.metrics}
        metrics[SEEDS_METRIC] = float(self.seeds)
        return verdict.model_copy(update={"metrics": metrics, "feedback": feedback})


def seeds_of(entry: Entry, base: int) -> int:
    """On how many seeds an entry's score rests: its verdict's `seeds` metric, else the verifier's base."""
    value = facts(entry).metrics.get(SEEDS_METRIC)
    return int(value) if value is not None and value == value and value >= 1 else base


def promotions(entries: Sequence[Entry], fidelities: Sequence[int], top: int) -> list[tuple[str, int]]:
    """(hypothesis id, seeds to re-verify it on) for each of the `top` best distinct scored candidates
    whose score rests on fewer seeds than the most; each moves one rung up (rung by rung: a candidate that
    is demoted on the next rung never costs the highest one)."""
    if top <= 0 or len(fidelities) < 2:
        return []
    seen: set[str] = set()
    out: list[tuple[str, int]] = []
    for entry in sorted(entries, key=rank_key, reverse=True):
        f = facts(entry)
        if f.score is None or f.id in seen:
            continue
        seen.add(f.id)
        seeds = seeds_of(f, fidelities[0])
        higher = [level for level in fidelities if level > seeds]
        if higher:
            out.append((f.id, higher[0]))
        if len(seen) == top:
            break
    return out


async def reevaluate_top(
    archive: Archive, verifier: Verifier, top: int, verify: VerifyFn, record: RecordFn
) -> int:
    """Re-verify until the `top` candidates rest on the most seeds; replace (and record) their verdicts.

    Returns how many re-verifications were asked for. Stops early on an infrastructure failure (the old
    verdict stays; the next iteration tries again), so a broken sandbox cannot loop here.
    """
    levels = fidelities_of(verifier)
    if not levels or not isinstance(verifier, MultiFidelityVerifier):
        return 0
    asked: set[tuple[str, int]] = set()
    while wanted := promotions(archive.entries, levels, top):
        if asked.issuperset(wanted):  # a verdict that does not say its seeds: never ask twice
            break
        by_id = {facts(e).id: e for e in archive.entries}
        verdicts = await asyncio.gather(
            *(
                verify(AtFidelity(verifier, seeds), archive.record(by_id[hid]).hypothesis)
                for hid, seeds in wanted
            )
        )
        asked.update(wanted)
        if any(infrastructure_error(v) is not None for v in verdicts):
            break
        fresh = {hid: v for (hid, _), v in zip(wanted, verdicts, strict=True)}
        for i, entry in enumerate(archive.entries):
            if (verdict := fresh.get(facts(entry).id)) is not None:
                updated = RecordedHypothesis(entry.sample, archive.record(entry).hypothesis, verdict)
                archive.replace(i, updated)
                record(updated)
    return len(asked)
