"""Model ensembles: the spec, the splits, and a bandit that moves calls toward the model that improves.

Two "models" are served by one scripted OpenAI-wire server (tests/support/llm_server.py, through the real
SDK), told apart by the request's model name: `good` answers closer to the secret with every call, `bad`
always gives the same far answer. Runs go through the run layer (`RunConfig.model`, `model_split`), the
real search loop and a real SQLite store; the assertions are on counts with a fixed seed, never on timing.
"""

from __future__ import annotations

import itertools
import random
import threading
from pathlib import Path
from typing import get_args

import pytest

from agent.kernel import ConfigError, Hypothesis, Verdict, VerdictStatus
from agent.kernel.records import RecordedHypothesis
from agent.models.bandit import SPLITS, ArmStats, arm_stats, thompson_choice
from agent.models.base import ModelSettings, make_model
from agent.models.ensemble import EnsembleModel, Member, is_ensemble_spec, parse_ensemble
from agent.run.config import RunConfig, build_config
from agent.run.runner import execute, prepare
from agent.store.sqlite import Store
from tests.support.llm_server import RecordedRequest, ScriptedLLMServer

KEY = "example/guess#0"  # secret 37


class TwoModels:
    """`good` answers -100, -99, ... (each better than the last, for 137 calls); `bad` always -500."""

    def __init__(self) -> None:
        self.good = itertools.count(-100)
        self.lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> str:
        if request.model == "good":
            with self.lock:
                return f"ANSWER: {next(self.good)}"
        return "ANSWER: -500"


def config(server: ScriptedLLMServer, split: str, iterations: int) -> RunConfig:
    return RunConfig(
        task="example/guess", problems="0", model="openai/good,openai/bad", model_split=split,
        base_url=server.openai_base_url, strategy="refine", samples=4, seed=11, max_retries=0,
        budget={"iterations": iterations}, price_in=1.0, price_out=2.0,
    )  # fmt: skip


async def run(tmp_path: Path, split: str, iterations: int = 12) -> tuple[Store, str, ScriptedLLMServer]:
    store = Store(tmp_path / f"{split}.db")
    with ScriptedLLMServer(TwoModels()) as server:
        result = await execute(prepare(config(server, split, iterations)), store)
    return store, result.run_id, server


def per_model(server: ScriptedLLMServer) -> dict[str, int]:
    return {name: sum(r.model == name for r in server.requests) for name in ("good", "bad")}


def test_specs() -> None:
    assert parse_ensemble("openai/a=2, anthropic/b") == [Member("openai/a", 2.0), Member("anthropic/b", 1.0)]
    assert is_ensemble_spec("openai/a,openai/b") and is_ensemble_spec("openai/a=3")
    assert not is_ensemble_spec("openai/gpt-4o-mini") and not is_ensemble_spec("local/x=q4.gguf")
    for bad in ("openai/a,,openai/b", "openai/a=0,openai/b", "openai/a,openai/a", "openai/a=-1"):
        with pytest.raises(ConfigError):
            parse_ensemble(bad)
    assert set(get_args(RunConfig.model_fields["model_split"].annotation)) == set(SPLITS)
    model = make_model("openai/a=3,openai/b", ModelSettings(base_url="http://127.0.0.1:9/v1"))
    assert isinstance(model, EnsembleModel) and model.name == "openai/a,openai/b"


def test_the_split_and_halving_are_config_keys_and_the_ensemble_the_model_flag() -> None:
    file_values = {"task": "example/guess", "model_split": "thompson-cost", "halving_top": 2}
    cfg = build_config(file_values, {"model": "openai/a=2,openai/b"})
    assert (cfg.model, cfg.model_split, cfg.halving_top) == ("openai/a=2,openai/b", "thompson-cost", 2)
    with pytest.raises(ConfigError, match="model_split"):
        build_config({**file_values, "model_split": "ucb"}, {})


def test_weights_split_requests_by_weight_deterministically() -> None:
    local = ModelSettings(base_url="http://127.0.0.1:9/v1")  # never asked: only the choice is tested
    members = [(Member(s, w), make_model(s, local)) for s, w in (("openai/a", 3.0), ("openai/b", 1.0))]
    ensemble, again = EnsembleModel(members), EnsembleModel(members)
    chosen = [ensemble.choose(seed) for seed in range(400)]
    assert chosen == [again.choose(seed) for seed in range(400)]  # a resumed run asks the same member
    assert 250 < chosen.count("openai/a") < 350  # about 3 of 4


def test_arm_stats_judge_an_iteration_against_the_iterations_before() -> None:
    def e(it: int, sample: int, model: str, score: float) -> RecordedHypothesis:
        h = Hypothesis.create(f"{it}-{sample}", iteration=it, model=model)
        return RecordedHypothesis(sample, h, Verdict(status=VerdictStatus.OK, score=score))

    history = [e(0, 0, "seed", 5.0), e(1, 0, "a", 6.0), e(1, 1, "b", 5.5), e(2, 0, "a", 5.9), e(2, 1, "b", 7)]
    stats = arm_stats(history, {(1, 0): 0.5, (2, 1): 0.25}, ["a", "b"])
    assert (stats["a"].calls, stats["a"].wins, stats["a"].cost_usd) == (2, 1, 0.5)
    assert (stats["b"].calls, stats["b"].wins, stats["b"].cost_usd) == (2, 2, 0.25)
    many = {"a": ArmStats(40, 35, 4.0), "b": ArmStats(40, 5, 4.0)}
    picks = [thompson_choice(many, ["a", "b"], random.Random(s)) for s in range(50)]
    assert picks.count("a") > 45
    # per dollar: b wins as often as a, but a costs 100 times as much per call
    pricey = {"a": ArmStats(40, 35, 400.0), "b": ArmStats(40, 30, 4.0)}
    picks = [thompson_choice(pricey, ["a", "b"], random.Random(s), per_dollar=True) for s in range(50)]
    assert picks.count("b") == 50


async def test_the_bandit_moves_calls_toward_the_model_that_improves(tmp_path: Path) -> None:
    store, run_id, server = await run(tmp_path, "thompson")
    counts = per_model(server)
    by_weight = per_model((await run(tmp_path, "weights"))[2])
    assert counts["good"] + counts["bad"] == by_weight["good"] + by_weight["bad"] == 48
    assert counts["good"] >= 3 * counts["bad"], counts  # the bandit favours the improving model
    assert by_weight["bad"] >= 2 * counts["bad"], (by_weight, counts)  # which a fixed split does not
    late = [r.model for r in server.requests if r.index >= 24]
    assert late.count("good") > late.count("bad") * 4  # and more so once it has seen the evidence
    # each hypothesis records the member that answered it, and its call (same iteration and sample) the cost
    calls = {(c.iteration, c.sample): c for c in store.calls(run_id, KEY)}
    for e in store.hypotheses(run_id, KEY):
        call = calls[(e.hypothesis.iteration, e.sample)]
        assert e.hypothesis.model == call.model and e.hypothesis.model in {"openai/good", "openai/bad"}
        assert call.cost_usd is not None and call.cost_usd > 0
    store.close()


async def test_a_resumed_run_makes_the_same_choices(tmp_path: Path) -> None:
    whole, whole_id, _ = await run(tmp_path / "whole", "thompson", iterations=10)
    (tmp_path / "parts").mkdir()
    store = Store(tmp_path / "parts" / "runs.db")
    with ScriptedLLMServer(TwoModels()) as server:
        first = await execute(prepare(config(server, "thompson", 5)), store)
        resumed = prepare(config(server, "thompson", 10), resuming=True)
        await execute(resumed, store, run_id=first.run_id)

    def choices(s: Store, run_id: str) -> list[tuple[int, int, str]]:
        return [(e.hypothesis.iteration, e.sample, e.hypothesis.model) for e in s.hypotheses(run_id, KEY)]

    assert len(choices(store, first.run_id)) == 40
    assert choices(store, first.run_id) == choices(whole, whole_id)
    store.close()
    whole.close()
