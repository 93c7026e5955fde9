"""Repeated errors: say that an error keeps coming back, instead of showing a traceback the model ignored.

A small model shown the same traceback again tends to make the same mistake again (issue 12: the 1.5B
model called the same missing helper after the traceback was fed back). When a failed candidate's error
matches the errors of earlier attempts of the same search, its feedback in a prompt is replaced by a short
note: how often the error repeated, the error, the offending line, and the likely fix.

Two errors are the same when their exception type and message agree up to numbers, paths and addresses,
or when they fail on the same line of code. Only the verdict's feedback text is read (the verifiers
already trim tracebacks to the candidate's own frames), so the note is a pure function of the records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from agent.kernel.types import VerdictStatus
from agent.search.entries import Entry, ErrorSignature, facts

__all__ = ["ErrorSignature", "likely_fix", "repeat_note", "repeat_notes", "same_error", "signature"]
MAX_NOTE_PART = 240


def signature(entry: Entry) -> ErrorSignature | None:
    """What a failed candidate's error is, coarsely; None for a candidate that did not fail (computed once,
    when the archive records the entry: agent/search/entries.py `error_signature`)."""
    return facts(entry).error


def same_error(a: ErrorSignature, b: ErrorSignature) -> bool:
    return (a.kind, a.message) == (b.kind, b.message) or (a.line is not None and a.line == b.line)


def likely_fix(sig: ErrorSignature, status: VerdictStatus) -> str:
    """One line of advice for the commonest small-model mistakes; a plain "change it" otherwise."""
    if status is VerdictStatus.TIMEOUT:
        return "it ran too long: make it do much less work (fewer loops, iterations or samples)"
    if "truth value of an array" in sig.text:
        return "use np.where(...) (or .any() / .all()) instead of `if` on an array"
    if "could not be broadcast" in sig.text or "whole observation (a row)" in sig.text:
        return "give every term one value per environment: take columns (obs[:, 1]), not rows (obs[1])"
    if name := re.search(r"name '([^']+)' is not defined", sig.text):
        return f"define `{name.group(1)}` (or import it) before it is used, or use a name that exists"
    if sig.kind.endswith(("ModuleNotFoundError", "ImportError")):
        return "do not import that module: use only what the instructions say is available"
    if attr := re.search(r"has no attribute '([^']+)'", sig.text):
        return f"`{attr.group(1)}` does not exist there: use an attribute or function that does"
    advice = {
        "SyntaxError": "fix the syntax of that line",
        "IndentationError": "fix the indentation of that line",
        "TypeError": "check the types and the number of arguments on that line",
        "IndexError": "check the index is in range before using it",
        "KeyError": "check the key exists before using it",
        "ZeroDivisionError": "guard the division against zero",
    }
    return advice.get(sig.kind.rsplit(".", 1)[-1], "change that line: the same code fails the same way")


def repeat_note(entry: Entry, history: Sequence[Entry]) -> str | None:
    """The note on `entry`'s error when earlier attempts (other candidates of the same or an earlier
    iteration, the very same program of an earlier iteration too) failed the same way; None when its error
    is new, so the full feedback is shown. Reads only the entries' signatures (kept by the archive), never a
    whole record."""
    mine = facts(entry)
    sig = mine.error
    if sig is None:
        return None
    earlier: set[tuple[str, int]] = set()
    unchanged = False
    for other in history:
        theirs = facts(other)
        if theirs.iteration > mine.iteration or (theirs.id, theirs.iteration) == (mine.id, mine.iteration):
            continue
        if theirs.error is not None and same_error(sig, theirs.error):
            earlier.add((theirs.id, theirs.iteration))
            unchanged |= theirs.id == mine.id
    if not earlier:
        return None
    error = f"{sig.kind}: {sig.text}" if sig.text else sig.kind
    attempts = f"{len(earlier)} earlier attempt{'s' if len(earlier) > 1 else ''}"
    lines = [f"This error repeated in {attempts}: {error[:MAX_NOTE_PART]}"]
    if unchanged:
        # a 1.5B model shown its failed program returned it character for character (stop 30, twice at
        # temperature 0.8): the same program cannot pass, so say that it is the same
        lines.append(
            "This program is an earlier attempt returned unchanged: it will fail again unless it changes."
        )
    if sig.line is not None:
        lines.append(f"The offending line: `{sig.line[:MAX_NOTE_PART]}`")
    lines.append(f"Likely fix: {likely_fix(sig, mine.status)}. Do not repeat this mistake.")
    return "\n".join(lines)


def repeat_notes(shown: Iterable[Entry], history: Sequence[Entry]) -> dict[str, str]:
    """The notes of the attempts a prompt shows, by hypothesis id (those with a repeated error only)."""
    notes: dict[str, str] = {}
    for entry in shown:
        note = repeat_note(entry, history)
        if note is not None:
            notes[facts(entry).id] = note
    return notes
