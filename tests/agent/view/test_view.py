"""`assay view` and `assay report` in a real browser: the installed console script serves a store holding a
finished run and a running one, headless Chromium (Debian's package) loads the pages, and each page's own
script reports that it ran without an error (`data-js-ready`, and no `data-js-errors`)."""

from __future__ import annotations

import re
import sqlite3
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.view.browser import load, needs_chromium, serving
from tests.agent.view.stores import finished_and_running
from tests.support.cli import assay

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    db = tmp_path_factory.mktemp("view") / "runs.db"
    finished, running = finished_and_running(db)
    return db, finished, running


@pytest.fixture
def viewer(store: tuple[Path, str, str]) -> Iterator[str]:
    with serving(store[0]) as url:
        yield url


def test_viewer_pages_render_in_chromium(viewer: str, store: tuple[Path, str, str], tmp_path: Path) -> None:
    db, finished, running = store
    runs = load(viewer, tmp_path / "runs.png")
    assert 'id="runs"' in runs and finished in runs and running in runs
    assert re.search(r'class="run running"[^<]*<td><a href="run/' + running, runs)

    page = load(f"{viewer}run/{finished}", tmp_path / "finished.png")
    assert '<pre class="diff">' in page and '<span class="add">+' in page  # a lineage diff
    assert "<svg" in page and "best score by calls" in page  # a matplotlib plot, inline
    assert 'id="heldout"' in page and "HELD-OUT-SECRET-MARKER" in page  # held-out, in its own section
    assert "prompt it answered" in page and "Guess secret integer #0" in page
    assert 'id="costs"' in page and "openai/gpt-test" in page

    live = load(f"{viewer}run/{running}", tmp_path / "running.png")
    assert f'data-poll="/api/run/{running}/fingerprint"' in live  # it refreshes while the run goes on
    assert "pending" in live  # no held-out result yet
    with sqlite3.connect(db, timeout=1) as con:  # the viewer holds no lock a search could wait on
        con.execute("UPDATE runs SET updated = updated + 1 WHERE id = ?", (running,))
    with urllib.request.urlopen(f"{viewer}api/run/{running}/fingerprint", timeout=10) as r:
        assert r.status == 200 and b"fingerprint" in r.read()
    for shot in ("runs.png", "finished.png", "running.png"):
        assert (tmp_path / shot).is_file()


def test_report_opens_from_disk(store: tuple[Path, str, str], tmp_path: Path) -> None:
    db, finished, _ = store
    report = tmp_path / "report.html"
    proc = assay("report", finished[:15], "--db", str(db), "-o", str(report))
    assert proc.returncode == 0, proc.stderr
    html = report.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing to fetch: it opens offline
    dom = load(report.as_uri(), tmp_path / "report.png")
    assert '<pre class="diff">' in dom and "<svg" in dom and 'id="heldout"' in dom
    root = re.search(r"<html[^>]*>", dom)
    assert root is not None and "data-poll" not in root.group(0)  # a file does not poll


def test_show_and_runs_text(store: tuple[Path, str, str]) -> None:
    db, finished, running = store
    shown = assay("show", finished, "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    assert "held-out: ok (score 1.0)" in shown.stdout and "tokens" in shown.stdout
    assert "problem: Guess secret integer #1" in shown.stdout and "cost $" in shown.stdout
    listed = assay("runs", "--db", str(db), "--limit", "1")
    assert running in listed.stdout and finished not in listed.stdout
    assert "runs 1-1 of 2" in listed.stdout and "duration" in listed.stdout
    older = assay("runs", "--db", str(db), "--limit", "1", "--offset", "1")
    assert finished in older.stdout and "finished" in older.stdout
