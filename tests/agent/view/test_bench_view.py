"""`assay bench` results in `assay view` and `assay report`: a store holding a real bench (two strategies x
two seeds, made by the installed console script) is served, its bench page loads in headless Chromium
without a console error and shows the strategies compared with their intervals, and the same page as a
report file opens from disk."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.view.browser import load, needs_chromium, serving
from tests.agent.view.stores import bench_guess
from tests.support.cli import assay
from tests.support.guesser import bisector
from tests.support.llm_server import ScriptedLLMServer

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    db = tmp_path_factory.mktemp("bench") / "runs.db"
    with ScriptedLLMServer(bisector) as server:
        proc = bench_guess(db, server.openai_base_url, "--json")
    assert proc.returncode == 0, proc.stderr
    return db, json.loads(proc.stdout)


@pytest.fixture
def viewer(bench: tuple[Path, dict]) -> Iterator[str]:
    with serving(bench[0]) as url:
        yield url


def _check_bench_page(dom: str, summary: dict) -> None:
    assert 'id="bench-rows"' in dom and 'id="bench-cells"' in dom
    rows = re.findall(r'<tr class="bench-row"><td>example/guess</td><td>([a-z-]+)</td>', dom)
    assert rows == ["best-of-n", "refine"]
    assert dom.count('<tr class="cell">') == 4
    for cell in summary["cells"]:
        assert cell["run_id"] in dom
    assert "<svg" in dom and "strategies at one budget" in dom  # the matplotlib comparison, inline


def test_bench_page_renders_in_chromium(viewer: str, bench: tuple[Path, dict], tmp_path: Path) -> None:
    summary = bench[1]
    runs = load(viewer, tmp_path / "runs.png")
    assert f'<a href="bench/{summary["bench_id"]}">' in runs  # the run list links the bench
    page = load(f"{viewer}bench/{summary['bench_id']}", tmp_path / "bench.png")
    _check_bench_page(page, summary)
    assert f'href="../run/{summary["cells"][0]["run_id"]}"' in page  # each cell opens its run
    root = re.search(r"<html[^>]*>", page)
    assert root is not None and "data-poll" not in root.group(0)  # a finished bench does not poll
    assert (tmp_path / "bench.png").is_file()


def test_bench_report_opens_from_disk(bench: tuple[Path, dict], tmp_path: Path) -> None:
    db, summary = bench
    report = tmp_path / "bench.html"
    proc = assay("report", summary["bench_id"], "--db", str(db), "-o", str(report))
    assert proc.returncode == 0, proc.stderr
    assert f"(bench {summary['bench_id']})" in proc.stdout
    html = report.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing to fetch: it opens offline
    _check_bench_page(load(report.as_uri(), tmp_path / "bench-report.png"), summary)
