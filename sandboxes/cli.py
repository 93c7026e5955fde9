"""`assay sandbox build|check`: build the sandbox image; say which sandboxes this machine offers, and why."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Annotated

import typer

from agent.kernel.errors import SandboxError
from sandboxes.availability import docker_status, process_isolation
from sandboxes.config import DEFAULT_IMAGE, DockerSandboxConfig, ProcessSandboxConfig

app = typer.Typer(help="Build and check the code sandboxes.", no_args_is_help=True)


@app.command()
def build(
    tag: Annotated[str, typer.Option(help="image tag to build")] = DEFAULT_IMAGE,
    package: Annotated[list[str] | None, typer.Option(help="pip package to install (repeatable)")] = None,
    wheel: Annotated[list[Path] | None, typer.Option(help="extra wheel file to install (repeatable)")] = None,
    no_default_wheels: Annotated[bool, typer.Option(help="skip the CPU torch wheel in /opt/wheels")] = False,
    base: Annotated[str, typer.Option(help="auto | registry | debootstrap")] = "auto",
    mirror: Annotated[str | None, typer.Option(help="Debian mirror for debootstrap")] = None,
    force: Annotated[bool, typer.Option(help="rebuild even when the image is up to date")] = False,
) -> None:
    """Build the sandbox image (reused when its recipe is unchanged)."""
    from sandboxes.image.build import BuildOptions, default_wheels

    opts = BuildOptions(tag=tag, base=base, mirror=mirror, force=force)
    if package:
        opts.packages = [*opts.packages, *package]
    opts.wheels = ([] if no_default_wheels else default_wheels()) + list(wheel or [])
    try:
        from sandboxes.image.build import build_image

        build_image(opts, log=typer.echo)
    except SandboxError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def check(image: Annotated[str, typer.Option(help="image to look for")] = DEFAULT_IMAGE) -> None:
    """Say which sandboxes are available here, and why not; runs one job in each that is."""
    typer.echo(f"docker CLI: {'yes' if shutil.which('docker') else 'no (apt-get install -y docker.io)'}")
    typer.echo(
        f"debootstrap: {'yes' if shutil.which('debootstrap') else 'no (apt-get install -y debootstrap)'}"
    )
    typer.echo(f"bubblewrap: {'yes' if shutil.which('bwrap') else 'no (apt-get install -y bubblewrap)'}")
    typer.echo(f"process sandbox isolation: {process_isolation().describe()}")  # probed once, cached
    status = docker_status(image)
    typer.echo(f"docker daemon: {'yes' if status.daemon else 'no'}")
    typer.echo(f"image {image}: {'yes' if status.image else 'no'}")
    configs = [("process", ProcessSandboxConfig())]
    if status.usable:
        configs.insert(0, ("docker", DockerSandboxConfig(image=image, pool_size=1)))
    else:
        typer.echo(f"docker sandbox: unavailable: {status.reason}")
    ok = True
    for name, config in configs:
        try:
            result = asyncio.run(_probe(config))
            typer.echo(f"{name} sandbox: {'works' if result else 'FAILED'}")
            ok = ok and result
        except SandboxError as exc:
            typer.echo(f"{name} sandbox: FAILED: {exc}")
            ok = False
    isolation = process_isolation()
    how = "under bwrap" if isolation.level == "bwrap" else "NOT isolated"
    unusable = f" (not usable here: runs of candidate code stop; `--sandbox process` runs them {how})"
    typer.echo("default for untrusted code: docker" + ("" if status.usable else unusable))
    if not ok:
        raise typer.Exit(1)


async def _probe(config: DockerSandboxConfig | ProcessSandboxConfig) -> bool:
    from agent.kernel.sandbox import Job

    sandbox = config.build()
    try:
        result = await sandbox.run(Job(command=["python3", "-c", "print(6 * 7)"]))
        return result.ok and result.stdout.strip() == "42"
    finally:
        await sandbox.close()
