"""The soak's sandboxed task (a plugin module: Ray workers import it by name, as a user's cluster would).

`bench/soak-sandbox`: every candidate (the scripted server's counter, a decimal number) is judged by one
real job in the process-wide shared sandbox, a trivial Python program that sleeps `JOB_SLEEP_S` and prints
`n*n % 9973`. Its command line carries `MARKER` and the hypothesis id, so the soak's fault injector finds
the jobs (and, through their parents, the sandbox workers) from outside and knows which candidate it hit.

Scoring: only a job that exited 0 and printed exactly the number the host computes itself gets a score;
a job that ended any other way (killed, non-zero exit, timeout, wrong output) is an `error` verdict with no
score. Infrastructure failures of the sandbox raise `SandboxError` (the loop retries them).
"""

from __future__ import annotations

from agent.kernel import Hypothesis, Task, Verdict, VerdictStatus, fingerprint, task
from agent.kernel.sandbox import Job, Limits

#: on every soak job's command line, for the fault injector
MARKER = "assay-soak-job"
#: how long each job runs (so a kill from outside finds jobs in flight)
JOB_SLEEP_S = 0.05
MODULUS = 9973
PROGRAM = f"import sys, time\ntime.sleep({JOB_SLEEP_S})\nprint('SOAK', int(sys.argv[3]) ** 2 % {MODULUS})\n"


def expected(content: str) -> int:
    return int(content) ** 2 % MODULUS


class SoakSandboxVerifier:
    name = "bench-soak-sandbox"
    version = fingerprint("bench-soak-sandbox", PROGRAM)

    async def verify(self, hypothesis: Hypothesis) -> Verdict:
        from sandboxes.shared import get_sandbox

        content = hypothesis.content.strip()
        if not content.isdigit() or len(content) > 12:
            return Verdict(status=VerdictStatus.INVALID, feedback="not a number")
        job = Job(
            command=["python3", "-c", PROGRAM, MARKER, hypothesis.id, content],
            limits=Limits(wall_s=20.0, memory_mb=256, pids=16),
        )
        result = await (await get_sandbox()).run(job)
        want = f"SOAK {expected(content)}"
        if result.ok and result.stdout.strip() == want:
            return Verdict(status=VerdictStatus.FAIL, score=-expected(content) / MODULUS, feedback="ran")
        how = f"signal {result.signal}" if result.signal else f"exit code {result.exit_code}"
        if result.timed_out:
            how = "timeout"
        return Verdict(
            status=VerdictStatus.ERROR,
            feedback=f"the job did not finish ({how}): {result.stderr.strip()[-200:]}",
            metrics={"signal": float(result.signal or 0)},
        )


@task("bench/soak-sandbox", "a trivial job per candidate in the real sandbox (the soak bench)")
def make_soak_sandbox() -> Task:
    return Task(
        "bench/soak-sandbox",
        "0",
        "Answer with a number.",
        str.strip,
        SoakSandboxVerifier(),
        uses_sandbox=True,
    )
