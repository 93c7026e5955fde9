"""Diff edits: the model answers with SEARCH/REPLACE blocks on its parent instead of a whole program.

    <<<<<<< SEARCH
    text copied exactly from the parent
    =======
    what replaces it
    >>>>>>> REPLACE

Small edits keep what already works in a long program and cost fewer tokens (AlphaEvolve, OpenEvolve).
An edit that does not apply is not dropped: `apply_edits` raises `EditError` (a `ParseError`, so the loop
records the answer as `invalid` with the reason as feedback) and the evolve strategy shows that answer and
its reason in the next prompt of the same island, asking for a repair on the same parent.
"""

from __future__ import annotations

import re

from agent.kernel.errors import ParseError

_SEARCH = re.compile(r"^\s*<{5,}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,}\s*$")
_REPLACE = re.compile(r"^\s*>{5,}\s*REPLACE\s*$")
MAX_BLOCKS = 64  # a reply of thousands of blocks is an error, not an edit worth applying

EDIT_INSTRUCTIONS = """Answer with one or more edits of the parent program, each in exactly this form:
<<<<<<< SEARCH
lines copied exactly from the parent (whitespace included)
=======
the lines that replace them
>>>>>>> REPLACE
Each SEARCH text must occur in the parent; edits apply in order. To rewrite everything, answer with the
whole new solution in the required format instead."""


class EditError(ParseError):
    """An answer whose SEARCH/REPLACE blocks are malformed or do not match the parent."""


def has_edits(text: str) -> bool:
    """Whether an answer tries to edit (any SEARCH marker line): then it must apply, or it is an error."""
    return any(_SEARCH.match(line) for line in text.splitlines())


def parse_edits(text: str) -> list[tuple[str, str]]:
    """The (search, replace) pairs of an answer, in order; raises `EditError` on a malformed block."""
    blocks: list[tuple[str, str]] = []
    state, search, replace = "out", [], []
    for line in text.splitlines():
        if state == "out":
            if _SEARCH.match(line):
                state, search, replace = "search", [], []
        elif state == "search":
            if _DIVIDER.match(line):
                state = "replace"
            elif _SEARCH.match(line) or _REPLACE.match(line):
                number = len(blocks) + 1
                raise EditError(f"edit block {number} has no ======= line between SEARCH and REPLACE")
            else:
                search.append(line)
        elif _REPLACE.match(line):
            blocks.append(("\n".join(search), "\n".join(replace)))
            state = "out"
        elif _SEARCH.match(line):
            raise EditError(f"edit block {len(blocks) + 1} is not closed with >>>>>>> REPLACE")
        else:
            replace.append(line)
    if state != "out":
        raise EditError(f"edit block {len(blocks) + 1} is not closed with >>>>>>> REPLACE")
    if len(blocks) > MAX_BLOCKS:
        raise EditError(f"{len(blocks)} edit blocks: at most {MAX_BLOCKS} are applied; rewrite instead")
    return blocks


def apply_edits(parent: str, text: str) -> str:
    """The parent with every block of `text` applied in order (each to the first match of its SEARCH
    text in the program as edited so far); raises `EditError` saying which block failed and why."""
    blocks = parse_edits(text)
    if not blocks:
        raise EditError("no complete SEARCH/REPLACE block was found")
    program = parent
    for number, (search, replace) in enumerate(blocks, 1):
        if not search.strip():
            raise EditError(f"edit block {number} has an empty SEARCH part: copy the lines to replace")
        at = program.find(search)
        if at < 0:
            first = search.strip().splitlines()[0][:120]
            raise EditError(
                f"the SEARCH part of edit block {number} does not occur in the parent exactly "
                f"(it starts with {first!r}); copy the parent's lines verbatim, whitespace included"
            )
        program = program[:at] + replace + program[at + len(search) :]
    return program
