"""The default executor: verifications run in this process, at most `capacity` at once.

This is the loop's original behaviour (a semaphore around `await verifier.verify(h)`): the verifiers share
the process's sandbox pool, so the bound is what keeps the pool from being asked for more than it holds.
"""

from __future__ import annotations

import asyncio

from agent.kernel.types import Hypothesis, Verdict
from agent.kernel.verifier import Verifier


class LocalExecutor:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"an executor needs a capacity of at least 1, not {capacity}")
        self.capacity = capacity
        self._slots = asyncio.Semaphore(capacity)

    async def verify(self, role: str, verifier: Verifier, hypothesis: Hypothesis) -> Verdict:
        async with self._slots:
            return await verifier.verify(hypothesis)

    async def aclose(self) -> None:
        """Nothing to release: the shared sandbox belongs to the run, which closes it."""
