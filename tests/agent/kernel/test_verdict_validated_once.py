"""A verdict is validated once, where it is made (issue 16): one that passed validation is passed on as it is
by `revalidated_verdict` (the loop, the store); whatever skipped validation is still checked afresh."""

from __future__ import annotations

import math
import pickle

import pytest
from pydantic import ValidationError

from agent.kernel.types import Verdict, VerdictStatus, is_validated, revalidated_verdict


def test_a_validated_verdict_is_passed_on_as_it_is() -> None:
    made = Verdict(status=VerdictStatus.FAIL, score=0.5, metrics={"m": 1.0}, feedback="x")
    assert is_validated(made)
    assert revalidated_verdict(made) is made
    timed = made.timed(1.5)
    assert timed.duration_s == 1.5 and is_validated(timed) and revalidated_verdict(timed) is timed
    read_back = Verdict.model_validate_json(made.model_dump_json())
    assert is_validated(read_back)


def test_what_skipped_validation_is_checked_afresh() -> None:
    forged = Verdict.model_construct(status=VerdictStatus.OK, score=math.nan, metrics={}, feedback="")
    assert not is_validated(forged)
    with pytest.raises(ValidationError):
        revalidated_verdict(forged)
    changed = Verdict(status=VerdictStatus.ERROR).model_copy(update={"score": 1.0})
    assert not is_validated(changed)
    with pytest.raises(ValidationError):
        revalidated_verdict(changed)
    big = Verdict(status=VerdictStatus.FAIL).model_copy(update={"feedback": "x" * 200_000})
    assert len(revalidated_verdict(big).feedback) < 100_000  # bounded when it is checked
    unpickled = pickle.loads(pickle.dumps(Verdict(status=VerdictStatus.OK, score=1.0)))  # from a worker
    assert not is_validated(unpickled)
    checked = revalidated_verdict(unpickled)
    assert checked == unpickled and is_validated(checked)
    assert not is_validated(Verdict.model_construct(status=VerdictStatus.OK).timed(1.0))


def test_timed_refuses_a_duration_that_is_not_one() -> None:
    for bad in (math.nan, math.inf, -1.0):
        with pytest.raises(ValueError):
            Verdict(status=VerdictStatus.OK).timed(bad)


def test_verdicts_made_and_timed_on_many_threads_keep_the_table_bounded_and_consistent() -> None:
    """Verifiers make verdicts on executor threads: eviction and the copy's hand-over must not race (a
    `dictionary changed size` or a KeyError there would be an infrastructure failure on a good candidate)."""
    import sys
    import threading

    from agent.kernel import types

    errors: list[BaseException] = []
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:

        def work() -> None:
            try:
                for i in range(3000):
                    v = Verdict(status=VerdictStatus.FAIL, score=i / 3000, feedback="x")
                    t = v.timed(0.1)
                    assert revalidated_verdict(t) is t or not is_validated(t)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []
    assert len(types._VALIDATED) <= types._MAX_VALIDATED
    assert all(type(v) is Verdict and id(v) == k for k, v in types._VALIDATED.items())
