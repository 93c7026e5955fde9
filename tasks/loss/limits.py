"""Sandbox limits for loss jobs: torch needs more address space and output room than a code test."""

from __future__ import annotations

from agent.kernel.sandbox import Limits

#: The candidate process's CPU budget per training run (RLIMIT_CPU on its forked child; its zygote's torch
#: import, ~1.7 CPU s, counts against the zygote's own budget of the same size). Honest losses use well under
#: a second per run here (cross-entropy on noisy-digits: 600 steps; DPO on preference: 320 steps; see
#: bench/RESULTS.md), so 20 s is a wide margin for a heavier loss and still stops a loop long before the
#: job's wall clock. The same on every split, so it says nothing about which one is judging.
CANDIDATE_CPU_S = 20

#: the completion cap of a loss answer (Task.completion_tokens), unless the user gives one: a complete loss
#: module (one public function and its helpers) fits in ~512 tokens
COMPLETION_TOKENS = 512


def training_limits(wall_s: float) -> Limits:
    """Room for torch (its import maps ~1.5 GB of address space, twice: trainer and candidate) and ~1 MB of
    returned weights."""
    return Limits(wall_s=wall_s, memory_mb=4096, pids=64, cpus=1.0, output_bytes=8 << 20, file_size_mb=16)
