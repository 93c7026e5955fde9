"""Replaces one `## ` section of bench/RESULTS.md, so each benchmark rewrites its own numbers and no other's.

Benchmarks run as scripts (`python bench/bench_x.py`), which puts this folder first on `sys.path`; they import
this module as `results_md`.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(heading: str, lines: list[str], path: Path = RESULTS) -> None:
    """Put `lines` under `heading` (e.g. "## Reward evaluator"), replacing that section or appending it."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    section = f"{heading}\n\n" + "\n".join(lines) + "\n"
    start = text.find(heading)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + ("" if end < 0 else text[end:])
    path.write_text(text, encoding="utf-8")


def machine_line(sandbox: object) -> str:
    """Where and when a number was measured: every reward benchmark heads its section with this."""
    return (
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"sandbox {type(sandbox).__name__}, measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        "load average at the end "
        f"{os.getloadavg()[0]:.1f} (a shared machine: other work was running)."
    )
