"""The emulator's own control namespace, `/_emulator/v1/`. Nothing of Dataverse lives here."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..emulator import Emulator
from ..errors import BadRequest

PREFIX = "/_emulator/v1"


def _json(body, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def routes(emulator: Emulator) -> list[Route]:
    async def health(request: Request) -> Response:
        if not emulator.ready:
            return _json({"status": "starting"}, status=503)
        return _json({
            "status": "ok",
            "clock": "virtual" if emulator.clock.virtual else "real",
            "now": emulator.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "strict": emulator.settings.strict,
        })

    async def reset(request: Request) -> Response:
        await emulator.reset()
        return _json({"status": "reset"})

    async def not_found(request: Request) -> Response:
        raise BadRequest(f"Unknown control endpoint '{request.url.path}'.")

    return [
        Route(f"{PREFIX}/health", health, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
    ]
