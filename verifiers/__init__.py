"""assay's verifiers: each turns a hypothesis into a Verdict."""

__assay__ = True  # lets assay detect a different `verifiers` distribution shadowing this package

from verifiers.base import Verifier

__all__ = ["Verifier"]
