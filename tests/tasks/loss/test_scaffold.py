"""Scaffold mode for losses (issue 12, scope 4): `loss/noisy-digits-scaffold` shows a DiscoPOP-style template.

The template imports torch and computes the usual quantities; the model writes one expression. A
hand-written completion (a generalised cross-entropy, as a small model pointed at "bounded" would write)
passes the gate and trains through the task's own verifier on a real sandbox; the template left unfilled is
rejected on the host, naming the hole's line.
"""

from __future__ import annotations

import re

import pytest

from agent.kernel.plugins import load_suite
from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, VerdictStatus
from tasks.loss import noisy_digits_task
from tasks.loss.digits import DigitsConfig
from tasks.parsing import code_block
from verifiers.loss import names

pytestmark = pytest.mark.requires_modules("numpy", "torch")

SHORT = DigitsConfig(epochs=4, sample_epochs=(1, 2, 4))
HOLE = re.compile(r"^(\s*)per_example = \.\.\..*$", re.M)


def template() -> str:
    """The module the scaffold prompt shows, as the model would copy it."""
    (task,) = load_suite("loss/noisy-digits-scaffold").problems
    return code_block(task.instructions)


def test_the_scaffold_task_shows_a_template_with_torch_imported_and_the_same_verifiers() -> None:
    (task,) = load_suite("loss/noisy-digits-scaffold").problems
    (free,) = load_suite("loss/noisy-digits").problems
    module = template()
    assert "import torch\n" in module and "import torch.nn.functional as F\n" in module
    assert "def loss(logits, targets):" in module and HOLE.search(module)
    assert task.verifier.version == free.verifier.version
    assert task.held_out is not None and free.held_out is not None
    assert task.held_out.version == free.held_out.version
    assert task.seed_candidates == free.seed_candidates and task.key != free.key


def test_the_template_left_unfilled_is_rejected_on_the_host_naming_the_hole() -> None:
    module = template()
    line = next(i for i, text in enumerate(module.splitlines(), 1) if HOLE.match(text))
    found = names.undefined_names(module)
    assert found is not None and found.startswith(f"line {line}: `...` is still a placeholder"), found
    assert names.undefined_names(HOLE.sub(r"\1per_example = 1 - p_true", module)) is None
    # a bare `...` (a body placeholder) is not a hole
    assert names.undefined_names("def loss(logits, targets):\n    ...\n    return logits.mean()\n") is None


async def test_a_filled_template_passes_the_gate_and_trains(task_sandbox: Sandbox) -> None:
    gce = HOLE.sub(r"\1per_example = (1 - p_true.clamp_min(1e-6) ** 0.7) / 0.7", template())
    task = noisy_digits_task.build(SHORT, sandbox=task_sandbox, scaffold=True)
    verdict = await task.verifier.verify(Hypothesis.create(task.parse(f"```python\n{gce}```")))
    assert verdict.status is VerdictStatus.OK, verdict.feedback
    assert "Gate passed" in verdict.feedback and verdict.score is not None and verdict.score > 0.3
    unfilled = await task.verifier.verify(Hypothesis.create(template()))
    assert unfilled.status is VerdictStatus.INVALID and unfilled.score is None
    assert unfilled.feedback.startswith("Rejected before training: line ")
