"""Check what a run's tasks need (`Task.needs`) before the first model call.

Without this, a task whose grader lacks a package asks the model anyway and every answer ends as an
infrastructure failure ("it was not judged"): the budget is spent on nothing. The host modules are checked
with `importlib.util.find_spec` (nothing is imported, so the check is cheap enough for `assay tasks`); the
sandbox modules by one probe job in the run's sandbox, cached per sandbox identity within the process, since
that identity names the software its jobs run. A miss is a `ConfigError`: one line naming what is missing
and the command that installs it, exit non-zero, no model request.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable, Sequence

from agent.kernel.errors import ConfigError, SandboxError
from agent.kernel.needs import NO_NEEDS, Needs
from agent.kernel.plugins import TaskEntry
from agent.kernel.sandbox import Job, Limits, Sandbox
from agent.kernel.task import Task
from sandboxes.config import DEFAULT_IMAGE, DockerSandboxConfig, ProcessSandboxConfig, SandboxConfig

#: find_spec only: no module is imported, so torch's import time and memory do not matter
_PROBE = (
    "import importlib.util, sys\n"
    "def found(name):\n"
    "    try:\n"
    "        return importlib.util.find_spec(name) is not None\n"
    "    except (ImportError, ValueError):\n"
    "        return False\n"
    "print('@@ASSAY-MISSING@@' + ','.join(m for m in sys.argv[1:] if not found(m)))\n"
)
_MARK = "@@ASSAY-MISSING@@"
PROBE_LIMITS = Limits(wall_s=30, memory_mb=256)

#: (sandbox identity, modules) -> the modules its jobs lack; one probe per sandbox per process
_probed: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}


def task_needs(problems: Iterable[Task]) -> Needs:
    """Everything the selected problems need, together."""
    needs = NO_NEEDS
    for task in problems:
        needs = needs.merged(task.needs)
    return needs


def missing_host_modules(needs: Needs) -> list[str]:
    """The host modules `needs` names that this interpreter cannot import (found, not imported)."""
    return [name for name in needs.host_modules if not _found(name)]


def _found(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a dotted name whose parent is missing, or a broken module
        return False


def check_host_needs(task: str, problems: Sequence[Task]) -> None:
    """Raise ConfigError, naming the missing modules and the install command, unless the host has them."""
    needs = task_needs(problems)
    missing = missing_host_modules(needs)
    if missing:
        raise ConfigError(
            f"{task} needs Python packages this machine lacks ({', '.join(missing)}); "
            f"install them with `{needs.host_install}` and run again"
        )


async def check_sandbox_needs(
    task: str, problems: Sequence[Task], sandbox: Sandbox, config: SandboxConfig | None
) -> None:
    """Raise ConfigError unless jobs in `sandbox` (the run's, already built) find every sandbox module the
    problems need. One probe job per sandbox identity and module set per process."""
    needs = task_needs(p for p in problems if p.uses_sandbox)
    modules = tuple(sorted(needs.sandbox_modules))
    if not modules:
        return
    key = (sandbox.identity, modules)
    if key not in _probed:
        _probed[key] = await _probe(sandbox, modules)
    missing = _probed[key]
    if missing:
        raise ConfigError(
            f"{task} needs Python packages its sandbox's jobs lack ({', '.join(missing)}); "
            f"{sandbox_install_hint(config, needs)}"
        )


async def _probe(sandbox: Sandbox, modules: tuple[str, ...]) -> tuple[str, ...]:
    """The modules a job in `sandbox` cannot find; a probe that does not run at all is a SandboxError."""
    result = await sandbox.run(Job(command=["python3", "-c", _PROBE, *modules], limits=PROBE_LIMITS))
    lines = [line for line in result.stdout.splitlines() if line.startswith(_MARK)]
    if not result.ok or not lines:
        why = result.stderr.strip()[-300:] or f"exit {result.exit_code}, timed out: {result.timed_out}"
        why = " ".join(why.split())
        raise SandboxError(f"the sandbox could not run the probe of its Python packages: {why}")
    found = lines[-1][len(_MARK) :].strip()
    return tuple(m for m in found.split(",") if m)


def sandbox_install_hint(config: SandboxConfig | None, needs: Needs) -> str:
    """How to put the packages into the sandbox: rebuild the image, or install into the process sandbox's
    Python (ours unless an interpreter was configured)."""
    if config is None or isinstance(config, DockerSandboxConfig):
        image = DEFAULT_IMAGE if config is None else config.image
        tag = "" if image == DEFAULT_IMAGE else f" --tag {image}"
        return f"rebuild the sandbox image with them (`assay sandbox build{tag}`) and run again"
    assert isinstance(config, ProcessSandboxConfig)
    if config.interpreter is None and needs.extra:
        return f"the process sandbox's jobs use this Python: install them with `{needs.host_install}`"
    python = config.interpreter or sys.executable
    return f"install them into the process sandbox's Python (`{python} -m pip install ...`) and run again"


def entry_readiness(entry: TaskEntry) -> str:
    """`assay tasks`' line for one registered task: loads its suite (a factory that fails says so)."""
    try:
        problems = entry.load().problems
    except Exception as e:  # a plugin's factory may fail in any way; listing the others must go on
        return "not ready: " + " ".join(f"{type(e).__name__}: {e}".split())[:300]
    return host_readiness(problems)


def host_readiness(problems: Sequence[Task]) -> str:
    """One word or phrase for `assay tasks`: whether this machine can judge the task, by a host-side check
    only (the sandbox would need a probe job, so it is said as not checked)."""
    needs = task_needs(problems)
    missing = missing_host_modules(needs)
    if missing:
        return f"not ready: missing {', '.join(missing)} (install with `{needs.host_install}`)"
    if any(p.uses_sandbox for p in problems):
        return "ready on this host (sandbox not checked)"
    return "ready"
