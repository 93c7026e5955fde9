"""`assay view`: the run store in the browser, served on 127.0.0.1 by Starlette under uvicorn.

Every request opens the store read-only (`ReadOnlyStore`, SQLite `mode=ro`) and closes it again, so the
viewer holds no lock and no connection a running search could wait on, and each page shows the store as it is
now. Requests run in Starlette's thread pool (the endpoints are plain functions), so one slow page does not
stall the polling of another.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.kernel.errors import AssayError, StoreError
from agent.store.queries import ReadOnlyStore
from agent.view.data import run_view
from agent.view.render import (
    bench_fingerprint,
    bench_page,
    bench_summary,
    run_page,
    runs_fingerprint,
    runs_page,
)

#: the only interface the viewer listens on: it shows prompts and candidates, never to the network
HOST = "127.0.0.1"
#: what `pip` needs for `assay view` and `assay report`
INSTALL_HINT = (
    "the viewer needs the 'view' extra: pip install 'assay[view]' (starlette, uvicorn, matplotlib, jinja2)"
)
#: the most runs one page of the list shows
MAX_PAGE = 500


def require_extra() -> None:
    """A missing optional dependency is a one-line error saying how to install it, not a traceback."""
    import importlib.util

    missing = [
        m for m in ("starlette", "uvicorn", "matplotlib", "jinja2") if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise AssayError(f"{INSTALL_HINT}; missing: {', '.join(missing)}")


def _int_param(request: Any, name: str, default: int, high: int) -> int:
    try:
        value = int(request.query_params.get(name, default))
    except ValueError:
        return default
    return min(max(value, 0), high)


def make_app(db: Path) -> Any:
    """The Starlette application over the store at `db`."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

    def _open() -> ReadOnlyStore:
        return ReadOnlyStore(db)

    def runs(request: Request) -> Response:
        limit = _int_param(request, "limit", 50, MAX_PAGE) or 50
        offset = _int_param(request, "offset", 0, 10**9)
        with _open() as store:
            return HTMLResponse(runs_page(store, limit=limit, offset=offset), headers=headers)

    def runs_version(request: Request) -> Response:
        with _open() as store:
            return JSONResponse({"fingerprint": runs_fingerprint(store)}, headers=headers)

    def _view(run_id: str) -> tuple[Any, str]:
        with _open() as store:
            view = run_view(store, run_id)
            return view, store.run_fingerprint(view.run.id) if view else ""

    def run(request: Request) -> Response:
        view, fingerprint = _view(request.path_params["run_id"])
        if view is None:
            return HTMLResponse("<h1>no such run</h1>", status_code=404, headers=headers)
        return HTMLResponse(run_page(view, live=True, fingerprint=fingerprint), headers=headers)

    def report(request: Request) -> Response:
        view, _ = _view(request.path_params["run_id"])
        if view is None:
            return HTMLResponse("<h1>no such run</h1>", status_code=404, headers=headers)
        disposition = {"Content-Disposition": f'attachment; filename="assay-{view.run.id}.html"'}
        return HTMLResponse(run_page(view, live=False), headers={**headers, **disposition})

    def run_version(request: Request) -> Response:
        with _open() as store:
            return JSONResponse(
                {"fingerprint": store.run_fingerprint(request.path_params["run_id"])}, headers=headers
            )

    def bench(request: Request) -> Response:
        with _open() as store:
            summary = bench_summary(store, request.path_params["bench_id"])
            if summary is None:
                return HTMLResponse("<h1>no such bench</h1>", status_code=404, headers=headers)
            page = bench_page(summary, live=True, fingerprint=bench_fingerprint(store, summary.bench_id))
        return HTMLResponse(page, headers=headers)

    def bench_report(request: Request) -> Response:
        with _open() as store:
            summary = bench_summary(store, request.path_params["bench_id"])
        if summary is None:
            return HTMLResponse("<h1>no such bench</h1>", status_code=404, headers=headers)
        disposition = {"Content-Disposition": f'attachment; filename="assay-{summary.bench_id}.html"'}
        return HTMLResponse(bench_page(summary, live=False), headers={**headers, **disposition})

    def bench_version(request: Request) -> Response:
        with _open() as store:
            found = store.resolve_bench(request.path_params["bench_id"]) or ""
            return JSONResponse({"fingerprint": bench_fingerprint(store, found)}, headers=headers)

    return Starlette(
        routes=[
            Route("/bench/{bench_id}", bench),
            Route("/bench/{bench_id}/report.html", bench_report),
            Route("/api/bench/{bench_id}/fingerprint", bench_version),
            Route("/", runs),
            Route("/api/runs/fingerprint", runs_version),
            Route("/run/{run_id}", run),
            Route("/run/{run_id}/report.html", report),
            Route("/api/run/{run_id}/fingerprint", run_version),
        ]
    )


def serve(db: Path, port: int) -> None:
    """Serve until Ctrl-C. The store must exist: the viewer never creates one."""
    require_extra()
    import uvicorn

    with ReadOnlyStore(db):  # fail now, in one line, rather than on the first request
        pass
    try:
        config = uvicorn.Config(make_app(db), host=HOST, port=port, log_level="warning")
        server = uvicorn.Server(config)
        print(f"assay view: http://{HOST}:{port}/ (store {db}; Ctrl-C stops)", flush=True)
        server.run()
    except OSError as e:
        raise StoreError(f"cannot serve on {HOST}:{port}: {e}") from None
