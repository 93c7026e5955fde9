"""The `@task` registry, filled by plugins: the built-in suites and any installed package alike.

A package adds tasks by naming a module in the `assay.tasks` entry-point group; importing that module runs
its `@task` decorators. The built-in suites are registered the same way (see pyproject.toml), so the kernel
names no task module and a newcomer's plugin is a first-class citizen. `ASSAY_TASK_MODULES` (comma-separated
module names) adds modules without packaging, for experiments and tests. Factories run only when their task
is selected, so `assay --help` stays fast.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points

from agent.kernel.errors import ConfigError
from agent.kernel.registry import Registry
from agent.kernel.task import Suite, Task

ENTRY_POINT_GROUP = "assay.tasks"
TASK_MODULES_ENV = "ASSAY_TASK_MODULES"

Factory = Callable[[], Suite | Sequence[Task] | Task]


@dataclass(frozen=True)
class TaskEntry:
    name: str
    description: str
    factory: Factory
    module: str  # where the task is defined; recorded with a run so `resume` can find it again

    def load(self) -> Suite:
        try:
            made = self.factory()
        except ConfigError as e:
            raise ConfigError(f"task {self.name} ({self.module}): {e}") from None
        if isinstance(made, Suite):
            return made
        problems = (made,) if isinstance(made, Task) else tuple(made)
        if not all(isinstance(p, Task) for p in problems):
            raise ConfigError(f"task {self.name} ({self.module}): its factory must return Tasks or a Suite")
        return Suite(self.name, self.description, problems)


REGISTRY: Registry[TaskEntry] = Registry("task")
_imported: set[str] = set()


def task(name: str, description: str) -> Callable[[Factory], TaskEntry]:
    """Register a task factory under `name`; the factory runs only when the task is selected."""

    def decorate(factory: Factory) -> TaskEntry:
        return REGISTRY.add(name, TaskEntry(name, description, factory, factory.__module__))

    return decorate


def plugin_modules() -> list[str]:
    """Every module that registers tasks: the entry-point group, then ASSAY_TASK_MODULES."""
    found = [ep.value.split(":", 1)[0] for ep in entry_points(group=ENTRY_POINT_GROUP)]
    extra = [m.strip() for m in os.environ.get(TASK_MODULES_ENV, "").split(",") if m.strip()]
    return list(dict.fromkeys([*sorted(found), *extra]))


def import_task_module(module: str) -> None:
    """Import one module that registers tasks; a broken plugin is one line naming it."""
    if module in _imported:
        return
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"cannot import task module {module!r}: {e}") from None
    _imported.add(module)


def load_plugins(extra: Sequence[str] = ()) -> None:
    for module in (*plugin_modules(), *extra):
        import_task_module(module)


def load_suite(name: str, module: str | None = None) -> Suite:
    """The suite registered as `name`; `module` (recorded by an earlier run) is imported first."""
    load_plugins(() if module is None else (module,))
    return REGISTRY.get(name).load()


def list_tasks() -> list[TaskEntry]:
    load_plugins()
    return [entry for _, entry in REGISTRY.items()]
