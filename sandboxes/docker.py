"""The docker sandbox: a warm pool of hardened containers, each running the persistent worker.

The host talks to each worker over the container's attach socket (stdin/stdout, length-prefixed frames), so a
job costs one fork inside a warm container instead of a `docker run` (~300 ms) or `exec_run` (~60 ms). The
worker runs as container-root with only SETUID/SETGID (to drop each job to the container's own random uid and
to sweep as that uid); jobs run with no capabilities at all. Containers are labelled with their owner process,
so a crashed run's leftovers are removed at the next start, and every container of this process at exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import random
import socket
import threading
import time
from pathlib import Path
from typing import Any, Protocol

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.types import LogConfig, Ulimit
from requests.exceptions import RequestException

from agent.kernel.errors import SandboxError
from agent.kernel.sandbox import ExecResult, Job
from sandboxes.cpu import vector_level
from sandboxes.image.recipe import DEFAULT_IMAGE, IMAGE_PATH, RECIPE_LABEL, default_recipe, recipe_tag
from sandboxes.pool import WorkerHandle, WorkerPool
from sandboxes.process import send_all
from sandboxes.protocol import DockerStreamSource, FrameReader, WorkerLost
from sandboxes.worker import shipped_source


class DockerSettings(Protocol):
    """What this backend reads of its configuration (`sandboxes.config.DockerSandboxConfig`, which builds
    it). Declared here rather than imported, so the config can import the backend lazily without a cycle."""

    image: str
    pool_size: int
    memory_mb: int
    pids: int
    cpus: float
    tmp_mb: int
    work_mb: int
    max_jobs_per_container: int
    retries: int
    start_timeout_s: float


LABEL = "assay.sandbox"
OWNER_LABEL = "assay.owner"
WORKER_SOURCE = shipped_source()
#: what a job's uid can write in a container besides /work (read-only root; audited by a test that tries
#: every directory): the worker clears these of the uid's files, and its SysV IPC objects, between jobs
CONTAINER_WRITABLE = ("/tmp", "/dev/shm", "/dev/mqueue")
CONTAINER_FSIZE = 1 << 30
CONTAINER_NOFILE = 4096
log = logging.getLogger("assay.sandbox")


def _process_start(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()[19].decode()


def owner_id(pid: int | None = None) -> str:
    """host:pid:start-time, so a reused pid is not mistaken for a live owner."""
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname():
        return True  # not ours to judge: another machine shares this daemon
    return pid.isdigit() and _process_start(int(pid)) == start


def remove_leftovers(client: docker.DockerClient, *, only_owner: str | None = None) -> int:
    """Remove sandbox containers whose owner is gone (or, with `only_owner`, exactly that owner's).

    One list request, whose rows carry the labels: the SDK's `containers.list` inspects each container
    after listing them, and a container that another assay process removed in between (its normal
    disposal, many a second while a test suite runs beside a search) made that inspect raise `NotFound`,
    which crashed this process's start."""
    removed = 0
    for row in client.api.containers(all=True, filters={"label": LABEL}):
        owner = (row.get("Labels") or {}).get(OWNER_LABEL, "")
        if (only_owner is not None and owner == only_owner) or (
            only_owner is None and not owner_alive(owner)
        ):
            with contextlib.suppress(NotFound, APIError):
                client.api.remove_container(row["Id"], force=True)
                removed += 1
    return removed


def resolve_image(
    client: docker.DockerClient,
    configured: str,
    *,
    default_tag: str = DEFAULT_IMAGE,
    expected: str | None = None,
) -> Any:
    """The image a sandbox configured with `configured` runs. For the default tag, this checkout's own
    recipe's image (`assay-sandbox:<recipe>`) when the daemon has it, so another checkout's build under
    `latest` does not change it; otherwise the tag as it is, with a warning when its recipe is not this
    checkout's (its packages may not be what the task prompts say). Raises ImageNotFound. (`default_tag` and
    `expected` are the build's defaults; a test passes its own.)"""
    if configured != default_tag:
        return client.images.get(configured)
    expected = expected or default_recipe()
    with contextlib.suppress(ImageNotFound):
        return client.images.get(recipe_tag(configured, expected))
    image = client.images.get(configured)
    found = (image.labels or {}).get(RECIPE_LABEL)
    if found != expected:
        log.warning(
            "sandbox image %s is built from recipe %s, not this checkout's %s: "
            "`assay sandbox build` builds this one's",
            configured, found or "(none)", expected,
        )  # fmt: skip
    return image


class DockerWorker(WorkerHandle):
    path = IMAGE_PATH
    rlimit_as = False  # the container's cgroup enforces memory; RLIMIT_AS would break numpy/torch mappings

    def __init__(self, client: docker.DockerClient, config: DockerSettings, owner: str, image: str) -> None:
        super().__init__()
        self.resources = (config.memory_mb, config.cpus, config.pids)
        uid = random.randint(100_000, 999_999)  # unique per container: RLIMIT_NPROC and kill(-1) stay local
        command = ["python3", "-I", "-S", "-c", WORKER_SOURCE, "--workroot", "/work"]
        command += ["--uid", str(uid), "--gid", str(uid), "--clean-ipc"]
        command += [arg for d in CONTAINER_WRITABLE for arg in ("--clean", d)]
        memory = f"{config.memory_mb}m"
        self.container = client.containers.create(
            image,
            command=command,
            stdin_open=True,
            tty=False,
            network_mode="none",
            mem_limit=memory,
            memswap_limit=memory,
            pids_limit=config.pids,
            nano_cpus=int(config.cpus * 1e9),
            read_only=True,
            tmpfs={
                "/tmp": f"rw,noexec,nosuid,nodev,size={config.tmp_mb}m",
                "/work": f"rw,nosuid,nodev,size={config.work_mb}m,mode=1777",
            },
            shm_size="16m",
            cap_drop=["ALL"],
            cap_add=["SETUID", "SETGID"],
            security_opt=["no-new-privileges"],
            user="0:0",
            init=True,
            ulimits=[
                Ulimit(name="nofile", soft=CONTAINER_NOFILE, hard=CONTAINER_NOFILE),
                Ulimit(name="fsize", soft=CONTAINER_FSIZE, hard=CONTAINER_FSIZE),
                Ulimit(name="core", soft=0, hard=0),
            ],
            log_config=LogConfig(type="none"),
            environment={"PATH": IMAGE_PATH, "LANG": "C.UTF-8"},
            working_dir="/work",
            labels={LABEL: "1", OWNER_LABEL: owner},
        )
        try:
            sock = self.container.attach_socket(params={"stdin": 1, "stdout": 1, "stream": 1})
            self._keep = sock  # the SocketIO wrapper owns the connection; keep it alive
            self.sock: socket.socket = getattr(sock, "_sock", sock)
            self.sock.setblocking(False)
            self.container.start()
            self.reader = FrameReader(DockerStreamSource(self.sock))
            self.reader.read_frame(time.monotonic() + config.start_timeout_s, 4096)
        except BaseException:
            self.dispose()
            raise

    def send(self, data: bytes, deadline: float) -> None:
        send_all(self.sock.fileno(), data, deadline)

    def execute(self, job: Job) -> ExecResult:
        self._fit(job)
        return super().execute(job)

    def _fit(self, job: Job) -> None:
        """Resize the container's cgroup to this job's memory, CPU and pid limits (only when they differ:
        ~15 ms), so a job asking for 4 GiB gets it and a default job keeps the default."""
        want = (job.limits.memory_mb, job.limits.cpus, job.limits.pids)
        if want == self.resources:
            return
        memory = job.limits.memory_mb << 20
        body = {"Memory": memory, "MemorySwap": memory, "NanoCpus": int(job.limits.cpus * 1e9)}
        body["PidsLimit"] = job.limits.pids
        api = self.container.client.api
        try:
            api._raise_for_status(
                api._post_json(api._url("/containers/{0}/update", self.container.id), data=body)
            )
        except (DockerException, RequestException) as exc:
            raise WorkerLost(f"cannot resize the sandbox container: {exc}") from exc
        self.resources = want

    def leftover_processes(self) -> list[str]:
        top = self.container.top(ps_args="-eo pid,user,args")
        rows = [" ".join(p) for p in top.get("Processes") or []]
        return [r for r in rows if "docker-init" not in r and "-I -S -c" not in r]

    def loss_result(self, exc: WorkerLost) -> ExecResult | None:
        # The job's memory took the whole container down: the job's result, not an infrastructure fault.
        try:
            self.container.reload()
        except (DockerException, RequestException):
            return None
        state = self.container.attrs.get("State", {})
        if state.get("OOMKilled"):
            return ExecResult(
                exit_code=None, signal=9, oom=True, stderr="sandbox: the container ran out of memory"
            )
        return None

    def dispose(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(DockerException, RequestException, AttributeError):
            self.container.remove(force=True)


class DockerSandbox:
    """Runs jobs in a warm pool of hardened containers; see the module docstring for the design."""

    def __init__(self, config: DockerSettings) -> None:
        self.config = config
        self.owner = owner_id()
        self._client_lock = threading.Lock()
        self._client: docker.DockerClient | None = None
        client = self._get_client()
        try:
            image = resolve_image(client, config.image)
        except ImageNotFound:
            raise SandboxError(
                f"sandbox image {config.image} is missing: run `assay sandbox build`"
            ) from None
        except (DockerException, RequestException) as exc:
            raise SandboxError(f"Docker daemon not reachable: {exc}") from exc
        recipe = (image.labels or {}).get(RECIPE_LABEL)
        # and the CPU's vector level: the same image trains to other scores on another one (sandboxes/cpu.py)
        self._identity = f"docker:{recipe or image.id}:{vector_level()}"
        # containers start from this image's id, not its tag: a build elsewhere that moves the tag mid-run
        # cannot change the software half of a run's candidates are judged with
        self._image = image.id
        try:
            remove_leftovers(client)
        except (DockerException, RequestException) as exc:
            raise SandboxError(f"Docker daemon not reachable: {exc}") from exc
        self.pool = WorkerPool(
            self._spawn,
            size=config.pool_size,
            max_jobs_per_worker=config.max_jobs_per_container,
            retries=config.retries,
            on_lost=self._on_lost,
        )
        atexit.register(self._remove_own)

    def _get_client(self) -> docker.DockerClient:
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = docker.from_env(timeout=30)
                except DockerException as exc:
                    raise SandboxError(f"Docker daemon not reachable: {exc}") from exc
            return self._client

    def _reset_client(self) -> None:
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _spawn(self) -> DockerWorker:
        """Start one container, retrying while the daemon comes back (a restart takes a few seconds)."""
        deadline = time.monotonic() + self.config.start_timeout_s
        delay = 0.2
        while True:
            try:
                return DockerWorker(self._get_client(), self.config, self.owner, self._image)
            except ImageNotFound:
                raise SandboxError(
                    f"sandbox image {self.config.image} is missing: run `assay sandbox build`"
                ) from None
            except (SandboxError, DockerException, RequestException, OSError) as exc:  # WorkerLost too
                self._reset_client()
                if time.monotonic() + delay > deadline:
                    raise SandboxError(f"cannot start a sandbox container: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _on_lost(self, exc: WorkerLost) -> None:
        """A worker died mid-job; when the daemon itself is gone, every pooled container went with it."""
        try:
            self._get_client().ping()
        except Exception:
            self._reset_client()
            self.pool.invalidate()

    @property
    def identity(self) -> str:
        """The image's recipe (its content hash), or its id when it has none, and the CPU's vector level:
        the software jobs run and the kernels its numerics pick."""
        return self._identity

    async def run(self, job: Job) -> ExecResult:
        return await self.pool.run_async(job)

    def warm(self) -> None:
        self.pool.warm()

    async def close(self) -> None:
        await asyncio.to_thread(self._close_sync)

    def _close_sync(self) -> None:
        self.pool.close()
        self._remove_own()
        atexit.unregister(self._remove_own)
        self._reset_client()

    def _remove_own(self) -> None:
        with contextlib.suppress(Exception):
            remove_leftovers(self._get_client(), only_owner=self.owner)

    def containers(self) -> list[Any]:
        """This sandbox's live containers (for tests and `assay sandbox check`)."""
        return self._get_client().containers.list(all=True, filters={"label": f"{OWNER_LABEL}={self.owner}"})
