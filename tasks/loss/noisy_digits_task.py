"""Registers `loss/noisy-digits`: find a classification loss that resists 40% label noise."""

from __future__ import annotations

from agent.kernel.needs import Needs
from agent.kernel.plugins import task
from agent.kernel.sandbox import Sandbox
from agent.kernel.task import Task
from tasks.loss.digits import DigitsConfig, NoisyDigits
from tasks.loss.known_losses import CLASSIFICATION_SEEDS
from tasks.loss.limits import COMPLETION_TOKENS, training_limits
from tasks.parsing import code_block
from verifiers.loss.verifier import LossTrainingVerifier

SEARCH_SEEDS = (0, 1, 2)
HELD_OUT_SEEDS = (100, 101, 102)
#: what a re-verification on more seeds adds (`halving_top`): neither searched first nor held out
MORE_SEARCH_SEEDS = (3, 4, 5)
WALL_S = 120.0  # generous: 3 seeds take ~5 s alone, but the host may be busy with concurrent candidates

INSTRUCTIONS = """Design a loss function for training a classifier on labels that are 40% wrong.

The data: scikit-learn's 8x8 handwritten digits (10 classes). In the 1000 training images, 40% of the labels
were replaced by a different, uniformly random class. The classifier is {trainer}. Your loss is the only thing
you change. It is scored by the accuracy of the trained network on clean held-back images, averaged over
several training seeds. Plain cross-entropy memorises the wrong labels and scores about 0.65.

Write a Python function with exactly this signature:

    def loss(logits, targets):
        # logits: float tensor [batch, 10] (raw network outputs); targets: int64 tensor [batch] (noisy labels)
        # return: a scalar tensor, differentiable with respect to logits

Rules: `torch`, `F` (torch.nn.functional), `math` and `np` (numpy) are already in scope, no import needed
(your own import or definition of a name wins); compute with torch; define exactly one public function
(helpers must start with an underscore or live inside it); return a finite scalar; no state between calls
beyond what you compute from the arguments. The loss runs in a process of its own: it sees only its
arguments (it cannot reach the model, the optimiser or the data), and has {cpu_s} s of CPU time per training
run. Before training, every name it uses must be defined, and the loss is checked on random inputs: it must
return a finite scalar with finite, non-zero gradients. A loss that becomes NaN or inf during training
fails.

Answer with one ```python code block containing the complete code."""

#: scaffold mode (issue 12, DiscoPOP style): a complete loss module with torch imported and the usual
#: quantities computed; the model writes the one expression that makes it robust. Far fewer ways to fail for
#: a small model than a blank page, and the same verifier judges the answer.
SCAFFOLD = """Complete a loss function for training a classifier on labels that are 40% wrong.

The data: scikit-learn's 8x8 handwritten digits (10 classes), 1000 training images, 40% of the labels replaced
by a different, uniformly random class. The classifier is {trainer}; your loss is the only thing you change.
It is scored by the trained network's accuracy on clean held-back images. Plain cross-entropy memorises the
wrong labels and scores about 0.65; bounded losses that do not chase confidently wrong labels do better.

Replace the `...` (and change anything else you like):

```python
import math

import numpy as np
import torch
import torch.nn.functional as F


def loss(logits, targets):
    # logits: float tensor [batch, 10]; targets: int64 tensor [batch] (noisy labels)
    log_probs = F.log_softmax(logits, dim=1)  # [batch, 10]
    probs = log_probs.exp()  # [batch, 10]
    p_true = probs.gather(1, targets[:, None]).squeeze(1)  # [batch]: probability of the given label
    per_example = ...  # tensor [batch]: small when p_true is high; grows slowly (bounded) as p_true -> 0
    return per_example.mean()
```

Rules: compute with torch; exactly one public function (helpers start with an underscore); return a finite
scalar that is differentiable with respect to logits. It runs in a process of its own with {cpu_s} s of CPU
time per training run; every name must be defined, and it is checked on random inputs first (finite scalar,
finite non-zero gradients). Answer with one ```python code block holding the complete module."""


#: how a free-form answer starts for a model that continues one (Task.answer_start): the signature, with
#: torch, F, math and np already in scope; the 1.5B model's free-form answers wrapped the loss in classes and
#: extra public functions (stop 30). The scaffold's answers start with its template, so they get none.
ANSWER_START = "```python\ndef loss(logits, targets):\n"


def build(
    config: DigitsConfig | None = None, *, sandbox: Sandbox | None = None, scaffold: bool = False
) -> Task:
    """The task; `config` and `sandbox` exist so tests and benchmarks can shrink or pin the trainer;
    `scaffold` shows a template to complete instead of a blank page (same verifiers)."""
    problem = NoisyDigits(config)
    limits = training_limits(WALL_S)
    common = {"problem": problem, "limits": limits, "sandbox": sandbox}
    return Task(
        name="loss/noisy-digits-scaffold" if scaffold else "loss/noisy-digits",
        problem_id="noisy-digits",
        instructions=(SCAFFOLD if scaffold else INSTRUCTIONS).format(
            trainer=problem.config.describe(), cpu_s=problem.config.candidate_cpu_s
        ),
        parse=code_block,
        verifier=LossTrainingVerifier(
            "loss-train:noisy-digits", seeds=SEARCH_SEEDS, split="val", more_seeds=MORE_SEARCH_SEEDS, **common
        ),
        held_out=LossTrainingVerifier(
            "loss-train:noisy-digits:test", seeds=HELD_OUT_SEEDS, split="test", **common
        ),
        seed_candidates=CLASSIFICATION_SEEDS,
        uses_sandbox=True,
        completion_tokens=COMPLETION_TOKENS,
        answer_start="" if scaffold else ANSWER_START,
        needs=Needs(host_modules=("sklearn",), sandbox_modules=("torch", "numpy"), extra="loss"),
        info={
            "metric": "clean validation accuracy, mean over seeds 0-2 (held-out: test split, seeds 100-102)",
            "cross_entropy_val_acc": "0.66",
            "mae_val_acc": "0.85",
        },
    )


@task("loss/noisy-digits", "Discover a classification loss robust to 40% label noise (digits, small MLP)")
def noisy_digits() -> Task:
    return build()


@task("loss/noisy-digits-scaffold", "loss/noisy-digits for small models: complete a loss template")
def noisy_digits_scaffold() -> Task:
    return build(scaffold=True)
