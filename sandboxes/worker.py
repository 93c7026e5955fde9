"""The persistent job worker: reads job frames on stdin, forks one child per job, replies on stdout.

This file runs *inside* the sandbox (shipped as `python3 -c <source>` into each container, or started as a
local subprocess by the process sandbox), so it imports only the standard library and nothing from assay.

Why a persistent worker: forking a child from a warm Python process costs about a millisecond, while a cold
`docker run` costs ~300 ms and `exec_run` ~60 ms. Why the worker owns the kill: it is the only party that sees
the job's processes, so it enforces the wall deadline, kills the process group and then sweeps every leftover
(double-forked, setsid'd) process, either as the job's own uid (`kill(-1)`, which reaches exactly that uid's
processes) or, without a uid to drop to, as the child subreaper that orphans are re-parented to.

No job leaves anything for the next one (a candidate must not cache answers for, or sabotage, a later
candidate): each job directory has an unpredictable name; before a job execs, its child (as the job uid)
deletes every file and SysV IPC object that uid owns in the work root and the shared writable directories
(`--clean`), and checks that nothing of them is left. A job whose setup fails (its environment was damaged)
is never reported as the job's result: the worker replies with an error, which the host turns into an
infrastructure failure, and stops, so that the host replaces it.

Wire format, both ways: 4-byte big-endian length, then the payload. A request payload is a 4-byte header
length, a JSON header, then the concatenated file and stdin blobs the header sizes. A reply is JSON.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import signal
import struct
import sys
import time

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
SETUP_FAILED = 126
DRAIN_AFTER_EXIT_S = 1.0
READ_CHUNK = 1 << 16
FUTURE = "from __future__ import annotations\n"

if __name__ != "__main__":  # imported on the host; shipped, worker_lib's text precedes this file's
    from sandboxes.worker_lib import (
        CappedBuffer,
        count_processes,
        oom_kills,
        owned_entries,
        read_exact,
        remove_ipc,
        remove_own,
        remove_path,
        remove_tree,
        write_frame,
    )


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def _safe_relpath(name: str) -> str:
    norm = os.path.normpath(name)
    if os.path.isabs(norm) or norm == "." or norm.startswith(".."):
        raise ValueError(f"file path {name!r} escapes the work directory")
    return norm


class Worker:
    def __init__(
        self, workroot: str, uid: int | None, gid: int | None, clean: list[str], clean_ipc: bool = False
    ) -> None:
        self.workroot = workroot
        self.clean = clean
        self.clean_ipc = clean_ipc  # only where the IPC namespace, or the uid, is this worker's alone
        self.uid = uid
        self.gid = gid
        self.count = 0
        self.pid = os.getpid()
        self.pending_sweep: tuple[int, str] | None = None
        self.stale: list[str] = []  # the job uid's entries in the work root, deleted by the next job's child
        self.damaged = False  # a job's setup failed: this worker's world cannot be trusted clean any more

    # ----- the child side (runs between fork and exec) -----
    def _child(
        self, header: dict, blobs: bytes, jobdir: str, fds: tuple[int, int, int], status_w: int
    ) -> None:
        try:
            os.setsid()
            try:
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write("1000")
            except OSError:
                pass
            if self.uid is not None:
                self._become_job_user()
                self._clear_traces()
            os.mkdir(jobdir, 0o700)
            offset = 0
            for name, size in header["files"]:
                path = os.path.join(jobdir, _safe_relpath(name))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(blobs[offset : offset + size])
                offset += size
            os.chdir(jobdir)
            lim = header["limits"]
            cpu = int(lim["wall_s"]) + 2
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            fsize = lim["file_size_mb"] << 20
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            resource.setrlimit(resource.RLIMIT_NOFILE, (lim["open_files"], lim["open_files"]))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if header.get("rlimit_as"):
                mem = lim["memory_mb"] << 20
                resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            if self.uid is not None:
                # Counts only this uid's processes: the worker's uid is unique per sandbox, so a fork bomb
                # cannot starve the container's pid budget the worker itself needs for the sweep.
                nproc = max(4, lim["pids"] - 8)
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            elif os.getuid() != 0:
                # Sharing the user's uid, the limit counts all of the user's processes: allow `pids` more.
                nproc = count_processes(os.getuid()) + lim["pids"]
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
            signal.signal(
                signal.SIGPIPE, signal.SIG_DFL
            )  # ignored signals survive exec: give jobs the default
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            env = {"PATH": header["path"], "HOME": jobdir, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
            env.update(header["env"])
            cmd = header["command"]
            os.execvpe(cmd[0], cmd, env)
        except BaseException as exc:  # anything before exec is a setup failure, reported to the worker
            try:
                os.write(status_w, f"{type(exc).__name__}: {exc}".encode()[:4000])
            finally:
                os._exit(SETUP_FAILED)

    def _clear_traces(self) -> None:
        """Delete what earlier jobs of this uid left anywhere they could write, and prove it is gone.

        Runs as the job's uid (in the next job's child, or in the sweep without a uid to drop to), so it can
        remove exactly the job's own files. The work root is not listable by that uid (mode 1733), so the
        worker lists it beforehand (`stale`). Anything left raises: a setup failure, so the worker is
        replaced instead of handing a tampered environment to the next candidate.
        """
        for path in self.stale:
            remove_path(path)
        for root in self.clean:
            remove_own(root)
        left = [p for p in self.stale if os.path.lexists(p)]
        left += [p for root in self.clean for p in owned_entries(root, os.getuid())]
        if self.clean_ipc:
            left += remove_ipc(os.getuid())
        if left:
            raise RuntimeError(f"an earlier job left what cannot be removed: {', '.join(left)[:500]}")

    # ----- the sweep: no process of the job survives it -----
    def _kill_job(self, pgid: int) -> None:
        """Kill the job at its deadline; the full sweep follows once its exit status is collected."""
        if self.uid is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        else:
            self._kill_as_job_user()

    def _kill_as_job_user(self) -> None:
        """Fork a helper that becomes the job's uid: `kill(-1)` then reaches all of the job's processes and
        nothing else (the uid is unique to this worker)."""
        helper = self._fork_retry()
        if helper == 0:
            try:
                self._become_job_user()
                # One kill(-1) is atomic against fork (a child forked by a process with SIGKILL pending is
                # aborted); the second is cheap insurance. It returns 0 even when it signalled nobody.
                for _ in range(2):
                    os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        if helper > 0:
            os.waitpid(helper, 0)

    def _become_job_user(self) -> None:
        assert self.uid is not None
        os.setgroups([])
        os.setgid(self.gid if self.gid is not None else self.uid)
        os.setuid(self.uid)

    def _sweep(self, pgid: int, jobdir: str) -> None:
        """Kill every survivor of the job and remove its files.

        We are the child subreaper, so once the job's main process is gone, the root of every surviving
        process tree is re-parented to us: an empty children list proves nothing of the job survives.
        """
        for _ in range(100):
            survivors = self._children()
            if not survivors:
                break
            if self.uid is not None:
                self._kill_as_job_user()
            else:
                for pid in survivors:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
            self._reap_all()
            time.sleep(0.001)
        if self.uid is None:
            # Without a uid to drop to, the job ran as us: we remove what it left, here and now. (With one,
            # the next job's child does, as the job's uid, before it execs: no process of this job is left to
            # read them meanwhile, and it saves a fork per job.)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            remove_tree(jobdir)
            self.stale = owned_entries(self.workroot, os.getuid())
            try:
                self._clear_traces()
            except RuntimeError:
                self.damaged = True
        self._reap_all()

    def _fork_retry(self) -> int:
        for attempt in range(50):
            try:
                return os.fork()
            except BlockingIOError:
                time.sleep(0.01 * (attempt + 1))
        return -1

    def _children(self) -> list[int]:
        """Our live (non-zombie) children: after the job's main process is reaped, only its survivors."""
        self._reap_all()
        with open(f"/proc/{self.pid}/task/{self.pid}/children") as f:
            return [int(p) for p in f.read().split()]

    def _reap_all(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    # ----- one job -----
    def finish(self) -> None:
        """Sweep the last job; runs after its reply is sent and before the next request is read, so no job
        ever starts while a previous job's process or file is still there."""
        if self.pending_sweep is not None:
            pgid, jobdir = self.pending_sweep
            self.pending_sweep = None
            self._sweep(pgid, jobdir)

    def run(self, header: dict, blobs: bytes) -> dict:
        self.finish()
        if self.damaged:
            return {"error": "the worker could not clear an earlier job's files", "damaged": True}
        self.count += 1
        # Unpredictable, so no job can pre-create (and so block or pre-fill) the next one's directory.
        jobdir = os.path.join(self.workroot, "j" + os.urandom(16).hex())
        if self.uid is not None:
            self.stale = owned_entries(self.workroot, self.uid)
        lim = header["limits"]
        cap = int(lim["output_bytes"])
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        st_r, st_w = os.pipe()
        oom_before = oom_kills()
        start = time.monotonic()
        pid = self._fork_retry()
        if pid == 0:
            os.close(out_r)
            os.close(err_r)
            os.close(in_w)
            os.close(st_r)
            self._child(header, blobs, jobdir, (in_r, out_w, err_w), st_w)
        for fd in (out_w, err_w, in_r, st_w):
            os.close(fd)
        if pid > 0:
            self.stale = []
        if pid < 0:
            for fd in (out_r, err_r, in_w, st_r):
                os.close(fd)
            return {"error": "fork failed: the container's process limit is exhausted"}
        deadline = start + float(lim["wall_s"])
        stdin = header.get("stdin_size")
        stdin_data = memoryview(blobs[len(blobs) - stdin :]) if stdin else memoryview(b"")
        bufs = {out_r: CappedBuffer(cap), err_r: CappedBuffer(cap)}
        status = bytearray()
        timed_out = self._pump(pid, bufs, st_r, status, in_w, stdin_data, deadline)
        wall = time.monotonic() - start
        if timed_out:
            self._kill_job(pid)
        _, wstatus, usage = os.wait4(pid, 0)  # before the sweep, whose reaping would lose this status
        self.pending_sweep = (pid, jobdir)  # done by `finish` right after the reply: off the job's latency
        code = os.waitstatus_to_exitcode(wstatus)
        sig = -code if code < 0 else None
        oom = oom_kills() > oom_before and sig == signal.SIGKILL and not timed_out
        if status:  # the trusted side's setup failed, never the candidate: no verdict may come of it
            self.damaged = True
            return {"error": "job setup failed: " + bytes(status).decode("utf-8", "replace"), "damaged": True}
        stderr = bufs[err_r]
        return {
            "exit_code": None if sig else code,
            "signal": sig,
            "stdout": bufs[out_r].text(),
            "stderr": stderr.text(),
            "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "timed_out": timed_out,
            "oom": oom,
            "output_truncated": bufs[out_r].truncated or stderr.truncated,
        }

    def _pump(
        self,
        pid: int,
        bufs: dict[int, CappedBuffer],
        st_r: int,
        status: bytearray,
        in_w: int,
        stdin_data: memoryview,
        deadline: float,
    ) -> bool:
        """Feed stdin and collect output until the job exits (plus a short drain) or the deadline passes;
        closes every pipe end it was given. Returns whether the job timed out."""
        pidfd = os.pidfd_open(pid)
        open_fds = {*bufs, st_r}
        if stdin_data:
            os.set_blocking(in_w, False)
        else:
            os.close(in_w)
            in_w = -1
        timed_out = False
        exited_at: float | None = None
        while True:
            now = time.monotonic()
            if exited_at is None and now >= deadline:
                timed_out = True
                break
            if exited_at is not None and (not (open_fds - {st_r}) or now >= exited_at + DRAIN_AFTER_EXIT_S):
                break
            wait_r = list(open_fds) + ([pidfd] if exited_at is None else [])
            wait_w = [in_w] if in_w >= 0 else []
            limit = (deadline if exited_at is None else exited_at + DRAIN_AFTER_EXIT_S) - now
            readable, writable, _ = select.select(wait_r, wait_w, [], max(0.0, limit))
            for fd in readable:
                if fd == pidfd:
                    exited_at = time.monotonic()
                    continue
                data = os.read(fd, READ_CHUNK)
                if not data:
                    open_fds.discard(fd)
                    os.close(fd)
                elif fd == st_r:
                    status += data[:4000]
                else:
                    bufs[fd].add(data)
            if writable:
                try:
                    stdin_data = stdin_data[os.write(in_w, stdin_data[:READ_CHUNK]) :]
                except BlockingIOError:
                    pass
                except BrokenPipeError:
                    stdin_data = memoryview(b"")
                if not stdin_data:
                    os.close(in_w)
                    in_w = -1
        for fd in list(open_fds) + ([in_w] if in_w >= 0 else []) + [pidfd]:
            os.close(fd)
        return timed_out


def shipped_source() -> str:
    """The worker as one self-contained program for `python3 -I -S -c`: worker_lib's text, then this file's
    (the host never runs the worker from the project's files, which a sandbox must not see)."""
    from pathlib import Path

    here = Path(__file__).parent
    own = Path(__file__).read_text().replace(FUTURE, "", 1)
    return (here / "worker_lib.py").read_text() + "\n" + own


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="assay-sandbox-worker")
    parser.add_argument("--workroot", required=True)
    parser.add_argument("--uid", type=int, default=None)
    parser.add_argument("--gid", type=int, default=None)
    parser.add_argument(
        "--clean", action="append", default=[], help="shared dirs to clear of the job's files"
    )
    parser.add_argument("--clean-ipc", action="store_true", help="remove the job uid's SysV IPC objects")
    parser.add_argument("--remove-workroot", action="store_true", help="delete the work root at the end")
    args = parser.parse_args(argv)
    _prctl(PR_SET_DUMPABLE, 0)  # a job cannot open /proc/<worker>/fd/1 and forge a reply
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of a job come back to us, so the sweep can find them
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a job that closes its stdin early must not kill us
    os.makedirs(args.workroot, exist_ok=True)
    if args.uid is not None:
        os.chmod(args.workroot, 0o1733)  # the job's uid makes its own directory here; nobody can list it
    worker = Worker(args.workroot, args.uid, args.gid, args.clean, args.clean_ipc)
    write_frame(1, json.dumps({"ready": True, "pid": os.getpid()}).encode())
    try:
        serve(worker)
    finally:
        if args.remove_workroot:  # the host is gone or done with us: leave nothing behind in its /tmp
            worker.finish()
            remove_tree(args.workroot)
    return 0


def serve(worker: Worker) -> None:
    """Answer job frames until stdin closes; each job is swept right after its reply."""
    while True:
        head = read_exact(0, 4)
        if head is None:
            return
        (size,) = struct.unpack(">I", head)
        payload = read_exact(0, size)
        if payload is None:
            return
        (hsize,) = struct.unpack(">I", payload[:4])
        header = json.loads(payload[4 : 4 + hsize])
        try:
            reply = {"pong": True} if header.get("ping") else worker.run(header, payload[4 + hsize :])
        except OSError as exc:
            reply = {"error": f"worker: {exc}"}
        write_frame(1, json.dumps(reply, ensure_ascii=False).encode("utf-8"))
        if reply.get("damaged"):
            return  # the host replaces a damaged worker; a new job must never start here
        worker.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
