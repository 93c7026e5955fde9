"""The run store: one SQLite file that records a run as it happens (`sqlite.py`), read back as typed records
(`records.py`), with a versioned schema and its migrations (`migrations.py`)."""

from agent.store.records import CachedVerdictRecord, CallRecord, IterationRecord, RunRecord, SearchRecord
from agent.store.sqlite import Store

__all__ = ["CachedVerdictRecord", "CallRecord", "IterationRecord", "RunRecord", "SearchRecord", "Store"]
