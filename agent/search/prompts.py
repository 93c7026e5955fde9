"""Prompt construction: the task's instructions plus the chosen parents and what their verifiers said.

Only search-verifier feedback ever enters a prompt; held-out verdicts are stored apart and never read here.
"""

from __future__ import annotations

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import Message

MAX_FEEDBACK_CHARS = 4000
MAX_CONTENT_CHARS = 12000


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - limit} characters cut] ...\n{text[-half:]}"


def describe_attempt(index: int, entry: RecordedHypothesis) -> str:
    verdict = entry.verdict
    score = "none" if verdict.score is None else f"{verdict.score:.6g}"
    lines = [
        f"### Attempt {index} (iteration {entry.hypothesis.iteration}): status {verdict.status.value}, "
        f"score {score}",
        "```",
        _clip(entry.hypothesis.content.rstrip("\n"), MAX_CONTENT_CHARS),
        "```",
        "Verifier feedback:",
        _clip(verdict.feedback.strip() or "(none)", MAX_FEEDBACK_CHARS),
    ]
    return "\n".join(lines)


def build_messages(system_prompt: str, instructions: str, parents: list[RecordedHypothesis]) -> list[Message]:
    parts = [instructions.strip()]
    if parents:
        parts.append(
            "## Earlier attempts\nThese were verified; the higher the score the better. "
            "Learn from the feedback and propose an improved solution."
        )
        parts.extend(describe_attempt(i + 1, p) for i, p in enumerate(parents))
        parts.append("Now give your improved solution, in the required format.")
    return [Message(role="system", content=system_prompt), Message(role="user", content="\n\n".join(parts))]
