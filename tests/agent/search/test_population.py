"""The evolve population search end to end: islands and migration, near-duplicates, diff edits with repair,
and resume. Real HTTP model server (OpenAI wire format), real SQLite store, and a tiny task written here
the way a plugin author would write one (its candidates are Python programs `X = <int>`)."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from agent.kernel.errors import ParseError
from agent.kernel.identity import fingerprint
from agent.kernel.task import Task
from agent.kernel.types import Budget, Hypothesis, StopReason, Verdict, VerdictStatus
from agent.models.base import ModelSettings, make_model
from agent.search.dedup import NEAR_DUPLICATE_OF
from agent.search.islands import ISLAND, build_population
from agent.search.loop import Search, SearchOutcome, SearchSettings
from agent.search.strategies import make_strategy
from agent.store.sqlite import Store
from tests.support.llm_server import RecordedRequest, ScriptedLLMServer

#: no test here waits on a request timeout; a loaded machine may take long to answer one
FAST = ModelSettings(max_retries=0, timeout_s=300)
SECRET = 37
SEED_PROGRAM = "X = 1\nY = 2\n"


class ProgramVerifier:
    """Scores a program `X = <int>` by -|X - SECRET|, with X's parity as a behaviour metric; counts calls
    (and what it was called on), so a test can say what was verified and how often."""

    name = "x-program"

    def __init__(self) -> None:
        self.version = fingerprint("x-program", SECRET)
        self.calls: list[str] = []

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        self.calls.append(hypothesis.content)
        try:
            tree = ast.parse(hypothesis.content)
            values = {
                t.id: ast.literal_eval(node.value)
                for node in tree.body
                if isinstance(node, ast.Assign)
                for t in node.targets
                if isinstance(t, ast.Name)
            }
            x = int(values["X"])
        except Exception as e:  # the candidate's failure is its verdict
            return Verdict(status=VerdictStatus.ERROR, feedback=f"no integer X: {type(e).__name__}")
        status = VerdictStatus.OK if x == SECRET else VerdictStatus.FAIL
        direction = "correct" if x == SECRET else ("too low" if x < SECRET else "too high")
        return Verdict(
            status=status, score=-float(abs(x - SECRET)), metrics={"parity": float(x % 2)}, feedback=direction
        )


def parse_program(text: str) -> str:
    match = re.search(r"```(?:python)?\n(.*?)```", text, re.S)
    body = match.group(1) if match else text
    if "X" not in body:
        raise ParseError("answer with a Python program that sets X")
    return body


def program_task() -> Task:
    return Task(
        name="test/x-program",
        problem_id="0",
        instructions="Write a Python program that sets the integer X to the secret.",
        parse=parse_program,
        verifier=ProgramVerifier(),
        seed_candidates=(SEED_PROGRAM,),
    )


def parent_x(prompt: str) -> int:
    """X of the program the prompt asks to improve (the seed's when there is none)."""
    section = prompt.split("## The program to improve", 1)[-1]
    match = re.search(r"X\s*=\s*\(?(-?\d+)", section)
    return int(match.group(1)) if match else 1


def stepper(request: RecordedRequest) -> str:
    """A deterministic 'model': the parent's X moved by a step that depends on the prompt and the seed,
    so a replayed prompt gets the same answer, whichever order requests arrive in."""
    digest = hashlib.sha256(f"{request.prompt_text}|{request.body.get('seed')}".encode()).digest()
    step = digest[0] % 9 - 2  # -2 .. 6: drifts toward the secret, not straight
    return f"```python\nX = {parent_x(request.prompt_text) + step}\nY = 2\n```"


def seed_of(request: RecordedRequest) -> tuple[int, int]:
    """(iteration, sample) of a request, from the seed the loop sends (`SearchSettings.sample_seed`)."""
    seed = int(request.body["seed"]) - 7 * 1_000_003
    return seed // 1000, seed % 1000


async def run(
    store: Store,
    server: ScriptedLLMServer,
    task: Task,
    budget: Budget,
    run_id: str | None = None,
    **settings: Any,
) -> tuple[str, SearchOutcome]:
    if run_id is None:
        run_id = store.create_run(task.name, "{}")
        store.start_search(run_id, task.key, 0)
    model = make_model(
        "openai/gpt-test", ModelSettings(**{**FAST.__dict__, "base_url": server.openai_base_url})
    )
    search = Search(
        task=task,
        model=model,
        strategy=make_strategy("evolve"),
        budget=budget,
        store=store,
        run_id=run_id,
        settings=SearchSettings(seed=7, **settings),
    )
    try:
        return run_id, await search.run()
    finally:
        await model.close()


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "runs.db") as s:
        yield s


def archive_of(store: Store, run_id: str, task: Task) -> list[tuple[Any, ...]]:
    return [
        (e.hypothesis.iteration, e.sample, e.hypothesis.id, e.hypothesis.meta,
         e.hypothesis.parent_ids, e.verdict.status, e.verdict.score)
        for e in store.hypotheses(run_id, task.key)
    ]  # fmt: skip


async def test_children_stay_on_their_island_and_migration_happens_on_schedule(store: Store) -> None:
    task = program_task()
    with ScriptedLLMServer(stepper) as server:
        run_id, outcome = await run(
            store, server, task, Budget(iterations=6), samples=2, islands=3, migration_interval=2, top_k=8
        )
    assert outcome.stop_reason is StopReason.MAX_ITERATIONS
    entries = store.hypotheses(run_id, task.key)
    for e in entries:
        if e.hypothesis.iteration > 0:
            assert e.hypothesis.meta[ISLAND] == (e.hypothesis.iteration - 1) % 3  # islands in turn
    population = build_population(entries, islands=3, migration_interval=2)
    rounds = sorted({m.after_iteration for m in population.migrations})
    assert rounds == [2, 4, 6]  # every second iteration, and only then
    assert all(m.target == (m.source + 1) % 3 for m in population.migrations)

    # what migrated after iteration 2 reaches the receiving island, and its next prompt: island 2 never
    # bred before iteration 3, so all it holds then is the seed and island 1's best (not the seed: the
    # scripted steps of iteration 2 improve on it)
    before = build_population([e for e in entries if e.hypothesis.iteration <= 2], 3, 2)
    [migrant] = [m for m in before.migrations if m.source == 1]
    seed_id = entries[0].hypothesis.id
    assert migrant.hypothesis_id != seed_id and migrant.after_iteration == 2
    assert set(before.members[2]) == {seed_id, migrant.hypothesis_id}
    content = next(e.hypothesis.content for e in entries if e.hypothesis.id == migrant.hypothesis_id)
    prompts = {seed_of(r): r.prompt_text for r in server.requests}
    assert content.strip() in prompts[(3, 0)]
    assert content.strip() not in prompts[(1, 0)]  # island 0's prompt, before any migration


async def test_a_near_duplicate_is_never_verified_twice(store: Store) -> None:
    task = program_task()
    answers = {
        (1, 0): "```python\nX = 5\nY = 2\n```",
        (1, 1): "```python\nX=5   # the same program, formatted differently\nY = (2)\n```",
        (1, 2): "```python\nX = 5\nY = 2\n```",  # an exact copy in the same batch
        (2, 0): "```python\n# once more\nX = 5\n\nY = 2\n```",
        (2, 1): "```python\nX = 6\nY = 2\n```",
        (2, 2): "```python\nX = 6\nY = 2  # again\n```",
    }
    with ScriptedLLMServer(lambda r: answers[seed_of(r)]) as server:
        run_id, _ = await run(store, server, task, Budget(iterations=2), samples=3, islands=1)
    verifier = task.verifier
    assert isinstance(verifier, ProgramVerifier)
    assert sorted(verifier.calls) == sorted([SEED_PROGRAM, "X = 5\nY = 2\n", "X = 6\nY = 2\n"])
    entries = {(e.hypothesis.iteration, e.sample): e for e in store.hypotheses(run_id, task.key)}
    first = entries[(1, 0)].hypothesis.id
    for key in [(1, 1), (2, 0)]:
        assert entries[key].hypothesis.meta[NEAR_DUPLICATE_OF] == first
        assert entries[key].verdict == entries[(1, 0)].verdict
    assert NEAR_DUPLICATE_OF not in entries[(1, 2)].hypothesis.meta  # an exact copy: the same id
    assert entries[(2, 2)].hypothesis.meta[NEAR_DUPLICATE_OF] == entries[(2, 1)].hypothesis.id


BROKEN = "<<<<<<< SEARCH\nX = 100\n=======\nX = 7\n>>>>>>> REPLACE\n"
REPAIRED = "<<<<<<< SEARCH\nX = 1\n=======\nX = 37\n>>>>>>> REPLACE\n"


async def test_a_broken_diff_is_fed_back_and_the_repaired_one_applies(store: Store) -> None:
    task = program_task()

    def editor(request: RecordedRequest) -> str:
        return REPAIRED if "could not be applied" in request.prompt_text else BROKEN

    with ScriptedLLMServer(editor) as server:
        run_id, outcome = await run(
            store, server, task, Budget(iterations=3, target=0.0), samples=1, islands=1, edits="diff"
        )
    first, second = (r.prompt_text for r in server.requests[:2])
    assert "<<<<<<< SEARCH" in first and "X = 1" in first  # the edit format and the parent's text
    assert "could not be applied" not in first
    assert "could not be applied" in second and "does not occur in the parent" in second
    assert "X = 100" in second  # the failed edit itself is shown, with the reason
    entries = store.hypotheses(run_id, task.key)
    broken, repaired = entries[1], entries[2]
    assert broken.verdict.status is VerdictStatus.INVALID and broken.hypothesis.meta["edit_error"] is True
    assert repaired.hypothesis.content == "X = 37\nY = 2\n"  # applied to the parent, not re-parsed
    assert repaired.hypothesis.meta["repair_of"] == broken.hypothesis.id
    assert repaired.hypothesis.parent_ids[0] == entries[0].hypothesis.id  # the same parent, edited again
    assert outcome.stop_reason is StopReason.TARGET_REACHED and len(server.requests) == 2


async def test_a_resumed_evolve_run_ends_with_the_same_archive(tmp_path: Path) -> None:
    settings = {"samples": 2, "islands": 2, "migration_interval": 2, "top_k": 2, "diverse_k": 1}
    with Store(tmp_path / "whole.db") as store, ScriptedLLMServer(stepper) as server:
        task = program_task()
        run_id, whole = await run(store, server, task, Budget(iterations=7), **settings)
        expected = archive_of(store, run_id, task)
    with Store(tmp_path / "parts.db") as store, ScriptedLLMServer(stepper) as server:
        task = program_task()
        run_id, first = await run(store, server, task, Budget(iterations=3), **settings)
        assert first.stop_reason is StopReason.MAX_ITERATIONS and first.iterations == 3
        task = program_task()  # a fresh process: nothing but the store carries over
        _, resumed = await run(store, server, task, Budget(iterations=7), run_id=run_id, **settings)
        assert archive_of(store, run_id, task) == expected
        assert resumed.iterations == whole.iterations == 7
        assert len(server.requests) == 7 * 2  # the resumed part asked only for iterations 4-7
    assert len({row[3][ISLAND] for row in expected if row[0] > 0}) == 2
