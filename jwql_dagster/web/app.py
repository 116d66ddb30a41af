"""The quicklook pages: programs, a program's gallery, a file, the failures, the dashboards.

A Starlette app (Starlette and uvicorn come with dagster-webserver) over the jwql tables
and the output folders; it reads, never writes. Pages are built from the ``files`` and
``file_failures`` tables plus one folder listing per program, so a big program does not
cost a glob per request. Images and dashboards are served only through
:mod:`jwql_dagster.web.paths`; anything else is a 404.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from jwql_dagster.config import Settings
from jwql_dagster.db import views
from jwql_dagster.db.views import ReadOnlyDatabase
from jwql_dagster.web import paths, science, squares
from jwql_dagster.web.gallery import FILTER_KEYS, MOSAIC_RE, PRODUCT_RE, build_gallery, products_by_stem
from jwql_dagster.web.templates import environment

BOKEH_PREFIX = "/bokeh/"
DASHBOARDS = (
    ("Filesystem statistics", "filesystem/filesystem_dashboard.html"),
    ("MAST inventory (JWST)", "monitor_mast/database_monitor_jwst.html"),
    ("MAST inventory (CAOM)", "monitor_mast/database_monitor_caom.html"),
    ("Cron job status", "monitor_cron_jobs/cron_status_table.html"),
)
PICKER_LABELS = {"suffix": "suffix", "detector": "detector", "filter": "filter", "exp_type": "exposure type",
                 "date": "date"}
MEDIA_TYPES = {".jpg": "image/jpeg", ".thumb": "image/jpeg", ".png": "image/png", ".html": "text/html",
               ".csv": "text/csv", ".json": "application/json", ".svg": "image/svg+xml", ".txt": "text/plain"}
HEADER_COLUMNS = ("area", "instrument", "detector", "suffix", "exp_type", "filter", "pupil", "subarray", "nints",
                  "ngroups", "date_obs")


def _listing(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return [e.name for e in it if not e.name.startswith(".")]
    except OSError:
        return []


def _when(path: Path) -> str | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except OSError:
        return None


def create_app(settings: Settings) -> Starlette:
    """The ASGI app of the quicklook pages for one configuration."""
    env = environment()
    db = ReadOnlyDatabase(settings.database_url)
    ui_url = settings.ui_url

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status)

    def not_found(message: str = "No such page.") -> HTMLResponse:
        return page("404.html", status=404, message=message)

    def programs_page(request: Request) -> Response:
        with db.connect() as conn:
            summaries = views.programs(conn)
        with_thumbnail = {p.program for p in summaries
                          if paths.product_path(settings.thumbnail_root, p.program, f"{p.program}.thumb")}
        return page("programs.html", programs=summaries, with_thumbnail=with_thumbnail)

    def program_page(request: Request) -> Response:
        program = request.path_params["program"]
        if not paths.is_program(program):
            return not_found("No such program.")
        with db.connect() as conn:
            rows = views.program_files(conn, program)
            failures = views.current_failures(conn, program=program)
        previews = _listing(settings.preview_root / program)
        if not rows and not failures and not previews:
            return not_found("No such program.")
        selected = {k: request.query_params.get(k, "") for k in FILTER_KEYS}
        gallery = build_gallery(program, rows, previews, _listing(settings.thumbnail_root / program), failures,
                                selected)
        return page("program.html", g=gallery, selected=selected, pickers=list(PICKER_LABELS.items()))

    def file_page(request: Request) -> Response:
        stem = request.path_params["stem"].removesuffix(".fits")
        program = paths.program_of(stem)
        if program is None or not paths.is_plain_name(stem):
            return not_found("No such file.")
        try:
            integration = int(request.query_params.get("integ", "0"))
        except ValueError:
            integration = 0
        with db.connect() as conn:
            row = views.file_by_name(conn, f"{stem}.fits")
            failures = [line for line in views.current_failures(conn, program=program) if line.stem == stem]
            siblings = views.exposure_files(conn, program, row["file_root"]) if row and row["file_root"] else []
        integrations = products_by_stem(n for n in _listing(settings.preview_root / program)
                                        if n.startswith(f"{stem}_integ")).get(stem, [])
        mosaic = MOSAIC_RE.match(stem) is not None
        if row is None and not failures and not (mosaic and integrations):
            return not_found("No such file.")
        preview = f"{stem}_integ{integration}.jpg" if integration in integrations else None
        header: list[tuple[str, Any]] = []
        bokeh_div = bokeh_script = ""
        facts: dict[str, Any] = {}
        problem = "A mosaic has no single science frame; open one of its detectors." if mosaic else ""
        if row is not None:
            header = [(c, row[c]) for c in HEADER_COLUMNS if row.get(c) not in (None, "")]
            header += sorted((row.get("header") or {}).items())
            source = paths.inside(settings.filesystem, os.path.relpath(row["path"], settings.filesystem)) \
                if row["path"] else None
            if source is None:
                problem = "The FITS file is not in the archive any more."
            else:
                try:
                    frame = science.read_frame(source, integration)
                    bokeh_script, bokeh_div = science.bokeh_components(frame, f"{stem} Int: {integration}")
                    facts = science.describe(frame)
                except science.ScienceViewError as exc:
                    problem = exc.reason
        sibling_list = [{"stem": s["filename"].removesuffix(".fits"), "suffix": s["suffix"] or s["filename"]}
                        for s in siblings]
        return page("file.html", stem=stem, program=program, integration=integration, integrations=integrations,
                    preview=preview, header=header, failures=failures, siblings=sibling_list,
                    bokeh_js=science.bokeh_script_tags(BOKEH_PREFIX) if bokeh_div else "",
                    bokeh_div=bokeh_div, bokeh_script=bokeh_script, facts=facts, science_problem=problem)

    def failures_page(request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        with db.connect() as conn:
            lines = views.current_failures(conn, query=query or None)
        # a file page exists for every name the page route accepts (a failure alone makes one)
        linkable = {line.stem for line in lines if paths.program_of(line.stem) and paths.is_plain_name(line.stem)}
        return page("failures.html", lines=lines, q=query, ui_url=ui_url, linkable=linkable)

    def dashboards_page(request: Request) -> Response:
        found = []
        for title, rel in DASHBOARDS:
            path = paths.output_path(settings.output_root, rel)
            found.append({"title": title, "path": rel, "updated": _when(path) if path else None})
        return page("dashboards.html", dashboards=found)

    def product(root: Path):
        def serve(request: Request) -> Response:
            path = paths.product_path(root, request.path_params["program"], request.path_params["name"])
            if path is None:
                return not_found("No such image.")
            return FileResponse(path, media_type="image/jpeg")
        return serve

    def square(request: Request) -> Response:
        """A square gallery picture: ``<stem>_integ<i>.jpg`` of a product, or ``<program>.jpg`` (proposal)."""
        program, name = request.path_params["program"], request.path_params["name"]
        if not paths.is_program(program) or not paths.is_plain_name(name):
            return not_found("No such image.")
        if name == f"{program}.jpg":
            source, bare = paths.product_path(settings.thumbnail_root, program, f"{program}.thumb"), True
        else:
            m = PRODUCT_RE.match(name)
            if m is None:
                return not_found("No such image.")
            thumb = (paths.product_path(settings.thumbnail_root, program, f"{m['stem']}_integ0.thumb")
                     if m["integ"] == "0" else None)
            source, bare = (thumb, True) if thumb else (paths.product_path(settings.preview_root, program, name), False)
        if source is None:
            return not_found("No such image.")
        try:
            data = squares.square_thumbnail(source, bare)
        except OSError:
            return not_found("No such image.")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=60"})

    def output(request: Request) -> Response:
        path = paths.output_path(settings.output_root, request.path_params["path"])
        if path is None:
            return not_found("No such dashboard file.")
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"))

    def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/", programs_page),
        Route("/programs/{program}", program_page),
        Route("/files/{stem}", file_page),
        Route("/failures", failures_page),
        Route("/dashboards", dashboards_page),
        Route("/previews/{program}/{name}", product(settings.preview_root)),
        Route("/thumbnails/{program}/{name}", product(settings.thumbnail_root)),
        Route("/squares/{program}/{name}", square),
        Route("/outputs/{path:path}", output),
        Route("/healthz", health),
        Mount(BOKEH_PREFIX.rstrip("/") + "/static", app=StaticFiles(directory=science.bokeh_static_dir()), name="bokeh"),
    ]

    async def on_404(request: Request, exc: Exception) -> Response:
        return not_found()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        db.dispose()

    app = Starlette(routes=routes, exception_handlers={404: on_404}, lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db
    return app
