"""The ASGI application: the Web API under `/api/data/v9.2/`, the control API under `/_emulator/v1/`."""

from __future__ import annotations

import contextlib
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

from ..control.routes import routes as control_routes
from ..emulator import Emulator
from ..errors import DataverseError, ResourceNotFound
from ..settings import Settings
from .errors import ErrorBoundary, dataverse_error_handler, http_exception_handler, too_deep_handler
from .page import page_response
from .responses import API_PREFIXES
from .routes import WebApi

_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]


def create_app(settings: Settings | None = None, emulator: Emulator | None = None) -> Starlette:
    emulator = emulator or Emulator(settings or Settings())
    webapi = WebApi(emulator)

    async def api(request: Request) -> Response:
        return await webapi(request)

    async def not_found(request: Request) -> Response:
        page = await page_response(request)  # GET / and /_emulator/v1/ui/...: the System Jobs page
        if page is not None:
            return page
        raise ResourceNotFound(f"No HTTP resource was found that matches the request URI '{request.url}'.", code="")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    app = Starlette(
        routes=[
            *(Route(prefix + "{path:path}", api, methods=_METHODS) for prefix in API_PREFIXES),
            *(Route(prefix.rstrip("/"), api, methods=_METHODS) for prefix in API_PREFIXES),
            *control_routes(emulator),
            Route("/{path:path}", not_found, methods=_METHODS),
        ],
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
    return app
