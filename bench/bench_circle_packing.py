"""Circle packing (26 circles) as the field's benchmark: assay's strategies against OpenEvolve, same model.

For each strategy and seed, one `assay run code/circle-packing` through the real CLI, exactly as a user
would, with a budget of the largest call count; the store's records then give, at every checkpoint (e.g.
12, 50 and 150 calls), the share of the model's candidates that were valid packings, the best sum among
them, the best *exactly* valid sum (the held-out rule: no tolerance), and whether it beat the starting
program. The run's own held-out verdict (the exact re-check of its best) is reported too.

OpenEvolve runs, when asked (`--openevolve DIR`, DIR holding its circle-packing example's
`initial_program.py` and `evaluator.py`) and when the `openevolve` package is importable, from its own
initial program with the same endpoint, model and iteration count; its best program is then re-checked
by assay's exact held-out verifier, since its shipped evaluator can be fooled (see docs/DESIGN).

Model: `--model scripted` (an instant scripted server cycling through hand-written programs: a smoke of the
machinery, not a measurement), or any assay model spec, e.g. the embedded model behind one
OpenAI-compatible server for both systems:

    .venv/bin/python -m llama_cpp.server --model MODEL.gguf --port 8765 &
    .venv/bin/python bench/bench_circle_packing.py --model openai/local \\
        --base-url http://127.0.0.1:8765/v1 --strategies best-of-n,refine,evolve --seeds 0,1 \\
        --calls 12,50,150 [--openevolve PATH/examples/circle_packing]

Results go to bench/RESULTS.md under "## Circle packing" unless `--no-write`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results_md import write_section  # noqa: E402

from agent.kernel.records import RecordedHypothesis  # noqa: E402
from agent.kernel.types import Hypothesis, VerdictStatus  # noqa: E402
from agent.store.sqlite import Store  # noqa: E402

HEADING = "## Circle packing"
SEED_SUM = 26 / 12 - 26e-12  # the built-in starting program (tasks/code/circle_packing.py)

#: what the scripted model answers, in turn: the kinds of candidate a real model writes
SCRIPTED = [
    "def pack():\n    return [(0.5, 0.5, 0.3)] * 26\n",  # overlapping
    "def pack():\n"
    "    c = [(0.1 + 0.2 * i, 0.1 + 0.2 * j, 0.1 - 1e-12) for i in range(5) for j in range(5)]\n"
    "    return c + [(0.2, 0.2, 0.04)]\n",  # valid, 2.54
    "import time\ndef pack():\n    while True:\n        time.sleep(0.1)\n",  # a timeout
    "def pack():\n"
    "    c = [(0.1 + 0.2 * i, 0.1 + 0.2 * j, 0.1) for i in range(5) for j in range(5)]\n"
    "    return c + [(0.2, 0.2, 0.0414)]\n",  # valid within the tolerance only
]


@contextlib.contextmanager
def scripted_endpoint() -> Iterator[tuple[str, str]]:
    """An instant OpenAI-format server answering SCRIPTED in turn: (model spec, base URL)."""
    from tests.support.llm_server import ScriptedLLMServer

    answers = itertools.cycle(SCRIPTED)
    with ScriptedLLMServer(lambda _r: f"```python\n{next(answers)}```\n") as server:
        yield "openai/scripted", server.openai_base_url


def run_assay(args: argparse.Namespace, strategy: str, seed: int, base_url: str | None, model: str) -> dict:
    """One search through the CLI; returns the CLI's JSON result and the store's records."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "run.db"
        cmd = [
            sys.executable, "-m", "agent.cli", "run", "code/circle-packing",
            "--strategy", strategy, "--calls", str(max(args.calls)), "--samples", str(args.samples),
            "--top-k", str(args.top_k), "--seed", str(seed), "--model", model, "--db", str(db), "--json",
        ]  # fmt: skip
        if base_url:
            cmd += ["--base-url", base_url]
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit(f"{strategy} seed {seed}: assay exited {proc.returncode}\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout)
        (problem,) = result["problems"]
        with Store(db) as store:
            entries = store.hypotheses(result["run_id"], problem["problem"])
    written = [e for e in entries if e.hypothesis.model != "seed"]
    written.sort(key=lambda e: (e.hypothesis.iteration, e.sample))  # one hypothesis per call
    return {"problem": problem, "written": written, "wall_s": wall}


def checkpoint_stats(written: list[RecordedHypothesis], calls: int) -> dict[str, Any]:
    """The share of valid candidates and the best sums among the first `calls` model candidates."""
    first = written[:calls]
    valid = [e for e in first if e.verdict.status is VerdictStatus.OK and e.verdict.score is not None]
    exact = [e for e in valid if e.verdict.metrics.get("exactly_valid") == 1.0]
    statuses: dict[str, int] = {}
    for e in first:
        statuses[e.verdict.status.value] = statuses.get(e.verdict.status.value, 0) + 1
    best = max((e.verdict.score for e in valid), default=None)
    best_exact = max((e.verdict.score for e in exact), default=None)
    return {
        "calls": len(first),
        "valid_share": len(valid) / len(first) if first else 0.0,
        "best": best,
        "best_exact": best_exact,
        "beats_seed": best_exact is not None and best_exact > SEED_SUM + 1e-9,
        "statuses": statuses,
    }


def exact_check(source: str) -> tuple[str, float | None]:
    """A program through assay's held-out (exact) verifier: how an OpenEvolve result is judged here."""
    from sandboxes import close_sandbox
    from tasks.code.circle_packing import make_task

    async def go() -> tuple[str, float | None]:
        held = make_task().held_out
        assert held is not None
        try:
            verdict = await held.verify(Hypothesis.create(source))
        finally:
            await close_sandbox()
        return verdict.status.value, verdict.score

    return asyncio.run(go())


def run_openevolve(example: Path, calls: int, seed: int, model: str, base_url: str | None) -> dict | None:
    """OpenEvolve from its own initial program for `calls` iterations (one LLM call each), same endpoint."""
    if importlib.util.find_spec("openevolve") is None:
        print("openevolve is not installed: its side is not measured", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        config = Path(tmp) / "config.yaml"
        name = model.split("/", 1)[-1]
        config.write_text(
            f"max_iterations: {calls}\nrandom_seed: {seed}\n"
            f"llm:\n  api_base: {base_url or 'https://api.openai.com/v1'}\n"
            f"  models:\n    - name: {name}\n      weight: 1.0\n"
            "evaluator:\n  parallel_evaluations: 1\n",
            encoding="utf-8",
        )
        cmd = [
            sys.executable, "-m", "openevolve.cli", str(example / "initial_program.py"),
            str(example / "evaluator.py"), "--config", str(config), "--iterations", str(calls),
            "--output", str(out),
        ]  # fmt: skip
        env = {**os.environ, "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "unused")}
        started = time.monotonic()
        proc = subprocess.run(cmd, cwd=example, capture_output=True, text=True, check=False, env=env)
        wall = time.monotonic() - started
        best_file = next(iter(out.glob("best/best_program*.py")), None)
        if proc.returncode != 0 or best_file is None:
            print(f"openevolve failed ({proc.returncode}): {proc.stderr[-2000:]}", file=sys.stderr)
            return None
        info_file = out / "best" / "best_program_info.json"
        info = json.loads(info_file.read_text()) if info_file.exists() else {}
        source = best_file.read_text(encoding="utf-8")
    status, score = exact_check(source)
    metrics = info.get("metrics", {})
    claimed = metrics.get("sum_radii", metrics.get("combined_score"))
    return {"claimed": claimed, "exact_status": status, "exact_score": score, "wall_s": wall}


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def report(
    args: argparse.Namespace, rows: list[dict], oe_rows: list[dict], load: tuple[float, float]
) -> list[str]:
    lines = [
        f"`bench/bench_circle_packing.py --model {args.model} --strategies {','.join(args.strategies)} "
        f"--seeds {','.join(map(str, args.seeds))} --calls {','.join(map(str, args.calls))} "
        f"--samples {args.samples} --top-k {args.top_k}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} before and {load[1]:.1f} after.",
        f"Starting program: the built-in 6 x 5 grid, sum {SEED_SUM:.4f}. 'valid' is the search check "
        "(tolerance 1e-9); 'best exact' counts only packings valid in exact arithmetic.",
        "",
        "| system | strategy | seed | calls | valid share | best sum | best exact | beats start | statuses "
        "| held-out of final best | wall s |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---|---:|",
    ]
    for row in rows:
        held = row["problem"].get("held_out") or {}
        for cp in row["checkpoints"]:
            lines.append(
                f"| assay | {row['strategy']} | {row['seed']} | {cp['calls']} | {cp['valid_share']:.2f} "
                f"| {fmt(cp['best'])} | {fmt(cp['best_exact'])} | {'yes' if cp['beats_seed'] else 'no'} "
                f"| {json.dumps(cp['statuses'])} | {held.get('status', '-')} {fmt(held.get('score'))} "
                f"| {row['wall_s']:.0f} |"
            )
    for oe in oe_rows:
        lines.append(
            f"| OpenEvolve | its own | {oe['seed']} | {oe['calls']} | - "
            f"| {fmt(oe['claimed'])} (its evaluator) "
            f"| {fmt(oe['exact_score'])} | - | - | {oe['exact_status']} {fmt(oe['exact_score'])} "
            f"| {oe['wall_s']:.0f} |"
        )
    if args.model == "scripted":
        lines.append("")
        lines.append(
            "A scripted model answers fixed programs in turn: this checks the machinery, it measures nothing."
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="scripted", help="'scripted' or an assay model spec")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--strategies", type=lambda s: s.split(","), default=["best-of-n", "refine"])
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1])
    parser.add_argument("--calls", type=lambda s: sorted(int(x) for x in s.split(",")), default=[12, 50, 150])
    parser.add_argument("--samples", type=int, default=2, help="candidates per iteration")
    parser.add_argument("--top-k", type=int, default=2, help="earlier attempts shown per prompt")
    parser.add_argument("--openevolve", type=Path, default=None, help="OpenEvolve's circle_packing example")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        model, base_url = args.model, args.base_url
        if model == "scripted":
            model, base_url = stack.enter_context(scripted_endpoint())
        rows = []
        for strategy, seed in itertools.product(args.strategies, args.seeds):
            row = run_assay(args, strategy, seed, base_url, model)
            row.update(strategy=strategy, seed=seed)
            row["checkpoints"] = [checkpoint_stats(row["written"], c) for c in args.calls]
            rows.append(row)
            print(f"assay {strategy} seed {seed}: {row['checkpoints'][-1]}", flush=True)
        oe_rows = []
        if args.openevolve is not None:
            for seed, calls in itertools.product(args.seeds, args.calls):
                oe = run_openevolve(args.openevolve, calls, seed, model, base_url)
                if oe is not None:
                    oe_rows.append({**oe, "seed": seed, "calls": calls})
    lines = report(args, rows, oe_rows, (load_before, os.getloadavg()[0]))
    print("\n".join(lines))
    if not args.no_write:
        write_section(HEADING, lines)


if __name__ == "__main__":
    main()
