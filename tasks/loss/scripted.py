"""Exact completions a scripted model server can return for end-to-end runs of the loss tasks.

Each tuple is one search's worth of answers in order, with the expected verdict next to each, so an
end-to-end test can check the whole loop (parse -> gate -> train -> grade -> feedback) without a real model.
"""

from __future__ import annotations

from tasks.loss import known_losses


def _answer(intro: str, code: str) -> str:
    return f"{intro}\n\n```python\n{code}```\n"


NOISY_DIGITS_COMPLETIONS: tuple[str, ...] = (
    # ok, ~0.66 validation accuracy: memorises the noise
    _answer("Start from the standard classification loss.", known_losses.CROSS_ENTROPY),
    # invalid: returns one loss per example, the gate asks for a scalar
    _answer(
        "Per-example cross-entropy.",
        "import torch.nn.functional as F\n\n\ndef loss(logits, targets):\n"
        '    return F.cross_entropy(logits, targets, reduction="none")\n',
    ),
    # invalid: no code block at all (a parse error)
    "I think a bounded loss such as MAE would be more robust to the noisy labels.",
    # ok, ~0.85: a bounded loss resists the noise
    _answer("A bounded loss ignores confidently wrong labels.", known_losses.MAE),
    # ok: generalised cross-entropy, between the two
    _answer("Interpolate between cross-entropy and MAE.", known_losses.GCE),
)

PREFERENCE_COMPLETIONS: tuple[str, ...] = (
    # ok
    _answer("Direct preference optimisation.", known_losses.DPO),
    # ok
    _answer("A hinge on the log-ratio margin.", known_losses.HINGE),
    # invalid: two public callables
    _answer(
        "Two variants.", known_losses.IPO + "\n\ndef other(a, b, c, d, beta):\n    return (a - b).mean()\n"
    ),
)
