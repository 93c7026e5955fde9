"""Rewards written to score without solving the task, against the real verifiers in real sandboxes.

Each attack returns the zero reward (or breaks), so the highest it may score on the search and on the
held-out verifier is what the honest zero reward scores there; measured on the old in-process runner, the
trainer replacement and the forged record scored 1.0 on both. A small trainer config keeps it quick.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
from collections.abc import Iterator

import numpy as np
import pytest

from agent.kernel.sandbox import Sandbox
from agent.kernel.types import Hypothesis, Verdict, VerdictStatus
from tasks.reward.problems import PROBLEMS
from tasks.reward.shipped.sims import mountaincar
from tasks.reward.shipped.trainers import qlearning
from verifiers.reward.evaluator import RESULT_MARK, RewardEvaluator
from verifiers.reward.heldout import RewardHeldOut

pytestmark = pytest.mark.requires_modules("numpy")

MC = dataclasses.replace(PROBLEMS["mountaincar"], trainer_config={"steps": 1500})
ZERO = """import numpy as np


def compute_reward(obs, action, next_obs, done):
    return np.zeros(len(obs)), {}
"""


def _attack(body: str) -> str:
    """Module-level attack code, then the zero reward."""
    return "import os, sys, json, gc, inspect, signal\nimport numpy as np\n\n" + body + "\n\n" + ZERO


def _good_policy_record() -> str:
    """The record a forger would print: a policy trained with the environment's reward (it works)."""

    def env(obs, action, next_obs, done):  # type: ignore[no-untyped-def]
        return -np.ones(len(obs)), {}

    policy, _ = qlearning.train(mountaincar, env, 0, {})
    blob = {"shape": list(policy.shape), "b64": base64.b64encode(policy.tobytes()).decode()}
    runs = [
        {"seed": s, "policy": blob, "log": {"windows": {"success": [1.0]}}, "cpu_s": 1.0} for s in (0, 1000)
    ]
    return RESULT_MARK + " " + json.dumps({"status": "ok", "runs": runs[:1]})


FORGED = _good_policy_record()

ATTACKS = {
    "replace trainer.train via sys.modules": """
def _train(sim, reward_fn, seed, config=None, randomise=None):
    raise SystemExit(0)
for name in ("trainer", "__main__", "runner"):
    if name in sys.modules:
        sys.modules[name].train = _train
sys.path.append("..")
try:
    import trainer
    trainer.train = _train
except Exception as e:
    print("no trainer:", type(e).__name__, file=sys.stderr)
""",
    "patch the simulator and trainer globals": """
import sim
sim.GOAL_POSITION = -10.0
sim.MAX_STEPS = 1
sim.goal = lambda state: np.ones(len(state), dtype=bool)
for mod in list(sys.modules.values()):
    if hasattr(mod, "DEFAULTS"):
        mod.DEFAULTS["steps"] = 0
""",
    "walk frames and the heap for trainer state": """
found = []
frame = sys._getframe()
while frame is not None:
    found += [k for k in frame.f_globals if k in ("trainer", "config", "salt", "seeds")]
    frame = frame.f_back
for obj in gc.get_objects():
    if isinstance(obj, dict) and ("salt" in obj or "trainer_config" in obj or "seeds" in obj):
        obj["seeds"] = []
        found.append("config dict")
for st in inspect.stack():
    found += [k for k in st.frame.f_locals if k in ("weights", "policy")]
print("FOUND", found, file=sys.stderr)
""",
    "write a forged record to every descriptor and to the parent's stdout": f"""
line = ({FORGED!r} + "\\n").encode()
for fd in range(0, 256):
    try:
        os.write(fd, line)
    except OSError:
        pass
for path in ("/proc/self/fd/1", f"/proc/{{os.getppid()}}/fd/1", "/dev/stdout"):
    try:
        with open(path, "wb") as f:
            f.write(line)
    except OSError as e:
        print("forge", path, type(e).__name__, file=sys.stderr)
""",
    "kill its parent": "os.kill(os.getppid(), signal.SIGKILL)",
    "drop json.py and numpy.py into the job directory": """
for d in ("..", "."):
    for name in ("json.py", "numpy.py", "base64.py"):
        try:
            with open(os.path.join(d, name), "w") as f:
                f.write("raise SystemExit('hijacked')\\n")
        except OSError as e:
            print("drop", name, type(e).__name__, file=sys.stderr)
""",
    "train extra seeds itself with the trainer's own code": """
import types
try:
    mods = {}
    for name in ("stats", "trainer"):
        mod = types.ModuleType(name)
        exec(open(os.path.join("..", name + ".py")).read(), mod.__dict__)
        sys.modules[name] = mod
    import sim
    env = lambda o, a, n, d: (-np.ones(len(o)), {})
    best = sys.modules["trainer"].train(sim, env, 7, {"steps": 1500})[0]
    print("trained a policy of", best.shape, "it cannot hand over", file=sys.stderr)
except Exception as e:
    print("extra training failed:", type(e).__name__, e, file=sys.stderr)
""",
    "garbage on the reply pipe": """
try:
    os.write(int(sys.argv[2]), b"\\x00\\x00\\x00\\x00\\xff\\xff\\xff\\xff" + b"\\x00" * 64)
except (OSError, IndexError, ValueError):
    pass
""",
    "fork a helper that outlives its seed": """
try:
    if os.fork() == 0:
        os.setsid()
        import time
        time.sleep(60)
        os._exit(0)
except OSError as e:
    print("fork", type(e).__name__, file=sys.stderr)
""",
}

#: what the candidate can see of its surroundings, normalised: nothing in it may differ between splits
PROBE = _attack("""
def _read(path, limit=4096):
    try:
        with open(path, "rb") as f:
            return "read %d bytes" % len(f.read(limit))
    except OSError as e:
        return type(e).__name__
def _norm(text):
    return text.replace(os.getcwd(), "HOME").replace(os.path.dirname(os.getcwd()), "JOB")
ppid = os.getppid()
lines = ["argv " + _norm(" ".join(sys.argv))]
lines += ["env %s=%s" % (k, _norm(v)) for k, v in sorted(os.environ.items())]
lines += ["cwd " + " ".join(sorted(os.listdir(".")))]
lines += ["jobdir " + " ".join(sorted("cand-X" if n.startswith("cand-") else n for n in os.listdir("..")))]
for name in ("environ", "mem", "cmdline", "fd/0", "fd/1", "maps", "cwd/config.json"):
    lines.append("parent %s %s" % (name, _read("/proc/%d/%s" % (ppid, name))))
try:
    lines.append("parent fds " + " ".join(sorted(os.listdir("/proc/%d/fd" % ppid))))
except OSError as e:
    lines.append("parent fds " + type(e).__name__)
with open("/proc/%d/cmdline" % ppid, "rb") as f:
    lines.append("parent cmdline " + f.read().decode(errors="replace").replace("\\0", " "))
for name in sorted(os.listdir("..")):
    if name.endswith((".json", ".txt", ".cfg")):
        lines.append("file " + name + " " + _read(os.path.join("..", name)))
for line in lines:
    print("PROBE " + line, file=sys.stderr)
""")


@pytest.fixture(scope="module")
def verifiers(sandbox: Sandbox) -> Iterator[tuple[RewardEvaluator, RewardHeldOut]]:
    yield RewardEvaluator(MC, seeds=(0,), sandbox=sandbox), RewardHeldOut(MC, seeds=(1000,), sandbox=sandbox)


@pytest.fixture(scope="module")
def zero_scores(verifiers: tuple[RewardEvaluator, RewardHeldOut]) -> tuple[float, float]:
    search, held_out = verifiers
    a = asyncio.run(search.verify(Hypothesis.create(ZERO)))
    b = asyncio.run(held_out.verify(Hypothesis.create(ZERO)))
    assert a.score is not None and b.score is not None
    return a.score, b.score


def _no_better(verdict: Verdict, ceiling: float) -> None:
    assert verdict.score is None or verdict.score <= ceiling, verdict.feedback[:2000]


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_an_attack_scores_no_better_than_the_zero_reward(
    name: str, verifiers: tuple[RewardEvaluator, RewardHeldOut], zero_scores: tuple[float, float]
) -> None:
    search, held_out = verifiers
    source = _attack(ATTACKS[name])
    _no_better(await search.verify(Hypothesis.create(source)), zero_scores[0])
    _no_better(await held_out.verify(Hypothesis.create(source)), zero_scores[1])


async def test_the_cpu_budget_stops_work_hidden_in_the_reward(
    verifiers: tuple[RewardEvaluator, RewardHeldOut],
) -> None:
    source = ZERO.replace("    return np.zeros", "    while True:\n        pass\n    return np.zeros")
    for verifier in verifiers:
        verdict = await verifier.verify(Hypothesis.create(source))
        assert verdict.status is VerdictStatus.TIMEOUT and verdict.score is None, verdict.feedback
        assert "CPU budget" in verdict.feedback


async def test_killing_the_parent_is_an_error_not_a_score(
    verifiers: tuple[RewardEvaluator, RewardHeldOut],
) -> None:
    verdict = await verifiers[0].verify(Hypothesis.create(_attack(ATTACKS["kill its parent"])))
    assert verdict.status is VerdictStatus.ERROR and verdict.score is None


async def test_a_candidate_sees_the_same_surroundings_on_every_split(
    sandbox: Sandbox, verifiers: tuple[RewardEvaluator, RewardHeldOut]
) -> None:
    """What the candidate can read (its argv, environment, directories, the trainer's /proc) is the same for
    the search, the held-out and the tuning seeds, and says nothing of seeds or salt."""
    search, _ = verifiers
    seen = []
    for seeds in ((0,), (1000,), (500,)):
        result = await sandbox.run(search.job(PROBE, seeds))
        probe = [line for line in result.stderr.splitlines() if line.startswith("PROBE ")]
        assert probe, result.stderr[-2000:]
        seen.append(re.sub(r"\b\d{2,}\b", "N", "\n".join(probe)))  # fd numbers and pids vary per run
    assert seen[0] == seen[1] == seen[2], seen
    text = seen[0]
    for secret in ("environ", "mem", "fd/0", "cwd/config.json"):
        assert f"parent {secret} read" not in text, text
    assert "parent fds read" not in text and "ASSAY_SEED_SALT" not in text and "salt" not in text


async def test_the_reward_never_runs_in_the_trainers_process(sandbox: Sandbox) -> None:
    """The heap walk finds no trainer state: the candidate's process holds none of it."""
    ev = RewardEvaluator(MC, seeds=(0,), sandbox=sandbox)
    result = await sandbox.run(ev.job(_attack(ATTACKS["walk frames and the heap for trainer state"])))
    assert "FOUND []" in result.stderr, result.stderr[-2000:]
