"""The Docker probe behind `assay sandbox check` and the fixtures: every failure is a reason, never a crash.

A busy machine makes the daemon answer late, which `requests` reports as a ReadTimeout that docker-py does not
wrap. These tests stand up a real HTTP server speaking just enough of the Docker API, slow where it matters,
and point the real docker client at it through DOCKER_HOST.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandboxes.availability import docker_status

IMAGE = "assay-sandbox:latest"


class FakeDaemon(ThreadingHTTPServer):
    """Answers /version, /_ping and image inspection; the paths in `slow` hang until the test ends."""

    daemon_threads = True

    def __init__(self, slow: tuple[str, ...], has_image: bool = True) -> None:
        self.slow = slow
        self.has_image = has_image
        self.release = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: FakeDaemon

    def do_GET(self) -> None:
        if any(part in self.path for part in self.server.slow):
            self.server.release.wait(10)
            return
        if self.path.endswith("/version"):
            self._reply(200, {"ApiVersion": "1.41", "Version": "fake"})
        elif self.path.endswith("/_ping"):
            self._reply(200, "OK")
        elif "/images/" in self.path:
            if self.server.has_image:
                self._reply(200, {"Id": "sha256:" + "0" * 64, "RepoTags": [IMAGE]})
            else:
                self._reply(404, {"message": f"No such image: {IMAGE}"})
        else:
            self._reply(404, {"message": "not found"})

    def _reply(self, code: int, body: object) -> None:
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def daemon(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDaemon]:
    slow, has_image = request.param  # (paths that hang, whether the image exists)
    server = FakeDaemon(slow, has_image)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("daemon", [((), True)], indirect=True)
def test_a_daemon_with_the_image_is_usable(daemon: FakeDaemon) -> None:
    status = docker_status(IMAGE, timeout_s=2)
    assert status.usable and status.reason is None


@pytest.mark.parametrize("daemon", [((), False)], indirect=True)
def test_a_missing_image_says_how_to_build_it(daemon: FakeDaemon) -> None:
    status = docker_status(IMAGE, timeout_s=2)
    assert status.daemon and not status.usable
    assert status.reason == f"image {IMAGE} is missing: run `assay sandbox build`"


@pytest.mark.parametrize(
    ("daemon", "where"),
    [
        ((("/version",), True), "no Docker daemon reachable"),
        ((("/_ping",), True), "the Docker daemon does not answer"),
        ((("/images/",), True), f"cannot inspect image {IMAGE}"),
    ],
    indirect=["daemon"],
    ids=["version", "ping", "image"],
)
def test_a_daemon_that_answers_too_late_is_not_available(daemon: FakeDaemon, where: str) -> None:
    status = docker_status(IMAGE, timeout_s=0.5)
    assert not status.usable
    assert status.reason is not None
    assert status.reason.startswith(where)
    assert "no answer within 0.5 s" in status.reason and "ReadTimeout" in status.reason


def test_nothing_listening_is_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: connections to it are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{port}")
    status = docker_status(IMAGE, timeout_s=2)
    assert not status.daemon and not status.usable
    assert status.reason is not None and status.reason.startswith("no Docker daemon reachable")
