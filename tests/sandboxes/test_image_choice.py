"""Which image a Docker sandbox configured with the default tag runs: this checkout's recipe's own, even when
another checkout's build has moved `latest` to an image of another recipe (two clones or CI runs sharing one
daemon); with no image of this recipe, the tag as it is, said in a warning. The image here is the real
sandbox image under a test repository's tags plus a label-only variant of it, so nothing is rebuilt and the
real `assay-sandbox:latest` is never touched."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from sandboxes.docker import resolve_image
from sandboxes.image.recipe import RECIPE_LABEL, recipe_tag
from tests.support.sandbox import IMAGE, require_docker

pytestmark = pytest.mark.docker

REPO = "assay-choice-test"
LATEST = f"{REPO}:latest"
OURS = "0123456789abcdef"  # the recipe this "checkout" expects


def docker_ok(*args: str) -> None:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def other_latest(tmp_path: Path) -> Iterator[str]:
    """`assay-choice-test:latest` = the sandbox image relabelled as another recipe's build."""
    require_docker()
    (tmp_path / "Dockerfile").write_text(f'FROM {IMAGE}\nLABEL {RECIPE_LABEL}="feedfacefeedface"\n')
    docker_ok("build", "-q", "--network", "none", "-t", LATEST, str(tmp_path))
    try:
        yield LATEST
    finally:
        for tag in (LATEST, recipe_tag(LATEST, OURS)):
            subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def test_the_default_tag_runs_this_recipes_image_when_latest_is_another(other_latest: str) -> None:
    client = docker.from_env()
    docker_ok("tag", IMAGE, recipe_tag(LATEST, OURS))
    chosen = resolve_image(client, LATEST, default_tag=LATEST, expected=OURS)
    assert chosen.id == client.images.get(IMAGE).id
    assert chosen.id != client.images.get(LATEST).id


def test_without_this_recipes_image_the_tag_is_used_and_the_mismatch_said(
    other_latest: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = docker.from_env()
    with caplog.at_level(logging.WARNING, logger="assay.sandbox"):
        chosen = resolve_image(client, LATEST, default_tag=LATEST, expected=OURS)
    assert chosen.id == client.images.get(LATEST).id
    assert "feedfacefeedface" in caplog.text and OURS in caplog.text and "assay sandbox build" in caplog.text


def test_an_explicitly_configured_image_is_taken_as_it_is(other_latest: str) -> None:
    client = docker.from_env()
    docker_ok("tag", IMAGE, recipe_tag(LATEST, OURS))
    chosen = resolve_image(client, LATEST, default_tag="assay-sandbox:latest", expected=OURS)
    assert chosen.id == client.images.get(LATEST).id
