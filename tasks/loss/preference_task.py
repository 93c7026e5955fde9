"""Registers `loss/preference`: find an offline preference-optimisation loss (DiscoPOP's signature)."""

from __future__ import annotations

from agent.kernel.needs import Needs
from agent.kernel.plugins import task
from agent.kernel.sandbox import Sandbox
from agent.kernel.task import Task
from tasks.loss.known_losses import PREFERENCE_SEEDS
from tasks.loss.limits import COMPLETION_TOKENS, training_limits
from tasks.loss.preference import PreferenceConfig, SyntheticPreference
from tasks.parsing import code_block
from verifiers.loss.verifier import LossTrainingVerifier

SEARCH_SEEDS = (0, 1, 2)
HELD_OUT_SEEDS = (100, 101, 102)
#: what a re-verification on more seeds adds (`halving_top`): neither searched first nor held out
MORE_SEARCH_SEEDS = (3, 4, 5)
WALL_S = 120.0

INSTRUCTIONS = """Design an offline preference-optimisation loss, like DPO, to align a policy with a labeller.

Setting: for each context the policy chooses one of 8 responses. A labeller compared pairs of responses drawn
from a reference policy and marked one as chosen. The policy is {trainer}. Your loss is the only thing you
change. It is scored by how much the trained policy improves on the reference policy under the labeller's
reward on unseen contexts (0 = no better than the reference, 1 = always the labeller's best response).
The labeller is not perfect: the final evaluation uses a more careful judge on fresh contexts, and a policy
pushed far from the reference towards the labeller's favourites can do worse there than a moderate one. The
feedback shows the score and the KL divergence from the reference by epoch.

Write a Python function with exactly this signature:

    def loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
        # each *_logps: float tensor [batch], log-probability of the chosen / rejected response under the
        # policy being trained or the frozen reference policy; beta: float (the KL strength, {beta})
        # return: a scalar tensor, differentiable with respect to the policy log-probabilities

Rules: `torch`, `F` (torch.nn.functional), `math` and `np` (numpy) are already in scope, no import needed
(your own import or definition of a name wins); compute with torch; define exactly one public function
(helpers must start with an underscore or live inside it); return a finite scalar (e.g. the mean over the
batch). The loss runs in a process of its own: it sees only its arguments (it cannot reach the model, the
optimiser or the data), and has {cpu_s} s of CPU time per training run. Before training, every name it uses
must be defined, and the loss is checked on random inputs: it must return a finite scalar with finite,
non-zero gradients. A loss that becomes NaN or inf during training fails.

Answer with one ```python code block containing the complete code."""


def build(config: PreferenceConfig | None = None, *, sandbox: Sandbox | None = None) -> Task:
    problem = SyntheticPreference(config)
    limits = training_limits(WALL_S)
    common = {"problem": problem, "limits": limits, "sandbox": sandbox}
    return Task(
        name="loss/preference",
        problem_id="preference",
        instructions=INSTRUCTIONS.format(
            trainer=problem.config.describe(),
            beta=f"{problem.config.beta:g}",
            cpu_s=problem.config.candidate_cpu_s,
        ),
        parse=code_block,
        verifier=LossTrainingVerifier(
            "loss-train:preference", seeds=SEARCH_SEEDS, split="val", more_seeds=MORE_SEARCH_SEEDS, **common
        ),
        held_out=LossTrainingVerifier(
            "loss-train:preference:gold", seeds=HELD_OUT_SEEDS, split="test", **common
        ),
        seed_candidates=PREFERENCE_SEEDS,
        uses_sandbox=True,
        completion_tokens=COMPLETION_TOKENS,
        needs=Needs(sandbox_modules=("torch", "numpy"), extra="loss"),
        info={
            "metric": "proxy-reward gain over the reference on validation contexts (held-out: gold reward, "
            "test contexts, seeds 100-102)",
        },
    )


@task("loss/preference", "Discover a DPO-style preference loss (DiscoPOP signature) on a synthetic problem")
def preference() -> Task:
    return build()
