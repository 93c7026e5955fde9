"""The sandbox tests' fixtures come from tests/conftest.py; here every sandbox has a single worker."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="module")
def sandbox_overrides() -> dict[str, Any]:
    """One worker (one container), so a job's successor runs where it ran: what the isolation tests check."""
    return {"pool_size": 1}
