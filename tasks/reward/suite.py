"""The reward tasks `reward/mountaincar`, `reward/pendulum`, `reward/acrobot` (Eureka-style reward design).

The model sees the simulator's source (dynamics only), the goal in one sentence, the signature it must
implement and the fixed trainer's facts; it answers with a reward function. The verifiers are built only
when a task is selected, so importing this module stays cheap.
"""

from __future__ import annotations

from agent.errors import ParseError
from tasks.base import Task, task
from tasks.parsing import code_block
from tasks.reward.problems import HELD_OUT_SEEDS, PROBLEMS, SEARCH_SEEDS, RewardProblem

SIGNATURE = '''def compute_reward(obs, action, next_obs, done):
    """Reward for one step of many environments at once (vectorised with numpy).

    obs, next_obs: float64 arrays (n, OBS_DIM), the observation before and after the step
    action: array (n,), the action taken (int for discrete actions, float torque for continuous ones)
    done: bool array (n,), True where this step reached the goal and ends the episode
          (a time-limit cut-off is NOT signalled here)
    All inputs are read-only. Return (reward, components): reward is a float array (n,) of finite values,
    components a dict {name: float array (n,)} of the terms that make up the reward (for feedback).
    """'''

TEMPLATE = """You are a reward engineer. Write a reward function that makes the fixed trainer below learn a
policy that solves this task:

Task: {goal}

The environment (a vectorised numpy simulator; it has no reward of its own):

```python
{source}
```

Your function must have exactly this signature (numpy is available as the only library):

```python
{signature}
```

The trainer that will optimise your reward (it is fixed; design the reward for it):
{trainer}

Your reward is judged only by the task's true success after training ({success}), measured from fixed
evaluation start states over several training seeds; what your reward itself adds up to does not count.
Answer with the complete code (imports included) in one ```python code block."""


def parse_reward(text: str) -> str:
    """The reward function's source from a completion; it must define compute_reward."""
    source = code_block(text)
    if "def compute_reward" not in source:
        raise ParseError("the code block must define `def compute_reward(obs, action, next_obs, done):`")
    return source


def instructions(problem: RewardProblem) -> str:
    return TEMPLATE.format(
        goal=problem.goal,
        source=problem.environment_source().strip(),
        signature=SIGNATURE,
        trainer=problem.trainer_facts,
        success=problem.success_text,
    )


def make_task(key: str) -> Task:
    from verifiers.reward_eval import RewardEvaluator
    from verifiers.reward_heldout import RewardHeldOut

    problem = PROBLEMS[key]
    return Task(
        name=f"reward/{key}",
        problem_id=key,
        instructions=instructions(problem),
        parse=parse_reward,
        verifier=RewardEvaluator(problem),
        held_out=RewardHeldOut(problem),
        info={
            "trainer": problem.trainer.__name__.rsplit(".", 1)[-1],
            "search_seeds": ",".join(map(str, SEARCH_SEEDS)),
            "held_out_seeds": ",".join(map(str, HELD_OUT_SEEDS)),
            "success": problem.success_text,
            "eval_starts": str(problem.eval_starts),
            "baselines": "sparse success-only and the environment's own reward, retrained on the held-out "
            "seeds; their scores are in the held-out verdict's metrics (baseline_sparse, baseline_env)",
        },
    )


DR_BOUNDS = {"force": (0.0005, 0.002), "gravity": (0.0015, 0.0035)}
#: the "real" dynamics of the DrEureka variant; never shown to the model
DR_REAL_DYNAMICS = ({"force": 0.0007}, {"gravity": 0.0032}, {"force": 0.0008, "gravity": 0.003})

DR_TEMPLATE = """

This is a sim-to-real task: the policy will be deployed on a real car whose physical parameters differ from
the simulator's by an unknown amount. Besides compute_reward, define at module level the domain randomisation
to train with, as a literal dict of uniform ranges: RANDOMISE = {{"name": (low, high), ...}}. You may
randomise: {params}. Each environment draws its parameters from your ranges at every episode start.
The final check measures success on the real dynamics, which you never see."""


def make_dr_task(key: str) -> Task:
    from verifiers.reward_dr import DomainRandomisedEvaluator, DomainRandomisedHeldOut, describe_bounds

    problem = PROBLEMS[key]
    text = instructions(problem) + DR_TEMPLATE.format(params=describe_bounds(problem, DR_BOUNDS))
    return Task(
        name=f"reward/{key}-dr",
        problem_id=f"{key}-dr",
        instructions=text,
        parse=parse_reward,
        verifier=DomainRandomisedEvaluator(problem, DR_BOUNDS),
        held_out=DomainRandomisedHeldOut(problem, DR_BOUNDS, DR_REAL_DYNAMICS),
        info={"real_dynamics": repr(DR_REAL_DYNAMICS), "held_out_seeds": ",".join(map(str, HELD_OUT_SEEDS))},
    )


@task("reward/mountaincar", "Eureka-style reward design: MountainCar-v0 trained by tile-coded Q-learning")
def mountaincar_task() -> Task:
    return make_task("mountaincar")


@task("reward/pendulum", "Eureka-style reward design: Pendulum-v1 swing-up trained by CEM over an MLP")
def pendulum_task() -> Task:
    return make_task("pendulum")


@task("reward/acrobot", "Eureka-style reward design: Acrobot-v1 swing-up trained by CEM over an MLP")
def acrobot_task() -> Task:
    return make_task("acrobot")


@task(
    "reward/mountaincar-dr",
    "DrEureka-style: MountainCar reward plus domain randomisation, judged on unseen dynamics",
)
def mountaincar_dr_task() -> Task:
    return make_dr_task("mountaincar")
