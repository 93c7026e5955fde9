"""Bubblewrap isolation for the process sandbox: the whole worker, and so every job, runs in new namespaces.

Threat model: a job is a hostile program. Without this, the process sandbox shares the host's filesystem and
network; measured here, a job read the run store and the project sources, wrote the host's /tmp, reached the
model server on 127.0.0.1 and wrote into other workers' roots. Under bwrap the worker is started as

    bwrap --unshare-net --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try --new-session
          --cap-drop ALL [--cap-add CAP_SETUID --cap-add CAP_SETGID | --unshare-user]
          --size N --tmpfs /tmp --size N --tmpfs /work --ro-bind /usr /usr --symlink usr/bin /bin ...
          --ro-bind <venv> <venv> --ro-bind <base python> <base python> [--tmpfs <assay package> ...]
          --proc /proc --dev /dev --tmpfs /dev/shm --mqueue /dev/mqueue --remount-ro /
          <python> -I -S -c <worker source> --workroot /work ...

so that it sees a network namespace with only its own loopback; its own pids, IPC, hostname; read-only
/usr, /bin, /lib*, /sbin and the few /etc files the dynamic linker reads; the Python that runs the jobs (a
venv, bound with the base interpreter it points at, read-only, so loss jobs can import torch) with assay's
own packages masked (an editable install's sources are never bound; a regular install's copies under
site-packages are hidden, for `tasks` may carry held-out data); and /tmp, /dev/shm and the work root as
size-capped tmpfs inside the namespace, so no host path is writable at all. Nothing of the host's home, the
run store or the project is there. As root the worker keeps only CAP_SETUID/SETGID (to drop each job to the
worker's own random uid, as in Docker) under no_new_privs; as an ordinary user bwrap maps it into a user
namespace and jobs share its uid. The worker exits when the host closes its stdin (or dies), and the host
disposes of a worker by killing bwrap's init, the namespace's pid 1: the kernel then kills everything in the
namespace. (Not `--die-with-parent`: its parent-death signal follows the host *thread* that started bwrap,
and the pool starts workers from short-lived threads.)

Whether bwrap can create namespaces depends on the machine (a container may forbid it): `bwrap_status`
probes once and says why not; the process sandbox then runs unisolated and says so.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from agent.kernel.errors import SandboxError

WORKROOT = "/work"
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "nsswitch.conf")
OUR_PACKAGES = ("agent", "verifiers", "sandboxes", "tasks")
PROBE_TIMEOUT_S = 60.0
#: the probe drops to an unused uid as the worker will, so "usable" means jobs will start
PROBE = (
    "import os\nif os.geteuid() == 0:\n    os.setgroups([]); os.setgid(1999999); os.setuid(1999999)\n"
    "print('ok')"
)
PREFIX_NAMES = ("prefix", "base_prefix", "exec_prefix", "base_exec_prefix")
PREFIXES = f"import json, sys\nprint(json.dumps([getattr(sys, n) for n in {PREFIX_NAMES!r}]))"


@dataclass(frozen=True)
class BwrapPlan:
    """How to start one isolated worker: the bwrap argv up to the worker's own, and the Python jobs run."""

    args: tuple[str, ...]
    python: str  # the job's (and the worker's) interpreter, at the same path inside as outside
    path: str  # PATH for jobs: the interpreter's bin first, so `python3` is the venv's

    def command(self, worker_args: list[str]) -> list[str]:
        return [*self.args, self.python, *worker_args]


@dataclass(frozen=True)
class BwrapStatus:
    plan: BwrapPlan | None
    reason: str | None  # None when usable

    @property
    def usable(self) -> bool:
        return self.plan is not None


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


@functools.lru_cache(maxsize=8)
def python_roots(python: str) -> tuple[str, ...]:
    """The directories `python` needs (its venv, the base installation), outermost only, without /usr."""
    if os.path.abspath(python) == os.path.abspath(sys.executable):
        prefixes = [getattr(sys, name) for name in PREFIX_NAMES]
    else:
        proc = subprocess.run(  # without -S: a venv's prefix is set by `site` (Python 3.11)
            [python, "-I", "-c", PREFIXES], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
        if proc.returncode != 0:
            raise SandboxError(f"cannot ask {python} for its prefixes: {proc.stderr.strip()[-300:]}")
        prefixes = json.loads(proc.stdout)
    roots = sorted({os.path.abspath(p) for p in prefixes if not _under(os.path.abspath(p), "/usr")})
    return tuple(r for r in roots if not any(o != r and _under(r, o) for o in roots))


def project_dirs() -> tuple[Path | None, list[str]]:
    """The project checkout (when assay runs from one) and the directories of assay's own packages."""
    dirs = []
    for name in OUR_PACKAGES:
        spec = importlib.util.find_spec(name)
        dirs += [os.path.abspath(d) for d in (spec.submodule_search_locations or [])] if spec else []
    here = Path(__file__).resolve().parent.parent
    return (here if (here / "pyproject.toml").exists() else None), dirs


def editable_hooks(roots: tuple[str, ...], project: Path | None) -> list[str]:
    """The files in the roots' site-packages that point an editable install at the project: the `.pth` that
    runs at every start-up (~35 ms: it imports pathlib) and the finder it imports (which names the
    project's path). Inside the sandbox the project is absent, so they are masked with /dev/null (on the
    nodev bind a job cannot even open them; Python's `site` skips an unreadable .pth silently)."""
    if project is None:
        return []
    found = []
    for root in roots:
        for site in Path(root).glob("lib/python3*/site-packages"):
            hooks = [f for f in site.glob("__editable__*") if f.is_file() and _mentions(f, str(project))]
            names = {f.stem for f in hooks}
            for pth in site.glob("*.pth"):
                text = _read(pth)
                if str(project) in text or any(name in text for name in names):
                    hooks.append(pth)
            found += sorted({str(f) for f in hooks})
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _mentions(path: Path, text: str) -> bool:
    return text in _read(path)


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts[1:]
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]


def _system_args() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return args


def build_plan(python: str, *, tmp_mb: int, work_mb: int) -> BwrapPlan:
    """The bwrap command for `python`; raises SandboxError when its layout cannot be isolated."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxError("bubblewrap is not installed (apt-get install -y bubblewrap)")
    roots = python_roots(python)
    project, packages = project_dirs()
    for root in roots:
        if project is not None and _under(str(project), root):
            raise SandboxError(f"the interpreter's prefix {root} contains the project {project}")
    args = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--hostname", "assay-sandbox", "--new-session"]
    args += ["--cap-drop", "ALL"]
    if os.geteuid() == 0:  # no user namespace: the worker drops each job to its own uid, as in Docker
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user"]
    # The writable places first, so a Python that lives under one of them is bound on top, read-only.
    args += ["--perms", "1777", "--size", str(tmp_mb << 20), "--tmpfs", "/tmp"]
    args += ["--perms", "0755", "--size", str(work_mb << 20), "--tmpfs", WORKROOT]
    args += _system_args()
    made: set[str] = {"/tmp", WORKROOT, "/usr"}
    for root in roots:
        for parent in _ancestors(root):  # bwrap would make them 0700: the job's uid must pass through
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", parent]
        args += ["--ro-bind", os.path.realpath(root), root]
    for pkg in packages:  # a regular install's copy of assay (held-out data in `tasks`) stays hidden
        if any(_under(pkg, root) for root in roots):
            args += ["--tmpfs", pkg]
    for hook in editable_hooks(roots, project):
        args += ["--ro-bind", "/dev/null", hook]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(tmp_mb << 20), "--tmpfs", "/dev/shm"]
    args += ["--mqueue", "/dev/mqueue", "--remount-ro", "/", "--chdir", "/"]
    path = f"{os.path.dirname(os.path.abspath(python))}:/usr/local/bin:/usr/bin:/bin"
    return BwrapPlan(tuple(args), os.path.abspath(python), path)


@functools.lru_cache(maxsize=8)
def bwrap_status(python: str | None = None, *, tmp_mb: int = 64, work_mb: int = 256) -> BwrapStatus:
    """Whether a worker for `python` (default: ours) can run under bwrap here; probed once per process.

    Never raises: a missing binary, a kernel or container that refuses namespaces, or an interpreter that
    cannot run inside are all a reason."""
    python = python or sys.executable
    try:
        plan = build_plan(python, tmp_mb=tmp_mb, work_mb=work_mb)
    except (SandboxError, OSError, subprocess.SubprocessError, ValueError) as exc:
        return BwrapStatus(None, str(exc))
    try:
        proc = subprocess.run(
            plan.command(["-I", "-S", "-c", PROBE]),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            env={"PATH": plan.path, "LANG": "C.UTF-8"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return BwrapStatus(None, f"bwrap did not run: {exc}")
    if proc.returncode != 0 or proc.stdout.strip() != "ok":
        why = " ".join((proc.stderr.strip() or f"exit {proc.returncode}").split())[-300:]
        return BwrapStatus(None, f"bwrap cannot create the sandbox here: {why}")
    return BwrapStatus(plan, None)
