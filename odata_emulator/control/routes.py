"""The emulator's own control namespace, `/_emulator/v1/`. Nothing of Dataverse lives here.

The routes are the table at the end of the module (`TABLE`, made into `routes()`); `GET
/_emulator/v1/` lists them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Awaitable, Callable

import orjson
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..api.auth import check_token
from ..api.writes import loads_json
from ..emulator import Emulator
from ..errors import BadRequest, InvalidPayload
from ..jobs import why
from ..jobs.create import check_schedules, insert_jobs, prepare_jobs
from ..jobs.manage import job_history, release_event
from ..jobs.simulation import Simulation
from ..store.schema import JOBS
from ..store.snapshot import snapshot
from ..store.values import format_datetime, normalize_guid, parse_datetime

PREFIX = "/_emulator/v1"
MAX_BODY = 16 * 1_048_576
MAX_INBOX = 1000  # requests the demo webhook receiver keeps (the oldest go first)


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


_LIST_FILTERS = ("statecode", "statuscode", "operationtype")
MAX_LIST = 5000


class ControlApi:
    """The handlers of `/_emulator/v1/`, on one emulator (the app's `state.control`). Each is a route of `TABLE`."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.inbox: list[dict] = []  # what the demo webhook receiver got, oldest first

    async def plugintype_simulation(self, request: Request) -> Response:
        """How the System Event jobs of a plug-in type end when no Python handler is registered."""
        name = request.path_params["name"]
        events = self.emulator.events
        if request.method == "PUT" or request.method == "POST":
            body = await _body(request)
            events.simulate_type(name, Simulation.from_json(body if body is not None else {}))
        elif request.method == "DELETE":
            events.simulate_type(name, None)
        settings = events.simulations.get(name.lower())
        return _json({"plugintype": name, "simulation": None if settings is None else dataclasses.asdict(settings)})

    async def webhook_inbox(self, request: Request) -> Response:
        """A webhook receiver for demos: POST stores the request (answering `?status=` when given,
        else 200), GET lists what was received, DELETE empties it."""
        if request.method == "GET":
            return _json({"value": self.inbox})
        if request.method == "DELETE":
            self.inbox.clear()
            return Response(status_code=204)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise InvalidPayload(f"The request body is larger than {MAX_BODY} bytes.", status=413)
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = raw.decode(errors="replace")
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "status"]
        self.inbox.append({"at": _iso(self.emulator.clock.now()), "headers": dict(request.headers.items()),
                           "query": dict(query), "body": body})
        del self.inbox[:-MAX_INBOX]
        status = _whole("status", request.query_params.get("status", "200"))
        if not 200 <= status <= 599:
            raise BadRequest("status must be an HTTP status from 200 to 599.")
        return Response(status_code=status)

    async def index(self, request: Request) -> Response:
        return _json({"value": [{"method": method, "path": path, "does": does}
                                for path, methods, _, does, _ in TABLE for method in methods]})

    async def health(self, request: Request) -> Response:
        emulator = self.emulator
        if not emulator.ready:
            return _json({"status": "starting"}, status=503)
        return _json({
            "status": "ok",
            "clock": "virtual" if emulator.clock.virtual else "real",
            "now": _iso(emulator.clock.now()),
            "strict": emulator.settings.strict,
            "pid": os.getpid(),  # which process answered (`serve --workers N` runs several)
        })

    async def reset(self, request: Request) -> Response:
        emulator = self.emulator
        await emulator.reset()
        emulator.jobs_changed()
        answer = {"status": "reset", "data": emulator.data_note}
        if emulator.clock.virtual:
            answer["clock"] = f"back to its start, {_iso(emulator.clock.now())}"
        return _json(answer)

    async def create(self, request: Request) -> Response:
        emulator = self.emulator
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

    async def jobs(self, request: Request) -> Response:
        if request.method == "POST":
            return await self.create(request)
        query = request.query_params
        unknown = set(query) - {*_LIST_FILTERS, "name", "top"}
        if unknown:
            raise BadRequest(f"Unknown filter(s): {', '.join(sorted(unknown))}. Filter by "
                             f"{', '.join(_LIST_FILTERS)}, name (contains) and top (at most {MAX_LIST}).")
        conditions = [JOBS.c[name] == _whole(name, query[name]) for name in _LIST_FILTERS if name in query]
        if "name" in query:
            conditions.append(JOBS.c.name.contains(query["name"], autoescape=True))
        top = _whole("top", query.get("top", "100"))
        if not 1 <= top <= MAX_LIST:
            raise BadRequest(f"top must be from 1 to {MAX_LIST}.")
        statement = (select(*(JOBS.c[c] for c in why.COLUMNS)).where(*conditions)
                     .order_by(JOBS.c.createdon, JOBS.c.sequence, JOBS.c.asyncoperationid).limit(top))
        async with self.emulator.store.read() as conn:
            rows = (await conn.execute(statement)).all()
        return _json({"value": [why.job_json(row) for row in rows]})

    async def job(self, request: Request) -> Response:
        emulator = self.emulator
        service = why.Service(emulator.settings.scheduler, emulator.clock.virtual, emulator.settings.concurrency)
        async with emulator.store.read() as conn:
            return _json(await why.explain(conn, _job_id(request), emulator.clock.now(), service))

    async def history(self, request: Request) -> Response:
        job_id = _job_id(request)
        async with self.emulator.store.read() as conn:
            entries = await job_history(conn, job_id)
        return _json({"value": [
            {"at": format_datetime(e.at), "statecode": e.statecode, "statuscode": e.statuscode, "reason": e.reason}
            for e in entries
        ]})

    async def event(self, request: Request) -> Response:
        emulator = self.emulator
        job_id = _job_id(request)
        now = emulator.clock.now()
        async with emulator.store.write() as conn:
            state, status = await release_event(conn, job_id, now)
        emulator.jobs_changed()
        if emulator.clock.virtual:
            await emulator.advance_clock(now)
        return _json({"asyncoperationid": job_id, "statecode": state, "statuscode": status})

    async def clock(self, request: Request) -> Response:
        emulator = self.emulator
        if request.method == "GET":
            return _json({"now": _iso(emulator.clock.now()), "clock": "virtual" if emulator.clock.virtual else "real"})
        body = await _body(request)
        if not isinstance(body, dict) or len(body) != 1 or not set(body) <= {"advance", "set"}:
            raise BadRequest('Send {"advance": "<ISO 8601 duration>"} or {"set": "<ISO 8601 date and time>"}.')
        if not emulator.clock.virtual:
            raise BadRequest("The real clock cannot be moved: start the emulator with --clock virtual.")
        now = emulator.clock.now()
        target = _clock_target(body, now)
        if target < now:
            raise BadRequest(f"The virtual clock only moves forward: it is {_iso(now)}.")
        if target.year > 9000:
            raise BadRequest("That is too far in the future.")
        moved = await emulator.advance_clock(target)
        return _json({"now": _iso(moved)})

    async def snapshot(self, request: Request) -> Response:
        emulator = self.emulator
        async with emulator.store.read() as conn:
            data = await snapshot(conn, emulator.model, emulator.clock.now(), emulator.caller)
        return Response(orjson.dumps(data, option=orjson.OPT_INDENT_2), media_type="application/json",
                        headers={"Content-Disposition": 'attachment; filename="dataset.json"'})

# What `/_emulator/v1/` serves: (path, methods, the `ControlApi` handler's name, what it does, guarded
# by --require-auth). Every route but health (readiness probes) and the demo receiver wants the Web
# API's bearer token when --require-auth is on.
TABLE: list[tuple[str, tuple[str, ...], str, str, bool]] = [
    ("/", ("GET",), "index", "this list", True),
    ("/health", ("GET",), "health", "200 once the server is ready (never needs a token)", False),
    ("/jobs", ("GET", "POST"), "jobs",
     ("GET: jobs in queue order (filters: statecode, statuscode, operationtype, name, top); "
      "POST: create system jobs as the platform would"), True),
    ("/jobs/{job_id}", ("GET",), "job", "a job's columns and why it is where it is", True),
    ("/jobs/{job_id}/history", ("GET",), "history", "every state the job entered, oldest first", True),
    ("/jobs/{job_id}/event", ("POST",), "event", "the event a waiting job waits for has happened", True),
    ("/clock", ("GET", "POST"), "clock",
     'the time; POST {"advance": "PT1H"} or {"set": "<ISO 8601>"} moves the virtual clock', True),
    ("/reset", ("POST",), "reset", "back to the data set, and a virtual clock back to its start", True),
    ("/plugintypes/{name}/simulation", ("GET", "PUT", "POST", "DELETE"), "plugintype_simulation",
     ("how the System Event jobs of a plug-in type (typename or name) end when no handler is registered: "
      'PUT {"outcome": "fail", "errorcode": -2147220891, "message": "..."}; DELETE: succeed again'), True),
    ("/webhook-inbox", ("GET", "POST", "DELETE"), "webhook_inbox",
     ("a webhook receiver for demos (no token needed): POST stores the request and answers ?status= "
      "(default 200), GET lists what it got, DELETE empties it"), False),
    ("/snapshot", ("GET",), "snapshot",
     "the store as a data set: save it as DIR/dataset.json and start with --fixtures DIR", True),
]


def _endpoint(name: str, guarded: bool) -> Callable[[Request], Awaitable[Response]]:
    """The route's endpoint: the handler of the app's own `ControlApi` (`app.state.control`)."""
    async def endpoint(request: Request) -> Response:
        control: ControlApi = request.app.state.control
        if guarded:
            check_token(request, control.emulator)
        return await getattr(control, name)(request)
    endpoint.__name__ = name
    return endpoint


def routes() -> tuple[Route, ...]:
    """The control API's routes (built once per process, with the Web API's, by `api/app.py`): they
    find their emulator in the app's state."""
    found = [Route(PREFIX + path, _endpoint(name, guarded), methods=list(methods))
             for path, methods, name, _, guarded in TABLE]
    found.append(Route(PREFIX, found[0].endpoint, methods=["GET"]))  # the index without its slash
    return tuple(found)


def _whole(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number; '{text}' is not one.") from None


def _clock_target(body: dict, now: dt.datetime) -> dt.datetime:
    import isodate  # here: a start need not import it (10 ms), only a clock move

    try:
        if "advance" in body:
            return now + isodate.parse_duration(str(body["advance"]))
        return parse_datetime(str(body["set"]))
    except (isodate.ISO8601Error, ValueError, TypeError, OverflowError) as exc:
        raise BadRequest(f"Not a valid ISO 8601 value: {exc}.") from None
