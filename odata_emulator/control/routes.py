"""The emulator's own control namespace, `/_emulator/v1/`. Nothing of Dataverse lives here.

    GET  /_emulator/v1/health                 200 once the server is ready
    POST /_emulator/v1/jobs                   create system jobs as the platform would
    GET  /_emulator/v1/jobs/<id>/history      one entry per state the job entered, oldest first
    POST /_emulator/v1/jobs/<id>/event        the event a waiting job waits for has happened
    GET  /_emulator/v1/clock                  the time
    POST /_emulator/v1/clock                  {"advance": "PT1H"} or {"set": "2026-01-01T00:00:00Z"} (virtual clock)
    POST /_emulator/v1/reset                  back to the bundled fixtures
"""

from __future__ import annotations

import datetime as dt
import json

import isodate
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.auth import token_required
from ..api.writes import loads_json
from ..emulator import Emulator
from ..errors import BadRequest, InvalidPayload
from ..jobs.create import check_schedules, insert_jobs, prepare_jobs
from ..jobs.manage import job_history, release_event
from ..store.values import format_datetime, normalize_guid, parse_datetime

PREFIX = "/_emulator/v1"
MAX_BODY = 16 * 1_048_576


def _json(body, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _body(request: Request):
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidPayload(f"The request body is larger than {MAX_BODY} bytes.", status=413)
    try:
        return loads_json(raw) if raw.strip() else None
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"The body is not valid JSON ({exc}).") from None


def _job_id(request: Request) -> str:
    try:
        return normalize_guid(request.path_params["job_id"])
    except ValueError:
        raise BadRequest(f"'{request.path_params['job_id']}' is not a GUID.") from None


def routes(emulator: Emulator) -> list[Route]:
    async def health(request: Request) -> Response:
        if not emulator.ready:
            return _json({"status": "starting"}, status=503)
        return _json({
            "status": "ok",
            "clock": "virtual" if emulator.clock.virtual else "real",
            "now": _iso(emulator.clock.now()),
            "strict": emulator.settings.strict,
        })

    async def reset(request: Request) -> Response:
        await emulator.reset()
        emulator.jobs_changed()
        return _json({"status": "reset"})

    async def create(request: Request) -> Response:
        body = await _body(request)
        specs = body if isinstance(body, list) else [body]
        if not isinstance(body, (list, dict)):
            raise BadRequest("Send one job (a JSON object of asyncoperation columns) or a list of them.")
        if len(specs) > 100_000:
            raise BadRequest("At most 100,000 jobs can be created in one request.")
        prepared = prepare_jobs(specs, emulator.clock.now(), emulator.caller)
        await check_schedules(prepared)  # outside the write lock: it may take a moment
        async with emulator.store.write() as conn:
            ids = await insert_jobs(conn, prepared)
        emulator.jobs_changed()
        return _json({"value": [{"asyncoperationid": i} for i in ids]}, status=201)

    async def history(request: Request) -> Response:
        job_id = _job_id(request)
        async with emulator.store.read() as conn:
            entries = await job_history(conn, job_id)
        return _json({"value": [
            {"at": format_datetime(e.at), "statecode": e.statecode, "statuscode": e.statuscode, "reason": e.reason}
            for e in entries
        ]})

    async def event(request: Request) -> Response:
        job_id = _job_id(request)
        now = emulator.clock.now()
        async with emulator.store.write() as conn:
            state, status = await release_event(conn, job_id, now)
        emulator.jobs_changed()
        if emulator.clock.virtual:
            await emulator.advance_clock(now)
        return _json({"asyncoperationid": job_id, "statecode": state, "statuscode": status})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await _body(request)
            if not isinstance(body, dict) or len(body) != 1 or not set(body) <= {"advance", "set"}:
                raise BadRequest('Send {"advance": "<ISO 8601 duration>"} or {"set": "<ISO 8601 date and time>"}.')
            if not emulator.clock.virtual:
                raise BadRequest("The real clock cannot be moved: start the emulator with --clock virtual.")
            now = emulator.clock.now()
            try:
                if "advance" in body:
                    delta = isodate.parse_duration(str(body["advance"]))
                    target = now + delta
                else:
                    target = parse_datetime(str(body["set"]))
            except (isodate.ISO8601Error, ValueError, TypeError, OverflowError) as exc:
                raise BadRequest(f"Not a valid ISO 8601 value: {exc}.") from None
            if target < now:
                raise BadRequest(f"The virtual clock only moves forward: it is {_iso(now)}.")
            if target.year > 9000:
                raise BadRequest("That is too far in the future.")
            moved = await emulator.advance_clock(target)
            return _json({"now": _iso(moved)})
        return _json({"now": _iso(emulator.clock.now()), "clock": "virtual" if emulator.clock.virtual else "real"})

    # --require-auth: every route but health (readiness probes) wants the Web API's bearer token.
    return [
        Route(f"{PREFIX}/health", health, methods=["GET"]),
        Route(f"{PREFIX}/reset", token_required(emulator, reset), methods=["POST"]),
        Route(f"{PREFIX}/jobs", token_required(emulator, create), methods=["POST"]),
        Route(f"{PREFIX}/jobs/{{job_id}}/history", token_required(emulator, history), methods=["GET"]),
        Route(f"{PREFIX}/jobs/{{job_id}}/event", token_required(emulator, event), methods=["POST"]),
        Route(f"{PREFIX}/clock", token_required(emulator, clock), methods=["GET", "POST"]),
    ]

