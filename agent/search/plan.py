"""What one iteration asks: the prompt, the parents it names, and how its answers become candidates.

The loop asks the strategy for a `Plan` once per iteration. A strategy that only chooses parents (`refine`,
`best-of-n`) gets the plain plan (`make_plan`); one with a `plan` method (`evolve`) also decides what the
children record in their meta (their island) and whether answers are diff edits of the parent.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.kernel.types import Message
from agent.search.archive import Archive
from agent.search.edits import EditError, apply_edits, has_edits
from agent.search.islands import EDIT_ERROR
from agent.search.prompts import build_messages
from agent.search.settings import SearchSettings


@dataclass(frozen=True)
class Plan:
    messages: list[Message]
    parent_ids: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)  # recorded in every child's meta
    edit_base: str | None = None  # diff edits: the parent's content the SEARCH blocks apply to

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


def make_plan(
    strategy: Any,
    archive: Archive,
    settings: SearchSettings,
    iteration: int,
    rng: random.Random,
    system_prompt: str,
    instructions: str,
) -> Plan:
    planner = getattr(strategy, "plan", None)
    if callable(planner):
        return planner(archive, settings, iteration, rng, system_prompt, instructions)
    parents = strategy.select_parents(archive, settings.top_k, rng)
    return Plan(build_messages(system_prompt, instructions, parents), tuple(p.hypothesis.id for p in parents))
