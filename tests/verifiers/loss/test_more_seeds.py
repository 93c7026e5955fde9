"""The loss verifier's re-verification on more seeds (the kernel's MultiFidelityVerifier capability), which
successive halving uses: off unless the task gives `more_seeds`, and then a training on every seed."""

from __future__ import annotations

import pytest

from agent.kernel.errors import VerifierError
from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, VerdictStatus
from agent.kernel.verifier import fidelities_of
from tasks.loss import known_losses
from tasks.loss.digits import DigitsConfig, NoisyDigits
from tasks.loss.limits import training_limits
from verifiers.loss.verifier import LossTrainingVerifier

pytestmark = pytest.mark.requires_modules("numpy", "torch")

SHORT = DigitsConfig(epochs=4, sample_epochs=(1, 2, 4))


def verifier(sandbox: Sandbox | None, more_seeds: tuple[int, ...] = ()) -> LossTrainingVerifier:
    return LossTrainingVerifier(
        "loss-train:test", NoisyDigits(SHORT), seeds=(0,), split="val", limits=training_limits(120.0),
        sandbox=sandbox, more_seeds=more_seeds,
    )  # fmt: skip


def test_more_seeds_are_opt_in_and_part_of_the_identity() -> None:
    assert fidelities_of(verifier(None)) == ()
    assert fidelities_of(verifier(None, (1, 2))) == (1, 3)
    assert verifier(None, (1,)).version != verifier(None).version


async def test_verify_at_trains_on_every_seed(task_sandbox: Sandbox) -> None:
    v = verifier(task_sandbox, (1,))
    h = Hypothesis.create(known_losses.CROSS_ENTROPY)
    one, two = await v.verify(h), await v.verify_at(h, 2)
    assert one.status is two.status is VerdictStatus.OK
    assert "val_acc_seed1" not in one.metrics and {"val_acc_seed0", "val_acc_seed1"} <= set(two.metrics)
    assert two.score == pytest.approx((two.metrics["val_acc_seed0"] + two.metrics["val_acc_seed1"]) / 2)
    with pytest.raises(VerifierError):
        await v.verify_at(h, 4)
