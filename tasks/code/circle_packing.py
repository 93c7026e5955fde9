"""`code/circle-packing`: 26 circles in the unit square, maximising the sum of their radii.

The benchmark of AlphaEvolve, OpenEvolve and ShinkaEvolve (best known sum about 2.635). The candidate is a
program whose `pack()` returns the circles; the host checks the geometry strictly (see
`tasks/code/packing.py`). The held-out verifier is the same strict check, run again independently, so a
reported result never rests on the verdict the search saw.
"""

from __future__ import annotations

from agent.kernel.sandbox import Limits
from agent.kernel.task import Task
from tasks.code.packing import CirclePackingVerifier
from tasks.parsing import code_block

N_CIRCLES = 26
BEST_KNOWN = 2.635
LIMITS = Limits(wall_s=20.0)

INSTRUCTIONS = f"""Pack {N_CIRCLES} circles into the unit square [0, 1] x [0, 1] so that the sum of their
radii is as large as possible. The best known sum for {N_CIRCLES} circles is about {BEST_KNOWN}.

Write a Python program that defines a function `pack()` returning a list of exactly {N_CIRCLES} tuples
`(x, y, r)`: the centre and the radius of each circle. The packing is valid when
- every radius is positive and every number is finite,
- every circle lies inside the square: r <= x <= 1 - r and r <= y <= 1 - r,
- no two circles overlap: the distance between centres is at least the sum of their radii
(a tolerance of 1e-9 is allowed). An invalid packing scores nothing.

`pack()` may compute the packing (for example by optimising it) using the standard library and numpy, and
must return within 15 seconds. Answer with the whole program in a single ```python code block."""


def parse(text: str) -> str:
    return code_block(text)


def make_task() -> Task:
    return Task(
        name="code/circle-packing",
        problem_id="26",
        instructions=INSTRUCTIONS,
        parse=parse,
        verifier=CirclePackingVerifier(N_CIRCLES, limits=LIMITS, best_known=BEST_KNOWN),
        held_out=CirclePackingVerifier(N_CIRCLES, name="circle-packing-check", limits=LIMITS),
        info={"best_known": str(BEST_KNOWN), "n_circles": str(N_CIRCLES)},
        uses_sandbox=True,
    )
