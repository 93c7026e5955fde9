"""One real Ray cluster (a head and a worker node on 127.0.0.1) for the whole session, started on first use.

Ray start-up on a loaded 2-core machine takes 15-60 s, so the cluster is started once and shared; the tests
that need it skip, with the install command, only where ray is not installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ray_cluster import RayCluster, ray_cluster

HAS_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture(scope="session")
def cluster() -> Iterator[RayCluster]:
    if not HAS_RAY:
        pytest.skip("ray is not installed: pip install -e '.[ray]'")
    # short: Ray's unix sockets live under it, and a socket path has a 107-byte limit
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    with ray_cluster(temp_dir) as started:
        try:
            yield started
        finally:
            import ray

            with contextlib.suppress(Exception):
                ray.shutdown()  # this process's driver connection, before its cluster goes
