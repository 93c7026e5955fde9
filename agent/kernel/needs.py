"""What a task needs in order to be judged at all, declared beside the task so a run can check it first.

A task whose grader imports a package this machine lacks, or whose candidates import one the sandbox's Python
lacks, cannot judge anything: every verification would end as an infrastructure failure, after the model had
been paid for each answer. Declaring the needs lets the run layer check them before the first model call and
stop in one line that names what is missing and the command that installs it. The declaration is plain data
(module names and install hints); the checking lives in the run layer, which knows the host and the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Needs:
    """Python modules a task's grading needs: on the host (`host_modules`, imported by the trusted side in
    this process) and in the sandbox (`sandbox_modules`, imported by the jobs its verifiers run).

    `extra` names the optional-dependency group of the assay distribution that installs the host modules
    (`pip install -e '.[loss]'`); `install` replaces that hint for a plugin packaged elsewhere."""

    host_modules: tuple[str, ...] = ()
    sandbox_modules: tuple[str, ...] = ()
    extra: str | None = None
    install: str | None = None

    def __post_init__(self) -> None:
        for name in (*self.host_modules, *self.sandbox_modules):
            if not isinstance(name, str) or not name or not all(p.isidentifier() for p in name.split(".")):
                raise ValueError(f"needs: {name!r} is not a module name")

    @property
    def host_install(self) -> str:
        """The command that installs the host modules, for the one-line message that says they are missing."""
        if self.install:
            return self.install
        if self.extra:
            return f"pip install -e '.[{self.extra}]'"
        return "pip install " + " ".join(self.host_modules)

    def merged(self, other: Needs) -> Needs:
        """Both declarations at once (a suite's problems may differ); the first install hint wins."""
        return Needs(
            host_modules=tuple(dict.fromkeys((*self.host_modules, *other.host_modules))),
            sandbox_modules=tuple(dict.fromkeys((*self.sandbox_modules, *other.sandbox_modules))),
            extra=self.extra or other.extra,
            install=self.install or other.install,
        )


#: a task that needs nothing beyond assay's own dependencies
NO_NEEDS = Needs()
