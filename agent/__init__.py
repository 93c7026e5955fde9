"""assay: verifier-driven agentic search."""

__version__ = "0.1.0"
