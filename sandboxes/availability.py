"""Which sandboxes this machine can offer, and why not: behind `assay sandbox check` and the default."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DockerStatus:
    daemon: bool
    image: bool
    reason: str | None  # None when usable

    @property
    def usable(self) -> bool:
        return self.daemon and self.image


def docker_status(image: str) -> DockerStatus:
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError:  # pragma: no cover - docker is a core dependency
        return DockerStatus(False, False, "the docker Python package is not installed")
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except DockerException as exc:
        return DockerStatus(False, False, f"no Docker daemon reachable: {exc}")
    try:
        client.images.get(image)
    except ImageNotFound:
        return DockerStatus(True, False, f"image {image} is missing: run `assay sandbox build`")
    except DockerException as exc:
        return DockerStatus(True, False, f"cannot inspect image {image}: {exc}")
    finally:
        client.close()
    return DockerStatus(True, True, None)
