"""Bounded repair: a candidate that failed gets one prompt to fix it before the search abandons it.

A crash, a timeout, a gate's rejection or an unparseable answer carries no score, so ranking alone would
bury it, and with it an idea that may be one typo from working. The next iteration (in `evolve`: the next
one of its island) hands one sample per failed candidate a repair prompt: the failed program shown as the
thing to fix, with its verifier feedback. The child records `repair_of` (the failed hypothesis's id) in its
meta, and a failed repair is never repaired again, so repairs are bounded by construction.

Everything here is a pure function of the recorded hypotheses and verdicts, so a resumed search plans the
same repair prompts. An edit that did not apply (diff edits) is repaired on the parent it was meant for;
everything else on the failed program itself. `best-of-n` never repairs: its samples stay independent.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from typing import Any

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import UNSCORED
from agent.search.breaker import infrastructure_error
from agent.search.dedup import NEAR_DUPLICATE_OF
from agent.search.edits import EDIT_INSTRUCTIONS
from agent.search.islands import EDIT_ERROR
from agent.search.plan import Plan
from agent.search.prompts import build_population_messages, build_repair_messages
from agent.search.repeats import repeat_note

REPAIR_OF = "repair_of"
PARSE_ERROR = "parse_error"


def repairable(entry: RecordedHypothesis) -> bool:
    """A candidate of the model's that failed on its own account, and is not itself a repair or a copy."""
    meta = entry.hypothesis.meta
    return (
        entry.verdict.status in UNSCORED
        and infrastructure_error(entry.verdict) is None  # never judged: re-verified on resume instead
        and entry.hypothesis.iteration > 0
        and not meta.get("seed")
        and REPAIR_OF not in meta
        and NEAR_DUPLICATE_OF not in meta
    )


def failures(
    entries: Sequence[RecordedHypothesis], repaired: Container[str] = frozenset()
) -> list[RecordedHypothesis]:
    """The repairable candidates among `entries`, one per id, in sample order; none whose id is in
    `repaired` (the ids the search's records show repaired once already, `Archive.meta_values(REPAIR_OF)`),
    should the model propose the same program again."""
    seen: set[str] = set()
    out: list[RecordedHypothesis] = []
    for entry in sorted(entries, key=lambda e: (e.hypothesis.iteration, e.sample)):
        hid = entry.hypothesis.id
        if repairable(entry) and hid not in repaired and hid not in seen:
            seen.add(hid)
            out.append(entry)
    return out


def repair_plans(
    failed: Sequence[RecordedHypothesis],
    *,
    history: Sequence[RecordedHypothesis],
    system_prompt: str,
    instructions: str,
    samples: int,
    meta: dict[str, Any],
    diff: bool = False,
    parent_of: Callable[[RecordedHypothesis], RecordedHypothesis | None] = lambda _e: None,
) -> tuple[Plan, ...]:
    """One repair plan per failed candidate (at most `samples`). `history`: the search's recorded
    hypotheses, for the note on an error that keeps repeating; `parent_of`: the parent a failed edit was
    meant for; `diff`: whether the repair may answer with edits of the program it fixes."""
    plans: list[Plan] = []
    for entry in failed:
        if len(plans) == samples:
            break
        child_meta = {**meta, REPAIR_OF: entry.hypothesis.id}
        if entry.hypothesis.meta.get(EDIT_ERROR):
            parent = parent_of(entry)
            if parent is None:
                continue
            messages = build_population_messages(
                system_prompt, instructions, parent=parent, top=[], others=[], failed_edits=[entry],
                edit_instructions=EDIT_INSTRUCTIONS,
            )  # fmt: skip
            ids = (parent.hypothesis.id, entry.hypothesis.id)
            plans.append(Plan(messages, ids, child_meta, edit_base=parent.hypothesis.content))
            continue
        editable = diff and PARSE_ERROR not in entry.hypothesis.meta  # unparsed text is no program to edit
        messages = build_repair_messages(
            system_prompt, instructions, entry, note=repeat_note(entry, history),
            edit_instructions=EDIT_INSTRUCTIONS if editable else None,
        )  # fmt: skip
        base = entry.hypothesis.content if editable else None
        plans.append(Plan(messages, (entry.hypothesis.id,), child_meta, edit_base=base))
    return tuple(plans)
