"""What the viewer's browser tests share: headless Chromium (Debian's package), and `assay view` served by the
installed console script on a free port of 127.0.0.1 until the test is done."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.cli import ASSAY, ROOT, cli_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium is not installed (apt-get install -y chromium)"
)


def _browser(url: str, *args: str) -> str:
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--window-size=1280,2000", *args, url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def load(url: str, screenshot: Path) -> str:
    """The page's DOM after its scripts ran, and a screenshot of it; fails on any error of its script."""
    dom = _browser(url, "--dump-dom")
    _browser(url, f"--screenshot={screenshot}")
    assert screenshot.stat().st_size > 10_000  # a rendered page, not a blank one
    root = re.search(r"<html[^>]*>", dom)
    assert root is not None, dom[:500]
    assert 'data-js-ready="1"' in root.group(0), root.group(0)  # the page's script ran to its end
    assert "data-js-errors" not in root.group(0), root.group(0)  # and window.onerror saw nothing
    return dom


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(db: Path) -> Iterator[str]:
    """`assay view --db DB` on a free port; yields its base URL once it answers, stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [ASSAY, "view", "--db", str(db), "--port", str(port)],
        env=cli_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    assert r.status == 200
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"assay view did not start: {proc.communicate()}") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
