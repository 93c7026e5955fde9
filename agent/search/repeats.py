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
from dataclasses import dataclass

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import UNSCORED, VerdictStatus

_EXCEPTION = re.compile(r"\b([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))\b(?::[ \t]*([^\n]*))?")
_FRAME = re.compile(r'File "[^"\n]*", line (\d+)[^\n]*\n[ \t]+(\S[^\n]*)')
_LINE_NUMBER = re.compile(r"\bline (\d+)\b")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\w.-]*/)+[\w.-]+")
_NUMBER = re.compile(r"\b0x[0-9a-fA-F]+\b|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
MAX_NOTE_PART = 240


@dataclass(frozen=True)
class ErrorSignature:
    kind: str  # the exception's type, or the verdict's status when the feedback names none
    message: str  # the message with numbers, paths and addresses blanked out
    text: str  # the message as it was (for the note)
    line: str | None  # the offending line of the candidate's code, when the feedback locates one


def _normal(text: str) -> str:
    return " ".join(_NUMBER.sub("N", _PATH.sub("<path>", text)).split())


def _offending_line(feedback: str, content: str) -> str | None:
    """The candidate's line that failed: the last traceback frame's code, else the line the feedback
    names by number (a pre-check's "line 7: ..."), read from the candidate's own content."""
    frames = _FRAME.findall(feedback)
    if frames:
        return frames[-1][1].strip()
    numbers = _LINE_NUMBER.findall(feedback)
    lines = content.splitlines()
    if numbers and 1 <= int(numbers[-1]) <= len(lines):
        return lines[int(numbers[-1]) - 1].strip() or None
    return None


def signature(entry: RecordedHypothesis) -> ErrorSignature | None:
    """What a failed candidate's error is, coarsely; None for a candidate that did not fail."""
    verdict = entry.verdict
    if verdict.status not in UNSCORED:
        return None
    feedback = verdict.feedback.strip()
    found = list(_EXCEPTION.finditer(feedback))
    if found:
        kind, text = found[-1].group(1), (found[-1].group(2) or "").strip()
    else:
        kind = verdict.status.value
        text = next((line.strip() for line in feedback.splitlines() if line.strip()), "")
    line = _offending_line(feedback, entry.hypothesis.content)
    return ErrorSignature(kind, _normal(text), text, line)


def same_error(a: ErrorSignature, b: ErrorSignature) -> bool:
    return (a.kind, a.message) == (b.kind, b.message) or (a.line is not None and a.line == b.line)


def likely_fix(sig: ErrorSignature, status: VerdictStatus) -> str:
    """One line of advice for the commonest small-model mistakes; a plain "change it" otherwise."""
    if status is VerdictStatus.TIMEOUT:
        return "it ran too long: make it do much less work (fewer loops, iterations or samples)"
    if "truth value of an array" in sig.text:
        return "use np.where(...) (or .any() / .all()) instead of `if` on an array"
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


def repeat_note(entry: RecordedHypothesis, history: Sequence[RecordedHypothesis]) -> str | None:
    """The note on `entry`'s error when earlier attempts (other candidates of the same or an earlier
    iteration) failed the same way; None when its error is new, so the full feedback is shown."""
    sig = signature(entry)
    if sig is None:
        return None
    earlier: set[str] = set()
    for other in history:
        if (
            other.hypothesis.id == entry.hypothesis.id
            or other.hypothesis.iteration > entry.hypothesis.iteration
        ):
            continue
        other_sig = signature(other)
        if other_sig is not None and same_error(sig, other_sig):
            earlier.add(other.hypothesis.id)
    if not earlier:
        return None
    error = f"{sig.kind}: {sig.text}" if sig.text else sig.kind
    attempts = f"{len(earlier)} earlier attempt{'s' if len(earlier) > 1 else ''}"
    lines = [f"This error repeated in {attempts}: {error[:MAX_NOTE_PART]}"]
    if sig.line is not None:
        lines.append(f"The offending line: `{sig.line[:MAX_NOTE_PART]}`")
    lines.append(f"Likely fix: {likely_fix(sig, entry.verdict.status)}. Do not repeat this mistake.")
    return "\n".join(lines)


def repeat_notes(
    shown: Iterable[RecordedHypothesis], history: Sequence[RecordedHypothesis]
) -> dict[str, str]:
    """The notes of the attempts a prompt shows, by hypothesis id (those with a repeated error only)."""
    notes: dict[str, str] = {}
    for entry in shown:
        note = repeat_note(entry, history)
        if note is not None:
            notes[entry.hypothesis.id] = note
    return notes
