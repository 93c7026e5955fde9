"""Prompt construction: the task's instructions plus the chosen parents and what their verifiers said.

Only search-verifier feedback ever enters a prompt; held-out verdicts are stored apart and never read here.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Message, VerdictStatus

MAX_FEEDBACK_CHARS = 4000
MAX_CONTENT_CHARS = 12000
#: what precedes an attempt's feedback (tasks/parsing.py drops a copy of it, and what follows, from code)
FEEDBACK_LABEL = "Verifier feedback:"
#: the finish reasons of an answer stopped by the completion limit (OpenAI and llama.cpp; Anthropic)
CUT_OFF = frozenset({"length", "max_tokens"})


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - limit} characters cut] ...\n{text[-half:]}"


def _fenced(content: str) -> list[str]:
    """A program as a fenced block. An answer that could not be parsed is stored as the model wrote it, its
    own ```python fence included; a second fence around it made the nested block that a 1.5B model then
    copied back verbatim as its "fixed" answer, so such an answer is shown as it is."""
    text = _clip(content.rstrip("\n"), MAX_CONTENT_CHARS)
    if any(line.lstrip().startswith("```") for line in text.splitlines()):
        return [text]
    return ["```", text, "```"]


def _program(entry: RecordedHypothesis) -> list[str]:
    """The attempt's program as a prompt shows it. An answer that the completion limit cut off before it
    parsed is not shown back: shown whole, the 1.5B model wrote it again, copied environment and all, and
    was cut off again (stop 30, in both iterations); its feedback says what it spent its length on."""
    hypothesis = entry.hypothesis
    if entry.verdict.status is VerdictStatus.INVALID and hypothesis.meta.get("finish_reason") in CUT_OFF:
        lines = hypothesis.content.count("\n") + 1
        said = f"{lines} line{'s' if lines != 1 else ''}"
        return [f"(not shown, {said}: the completion limit cut it off before it was complete)"]
    return _fenced(hypothesis.content)


def describe_attempt(index: int, entry: RecordedHypothesis, note: str | None = None) -> str:
    """One attempt with its status, score and feedback; `note` (an error that keeps repeating, see
    agent/search/repeats.py) stands in for feedback the model has already seen and ignored."""
    verdict = entry.verdict
    score = "none" if verdict.score is None else f"{verdict.score:.6g}"
    lines = [
        f"### Attempt {index} (iteration {entry.hypothesis.iteration}): status {verdict.status.value}, "
        f"score {score}",
        *_program(entry),
        FEEDBACK_LABEL,
        note if note is not None else _clip(verdict.feedback.strip() or "(none)", MAX_FEEDBACK_CHARS),
    ]
    return "\n".join(lines)


def build_messages(
    system_prompt: str,
    instructions: str,
    parents: list[RecordedHypothesis],
    notes: Mapping[str, str] | None = None,
) -> list[Message]:
    """The plain prompt: the instructions and the parents with their feedback; `notes` (by hypothesis id,
    agent/search/repeats.py) replace the feedback of attempts whose error keeps repeating."""
    notes = notes or {}
    parts = [instructions.strip()]
    if parents:
        parts.append(
            "## Earlier attempts\nThese were verified; the higher the score the better. "
            "Learn from the feedback and propose an improved solution."
        )
        parts.extend(describe_attempt(i + 1, p, notes.get(p.hypothesis.id)) for i, p in enumerate(parents))
        parts.append("Now give your improved solution, in the required format.")
    return [Message(role="system", content=system_prompt), Message(role="user", content="\n\n".join(parts))]


def _section(
    title: str, entries: list[RecordedHypothesis], start: int, notes: Mapping[str, str]
) -> list[str]:
    if not entries:
        return []
    return [
        title,
        *(describe_attempt(start + i, e, notes.get(e.hypothesis.id)) for i, e in enumerate(entries)),
    ]


def describe_failed_edit(entry: RecordedHypothesis) -> str:
    """A reply whose edit did not apply, with the reason: shown once, so that it is repaired, not lost."""
    return "\n".join(
        [
            *_fenced(entry.hypothesis.content),
            f"Why it could not be applied: {_clip(entry.verdict.feedback.strip(), MAX_FEEDBACK_CHARS)}",
        ]
    )


def build_population_messages(
    system_prompt: str,
    instructions: str,
    *,
    parent: RecordedHypothesis | None,
    top: list[RecordedHypothesis],
    others: list[RecordedHypothesis],
    failed_edits: list[RecordedHypothesis],
    edit_instructions: str | None,
    notes: Mapping[str, str] | None = None,
) -> list[Message]:
    """The evolve prompt: the parent to improve, the island's best and a few programs that behave
    differently (each with its feedback, or its note when its error keeps repeating), and any edit of the
    last round that could not be applied. `edit_instructions` asks for SEARCH/REPLACE edits of the parent
    instead of a whole solution."""
    notes = notes or {}
    parts = [instructions.strip()]
    if parent is not None:
        parts.append(
            "## The program to improve\nIt was verified; the higher the score the better. Learn from the "
            "feedback on it and on the other programs below."
        )
        parts.append(describe_attempt(1, parent, notes.get(parent.hypothesis.id)))
    parts += _section("## The best programs so far", top, 2, notes)
    parts += _section("## Programs that behave differently (for ideas)", others, 2 + len(top), notes)
    if failed_edits:
        parts.append("## Your previous edits of this program could not be applied; repair them")
        parts.extend(describe_failed_edit(e) for e in failed_edits)
    if parent is None:
        return [Message(role="system", content=system_prompt), Message(role="user", content=parts[0])]
    if edit_instructions is not None:
        parts.append(f"Now improve the program to improve (attempt 1).\n{edit_instructions}")
    else:
        parts.append("Now give your improved solution, in the required format.")
    return [Message(role="system", content=system_prompt), Message(role="user", content="\n\n".join(parts))]


def build_repair_messages(
    system_prompt: str,
    instructions: str,
    failed: RecordedHypothesis,
    *,
    note: str | None,
    edit_instructions: str | None,
    line: str | None = None,
) -> list[Message]:
    """The one repair prompt of a failed candidate (agent/search/repair.py): the failed program as the
    thing to fix, with its feedback (or the note on an error that keeps repeating), and nothing else, so
    that a small model's context holds what it must fix. `line` (the line that failed, when the feedback
    locates one) is named again in the last instruction: a 1.5B model given an exact fix of that line in the
    feedback returned an earlier program unchanged in 9 of 20 second-iteration answers (stop 30); the end of a
    prompt is what a small model heeds most."""
    parts = [
        instructions.strip(),
        "## This program failed; fix it\nIt did not run to a score. Fix the error the feedback names "
        "and keep the rest of the idea.",
        describe_attempt(1, failed, note),
    ]
    if edit_instructions is not None:
        parts.append(f"Now fix the program (attempt 1).\n{edit_instructions}")
    else:
        change = f" Change the line that failed, `{line[:200]}`, as the feedback says." if line else ""
        parts.append(f"Now give the fixed solution, in the required format.{change}")
    return [Message(role="system", content=system_prompt), Message(role="user", content="\n\n".join(parts))]
