"""`code/circle-packing`: 26 circles in the unit square, maximising the sum of their radii.

The benchmark of AlphaEvolve, OpenEvolve and ShinkaEvolve (best known sum about 2.635). The candidate is a
program whose `pack()` returns the circles; the host checks the geometry (see `tasks/code/geometry.py`).

Three choices make the search start and keep moving, as the published anchors do:
- the archive starts from a simple valid program (`SEED_PROGRAM`, a 6 x 5 grid, sum 2.1667), verified as
  iteration 0 and shown to the model as the parent to improve: a small model that starts from nothing rarely
  writes a first valid packing. A user's own starting program replaces it (`make_task(seed_program=...)`,
  or the file named by `ASSAY_CIRCLE_PACKING_SEED`, read by the registered factory);
- the limits are stated in the prompt and sized from a measurement of a real optimiser (2026-12-01,
  load 0.6): on this project's 2-core machine a vectorised SLSQP from scipy with analytic Jacobians
  takes ~0.2 s per start and 30 starts take 6.6 s (best 2.614); the code models tend to write (429
  constraint lambdas, numeric Jacobians) takes ~4 s per converged start and ~0.5 s per iteration, plus
  0.8 s to import scipy. 60 s of wall clock leaves room for several such starts on a loaded machine,
  and a timeout's feedback says to bound the optimisation;
- the held-out verifier re-checks the best packing in exact rational arithmetic, so a reported score never
  rests on the search check's 1e-9 tolerance (a program rerun is judged, not a stored value).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from agent.kernel.errors import ConfigError
from agent.kernel.needs import Needs
from agent.kernel.sandbox import Limits
from agent.kernel.task import Task
from tasks.code.packing import CirclePackingVerifier
from tasks.parsing import code_block
from verifiers.code.run import candidate_deadline

N_CIRCLES = 26
BEST_KNOWN = 2.635
LIMITS = Limits(wall_s=60.0, memory_mb=512, cpus=1.0)
#: what a candidate can import, said truthfully for every sandbox the task may be judged in, in one text for
#: search and held-out alike. The Docker image installs numpy and scipy (sandboxes/image/build.py
#: `DEFAULT_PACKAGES`; a test holds the two together and probes the image). A process sandbox's jobs run
#: whatever its Python has: ours under bubblewrap (scipy comes with scikit-learn), but in plain mode as root
#: the system's /usr/bin/python3, which may lack scipy. The task is built before the run picks its sandbox,
#: so the prompt states that condition rather than a probe's answer; a candidate that imports scipy where it
#: is missing is told so by its feedback (`packing.raised_feedback`).
SANDBOX_PACKAGES = (
    "It can import the Python standard library and numpy. scipy (e.g. scipy.optimize.minimize with\n"
    'method="SLSQP") is installed in the Docker sandbox, the default; a process sandbox has only what its\n'
    "Python has, so import scipy inside try/except ImportError and keep a numpy-only fallback."
)
DEADLINE_S = candidate_deadline(LIMITS)
#: a file holding the user's own starting program, read by the registered factory
SEED_ENV = "ASSAY_CIRCLE_PACKING_SEED"

SEED_PROGRAM = '''"""A simple valid packing to improve: 26 circles on a 6 x 5 grid, radii set by spacing."""

import math

N = 26
MARGIN = 1e-12  # the final check is exact: keep every circle a hair inside its limits


def safe_radii(centres):
    """Radii for fixed centres that are always valid: each at most its distance to the walls and half
    the distance to its nearest neighbour (so no two circles can overlap)."""
    radii = []
    for i, (x, y) in enumerate(centres):
        nearest = min(math.dist((x, y), c) for j, c in enumerate(centres) if j != i)
        radii.append(min(x, 1 - x, y, 1 - y, nearest / 2) - MARGIN)
    return radii


def pack():
    centres = [((col + 0.5) / 6, (row + 0.5) / 5) for row in range(5) for col in range(6)][:N]
    radii = safe_radii(centres)
    return [(x, y, r) for (x, y), r in zip(centres, radii)]
'''

INSTRUCTIONS = f"""Pack {N_CIRCLES} circles into the unit square [0, 1] x [0, 1] so that the sum of their
radii is as large as possible. The best known sum for {N_CIRCLES} circles is about {BEST_KNOWN}.

Write a Python program that defines a function `pack()` returning a list of exactly {N_CIRCLES} tuples
`(x, y, r)`: the centre and the radius of each circle. The packing is valid when
- every radius is positive and every number is finite,
- every circle lies inside the square: r <= x <= 1 - r and r <= y <= 1 - r,
- no two circles overlap: the distance between centres is at least the sum of their radii.
An invalid packing scores nothing. Attempts are checked with a tolerance of 1e-9, but the final result is
checked exactly, without any tolerance: leave a small margin (shrink the radii by about 1e-12).

Limits: pack() runs in a sandbox with one CPU core, {LIMITS.memory_mb} MB of memory and no network.
{SANDBOX_PACKAGES}
It must return within {DEADLINE_S:g} seconds of wall-clock time, imports included, or it scores nothing:
bound any optimisation (cap its iterations and restarts, check time.perf_counter()) and aim to finish
within about {DEADLINE_S // 2:g} seconds.

If earlier attempts are shown below, start from the best of them: keep what makes it valid and raise the
sum. Answer with the whole program in a single ```python code block."""


def parse(text: str) -> str:
    return code_block(text)


def check_seed_program(source: str, origin: str = "the seed program") -> str:
    """A user's starting program, checked before any model call: it must be Python that defines `pack`.

    A broken seed would still only be a failed candidate, but the run would then start from nothing
    without saying so; a config mistake should stop the run in one line instead."""
    if not source.strip():
        raise ConfigError(f"{origin} is empty")
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise ConfigError(f"{origin} is not valid Python: {e}") from None
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    if "pack" not in defined:
        raise ConfigError(f"{origin} does not define a top-level function pack()")
    return source


def read_seed_program(path: str | Path) -> str:
    """The program in the file at `path`, checked (see `check_seed_program`)."""
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the seed program {str(path)!r}: {e}") from None
    return check_seed_program(source, f"the seed program {str(path)!r}")


#: what grading needs: numpy in the sandbox's jobs (the candidates and the seed program import it)
NEEDS = Needs(host_modules=("numpy",), sandbox_modules=("numpy",), install="pip install -e .")


def make_task(seed_program: str | None = None) -> Task:
    """The task; `seed_program` (a whole program) replaces the built-in starting program."""
    seed = SEED_PROGRAM if seed_program is None else check_seed_program(seed_program)
    return Task(
        name="code/circle-packing",
        problem_id="26",
        instructions=INSTRUCTIONS,
        parse=parse,
        verifier=CirclePackingVerifier(N_CIRCLES, limits=LIMITS, best_known=BEST_KNOWN),
        held_out=CirclePackingVerifier(N_CIRCLES, name="circle-packing-exact", limits=LIMITS, exact=True),
        seed_candidates=(seed,),
        info={
            "best_known": str(BEST_KNOWN),
            "n_circles": str(N_CIRCLES),
            "seed": "built-in 6 x 5 grid (sum 2.1667)" if seed_program is None else "user program",
        },
        uses_sandbox=True,
        needs=NEEDS,
    )


def task_from_env() -> Task:
    """The registered task: with the user's starting program when `ASSAY_CIRCLE_PACKING_SEED` names one."""
    path = os.environ.get(SEED_ENV, "").strip()
    return make_task(read_seed_program(path) if path else None)
