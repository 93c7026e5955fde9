"""The run store: one SQLite file that records a run as it happens (`sqlite.py`)."""

from agent.store.sqlite import Store

__all__ = ["Store"]
