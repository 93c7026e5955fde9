"""Circle packing (26 circles): assay's strategies, OpenEvolve and ShinkaEvolve side by side, one endpoint.

Every system starts from the same program (assay's built-in 6 x 5 grid, sum 2.1667, with the EVOLVE-BLOCK
markers the peers need), talks to the same OpenAI-compatible endpoint through a counting proxy (so "the
same number of calls" is measured at the wire, not trusted from each framework's own notion of an
iteration), gets the same completion-token limit, and runs one after another for each seed. Afterwards
every program each system evaluated is re-judged by one judge, assay's exact held-out check (rational
arithmetic, no tolerance, in the Docker sandbox), which gives:
- the best *exactly valid* sum by calls (at a few checkpoints of the call budget);
- the validity of each system's own verdicts: the share of its verdicts the exact judge agrees with (valid
  and the same sum within 1e-6, or invalid), and how many it accepted that are not valid packings;
- CPU seconds per evaluated program: the CPU of the system's whole process tree (framework, evaluator
  processes, and for assay its process sandbox, chosen here so that candidate CPU is counted as it is for
  the peers) divided by the programs it evaluated; the model server's CPU is not in it.

The peers run from their own virtual environment (`--peers-python`, default /work/peers-venv/bin/python:
`python3 -m venv /work/peers-venv && /work/peers-venv/bin/pip install openevolve shinka-evolve`), never
from assay's. Their evaluator is written here (run pack() in a child interpreter with a 60 s limit, check
with the same 1e-9 tolerance as assay's search check), not copied from their repositories.

    .venv/bin/python bench/bench_peers.py --model scripted --calls 6 --seeds 0        # plumbing smoke
    .venv/bin/python bench/bench_peers.py --model local --calls 12 --seeds 0 --completion-tokens 768

`--model local` serves the embedded GGUF (llama_cpp's `Llama`) behind a minimal OpenAI endpoint on
127.0.0.1. Results go to bench/RESULTS.md under "## Peers side by side" unless `--no-write`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_circle_packing import SCRIPTED  # noqa: E402
from results_md import write_section  # noqa: E402
from time_split import format_split, time_split  # noqa: E402

from tasks.code.circle_packing import SEED_PROGRAM, make_task  # noqa: E402

HEADING = "## Peers side by side (circle packing)"
GGUF = Path.home() / ".cache/assay/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SEED_SUM = 26 / 12 - 26e-12
PEER_PROGRAM = SEED_PROGRAM.replace("import math\n", "import math\n\n# EVOLVE-BLOCK-START", 1) + (
    "# EVOLVE-BLOCK-END\n"
)

#: the peers' evaluator (both frameworks): pack() in a child interpreter, checked with a 1e-9 tolerance
EVALUATOR = r"""
import json, math, subprocess, sys

CHILD = "import importlib.util, json, sys\n" \
    "spec = importlib.util.spec_from_file_location('cand', sys.argv[1])\n" \
    "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n" \
    "print(json.dumps([[float(v) for v in c] for c in m.pack()]))\n"


def judge(program_path):
    try:
        p = subprocess.run([sys.executable, "-c", CHILD, program_path], capture_output=True, text=True,
                           timeout=60)
        circles = json.loads(p.stdout.strip().splitlines()[-1])
    except Exception as e:
        return 0.0, False, f"did not run: {type(e).__name__}"
    if len(circles) != 26 or any(len(c) != 3 or not all(map(math.isfinite, c)) for c in circles):
        return 0.0, False, "not 26 finite (x, y, r) triples"
    tol = 1e-9
    for x, y, r in circles:
        if r <= 0 or x - r < -tol or x + r > 1 + tol or y - r < -tol or y + r > 1 + tol:
            return 0.0, False, "a circle leaves the square"
    for (x1, y1, r1), (x2, y2, r2) in ((a, b) for i, a in enumerate(circles) for b in circles[i + 1:]):
        if math.hypot(x1 - x2, y1 - y2) < r1 + r2 - tol:
            return 0.0, False, "two circles overlap"
    return sum(c[2] for c in circles), True, ""


def evaluate(program_path):  # OpenEvolve's entry point
    s, ok, why = judge(program_path)
    return {"combined_score": s, "sum_radii": s, "validity": float(ok)}


if __name__ == "__main__":  # ShinkaEvolve's: evaluate.py --program_path P --results_dir D
    import argparse, os
    ap = argparse.ArgumentParser(); ap.add_argument("--program_path"); ap.add_argument("--results_dir")
    a = ap.parse_args(); os.makedirs(a.results_dir, exist_ok=True)
    s, ok, why = judge(a.program_path)
    json.dump({"combined_score": s, "public": {"sum_radii": s}, "private": {}, "text_feedback": why},
              open(os.path.join(a.results_dir, "metrics.json"), "w"))
    json.dump({"correct": ok, "error": why or None}, open(os.path.join(a.results_dir, "correct.json"), "w"))
"""

SHINKA_RUNNER = r"""
import sys
from shinka.core import EvolutionConfig, ShinkaEvolveRunner
from shinka.database import DatabaseConfig
from shinka.launch import LocalJobConfig
work, model, calls, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
evo = EvolutionConfig(
    num_generations=calls + 1, patch_types=["full"], patch_type_probs=[1.0], max_patch_resamples=1,
    llm_models=[model], llm_dynamic_selection=None,
    llm_kwargs={"temperatures": [0.7], "max_tokens": max_tokens},
    meta_rec_interval=None, embedding_model=None, init_program_path=f"{work}/initial.py",
    results_dir=f"{work}/results", language="python",
)
runner = ShinkaEvolveRunner(
    evo, LocalJobConfig(eval_program_path=f"{work}/evaluate.py", python_executable=sys.executable),
    DatabaseConfig(num_islands=1, archive_size=20),
    verbose=False, max_evaluation_jobs=1, max_proposal_jobs=1,
)
runner.run()
"""


class CountingProxy:
    """An OpenAI-compatible pass-through on 127.0.0.1 that counts chat completions, so every system's
    calls are counted the same way; `limit` answers 429 beyond the budget (a framework's extra calls)."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.calls, self.limit = upstream.rstrip("/"), 0, 10**9
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _forward(self, method: str) -> None:
                body = (
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    if method == "POST"
                    else None
                )
                counted = self.path.endswith("/chat/completions")
                if counted:
                    if proxy.calls >= proxy.limit:
                        self._reply(429, b'{"error": {"message": "bench call budget spent"}}')
                        return
                    proxy.calls += 1
                url = proxy.upstream + self.path.removeprefix("/v1")
                headers = {"Content-Type": "application/json"}
                req = urllib.request.Request(url, data=body, method=method, headers=headers)
                try:
                    with urllib.request.urlopen(req, timeout=1800) as r:
                        self._reply(r.status, r.read())
                except urllib.error.HTTPError as e:
                    self._reply(e.code, e.read())

            def _reply(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self._forward("POST")

            def do_GET(self) -> None:
                self._forward("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()


@contextlib.contextmanager
def endpoint(kind: str, port: int) -> Iterator[str]:
    """The upstream base URL: the scripted server, or llama_cpp.server serving the embedded GGUF."""
    if kind == "scripted":
        from tests.support.llm_server import ScriptedLLMServer

        answers = itertools.cycle([p for p in SCRIPTED if "sleep" not in p])  # no 60 s timeouts in a smoke

        def respond(_request: Any) -> str:
            code = next(answers)
            fenced = f"```python\n{code}```"
            return f"<NAME>scripted</NAME>\n<DESCRIPTION>x</DESCRIPTION>\n<CODE>\n{fenced}\n</CODE>\n"

        with ScriptedLLMServer(respond) as server:
            yield server.openai_base_url
        return
    cmd = [sys.executable, __file__, "--serve-gguf", str(port)]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    log = open(Path(tempfile.gettempdir()) / "bench_peers_server.log", "w")  # noqa: SIM115 - the server's life
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and server.poll() is None:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(base + "/models", timeout=5).read()
                break
            time.sleep(1)
        else:
            raise SystemExit(f"the model server did not start (see {log.name})")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def serve_gguf(port: int) -> None:
    """The embedded GGUF behind a minimal OpenAI chat-completions endpoint (llama_cpp's own server needs
    fastapi, which assay's environment does not carry): one request at a time, as one model on 2 cores
    would serve them anyway, with the request's max_tokens, temperature and seed."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(GGUF), n_ctx=8192, n_threads=2, verbose=False)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200, {"object": "list", "data": [{"id": "local", "object": "model"}]})

        def do_POST(self) -> None:
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            kwargs = {k: req[k] for k in ("temperature", "top_p", "seed", "stop") if req.get(k) is not None}
            max_tokens = req.get("max_tokens") or req.get("max_completion_tokens") or 1024
            try:
                with lock:
                    out = llm.create_chat_completion(req["messages"], max_tokens=int(max_tokens), **kwargs)
            except Exception as e:  # a bad request (e.g. a prompt longer than the context)
                self._send(400, {"error": {"message": f"{type(e).__name__}: {e}"}})
                return
            out["model"] = "local"
            self._send(200, dict(out))

    print(f"serving {GGUF.name} on 127.0.0.1:{port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, float, float, str]:
    """(exit code, wall s, CPU s of the whole process tree, stderr tail)."""
    cpu, start = _children_cpu(), time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=timeout)
        code, err = proc.returncode, stderr[-1500:]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the system's evaluators and sandboxes too, not only its root
        _, stderr = proc.communicate()
        code, err = 124, f"timed out after {timeout:.0f}s: {stderr[-500:]}"
    return code, time.monotonic() - start, _children_cpu() - cpu, err


def run_assay(strategy: str, seed: int, a: argparse.Namespace, base: str, work: Path) -> dict:
    db = work / "runs.db"
    cmd = [str(ROOT / ".venv/bin/assay"), "run", "code/circle-packing", "--strategy", strategy,
           "--calls", str(a.calls), "--samples", "2", "--top-k", "2", "--seed", str(seed),
           "--model", "openai/local", "--base-url", base, "--completion-tokens", str(a.completion_tokens),
           "--sandbox", "process", "--db", str(db), "--json", "--request-timeout", "1800"]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": "unused", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    code, wall, cpu, err = timed(cmd, ROOT, env, a.system_timeout)
    programs = []
    if db.exists():
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT content, status, score FROM hypotheses WHERE model != 'seed'"
                               " ORDER BY iteration, sample").fetchall()  # fmt: skip
        programs = [{"code": c, "valid": s == "ok", "score": sc} for c, s, sc in rows]
    split = time_split(db, process_wall_s=wall) if db.exists() else None
    return {"exit": code, "wall_s": wall, "cpu_s": cpu, "err": err, "programs": programs, "split": split}


def run_openevolve(seed: int, a: argparse.Namespace, base: str, work: Path) -> dict:
    (work / "initial_program.py").write_text(PEER_PROGRAM)
    (work / "evaluator.py").write_text(EVALUATOR)
    (work / "config.yaml").write_text(
        f"max_iterations: {a.calls}\nrandom_seed: {seed}\ncheckpoint_interval: 1\n"
        "diff_based_evolution: false\n"
        f"llm:\n  api_base: {base}\n  api_key: unused\n  max_tokens: {a.completion_tokens}\n"
        "  timeout: 1800\n  retries: 0\n  models:\n    - name: local\n      weight: 1.0\n"
        "evaluator:\n  parallel_evaluations: 1\n  cascade_evaluation: false\n  timeout: 120\n"
        "database:\n  num_islands: 1\n"
    )
    cmd = [a.peers_python, "-m", "openevolve.cli", "initial_program.py", "evaluator.py", "--config",
           "config.yaml", "--iterations", str(a.calls), "--output", "out"]  # fmt: skip
    code, wall, cpu, err = timed(cmd, work, {**os.environ, "OPENAI_API_KEY": "unused"}, a.system_timeout)
    found = sorted((work / "out").glob("checkpoints/checkpoint_*/programs/*.json"))
    latest = max((p.parent.parent for p in found), key=lambda d: int(d.name.split("_")[-1]), default=None)
    programs = []
    for path in sorted(latest.glob("programs/*.json")) if latest else []:
        p = json.loads(path.read_text())
        if p.get("iteration_found", 0) == 0 and p.get("generation", 0) == 0:
            continue  # the initial program
        m = p.get("metrics", {})
        valid = m.get("validity") == 1.0
        order = p.get("iteration_found", 0)
        programs.append({"code": p["code"], "valid": valid, "score": m.get("combined_score"), "order": order})
    programs.sort(key=lambda p: p["order"])
    return {"exit": code, "wall_s": wall, "cpu_s": cpu, "err": err, "programs": programs}


def run_shinka(seed: int, a: argparse.Namespace, base: str, work: Path) -> dict:
    (work / "initial.py").write_text(PEER_PROGRAM)
    (work / "evaluate.py").write_text(EVALUATOR)
    (work / "runner.py").write_text(SHINKA_RUNNER)
    model = f"local/local@{base}"
    cmd = [a.peers_python, "runner.py", str(work), model, str(a.calls), str(a.completion_tokens)]
    env = {**os.environ, "OPENAI_API_KEY": "unused"}
    code, wall, cpu, err = timed(cmd, work, env, a.system_timeout)
    programs = []
    db = next(iter(sorted((work / "results").glob("*.sqlite"))), None)  # its own name for the file
    if db is not None:
        with sqlite3.connect(db) as con:
            rows = con.execute("SELECT code, correct, combined_score, generation FROM programs"
                               " WHERE generation > 0 ORDER BY generation, timestamp").fetchall()  # fmt: skip
        programs = [{"code": c, "valid": bool(ok), "score": s} for c, ok, s, _ in rows]
    return {"exit": code, "wall_s": wall, "cpu_s": cpu, "err": err, "programs": programs}


def exact_judge(programs: list[dict]) -> None:
    """Every program through assay's exact held-out check, in one sandbox; adds `exact` (sum or None)."""
    from agent.kernel.types import Hypothesis
    from sandboxes import close_sandbox

    held = make_task().held_out
    assert held is not None

    async def go() -> None:
        try:
            for p in programs:
                v = await held.verify(Hypothesis.create(p["code"]))
                p["exact"] = v.score if v.status.value == "ok" else None
        finally:
            await close_sandbox()

    asyncio.run(go())


def summarise(name: str, seed: int, r: dict, calls: int, checkpoints: list[int]) -> dict:
    progs = r["programs"]
    by_calls = {}
    for c in checkpoints:  # programs in call order; a framework may evaluate fewer programs than calls
        first = progs[: max(1, round(len(progs) * c / calls))] if progs else []
        by_calls[c] = max((p["exact"] for p in first if p.get("exact") is not None), default=None)
    agree = sum(
        (p["exact"] is None and not p["valid"])
        or (p["exact"] is not None and p["valid"] and abs((p["score"] or 0) - p["exact"]) < 1e-6)
        for p in progs
    )
    accepted_invalid = sum(p["valid"] and p["exact"] is None for p in progs)
    return {"system": name, "seed": seed, "exit": r["exit"], "calls": r["calls"], "programs": len(progs),
            "by_calls": by_calls, "valid_exact": sum(p["exact"] is not None for p in progs),
            "agree": agree, "accepted_invalid": accepted_invalid, "wall_s": r["wall_s"],
            "cpu_per_program": r["cpu_s"] / len(progs) if progs else None, "err": r["err"],
            "split": r.get("split")}  # fmt: skip


def fmt(x: float | None, d: int = 4) -> str:
    return "-" if x is None else f"{x:.{d}f}"


def report(a: argparse.Namespace, rows: list[dict], load: tuple[float, float], started: str) -> list[str]:
    cps = " | ".join(f"best exact @{c}" for c in a.checkpoints)
    lines = [
        f"`bench/bench_peers.py --model {a.model} --calls {a.calls} --seeds {','.join(map(str, a.seeds))} "
        f"--completion-tokens {a.completion_tokens} --systems {','.join(a.systems)}`, started {started}, "
        f"{os.cpu_count()} CPUs (shared), load average {load[0]:.1f} before and {load[1]:.1f} after. Model: "
        + (SCRIPTED_NOTE if a.model == "scripted" else LOCAL_NOTE)
        + f". Budget: {a.calls} chat completions per system and seed, counted at the proxy. Start: the 6 x 5 "
        f"grid, sum {SEED_SUM:.4f}. Judge: assay's exact check for every system.",
        "",
        f"| system | seed | exit | calls | programs | {cps} | exactly valid | own verdicts agreeing "
        "| accepted but invalid | CPU s / program | wall s |",
        "|---|---:|---:|---:|---:|" + "---:|" * len(a.checkpoints) + "---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in rows:
        cells = " | ".join(fmt(r["by_calls"][c]) for c in a.checkpoints)
        lines.append(
            f"| {r['system']} | {r['seed']} | {r['exit']} | {r['calls']} | {r['programs']} | {cells} "
            f"| {r['valid_exact']}/{r['programs']} | {r['agree']}/{r['programs']} | {r['accepted_invalid']} "
            f"| {fmt(r['cpu_per_program'], 2)} | {r['wall_s']:.0f} |"
        )
    splits = [r for r in rows if r.get("split")]
    if splits:
        lines += ["", "Where each assay run's wall time went (bench/time_split.py, from its records):", ""]
        lines += [f"- {r['system']} seed {r['seed']}: {format_split(r['split'])}" for r in splits]
    for r in rows:
        if r["exit"] != 0:
            lines.append(
                f"\n{r['system']} seed {r['seed']} exited {r['exit']}: `{' '.join(r['err'].split())[-300:]}`"
            )
    return lines


LOCAL_NOTE = f"{GGUF.name} (llama.cpp, 2 threads, one request at a time)"
SCRIPTED_NOTE = "an instant scripted server (plumbing only: it measures nothing about search)"
RUNNERS = {"openevolve": run_openevolve, "shinka": run_shinka}


def main() -> None:
    if sys.argv[1:2] == ["--serve-gguf"]:
        serve_gguf(int(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--model", choices=["scripted", "local"], default="scripted")
    ap.add_argument("--calls", type=int, default=12)
    ap.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0])
    ap.add_argument(
        "--systems",
        type=lambda s: s.split(","),
        default=["assay:refine", "assay:evolve", "openevolve", "shinka"],
    )
    ap.add_argument("--completion-tokens", type=int, default=1024)
    ap.add_argument("--peers-python", default="/work/peers-venv/bin/python")
    ap.add_argument("--system-timeout", type=float, default=1800, help="seconds one system may run")
    ap.add_argument("--port", type=int, default=8790)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    a.checkpoints = sorted({max(1, a.calls // 3), max(1, 2 * a.calls // 3), a.calls})
    started, load0 = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.getloadavg()[0]
    rows = []
    for seed, system in itertools.product(a.seeds, a.systems):
        # a fresh model server per system: a killed system's requests still queued there (a server on 2
        # cores cannot cancel a generation) must not eat into the next system's time
        with endpoint(a.model, a.port) as upstream:
            proxy = CountingProxy(upstream)
            proxy.limit = a.calls if not system.startswith("assay") else 10**9  # assay stops itself
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                if system.startswith("assay:"):
                    r = run_assay(system.split(":", 1)[1], seed, a, proxy.base_url, work)
                else:
                    r = RUNNERS[system](seed, a, proxy.base_url, work)
            proxy.close()
        r["calls"] = proxy.calls
        exact_judge(r["programs"])
        rows.append(summarise(system, seed, r, a.calls, a.checkpoints))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "err"}), flush=True)
    lines = report(a, rows, (load0, os.getloadavg()[0]), started)
    print("\n".join(lines))
    if not a.no_write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main()
