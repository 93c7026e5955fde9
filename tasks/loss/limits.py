"""Sandbox limits for loss jobs: torch needs more address space and output room than a code test."""

from __future__ import annotations

from agent.kernel.sandbox import Limits


def training_limits(wall_s: float) -> Limits:
    """Room for torch (its import maps ~1.5 GB of address space) and ~1 MB of returned weights."""
    return Limits(wall_s=wall_s, memory_mb=4096, pids=64, cpus=1.0, output_bytes=8 << 20, file_size_mb=16)
