"""Run the `assay` console script as a user would: a real subprocess with a scrubbed environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ASSAY = str(Path(sys.executable).parent / "assay")


def cli_env(**extra: str) -> dict[str, str]:
    """The test's environment without any real API key (the example task comes from its entry point)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        PYTHONPATH=str(ROOT),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    env.update(extra)
    return env


def assay(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ASSAY, *args], capture_output=True, text=True, env=env or cli_env(), timeout=timeout, cwd=ROOT
    )
