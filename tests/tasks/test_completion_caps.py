"""The reward and loss tasks declare the completion cap an answer of theirs needs (issue 12: a reward module
fits in ~640 tokens, a loss in ~512; measured answers were 117-445); the other suites keep the run's
default. What a run does with the cap is tested in tests/agent/run/test_completion_caps.py."""

from __future__ import annotations

import pytest

from agent.kernel.plugins import load_suite
from tasks.loss.limits import COMPLETION_TOKENS as LOSS_CAP
from tasks.reward.suite import COMPLETION_TOKENS as REWARD_CAP
from tasks.reward.suite import DR_COMPLETION_TOKENS


@pytest.mark.parametrize(
    ("name", "cap"),
    [
        ("reward/mountaincar", REWARD_CAP),
        ("reward/pendulum-scaffold", REWARD_CAP),
        ("reward/mountaincar-dr", DR_COMPLETION_TOKENS),
        ("loss/noisy-digits", LOSS_CAP),
        ("loss/noisy-digits-scaffold", LOSS_CAP),
        ("loss/preference", LOSS_CAP),
    ],
)
def test_reward_and_loss_tasks_declare_their_cap(name: str, cap: int) -> None:
    [task] = load_suite(name).select(None)
    assert task.completion_tokens == cap
    assert 400 <= cap <= 1024  # room for the longest measured answer (445 tokens), below the run default


def test_the_other_suites_keep_the_run_default() -> None:
    for name in ("math/derivative", "example/guess"):
        assert all(t.completion_tokens is None for t in load_suite(name).problems)
