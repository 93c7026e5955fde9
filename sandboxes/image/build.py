"""Build the sandbox image: `python:3.11-slim` where a registry answers, else debootstrap + `docker import`.

The image carries a content label (a hash of this recipe, the package list and the extra wheels), so an image
built from the same recipe is reused and a changed recipe rebuilds. The worker is *not* baked in: it is
shipped with every container start, so changing it never needs a rebuild.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.kernel.errors import SandboxError
from sandboxes.image.recipe import (
    BASE_IMAGE,
    DEBOOTSTRAP_INCLUDE,
    DEFAULT_IMAGE,
    DEFAULT_PACKAGES,
    IMAGE_PATH,
    RECIPE_LABEL,
    SUITE,
    default_wheels,
    recipe_hash,
    recipe_tag,
)

__all__ = ["DEFAULT_PACKAGES", "BuildOptions", "build_image", "current_recipe", "default_wheels"]


@dataclass
class BuildOptions:
    tag: str = DEFAULT_IMAGE
    packages: list[str] = field(default_factory=lambda: list(DEFAULT_PACKAGES))
    wheels: list[Path] = field(default_factory=default_wheels)
    base: str = "auto"  # auto | registry | debootstrap
    base_image: str = BASE_IMAGE  # the registry path's FROM
    mirror: str | None = None
    force: bool = False

    def recipe_hash(self) -> str:
        return recipe_hash(self.packages, self.wheels, self.base_image)


Log = Callable[[str], None]


def _run(cmd: list[str], log: Log, **kwargs: object) -> None:
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise SandboxError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")


def current_recipe(tag: str) -> str | None:
    """The recipe label of the image under `tag`, or None when there is no such image."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{RECIPE_LABEL}"}}}}', tag],
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def registry_reachable(image: str, log: Log) -> bool:
    proc = subprocess.run(["docker", "pull", image], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        log(f"registry not reachable ({proc.stderr.strip()[:200]}); building offline with debootstrap")
    return proc.returncode == 0


def download_wheels(opts: BuildOptions, dest: Path, log: Log) -> None:
    """Fetch every wheel the image needs with the host's pip, whose index, proxy and CA settings work here
    (a fresh root or a build container has none of them); the image then installs from these files only."""
    dest.mkdir(parents=True, exist_ok=True)
    for w in opts.wheels:
        shutil.copy(w, dest / w.name)
    if opts.packages or opts.wheels:
        _run([sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", "3.11",
              "--implementation", "cp", "--abi", "cp311", "--platform", "manylinux2014_x86_64",
              "--platform", "manylinux_2_28_x86_64", "-d", str(dest), *opts.packages,
              *map(str, opts.wheels)], log)  # fmt: skip


def pip_install_args(opts: BuildOptions, wheel_dir: str) -> list[str]:
    return [
        "python3", "-m", "pip", "install", "--no-cache-dir", "--break-system-packages", "--no-index",
        "--find-links", wheel_dir, *opts.packages, *(f"{wheel_dir}/{w.name}" for w in opts.wheels),
    ]  # fmt: skip


def build_from_registry(opts: BuildOptions, recipe: str, log: Log) -> None:
    with tempfile.TemporaryDirectory(prefix="assay-image-") as ctx:
        download_wheels(opts, Path(ctx) / "wheels", log)
        install = " ".join(pip_install_args(opts, "/tmp/wheels"))
        Path(ctx, "Dockerfile").write_text(
            f"FROM {opts.base_image}\n"
            "COPY wheels /tmp/wheels\n"
            f"RUN {install} && rm -rf /tmp/wheels\n"
            f'LABEL {RECIPE_LABEL}="{recipe}"\n'
        )
        _run(["docker", "build", "--network", "none", "-t", opts.tag, ctx], log)  # wheels are local


ROOTFS_CACHE = Path(os.environ.get("ASSAY_ROOTFS_CACHE", "/var/cache/assay-sandbox"))


def base_rootfs(root: Path, mirror: str | None, log: Log) -> None:
    """debootstrap the base system (~35 s idle, minutes when busy), cached as a tarball for rebuilds."""
    key = hashlib.sha256(f"{SUITE}|{DEBOOTSTRAP_INCLUDE}|{mirror}".encode()).hexdigest()[:12]
    cached = ROOTFS_CACHE / f"rootfs-{SUITE}-{key}.tar"
    if cached.exists():
        log(f"using cached base system {cached}")
        root.mkdir(parents=True)
        _run(["tar", "-C", str(root), "-xf", str(cached)], log)
        return
    cmd = ["debootstrap", "--variant=minbase", f"--include={DEBOOTSTRAP_INCLUDE}", SUITE, str(root)]
    _run([*cmd, mirror] if mirror else cmd, log)
    ROOTFS_CACHE.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial")
    _run(["tar", "-C", str(root), "-cf", str(partial), "."], log)
    partial.rename(cached)


def build_offline(opts: BuildOptions, recipe: str, log: Log) -> None:
    if shutil.which("debootstrap") is None:
        raise SandboxError("no registry and no debootstrap: `apt-get install -y debootstrap`")
    workdir = Path(tempfile.mkdtemp(prefix="assay-rootfs-", dir="/var/tmp"))
    root = workdir / "root"
    try:
        base_rootfs(root, opts.mirror, log)
        download_wheels(opts, root / "tmp/wheels", log)
        env = {"PATH": IMAGE_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        _run(["chroot", str(root), *pip_install_args(opts, "/tmp/wheels")], log, env=env)
        for junk in ("tmp/wheels", "var/cache/apt", "var/lib/apt/lists", "root/.cache", "usr/share/doc"):
            shutil.rmtree(root / junk, ignore_errors=True)
        (root / "etc/resolv.conf").write_text("")
        log(f"importing {root} as {opts.tag}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            ["docker", "import", "--change", f"ENV PATH={IMAGE_PATH}", "--change",
             f'LABEL {RECIPE_LABEL}="{recipe}"', "-", opts.tag],
            stdin=tar.stdout, capture_output=True, text=True,
        )  # fmt: skip
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise SandboxError(f"docker import failed: {imp.stderr.strip()[-1000:]}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def build_image(opts: BuildOptions, log: Log = print) -> str:
    """Build (or reuse) the sandbox image; returns the tag. The image is also tagged with its recipe
    (sandboxes/image/recipe.py), so a build of another recipe under the same tag never makes this one's
    disappear: building a recipe whose image exists only moves the tag back to it."""
    if shutil.which("docker") is None:
        raise SandboxError("the docker CLI is not installed: `apt-get install -y docker.io`")
    recipe = opts.recipe_hash()
    own = recipe_tag(opts.tag, recipe)
    if not opts.force:
        for found, other in ((own, opts.tag), (opts.tag, own)):
            if current_recipe(found) == recipe:
                _run(["docker", "tag", found, other], log=lambda _: None)
                log(f"{opts.tag} is up to date (recipe {recipe})")
                return opts.tag
    use_registry = opts.base == "registry" or (
        opts.base == "auto" and registry_reachable(opts.base_image, log)
    )
    if use_registry:
        build_from_registry(opts, recipe, log)
    else:
        build_offline(opts, recipe, log)
    _run(["docker", "tag", opts.tag, own], log)
    log(f"built {opts.tag} (recipe {recipe}, also tagged {own})")
    return opts.tag
