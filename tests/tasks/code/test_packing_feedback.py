"""`code/circle-packing` as a benchmark: the seed it starts from, feedback that leads to a repair, limits in
the prompt, and the exact held-out re-check. Hand-written programs run in real sandboxes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agent.kernel.errors import ConfigError
from agent.kernel.sandbox import Limits
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from sandboxes import Sandbox
from tasks.code import circle_packing
from tasks.code.circle_packing import SEED_ENV, SEED_PROGRAM, make_task, task_from_env
from tasks.code.geometry import check_packing, repair, violations
from tasks.code.packing import CirclePackingVerifier

#: the 5 x 5 grid of radius 0.1 *less a margin*: 0.1 + 0.2 * 4 is 0.9000000000000001 in floats, so the plain
#: grid sticks out of the square and overlaps in exact arithmetic (10 and 20 times)
GRID = "circles = [(0.1 + 0.2 * i, 0.1 + 0.2 * j, 0.1 - 1e-12) for i in range(5) for j in range(5)]\n"


def program(*lines: str) -> str:
    """An exactly valid `pack()`: the 5 x 5 grid plus a small circle in a gap, changed by `lines`."""
    body = "".join(f"    {line}\n" for line in lines)
    return f"def pack():\n    {GRID}    circles.append((0.2, 0.2, 0.04))\n{body}    return circles\n"


async def run(sandbox: Sandbox, source: str, *, exact: bool = False, wall_s: float = 20.0) -> Verdict:
    verifier = CirclePackingVerifier(sandbox=sandbox, limits=Limits(wall_s=wall_s), exact=exact)
    return await verifier.verify(Hypothesis.create(source))


# -- the seed -----------------------------------------------------------------------------------------------


async def test_the_archive_starts_from_a_valid_seed_that_passes_both_checks(sandbox: Sandbox) -> None:
    task = make_task()
    assert task.seed_candidates == (SEED_PROGRAM,)
    assert task.held_out.exact and not task.verifier.exact  # type: ignore[union-attr, attr-defined]
    search = await run(sandbox, SEED_PROGRAM)
    assert search.status is VerdictStatus.OK, search.feedback
    assert search.score == pytest.approx(26 / 12, abs=1e-9) and search.metrics["exactly_valid"] == 1.0
    assert "Warning" not in search.feedback  # a seed that taught the model to ride the tolerance would be bad
    held = await run(sandbox, SEED_PROGRAM, exact=True)
    assert held.status is VerdictStatus.OK and held.score == search.score


def test_a_users_program_replaces_the_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = program("circles[25] = (0.2, 0.2, 0.03)")
    assert make_task(seed_program=mine).seed_candidates == (mine,)
    path = tmp_path / "start.py"
    path.write_text(mine)
    monkeypatch.setenv(SEED_ENV, str(path))
    assert task_from_env().seed_candidates == (mine,)
    monkeypatch.delenv(SEED_ENV)
    assert task_from_env().seed_candidates == (SEED_PROGRAM,)


@pytest.mark.parametrize(
    ("source", "needle"),
    [("", "is empty"), ("def pack(:\n", "not valid Python"), ("def place():\n    return []\n", "pack()")],
    ids=["empty", "syntax", "no-pack"],
)
def test_a_broken_seed_stops_the_run_in_one_line(source: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        make_task(seed_program=source)


def test_a_missing_seed_file_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SEED_ENV, str(tmp_path / "nope.py"))
    with pytest.raises(ConfigError, match="cannot read the seed program"):
        task_from_env()


# -- limits in the prompt -----------------------------------------------------------------------------------


def test_the_prompt_states_the_limits_and_the_exact_final_check() -> None:
    text = make_task().instructions
    assert f"within {circle_packing.DEADLINE_S:g} seconds" in text and circle_packing.DEADLINE_S >= 55
    assert (
        "numpy" in text and "scipy" in text
    )  # which sandbox has scipy: tests/tasks/code/test_packing_scipy.py
    assert "512 MB" in text and "one CPU core" in text and "time.perf_counter()" in text
    assert "checked exactly, without any tolerance" in text


# -- feedback that leads to a repair ------------------------------------------------------------------------


async def test_an_invalid_packing_names_the_worst_first_and_the_repaired_sum(sandbox: Sandbox) -> None:
    source = program("circles[25] = (0.2, 0.2, 0.05)", "circles[3] = (0.05, 0.7, 0.1)")
    verdict = await run(sandbox, source)
    assert verdict.status is VerdictStatus.FAIL and verdict.score is None
    text = verdict.feedback
    assert "1 circle(s) stick out of the square and 4 pair(s) overlap" in text, text
    outside = text.index("circle 3 (x=0.05, y=0.7, r=0.1) sticks out of the square on the left by 0.05")
    assert outside < text.index("circles 0 and 25 overlap by 0.00858")  # 0.05 is worse than 0.00858
    circles = [(0.1 + 0.2 * i, 0.1 + 0.2 * j, 0.1 - 1e-12) for i in range(5) for j in range(5)]
    circles.append((0.2, 0.2, 0.05))
    circles[3] = (0.05, 0.7, 0.1)
    fixed = repair(circles)
    assert check_packing(fixed)[1] == [] and all(f[2] <= c[2] for f, c in zip(fixed, circles, strict=True))
    repaired = math.fsum(r for _, _, r in fixed)
    assert f"Its radii sum to {math.fsum(r for *_, r in circles):.6f}" in text
    assert f"a valid packing with sum {repaired:.6f}" in text
    assert verdict.metrics["repaired_sum"] == repaired and verdict.metrics["worst_violation"] == 0.05


async def test_only_the_worst_few_violations_are_listed(sandbox: Sandbox) -> None:
    verdict = await run(sandbox, "def pack():\n    return [(0.5, 0.5, 0.3)] * 26\n")
    assert verdict.status is VerdictStatus.FAIL
    assert "0 circle(s) stick out of the square and 325 pair(s) overlap" in verdict.feedback
    assert verdict.feedback.count("\n- circles ") == 6 and "- ... and 319 more" in verdict.feedback
    assert "circles 0 and 1 overlap by 0.6" in verdict.feedback  # the repaired sum tells how far off it is


async def test_a_timeout_says_how_long_it_ran_the_limit_and_to_bound_the_search(sandbox: Sandbox) -> None:
    source = "import time\ndef pack():\n    while True:\n        time.sleep(0.05)\n"
    verdict = await run(sandbox, source, wall_s=3.0)
    assert verdict.status is VerdictStatus.TIMEOUT and verdict.score is None
    assert "the limit is 2.4 s of wall-clock time" in verdict.feedback, verdict.feedback
    assert "stopped after" in verdict.feedback and "Bound the optimisation" in verdict.feedback
    assert "time.perf_counter()" in verdict.feedback


async def test_an_exception_shows_the_candidates_frames_not_the_librarys(sandbox: Sandbox) -> None:
    source = (
        "import json\n\ndef helper():\n    return json.loads('{bad')\n\ndef pack():\n    return helper()\n"
    )
    verdict = await run(sandbox, source)
    assert verdict.status is VerdictStatus.ERROR and verdict.score is None
    text = verdict.feedback
    assert text.startswith("pack() raised JSONDecodeError: Expecting property name"), text
    assert 'File "candidate.py", line 7, in pack' in text and 'File "candidate.py", line 4, in helper' in text
    assert "frame(s) in library code, the last:" in text and "decoder.py" in text
    assert 'decoder.py", line' not in text  # collapsed to one line, not shown as frames
    assert "harness.py" not in text


# -- the exact re-check -------------------------------------------------------------------------------------

#: circle 25 overlaps circle 0 by about 4e-12: inside the search tolerance, an overlap in exact arithmetic
RIDES_THE_TOLERANCE = program("circles[25] = (0.2, 0.2, (2 ** 0.5 - 1) * 0.1 + 5e-12)")


async def test_a_packing_valid_only_within_tolerance_is_rejected_held_out(sandbox: Sandbox) -> None:
    search = await run(sandbox, RIDES_THE_TOLERANCE)
    assert search.status is VerdictStatus.OK and search.metrics["exactly_valid"] == 0.0
    assert "valid only within the tolerance" in search.feedback and "checked exactly" in search.feedback
    held = await run(sandbox, RIDES_THE_TOLERANCE, exact=True)
    assert held.status is VerdictStatus.FAIL and held.score is None
    assert "circles 0 and 25 overlap in exact arithmetic" in held.feedback, held.feedback
    assert "in exact arithmetic" in held.feedback.splitlines()[0]


async def test_sticking_out_by_one_ulp_is_rejected_held_out(sandbox: Sandbox) -> None:
    assert (await run(sandbox, program(), exact=True)).status is VerdictStatus.OK
    source = program("circles[0] = (0.1, 0.1, math.nextafter(0.1, 1))").replace("def", "import math\ndef", 1)
    held = await run(sandbox, source, exact=True)
    assert held.status is VerdictStatus.FAIL, held.feedback
    assert "circle 0 (x=0.1, y=0.1, r=0.1) sticks out of the square on the left" in held.feedback
    assert (await run(sandbox, source)).status is VerdictStatus.OK  # what the tolerance let through


def test_exact_check_accepts_exact_tangency_and_finds_what_floats_hide() -> None:
    tangent = [(0.25, 0.5, 0.25), (0.75, 0.5, 0.25)]  # touching exactly, and exactly inside
    assert violations(tangent, exact=True) == []
    # in floats 0.138 + 0.404 == 0.769 - 0.227 == 0.542, so even a zero tolerance sees the pair touch; the
    # exact values of those floats overlap by 2**-55
    pair = [(0.227, 0.5, 0.138), (0.769, 0.5, 0.404)]
    assert [v for v in violations(pair, tol=0.0) if v.kind == "overlap"] == []
    [overlap] = [v for v in violations(pair, exact=True) if v.kind == "overlap"]
    assert overlap.circles == (0, 1) and overlap.amount == pytest.approx(2**-55, rel=1e-6)


async def test_a_huge_integer_radius_is_still_the_candidates_invalid_packing(sandbox: Sandbox) -> None:
    held = await run(sandbox, program("circles[25] = (0.2, 0.2, 10**400)"), exact=True)
    assert held.status is VerdictStatus.FAIL and "too large for a float" in held.feedback
