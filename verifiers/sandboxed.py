"""What every sandboxed verifier shares: the job, the result record, and how an unfinished job is judged.

A sandboxed verifier ships a trusted program (its harness or runner, from a `shipped/` folder) with the
candidate into one sandbox job, and the program prints one result record after a marker. Everything on the
job's stdout is the candidate's to write, so the record is read as hostile input: its size is bounded
before it is decoded, only a JSON object counts, and where the program can keep a secret from the candidate
(the code harness's per-job nonce) only a line carrying it is believed. What the record says is then
checked by the verifier; the score always comes from the host's own measurement.

The ladder for a job that did not finish is the same everywhere, in this order: it ran past its wall-clock
limit (timeout) -> it ran out of memory -> it ended without a finished record (it died). Each is the
candidate's verdict (timeout, or error), never a score and never an infrastructure failure: the candidate
can cause all three.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agent.kernel.sandbox import ExecResult, Job, Limits, Sandbox

#: one thread per numeric library: results do not depend on the machine's core count, and two jobs on a
#: two-core machine do not oversubscribe it
THREAD_ENV: Mapping[str, str] = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    "PYTHONHASHSEED": "0",
}
#: a record longer than this is not decoded (a candidate could print gigabytes of JSON)
MAX_RECORD_CHARS = 32 << 20


class MalformedRun(Exception):
    """The job's record does not decode into what the verifier expects (a broken or forging candidate)."""


def python_job(
    entry: str,
    files: Mapping[str, bytes | str],
    limits: Limits,
    *,
    stdin: bytes | None = None,
    args: tuple[str, ...] = (),
) -> Job:
    """A job that runs the shipped program `entry` with the job's python, one thread per library."""
    return Job(
        command=["python3", *args, entry], files=dict(files), env=dict(THREAD_ENV), limits=limits, stdin=stdin
    )


async def run_job(job: Job, sandbox: Sandbox | None = None) -> ExecResult:
    """Run `job` on `sandbox`, or on the process-wide shared one (verifiers take a sandbox only in tests)."""
    if sandbox is None:
        from sandboxes.shared import get_sandbox

        sandbox = await get_sandbox()
    return await sandbox.run(job)


def read_record(stdout: str, mark: str, *, nonce: str | None = None) -> dict[str, Any] | None:
    """The last record after `mark` (and `nonce`, when given) on a line of its own, or None.

    None means "no believable record": absent, oversized, not JSON, or not an object.
    """
    prefix = mark if nonce is None else f"{mark} {nonce} "
    at = stdout.rfind(prefix)
    if at < 0:
        return None
    if nonce is not None and at > 0 and stdout[at - 1] != "\n":
        return None  # the genuine line starts a line; a candidate's text before it is not ours
    line = stdout[at + len(prefix) :].split("\n", 1)[0]
    if len(line) > MAX_RECORD_CHARS:
        return None
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def tail(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def how_it_ended(result: ExecResult) -> str:
    return f"signal {result.signal}" if result.signal else f"exit code {result.exit_code}"


@dataclass(frozen=True)
class Unfinished:
    """Why a job delivered no finished record, in the ladder's order."""

    kind: Literal["timeout", "oom", "died"]
    how: str  # "exit code 1", "signal 9"
    stderr_tail: str


def unfinished(result: ExecResult, *, finished: bool) -> Unfinished | None:
    """The ladder: timeout -> out of memory -> no finished record; None when the job finished."""
    kind: Literal["timeout", "oom", "died"] | None = None
    if result.timed_out:
        kind = "timeout"
    elif result.oom:
        kind = "oom"
    elif not finished:
        kind = "died"
    if kind is None:
        return None
    return Unfinished(kind, how_it_ended(result), tail(result.stderr))
