"""`--n-per-request/--no-n-per-request` and `--retry-window SECONDS` through the installed console script
(issue 16): each is the config key of its name (`n_per_request`, `retry_window_s`), reaches the model's
settings (seen in the requests the scripted server received), is recorded with the run and repeated by
`assay resume`, and a bad value is one line with exit 2.

The retry test is counted, not timed: the server fails more requests in a row than `max_retries` allows,
and the window (minutes) is far longer than the adapter's few seconds of backoff, however loaded the
machine is."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.agent.run.test_cli_run import one_line_error, run_id_of, stored_config
from tests.support.cli import assay, cli_env, exact_answer_plugin
from tests.support.llm_server import RecordedRequest, Reply, ScriptedLLMServer, sequence

PLUGIN = exact_answer_plugin("mflags/secret", "one problem, answered right by 37")


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "model_flag_tasks.py").write_text(PLUGIN)
    env = cli_env(ASSAY_TASK_MODULES="model_flag_tasks")
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    return env


def run(
    server: ScriptedLLMServer, db: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    return assay(
        "run", "mflags/secret", *args, "--model", "openai/gpt-test", "--base-url", server.openai_base_url,
        "--db", str(db), "--json", env=env,
    )  # fmt: skip


def wrong_answers(request: RecordedRequest) -> Reply:
    """As many wrong answers as the request asks for (`n`, else one)."""
    return Reply(choices=tuple(str(i) for i in range(int(request.body.get("n") or 1))))


PIPELINED = ("--loop", "pipelined", "--strategy", "best-of-n", "--samples", "3", "--iterations", "100")


def test_n_per_request_sends_a_prompts_samples_in_one_request_and_resume_keeps_it(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    plain = tmp_path / "plain.db"
    with ScriptedLLMServer(wrong_answers) as server:
        proc = run(server, plain, plugin_env, *PIPELINED, "--calls", "3")
        assert proc.returncode == 0, proc.stderr
        assert len(server.requests) == 3 and all("n" not in r.body for r in server.requests)
    assert stored_config(plain)["n_per_request"] is False

    db = tmp_path / "n.db"
    with ScriptedLLMServer(wrong_answers) as server:
        proc = run(server, db, plugin_env, *PIPELINED, "--calls", "3", "--n-per-request")
        assert proc.returncode == 0, proc.stderr
        assert [r.body.get("n") for r in server.requests] == [3]  # one request, three samples
    assert json.loads(proc.stdout)["problems"][0]["calls"] == 3
    assert stored_config(db)["n_per_request"] is True

    with ScriptedLLMServer(wrong_answers) as server:
        resumed = assay(
            "resume", run_id_of(db), "--db", str(db), "--calls", "6", "--base-url", server.openai_base_url,
            "--json", env=plugin_env,
        )  # fmt: skip
        assert resumed.returncode == 0, resumed.stderr
        assert [r.body.get("n") for r in server.requests] == [3]  # the recorded setting, repeated
    assert json.loads(resumed.stdout)["problems"][0]["calls"] == 6


def test_the_flag_overrides_the_config_file(tmp_path: Path, plugin_env: dict[str, str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("n_per_request: true\nretry_window_s: 30\n")
    db = tmp_path / "off.db"
    with ScriptedLLMServer(wrong_answers) as server:
        proc = run(server, db, plugin_env, *PIPELINED, "--calls", "3", "--config", str(config),
                   "--no-n-per-request")  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert len(server.requests) == 3 and all("n" not in r.body for r in server.requests)
    assert stored_config(db)["n_per_request"] is False
    assert stored_config(db)["retry_window_s"] == 30


def burst() -> ScriptedLLMServer:
    """Three failures in a row (a 500, a connection reset, a 503), then the right answer."""
    return ScriptedLLMServer(
        sequence(Reply.server_error(500), Reply.reset(), Reply.server_error(503), then="37")
    )


def test_a_retry_window_rides_out_a_burst_longer_than_max_retries_and_resume_takes_it(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("max_retries: 1\n")  # two attempts: the burst of three outlasts them
    args = ("--samples", "1", "--iterations", "1", "--target", "1", "--config", str(config))

    failed = tmp_path / "failed.db"
    with burst() as server:
        proc = run(server, failed, plugin_env, *args)
        assert len(server.requests) == 2  # gave up after max_retries + 1 attempts
    assert proc.returncode == 3, proc.stderr  # stopped resumably on the model's failure
    assert stored_config(failed)["retry_window_s"] == 0

    db = tmp_path / "window.db"
    with burst() as server:
        proc = run(server, db, plugin_env, *args, "--retry-window", "600")
        assert len(server.requests) == 4  # three failures retried within the window, then the answer
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["problems"][0]["best_score"] == 1.0
    assert stored_config(db)["retry_window_s"] == 600

    with burst() as server:  # the failed run, resumed with a window, waits out the same burst
        resumed = assay(
            "resume", run_id_of(failed), "--db", str(failed), "--base-url", server.openai_base_url,
            "--retry-window", "600", "--json", env=plugin_env,
        )  # fmt: skip
        assert len(server.requests) == 4
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["problems"][0]["best_score"] == 1.0
    assert stored_config(failed)["retry_window_s"] == 600  # recorded, so a later resume repeats it


@pytest.mark.parametrize(
    ("args", "config_text", "expected"),
    [
        (("--retry-window", "-1"), None, "retry_window_s"),
        (("--retry-window", "nan"), None, "finite"),
        (("--retry-window", "1e9"), None, "retry_window_s"),
        ((), "n_per_request: maybe\n", "n_per_request"),
        ((), "retry_window_s: soon\n", "retry_window_s"),
    ],
)
def test_a_bad_value_is_one_line_with_exit_2(
    tmp_path: Path, plugin_env: dict[str, str], args: tuple[str, ...], config_text: str | None, expected: str
) -> None:
    extra: tuple[str, ...] = ()
    if config_text is not None:
        (tmp_path / "bad.yaml").write_text(config_text)
        extra = ("--config", str(tmp_path / "bad.yaml"))
    with ScriptedLLMServer("37") as server:
        proc = run(server, tmp_path / "bad.db", plugin_env, *args, *extra)
        assert not server.requests  # refused before any model call
    assert proc.returncode == 2
    assert expected in one_line_error(proc)
