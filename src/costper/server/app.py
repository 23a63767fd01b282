"""The HTTP application: OTLP receiver, outcome endpoint, JSON API, dashboard.

Routes are thin: parse, call the core, render. Errors are translated here,
once: InputError -> 400, AuthError -> 401, TooLarge -> 413.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from costper.config import Config
from costper.errors import AuthError, InputError, ReadOnlyStore, TooLarge
from costper.server import formatting
from costper.server.auth import ApiKeyMiddleware
from costper.server.guard import BodyMiddleware, GuardMiddleware
from costper.store._source import Source


def query_parameter(field: str) -> str:
    """A core parameter as HTTP names it: the query parameter has the core's name."""
    return field


def create_app(config: Config, store: Source) -> FastAPI:
    app = FastAPI(title="costper", docs_url=None, redoc_url=None)
    app.state.config = config
    app.state.store = store
    app.add_middleware(BodyMiddleware, max_body=config.max_request_bytes)
    app.add_middleware(
        ApiKeyMiddleware,
        keys=config.api_keys,
        open_paths=("/metrics",) if config.metrics_public else (),
    )
    app.add_middleware(CurrencyMiddleware, currency=config.currency)
    app.add_middleware(
        GuardMiddleware, allowed_hosts=config.allowed_hosts, max_body=config.max_request_bytes
    )

    @app.exception_handler(TooLarge)
    async def _too_large(request: Request, exc: TooLarge) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=413)

    @app.exception_handler(InputError)
    async def _bad_input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"error": exc.worded(query_parameter)}, status_code=400)

    @app.exception_handler(ReadOnlyStore)
    async def _read_only(request: Request, exc: ReadOnlyStore) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=405)

    @app.exception_handler(AuthError)
    async def _unauthorized(request: Request, exc: AuthError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=401)

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "data_version": store.version()}

    from costper.server import api, metrics, otlp, pages

    if config.budgets and config.alerts.webhook_url:
        from costper.server.alerts import BudgetNotifier

        notifier = BudgetNotifier(store, config)
        app.router.on_startup.append(notifier.start)
        app.router.on_shutdown.append(notifier.close)
    for module in (otlp, api, pages, metrics):
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
    return app


class CurrencyMiddleware:
    """Every page and chart of this app shows its report currency: set for the request's
    context (a plain ASGI wrapper, so a client that hangs up mid-body logs nothing)."""

    def __init__(self, app: ASGIApp, currency: str) -> None:
        self.app, self.currency = app, currency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = formatting.CURRENCY.set(self.currency)
        try:
            await self.app(scope, receive, send)
        finally:
            formatting.CURRENCY.reset(token)
