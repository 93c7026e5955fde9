"""Scaffold mode of the reward tasks (`reward/<env>-scaffold`): a skeleton to fill in, for small models.

A 1.5B model given the whole simulator and a blank page calls functions that are not in scope, branches with
`if` on arrays, and forgets the components dict. Eureka meets the model halfway by putting the environment's
variables in scope; this goes one step further, as DiscoPOP's loss template does: the prompt is a complete,
working reward module whose observation columns are already unpacked into named arrays, whose terms are
already in the components dict and whose weights are already declared TUNABLE with ranges. The model writes
the few expressions marked `...`; the reward verifier's two-level search then tunes the weights it kept.

Nothing about the verification changes: the answer is parsed and judged exactly like a free-form reward
(same sandbox, same trainer, same held-out seeds). The prompt is also much shorter than the free-form one
(the simulator's docstring instead of its source), which is most of the embedded model's prefill time.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from tasks.reward.answer import reward_source
from tasks.reward.problems import RewardProblem
from verifiers.names import bound_names
from verifiers.reward.tunable import TUNABLE_NAME


@dataclass(frozen=True)
class Skeleton:
    """One environment's skeleton: the module the model completes and what each `...` should become."""

    module: str
    #: one line per hole: what its expression should measure
    holes: tuple[str, ...]


MOUNTAINCAR = Skeleton(
    module="""import numpy as np

W_PROGRESS = 1.0
W_GOAL = 10.0
W_STEP = 0.1
TUNABLE = {"W_PROGRESS": (0.0, 100.0), "W_GOAL": (0.0, 100.0), "W_STEP": (0.0, 1.0)}


def compute_reward(obs, action, next_obs, done):
    position, velocity = next_obs[:, 0], next_obs[:, 1]
    progress = ...  # float array (n,): larger when the car is closer to climbing the right hill
    goal = done.astype(np.float64)
    step = -np.ones(len(obs))
    components = {"progress": W_PROGRESS * progress, "goal": W_GOAL * goal, "step": W_STEP * step}
    reward = components["progress"] + components["goal"] + components["step"]
    return reward, components
""",
    holes=(
        "progress: e.g. mechanical energy (height(position) and velocity**2), or its increase from obs "
        "to next_obs; `height(position)` is the hill's height and is already defined",
    ),
)

PENDULUM = Skeleton(
    module="""import numpy as np

W_UPRIGHT = 1.0
W_VELOCITY = 0.1
W_TORQUE = 0.001
TUNABLE = {"W_UPRIGHT": (0.1, 10.0), "W_VELOCITY": (0.001, 1.0), "W_TORQUE": (0.0001, 0.1)}


def compute_reward(obs, action, next_obs, done):
    cos_theta, sin_theta, velocity = next_obs[:, 0], next_obs[:, 1], next_obs[:, 2]
    theta = obs_angle(next_obs)  # in [-pi, pi], 0 is upright
    upright = ...  # float array (n,): larger when the pendulum is closer to upright
    slow = ...  # float array (n,): larger when the pendulum spins slower
    torque = np.clip(action, -2.0, 2.0)
    components = {
        "upright": W_UPRIGHT * upright,
        "slow": W_VELOCITY * slow,
        "effort": -W_TORQUE * torque**2,
    }
    reward = components["upright"] + components["slow"] + components["effort"]
    return reward, components
""",
    holes=(
        "upright: e.g. -theta**2, or cos_theta",
        "slow: e.g. -velocity**2",
    ),
)

ACROBOT = Skeleton(
    module="""import numpy as np

W_HEIGHT = 1.0
W_GOAL = 10.0
W_STEP = 1.0
TUNABLE = {"W_HEIGHT": (0.0, 10.0), "W_GOAL": (0.0, 100.0), "W_STEP": (0.0, 10.0)}


def compute_reward(obs, action, next_obs, done):
    tip = tip_height(next_obs)  # -2 hanging down, +2 straight up; the goal is reached above 1
    speed1, speed2 = next_obs[:, 4], next_obs[:, 5]
    height = ...  # float array (n,): larger when the tip is higher
    goal = done.astype(np.float64)
    step = -np.ones(len(obs))
    components = {"height": W_HEIGHT * height, "goal": W_GOAL * goal, "step": W_STEP * step}
    reward = components["height"] + components["goal"] + components["step"]
    return reward, components
""",
    holes=("height: e.g. tip, or tip minus tip_height(obs) (the rise in this step)",),
)

SKELETONS: dict[str, Skeleton] = {"mountaincar": MOUNTAINCAR, "pendulum": PENDULUM, "acrobot": ACROBOT}

TEMPLATE = """You are a reward engineer. Complete the reward function below so that a fixed trainer learns a
policy that solves this task:

Task: {goal}

The environment: {description}

The trainer (fixed): {trainer}
Your reward is judged only by the task's true success after training ({success}).

Complete this module. Replace each `...` with a numpy expression on whole arrays (use np.where for
conditions, never `if` on arrays):

```python
{module}```

What to put in place of each `...`:
{holes}

{in_scope}

Rules:
- Keep the module's first lines (the weights and TUNABLE); a written weight may become another plain number
  inside its range.
- You may change the expressions and add terms (put each in `components`).
- Write the module only: no training, tuning, test or print code. We train with your reward ourselves
  ({budget} short trainings tune the TUNABLE weights, then the verdict).
Answer with one ```python code block holding the complete module."""


#: sentences of a simulator's docstring that matter to its maintainers, not to a reward (prompt tokens)
NOT_FOR_THE_PROMPT = ("gymnasium", "domain-randomised", "Integration:")


def plain(doc: str | None) -> str:
    """A docstring as one paragraph, less the remarks and sentences about how the simulator was validated."""
    text = re.sub(r"\s*\([^)]*gymnasium[^)]*\)", "", " ".join((doc or "").split()))
    sentences = text.split(". ")
    kept = [s for s in sentences if not any(word in s for word in NOT_FOR_THE_PROMPT)]
    return ". ".join(kept).rstrip(".") + "."


def describe(sim: ModuleType) -> str:
    """What the observation columns and actions mean: the simulator's docstring (see `plain`)."""
    return plain(sim.__doc__)


def in_scope_text(sim: ModuleType) -> str:
    """The helper functions the candidate's module finds defined (verifiers/reward/precheck.scope), with
    their signatures and docstrings, since the scaffold prompt does not show the simulator's source. The
    simulator's constants are in scope too but not listed: in the first bench a 1.5B model "defined" the
    listed constants in place of the skeleton's weights and lost them."""
    from verifiers.reward.precheck import scope

    helpers = []
    for name in (n for n, kind in scope(sim).items() if kind == "function"):
        fn = getattr(sim, name)
        args = ", ".join(inspect.signature(fn).parameters)
        helpers.append(f"`{name}({args})`: {plain(fn.__doc__)}")
    text = "Already defined in your module, without importing or writing them: `np` (numpy)"
    return text + ("; " + "; ".join(helpers) if helpers else ".")


def header(skeleton: Skeleton) -> list[str]:
    """The skeleton's module-level assignments (its weights and TUNABLE), one line each."""
    return [line for line in skeleton.module.splitlines() if re.match(r"^[A-Z_][A-Z0-9_]* = ", line)]


def parse_for(key: str) -> Callable[[str], str]:
    """The scaffold task's parser: the reward module (tasks/reward/answer.py), with the skeleton's weight
    and TUNABLE lines put back when the answer uses them without writing them.

    Small models answer with compute_reward alone, or rewrite the module's head, and then every use of a
    weight is a NameError. The skeleton's own lines are part of what the task gave; restoring only those the
    answer uses but does not bind changes nothing the model wrote (its own definitions win), and the
    restored module is what is verified, recorded and shown back."""
    lines = header(SKELETONS[key])

    def parse(text: str) -> str:
        source = reward_source(text)
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return source  # the verifier says what is wrong with it
        bound, _ = bound_names(tree)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        names = {line.split(" = ", 1)[0]: line for line in lines}
        missing = [line for name, line in names.items() if name not in bound and name in used]
        weights = {name for name in names if name != TUNABLE_NAME}
        if TUNABLE_NAME not in bound and weights <= bound | {ln.split(" = ", 1)[0] for ln in missing}:
            missing.append(names[TUNABLE_NAME])
        if not missing:
            return source
        body = source.splitlines()
        at = max((i + 1 for i, ln in enumerate(body) if re.match(r"^(import|from) \w", ln)), default=0)
        restored = "# the skeleton's lines that the answer used without writing them\n" + "\n".join(missing)
        return "\n".join([*body[:at], "", restored, "", *body[at:]]).strip("\n") + "\n"

    return parse


def instructions(problem: RewardProblem) -> str:
    """The scaffold prompt: goal, a one-paragraph environment, the trainer, the skeleton and its holes."""
    from verifiers.reward.tuning import DEFAULT_BUDGET

    skeleton = SKELETONS[problem.name]
    return TEMPLATE.format(
        goal=problem.goal,
        description=describe(problem.sim),
        trainer=problem.trainer_facts,
        success=problem.success_text,
        module=skeleton.module,
        holes="\n".join(f"- {hole}" for hole in skeleton.holes),
        in_scope=in_scope_text(problem.sim),
        budget=DEFAULT_BUDGET,
    )
