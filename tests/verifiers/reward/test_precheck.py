"""The reward pre-checks, in-process (no sandbox): the host's undefined-name pass, the candidate side's
first call on sample steps (`shipped/dry_run.py`, loaded here as the job loads it), and the names in scope."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tasks.reward.problems import PROBLEMS
from tasks.reward.shipped.sims import acrobot, mountaincar, pendulum
from tasks.reward.suite import instructions
from verifiers.reward.precheck import scope, undefined_names

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "verifiers" / "reward" / "shipped"), str(ROOT / "verifiers" / "peer" / "shipped")]
import dry_run  # noqa: E402
import reward_server  # noqa: E402

USES_HELPER = """def compute_reward(obs, action, next_obs, done):
    theta = angle_normalise(np.arctan2(next_obs[:, 1], next_obs[:, 0]))
    return -theta**2, {}
"""


#: where `_fn` writes its candidates (a traceback reads the file); removed when the module's tests end
CANDIDATES = tempfile.TemporaryDirectory(prefix="assay-precheck-")


@pytest.fixture(scope="module", autouse=True)
def _remove_candidates():  # type: ignore[no-untyped-def]
    yield
    CANDIDATES.cleanup()


def _fn(source: str):  # type: ignore[no-untyped-def]
    """compute_reward loaded as the server loads it: from a file named candidate.py, the names in scope."""
    path = Path(tempfile.mkdtemp(prefix="cand-", dir=CANDIDATES.name)) / "candidate.py"
    path.write_text(source, encoding="utf-8")
    namespace = dict(reward_server.environment_scope(pendulum))
    exec(compile(source, str(path), "exec"), namespace)
    return namespace["compute_reward"]


def test_undefined_name_names_the_line_and_the_nearest_defined_name() -> None:
    started = time.process_time()
    message = undefined_names(USES_HELPER, scope(pendulum))
    assert message is not None and time.process_time() - started < 1.0
    assert (
        message.splitlines()[0] == "line 2: `angle_normalise` is not defined: did you mean `angle_normalize`?"
    )
    assert message.splitlines()[1].strip().startswith("2 | theta = angle_normalise(")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def compute_reward(o, a, n, d):\n    return sqrt(o[:, 0]), {}\n", "did you mean np.sqrt?"),
        ("def compute_reward(o, a, n, d):\n    return math.cos(o[:, 0]), {}\n", "add `import math`"),
        ("def compute_reward(o, a, n, d):\n    return helper(o), {}\n", "define it in your module"),
        (
            "def compute_reward(o, a, n, d):\n    goal_height = 1.0\n    return np.where(goal, 1, 0), {}\n",
            "did you mean one of `GOAL_HOLD_STEPS`, `GOAL_POSITION`, `goal_height`? (`goal` itself is not",
        ),
        (
            "def compute_reward(o, a, n, d):\n    return np.where(goal(n), 1.0, 0.0), {}\n",
            "the simulator's `goal` takes internal states and is not in scope: use `goal_reached(next_obs)`",
        ),
        (
            "def compute_reward(o, a, n, d):\n    s, _ = step(o, a)\n    return s[:, 0], {}\n",
            "the simulator's `step` is not in scope: compute_reward is given the step's result",
        ),
    ],
)
def test_undefined_name_hints(source: str, expected: str) -> None:
    message = undefined_names(source, scope(mountaincar))
    assert message is not None and expected in message.splitlines()[0]


def test_a_called_goal_without_an_observation_test_in_scope_is_told_what_to_use_instead() -> None:
    source = "def compute_reward(o, a, n, d):\n    return np.where(goal(n), 1.0, 0.0), {}\n"
    message = undefined_names(source, {"np": "numpy"})
    assert message is not None
    assert "the simulator's `goal` is not in scope: write its condition yourself" in message
    assert "`done` argument is True there" in message


def test_goal_reached_is_goal_on_observations() -> None:
    rng = np.random.default_rng(0)
    for sim in (mountaincar, pendulum, acrobot):
        width = sim.reset(rng, 1).shape[1]
        states = rng.uniform(-np.pi, np.pi, size=(4000, width)) * np.array([1.0] * 2 + [0.1] * (width - 2))
        expected = sim.goal(states)
        assert 0 < expected.sum() < len(states), sim.__name__  # both outcomes are compared
        np.testing.assert_array_equal(sim.goal_reached(sim.observe(states)), expected)


def test_defined_names_in_every_scope_are_not_reported() -> None:
    source = """import numpy
from math import pi as PI_


def helper(x, *args, k=1, **kw):
    total = [y for y in x if y]
    try:
        pass
    except ValueError as err:
        print(err)
    global LATER
    LATER = 1
    return (lambda z: z + PI_)(len(total))


def compute_reward(obs: NDArray, action, next_obs, done) -> Thing:
    h = height(next_obs[:, 0]) + GOAL_POSITION + np.pi + numpy.e + LATER
    return h, {"h": h, "n": __name__}
"""
    assert undefined_names(source, scope(mountaincar)) is None
    assert (
        undefined_names("from numpy import *\n\ndef compute_reward(o, a, n, d):\n    return x\n", {}) is None
    )


def test_scope_matches_what_the_server_puts_in_the_candidates_namespace() -> None:
    for sim in (mountaincar, pendulum, acrobot):
        assert set(scope(sim)) == set(reward_server.environment_scope(sim))
        text = instructions(next(p for p in PROBLEMS.values() if p.sim is sim))
        for name in scope(sim):
            if name != "numpy":
                assert name in text.split("Already defined in your module", 1)[1].split("Work on")[0], name


def test_the_helpers_work_on_observations() -> None:
    _, _, next_obs, _ = dry_run.sample_batch(pendulum)
    theta = pendulum.obs_angle(next_obs)
    assert np.allclose(pendulum.angle_normalize(theta + 2 * np.pi), theta)
    assert mountaincar.height(np.array([-np.pi / 6]))[0] == pytest.approx(0.1)
    assert acrobot.tip_height(acrobot.observe(np.zeros((1, 4))))[0] == pytest.approx(-2.0)


@pytest.mark.parametrize(
    ("body", "line", "expected"),
    [
        ("    if next_obs[:, 0] > 0.5:\n        return np.ones(len(obs)), {}\n    return -obs[:, 0], {}",
         "line 2, `if next_obs[:, 0] > 0.5:`",
         "choose per environment, `reward = np.where(next_obs[:, 0] > 0.5, value_if_true, value_if_false)`"),
        ("    r = np.ones(len(obs))\n    if not done and obs[:, 0] > 0 or action == 1:\n        r = r * 2\n"
         "    return r, {}", "line 3, ",
         "`reward = np.where(((~(done)) & (obs[:, 0] > 0)) | (action == 1), value_if_true, value_if_false)`"),
        ("    return np.ones(len(obs)) * (1 if done else 0), {}", "line 2, ",
         "`1 if done else 0` on arrays of 16 environments is ambiguous: write it element-wise, "
         "`np.where(done, 1, 0)`"),
        ("    return (obs[:, 0] > 0.0 and not done).astype(float), {}", "line 2, ",
         "write it element-wise, `(obs[:, 0] > 0.0) & (~(done))`"),
        ("    return np.ones(len(obs)) * bool(done), {}", "line 2, ", "use np.where(condition"),
        ("    import math\n    return math.cos(obs[:, 0]), {}", "line 3, `return math.cos(obs[:, 0]), {}`",
         "numpy's element-wise functions"),
        ("    return np.mean(obs[:, 2]), {}", "line 2 ", "one number for the whole batch"),
        ("    return -np.ones((len(obs), 2)), {}", "line 2 ", "has shape (16, 2); expected (16,)"),
        ("    r = np.zeros_like(obs)\n    return r - 1.0, {}", "line 3 ",
         "has shape (16, 3); expected (16,), one value per environment (line 2: `np.zeros_like(obs)` has the "
         "shape of obs, one row per environment and a column per variable: use np.zeros(len(obs)))"),
        ("    return -np.ones(len(obs))", "line 2 ", "must return a tuple (reward, components)"),
        ("    return obs, obs[:, 0]", "line 2 ",
         "returned a tuple whose second item is ndarray, not a dict of components; it must return"),
        ("    return obs[:, 0], {}, 1", "line 2 ", "returned a tuple of 3 items; it must return a tuple"),
        ("    r = np.log(obs[:, 0] - 2.0)\n    return r, {}", "line 2, `r = np.log(obs[:, 0] - 2.0)`",
         "the reward is nan"),
        ("    return np.zeros(len(obs)), {'x': obs[:, 7]}", "line 2, `return np.zeros", "IndexError"),
        ("    v = next_obs[1] - obs[1]\n    return v + obs[:, 0], {}", "line 3, `return v + obs[:, 0], {}`",
         "`next_obs[1]` is environment 1's whole observation (a row), not variable 1 of every environment: "
         "use `next_obs[:, 1]` (column 1, shape (16,))"),
        ("    return obs[:, 0] + next_obs[2], {}", "line 2, ", "use `next_obs[:, 2]`"),
        ("    return obs[:, :2] + obs[:, 0], {}", "line 2, ",
         "arrays of different shapes were combined (shapes (16,2) (16,)): every term must have shape (16,)"),
    ],
)  # fmt: skip
def test_first_call_names_the_line_in_one_or_two_lines(body: str, line: str, expected: str) -> None:
    fn = _fn("def compute_reward(obs, action, next_obs, done):\n" + body + "\n")
    started = time.process_time()
    with pytest.raises(dry_run.Finding) as caught:
        dry_run.check(fn, pendulum)
    assert time.process_time() - started < 1.0
    message = str(caught.value)
    assert line in message and expected in message, message
    assert len(message.splitlines()) <= 2 and "on 16 sample steps before training" in message


def test_first_call_accepts_constants_and_working_rewards() -> None:
    dry_run.check(_fn("def compute_reward(o, a, n, d):\n    return -1.0, {'step': -1.0}\n"), pendulum)
    dry_run.check(_fn(PROBLEMS["pendulum"].env_reward), pendulum)
    dry_run.check(_fn("def compute_reward(o, a, n, d):\n    return -obs_angle(n) ** 2, {}\n"), pendulum)


def test_traceback_keeps_only_the_candidates_frames() -> None:
    helper = "def helper(x):\n    return np.linalg.inv(x)\n\n\n"
    fn = _fn(helper + "def compute_reward(o, a, n, d):\n    return helper(o), {}\n")
    with pytest.raises(dry_run.Finding) as caught:
        dry_run.check(fn, pendulum)
    tb = caught.value.traceback
    assert (
        'File "candidate.py", line 6, in compute_reward' in tb
        and 'File "candidate.py", line 2, in helper' in tb
    )
    assert "site-packages" not in tb and "cand-" not in tb and "dry_run" not in tb


def test_a_row_index_is_named_under_the_candidates_own_parameter_names() -> None:
    fn = _fn("def compute_reward(s, a, s2, d):\n    dv = s2[2] - s[2]\n    return dv * s[:, 0], {}\n")
    with pytest.raises(dry_run.Finding) as caught:
        dry_run.check(fn, pendulum)
    assert "`s2[2]` is environment 2's whole observation" in str(caught.value)
    assert "use `s2[:, 2]`" in str(caught.value)
    # a row index on a name that is not an observation is not blamed
    other = _fn("def compute_reward(o, a, n, d):\n    w = np.ones((3, 2))\n    return w[1] + o[:, 0], {}\n")
    with pytest.raises(dry_run.Finding) as caught:
        dry_run.check(other, pendulum)
    assert "whole observation" not in str(caught.value) and "different shapes" in str(caught.value)
