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
from agent.search.dedup import as_record
from agent.search.edits import EDIT_INSTRUCTIONS
from agent.search.entries import ABSENT, PARSE_ERROR, REPAIR_OF, Entry, facts
from agent.search.plan import Plan
from agent.search.prompts import build_population_messages, build_repair_messages
from agent.search.repeats import repeat_note

__all__ = ["PARSE_ERROR", "REPAIR_OF", "failures", "repair_plans", "repairable"]


def repairable(entry: Entry) -> bool:
    """A candidate of the model's that failed on its own account, and is not itself a repair or a copy."""
    f = facts(entry)
    return (
        f.status in UNSCORED
        and not f.infrastructure  # never judged: re-verified on resume instead
        and f.iteration > 0
        and not f.seed
        and f.repair_of is ABSENT
        and not f.near_duplicate_of
    )


def failures(entries: Sequence[Entry], repaired: Container[str] = frozenset()) -> list[Entry]:
    """The repairable candidates among `entries`, one per id, in sample order; none whose id is in
    `repaired` (the ids the search's records show repaired once already, `Archive.meta_values(REPAIR_OF)`),
    should the model propose the same program again."""
    seen: set[str] = set()
    out: list[Entry] = []
    for entry in sorted(entries, key=lambda e: (facts(e).iteration, facts(e).sample)):
        hid = facts(entry).id
        if repairable(entry) and hid not in repaired and hid not in seen:
            seen.add(hid)
            out.append(entry)
    return out


def repair_plans(
    failed: Sequence[Entry],
    *,
    history: Sequence[Entry],
    system_prompt: str,
    instructions: str,
    samples: int,
    meta: dict[str, Any],
    diff: bool = False,
    parent_of: Callable[[RecordedHypothesis], Entry | None] = lambda _e: None,
    record: Callable[[Entry], RecordedHypothesis] = as_record,
) -> tuple[Plan, ...]:
    """One repair plan per failed candidate (at most `samples`). `history`: the search's recorded
    hypotheses, for the note on an error that keeps repeating; `parent_of`: the parent a failed edit was
    meant for; `diff`: whether the repair may answer with edits of the program it fixes; `record`: reads
    an entry whole (the archive's `record`), for the failed programs and parents the prompts show."""
    plans: list[Plan] = []
    for failure in failed:
        if len(plans) == samples:
            break
        entry = record(failure)
        child_meta = {**meta, REPAIR_OF: entry.hypothesis.id}
        if facts(failure).edit_error:
            member = parent_of(entry)
            if member is None:
                continue
            parent = record(member)
            messages = build_population_messages(
                system_prompt, instructions, parent=parent, top=[], others=[], failed_edits=[entry],
                edit_instructions=EDIT_INSTRUCTIONS,
            )  # fmt: skip
            ids = (parent.hypothesis.id, entry.hypothesis.id)
            plans.append(Plan(messages, ids, child_meta, edit_base=parent.hypothesis.content))
            continue
        editable = diff and not facts(failure).parse_error  # unparsed text is no program to edit
        error = facts(failure).error
        messages = build_repair_messages(
            system_prompt, instructions, entry, note=repeat_note(failure, history),
            edit_instructions=EDIT_INSTRUCTIONS if editable else None, line=error.line if error else None,
        )  # fmt: skip
        base = entry.hypothesis.content if editable else None
        plans.append(Plan(messages, (entry.hypothesis.id,), child_meta, edit_base=base))
    return tuple(plans)
