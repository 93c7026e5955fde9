"""The reward evaluator: train with a candidate reward in the sandbox, score the policies on the host.

The candidate's `compute_reward` is untrusted, so training with it runs inside the sandbox (the job ships the
simulator, the trainer, `shipped/runner.py` and the candidate's own server, all pure numpy). Inside the job
the candidate never shares a process with the trainer: the trusted runner calls it in a fresh process per
seed with arrays and checks what comes back (`shipped/runner.py`, `verifiers/peer/shipped/peer.py`), so it
can choose reward values but not what the trainer does with them. The runner's config (seeds, the seed salt,
the record's nonce) travels on stdin. The job returns the trained policies; the host decodes and validates
them and measures the task's true success with its own copy of the simulator on fixed evaluation starts.
What the job reports about training (component statistics) only becomes feedback for the model, and
whatever the record holds becomes the candidate's verdict, never an exception out of `verify`.

A candidate may mark module-level constants as TUNABLE (`verifiers/reward/tunable.py`); then an inner
optimiser (`verifiers/reward/tuning.py`) tunes them on separate seeds first and the verdict is for the tuned
values. Without TUNABLE a verdict is exactly what it was before tuning existed.
"""

from __future__ import annotations

import ast
import base64
import json
import math
import secrets
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from agent.kernel.errors import VerifierError
from agent.kernel.identity import fingerprint
from agent.kernel.sandbox import ExecResult, Job, Limits, Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from verifiers import names as shared_names
from verifiers.peer import PEER_SOURCE, salt_id, seed_salt
from verifiers.reward import feedback, precheck, tunable, tuning
from verifiers.reward.feedback import merge_windows, reflection
from verifiers.reward.problem import MORE_SEARCH_SEEDS, SEARCH_SEEDS, RewardProblem
from verifiers.reward.tunable import TunableError, parse_tunable
from verifiers.reward.tuning import Tuner, Tuning, with_tuning
from verifiers.sandboxed import MalformedRun, python_job, read_record, run_job, unfinished

SHIPPED = Path(__file__).parent / "shipped"
RUNNER_SOURCE = (SHIPPED / "runner.py").read_text(encoding="utf-8")
SERVER_SOURCE = (SHIPPED / "reward_server.py").read_text(encoding="utf-8")
DRY_RUN_SOURCE = (SHIPPED / "dry_run.py").read_text(encoding="utf-8")
#: the runner's result marker and component limit (the shipped files import modules only the job has;
#: tests/verifiers/reward check that these match them)
RESULT_MARK = "@@ASSAY-REWARD-RESULT@@"
MAX_COMPONENTS = 16
#: longest message or traceback from a record that is shown to the model
MAX_TEXT = 8000
#: the host-side code a verdict depends on (its checks, decoding, feedback and tuning)
HOST_MODULES = (sys.modules[__name__], feedback, precheck, shared_names, tunable, tuning)
#: per seed; a vectorised reward costs microseconds per step, so this only stops rewards that loop in Python
WALL_PER_SEED_S = 30.0


@dataclass(frozen=True)
class Trained:
    """The host's measurement of one finished job."""

    per_seed: dict[int, float]
    policies: tuple[np.ndarray, ...]
    windows: dict[str, list[float | None]]
    cpu_s: float
    own_return: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(self.per_seed.values()) / len(self.per_seed)


def check_source(source: str) -> str | None:
    """Why the source cannot be a candidate (None if it can); compiling never runs the code."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        return f"SyntaxError: {e.msg} (line {e.lineno})"
    except (MemoryError, RecursionError, ValueError) as e:  # nesting too deep for the parser, NUL bytes
        return f"the code cannot be parsed ({type(e).__name__}: {str(e)[:200]})"
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    if "compute_reward" not in names:
        return "the code must define a top-level function `compute_reward(obs, action, next_obs, done)`"
    return None


def decode_policy(blob: Any, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(blob, dict) or blob.get("shape") != list(shape) or not isinstance(blob.get("b64"), str):
        raise MalformedRun(f"policy is not a float64 array of shape {shape}")
    try:
        raw = base64.b64decode(blob["b64"], validate=True)
    except ValueError as e:
        raise MalformedRun(f"policy is not valid base64: {e}") from None
    if len(raw) != 8 * math.prod(shape):
        raise MalformedRun(f"policy has {len(raw)} bytes, expected {8 * math.prod(shape)}")
    policy = np.frombuffer(raw, dtype=np.float64).reshape(shape).copy()
    if not np.isfinite(policy).all():
        raise MalformedRun("policy contains NaN or inf")
    return policy


def decode_windows(log: Any) -> dict[str, list[float | None]]:
    windows = log.get("windows") if isinstance(log, dict) else None
    if not isinstance(windows, dict) or len(windows) > MAX_COMPONENTS + 3:
        raise MalformedRun("training log has no windows")
    out: dict[str, list[float | None]] = {}
    for name, series in windows.items():
        if not isinstance(name, str) or len(name) > 60 or not isinstance(series, list) or len(series) > 50:
            raise MalformedRun("training log windows are malformed")
        values: list[float | None] = []
        for v in series:
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float) or not abs(v) <= 1e300
            ):
                raise MalformedRun("training log windows are malformed")  # also NaN (not <=), huge ints
            values.append(None if v is None else float(v))
        out[name] = values
    return out


def _text(value: object) -> str:
    """A record's message as text of bounded length (it may be anything JSON can hold)."""
    text = value if isinstance(value, str) else "" if value is None else repr(value)[:MAX_TEXT]
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT // 4] + "\n...\n" + text[-MAX_TEXT // 2 :]


def _exception_text(record: dict[str, Any], where: str) -> str:
    """The feedback for a reward that raised: the line it names first, then its own frames (if any)."""
    message, tb = _text(record.get("message")), _text(record.get("traceback"))
    if record.get("phase") == "load":  # "while loading your code: ..." or "... on 16 sample steps ...: ..."
        head = f"Checked before training: {message}" if message else "compute_reward raised while loading"
    else:
        head = f"compute_reward raised while training{where}" + (f": {message}" if message else "")
    return f"{head}\n{tb}".strip()


def _finite(value: object) -> float:
    """A finite non-negative float from a record's number, else 0 (metrics only, never the score)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        number = float(value)
    except OverflowError:
        return 0.0
    return number if math.isfinite(number) and number >= 0 else 0.0


class RewardEvaluator:
    """Search verifier for a reward problem: train on `seeds` in the sandbox, score success on the host."""

    def __init__(
        self,
        problem: RewardProblem,
        *,
        seeds: Sequence[int] = SEARCH_SEEDS,
        name: str | None = None,
        limits: Limits | None = None,
        sandbox: Sandbox | None = None,
        randomise: dict[str, list[float]] | None = None,
        tuner: Tuner | None = None,
        more_seeds: Sequence[int] | None = None,
    ) -> None:
        """`more_seeds`: the seeds a re-verification adds to `seeds` (`verify_at`); None: MORE_SEARCH_SEEDS
        for the search seeds, none for any other seeds (a held-out verifier is never re-verified)."""
        self.problem = problem
        self.seeds = tuple(seeds)
        default_more = MORE_SEARCH_SEEDS if self.seeds == SEARCH_SEEDS else ()
        self.more_seeds = tuple(default_more if more_seeds is None else more_seeds)
        self.name = name or f"reward-{problem.name}"
        self.limits = limits or Limits(
            wall_s=15.0 + WALL_PER_SEED_S * len(self.seeds), memory_mb=1024, cpus=1.0
        )
        self.randomise = randomise
        self.tuner = tuner or Tuner()
        self._sandbox = sandbox

    @cached_property
    def version(self) -> str:
        """Everything that can change a verdict: seeds, limits, randomisation, the tuner's plan, the problem
        (simulator, trainer and their settings), the shipped programs, and the host-side scoring code."""
        grader = sys.modules[type(self.problem).__module__]
        return fingerprint(
            self.seeds,
            *((("more_seeds", self.more_seeds),) if self.more_seeds else ()),
            self.limits,
            self.randomise,
            self.tuner.plan(),
            self.problem,
            self.problem.job_files(),
            RUNNER_SOURCE,
            SERVER_SOURCE,
            DRY_RUN_SOURCE,
            PEER_SOURCE,
            salt_id(),
            grader,
            *HOST_MODULES,
        )

    def job(
        self, source: str, seeds: Sequence[int] | None = None, constants: dict[str, float] | None = None
    ) -> Job:
        """The job: the trusted runner with its config on stdin (seeds, salt, tuned constants, the record's
        nonce: nothing in a file, where the candidate could read which split is judging it)."""
        config: dict[str, Any] = {
            "seeds": list(self.seeds if seeds is None else seeds),
            "trainer_config": self.problem.trainer_config,
            "randomise": self.randomise,
            "constants": constants or {},
            "salt": seed_salt(),
            "nonce": secrets.token_hex(16),
        }
        files: dict[str, bytes | str] = {
            **self.problem.job_files(),
            "runner.py": RUNNER_SOURCE,
            "reward_server.py": SERVER_SOURCE,
            "dry_run.py": DRY_RUN_SOURCE,
            "peer.py": PEER_SOURCE,
            "candidate.py": source,
        }
        return python_job("runner.py", files, self.limits, stdin=json.dumps(config).encode())

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        started = time.monotonic()
        verdict, _, _ = await self.train_tuned(hypothesis.content)
        return verdict.model_copy(update={"duration_s": time.monotonic() - started})

    @property
    def fidelities(self) -> tuple[int, ...]:
        """The seed counts it judges on (the kernel's MultiFidelityVerifier): `verify` on `seeds`, a
        re-verification on `seeds` + `more_seeds`."""
        n = len(self.seeds)
        return (n, n + len(self.more_seeds)) if self.more_seeds else (n,)

    async def verify_at(self, hypothesis: Hypothesis, seeds: int) -> Verdict:
        """The verdict on the first `seeds` of `seeds` + `more_seeds` (the same tuning: it is seeded from
        the source), with a wall limit scaled to the number of trainings."""
        if seeds not in self.fidelities:
            raise VerifierError(f"{self.name} judges on {self.fidelities} seeds, not {seeds}")
        if seeds == len(self.seeds):
            return await self.verify(hypothesis)
        wall = self.limits.wall_s * seeds / len(self.seeds)
        wider = RewardEvaluator(
            self.problem, seeds=(*self.seeds, *self.more_seeds)[:seeds], name=self.name,
            limits=self.limits.model_copy(update={"wall_s": wall}), sandbox=self._sandbox,
            randomise=self.randomise, tuner=self.tuner, more_seeds=(),
        )  # fmt: skip
        return await wider.verify(hypothesis)

    async def train_tuned(self, source: str) -> tuple[Verdict, Trained | None, Tuning | None]:
        """Tune the constants the source marks TUNABLE (if any), then train on the verifier's seeds."""
        problem = check_source(source)
        if problem is None and (static := self.static_check(source)) is not None:
            return static, None, None
        try:
            tunables = parse_tunable(source) if problem is None else ()
        except TunableError as e:
            return Verdict(status=VerdictStatus.INVALID, feedback=f"Bad TUNABLE: {e}"), None, None
        if not tunables:  # also reports an invalid source, through train
            verdict, trained = await self.train(source)
            return verdict, trained, None
        tuning = await self.tuner.tune(self, source, tunables)
        verdict, trained = await self.train(source, constants=tuning.constants)
        return with_tuning(verdict, tuning), trained, tuning

    async def train(
        self, source: str, seeds: Sequence[int] | None = None, *, constants: dict[str, float] | None = None
    ) -> tuple[Verdict, Trained | None]:
        """Train with `source` on `seeds` (default: the verifier's), its constants set to `constants`."""
        problem = check_source(source)
        if problem is not None:
            return Verdict(
                status=VerdictStatus.INVALID, feedback=f"Not a valid reward function: {problem}"
            ), None
        if (static := self.static_check(source)) is not None:
            return static, None
        use = self.seeds if seeds is None else tuple(seeds)
        job = self.job(source, use, constants)
        result = await run_job(job, self._sandbox)
        nonce = json.loads(job.stdin or b"{}")["nonce"]
        return await self.judge(result, use, nonce=nonce)

    def static_check(self, source: str) -> Verdict | None:
        """The host's check before any job is sent (a scaffold's hole left unfilled, names used but never
        defined, a helper hidden by a local of its name), as a verdict, or None."""
        missing = (
            precheck.placeholder(source)
            or precheck.undefined_names(source, precheck.scope(self.problem.sim))
            or shared_names.read_before_assigned(source)
        )
        if missing is None:
            return None
        return Verdict(status=VerdictStatus.INVALID, feedback=f"Checked before training: {missing}")

    async def judge(
        self, result: ExecResult, seeds: Sequence[int], *, nonce: str | None = None
    ) -> tuple[Verdict, Trained | None]:
        """Turn what the job reported into a verdict; the score always comes from the host's own rollouts.

        Every field of the record is hostile input (the runner is trusted, but a sandbox escape or a bug
        could hand us anything): whatever it holds becomes the candidate's verdict, never an exception."""
        try:
            return await self._judge(result, seeds, nonce)
        except (MalformedRun, TypeError, ValueError, OverflowError, AttributeError, KeyError) as e:
            return Verdict(
                status=VerdictStatus.ERROR, feedback=f"The job returned a malformed result: {str(e)[:500]}"
            ), None

    async def _judge(
        self, result: ExecResult, seeds: Sequence[int], nonce: str | None
    ) -> tuple[Verdict, Trained | None]:
        record = read_record(result.stdout, RESULT_MARK, nonce=nonce)
        ended = unfinished(result, finished=record is not None)
        if ended is not None and ended.kind == "timeout":
            msg = (
                f"Training timed out after {self.limits.wall_s:g} s for {len(seeds)} seeds. compute_reward "
                "is called with whole batches of environment steps: vectorise it with numpy (no Python "
                "loops over environments) and keep it cheap."
            )
            return Verdict(status=VerdictStatus.TIMEOUT, feedback=msg), None
        if ended is not None and ended.kind == "oom":
            return Verdict(status=VerdictStatus.ERROR, feedback="Training ran out of memory."), None
        if ended is not None or record is None:
            how, tail = (ended.how, ended.stderr_tail) if ended else ("no record", "")
            return Verdict(
                status=VerdictStatus.ERROR, feedback=f"Training ended without a result ({how}).\n{tail}"
            ), None
        status = record.get("status")
        seed = record.get("seed")
        where = f" (seed {seed})" if isinstance(seed, int) and seed in seeds else ""
        if status == "bad_reward" and record.get("phase") == "load":  # what it returned on sample steps
            msg = f"Checked before training: {_text(record.get('message'))}"
            return Verdict(status=VerdictStatus.FAIL, feedback=msg), None
        if status == "bad_reward":
            msg = f"Training stopped{where}: {_text(record.get('message'))}".strip()
            return Verdict(
                status=VerdictStatus.FAIL, feedback=msg + "\nReturn finite values of the right shape."
            ), None
        if status == "over_budget":
            msg = (
                f"Training stopped{where}: compute_reward used more than its CPU budget for one training. "
                "It is called with whole batches of environment steps: vectorise it with numpy (no Python "
                "loops over environments) and keep it cheap."
            )
            return Verdict(status=VerdictStatus.TIMEOUT, feedback=msg), None
        if status == "exception":
            return Verdict(status=VerdictStatus.ERROR, feedback=_exception_text(record, where)), None
        if status != "ok":
            shown = _text(status)[:80]
            return Verdict(
                status=VerdictStatus.ERROR, feedback=f"Malformed training result (status {shown!r})."
            ), None
        trained = await self._measure(record, seeds)
        return self._verdict(trained, seeds, result), trained

    async def _measure(self, record: dict[str, Any], seeds: Sequence[int]) -> Trained:
        import asyncio

        runs = record.get("runs")
        if not isinstance(runs, list) or [
            r.get("seed") if isinstance(r, dict) else None for r in runs
        ] != list(seeds):
            raise MalformedRun("the runs do not match the requested seeds")
        shape = self.problem.policy_shape()
        policies = [decode_policy(r.get("policy"), shape) for r in runs]
        windows = [decode_windows(r.get("log")) for r in runs]
        cpu = sum(_finite(r.get("cpu_s")) for r in runs)
        reward_cpu = max(_finite(r.get("reward_cpu_s")) for r in runs)
        success = await asyncio.to_thread(lambda: [self.problem.evaluate(p) for p in policies])
        merged = merge_windows(windows)
        returns = [v for v in merged.get("return", []) if v is not None]
        return Trained(
            per_seed=dict(zip(seeds, success, strict=True)),
            policies=tuple(policies),
            windows=merged,
            cpu_s=cpu,
            own_return=returns[-1] if returns else None,
            extra={"reward_cpu_s_max": reward_cpu},
        )

    def _verdict(self, trained: Trained, seeds: Sequence[int], result: ExecResult) -> Verdict:
        metrics: dict[str, float] = {f"success_seed_{s}": v for s, v in trained.per_seed.items()}
        metrics["train_wall_s"] = result.wall_s
        metrics["train_cpu_s"] = trained.cpu_s
        metrics.update(trained.extra)  # the candidate process's CPU seconds for its costliest seed
        for name, series in trained.windows.items():
            present = [v for v in series if v is not None]
            if name.startswith("component:") and present:
                metrics[f"{name.split(':', 1)[1]}_final"] = present[-1]
        if trained.own_return is not None:  # after the components: a component named own_return is not it
            metrics["own_return_final"] = trained.own_return
        feedback = reflection(
            trainer_name=self.problem.trainer.__name__.rsplit(".", 1)[-1],
            seeds=seeds,
            windows=trained.windows,
            per_seed_success=list(trained.per_seed.values()),
            success_text=self.problem.success_text,
            eval_starts=self.problem.eval_starts,
        )
        passed = trained.score >= self.problem.target
        return Verdict(
            status=VerdictStatus.OK if passed else VerdictStatus.FAIL,
            score=trained.score,
            metrics=metrics,
            feedback=feedback,
        )


def require_ok(verdict: Verdict, what: str) -> float:
    """The score of a verdict that must have trained (a baseline): its failure is the verifier's own."""
    if verdict.score is None:
        raise VerifierError(f"{what} did not train: {verdict.status.value}: {verdict.feedback[:500]}")
    return verdict.score
