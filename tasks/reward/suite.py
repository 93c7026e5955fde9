"""The reward tasks `reward/mountaincar`, `reward/pendulum`, `reward/acrobot` (Eureka-style reward design).

The model sees the simulator's source (dynamics only), the goal in one sentence, the signature it must
implement and the fixed trainer's facts; it answers with a reward function. The verifiers are built only
when a task is selected, so importing this module stays cheap.
"""

from __future__ import annotations

from agent.kernel.needs import Needs
from agent.kernel.plugins import task
from agent.kernel.task import Task
from tasks.reward.answer import reward_source
from tasks.reward.dr import DR_VARIANTS
from tasks.reward.problems import HELD_OUT_SEEDS, PROBLEMS, SEARCH_SEEDS, TUNING_SEEDS, RewardProblem

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

Optionally, let the numbers you are unsure of be tuned: assign each as a plain module-level number
(`W_HEIGHT = 2.0`), read it inside compute_reward, and declare `TUNABLE = {{"W_HEIGHT": (0.0, 10.0)}}` with a
(low, high) range containing the written value (at most {max_tunable} constants). Before the verdict,
{budget} short trainings on separate seeds try your written values and others in the ranges (by order of
magnitude where high/low >= 10); the verdict uses the best, and the feedback reports the tuned values.
Answer with one ```python code block holding only your reward module: `import numpy as np`, any constants,
helper functions and compute_reward. Do not copy the environment code above and do not write training or
evaluation code: the trainer imports your module and calls compute_reward itself (an answer that repeats the
environment is cut off before its reward: write compute_reward first, right after the import). {in_scope}
Work on whole arrays (numpy operations, `np.where` for conditions; no `if` or loops over environments)."""

IN_SCOPE = (
    "Already defined in your module, without importing or copying them: `np` (numpy), the environment's "
    "constants {constants}{functions}. A name you define yourself replaces the one given; the environment's "
    "other functions are not defined (they take internal states, compute_reward sees observations)."
)


def parse_reward(text: str) -> str:
    """The reward module from a completion: definitions only (see tasks/reward/answer.py)."""
    return reward_source(text)


#: numpy, in the host's grader and in the sandbox's trainer and candidate processes
NEEDS = Needs(host_modules=("numpy",), sandbox_modules=("numpy",), install="pip install -e .")

#: the completion cap of a reward answer (Task.completion_tokens), unless the user gives one: a complete
#: reward module (compute_reward and its TUNABLE constants) fits in ~640 tokens; measured answers of the
#: local models were 117-445. The sim-to-real variants add a RANDOMISE dict of a few ranges.
COMPLETION_TOKENS = 640
DR_COMPLETION_TOKENS = 768


#: how a free-form answer starts, for a model that continues one (Task.answer_start): asked to write
#: compute_reward first, the 1.5B model began 4 of its 12 free-form answers of seed 0 (this machine, stop 31)
#: by copying the environment's source after the import, and the completion limit cut them off before
#: compute_reward. The scaffold's answers start with its weights, so they get none.
ANSWER_START = "```python\nimport numpy as np\n\n\ndef compute_reward(obs, action, next_obs, done):\n"


def in_scope_text(problem: RewardProblem) -> str:
    """Exactly the names the candidate's module finds defined (verifiers/reward/precheck.scope says which)."""
    from verifiers.reward.precheck import scope

    names = scope(problem.sim)
    constants = ", ".join(n for n, kind in names.items() if kind == "constant")
    functions = [f"`{n}`" for n, kind in names.items() if kind == "function"]
    plural = "s" if len(functions) > 1 else ""
    listed = f" and its function{plural} {', '.join(functions)} (defined above)" if functions else ""
    return IN_SCOPE.format(constants=constants, functions=listed)


def instructions(problem: RewardProblem) -> str:
    from verifiers.reward.tunable import MAX_TUNABLE
    from verifiers.reward.tuning import DEFAULT_BUDGET

    return TEMPLATE.format(
        in_scope=in_scope_text(problem),
        goal=problem.goal,
        source=problem.environment_source().strip(),
        signature=SIGNATURE,
        trainer=problem.trainer_facts,
        success=problem.success_text,
        max_tunable=MAX_TUNABLE,
        budget=DEFAULT_BUDGET,
    )


def make_task(key: str, *, scaffold: bool = False) -> Task:
    """The task of one problem; `scaffold`: the prompt is a skeleton to fill in (tasks/reward/scaffold.py),
    judged by the very same verifiers."""
    from tasks.reward import scaffold as skeletons
    from verifiers.reward.evaluator import RewardEvaluator
    from verifiers.reward.heldout import RewardHeldOut
    from verifiers.reward.tuning import Tuner

    problem = PROBLEMS[key]
    tuner = Tuner()  # shared: the held-out retrain reuses the search's tuning of the final hypothesis
    return Task(
        name=f"reward/{key}-scaffold" if scaffold else f"reward/{key}",
        problem_id=key,
        instructions=skeletons.instructions(problem) if scaffold else instructions(problem),
        parse=skeletons.parse_for(key) if scaffold else parse_reward,
        verifier=RewardEvaluator(problem, tuner=tuner),
        held_out=RewardHeldOut(problem, tuner=tuner),
        uses_sandbox=True,
        needs=NEEDS,
        completion_tokens=COMPLETION_TOKENS,
        answer_start="" if scaffold else ANSWER_START,
        info={
            "trainer": problem.trainer.__name__.rsplit(".", 1)[-1],
            "search_seeds": ",".join(map(str, SEARCH_SEEDS)),
            "held_out_seeds": ",".join(map(str, HELD_OUT_SEEDS)),
            "tuning_seeds": ",".join(map(str, TUNING_SEEDS)),
            "success": problem.success_text,
            "eval_starts": str(problem.eval_starts),
            "baselines": "sparse success-only and the environment's own reward, retrained on the held-out "
            "seeds; their scores are in the held-out verdict's metrics (baseline_sparse, baseline_env)",
        },
    )


#: the mountaincar variant's bounds and hidden dynamics (all variants: `tasks/reward/dr.py`)
DR_BOUNDS = DR_VARIANTS["mountaincar"].bounds
DR_REAL_DYNAMICS = DR_VARIANTS["mountaincar"].real_dynamics

DR_TEMPLATE = """

This is a sim-to-real task: the policy will be deployed on {system} whose physical parameters differ from
the simulator's by an unknown amount. Besides compute_reward, define at module level the domain randomisation
to train with, as a literal dict of uniform ranges: RANDOMISE = {{"name": (low, high), ...}}. You may
randomise: {params}. Each environment draws its parameters from your ranges at every episode start.
The final check measures success on the real dynamics, which you never see."""


def make_dr_task(key: str) -> Task:
    from verifiers.reward.dr import DomainRandomisedEvaluator, DomainRandomisedHeldOut, describe_bounds
    from verifiers.reward.tuning import Tuner

    variant = DR_VARIANTS[key]
    problem = variant.problem
    tuner = Tuner()
    text = instructions(problem) + DR_TEMPLATE.format(
        system=variant.system, params=describe_bounds(problem, variant.bounds)
    )
    held_out = DomainRandomisedHeldOut(
        problem, variant.bounds, variant.real_dynamics, seeds=variant.seeds, tuner=tuner
    )
    return Task(
        name=f"reward/{key}-dr",
        problem_id=f"{key}-dr",
        instructions=text,
        parse=parse_reward,
        verifier=DomainRandomisedEvaluator(problem, variant.bounds, tuner=tuner),
        held_out=held_out,
        uses_sandbox=True,
        needs=NEEDS,
        completion_tokens=DR_COMPLETION_TOKENS,
        info={
            "real_dynamics": repr(variant.real_dynamics),
            "held_out_seeds": ",".join(map(str, variant.seeds)),
            "comparison": "the held-out verdict trains your reward with and without your randomisation and "
            "the environment's reward without it, on the same seeds, and scores all on the real dynamics",
        },
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
    "reward/mountaincar-scaffold",
    "reward/mountaincar for small models: fill in a skeleton with tuned weights",
)
def mountaincar_scaffold_task() -> Task:
    return make_task("mountaincar", scaffold=True)


@task("reward/pendulum-scaffold", "reward/pendulum for small models: a skeleton to fill in, weights tuned")
def pendulum_scaffold_task() -> Task:
    return make_task("pendulum", scaffold=True)


@task("reward/acrobot-scaffold", "reward/acrobot for small models: a skeleton to fill in, weights tuned")
def acrobot_scaffold_task() -> Task:
    return make_task("acrobot", scaffold=True)


@task(
    "reward/mountaincar-dr",
    "DrEureka-style: MountainCar reward plus domain randomisation, judged on unseen dynamics",
)
def mountaincar_dr_task() -> Task:
    return make_dr_task("mountaincar")


@task(
    "reward/pendulum-dr",
    "DrEureka-style: Pendulum reward plus domain randomisation (mass, length, gravity, torque, friction)",
)
def pendulum_dr_task() -> Task:
    return make_dr_task("pendulum")
