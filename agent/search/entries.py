"""What the archive keeps of each hypothesis: the facts selection reads, not the records prompts show.

An archive of a long run held every `RecordedHypothesis` whole (the pydantic `Hypothesis` and `Verdict`, their
content, feedback and meta): ~2.1 KB a hypothesis, growing for the whole run (issue 16: memory flat). Yet
ranking, repair, islands, near-duplicates and repeat notes read only a few facts of each entry; only the
handful a prompt shows need content and feedback. An `ArchiveEntry` is those facts, a plain slotted object
computed once when the entry is recorded; the full record is read back (agent/search/archive.py
`StoreRecords`) only for what a prompt shows.

Every selection function reads an entry through `facts`, so it takes an `ArchiveEntry` or a whole
`RecordedHypothesis` alike (a strategy can still be tested, or fed from another store, with plain records).
"""

from __future__ import annotations

import ast
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agent.kernel.records import RecordedHypothesis
from agent.kernel.types import UNSCORED, Hypothesis, Verdict, VerdictStatus
from agent.search.breaker import infrastructure_error

# the meta keys selection reads (their writers: the loop's seeds, repair, dedup, islands and plan, pipeline)
SEED = "seed"
REPAIR_OF = "repair_of"
NEAR_DUPLICATE_OF = "near_duplicate_of"
ISLAND = "island"
EDIT_ERROR = "edit_error"
PARSE_ERROR = "parse_error"
SEQ = "pipeline_seq"

# -- the normal form of a candidate (near-duplicates, agent/search/dedup.py) ---

#: hypothesis id -> the digest of its normal form (ids are content hashes, so an entry never goes stale). The
#: archive's entries carry their digest, so this only spares recomputing it between a candidate's judging and
#: its recording (and for plain records read through `facts`): a few thousand suffice (it held 100,000, ~0.1
#: KB a hypothesis of a long run); past the cap the oldest go (a miss only recomputes).
_forms: dict[str, bytes] = {}
_MAX_FORMS = 4_096


def normal_form(content: str) -> bytes:
    """A key (a 16-byte digest) equal for programs that differ only in comments, whitespace or formatting."""
    try:
        form = "py:" + ast.dump(ast.parse(content))
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # not Python (or hostile nesting)
        form = "text:" + " ".join(content.split())
    return hashlib.blake2b(form.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def form_of(h: Hypothesis) -> bytes:
    """`normal_form(h.content)`, remembered by id."""
    form = _forms.get(h.id)
    if form is None:
        form = normal_form(h.content)
        if len(_forms) >= _MAX_FORMS:
            del _forms[next(iter(_forms))]
        _forms[h.id] = form
    return form


# -- the signature of an error (repeat notes, agent/search/repeats.py) ---

_EXCEPTION = re.compile(r"\b([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))\b(?::[ \t]*([^\n]*))?")
_FRAME = re.compile(r'File "[^"\n]*", line (\d+)[^\n]*\n[ \t]+(\S[^\n]*)')
_LINE_NUMBER = re.compile(r"\bline (\d+)\b")
_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\w.-]*/)+[\w.-]+")
_NUMBER = re.compile(r"\b0x[0-9a-fA-F]+\b|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class ErrorSignature:
    kind: str  # the exception's type, or the verdict's status when the feedback names none
    message: str  # the message with numbers, paths and addresses blanked out
    text: str  # the message as it was (for the note)
    line: str | None  # the offending line of the candidate's code, when the feedback locates one


def _normal(text: str) -> str:
    return " ".join(_NUMBER.sub("N", _PATH.sub("<path>", text)).split())


def _offending_line(feedback: str, content: str) -> str | None:
    """The candidate's line that failed: the last traceback frame's code, else the line the feedback
    names by number (a pre-check's "line 7: ..."), read from the candidate's own content."""
    frames = _FRAME.findall(feedback)
    if frames:
        return frames[-1][1].strip()
    numbers = _LINE_NUMBER.findall(feedback)
    lines = content.splitlines()
    if numbers and 1 <= int(numbers[-1]) <= len(lines):
        return lines[int(numbers[-1]) - 1].strip() or None
    return None


def error_signature(verdict: Verdict, content: str) -> ErrorSignature | None:
    """What a failed candidate's error is, coarsely; None for a candidate that did not fail."""
    if verdict.status not in UNSCORED:
        return None
    feedback = verdict.feedback.strip()
    found = list(_EXCEPTION.finditer(feedback))
    if found:
        kind, text = found[-1].group(1), (found[-1].group(2) or "").strip()
    else:
        kind = verdict.status.value
        text = next((line.strip() for line in feedback.splitlines() if line.strip()), "")
    return ErrorSignature(kind, _normal(text), text, _offending_line(feedback, content))


# -- the entry ---

#: the metrics of every entry that has none (most): one shared, read-only mapping
NO_METRICS: Mapping[str, float] = MappingProxyType({})


class _Absent:
    """A meta key the hypothesis did not record (a value may be anything JSON holds, None included)."""

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False  # as `meta.get(key)` of an absent key reads


ABSENT = _Absent()


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One archive entry as selection sees it: ranking (score, iteration, sample), the verdict's status and
    metrics (islands' behaviour, Pareto objectives, halving's seeds), the meta keys selection reads, the
    normal-form digest (near-duplicates) and, unscored, the error's signature (repeat notes).

    Meta values are kept as recorded where selection compares them (`island`, `edit_error`, `repair_of`;
    `ABSENT` where not recorded), so every read answers as it did on the whole record; `seed` is read only
    for truth, `parse_error`, `near_duplicate_of` and `pipeline_seq` (`sequenced`) only for presence.

    Its invariant is the verdict's: a score is finite, and an `invalid`, `timeout` or `error` entry has none.
    """

    sample: int
    id: str
    iteration: int
    status: VerdictStatus
    score: float | None
    form: bytes
    metrics: Mapping[str, float] = field(default_factory=lambda: NO_METRICS)
    error: ErrorSignature | None = None
    infrastructure: bool = False  # the verdict stands for an infrastructure failure: never judged
    seed: bool = False
    parse_error: bool = False
    near_duplicate_of: bool = False
    sequenced: bool = False  # recorded by the pipelined loop (its `pipeline_seq`; the number is the store's)
    island: object = None  # `meta.get(ISLAND)`
    edit_error: object = ABSENT
    repair_of: object = ABSENT

    def __post_init__(self) -> None:
        if self.score is not None and not math.isfinite(self.score):
            raise ValueError("an archive entry's score must be finite or None")
        if self.status in UNSCORED and self.score is not None:
            raise ValueError(f"an archive entry with status {self.status.value!r} cannot carry a score")

    def meta_value(self, key: str) -> object:
        """The recorded value of one of the meta keys kept as recorded (`ABSENT` where none was)."""
        if key == REPAIR_OF:
            return self.repair_of
        if key == EDIT_ERROR:
            return self.edit_error
        raise KeyError(f"an archive entry keeps no value of meta key {key!r}")


Entry = RecordedHypothesis | ArchiveEntry


def compact(record: RecordedHypothesis) -> ArchiveEntry:
    """The facts of a whole record."""
    h, verdict = record.hypothesis, record.verdict
    meta = h.meta
    return ArchiveEntry(
        sample=record.sample,
        id=h.id,
        iteration=h.iteration,
        status=verdict.status,
        score=verdict.score,
        form=form_of(h),
        metrics=verdict.metrics or NO_METRICS,
        error=error_signature(verdict, h.content),
        infrastructure=infrastructure_error(verdict) is not None,
        seed=bool(meta.get(SEED)),
        parse_error=PARSE_ERROR in meta,
        near_duplicate_of=NEAR_DUPLICATE_OF in meta,
        island=meta.get(ISLAND),
        edit_error=meta.get(EDIT_ERROR, ABSENT),
        repair_of=meta.get(REPAIR_OF, ABSENT),
        sequenced=SEQ in meta,
    )


def facts(entry: Entry) -> ArchiveEntry:
    """What selection reads of an entry: itself when it is compact, else computed from the whole record."""
    return entry if isinstance(entry, ArchiveEntry) else compact(entry)
