"""The Ray executor: verifications run on worker actors of a Ray cluster, each with its own sandbox pool.

What crosses to a worker is a hypothesis and a reference to a verifier (problem key, role, name, version,
seeds), never a verifier object: each worker builds the run's verifiers itself, once, from the run's
picklable `VerifierSource` (task, module, problems, sandbox settings), so the grader, its seeds and the
sandbox all live on the worker, and the orchestrator keeps the hypotheses, the verdicts and the store. The
worker refuses a reference whose `version` differs from the verifier it built (other code or data on that
node would judge differently): that is an infrastructure failure, never a verdict.

Faults. A worker actor that dies mid-verification (its process killed, its node lost) is infrastructure:
Ray restarts the actor, and the job is tried again on another worker, `attempts` times in all; after that it
raises `SandboxError`, which the loop retries and finally records as an unscored `error`. A candidate that
kills its own sandbox process is not a dead worker: the sandbox turns that into the candidate's verdict.

The verdict cache. Its key carries the run's sandbox identity (what the orchestrator's own sandbox of the
configured kind reports). Each worker reports the identity of the sandbox it built with every verdict, and a
verdict from a worker whose identity differs (another image, a process sandbox without bubblewrap) is
refused as an infrastructure failure. So the cache is not partitioned per worker: a verdict is cached only
under the identity of the sandbox that produced it, and a cache hit never depends on which node ran the job.

Every verdict is validated again by the loop (`revalidated_verdict`) after it crossed from the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.kernel.errors import AssayError, ConfigError, SandboxError, VerifierError
from agent.kernel.types import Hypothesis, Verdict
from agent.kernel.verifier import MultiFidelityVerifier, Verifier
from agent.search.halving import AtFidelity

if TYPE_CHECKING:
    from agent.search.executors.abstract import VerifierSource, WorkerVerifiers
    from agent.search.executors.config import ExecutorContext, RayExecutorConfig

#: the one-line install hint of the optional extra
INSTALL = "pip install -e '.[ray]'"


def import_ray() -> Any:
    """`ray`, or the one-line error that says how to install it (it is an optional extra)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"the Ray executor (--executor ray) needs the `ray` package, which is not installed: {INSTALL}"
        ) from None
    return ray


@dataclass(frozen=True)
class VerifierRef:
    """Which verifier a worker should use: the problem's verifier for `role`, at `seeds` seeds (None: its
    `verify`), checked against `name` and `version` (the identity of all that can change a verdict)."""

    problem_key: str
    role: str
    name: str
    version: str
    seeds: int | None = None


#: what a worker answers: ("verdict", Verdict, identity) or (error kind, message, identity)
Outcome = tuple[str, Any, str]
_RAISES: dict[str, type[Exception]] = {"SandboxError": SandboxError, "VerifierError": VerifierError}


class VerificationWorker:
    """A Ray actor (async): opens the source on its first job (its own sandbox pool, in its own process)
    and runs the verifications it is sent. Never raises: every outcome is data, so nothing of the
    verifier's exceptions has to survive pickling."""

    def __init__(self, source: VerifierSource) -> None:
        self._source = source
        self._opened: WorkerVerifiers | None = None
        self._lock = asyncio.Lock()

    async def _side(self) -> WorkerVerifiers:
        async with self._lock:
            if self._opened is None:
                self._opened = await self._source.open()
            return self._opened

    async def verify(self, ref: VerifierRef, hypothesis: Hypothesis) -> Outcome:
        try:
            side = await self._side()
        except Exception as e:  # the worker cannot build the run's verifiers: infrastructure
            kind = "SandboxError" if isinstance(e, SandboxError) else "VerifierError"
            return kind, f"the Ray worker could not build the verifiers: {_one_line(e)}", ""
        verifier = side.verifier(ref.problem_key, ref.role)
        if verifier is None or verifier.name != ref.name or verifier.version != ref.version:
            found = "none" if verifier is None else f"{verifier.name} {verifier.version}"
            return (
                "VerifierError",
                (
                    f"the Ray worker's {ref.role} verifier of {ref.problem_key} is {found}, not "
                    f"{ref.name} {ref.version}: its code or data differ from the orchestrator's"
                ),
                side.identity,
            )
        if ref.seeds is not None:
            if not isinstance(verifier, MultiFidelityVerifier):
                return "VerifierError", f"{ref.name} cannot verify on {ref.seeds} seeds", side.identity
            verifier = AtFidelity(verifier, ref.seeds)
        try:
            return "verdict", await verifier.verify(hypothesis), side.identity
        except (SandboxError, VerifierError) as e:
            return type(e).__name__ if type(e).__name__ in _RAISES else _base_kind(e), str(e), side.identity
        except Exception as e:  # a verifier bug: reported as data by the loop, as it is locally
            return "bug", "".join(traceback.format_exception_only(e)).strip()[:2000], side.identity

    async def aclose(self) -> None:
        if self._opened is not None:
            await self._opened.aclose()
            self._opened = None


def _base_kind(error: Exception) -> str:
    return "SandboxError" if isinstance(error, SandboxError) else "VerifierError"


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]


@dataclass
class _Worker:
    index: int
    handle: Any
    busy: int = 0


class RayExecutor:
    """Verifications on Ray worker actors (see the module docstring); `capacity` = workers x slots."""

    def __init__(self, config: RayExecutorConfig, context: ExecutorContext) -> None:
        ray = import_ray()
        self._ray = ray
        self._config = config
        self._source = context.source
        self._identity = context.sandbox_identity
        self._by_id: dict[int, tuple[Verifier, str, str]] = {}
        self._by_name: dict[tuple[str, str, str], str] = {}
        for task in context.problems:
            for role, verifier in (("search", task.verifier), ("held_out", task.held_out)):
                if verifier is not None:
                    self._by_id[id(verifier)] = (verifier, task.key, role)
                    self._by_name.setdefault((role, verifier.name, verifier.version), task.key)
        self._connect()
        workers = config.workers or max(1, len([n for n in ray.nodes() if n.get("Alive")]))
        slots = config.slots or context.capacity
        self.capacity = workers * slots
        self._slots = asyncio.Semaphore(self.capacity)
        actor = ray.remote(VerificationWorker).options(
            max_concurrency=slots,
            max_restarts=-1,  # a lost worker comes back (elsewhere if its node is gone) ...
            max_task_retries=0,  # ... but its jobs are retried here, on another worker, and counted
            num_cpus=config.cpus_per_worker,
            scheduling_strategy="SPREAD",
        )
        self._workers = [_Worker(i, actor.remote(self._source)) for i in range(workers)]
        self._lost = self._lost_errors(ray)
        self._closed = False
        self._started: asyncio.Future[None] | None = None

    def _connect(self) -> None:
        """Join the cluster (once per process; a second executor reuses the connection)."""
        if self._ray.is_initialized():
            return
        address = self._config.address or os.environ.get("RAY_ADDRESS") or "auto"
        try:
            self._ray.init(
                address=address,
                log_to_driver=False,  # the run's stdout is its result (--json): workers' logs stay theirs
                logging_level=logging.WARNING,
                configure_logging=True,
            )
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ConfigError(
                f"--ray-address {address}: cannot join the Ray cluster ({_one_line(e)}); start one with "
                "`ray start --head` or give the head's HOST:PORT"
            ) from None
        # The driver prints the cluster's error notes ("(raylet) A worker died ...") on stdout, even with
        # log_to_driver=False, which would corrupt `assay run --json`; a lost worker is reported here, as
        # the SandboxError of its job. Ray has no public switch for it: this is the one its debugger uses.
        driver = getattr(getattr(self._ray, "_private", None), "worker", None)
        if driver is not None and hasattr(driver, "_worker_logs_enabled"):
            driver._worker_logs_enabled = False

    @staticmethod
    def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
        """The errors that mean the worker, not the job, was lost."""
        e = ray.exceptions
        return (
            e.RayActorError, e.ActorUnavailableError, e.WorkerCrashedError, e.NodeDiedError,
            e.ObjectLostError, e.OwnerDiedError, e.LocalRayletDiedError,
        )  # fmt: skip

    def _ref(self, role: str, verifier: Verifier) -> VerifierRef:
        inner, seeds = (
            (verifier.inner, verifier.seeds) if isinstance(verifier, AtFidelity) else (verifier, None)
        )
        known = self._by_id.get(id(inner))
        key = known[1] if known is not None and known[0] is inner else None
        key = key or self._by_name.get((role, inner.name, inner.version))
        if key is None:
            raise VerifierError(
                f"the Ray executor cannot send {inner.name!r} to a worker: no problem of this run has it "
                f"as its {role} verifier (a worker can only rebuild the run's own verifiers)"
            )
        return VerifierRef(key, role, inner.name, inner.version, seeds)

    async def _ready(self) -> None:
        """Wait, once, until the worker actors are placed and running; a cluster without room for them
        (fewer free CPUs than `workers` x `cpus_per_worker`) would otherwise leave every job pending."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._wait_started())
        await asyncio.shield(self._started)

    async def _wait_started(self) -> None:
        waits = [w.handle.__ray_ready__.remote() for w in self._workers]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout=self._config.start_timeout_s)
        except TimeoutError:
            raise SandboxError(
                f"the {len(waits)} Ray workers did not start within {self._config.start_timeout_s:.0f} s: "
                f"the cluster needs {self._config.cpus_per_worker:g} free CPU(s) for each"
            ) from None
        except self._lost:
            pass  # a worker lost while starting is restarted; its jobs are retried as any lost job's

    def _choose(self, tried: set[int]) -> _Worker:
        """The least busy worker not tried yet for this job (any, once all were tried)."""
        fresh = [w for w in self._workers if w.index not in tried] or self._workers
        return min(fresh, key=lambda w: (w.busy, w.index))

    async def verify(self, role: str, verifier: Verifier, hypothesis: Hypothesis) -> Verdict:
        if self._closed:
            raise SandboxError("the Ray executor is closed")
        ref = self._ref(role, verifier)
        await self._ready()
        tried: set[int] = set()
        lost = ""
        for _attempt in range(self._config.attempts):
            async with self._slots:
                worker = self._choose(tried)
                worker.busy += 1
                try:
                    outcome = await worker.handle.verify.remote(ref, hypothesis)
                except self._lost as e:
                    tried.add(worker.index)
                    lost = _one_line(e)
                    continue
                except self._ray.exceptions.RayError as e:  # the call itself failed (not the verifier)
                    raise VerifierError(f"the Ray call failed: {_one_line(e)}") from None
                finally:
                    worker.busy -= 1
            return self._verdict(outcome)
        raise SandboxError(
            f"the Ray worker verifying this candidate was lost {self._config.attempts} times ({lost})"
        )

    def _verdict(self, outcome: Outcome) -> Verdict:
        kind, payload, identity = outcome
        if kind == "verdict" and self._identity is not None and identity != self._identity:
            raise SandboxError(
                f"a Ray worker's sandbox is {identity!r}, not the run's {self._identity!r}: its verdicts "
                "would be cached as another sandbox's; give every node the same sandbox"
            )
        if kind == "verdict":
            return payload  # validated again by the loop, as every verifier's result is
        if kind in _RAISES:
            raise _RAISES[kind](payload)
        raise RemoteVerifierBug(payload)

    async def aclose(self) -> None:
        """Stop the worker actors (their sandboxes go with their processes); the connection to the cluster
        stays for the rest of the process, so another executor joins without a second start-up."""
        if self._closed:
            return
        self._closed = True
        for worker in self._workers:
            # a worker that cannot close its sandbox is killed with it
            with contextlib.suppress(TimeoutError, AssayError, self._ray.exceptions.RayError):
                await asyncio.wait_for(worker.handle.aclose.remote(), timeout=30)
            self._ray.kill(worker.handle, no_restart=True)


class RemoteVerifierBug(Exception):
    """A verifier raised something else than SandboxError/VerifierError on a worker: a bug, which the
    loop reports as data (as it does for a local verifier's bug)."""
