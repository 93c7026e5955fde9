"""One environment's control flow written element-wise: what the rewrite produces, and that it means what the
model's program means for each environment.

The meaning is checked by running both programs (hand-written, trusted test code, on the host): the model's
program works on a batch of one environment (numpy takes the truth, `float` and `math` of a size-1 array), so
the rewritten program on n environments must give, row by row, what the original gives on each one alone.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, VerdictStatus
from tasks.reward.answer import reward_source
from tasks.reward.elementwise import MAX_PASSES, rewrite
from tasks.reward.problems import PROBLEMS
from verifiers.reward.evaluator import RewardEvaluator

HEAD = (
    "def compute_reward(obs, action, next_obs, done):\n    pos = next_obs[:, 0]\n    vel = next_obs[:, 1]\n"
)
TAIL = '    return reward, {"r": reward}\n'
#: name -> (compute_reward's body after HEAD, a fragment of the rewrite)
REWRITTEN = {
    "if": (
        "    reward = -1.0\n    if done:\n        reward = 100.0\n",
        "reward = np.where(done, 100.0, reward)",
    ),
    "if not, augmented": (
        "    reward = pos * 0.0\n    if not done:\n        reward += vel\n",
        "reward = np.where(np.logical_not(done), reward + vel, reward)",
    ),
    "if / elif / else": (
        "    if pos > 0.3:\n        reward = 2.0 * pos\n    elif pos < -1.0:\n        reward = -1.0\n"
        "    else:\n        reward = vel\n",
        "reward = np.where(pos > 0.3, 2.0 * pos, np.where(pos < -1.0, -1.0, vel))",
    ),
    "a branch reading its own assignment": (
        "    reward = vel\n    bonus = 0.0 * vel\n    if pos > 0.2:\n        bonus = 10.0 * pos\n"
        "        reward = reward + bonus\n",
        "bonus_if = 10.0 * pos",
    ),
    "and / or": (
        "    reward = (pos > 0.1 and vel > 0.0) or done\n",
        "np.logical_or(np.logical_and(pos > 0.1, vel > 0.0), done)",
    ),
    "chained comparison": (
        "    reward = vel\n    if -0.5 < pos <= 0.5:\n        reward = 2.0 * vel\n",
        "reward = np.where(np.logical_and(-0.5 < pos, pos <= 0.5), 2.0 * vel, reward)",
    ),
    "conditional expression": (
        "    reward = 1.0 if pos > 0 else vel\n",
        "reward = np.where(pos > 0, 1.0, vel)",
    ),
    "max, min": (
        "    h = pos * vel\n    reward = max(h, 0.0) + min(pos, vel, 0.1)\n",
        "reward = np.maximum(h, 0.0) + np.minimum(np.minimum(pos, vel), 0.1)",
    ),
    "a component set in a branch": (
        "    reward = vel * 0.0\n    components = {}\n    if pos > 0.2:\n        reward += 1.0\n"
        "        components['goal'] = pos\n",
        "components['goal'] = np.where(pos > 0.2, pos, components.get('goal', 0.0))",
    ),
    "both branches return": (
        '    if done:\n        bonus = 10.0 * vel\n        return pos + bonus, {"goal": bonus}\n'
        '    else:\n        return -vel, {"speed": vel}\n',
        "return (np.where(condition, returned_if_0, -vel), {key: np.where(condition, returned_if_1.get(key, "
        "0.0)",
    ),
    "an early return": (
        "    if pos > 0.4 and not done:\n        return 2.0 * vel, {}\n    reward = vel\n"
        "    if done:\n        reward = reward + 1.0\n",
        "reward = np.where(done, reward + 1.0, reward)\n"
        "    returned_else_1 = {'r': reward}\n    return (np.where(condition, returned_if_0, reward)",
    ),
    "a helper's parameter": (
        "    reward = shaped(pos, done)\n",
        "return np.where(np.logical_and(x > 0.0, np.logical_not(d)), x, 0.0)",
    ),
}
HELPER = "def shaped(x, d, scale=1.0):\n    return x if x > 0.0 and not d else 0.0\n\n\n"


def _module(body: str) -> str:
    return HELPER + HEAD + body + TAIL


def _run(
    source: str, obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray, done: np.ndarray
) -> np.ndarray:
    namespace: dict[str, object] = {"np": np, "math": math}
    exec(compile(source, "candidate.py", "exec"), namespace)  # trusted: this test's own programs
    reward, _ = namespace["compute_reward"](obs, action, next_obs, done)  # type: ignore[operator]
    return np.broadcast_to(np.asarray(reward, dtype=float), (len(obs),))


def _batch(n: int = 16) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1.5, 1.0, size=(n, 2))
    next_obs = rng.uniform(-1.5, 1.0, size=(n, 2))
    done = rng.random(n) < 0.4
    return obs, rng.integers(0, 3, n), next_obs, done


@pytest.mark.parametrize("name", sorted(REWRITTEN))
def test_each_habit_is_rewritten_and_means_per_environment_what_it_meant_for_one(name: str) -> None:
    body, fragment = REWRITTEN[name]
    original = _module(body)
    out = rewrite(original)
    assert fragment in out, out
    assert out.startswith("# assay: wrote `") and "element-wise" in out.splitlines()[0]
    obs, action, next_obs, done = _batch()
    with pytest.raises((ValueError, TypeError)):  # the model's program never ran on arrays
        _run(original, obs, action, next_obs, done)
    rewritten = _run(out, obs, action, next_obs, done)
    alone = [tuple(x[i : i + 1] for x in (obs, action, next_obs, done)) for i in range(len(obs))]
    one_at_a_time = [_run(original, *batch)[0] for batch in alone]
    np.testing.assert_allclose(rewritten, one_at_a_time)


def test_math_float_and_int_become_numpy_functions_of_each_value() -> None:
    """numpy 2 no longer converts a size-1 array to a number: Python's meaning is taken value by value."""
    out = rewrite(
        HEAD + "    reward = math.atan2(pos, 1.0) + math.sqrt(abs(vel)) + float(vel) + int(10 * pos)\n" + TAIL
    )
    assert "np.arctan2(pos, 1.0) + np.sqrt(abs(vel)) + np.asarray(vel, dtype=float)" in out, out
    obs, action, next_obs, done = _batch()
    expected = [math.atan2(p, 1.0) + math.sqrt(abs(v)) + float(v) + int(10 * p) for p, v in next_obs.tolist()]
    np.testing.assert_allclose(_run(out, obs, action, next_obs, done), expected)


LEFT = {
    "a component that reads its dict": (
        "    reward = vel\n    components = {}\n    if done:\n"
        "        components['n'] = components.get('n', 0.0) + 1.0\n"
    ),
    "a return in a loop after it": (
        "    if done:\n        return pos, {}\n    reward = vel\n"
        "    for i in range(2):\n        if pos > i:\n            return vel, {}\n"
    ),
    "a name bound in one branch only": "    if done:\n        bonus = 1.0\n    reward = vel\n",
    "a while": "    reward = vel\n    while pos > 0:\n        pos = pos - 1\n",
    "a test on numbers": (
        "    n = len(obs)\n    reward = vel\n    if n > 0 and obs.shape[1] == 2:\n        reward = vel * 2\n"
        "    if np.any(done):\n        reward = reward + 0.0\n"
        "    if done.sum() > 3:\n        reward = -reward\n"
    ),
    "a loop over environments": (
        "    reward = vel.copy()\n    for i in range(len(obs)):\n"
        "        if done[i] and pos[i] > 0:\n            reward[i] = 1.0\n"
    ),
}


@pytest.mark.parametrize("name", sorted(LEFT))
def test_what_the_rewrite_cannot_mean_the_same_or_needs_not_is_left_as_written(name: str) -> None:
    source = HEAD + LEFT[name] + TAIL
    assert rewrite(source) == source


def test_returns_of_different_lengths_are_left_and_the_rest_is_still_rewritten() -> None:
    source = HEAD + "    if done:\n        return pos, {}\n    else:\n        return pos, {}, 1.0\n"
    out = rewrite(HELPER + source)
    assert "    if done:\n        return pos, {}\n" in out  # not a choice the rewrite can make
    assert "np.where(np.logical_and(x > 0.0, np.logical_not(d)), x, 0.0)" in out  # the helper still is


def test_a_helper_parameter_with_a_default_is_a_number_and_nested_scopes_are_left() -> None:
    source = "def f(x, scale=1.0):\n    g = lambda v: v and x\n    return x * (2.0 if scale > 0 else 1.0)\n"
    assert rewrite(source) == source


def test_hostile_nesting_and_shared_lines_leave_the_source_as_it_was() -> None:
    deep = HEAD + "    reward = (" + " + ".join(["pos"] * 3000) + ") and vel\n" + TAIL
    assert rewrite(deep) == deep
    shared = HEAD + "    reward = vel; flag = pos > 0 and done\n" + TAIL
    assert rewrite(shared) == shared
    assert rewrite("def compute_reward(:\n") == "def compute_reward(:\n"


def test_other_line_breaks_leave_the_source_as_it_was() -> None:
    """str.splitlines and Python's tokenizer break lines where `ast` does not count one (\u2028, \f) or
    where a note's comment would end (\r): such a module is left as written."""
    body = "    reward = vel if pos > 0 else 0.0\n"
    for odd in ("    s = '\u2028'\n", "    s = '\f'\n", "    s = 1\r\n"):
        source = HEAD + odd + body + TAIL
        assert rewrite(source) == source
    assert rewrite(HEAD + body + TAIL) != HEAD + body + TAIL


def test_a_chain_written_backwards_is_read_in_a_bounded_number_of_passes() -> None:
    """Names reach the array reading one pass each when written in reverse; past MAX_PASSES they count as
    numbers and their `if` is left as written (the pre-check names it), so a hostile answer cannot make the
    host's reading quadratic."""
    chain = "".join(f"    a{i} = a{i - 1} + 1.0\n" for i in range(MAX_PASSES + 3, 0, -1))
    source = HEAD + "    a0 = vel\n" + chain + "    reward = a1 if a1 > 0 else vel\n"
    source += f"    reward = reward if a{MAX_PASSES + 3} > 0 else vel\n" + TAIL
    out = rewrite(source)
    assert "reward = np.where(a1 > 0, a1, vel)" in out
    assert f"reward = reward if a{MAX_PASSES + 3} > 0 else vel" in out


def test_the_answer_parser_stores_the_rewrite_with_comments_elsewhere_kept() -> None:
    answer = (
        "Here is the reward:\n```python\nimport numpy as np\n\n\n"
        "def compute_reward(obs, action, next_obs, done):\n"
        "    # the car's position\n    pos = next_obs[:, 0]\n    reward = pos - 0.5\n"
        "    if done:  # reached the flag\n        reward = reward + 100.0\n"
        '    return reward, {"pos": pos}\n```'
    )
    source = reward_source(answer)
    assert source.splitlines()[0] == (
        "# assay: wrote `if done` (np.where) element-wise: compute_reward gets arrays of every environment "
        "at once;"
    )
    assert (
        "    # the car's position\n" in source
        and "    reward = np.where(done, reward + 100.0, reward)\n" in source
    )
    assert "if done" not in source.split("\n", 1)[1]


async def test_a_free_form_answer_with_if_on_arrays_trains_once_rewritten(sandbox: Sandbox) -> None:
    """The shape of the stop-30 free-form mountaincar answers (`if done:` and `and` on arrays) was an error
    before any training; parsed through the task's parser, it trains to a score on a real sandbox."""
    answer = (
        "```python\nimport numpy as np\n\n\ndef compute_reward(obs, action, next_obs, done):\n"
        "    position = next_obs[:, 0]\n    velocity = next_obs[:, 1]\n"
        "    reward = -1.0 + 10.0 * abs(velocity)\n"
        "    if position > 0.0 and velocity > 0.0:\n        reward += 1.0\n"
        "    if done:\n        reward = 100.0\n"
        '    return reward, {"velocity": abs(velocity)}\n```'
    )
    small = dataclasses.replace(PROBLEMS["mountaincar"], trainer_config={"steps": 1500})
    evaluator = RewardEvaluator(small, seeds=(0,), sandbox=sandbox)
    raw = await evaluator.verify(Hypothesis.create(answer.split("```python\n")[1].split("```")[0]))
    assert raw.status is VerdictStatus.ERROR and raw.score is None, raw.feedback
    verdict = await evaluator.verify(Hypothesis.create(reward_source(answer)))
    assert verdict.score is not None, verdict.feedback
    assert verdict.metrics["velocity_final"] >= 0.0
