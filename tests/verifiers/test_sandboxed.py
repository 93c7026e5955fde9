"""What every sandboxed verifier believes of a job: the record reader and the unfinished-job ladder.

Everything on a job's stdout is the candidate's to write, so each case here is something a hostile candidate
can print or cause; none of them may turn into a record the verifier then scores, or into a crash of the host.
"""

from __future__ import annotations

import pytest

from agent.kernel.sandbox import ExecResult
from verifiers import sandboxed
from verifiers.sandboxed import read_record, unfinished

MARK = "@@TEST-RESULT@@"
NONCE = "0123456789abcdef"


def test_the_last_well_formed_record_is_read() -> None:
    out = f'noise\n{MARK}{{"score": 1}}\nmore\n{MARK}{{"score": 2}}\n'
    assert read_record(out, MARK) == {"score": 2}


@pytest.mark.parametrize(
    "stdout",
    [
        pytest.param("no record at all", id="absent"),
        pytest.param(f"{MARK}not json", id="not json"),
        pytest.param(f"{MARK}[1, 2]", id="not an object"),
        pytest.param(f"{MARK}" + "[" * 100_000 + "]" * 100_000, id="nested past the recursion limit"),
        pytest.param(f'{MARK}{{"a": 1}} trailing', id="trailing garbage"),
    ],
)
def test_what_is_not_a_json_object_is_no_record(stdout: str) -> None:
    assert read_record(stdout, MARK) is None


def test_an_oversized_record_is_not_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandboxed, "MAX_RECORD_CHARS", 100)
    assert read_record(f'{MARK}{{"pad": "{"x" * 200}"}}', MARK) is None
    assert read_record(f'{MARK}{{"pad": "{"x" * 50}"}}', MARK) == {"pad": "x" * 50}


def test_with_a_nonce_only_a_line_that_starts_with_it_is_believed() -> None:
    genuine = f'{MARK} {NONCE} {{"ok": true}}'
    assert read_record(genuine + "\n", MARK, nonce=NONCE) == {"ok": True}
    assert read_record(f'{MARK} {"f" * 16} {{"ok": true}}\n', MARK, nonce=NONCE) is None  # a guessed nonce
    assert read_record(f"prefix{genuine}\n", MARK, nonce=NONCE) is None  # not at the start of a line
    assert read_record(f'{MARK} {{"ok": true}}\n', MARK, nonce=NONCE) is None  # no nonce at all


def result(**fields: object) -> ExecResult:
    return ExecResult(**{"exit_code": 0, "stderr": "  boom  \n", **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "finished", "kind"),
    [
        ({"timed_out": True, "oom": True, "exit_code": None, "signal": 9}, True, "timeout"),
        ({"oom": True, "exit_code": None, "signal": 9}, True, "oom"),
        ({"exit_code": 3}, False, "died"),
        ({"exit_code": None, "signal": 9}, False, "died"),
    ],
)
def test_the_ladder_orders_timeout_then_memory_then_no_record(
    fields: dict[str, object], finished: bool, kind: str
) -> None:
    ended = unfinished(result(**fields), finished=finished)
    assert ended is not None and ended.kind == kind
    assert ended.stderr_tail == "boom"


def test_a_finished_job_within_its_limits_is_judged_on_its_record() -> None:
    assert unfinished(result(), finished=True) is None
    died = unfinished(result(exit_code=None, signal=9), finished=False)
    assert died is not None and died.how == "signal 9"
