"""The live display: it ticks between events and follows each sample through the store it is told about."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from agent.kernel.records import Spend
from agent.kernel.types import Completion, Hypothesis, Message, Usage, Verdict, VerdictStatus
from agent.run.progress import ObservedStore, ProgressDisplay, one_line
from agent.search.loop import Progress


def _text(display: ProgressDisplay) -> str:
    console = Console(file=io.StringIO(), width=200)
    console.print(display._table())
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_samples_move_through_states_as_the_store_records_them(tmp_path: Path) -> None:
    display = ProgressDisplay(io.StringIO(), live=False)
    with ObservedStore(tmp_path / "runs.db", display, samples=3) as store:
        run = store.create_run("t", "{}")
        store.start_search(run, "t#0", 0)
        assert "t#0" in _text(display)  # a row before the first iteration ends
        store.recorded_calls(run, "t#0", 1)
        assert "3 sampling" in _text(display)
        messages = [Message(role="user", content="hi")]
        completion = Completion(text="1", model="m", usage=Usage(prompt_tokens=1, completion_tokens=1))
        store.record_call(run, "t#0", 1, 0, messages, {}, completion, None)
        store.record_call(run, "t#0", 1, 1, messages, {}, None, "boom")
        assert "1 sampling 1 verifying 1 failed" in _text(display)
        verdict = Verdict(status=VerdictStatus.FAIL, score=-1.0, feedback="\n 41 is too low\nmore")
        store.record_hypothesis(run, "t#0", 0, Hypothesis.create("1", iteration=1, model="m"), verdict)
        text = _text(display)
        assert "1 done" in text and "41 is too low" in text and "more" not in text


def test_elapsed_ticks_between_progress_events() -> None:
    display = ProgressDisplay(io.StringIO(), live=False)
    display(Progress("t#0", 1, -3.0, Spend(2, 10, 0.0), 5.0))
    row = display._rows["t#0"]
    assert row.elapsed(row.progress_at + 7.0) == 12.0  # the clock runs on without a new event
    display.search_finished("t#0")
    assert row.elapsed(row.progress_at + 100.0) == 5.0 and "finished" in _text(display)


def test_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressDisplay(stream, live=False) as display:
        display(Progress("t#0", 2, 0.5, Spend(4, 20, 0.01), 3.0, "note"))
    assert stream.getvalue().startswith("[t#0] iter 2 best 0.5 calls 4")


def test_live_display_renders_to_a_terminal_stream() -> None:
    stream = io.StringIO()
    with ProgressDisplay(stream, live=True) as display:
        display.search_started("t#0")
    assert "t#0" in stream.getvalue()


def test_one_line_cuts_long_feedback() -> None:
    assert one_line("x" * 100, 10) == "x" * 9 + "…"
    assert one_line("") == ""
