"""The dashboard: server-rendered pages over whatever the store holds.

Every asset (stylesheet, icon, charts as inline SVG) is served by costper
itself, because users run it offline and behind firewalls. The URL carries
the whole state of a view (filters, period), so a view can be shared by
pasting its address. Rendered pages are cached by data version and URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from costper.errors import InputError
from costper.server import calculator_view, dashboard
from costper.server.params import PERIODS, Filters, parse_filters
from costper.server.queries import Queries
from costper.server.rendering import STATIC, render
from costper.server.result_cache import cache_of

router = APIRouter(include_in_schema=False)

STALE_MARK = "<!--costper:stale-->"
STALE_NOTICE = (
    '<div class="banner" id="stale">New data arrived (data version {version}): these figures '
    "are from just before it and are being recomputed; reload in a moment.</div>"
)
_STATIC_FILES = {p.name: p for p in STATIC.iterdir() if p.is_file()}
_MEDIA = {".css": "text/css", ".svg": "image/svg+xml", ".js": "text/javascript"}


def queries(request: Request) -> Queries:
    state = request.app.state
    return Queries(state.store, state.config, cache_of(state))


def _page(
    request: Request, build: Callable[[Queries, Filters], tuple[int, str, dict[str, Any]]]
) -> HTMLResponse:
    """Parse filters, build the context, render; cached whole by data version and URL."""
    q = queries(request)
    key = ("page", request.url.path, tuple(sorted(request.query_params.multi_items())))

    def compute() -> tuple[int, str]:
        try:
            f = parse_filters(request.query_params, q.now)
            status, template, ctx = build(q, f)
        except InputError as e:
            f = Filters()
            status, template, ctx = 400, "error.html", {"title": "Bad request", "message": str(e)}
        html = render(
            template,
            filters=f,
            features=q.features(),
            data_version=q.version,
            min_sessions=q.config.min_sessions,
            periods=PERIODS,
            **ctx,
        )
        return status, html

    (status, html), stale = q.cache.get_or_refresh(q.version, key, compute)
    if stale:
        html = html.replace(STALE_MARK, STALE_NOTICE.format(version=q.version), 1)
    return HTMLResponse(html, status_code=status)


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request) -> HTMLResponse:
    def build(q: Queries, f: Filters) -> tuple[int, str, dict[str, Any]]:
        return (
            200,
            "overview.html",
            {"title": "Overview", "nav": "overview", **dashboard.overview(q, f)},
        )

    return _page(request, build)


@router.get("/features/{name:path}", response_class=HTMLResponse)
def feature_page(request: Request, name: str) -> HTMLResponse:
    def build(q: Queries, f: Filters) -> tuple[int, str, dict[str, Any]]:
        ctx = dashboard.feature(q, f, name)
        return 200, "feature.html", {"title": name, "nav": "feature", **ctx}

    return _page(request, build)


@router.get("/sessions/{session_id:path}", response_class=HTMLResponse)
def session_page(request: Request, session_id: str) -> HTMLResponse:
    def build(q: Queries, f: Filters) -> tuple[int, str, dict[str, Any]]:
        ctx = dashboard.session(q, session_id)
        if ctx is None:
            message = f"No session {session_id!r} in this store."
            return 404, "error.html", {"title": "Not found", "message": message}
        return 200, "session.html", {"title": f"Session {session_id}", "nav": "session", **ctx}

    return _page(request, build)


@router.get("/calc", response_class=HTMLResponse)
def calculator_page(request: Request) -> HTMLResponse:
    params = dict(request.query_params)

    def build(q: Queries, f: Filters) -> tuple[int, str, dict[str, Any]]:
        ctx = {
            **calculator_view.scenarios(params, q.config),
            **calculator_view.deployment(params, q.config),
            "request_be": {k: v for k, v in params.items() if k.startswith("be_")},
            "request_calc": {k: v for k, v in params.items() if not k.startswith("be_")},
        }
        return 200, "calc.html", {"title": "Calculator", "nav": "calc", **ctx}

    return _page(request, build)


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    path = _STATIC_FILES.get(name)
    if path is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        path,
        media_type=_MEDIA.get(path.suffix, "application/octet-stream"),
        headers={"Cache-Control": "public, max-age=3600"},
    )
