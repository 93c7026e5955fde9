"""Pulling a candidate out of a completion (tasks/parsing.py)."""

from __future__ import annotations

import pytest

from agent.kernel.errors import ParseError
from agent.search.prompts import FEEDBACK_LABEL
from tasks.parsing import code_block

LOSS = "import torch.nn.functional as F\n\n\ndef loss(logits, targets):\n"
LOSS += "    return F.cross_entropy(logits, targets)\n"


@pytest.mark.parametrize("label", [FEEDBACK_LABEL, f"# {FEEDBACK_LABEL}", f"    {FEEDBACK_LABEL} (none)"])
def test_an_attempts_feedback_copied_into_the_code_block_is_not_code(label: str) -> None:
    copied = f"{LOSS}\n{label}\nGate passed: scale 1: loss 2.216, gradient norm 0.115\n  epoch 1: acc 0.61\n"
    assert code_block(f"Here it is:\n```python\n{copied}```\nDone.") == LOSS


def test_the_words_elsewhere_in_a_line_are_code() -> None:
    program = 'def f():\n    print("Verifier feedback: none")\n    return 1  # Verifier feedback: kept\n'
    assert code_block(f"```python\n{program}```") == program


def test_a_block_of_only_copied_feedback_is_empty() -> None:
    with pytest.raises(ParseError, match="the code block is empty"):
        code_block(f"```python\n{FEEDBACK_LABEL}\nGate passed\n```")
