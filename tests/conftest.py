"""Fixtures shared by every test package: real sandboxes, one module-scoped family built in one place.

- `sandbox`: parametrised over the process sandbox and the Docker warm pool (marked `docker`); the Docker
  case skips, with the probe's reason, only when the daemon or the image is unavailable.
- `process_sandbox` / `docker_sandbox`: one kind, for tests about that kind (tests using `docker_sandbox`
  are marked `docker` automatically).
- `task_sandbox`: one sandbox, Docker where usable, else the process sandbox, for tests about what a task
  measures (a loss that resists noise, a reward that trains) rather than about isolation: the isolation
  cases run on every kind through `sandbox`; a slow training that behaves the same in each runs once.
- `pytestmark = pytest.mark.requires_modules("numpy", "torch")` in a module: its sandboxes are first checked
  to run jobs that import those modules, and skip with the probe's stderr when they cannot.
- `sandbox_overrides`: the config fields every sandbox of a package is built with; a package's conftest.py
  overrides it (tests/sandboxes does, for single-worker pools).

The builders live in `tests.support.sandbox`, for tests that build a sandbox of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from agent.kernel.sandbox import Sandbox
from sandboxes.availability import docker_status
from tests.support.sandbox import IMAGE, Kind, build, require_docker, require_modules

SANDBOX_KINDS = ["process", pytest.param("docker", marks=pytest.mark.docker)]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_modules(*names): a module's sandboxes must run jobs that import these modules "
        "(set in the module's pytestmark; skips with the probe's stderr otherwise)",
    )


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "docker_sandbox" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)
        module = item.getparent(pytest.Module)
        if module is not None and len(list(item.iter_markers("requires_modules"))) != len(
            list(module.iter_markers("requires_modules"))
        ):
            raise pytest.UsageError(
                f"{item.nodeid}: requires_modules is read by module-scoped sandbox fixtures, "
                "so it belongs in the module's pytestmark, not on a test or class"
            )


@pytest.fixture(scope="module")
def sandbox_overrides() -> dict[str, Any]:
    """Config fields (pool_size, ...) for the sandboxes of the requesting module; none by default."""
    return {}


def _open(kind: Kind, request: pytest.FixtureRequest, overrides: dict[str, Any]) -> Iterator[Sandbox]:
    box = build(kind, **overrides)
    try:
        modules = [name for mark in request.node.iter_markers("requires_modules") for name in mark.args]
        require_modules(box, modules, kind)
        yield box
    finally:
        asyncio.run(box.close())


@pytest.fixture(scope="module", params=SANDBOX_KINDS)
def sandbox(request: pytest.FixtureRequest, sandbox_overrides: dict[str, Any]) -> Iterator[Sandbox]:
    """One sandbox per module and kind: the process sandbox always, the Docker pool where it is usable."""
    yield from _open(request.param, request, sandbox_overrides)


@pytest.fixture(scope="module")
def process_sandbox(request: pytest.FixtureRequest, sandbox_overrides: dict[str, Any]) -> Iterator[Sandbox]:
    yield from _open("process", request, sandbox_overrides)


@pytest.fixture(scope="module")
def docker_sandbox(request: pytest.FixtureRequest, sandbox_overrides: dict[str, Any]) -> Iterator[Sandbox]:
    yield from _open("docker", request, sandbox_overrides)


@pytest.fixture(scope="module")
def task_sandbox(request: pytest.FixtureRequest, sandbox_overrides: dict[str, Any]) -> Iterator[Sandbox]:
    kind: Kind = "docker" if docker_status(IMAGE).usable else "process"
    yield from _open(kind, request, sandbox_overrides)


@pytest.fixture
def docker_available() -> None:
    """For tests that drive `assay run` on a task that runs candidates: it refuses to run without Docker
    (there is no silent fallback), so without a daemon and the image such a test skips with the reason."""
    require_docker()
