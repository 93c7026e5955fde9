"""Eureka-style reward reflection: what training with a candidate reward looked like, in numbers.

Eureka shows the model each reward component and the task's success at about ten points of training with
their max/mean/min, because that tells it which terms the policy actually optimised, which were flat, and
which dominated. We add the trainer's verdict measured on the host.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

ADVICE = (
    "Please carefully analyze the policy feedback and provide a new, improved reward function that can "
    "better solve the task. Some helpful tips for analyzing the policy feedback:\n"
    "  (1) If the success rates are always near zero, then you must rewrite the entire reward function.\n"
    "  (2) If the values of a reward component are nearly identical throughout, the policy cannot optimize "
    "it as written: change its scale or temperature, rewrite it, or discard it.\n"
    "  (3) If some reward component's magnitude is significantly larger than the others, rescale it.\n"
    "  (4) A high return of your own reward with low success means the policy found a way to collect reward "
    "without solving the task: remove that loophole.\n"
    "Analyze each existing reward component first, then write the new reward function."
)


def merge_windows(per_seed: Sequence[dict[str, list[float | None]]]) -> dict[str, list[float | None]]:
    """Average each series over the seeds that have a value at that point of training."""
    names = sorted({name for windows in per_seed for name in windows})
    merged: dict[str, list[float | None]] = {}
    for name in names:
        series = [w[name] for w in per_seed if name in w]
        length = max(len(s) for s in series)
        out: list[float | None] = []
        for i in range(length):
            values = [s[i] for s in series if i < len(s) and s[i] is not None]
            out.append(sum(values) / len(values) if values else None)
        merged[name] = out
    return merged


def _fmt(x: float) -> str:
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.3g}" if abs(x) < 1 else f"{x:.4g}"
    return f"{x:.2e}"


def series_line(label: str, values: Sequence[float | None]) -> str:
    present = [v for v in values if v is not None and math.isfinite(v)]
    shown = ", ".join("-" if v is None else _fmt(v) for v in values)
    if not present:
        return f"{label}: [{shown}] (no episode finished)"
    stats = f"Max: {_fmt(max(present))}, Mean: {_fmt(sum(present) / len(present))}, Min: {_fmt(min(present))}"
    return f"{label}: [{shown}], {stats}"


def reflection(
    *,
    trainer_name: str,
    seeds: Sequence[int],
    windows: dict[str, list[float | None]],
    per_seed_success: Sequence[float],
    success_text: str,
    eval_starts: int,
) -> str:
    """The feedback text for one trained candidate."""
    lines = [
        f"We trained a policy with your reward function ({trainer_name}, {len(seeds)} seeds) and tracked "
        "each reward component, your total reward and the task's true success rate at "
        f"{len(windows.get('success', []))} evenly spaced points of training (mean per finished episode, "
        "averaged over seeds):",
        series_line("task success rate", windows.get("success", [])),
        series_line("episode length", windows.get("length", [])),
        series_line("your reward (episode return)", windows.get("return", [])),
    ]
    for name in sorted(n for n in windows if n.startswith("component:")):
        lines.append(series_line(f"component {name.split(':', 1)[1]!r} (episode sum)", windows[name]))
    mean = sum(per_seed_success) / len(per_seed_success)
    per_seed = ", ".join(f"{s:.2f}" for s in per_seed_success)
    lines.append(
        f"Trainer's verdict: after training, {success_text} from {mean:.0%} of {eval_starts} fixed "
        f"evaluation starts (per seed: {per_seed})."
    )
    lines.append("")
    lines.append(ADVICE)
    return "\n".join(lines)
