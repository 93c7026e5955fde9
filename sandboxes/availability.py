"""Which sandboxes this machine can offer, and why not: behind `assay sandbox check` and the default.

A probe never raises: a daemon that is missing, refuses, errors or does not answer in time (a busy machine
makes `requests` time out rather than docker-py raise its own errors) is "not available", with the reason.
The process sandbox always runs, but how isolated it is depends on the machine (bubblewrap namespaces or
none): `process_isolation` says which, and why, so that it is never unisolated silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class DockerStatus:
    daemon: bool
    image: bool
    reason: str | None  # None when usable

    @property
    def usable(self) -> bool:
        return self.daemon and self.image


def _why(exc: Exception, timeout_s: float) -> str:
    """A one-line account of a failed request, saying plainly when it was a timeout."""
    import requests

    for err in (exc, exc.__cause__):  # docker-py wraps some request errors in its own
        if isinstance(err, requests.Timeout):
            cause = f"{type(err).__name__}: {err}"
            return f"no answer within {timeout_s:g} s, the daemon may be overloaded ({cause})"
    return f"{type(exc).__name__}: {exc}"


def docker_status(image: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> DockerStatus:
    """Whether the Docker daemon answers and has `image`; every failure is a reason, never an exception."""
    try:
        import docker
        import requests
        from docker.errors import DockerException, ImageNotFound
    except ImportError:  # pragma: no cover - docker is a core dependency
        return DockerStatus(False, False, "the docker Python package is not installed")
    failures = (DockerException, requests.RequestException)
    try:
        client = docker.from_env(timeout=timeout_s)
    except failures as exc:
        return DockerStatus(False, False, f"no Docker daemon reachable: {_why(exc, timeout_s)}")
    try:
        try:
            client.ping()
        except failures as exc:
            return DockerStatus(False, False, f"the Docker daemon does not answer: {_why(exc, timeout_s)}")
        try:
            client.images.get(image)
        except ImageNotFound:
            return DockerStatus(True, False, f"image {image} is missing: run `assay sandbox build`")
        except failures as exc:
            return DockerStatus(True, False, f"cannot inspect image {image}: {_why(exc, timeout_s)}")
    finally:
        client.close()
    return DockerStatus(True, True, None)


@dataclass(frozen=True)
class ProcessIsolation:
    level: Literal["bwrap", "plain"]
    reason: str | None  # why not bwrap; None when it is

    def describe(self) -> str:
        """One line for people: what a job in the process sandbox can and cannot reach."""
        if self.level == "bwrap":
            return (
                "bwrap (own network, pid, IPC and mount namespaces; read-only system and Python; "
                "no host files writable or visible beyond them)"
            )
        return f"plain, NOT isolated: jobs see the host's files and network ({self.reason})"


def process_isolation(interpreter: str | None = None) -> ProcessIsolation:
    """The isolation a process sandbox with `isolation="auto"` gets here (probed once per process)."""
    from sandboxes.bwrap import bwrap_status

    status = bwrap_status(interpreter)
    return ProcessIsolation("bwrap" if status.usable else "plain", status.reason)
