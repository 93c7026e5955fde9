"""The loss tasks: registration, the preference problem on known losses, and a search end to end.

The end-to-end run drives the real search loop against a scripted model server over HTTP, with a real SQLite
store and real sandboxed training (a shortened trainer keeps it quick; the behaviour is the same).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from agent.kernel.errors import ParseError
from agent.kernel.plugins import load_suite
from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Budget, Hypothesis, VerdictStatus
from agent.models.base import ModelSettings, make_model
from agent.search.loop import Search, SearchSettings
from agent.search.strategies import make_strategy
from agent.store.sqlite import Store
from tasks.loss import known_losses, noisy_digits_task, preference_data, preference_task
from tasks.loss.digits import DigitsConfig
from tasks.loss.preference import PreferenceConfig, SyntheticPreference
from tasks.loss.scripted import NOISY_DIGITS_COMPLETIONS, PREFERENCE_COMPLETIONS
from tests.support.llm_server import ScriptedLLMServer

pytestmark = pytest.mark.requires_modules("numpy", "torch")

SHORT_PREF = PreferenceConfig(epochs=5, sample_epochs=(1, 3, 5))

FLIPPED_DPO = known_losses.DPO.replace("-F.logsigmoid(beta * logits)", "-F.logsigmoid(-beta * logits)")
# DPO with ten times the KL strength: it moves less far from the reference policy.
REGULARISED_DPO = known_losses.DPO.replace(
    "-F.logsigmoid(beta * logits)", "-F.logsigmoid(10 * beta * logits)"
)


def test_both_tasks_are_registered_with_seeds_and_held_out_checks() -> None:
    for name, signature, seeds in [
        ("loss/noisy-digits", "def loss(logits, targets):", known_losses.CLASSIFICATION_SEEDS),
        (
            "loss/preference",
            "def loss(policy_chosen_logps, policy_rejected_logps",
            known_losses.PREFERENCE_SEEDS,
        ),
    ]:
        [task] = load_suite(name).problems
        assert signature in task.instructions
        assert task.seed_candidates == seeds
        assert task.held_out is not None and task.held_out.name != task.verifier.name
        assert task.held_out.seeds != task.verifier.seeds  # fresh seeds for the held-out check


def test_scripted_completions_parse_as_documented() -> None:
    parse = load_suite("loss/noisy-digits").problems[0].parse
    assert parse(NOISY_DIGITS_COMPLETIONS[0]) == known_losses.CROSS_ENTROPY
    with pytest.raises(ParseError):
        parse(NOISY_DIGITS_COMPLETIONS[2])
    assert parse(PREFERENCE_COMPLETIONS[0]) == known_losses.DPO


def pref_task(sandbox: Sandbox, config: PreferenceConfig = SHORT_PREF):
    return preference_task.build(config, sandbox=sandbox)


async def test_dpo_improves_on_the_reference_and_its_mirror_does_not(task_sandbox: Sandbox) -> None:
    task = pref_task(task_sandbox)
    dpo = await task.verifier.verify(Hypothesis.create(known_losses.DPO))
    assert dpo.status is VerdictStatus.OK and dpo.score is not None and dpo.score > 0.3
    assert dpo.metrics["val_kl_to_ref"] > 0.0
    assert "Reward gain over the reference policy" in dpo.feedback
    flipped = await task.verifier.verify(Hypothesis.create(FLIPPED_DPO))
    assert flipped.status is VerdictStatus.FAIL and flipped.score is not None and flipped.score < 0.0


async def test_preference_held_out_uses_the_gold_reward(task_sandbox: Sandbox) -> None:
    verdict = await pref_task(task_sandbox).held_out.verify(Hypothesis.create(known_losses.IPO))
    assert verdict.status is VerdictStatus.OK
    assert verdict.score == verdict.metrics["test_gold_gain"]
    assert verdict.score != verdict.metrics["test_proxy_gain"]  # the two rewards really differ
    assert "(the gold reward, test contexts)" in verdict.feedback


def test_the_preference_job_gets_training_pairs_only() -> None:
    """The sandboxed job must never see validation/test contexts or either reward, only the labelled pairs."""
    data = preference_data.load()
    files = SyntheticPreference(SHORT_PREF).job_files()
    assert set(files) == {"x_train.npy", "chosen.npy", "rejected.npy"} | {
        f"ref_{p}{i}.npy" for p in "wb" for i in range(2)
    }
    blob = b"".join(f if isinstance(f, bytes) else f.encode() for f in files.values())
    for secret in (data.x_val, data.x_test, data.w_quality, data.w_quality.astype(np.float32)):
        assert secret.tobytes()[:64] not in blob


async def test_preference_feedback_shows_validation_by_epoch_on_the_proxy_only(task_sandbox: Sandbox) -> None:
    verdict = await pref_task(task_sandbox).verifier.verify(Hypothesis.create(known_losses.DPO))
    assert verdict.status is VerdictStatus.OK and verdict.score is not None
    text = verdict.feedback
    assert "Gate passed: scale 1: loss " in text and "scale 10: loss " in text
    assert "(the labeller's reward, validation contexts)" in text
    assert "Training pairs: the policy's log-ratio margin favours the chosen response on" in text
    assert "final mean training loss" in text
    assert "By epoch (validation contexts, mean over seeds):" in text
    by_epoch = dict(
        re.findall(r"^  epoch (\d+): reward gain (-?[\d.]+), KL [\d.]+, mean train loss", text, re.M)
    )
    assert list(by_epoch) == ["1", "3", "5"]
    assert by_epoch["5"] == f"{verdict.score:.3f}"  # the last epoch is the scored policy
    assert float(by_epoch["1"]) < float(by_epoch["3"]) < float(by_epoch["5"])  # DPO keeps climbing the proxy
    assert verdict.metrics["val_proxy_gain_epoch1"] == pytest.approx(float(by_epoch["1"]), abs=5e-4)
    # The model sees this text; the gold reward and test split must not appear in it or in the metrics.
    assert "gold" not in text.lower() and "test contexts" not in text
    assert not [k for k in verdict.metrics if "gold" in k or "test" in k]


@pytest.mark.slow
async def test_over_optimising_wins_the_search_and_loses_held_out(task_sandbox: Sandbox) -> None:
    """Plain DPO pushes onto the response the labeller over-rates; ten times its beta holds back and wins."""
    task = preference_task.build(sandbox=task_sandbox)  # the real trainer: 10 epochs, beta 0.1
    assert task.held_out is not None
    strong, regularised = Hypothesis.create(known_losses.DPO), Hypothesis.create(REGULARISED_DPO)
    strong_search, reg_search = await task.verifier.verify(strong), await task.verifier.verify(regularised)
    strong_held, reg_held = await task.held_out.verify(strong), await task.held_out.verify(regularised)
    assert strong_search.score is not None and reg_search.score is not None
    assert strong_held.score is not None and reg_held.score is not None
    assert strong_search.score > reg_search.score + 0.2  # the proxy prefers the harder push...
    assert strong_held.score < reg_held.score - 0.2  # ...and the gold reward the gentler one
    assert strong_held.score < 0.0 < reg_held.score  # over-optimised to below the reference policy
    assert strong_held.metrics["test_kl_to_ref"] > reg_held.metrics["test_kl_to_ref"]


async def test_preference_gate_rejects_a_per_example_loss(sandbox: Sandbox) -> None:
    source = known_losses.DPO.replace(".mean()", "")
    verdict = await pref_task(sandbox).verifier.verify(Hypothesis.create(source))
    assert verdict.status is VerdictStatus.INVALID and "expected a scalar" in verdict.feedback


@pytest.mark.slow
async def test_refine_search_end_to_end_on_noisy_digits(task_sandbox: Sandbox, tmp_path: Path) -> None:
    task = noisy_digits_task.build(DigitsConfig(epochs=8, sample_epochs=(1, 4, 8)), sandbox=task_sandbox)
    with Store(tmp_path / "runs.db") as store, ScriptedLLMServer(list(NOISY_DIGITS_COMPLETIONS)) as server:
        run_id = store.create_run(task.name, "{}")
        store.start_search(run_id, task.key, 0)
        model = make_model(
            "openai/gpt-test",
            ModelSettings(base_url=server.openai_base_url, max_retries=1, backoff_base_s=0.01, timeout_s=300),
        )
        search = Search(
            task=task,
            model=model,
            strategy=make_strategy("refine"),
            budget=Budget(iterations=1),
            store=store,
            run_id=run_id,
            settings=SearchSettings(samples=len(NOISY_DIGITS_COMPLETIONS), seed=1, verify_concurrency=2),
        )
        try:
            outcome = await search.run()
        finally:
            await model.close()
        recorded = store.hypotheses(run_id, task.key)
    # the 3 seeds (iteration 0) and the 5 scripted answers were all judged
    statuses = [e.verdict.status for e in recorded if e.verdict is not None]
    assert statuses.count(VerdictStatus.INVALID) >= 2  # the per-example loss and the answer without code
    assert outcome.best is not None and outcome.best.verdict is not None
    assert outcome.best.verdict.status is VerdictStatus.OK
    assert outcome.held_out is not None and outcome.held_out.score is not None
    assert "def loss(logits, targets):" in json.dumps(server.requests[0].body)
