"""What one iteration asks: the prompts, the parents they name, and how their answers become candidates.

The loop asks the strategy for a `Plan` once per iteration (`Strategy.plan`). A strategy that only chooses
parents (`refine`, `best-of-n`) builds the plain plan from them (`plain_plan`); `evolve` also decides what
the children record in their meta (their island) and whether answers are diff edits of the parent.

A plan may hand some samples a prompt of their own (`repairs`): sample i < len(repairs) answers
`repairs[i]`, the others the plan itself. Repairs of failed candidates (agent/search/repair.py) use this,
so a failure gets its one repair prompt without taking the whole iteration from the search.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Message
from agent.search.edits import EditError, apply_edits, has_edits
from agent.search.islands import EDIT_ERROR
from agent.search.prompts import build_messages
from agent.search.repeats import repeat_notes


@dataclass(frozen=True)
class Plan:
    messages: list[Message]
    parent_ids: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)  # recorded in every child's meta
    edit_base: str | None = None  # diff edits: the parent's content the SEARCH blocks apply to
    repairs: tuple[Plan, ...] = ()  # the plans of the first len(repairs) samples

    def with_answer_start(self, text: str) -> Plan:
        """This plan with `text` as the start of the answers to its whole-solution prompts
        (Task.answer_start): a last, assistant message the model continues. Prompts that may be answered
        by diff edits (an `edit_base`) are left as they are: an edit does not start like a whole solution."""
        if not text:
            return self
        messages = self.messages
        if self.edit_base is None and not (messages and messages[-1].role == "assistant"):
            messages = [*messages, Message(role="assistant", content=text)]
        repairs = tuple(r.with_answer_start(text) for r in self.repairs)
        return replace(self, messages=messages, repairs=repairs)

    def for_sample(self, sample: int) -> Plan:
        """The plan sample `sample` answers: its repair's, or this one."""
        return self.repairs[sample] if sample < len(self.repairs) else self

    def content(self, parse: Callable[[str], str], text: str) -> str:
        """The candidate an answer stands for: an edited parent when the answer edits (the edit is of
        content already parsed, so the task's parser is not applied again), else the task's parse."""
        if self.edit_base is not None and has_edits(text):
            return apply_edits(self.edit_base, text)
        return parse(text)

    @staticmethod
    def error_meta(error: Exception) -> dict[str, Any]:
        """What an unparsed answer records besides its error: an edit that did not apply is marked, so
        the next prompt of its island shows it for repair."""
        return {EDIT_ERROR: True} if isinstance(error, EditError) else {}


def plain_plan(
    system_prompt: str,
    instructions: str,
    parents: list[RecordedHypothesis],
    history: Sequence[RecordedHypothesis] = (),
) -> Plan:
    """The plan of a strategy that only chooses parents: one prompt showing them, nothing else recorded.
    `history` (the search's records) says which parents' errors keep repeating (agent/search/repeats.py)."""
    messages = build_messages(system_prompt, instructions, parents, repeat_notes(parents, history))
    return Plan(messages, tuple(p.hypothesis.id for p in parents))
