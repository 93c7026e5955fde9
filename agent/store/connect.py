"""Opening the run store's SQLite file: writable (WAL, migrated) for runs, read-only for readers.

A reader must never need write access: `runs` and `show` work on a store on a read-only filesystem, on a
file another user owns, and while a run writes to it. A full disk is its own error, so a run stopped by it
can say so (and be resumed once there is room).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.kernel.errors import StoreError
from agent.store.migrations import CURRENT_VERSION, check_not_newer, migrate, schema_version


class DiskFullError(StoreError):
    """The disk (or the file-size limit) is full: the run stops, resumable once there is room."""


def is_disk_full(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "disk is full" in str(error)


def connect_writable(path: Path | str, where: Path) -> sqlite3.Connection:
    try:
        if str(path) != ":memory:":
            where.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    except (OSError, sqlite3.Error) as e:
        raise StoreError(f"cannot open run store {where}: {e}") from None
    try:
        # refuse a newer file before touching it (switching to WAL would already write to it)
        check_not_newer(schema_version(db), where)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        migrate(db, where)
    except sqlite3.Error as e:
        db.close()
        error = DiskFullError if is_disk_full(e) else StoreError
        raise error(f"cannot open run store {where}: {e}") from None
    except BaseException:
        db.close()
        raise
    return db


def connect_read_only(where: Path) -> sqlite3.Connection:
    """`mode=ro`, and where even that fails (a WAL file on a read-only filesystem has no `-shm` to
    create) `immutable=1`, which reads the file as it is. A missing file reads as an empty store."""
    if not where.exists():
        db = sqlite3.connect(":memory:", isolation_level=None)
        migrate(db, where)
        return db
    uri = where.resolve().as_uri()
    failure: sqlite3.Error | None = None
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        try:
            db = sqlite3.connect(f"{uri}?{flags}", uri=True, isolation_level=None, timeout=30.0)
        except sqlite3.Error as e:
            failure = e
            continue
        try:
            version = schema_version(db)
            check_not_newer(version, where)
            if version != CURRENT_VERSION:
                return _upgraded_copy(db, where)
            return db
        except sqlite3.Error as e:
            db.close()
            failure = e
    raise StoreError(f"cannot open run store {where} read-only: {failure}")


def _upgraded_copy(db: sqlite3.Connection, where: Path) -> sqlite3.Connection:
    """An older file, read without writing to it: copied into memory and migrated there (the file itself
    is upgraded the next time a writing command opens it)."""
    memory = sqlite3.connect(":memory:", isolation_level=None)
    try:
        db.backup(memory)
        migrate(memory, where)
    except sqlite3.Error as e:
        memory.close()
        raise StoreError(f"cannot read run store {where} (an older schema): {e}") from None
    finally:
        db.close()
    return memory
