"""A run: one search per selected problem of a task, recorded in the store under one run id."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from agent.kernel.errors import AssayError, ConfigError, StoreError
from agent.kernel.model import Model
from agent.kernel.plugins import REGISTRY, load_suite
from agent.kernel.records import RecordedHypothesis
from agent.kernel.task import Suite, Task
from agent.kernel.types import StopReason, VerdictStatus
from agent.models import pricing
from agent.models.base import ModelSettings, make_model
from agent.models.defaults import resolve_model_spec
from agent.models.ensemble import EnsembleModel, is_ensemble_spec, parse_ensemble
from agent.run.config import RunConfig, describe_validation_error
from agent.run.needs import check_host_needs, check_sandbox_needs
from agent.run.remote import RunVerifiers
from agent.run.sandbox import NO_SANDBOX, resolve_sandbox, sandbox_identity
from agent.search.executors import Executor, ExecutorContext, build_executor
from agent.search.loop import ProgressCallback, SearchOutcome
from agent.search.pipeline import make_search
from agent.search.strategies import make_strategy
from agent.store.connect import DiskFullError
from agent.store.sqlite import Store
from sandboxes import close_sandbox, configure
from sandboxes.shared import configured, get_sandbox


@dataclass(frozen=True)
class RunResult:
    run_id: str
    task: str
    model: str
    strategy: str
    status: str
    outcomes: list[SearchOutcome]
    #: False when no problem has a held-out verifier: then there is no held-out result (not a 0% one)
    has_held_out: bool = True
    #: False when the model has no known price: a cost of 0 is then unknown, not free
    cost_known: bool = True

    @property
    def solve_rate(self) -> float:
        solved = [
            o for o in self.outcomes if o.best is not None and o.best.verdict.status is VerdictStatus.OK
        ]
        return len(solved) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def held_out_solve_rate(self) -> float | None:
        judged = [o for o in self.outcomes if o.held_out is not None]
        if not self.outcomes or not self.has_held_out:
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
            "has_held_out": self.has_held_out,
            "problems": [outcome_json(o, cost_known=self.cost_known) for o in self.outcomes],
        }


def _run_stop_reason(outcomes: list[SearchOutcome]) -> str:
    reasons = {o.stop_reason.value for o in outcomes}
    return reasons.pop() if len(reasons) == 1 else "mixed"


def outcome_json(o: SearchOutcome, *, cost_known: bool = True) -> dict[str, Any]:
    best = o.best
    return {
        "problem": o.problem_key,
        "stop_reason": o.stop_reason.value,
        "stop_detail": o.stop_detail,
        "iterations": o.iterations,
        "calls": o.spend.calls,
        "tokens": o.spend.tokens,
        "cost_usd": o.spend.cost_usd if cost_known else None,  # None: the model has no known price
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
    #: whether completions have a price (the user's, the table's, or free for a local model)
    cost_known: bool = True

    @property
    def model_spec(self) -> str:
        """The resolved model spec (the local default filled in), as stored with the run."""
        assert self.config.model is not None
        return self.config.model


def prepare(config: RunConfig, *, resuming: bool = False) -> PreparedRun:
    """Check and resolve `config` before any model call or store write; every failure is a ConfigError."""
    make_strategy(config.strategy)  # unknown strategy -> UnknownNameError before any work
    suite = _load_suite(config)
    problems = suite.select(config.problems)
    if not problems:
        raise ConfigError(f"no problems selected from {config.task}")
    if config.seed_program is not None:
        problems = [replace(task, seed_candidates=(config.seed_program,)) for task in problems]
    check_host_needs(config.task, problems)  # a missing extra: one line, before any model call
    sandbox = resolve_sandbox(config.task, config.sandbox, problems, resuming=resuming)
    model_spec = resolve_model_spec(config.model)
    module = REGISTRY.get(config.task).module  # registered by load_suite above
    budget = config.budget
    if budget.target is None and suite.default_target is not None:  # the user's --target wins
        budget = budget.model_copy(update={"target": suite.default_target})
    tokens, tokens_from = completion_cap(config, problems)
    resolved = config.model_copy(
        update={"model": model_spec, "task_module": module, "sandbox": sandbox.config, "budget": budget,
                "completion_tokens": tokens, "completion_tokens_from": tokens_from}
    )  # fmt: skip
    warnings = () if sandbox.warning is None else (sandbox.warning,)
    return PreparedRun(resolved, problems, warnings, cost_known=_check_price(resolved, model_spec))


def completion_cap(config: RunConfig, problems: list[Task]) -> tuple[int, str]:
    """The completion cap of the run and where it came from: as recorded (a resume), the user's (a flag or
    the config file), else the largest cap the selected problems declare (each answer fits), else the
    default. Only `max_tokens` changes: the prompts are the same whichever applies."""
    if config.completion_tokens_from is not None:
        return config.completion_tokens, config.completion_tokens_from
    if "completion_tokens" in config.model_fields_set:
        return config.completion_tokens, "config"
    caps = [t.completion_tokens for t in problems if t.completion_tokens is not None]
    return (max(caps), "task") if caps else (config.completion_tokens, "default")


def _check_price(config: RunConfig, spec: str) -> bool:
    """Whether the model's completions will have a price; a cost limit without one would never stop the
    search (every completion "costs" nothing), so it is refused unless the user gives the price."""
    if config.price_in is not None:
        return True
    specs = [m.spec for m in parse_ensemble(spec)] if is_ensemble_spec(spec) else [spec]
    known = all(pricing.table_prices(s) for s in specs)  # an ensemble is priced when every member is
    if not known and config.budget.cost_usd is not None:
        raise ConfigError(
            f"--cost-usd: {spec} has no known price, so a cost limit could not stop the search: "
            "give its price in USD per million tokens with --price-in and --price-out "
            "(or price_in/price_out in the config file)"
        )
    return known


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
        retry_window_s=config.retry_window_s,
        n_per_request=config.n_per_request,
    )
    if is_ensemble_spec(spec):  # several models, split per request by `model_split`
        members = [(m, _priced(config, make_model(m.spec, settings))) for m in parse_ensemble(spec)]
        return EnsembleModel(members, split=config.model_split, seed=config.seed)
    return _priced(config, make_model(spec, settings))


def _priced(config: RunConfig, model: Model) -> Model:
    if config.price_in is not None and config.price_out is not None:
        return pricing.PricedModel(model, pricing.Price(config.price_in, config.price_out))
    return model


def recorded_history(
    store: Store, run_id: str, problem_key: str
) -> Callable[[], tuple[list[RecordedHypothesis], dict[tuple[int, int], float]]]:
    """What an ensemble's bandit learns from: the search's hypotheses of finished iterations (as a resumed
    search restores them) and each call's cost, read from the store, so a resume makes the same choices.
    Read again only when another iteration has finished (what it reads changes only then)."""
    cache: dict[int, tuple[list[RecordedHypothesis], dict[tuple[int, int], float]]] = {}

    def read() -> tuple[list[RecordedHypothesis], dict[tuple[int, int], float]]:
        done = max((r.iteration for r in store.iterations(run_id, problem_key)), default=0)
        if done not in cache:
            entries = [e for e in store.hypotheses(run_id, problem_key) if e.hypothesis.iteration <= done]
            costs = {(c.iteration, c.sample): c.cost_usd or 0.0 for c in store.calls(run_id, problem_key)}
            cache.clear()
            cache[done] = (entries, costs)
        return cache[done]

    return read


async def execute(
    prepared: PreparedRun,
    store: Store,
    *,
    run_id: str | None = None,
    model: Model | None = None,
    on_progress: ProgressCallback | None = None,
    on_start: Callable[[str], None] | None = None,
) -> RunResult:
    """Run (or continue, given `run_id`) every selected problem's search; problems run one after another."""
    config = prepared.config
    previous_sandbox = configured()
    try:
        identity = await _ready_sandbox(prepared)  # before the run is recorded or the model built
    except BaseException:
        await close_sandbox()
        configure(previous_sandbox)
        raise
    try:
        executor = _build_executor(prepared, identity)  # joins a Ray cluster before anything is recorded
    except BaseException:
        await close_sandbox()
        configure(previous_sandbox)
        raise
    own_model = model is None
    model = model or build_model(config, prepared.model_spec)
    if run_id is None:
        run_id = store.create_run(config.task, config.model_dump_json(), task_module=config.task_module)
    else:
        store.set_run_status(run_id, "running")
    if on_start is not None:
        on_start(run_id)  # so that an interrupted run can say which run to resume
    outcomes: list[SearchOutcome] = []
    status = "interrupted"
    try:
        for position, task in enumerate(prepared.problems):
            store.start_search(run_id, task.key, position)
            if isinstance(model, EnsembleModel):  # its bandit learns from this search's records
                model.attach(recorded_history(store, run_id, task.key))
            search = make_search(  # the `loop` setting's (agent/search/pipeline.py)
                config.loop,
                task=task,
                model=model,
                strategy=make_strategy(config.strategy),
                budget=config.budget,
                store=store,
                run_id=run_id,
                settings=config,  # a RunConfig is its search settings
                on_progress=on_progress,
                sandbox_identity=identity,
                executor=executor,
            )
            outcomes.append(await search.run())
            if outcomes[-1].stop_reason is StopReason.INFRASTRUCTURE:
                status = "failed"  # the same cause would fail the next problems: stop, resumably
                break
            if outcomes[-1].stop_reason is StopReason.MODEL_ERROR:
                status = "model_error"  # an outage or a wrong --base-url fails the next problems too
                break
        else:
            status = "finished"
    except DiskFullError as e:
        status = "disk_full"
        raise RunStopped(
            f"run {run_id} stopped: {e}; finished work is saved: free some space and continue with "
            f"`assay resume {run_id}`"
        ) from None
    finally:
        result = _result(prepared, run_id, status, outcomes)
        _record_status(store, run_id, status, result)
        if own_model:
            await model.close()
        await executor.aclose()
        await close_sandbox()  # verifiers share one sandbox per process; release its containers
        configure(previous_sandbox)
    if status == "failed":
        raise InfrastructureStop(result)
    if status == "model_error":
        raise ModelStop(result)
    return result


def _result(prepared: PreparedRun, run_id: str, status: str, outcomes: list[SearchOutcome]) -> RunResult:
    config = prepared.config
    return RunResult(
        run_id, config.task, prepared.model_spec, config.strategy, status, outcomes,
        has_held_out=any(task.held_out is not None for task in prepared.problems),
        cost_known=prepared.cost_known,
    )  # fmt: skip


def _record_status(store: Store, run_id: str, status: str, result: RunResult) -> None:
    """The run's status (and summary); on a full disk as much as still fits: the status, if anything."""
    if status != "disk_full":
        store.set_run_status(run_id, status, None if status == "interrupted" else result.to_json())
        return
    with contextlib.suppress(StoreError):  # nothing fits any more: it reads as `running`, resumes the same
        store.set_run_status(run_id, status)


class RunStopped(AssayError):
    """The run stopped before it completed (the model failed, the disk is full): its finished work is
    saved and `assay resume` continues it. Exit status 3, so a script can tell it from a usage error."""

    exit_code = 3


class ModelStop(RunStopped):
    """The model failed after its retries (an outage, a wrong --base-url, a timeout too short)."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        last = result.outcomes[-1]
        super().__init__(
            f"{last.problem_key}: stopped: {last.stop_detail}; finished work is saved. Fix the cause "
            f"and continue with `assay resume {result.run_id}` (it takes --base-url, --request-timeout, "
            "--retry-window and budget flags)"
        )


async def _ready_sandbox(prepared: PreparedRun) -> str:
    """Configure and build the run's shared sandbox and check that its jobs have the packages the tasks
    need; returns its identity ("none" for tasks that run no candidate code)."""
    config = prepared.config
    if config.sandbox is not None:  # the verifiers' shared sandbox: the one resolved and recorded here
        await close_sandbox()  # one built before under another configuration must not be reused
        configure(config.sandbox)
    identity = await sandbox_identity(prepared.problems)
    if identity != NO_SANDBOX:
        await check_sandbox_needs(config.task, prepared.problems, await get_sandbox(), config.sandbox)
    return identity


def _build_executor(prepared: PreparedRun, identity: str) -> Executor:
    """Where the run's verifications go (its `executor`): a remote one's workers rebuild the verifiers
    from the run's recipe and must report the same sandbox identity as this process's sandbox."""
    config = prepared.config
    context = ExecutorContext(
        capacity=config.verify_concurrency,
        problems=prepared.problems,
        source=RunVerifiers.of(config),
        sandbox_identity=identity,
    )
    return build_executor(config.executor, context)


class InfrastructureStop(RunStopped):
    """A search stopped because the same infrastructure failure kept repeating: the run is recorded as
    failed, with its searches left unfinished, so `assay resume` continues it once the cause is fixed."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        last = result.outcomes[-1]
        super().__init__(
            f"{last.problem_key}: stopped, {last.stop_detail}; no more answers were asked of the model. "
            f"Fix the cause and continue with `assay resume {result.run_id}`"
        )


def resumed_config(store: Store, run_id: str, config: RunConfig, changes: dict[str, Any]) -> RunConfig:
    """The stored config with what `assay resume` was given (a budget limit, --base-url, ...) replaced,
    validated like a new run's and recorded with the run, so a later resume repeats it."""
    given = {k: v for k, v in changes.items() if v is not None}
    if not given:
        return config
    values = config.model_dump()
    budget = dict(values.pop("budget"))
    for key, value in given.items():
        if key in budget:
            budget[key] = value
        elif key == "ray_address":  # the cluster was restarted elsewhere: same executor, new address
            if values["executor"]["type"] != "ray":
                raise ConfigError(
                    f"--ray-address: run {run_id} verifies with the {values['executor']['type']} executor"
                )
            values["executor"] = {**values["executor"], "address": value}
        else:
            values[key] = value
    try:
        updated = RunConfig.model_validate({**values, "budget": budget})
    except ValidationError as e:
        raise ConfigError(describe_validation_error(e)) from None
    store.set_run_config(run_id, updated.model_dump_json())
    return updated


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
