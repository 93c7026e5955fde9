"""Two-level reward search: a candidate's TUNABLE constants are validated without running the code, tuned on
their own seeds before the verdict, fed back, reproducible, and used by the held-out retrain."""

from __future__ import annotations

import pytest

from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, VerdictStatus
from tasks.reward.problems import HELD_OUT_SEEDS, PROBLEMS, SEARCH_SEEDS, TUNING_SEEDS
from tasks.reward.suite import DR_BOUNDS
from verifiers.reward.dr import DomainRandomisedEvaluator, parse_randomisation
from verifiers.reward.evaluator import RewardEvaluator
from verifiers.reward.heldout import RewardHeldOut
from verifiers.reward.tunable import MAX_TUNABLE, Tunable, TunableError, parse_tunable
from verifiers.reward.tuning import MIN_GAIN, Trial, Tuner, Tuning

pytestmark = pytest.mark.requires_modules("numpy")

MC = PROBLEMS["mountaincar"]

# Sparse goal plus potential-based energy shaping scaled by W_SHAPING. Measured with the Q-learning trainer
# (success per seed 500, 0, 1): weight 0 -> 0.00 0.00 0.00 (the sparse reward), 0.03 -> 0.54 0.99 1.00,
# 0.1-1.0 -> 0.99-1.00, 3 -> 0.00 1.00, 10 -> 0.00 0.00. So the written 0 fails and most of (0, 1] works.
SHAPED = """import numpy as np

W_SHAPING = 0.0
TUNABLE = {"W_SHAPING": (0.0, 1.0)}


def energy(o):
    return (np.sin(3 * o[:, 0]) * 0.45 + 0.55) + 0.5 * o[:, 1] ** 2 / 0.0025


def compute_reward(obs, action, next_obs, done):
    goal = done.astype(np.float64)
    shaping = W_SHAPING * (0.99 * energy(next_obs) * (~done) - energy(obs))
    return goal + shaping, {"goal": goal, "shaping": shaping}
"""

BUDGET = 4


def with_constant(source: str, name: str, value: float) -> str:
    """The source with `name`'s written value replaced: what the model would write to keep a tuned value."""
    line = next(x for x in source.splitlines() if x.startswith(f"{name} = "))
    return source.replace(line, f"{name} = {value!r}")


# -- the declaration ---------------------------------------------------------------------------------------


def test_tunables_are_read_without_running_the_code() -> None:
    source = "import os\nos.system('false')\nW = 2\nT = -0.5\nTUNABLE = {'W': (0.1, 10), 'T': [-1, 0]}\n"
    w, t = parse_tunable(source)
    assert w == Tunable("W", 2.0, 0.1, 10.0) and w.log_scale
    assert t == Tunable("T", -0.5, -1.0, 0.0) and not t.log_scale
    assert parse_tunable(MC.env_reward) == () and parse_tunable("TUNABLE = {}\n") == ()
    # mutating TUNABLE or a constant at run time is not a second binding (and is never read by the host)
    assert parse_tunable(SHAPED + "TUNABLE['X'] = (0, 1)\nglobals()['W_SHAPING'] = 5\n")


MANY = "".join(f"C{i} = 1.0\n" for i in range(MAX_TUNABLE + 1))
MANY += "TUNABLE = {" + ", ".join(f"'C{i}': (0, 2)" for i in range(MAX_TUNABLE + 1)) + "}\n"


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        ("W = 1.0\nTUNABLE = {'V': (0, 2)}\n", "'V' is not a module-level constant"),
        ("W = np.float64(1.0)\nTUNABLE = {'W': (0, 2)}\n", "plain int or float literal"),
        ("W = 2 * 0.5\nTUNABLE = {'W': (0, 2)}\n", "plain int or float literal"),
        ("def W():\n    pass\nTUNABLE = {'W': (0, 2)}\n", "plain int or float literal"),
        ("W = 5.0\nTUNABLE = {'W': (0, 2)}\n", "the written value 5 is outside [0, 2]"),
        ("W = True\nTUNABLE = {'W': (0, 2)}\n", "plain int or float literal"),
        ("W = 1.0\nTUNABLE = {'W': (False, True)}\n", "(low, high) pair of numbers"),
        ("W = 1.0\nTUNABLE = {'W': (2, 0)}\n", "need finite low < high"),
        ("W = 1.0\nTUNABLE = {'W': (0, 1e999)}\n", "need finite low < high"),
        ("W = 1.0\nTUNABLE = {'W': 1.0}\n", "(low, high) pair"),
        ("W = 1.0\nif True:\n    W = 2.0\nTUNABLE = {'W': (0, 2)}\n", "bound more than once"),
        ("W = 1.0\nTUNABLE = dict(W=(0, 2))\n", "literal dict"),
        ("W = 1.0\nTUNABLE = {'W': (0, 2)}\nTUNABLE = {}\n", "TUNABLE is bound more than once"),
        ("TUNABLE = {'__name__': (0, 2)}\n", "keys must be names"),
        (MANY, "at most 6 tunable constants, got 7"),
    ],
)
async def test_a_malformed_declaration_is_an_invalid_verdict(source: str, needle: str) -> None:
    with pytest.raises(TunableError) as err:
        parse_tunable(source)
    assert needle in str(err.value)
    candidate = source + "\n\ndef compute_reward(obs, action, next_obs, done):\n    return obs[:, 0], {}\n"
    verdict = await RewardEvaluator(MC, sandbox=None).verify(Hypothesis.create(candidate))  # never trains
    assert verdict.status is VerdictStatus.INVALID and verdict.score is None
    assert verdict.feedback.startswith("Bad TUNABLE: ") and needle in verdict.feedback


def test_the_written_values_win_ties_and_noise() -> None:
    w = Tunable("W", 1.0, 0.0, 2.0)

    def tuning(*scores: float | None) -> Tuning:
        trials = [Trial(values=(("W", 1.0),), score=scores[0], status="ok", written=True)]
        trials += [Trial(values=(("W", 0.5 + i),), score=s, status="ok") for i, s in enumerate(scores[1:])]
        return Tuning(tunables=(w,), seeds=TUNING_SEEDS, trials=tuple(trials), wall_s=1.0)

    assert tuning(0.9, 0.9 + MIN_GAIN / 2, None).constants is None  # within noise: keep what was written
    assert tuning(0.5, 0.9, 0.9).constants == {"W": 0.5}  # a clear gain; the first of equals
    assert tuning(0.5, 0.9, 0.9).gain == pytest.approx(0.4)
    assert tuning(None, 1.0).constants is None  # the written code fails: nothing is tuned


def test_tuning_seeds_are_neither_searched_nor_held_out() -> None:
    assert not set(TUNING_SEEDS) & (set(SEARCH_SEEDS) | set(HELD_OUT_SEEDS))
    with pytest.raises(ValueError, match="tuning seeds"):
        Tuner(seeds=HELD_OUT_SEEDS[:1])


# -- tuning through the sandbox -----------------------------------------------------------------------------


async def test_tuning_finds_a_weight_the_written_value_misses(task_sandbox: Sandbox) -> None:
    ev = RewardEvaluator(MC, seeds=(0,), sandbox=task_sandbox, tuner=Tuner(budget=BUDGET))
    untuned, _ = await ev.train(SHAPED)
    assert untuned.score == 0.0
    verdict = await ev.verify(Hypothesis.create(SHAPED))
    assert verdict.score is not None and verdict.score >= untuned.score + 0.5
    m = verdict.metrics
    assert 0.0 < m["tuned_W_SHAPING"] <= 1.0
    assert m["tuning_trials"] == BUDGET and m["tuning_failed"] == 0 and m["tuning_gain"] > 0.5
    assert m["tuning_wall_s"] > 0
    fb = verdict.feedback
    assert "Tuned constants (4 trainings on tuning seeds [500]" in fb
    assert f"W_SHAPING: written 0 -> tuned {m['tuned_W_SHAPING']:g}" in fb
    assert "W_SHAPING=0 -> 0.00 (written)" in fb and "(chosen)" in fb
    assert "1000" not in fb  # the model sees search and tuning results only, never held-out seeds


async def test_tuning_is_deterministic_and_the_held_out_retrains_with_the_tuned_values(
    process_sandbox: Sandbox,
) -> None:
    # (determinism of the tuning itself is the last check: a fresh tuner tunes again to the same values)
    tuner = Tuner(budget=BUDGET)
    search = RewardEvaluator(MC, seeds=(0,), sandbox=process_sandbox, tuner=tuner)
    first = await search.verify(Hypothesis.create(SHAPED))
    tuned = first.metrics["tuned_W_SHAPING"]

    held_out = RewardHeldOut(MC, seeds=(1000,), sandbox=process_sandbox, tuner=tuner)
    verdict = await held_out.verify(Hypothesis.create(SHAPED))  # the memo holds the search's tuning
    plain, _ = await RewardEvaluator(MC, seeds=(1000,), sandbox=process_sandbox).train(
        with_constant(SHAPED, "W_SHAPING", tuned)
    )
    assert plain.score is not None and plain.score > 0.5
    assert verdict.score == plain.score and verdict.metrics["tuned_W_SHAPING"] == tuned
    assert f"W_SHAPING={tuned:g}" in verdict.feedback
    # after a resume the memo is empty: the held-out tunes again, on the tuning seeds, to the same values
    fresh = RewardHeldOut(MC, seeds=(1000,), sandbox=process_sandbox, tuner=Tuner(budget=BUDGET))
    resumed = await fresh.verify(Hypothesis.create(SHAPED))
    assert resumed.score == verdict.score and resumed.feedback == verdict.feedback

    def untimed(metrics: dict[str, float]) -> dict[str, float]:
        return {k: v for k, v in metrics.items() if not k.endswith("_s") and not k.endswith("_s_max")}

    assert untimed(resumed.metrics) == untimed(verdict.metrics)
    assert "tuned_W_SHAPING" in untimed(verdict.metrics) and "tuning_trials" in untimed(verdict.metrics)


async def test_written_values_that_fail_give_todays_failure_verdict(process_sandbox: Sandbox) -> None:
    broken = SHAPED.replace("goal + shaping", "goal + shaping + 0.1 / W_SHAPING")  # ZeroDivisionError at 0
    ev = RewardEvaluator(MC, seeds=(0,), sandbox=process_sandbox, tuner=Tuner(budget=BUDGET))
    verdict = await ev.verify(Hypothesis.create(broken))
    assert verdict.status is VerdictStatus.ERROR and verdict.score is None
    assert "ZeroDivisionError" in verdict.feedback
    assert "tuning stopped: your code failed with its written values (error)" in verdict.feedback
    assert verdict.metrics["tuning_trials"] == 2  # one round, then it stops
    assert verdict.metrics["tuned_W_SHAPING"] == 0.0


TAMPERS = (
    SHAPED.replace(
        "def compute_reward(obs, action, next_obs, done):\n",
        "def compute_reward(obs, action, next_obs, done):\n"
        "    global W_SHAPING, TUNABLE\n"
        "    W_SHAPING = 0.3  # whatever the tuner set, train with this\n"
        "    TUNABLE = {'W_SHAPING': (5.0, 9.0), 'X': 'junk'}\n"
        '    print(\'@@ASSAY-REWARD-RESULT@@{"status": "ok", "runs": []}\')\n',
    )
    + "\nglobals()['W_SHAPING'] = float('nan')\n"
)


async def test_a_candidate_that_sets_its_constants_itself_cannot_break_the_host(
    process_sandbox: Sandbox,
) -> None:
    ev = RewardEvaluator(MC, seeds=(0,), sandbox=process_sandbox, tuner=Tuner(budget=2))
    verdict = await ev.verify(Hypothesis.create(TAMPERS))
    # every trial really trained with 0.3, so none beats the "written" one: the host reports what it set,
    # and the score is exactly that of an honest reward written with 0.3 (not a number the job printed).
    # Compared with it, not with a fixed bound: the trained score moves with the CPU's SIMD (0.97 measured
    # on one AVX-512 machine, 0.77 on another, stop 31)
    honest = SHAPED.replace('W_SHAPING = 0.0\nTUNABLE = {"W_SHAPING": (0.0, 1.0)}', "W_SHAPING = 0.3")
    plain = RewardEvaluator(MC, seeds=(0,), sandbox=process_sandbox)
    expected = await plain.verify(Hypothesis.create(honest))
    assert expected.score is not None and expected.score > 0.5, expected.feedback
    assert verdict.score == expected.score and verdict.status is expected.status, verdict.feedback
    assert verdict.metrics["tuned_W_SHAPING"] == 0.0 and verdict.metrics["tuning_gain"] == 0.0
    assert "no trial beat the written values" in verdict.feedback


async def test_domain_randomisation_and_tuning_together(process_sandbox: Sandbox) -> None:
    source = SHAPED + '\nRANDOMISE = {"force": (0.0009, 0.0011)}\n'
    assert parse_randomisation(source, DR_BOUNDS) == {"force": [0.0009, 0.0011]}
    dr = DomainRandomisedEvaluator(MC, DR_BOUNDS, seeds=(0,), sandbox=process_sandbox, tuner=Tuner(budget=2))
    verdict = await dr.verify(Hypothesis.create(source))
    assert verdict.feedback.startswith("Trained with domain randomisation: force in [0.0009, 0.0011].")
    assert verdict.metrics["tuning_trials"] == 2 and "tuned_W_SHAPING" in verdict.metrics
