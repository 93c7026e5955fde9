"""When the store's writes are committed: one by one, in groups (the pipelined loop), or several as one.

A commit per row costs more than the row at 1000 hypotheses/s (issue 16), so the pipelined loop groups
them. A group may be committed after any write, so writes that a resume must find all or none of (the call
rows of one pipelined plan, which it replays as a unit) are made inside `together()`: a `kill -9` then keeps
all of them or none. Without that, a plan torn by a kill was replayed with the samples that survived and
its others were never asked for, and the resumed run's iterations differed from an uninterrupted one's.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from agent.kernel.errors import StoreError
from agent.store.connect import DiskFullError, is_disk_full


class CommitGroups:
    """The commit policy of `agent.store.sqlite.Store` (which sets these attributes)."""

    _db: sqlite3.Connection
    path: Path
    _group_s: float
    _group_began: float
    _together: bool

    def group_commits(self, interval_s: float) -> None:
        """Commit writes in groups, at most `interval_s` after the first of a group. Writes are committed
        in the order made, so a `kill -9` loses only a suffix, the last `interval_s` at most, and what
        survives is what a resume rebuilds from, exactly. The caller calls `flush_due` when it wakes and
        `flush` when it stops; 0 goes back to a commit per write (after committing what is pending)."""
        self.flush()
        self._group_s = max(0.0, interval_s)

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """The writes made inside are committed in one transaction, with or without group commits (with
        them, in the group that is pending). Nested use joins the outer one. A write that fails inside
        raises as ever and commits nothing more here."""
        if self._together:
            yield
            return
        self._together = True
        try:
            yield
        finally:
            self._together = False
        if self._group_s:
            self.flush_due()
        else:
            self.flush()

    def flush(self) -> None:
        """Commit what is pending (nothing without group commits or `together`)."""
        if self._db.in_transaction:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                error = DiskFullError if is_disk_full(e) else StoreError
                raise error(f"cannot write to run store {self.path}: {e}") from None

    def flush_due(self) -> None:
        """Commit the pending group if it is `interval_s` old."""
        if self._db.in_transaction and time.monotonic() - self._group_began >= self._group_s:
            self.flush()
