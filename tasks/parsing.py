"""Helpers that pull a candidate out of a completion; each raises ParseError with a message for the model."""

from __future__ import annotations

import re

from agent.kernel.errors import ParseError

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)
#: the label a prompt puts before an attempt's feedback (agent/search/prompts.FEEDBACK_LABEL): a 1.5B model
#: copied an attempt whole into its code block, the label and the feedback after its code (stop 30: 2 of
#: 4 loss answers did not parse so); nothing from that line on is code
_COPIED_FEEDBACK = re.compile(r"^[ \t]*#?[ \t]*Verifier feedback:.*", re.MULTILINE | re.DOTALL)


def code_block(text: str, languages: tuple[str, ...] = ("python", "py", "")) -> str:
    """The last fenced code block in one of `languages` ("" = no language tag)."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    wanted = [body for lang, body in blocks if lang in languages]
    if not wanted:
        shown = ", ".join(f"```{lang}" for lang in languages if lang) or "```"
        raise ParseError(f"no code block found: put your answer in a fenced block ({shown} ... ```)")
    body = _COPIED_FEEDBACK.sub("", wanted[-1]).strip("\n")
    if not body.strip():
        raise ParseError("the code block is empty")
    return body + "\n"


def boxed(text: str) -> str:
    r"""The content of the last \boxed{...}, with nested braces."""
    start = text.rfind("\\boxed{")
    if start < 0:
        raise ParseError("no \\boxed{...} answer found: end with \\boxed{your answer}")
    i = start + len("\\boxed{")
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                answer = text[i:j].strip()
                if not answer:
                    raise ParseError("the \\boxed{} answer is empty")
                return answer
    raise ParseError("unbalanced braces in \\boxed{...}")
