"""A run: one search per selected problem of a task, recorded in the store under one run id."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from agent.kernel.errors import ConfigError
from agent.kernel.model import Model
from agent.kernel.plugins import REGISTRY, load_suite
from agent.kernel.task import Suite, Task
from agent.kernel.types import VerdictStatus
from agent.models.base import ModelSettings, make_model
from agent.models.defaults import resolve_model_spec
from agent.run.config import RunConfig, describe_validation_error
from agent.run.sandbox import resolve_sandbox, sandbox_identity
from agent.search.loop import ProgressCallback, Search, SearchOutcome
from agent.search.strategies import make_strategy
from agent.store.sqlite import Store
from sandboxes import close_sandbox, configure
from sandboxes.shared import configured


@dataclass(frozen=True)
class RunResult:
    run_id: str
    task: str
    model: str
    strategy: str
    status: str
    outcomes: list[SearchOutcome]

    @property
    def solve_rate(self) -> float:
        solved = [
            o for o in self.outcomes if o.best is not None and o.best.verdict.status is VerdictStatus.OK
        ]
        return len(solved) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def held_out_solve_rate(self) -> float | None:
        judged = [o for o in self.outcomes if o.held_out is not None]
        if not self.outcomes:
            return None
        return sum(o.held_out.status is VerdictStatus.OK for o in judged if o.held_out) / len(self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "task": self.task,
            "model": self.model,
            "strategy": self.strategy,
            "status": self.status,
            "stop_reason": _run_stop_reason(self.outcomes),
            "solve_rate": self.solve_rate,
            "held_out_solve_rate": self.held_out_solve_rate,
            "problems": [outcome_json(o) for o in self.outcomes],
        }


def _run_stop_reason(outcomes: list[SearchOutcome]) -> str:
    reasons = {o.stop_reason.value for o in outcomes}
    return reasons.pop() if len(reasons) == 1 else "mixed"


def outcome_json(o: SearchOutcome) -> dict[str, Any]:
    best = o.best
    return {
        "problem": o.problem_key,
        "stop_reason": o.stop_reason.value,
        "stop_detail": o.stop_detail,
        "iterations": o.iterations,
        "calls": o.spend.calls,
        "tokens": o.spend.tokens,
        "cost_usd": o.spend.cost_usd,
        "elapsed_s": round(o.elapsed_s, 3),
        "best_score": best.verdict.score if best else None,
        "best_status": best.verdict.status.value if best else None,
        "best_hypothesis_id": best.hypothesis.id if best else None,
        "best_hypothesis": best.hypothesis.content if best else None,
        "best_metrics": best.verdict.metrics if best else None,
        "held_out": None
        if o.held_out is None
        else {"status": o.held_out.status.value, "score": o.held_out.score, "metrics": o.held_out.metrics},
    }


@dataclass
class PreparedRun:
    """Everything checked before anything is written: bad input fails here, with nothing half-created.

    `config` is the resolved one, as it is stored: the model spec, the task's module and the sandbox filled
    in, so a resume repeats exactly this run.
    """

    config: RunConfig
    problems: list[Task]
    warnings: tuple[str, ...] = ()  # for the user, once (e.g. that the process sandbox does not isolate)

    @property
    def model_spec(self) -> str:
        """The resolved model spec (the local default filled in), as stored with the run."""
        assert self.config.model is not None
        return self.config.model


def prepare(config: RunConfig, *, resuming: bool = False) -> PreparedRun:
    """Check and resolve `config` before any model call or store write; every failure is a ConfigError."""
    make_strategy(config.strategy)  # unknown strategy -> UnknownNameError before any work
    problems = _load_suite(config).select(config.problems)
    if not problems:
        raise ConfigError(f"no problems selected from {config.task}")
    if config.seed_program is not None:
        problems = [replace(task, seed_candidates=(config.seed_program,)) for task in problems]
    sandbox = resolve_sandbox(config.task, config.sandbox, problems, resuming=resuming)
    model_spec = resolve_model_spec(config.model)
    module = REGISTRY.get(config.task).module  # registered by load_suite above
    resolved = config.model_copy(
        update={"model": model_spec, "task_module": module, "sandbox": sandbox.config}
    )
    warnings = () if sandbox.warning is None else (sandbox.warning,)
    return PreparedRun(resolved, problems, warnings)


def _load_suite(config: RunConfig) -> Suite:
    """The suite, importing the module recorded with the run first (a task registered only through
    ASSAY_TASK_MODULES resumes without it); if that module has gone but the task is still registered by the
    plugins (a release moved it), the task is found anyway."""
    try:
        return load_suite(config.task, config.task_module)
    except ConfigError as first:
        if config.task_module is None:
            raise
        try:
            return load_suite(config.task)
        except ConfigError:
            raise first from None


def build_model(config: RunConfig, spec: str) -> Model:
    settings = ModelSettings(
        base_url=config.base_url,
        timeout_s=config.request_timeout_s,
        max_retries=config.max_retries,
        max_concurrency=config.model_concurrency,
    )
    return make_model(spec, settings)


async def execute(
    prepared: PreparedRun,
    store: Store,
    *,
    run_id: str | None = None,
    model: Model | None = None,
    on_progress: ProgressCallback | None = None,
) -> RunResult:
    """Run (or continue, given `run_id`) every selected problem's search; problems run one after another."""
    config = prepared.config
    own_model = model is None
    model = model or build_model(config, prepared.model_spec)
    if run_id is None:
        run_id = store.create_run(config.task, config.model_dump_json(), task_module=config.task_module)
    else:
        store.set_run_status(run_id, "running")
    previous_sandbox = configured()
    outcomes: list[SearchOutcome] = []
    status = "interrupted"
    try:
        if config.sandbox is not None:  # the verifiers' shared sandbox: the one resolved and recorded here
            await close_sandbox()  # one built before under another configuration must not be reused
            configure(config.sandbox)
        identity = await sandbox_identity(prepared.problems)
        for position, task in enumerate(prepared.problems):
            store.start_search(run_id, task.key, position)
            search = Search(
                task=task,
                model=model,
                strategy=make_strategy(config.strategy),
                budget=config.budget,
                store=store,
                run_id=run_id,
                settings=config,  # a RunConfig is its search settings
                on_progress=on_progress,
                sandbox_identity=identity,
            )
            outcomes.append(await search.run())
        status = "finished"
    finally:
        result = RunResult(run_id, config.task, prepared.model_spec, config.strategy, status, outcomes)
        store.set_run_status(run_id, status, result.to_json() if status == "finished" else None)
        if own_model:
            await model.close()
        await close_sandbox()  # verifiers share one sandbox per process; release its containers
        configure(previous_sandbox)
    return result


def load_stored_config(store: Store, run_id: str) -> tuple[str, RunConfig]:
    """The run's id and its stored config; a config that no longer validates (edited by hand, or written
    by a release whose keys are gone) is a one-line ConfigError, not a traceback."""
    row = store.get_run(run_id)
    if row is None:
        raise ConfigError(f"no run {run_id!r} in {store.path} (see `assay runs`)")
    try:
        return row.id, RunConfig.model_validate_json(row.config_json)
    except ValidationError as e:
        raise ConfigError(
            f"run {row.id}: its stored config is unreadable: {describe_validation_error(e)}"
        ) from None
