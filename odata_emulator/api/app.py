"""The ASGI application: the Web API under `/api/data/v9.2/`, the control API under `/_emulator/v1/`."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator

from lark.exceptions import VisitError
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..control.routes import ControlApi
from ..control.routes import routes as control_routes
from ..emulator import Emulator
from ..errors import DataverseError, ResourceNotFound
from ..settings import Settings
from .errors import ErrorBoundary, dataverse_error_handler, http_exception_handler, too_deep_handler
from .page import page_response
from .responses import API_PREFIXES
from .routes import WebApi

_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


async def _api(request: Request) -> Response:
    return await request.app.state.webapi(request)


async def _not_found(request: Request) -> Response:
    page = await page_response(request)  # GET / and /_emulator/v1/ui/...: the System Jobs page
    if page is not None:
        return page
    raise ResourceNotFound(f"No HTTP resource was found that matches the request URI '{request.url}'.", code="")


@functools.cache
def _routes() -> tuple[Route, ...]:
    """Every app's routes, built once: the endpoints find their emulator in the app's state."""
    return (
        *(Route(prefix + "{path:path}", _api, methods=_METHODS) for prefix in API_PREFIXES),
        *(Route(prefix.rstrip("/"), _api, methods=_METHODS) for prefix in API_PREFIXES),
        *control_routes(),
        Route("/{path:path}", _not_found, methods=_METHODS),
    )


def create_app(settings: Settings | None = None, emulator: Emulator | None = None) -> Starlette:
    emulator = emulator or Emulator(settings or Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    app = Starlette(
        routes=_routes(),
        # ErrorBoundary answers what no handler below took (the Dataverse-shaped 500) without
        # re-raising, so the connection stays open; Starlette's ServerErrorMiddleware, which answers
        # with the Exception handler and then re-raises, is left as the last resort.
        middleware=[Middleware(ErrorBoundary)],
        exception_handlers={DataverseError: dataverse_error_handler, HTTPException: http_exception_handler,
                            RecursionError: too_deep_handler,
                            DBAPIError: dataverse_error_handler, sqlite3.Error: dataverse_error_handler,
                            VisitError: too_deep_handler, Exception: dataverse_error_handler},
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    app.state.webapi = WebApi(emulator)
    app.state.control = ControlApi(emulator)
    return app
