"""A verifier's identity (`version`, the verdict cache's key with `name`) is derived from everything that
can change a verdict: change any one input and the cache must miss; change nothing and it must hit, in a new
process too (a resumed run re-creates its verifiers)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from agent.kernel import Limits
from tasks.code import circle_packing, humaneval
from tasks.loss.digits import DigitsConfig, NoisyDigits
from tasks.reward.problems import PROBLEMS
from tasks.reward.shipped.sims import acrobot
from verifiers.code import run as code_run
from verifiers.code.run import CodeSpec, TestCase
from verifiers.code.verifier import CodeTestVerifier
from verifiers.loss import verifier as loss_verifier
from verifiers.loss.verifier import LossTrainingVerifier
from verifiers.reward import evaluator as reward_evaluator
from verifiers.reward.evaluator import RewardEvaluator
from verifiers.reward.heldout import RewardHeldOut
from verifiers.reward.tuning import Tuner
from verifiers.sympy.verifier import SympyVerifier

ROOT = Path(__file__).resolve().parents[2]
MOUNTAINCAR = PROBLEMS["mountaincar"]
LIMITS = Limits(wall_s=30.0)
SPEC = CodeSpec("f", (TestCase.value("f(1)", "2"),))


def reward(**changes: object) -> str:
    kwargs: dict[str, object] = {"seeds": (0, 1, 2), "limits": LIMITS} | changes
    return RewardEvaluator(kwargs.pop("problem", MOUNTAINCAR), **kwargs).version  # type: ignore[arg-type]


def loss(**changes: object) -> str:
    kwargs: dict[str, object] = {"seeds": (0, 1), "split": "val", "limits": LIMITS} | changes
    problem = kwargs.pop("problem", NoisyDigits(DigitsConfig(epochs=5)))
    return LossTrainingVerifier("loss", problem, **kwargs).version  # type: ignore[arg-type]


def test_equal_inputs_give_equal_identities() -> None:
    assert reward() == reward()
    assert loss() == loss()
    assert CodeTestVerifier(SPEC, limits=LIMITS).version == CodeTestVerifier(SPEC, limits=LIMITS).version
    assert (
        SympyVerifier("equivalent", {"expected": "x"}).version
        == SympyVerifier("equivalent", {"expected": "x"}).version
    )


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"seeds": (0, 1, 3)}, id="a seed"),
        pytest.param({"limits": Limits(wall_s=31.0)}, id="a limit"),
        pytest.param({"randomise": {"force": [0.5, 1.5]}}, id="the randomisation"),
        pytest.param({"tuner": Tuner(budget=4)}, id="the tuning plan"),
        pytest.param(
            {"problem": dataclasses.replace(MOUNTAINCAR, trainer_config={"steps": 123})},
            id="a trainer setting",
        ),
        pytest.param({"problem": dataclasses.replace(MOUNTAINCAR, sim=acrobot)}, id="the shipped simulator"),
        pytest.param({"problem": dataclasses.replace(MOUNTAINCAR, target=0.5)}, id="the success threshold"),
    ],
)
def test_any_reward_input_changes_the_reward_identity(changed: dict[str, object]) -> None:
    assert reward(**changed) != reward()


def test_editing_the_shipped_reward_runner_changes_the_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    before = reward()
    monkeypatch.setattr(reward_evaluator, "RUNNER_SOURCE", reward_evaluator.RUNNER_SOURCE + "\n# edited\n")
    assert reward() != before


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param({"seeds": (0, 2)}, id="a seed"),
        pytest.param({"split": "test"}, id="the split"),
        pytest.param({"limits": Limits(wall_s=30.0, memory_mb=1024)}, id="a limit"),
        pytest.param({"problem": NoisyDigits(DigitsConfig(epochs=6))}, id="a trainer setting"),
        pytest.param({"problem": NoisyDigits(DigitsConfig(epochs=5, lr=0.02))}, id="the learning rate"),
    ],
)
def test_any_loss_input_changes_the_loss_identity(changed: dict[str, object]) -> None:
    assert loss(**changed) != loss()


def test_editing_the_shipped_loss_programs_changes_the_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    before = loss()
    monkeypatch.setattr(loss_verifier, "HARNESS_SOURCE", loss_verifier.HARNESS_SOURCE + "\n# edited\n")
    assert loss() != before
    monkeypatch.undo()

    class EditedTrainer(NoisyDigits):
        trainer_source = NoisyDigits.trainer_source + "\n# edited\n"

    assert loss(problem=EditedTrainer(DigitsConfig(epochs=5))) != before


def test_code_identities_follow_tests_limits_and_the_harness(monkeypatch: pytest.MonkeyPatch) -> None:
    base = CodeTestVerifier(SPEC, limits=LIMITS).version
    other_case = CodeSpec("f", (TestCase.value("f(1)", "3"),))
    assert CodeTestVerifier(other_case, limits=LIMITS).version != base
    assert CodeTestVerifier(SPEC, limits=Limits(wall_s=5.0)).version != base
    monkeypatch.setattr(code_run, "HARNESS_SOURCE", code_run.HARNESS_SOURCE + "\n# edited\n")
    assert CodeTestVerifier(SPEC, limits=LIMITS).version != base


def test_sympy_identity_follows_the_problem_and_its_limits() -> None:
    base = SympyVerifier("equivalent", {"expected": "x"}).version
    assert SympyVerifier("equivalent", {"expected": "x + 1"}).version != base
    assert SympyVerifier("equivalent", {"expected": "x"}, timeout_s=5.0).version != base
    assert SympyVerifier("equivalent", {"expected": "x"}, mode="exact").version != base


def test_held_out_identities_differ_from_the_search_ones_and_follow_their_seeds() -> None:
    held = RewardHeldOut(MOUNTAINCAR, limits=LIMITS)
    assert held.version != RewardEvaluator(MOUNTAINCAR, seeds=held.seeds, limits=LIMITS).version
    assert RewardHeldOut(MOUNTAINCAR, seeds=(2000,), limits=LIMITS).version != held.version


def test_built_in_identities_are_the_same_in_a_new_process() -> None:
    """A resumed run rebuilds its verifiers in a new process; an address or a set order in the identity
    would make every cached verdict miss."""
    script = (
        "from agent.kernel.plugins import load_suite\n"
        "for name in ('code/humaneval', 'code/circle-packing', 'reward/pendulum-dr', 'math/roots'):\n"
        "    p = load_suite(name).problems[0]\n"
        "    print(name, p.verifier.version, p.held_out.version)\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
        for _ in range(2)
    ]
    assert runs[0].stdout == runs[1].stdout
    assert len(runs[0].stdout.splitlines()) == 4
    in_process = {
        "code/humaneval": humaneval.make_task(0, humaneval.problems()[0]).verifier.version,
        "code/circle-packing": circle_packing.make_task().verifier.version,
    }
    for line in runs[0].stdout.splitlines():
        name, version, _ = line.split()
        assert in_process.get(name, version) == version
