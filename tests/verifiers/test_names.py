"""The shared static name checks (verifiers/names.py): a helper hidden by a local of its own name is found
without running the code, and code that would run is never reported."""

from __future__ import annotations

import pytest

from tasks.reward.problems import PROBLEMS
from verifiers.names import read_before_assigned
from verifiers.reward.evaluator import RewardEvaluator

HIDDEN = """def compute_reward(obs, action, next_obs, done):
    reward = np.zeros(len(obs))
    goal_reached = goal_reached(next_obs)
    return reward + goal_reached, {}
"""


def test_a_helper_hidden_by_a_local_of_its_name_is_named_with_its_line() -> None:
    message = read_before_assigned(HIDDEN)
    assert message is not None
    first, second = message.splitlines()
    assert first.startswith("line 3: `goal_reached` is read before compute_reward assigns it")
    assert "give the result another name, e.g. `goal_reached_value`" in first
    assert second.strip() == "3 | goal_reached = goal_reached(next_obs)"
    counted = "def f(x):\n    if x:\n        pass\n    total += x\n    return total\n"
    assert (read_before_assigned(counted) or "").startswith("line 4: `total` is read before f assigns it")


@pytest.mark.parametrize(
    "source",
    [
        "def f(x):\n    x = x + 1\n    return x\n",  # a parameter is bound on entry
        "def f(x):\n    y = 1\n    y = y + x\n    return y\n",  # the first assignment does not read it
        "def f(x):\n    y = [y for y in x]\n    return y\n",  # the comprehension's own y
        "def f(x):\n    y = 1 if x else y\n    return y\n",  # a read that may be skipped
        "def f(x):\n    global T\n    T = T + x\n",
        "def f(x):\n    for y in x:\n        pass\n    y = y + 1\n    return y\n",  # first bound by the loop
        # in a loop, a later line may have run first; in a try, the UnboundLocalError may be caught
        "def f(x):\n    for i in x:\n        if i:\n            t = t + i\n        else:\n"
        "            t = 0\n",
        "def f(x):\n    try:\n        t = t + x\n    except NameError:\n        t = x\n    return t\n",
        "def f(x)\n    return x\n",  # does not parse: another check reports it
        "y = 1\ny = y + 1\n",  # module level: not a function's local
    ],
)
def test_code_that_runs_is_not_reported(source: str) -> None:
    assert read_before_assigned(source) is None


def test_the_reward_verifier_says_it_before_any_job() -> None:
    verdict = RewardEvaluator(PROBLEMS["acrobot"]).static_check(HIDDEN)
    assert verdict is not None and verdict.score is None
    assert verdict.feedback.startswith("Checked before training: line 3: `goal_reached` is read before")
