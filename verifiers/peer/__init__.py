"""The candidate's own process inside a sandbox job, apart from the trusted trainer that calls it.

`shipped/peer.py` is the protocol both sides of a reward or loss job use (see its docstring for the threat
model). The host side here only ships it and holds the seed salt: the key with which the trusted trainer
turns a named seed (0, 1, 2, ... in assay's source) into the seed it really uses, so that what a candidate
observes cannot be matched to a seed list and so to a split (search, tuning or held-out).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from functools import cache
from pathlib import Path

PEER_SOURCE = (Path(__file__).parent / "shipped" / "peer.py").read_text(encoding="utf-8")
SALT_ENV = "ASSAY_SEED_SALT"


@cache
def seed_salt() -> str:
    """`$ASSAY_SEED_SALT`, else a per-user random key kept in `~/.local/state/assay/seed-salt` (made once).

    Verdicts are reproducible for one salt; set the variable to reproduce numbers on another machine."""
    if os.environ.get(SALT_ENV):
        return os.environ[SALT_ENV]
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "assay"
    path = state / "seed-salt"
    try:
        return path.read_text(encoding="utf-8").strip() or _new_salt(path)
    except FileNotFoundError:
        return _new_salt(path)


def _new_salt(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(16)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(salt)
    return salt


def salt_id() -> str:
    """What a verifier's version records of the salt: its hash (a different salt gives other verdicts)."""
    return hashlib.sha256(seed_salt().encode()).hexdigest()[:16]
