"""The System Jobs page: static files shipped in `odata_emulator/page/`, served at `/` and `/_emulator/v1/ui/`.

The page is a client like any other (it calls the Web API and the control API from the browser); the
server only hands out its files. Only GET and HEAD of `/` and of the UI path are the page's: every
other request keeps the answer it had (the Dataverse-shaped 404 of the catch-all route)."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

PAGE_DIR = Path(__file__).resolve().parent.parent / "page"
UI_PREFIX = "/_emulator/v1/ui"

_files = StaticFiles(directory=PAGE_DIR, check_dir=False)


async def page_response(request: Request) -> Response | None:
    """The page's file for this request, or None when the request is not the page's."""
    if request.method not in ("GET", "HEAD"):
        return None
    path = request.url.path
    if path == UI_PREFIX:
        return RedirectResponse(UI_PREFIX + "/", status_code=308)
    if path == "/":
        relative = "index.html"
    elif path.startswith(UI_PREFIX + "/"):
        relative = path[len(UI_PREFIX) + 1:] or "index.html"
    else:
        return None
    try:
        response = await _files.get_response(relative, request.scope)
    except HTTPException:
        return None
    if response.status_code >= 400:
        return None
    # Always revalidate (a reinstalled emulator serves new files); the ETag makes that a 304.
    response.headers["Cache-Control"] = "no-cache"
    return response
