"""Sandboxes that run untrusted candidate code under hard limits."""

from sandboxes.base import ExecResult, Job, Limits, Sandbox

__all__ = ["ExecResult", "Job", "Limits", "Sandbox"]
