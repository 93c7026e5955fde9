"""The image build's registry path (`FROM <base>` + wheels fetched by the host's pip), with the already built
sandbox image standing in for python:3.11-slim, which this machine's missing registry cannot provide."""

from __future__ import annotations

import subprocess

import pytest

from sandboxes.image.build import BuildOptions, build_image, current_recipe
from sandboxes.image.recipe import recipe_tag
from tests.support.sandbox import IMAGE, require_docker

pytestmark = pytest.mark.docker

TAG = "assay-sandbox-buildtest:latest"


def test_registry_path_builds_labels_and_reuses() -> None:
    require_docker()
    opts = BuildOptions(tag=TAG, base="registry", base_image=IMAGE, packages=["mpmath"], wheels=[])
    changed = BuildOptions(tag=TAG, base="registry", base_image=IMAGE, packages=["mpmath", "six"], wheels=[])
    log: list[str] = []
    try:
        build_image(opts, log=log.append)
        assert current_recipe(TAG) == opts.recipe_hash()
        run = subprocess.run(
            ["docker", "run", "--rm", "--network=none", TAG, "python3", "-c", "import mpmath; print('ok')"],
            capture_output=True, text=True,
        )  # fmt: skip
        assert run.stdout.strip() == "ok", run.stderr
        again: list[str] = []
        build_image(opts, log=again.append)
        assert any("up to date" in line for line in again)
        assert changed.recipe_hash() != opts.recipe_hash()
        assert current_recipe(recipe_tag(TAG, opts.recipe_hash())) == opts.recipe_hash()
        # another checkout's recipe built under the same tag takes `latest` but leaves this one's image
        build_image(changed, log=[].append)
        assert current_recipe(TAG) == changed.recipe_hash()
        assert current_recipe(recipe_tag(TAG, opts.recipe_hash())) == opts.recipe_hash()
        # and building this recipe again moves the tag back without building anything
        back: list[str] = []
        build_image(opts, log=back.append)
        assert any("up to date" in line for line in back)
        assert not any(line.startswith("$ docker build") for line in back), back
        assert current_recipe(TAG) == opts.recipe_hash()
    finally:
        for recipe in (opts.recipe_hash(), changed.recipe_hash()):
            subprocess.run(["docker", "rmi", "-f", recipe_tag(TAG, recipe)], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", TAG], capture_output=True)


def test_the_package_list_is_in_the_recipe_and_so_in_the_sandbox_identity() -> None:
    """scipy is in the default image (circle packing's optimisers need it). The recipe hash is the Docker
    sandbox's identity (`docker:<recipe>`, tests/sandboxes/test_clean_jobs.py), which keys the verdict
    cache: a verdict judged in the image without scipy is never reused in the image with it."""
    with_scipy = BuildOptions(wheels=[])
    assert "scipy" in with_scipy.packages and "numpy" in with_scipy.packages
    without = BuildOptions(wheels=[], packages=[p for p in with_scipy.packages if p != "scipy"])
    assert without.recipe_hash() != with_scipy.recipe_hash()
    assert BuildOptions(wheels=[], packages=list(reversed(with_scipy.packages))).recipe_hash() == (
        with_scipy.recipe_hash()
    )  # the order of the list is not the image's content


def test_recipe_tags_keep_a_registry_port_apart_from_the_tag() -> None:
    assert recipe_tag("assay-sandbox:latest", "ab12") == "assay-sandbox:ab12"
    assert recipe_tag("assay-sandbox", "ab12") == "assay-sandbox:ab12"
    assert recipe_tag("host:5000/team/assay:latest", "ab12") == "host:5000/team/assay:ab12"
    assert recipe_tag("host:5000/team/assay", "ab12") == "host:5000/team/assay:ab12"
