"""assay's verifiers: each turns a hypothesis into a Verdict.

`sandboxed.py` is what every sandboxed verifier shares (the job, the result record, the ladder for a job
that did not finish); each family is a sub-package that defines the problem protocol it needs and keeps the
programs it ships into the sandbox in its `shipped/` folder: `sympy/`, `code/`, `reward/`, `loss/`.
Families never import each other, and nothing here imports a task suite.
"""

from agent.kernel.verifier import Verifier

__all__ = ["Verifier"]
