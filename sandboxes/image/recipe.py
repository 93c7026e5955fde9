"""What the sandbox image is made of, and the names it is found by: shared by the build and the backend.

The recipe hash is the image's content (recipe steps, package list, extra wheels), never this file's text. An
image is tagged twice, `assay-sandbox:latest` and `assay-sandbox:<recipe>`: two checkouts of different recipes
on one Docker daemon (a user's old and new clone, two CI runs) each find their own image by its recipe tag, so
neither's `assay sandbox build` rebuilds over the other's and neither judges candidates in the other's image
(whose packages its prompts do not describe). `latest` names the most recent build, for humans and for
images built before the recipe tags.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Iterable
from pathlib import Path

DEFAULT_IMAGE = "assay-sandbox:latest"
#: the image label that holds its recipe hash: what the Docker sandbox's identity names
RECIPE_LABEL = "assay.recipe"
#: bump when the build steps themselves change (a comment edit must not cost a rebuild)
RECIPE_VERSION = "1"
BASE_IMAGE = "python:3.11-slim"
SUITE = "bookworm"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEBOOTSTRAP_INCLUDE = "python3,python3-venv,python3-pip,ca-certificates"
DEFAULT_WHEEL_GLOB = "/opt/wheels/torch-*+cpu-cp311-*.whl"
#: what candidates can import besides the standard library: numpy and sympy for the code and math families,
#: scipy because a real circle-packing optimiser is an SLSQP from scipy.optimize (tasks/code/circle_packing.py
#: states these in its prompt from this tuple, so the prompt never promises what the image lacks)
DEFAULT_PACKAGES = ("numpy", "scipy", "sympy")


def default_wheels() -> list[Path]:
    """The CPU torch wheel the loss evaluator needs, when this machine has one lying around."""
    return [Path(p) for p in sorted(glob.glob(DEFAULT_WHEEL_GLOB))]


def recipe_hash(packages: Iterable[str], wheels: Iterable[Path], base_image: str = BASE_IMAGE) -> str:
    """16 hex digits naming what goes into the image; the package order is not its content."""
    h = hashlib.sha256()
    h.update(f"{RECIPE_VERSION}|{SUITE}|{DEBOOTSTRAP_INCLUDE}|{IMAGE_PATH}|{base_image}".encode())
    for p in sorted(packages):
        h.update(b"pkg:" + p.encode())
    for w in wheels:
        h.update(b"whl:" + w.name.encode() + str(w.stat().st_size).encode())
    return h.hexdigest()[:16]


def default_recipe() -> str:
    """The recipe `assay sandbox build` (no options) builds on this machine, for this checkout."""
    return recipe_hash(DEFAULT_PACKAGES, default_wheels())


def recipe_tag(tag: str, recipe: str) -> str:
    """`repo:latest` -> `repo:<recipe>`; a registry's port (`host:5000/repo`) is not mistaken for a tag."""
    repo = tag.rsplit(":", 1)[0] if ":" in tag.rsplit("/", 1)[-1] else tag
    return f"{repo}:{recipe}"
