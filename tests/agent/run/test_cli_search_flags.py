"""`--selection`, `--repair/--no-repair`, `--halving-top` and `--model-split` through the installed console
script (issue 13): each reaches the settings recorded with the run, changes what the run does (seen in the
requests the scripted model server received and in the store), is repeated by `assay resume`, and a bad
value is one line with exit 2."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.kernel.records import RecordedHypothesis
from agent.kernel.verifier import SEEDS_METRIC
from agent.search.pareto import PARETO_FRONT
from agent.search.repair import REPAIR_OF
from agent.store.sqlite import Store
from tests.agent.run.test_cli_run import one_line_error, run_id_of, stored_config
from tests.support.cli import assay, cli_env
from tests.support.llm_server import RecordedRequest, ScriptedLLMServer

#: three plugin tasks: a noisy multi-fidelity verifier (halving), one whose answers crash (repair), and one
#: with a second objective, the program's length (Pareto selection)
PLUGIN = """
import re
from agent.kernel import Hypothesis, Task, Verdict, VerdictStatus, fingerprint, task
from agent.kernel.task import Objective, Suite
from tests.support.noisy import NoisyVerifier


class Crashes:
    name = "crashes"
    version = fingerprint("crashes")

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        if "crash" in hypothesis.content:
            return Verdict(status=VerdictStatus.ERROR, feedback="NameError: name 'crash' is not defined")
        return Verdict(status=VerdictStatus.FAIL, score=0.5)


class Length:
    name = "x-length"
    version = fingerprint("x-length")

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        match = re.search(r"X = (-?\\d+)", hypothesis.content)
        if match is None:
            return Verdict(status=VerdictStatus.ERROR, feedback="no X")
        score = -abs(int(match.group(1)) - 37.0)
        return Verdict(status=VerdictStatus.FAIL, score=score, metrics={"length": len(hypothesis.content)})


@task("flags/noisy", "a noisy verifier with fidelities 1, 4, 16")
def noisy() -> Task:
    return Task("flags/noisy", "0", "Give a candidate.", parse=str.strip, verifier=NoisyVerifier())


@task("flags/crash", "answers that crash")
def crash() -> Task:
    return Task("flags/crash", "0", "Give a program.", parse=str.strip, verifier=Crashes())


@task("flags/length", "a short program near 37")
def length() -> Suite:
    t = Task("flags/length", "0", "Set X to the secret, in a short program.", parse=str.strip,
             verifier=Length(), seed_candidates=("X = 30",), objectives=(Objective("length", "min"),))
    return Suite("flags/length", "a short program near 37", (t,))
"""

REPAIR_HEADING = "This program failed; fix it"


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "flag_tasks.py").write_text(PLUGIN)
    env = cli_env(ASSAY_TASK_MODULES="flag_tasks")
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    return env


def run(
    server: ScriptedLLMServer, db: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    proc = assay(
        "run", *args, "--model", "openai/gpt-test", "--base-url", server.openai_base_url,
        "--db", str(db), "--json", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


def entries(db: Path, problem_key: str) -> list[RecordedHypothesis]:
    with Store(db, read_only=True) as store:
        return store.hypotheses(run_id_of(db), problem_key)


def seeds_judged(db: Path) -> list[float]:
    return sorted(e.verdict.metrics.get(SEEDS_METRIC, 1.0) for e in entries(db, "flags/noisy#0"))


def lucky_then_honest(request: RecordedRequest) -> str:
    """The first answer leads on one seed by luck; every later one is honestly mediocre."""
    return "true=0.2 lucky=0.7" if "lucky" not in request.prompt_text else "true=0.5"


def test_halving_top_re_verifies_the_best_on_more_seeds_and_resume_keeps_doing_so(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    with ScriptedLLMServer(lucky_then_honest) as server:
        plain = tmp_path / "plain.db"
        run(server, plain, plugin_env, "flags/noisy", "--samples", "2", "--iterations", "1")
        assert stored_config(plain)["halving_top"] == 0
        assert set(seeds_judged(plain)) == {1.0}  # nothing re-verified by default

        db = tmp_path / "halving.db"
        run(
            server, db, plugin_env, "flags/noisy", "--samples", "2", "--iterations", "1", "--halving-top", "1"
        )
        assert stored_config(db)["halving_top"] == 1
        assert max(seeds_judged(db)) > 1  # the lucky leader was judged again, on more seeds
        lucky = [e for e in entries(db, "flags/noisy#0") if "lucky" in e.hypothesis.content]
        assert lucky and all(e.verdict.score is not None and e.verdict.score < 0.9 for e in lucky)

        resumed = assay(
            "resume", run_id_of(db), "--db", str(db), "--iterations", "2", "--json", env=plugin_env
        )
    assert resumed.returncode == 0, resumed.stderr
    assert stored_config(db)["halving_top"] == 1  # the recorded setting, repeated
    assert max(seeds_judged(db)) == 16  # the resumed iteration went on up the rungs: 1 -> 4 -> 16


def repair_prompts(server: ScriptedLLMServer) -> list[RecordedRequest]:
    return [r for r in server.requests if REPAIR_HEADING in r.prompt_text]


def test_no_repair_sends_no_repair_prompt_after_a_failing_candidate(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    args = ("flags/crash", "--strategy", "refine", "--samples", "1", "--iterations", "3")
    with ScriptedLLMServer("crash()") as server:
        run(server, tmp_path / "repair.db", plugin_env, *args)
        assert repair_prompts(server)  # by default a crash gets its repair prompt
        assert any(REPAIR_OF in e.hypothesis.meta for e in entries(tmp_path / "repair.db", "flags/crash#0"))
        assert stored_config(tmp_path / "repair.db")["repair"] is True

    db = tmp_path / "no-repair.db"
    with ScriptedLLMServer("crash()") as server:
        run(server, db, plugin_env, *args, "--no-repair")
        assert len(server.requests) == 3 and not repair_prompts(server)
    assert not any(REPAIR_OF in e.hypothesis.meta for e in entries(db, "flags/crash#0"))
    assert stored_config(db)["repair"] is False


def shorter_or_longer(request: RecordedRequest) -> str:
    """Programs of varied X and length, so a Pareto front has more than the best score on it."""
    n = len(re.findall("X =", request.prompt_text))
    return f"X = {30 + (n * 5) % 9}\n" + "# pad" * (n % 4)


def test_selection_pareto_breeds_from_the_front_and_records_it(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    args = ("flags/length", "--strategy", "evolve", "--samples", "2", "--iterations", "3")
    with ScriptedLLMServer(shorter_or_longer) as server:
        run(server, tmp_path / "score.db", plugin_env, *args)
        db = tmp_path / "pareto.db"
        run(server, db, plugin_env, *args, "--selection", "pareto")
    by_score = [e for e in entries(tmp_path / "score.db", "flags/length#0") if e.hypothesis.iteration > 0]
    assert by_score and not any(PARETO_FRONT in e.hypothesis.meta for e in by_score)
    children = [e for e in entries(db, "flags/length#0") if e.hypothesis.iteration > 0]
    assert children and all(e.hypothesis.meta.get(PARETO_FRONT) for e in children)
    assert stored_config(db)["selection"] == "pareto"


def test_model_split_is_recorded_and_every_call_goes_to_a_member(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with ScriptedLLMServer("50") as server:
        proc = assay(
            "run", "example/guess", "--samples", "2", "--iterations", "3", "--model", "openai/a,openai/b",
            "--model-split", "thompson", "--base-url", server.openai_base_url, "--db", str(db), "--json",
        )  # fmt: skip
        asked = {r.body.get("model") for r in server.requests}
    assert proc.returncode == 0, proc.stderr
    config: dict[str, Any] = stored_config(db)
    assert config["model_split"] == "thompson" and config["model"] == "openai/a,openai/b"
    assert asked and asked <= {"a", "b"}
    assert json.loads(proc.stdout)["status"] == "finished"


@pytest.mark.parametrize(
    ("flag", "value", "said"),
    [
        ("--selection", "best", "selection"),
        ("--halving-top", "-1", "halving_top"),
        ("--halving-top", "many", "--halving-top"),
        ("--model-split", "random", "model_split"),
    ],
)
def test_a_bad_value_is_one_line_and_exit_2(tmp_path: Path, flag: str, value: str, said: str) -> None:
    proc = assay("run", "example/guess", flag, value, "--db", str(tmp_path / "runs.db"))
    assert proc.returncode == 2
    assert said in one_line_error(proc)
    assert not (tmp_path / "runs.db").exists()
