"""`code/circle-packing` with scipy: what the prompt says is importable holds in the sandbox that judges it.

A real optimiser for 26 circles is an SLSQP from scipy.optimize, so the Docker image installs scipy and the
prompt says so; a process sandbox has only what its Python has, and the prompt states that condition
instead of promising scipy. Each claim is checked by a probe job in a real sandbox, and a hand-written
SLSQP candidate must pass the held-out (exact) check wherever the probe finds scipy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agent.kernel.sandbox import Job, Limits, Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from sandboxes.image.build import DEFAULT_PACKAGES
from tasks.code import circle_packing
from tasks.code.circle_packing import SEED_PROGRAM, make_task
from tasks.code.packing import CirclePackingVerifier
from tests.support.sandbox import build

#: an SLSQP of radii and centres from the 6 x 5 grid, capped at 60 iterations (~2.5 s here), then made
#: valid whatever the optimiser returned: radii capped by the walls, overlapping pairs scaled to touch,
#: a 1e-12 margin for the exact check. From the grid it reaches about 2.55 (the seed scores 2.1667).
SLSQP_PROGRAM = """
import math

import numpy as np
from scipy.optimize import minimize

N = 26


def safe(x, y, r, margin=1e-12):
    r = [max(0.0, min(r[i], x[i], 1 - x[i], y[i], 1 - y[i])) for i in range(N)]
    for i in range(N):
        for j in range(i + 1, N):
            d = math.hypot(x[i] - x[j], y[i] - y[j])
            if r[i] + r[j] > d:
                s = d / (r[i] + r[j])
                r[i] *= s
                r[j] *= s
    return [(x[i], y[i], r[i] - margin) for i in range(N)]


def pack():
    grid = [((c + 0.5) / 6, (r + 0.5) / 5) for r in range(5) for c in range(6)][:N]
    v0 = np.array([p[0] for p in grid] + [p[1] for p in grid] + [0.05] * N)
    iu, ju = np.triu_indices(N, 1)

    def constraints(v):
        x, y, r = v[:N], v[N:2 * N], v[2 * N:]
        walls = np.concatenate([x - r, 1 - x - r, y - r, 1 - y - r])
        return np.concatenate([walls, np.hypot(x[iu] - x[ju], y[iu] - y[ju]) - r[iu] - r[ju]])

    res = minimize(
        lambda v: -v[2 * N:].sum(), v0, jac=lambda v: np.r_[np.zeros(2 * N), -np.ones(N)],
        constraints=[{"type": "ineq", "fun": constraints}],
        bounds=[(0, 1)] * (2 * N) + [(0, 0.5)] * N, method="SLSQP", options={"maxiter": 60},
    )
    x, y, r = (list(map(float, part)) for part in (res.x[:N], res.x[N:2 * N], res.x[2 * N:]))
    return safe(x, y, r)
"""

#: find_spec only, as the run layer's probe (agent/run/needs.py) does: nothing is imported
PROBE = "import importlib.util, sys\nprint(','.join(m for m in sys.argv[1:] if importlib.util.find_spec(m)))"


async def importable(sandbox: Sandbox, *modules: str) -> set[str]:
    """The modules a job in `sandbox` can find."""
    result = await sandbox.run(
        Job(command=["python3", "-c", PROBE, *modules], limits=Limits(wall_s=30, memory_mb=256))
    )
    assert result.ok, result.stderr
    return set(filter(None, result.stdout.strip().split(",")))


async def judge(sandbox: Sandbox, source: str, *, exact: bool) -> Verdict:
    verifier = CirclePackingVerifier(sandbox=sandbox, limits=circle_packing.LIMITS, exact=exact)
    return await verifier.verify(Hypothesis.create(source))


def test_the_prompt_claims_scipy_only_for_the_image_that_installs_it() -> None:
    text = make_task().instructions
    assert {"numpy", "scipy"} <= set(DEFAULT_PACKAGES)  # what the Docker image installs
    assert "import the Python standard library and numpy." in text  # the unconditional claim: no scipy
    assert "is installed in the Docker sandbox" in text and "try/except ImportError" in text
    assert "scipy is not installed" not in text


async def test_the_docker_image_has_what_the_prompt_says(docker_sandbox: Sandbox) -> None:
    assert await importable(docker_sandbox, *DEFAULT_PACKAGES) == set(DEFAULT_PACKAGES)


async def test_a_scipy_slsqp_candidate_passes_the_exact_check_where_scipy_is(sandbox: Sandbox) -> None:
    await check_slsqp_where_scipy_is(sandbox)


async def check_slsqp_where_scipy_is(sandbox: Sandbox) -> None:
    """Where the probe finds scipy (always in Docker), the SLSQP candidate is valid in exact arithmetic
    and beats the seed; where it does not, the candidate's failure names the missing module."""
    has_scipy = "scipy" in await importable(sandbox, "scipy")
    held = await judge(sandbox, SLSQP_PROGRAM, exact=True)
    if not has_scipy:
        assert held.status is VerdictStatus.ERROR and held.score is None
        assert "has no module 'scipy'" in held.feedback, held.feedback
        return
    assert held.status is VerdictStatus.OK, held.feedback
    seed = await judge(sandbox, SEED_PROGRAM, exact=True)
    assert seed.score is not None and held.score is not None and held.score > seed.score + 0.2
    search = await judge(sandbox, SLSQP_PROGRAM, exact=False)
    assert search.score == held.score and search.metrics["exactly_valid"] == 1.0


@pytest.fixture(scope="module")
def plain_sandbox() -> Iterator[Sandbox]:
    """The process sandbox without namespaces: as root its jobs run the system's python3 (ours is not
    reachable by their uid), which may lack scipy: the case the prompt's condition is for."""
    box = build("process", isolation="plain", pool_size=1)
    try:
        yield box
    finally:
        asyncio.run(box.close())


async def test_the_plain_process_sandbox_judges_by_what_its_python_has(plain_sandbox: Sandbox) -> None:
    await check_slsqp_where_scipy_is(plain_sandbox)


@pytest.mark.parametrize(
    "source",
    [
        "import scipy_absent_here\n\ndef pack():\n    return []\n",  # at load
        "def pack():\n    from scipy_absent_here.optimize import minimize\n    return []\n",  # in pack()
    ],
    ids=["load", "call"],
)
async def test_an_import_the_sandbox_lacks_is_named_in_the_feedback(sandbox: Sandbox, source: str) -> None:
    verdict = await judge(sandbox, source, exact=False)
    assert verdict.score is None and verdict.status is not VerdictStatus.OK
    assert "This sandbox's Python has no module 'scipy_absent_here'" in verdict.feedback, verdict.feedback
    assert "try/except ImportError" in verdict.feedback


def _misuse(call: str) -> str:
    return (
        "import numpy as np\nfrom scipy.optimize import minimize\n\n\ndef pack():\n"
        "    x0 = np.full((26, 3), 0.05)\n"
        f"    res = {call}\n"
        "    return [tuple(c) for c in res.x.reshape(-1, 3)]\n"
    )


@pytest.mark.parametrize(
    ("call", "fix"),
    [
        ("minimize(lambda x: -x.sum(), x0.ravel(), constraints=lambda x: x)", "`constraints` as a dict"),
        ("minimize(lambda x: -x.sum(), x0)", "pass x0.ravel() and reshape"),
        ("minimize(lambda x: -x, x0.ravel(), method='SLSQP')", "must return one float"),
    ],
    ids=["bare-constraint", "2d-x0", "array-objective"],
)
async def test_a_scipy_misuse_gets_its_fix(docker_sandbox: Sandbox, call: str, fix: str) -> None:
    """The three misuses of scipy.optimize.minimize the embedded model wrote (bench/RESULTS.md), judged for
    real: scipy's own error, then the fix; never a score."""
    verdict = await judge(docker_sandbox, _misuse(call), exact=False)
    assert verdict.status is VerdictStatus.ERROR and verdict.score is None
    assert "Likely fix: " in verdict.feedback and fix in verdict.feedback, verdict.feedback


async def test_an_error_that_is_not_scipys_gets_no_scipy_fix(docker_sandbox: Sandbox) -> None:
    source = "def pack():\n    f = len\n    return [c for c in f]\n"  # 'builtin_function_or_method' ...
    verdict = await judge(docker_sandbox, source.replace("f = len", "f = lambda: 0"), exact=False)
    assert verdict.status is VerdictStatus.ERROR and "'function' object is not iterable" in verdict.feedback
    assert "Likely fix" not in verdict.feedback, verdict.feedback
