"""System Event jobs (operationtype 1) that do their step's work for real.

A job filed for an asynchronous step (`owningextensionid` -> the sdkmessageprocessingstep, `data`
= the RemoteExecutionContext JSON) runs its step's event handler:

- a **serviceendpoint** (a webhook, contract 8): the context is POSTed to its URL
  (`webhooks.deliver`); a 2xx succeeds, anything else fails the job (3/31) with the platform's
  webhook error code and message (the one more attempt after a 502/503/504 happens inside the
  delivery, not as a job retry);
- a **plugintype**: the Python handler registered for the step's name or the type's name
  (`SystemEvents.on_step`, the pytest plugin's `dataverse.on_step`) is called with the context as
  a dict: returning succeeds, raising fails the job (`errorcode` from the exception's `errorcode`
  attribute, else 0x80040265; `friendlymessage` = the exception's text, `message` = its type and
  text). Without a handler, a simulation set for the plug-in type (`simulate_type`, the control
  API's `/_emulator/v1/plugintypes/<name>/simulation`) decides; with neither, the run succeeds.

A job with simulation settings of its own (fixtures, `POST /_emulator/v1/jobs` with `simulation`)
stays simulated, and so does one whose step or handler cannot be found.

Nothing here holds the store's write lock across network I/O: `read_work` is a short read, made
after the claim's transaction has committed; `perform` runs with no transaction open; the runner
(`real_clock.py`, `virtual_clock.py`) then records the result through the guarded transitions of
`steps.Steps.finish`, and with the step's `asyncautodelete` a success deletes the job
(`auto_delete`, in the same transaction).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, func, literal_column, select

from ..store.async_engine import AsyncConnection
from ..store.files import delete_files
from ..store.schema import JOBS, METADATA, SIMULATIONS, readable_column
from ..webhooks import Endpoint, deliver
from ..webhooks.delivery import DEFAULT_TIMEOUT, new_client
from . import simulation
from .simulation import Result, ResultKind, Simulation

if TYPE_CHECKING:
    import httpx  # imported by `webhooks.delivery` when a delivery needs it

log = logging.getLogger("odata_emulator.scheduler")

SYSTEM_EVENT = 1  # asyncoperation_operationtype: System Event
WEBHOOK_CONTRACT = 8
_STEPS = METADATA.tables.get("sdkmessageprocessingstep")
_ENDPOINTS = METADATA.tables.get("serviceendpoint")
_TYPES = METADATA.tables.get("plugintype")
# The registration tables as the model declares them (before they existed, nothing ran for real).
_REGISTERED = (_STEPS is not None and _ENDPOINTS is not None and _TYPES is not None
               and "eventhandler" in _STEPS.c and "asyncautodelete" in _STEPS.c)

Handler = Callable[[dict], object]


@dataclass(frozen=True)
class EventWork:
    """What one System Event job does when it runs, read in one short read."""

    job_id: str
    context: str  # the JSON sent or handed to the handler
    step_id: str
    step_name: str | None
    autodelete: bool
    endpoint: Endpoint | None = None  # a webhook step
    contract: int | None = None
    plugin_names: tuple[str, ...] = ()  # a plug-in type step: its typename and name
    entity_name: str | None = None
    message_name: str | None = None
    correlation_id: str | None = None


@dataclass
class SystemEvents:
    """How this instance runs System Event jobs: the webhook timeout (seconds per attempt), the
    plug-in handlers and simulations registered, and one HTTP client (connections are reused)."""

    timeout: float = DEFAULT_TIMEOUT
    handlers: dict[str, Handler] = field(default_factory=dict)
    simulations: dict[str, Simulation] = field(default_factory=dict)
    _client: httpx.AsyncClient | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def on_step(self, name: str, handler: Handler | None) -> None:
        """Run `handler(context)` for the jobs of the plug-in step named `name` (or of the plug-in
        type whose typename or name is `name`); None removes it."""
        if handler is None:
            self.handlers.pop(name.lower(), None)
        else:
            self.handlers[name.lower()] = handler

    def simulate_type(self, name: str, settings: Simulation | None) -> None:
        """How the jobs of plug-in type `name` (typename or name) end when no handler is registered."""
        if settings is None:
            self.simulations.pop(name.lower(), None)
        else:
            self.simulations[name.lower()] = settings

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client, self._loop = new_client(), loop
        return self._client

    async def close(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.aclose()
        self._client = self._loop = None

    async def perform(self, work: EventWork, attempt: int) -> Result | None:
        """Do the step's work; how the run ended (None: a simulated plug-in type that hangs)."""
        if work.endpoint is not None:
            return await self._deliver(work)
        names = (work.step_name or "", *work.plugin_names)
        handler = next((self.handlers[n.lower()] for n in names if n and n.lower() in self.handlers), None)
        if handler is not None:
            return await _call(handler, work.context)
        settings = next((self.simulations[n.lower()] for n in work.plugin_names if n.lower() in self.simulations),
                        None)
        return simulation.run_result(settings, attempt) if settings is not None else Result(ResultKind.SUCCEEDED)

    async def _deliver(self, work: EventWork) -> Result:
        assert work.endpoint is not None
        if work.contract not in (None, WEBHOOK_CONTRACT):
            text = (f"The emulator delivers only to webhooks (contract 8); service endpoint "
                    f"'{work.endpoint.name}' has contract {work.contract}.")
            return Result(ResultKind.FAILED, simulation.DEFAULT_FAILURE_CODE, text)
        done = await deliver(work.endpoint, work.context, entity_name=work.entity_name,
                             request_name=work.message_name, correlation_id=work.correlation_id,
                             organization=_organization(work.context), timeout=self.timeout, client=self.client())
        log.debug("job %s: webhook %s after %d attempt(s): %s", work.job_id, work.endpoint.url, done.attempts,
                  "delivered" if done.ok else done.message)
        if done.ok:
            return Result(ResultKind.SUCCEEDED)
        return Result(ResultKind.FAILED, done.errorcode, done.message)


async def _call(handler: Handler, context: str) -> Result:
    try:
        argument = json.loads(context)
        if inspect.iscoroutinefunction(handler):
            await handler(argument)
        else:
            outcome = await asyncio.to_thread(handler, argument)
            if inspect.isawaitable(outcome):
                await outcome
    except Exception as exc:  # noqa: BLE001 - whatever the user's handler raises fails its job
        code = getattr(exc, "errorcode", None)
        if isinstance(code, bool) or not isinstance(code, int) or not -2 ** 31 <= code < 2 ** 31:
            code = simulation.DEFAULT_FAILURE_CODE
        text = str(exc) or type(exc).__name__
        return Result(ResultKind.FAILED, code, f"{type(exc).__name__}: {text}", friendlymessage=text)
    return Result(ResultKind.SUCCEEDED)


def _organization(context: str) -> str:
    """`x-ms-dynamics-organization`: the environment's domain, `<OrganizationName>.crm.dynamics.com`."""
    try:
        name = json.loads(context).get("OrganizationName")
    except (ValueError, AttributeError):
        name = None
    return f"{name}.crm.dynamics.com".lower() if isinstance(name, str) and name else "emulator.crm.dynamics.com"


def _read_statement():
    assert _STEPS is not None and _ENDPOINTS is not None and _TYPES is not None
    ids = select(literal_column("value")).select_from(func.json_each(bindparam("ids")))
    return (
        select(JOBS.c.asyncoperationid, readable_column(JOBS, "data").label("data"), JOBS.c.primaryentitytype, JOBS.c.messagename,
               JOBS.c.correlationid, _STEPS.c.sdkmessageprocessingstepid, _STEPS.c.name.label("step_name"),
               _STEPS.c.asyncautodelete, _ENDPOINTS.c.serviceendpointid, _ENDPOINTS.c.name.label("endpoint_name"),
               _ENDPOINTS.c.url, _ENDPOINTS.c.authtype, _ENDPOINTS.c.authvalue, _ENDPOINTS.c.contract,
               _TYPES.c.plugintypeid, _TYPES.c.typename, _TYPES.c.name.label("type_name"))
        .join(_STEPS, _STEPS.c.sdkmessageprocessingstepid == JOBS.c.owningextensionid)
        .outerjoin(_ENDPOINTS, _ENDPOINTS.c.serviceendpointid == _STEPS.c.eventhandler)
        .outerjoin(_TYPES, _TYPES.c.plugintypeid == _STEPS.c.eventhandler)
        .where(JOBS.c.asyncoperationid.in_(ids))
    )


async def read_work(conn: AsyncConnection, job_ids: list[str]) -> dict[str, EventWork]:
    """The work of the given System Event jobs that have a step with an event handler; the
    others (no step, no handler found, or a store without registration tables) are simulated."""
    if not _REGISTERED or not job_ids:
        return {}
    rows = (await conn.execute(_read_statement(), {"ids": json.dumps(job_ids)})).all()
    found = {}
    for row in rows:
        if row.serviceendpointid is None and row.plugintypeid is None:
            continue
        endpoint = (Endpoint(row.url or "", row.authtype, row.authvalue, row.endpoint_name)
                    if row.serviceendpointid is not None else None)
        names = tuple(n for n in (row.typename, row.type_name) if n)
        context = row.data or json.dumps(_minimal_context(row))
        found[row.asyncoperationid] = EventWork(
            row.asyncoperationid, context, row.sdkmessageprocessingstepid, row.step_name, bool(row.asyncautodelete),
            endpoint, row.contract, names, row.primaryentitytype, row.messagename, row.correlationid)
    return found


def _minimal_context(row) -> dict:
    """The context of a job filed without `data` (by hand, through the control API)."""
    return {"CorrelationId": row.correlationid, "MessageName": row.messagename, "Mode": 1,
            "OperationId": row.asyncoperationid,
            "OwningExtension": {"Id": row.sdkmessageprocessingstepid, "KeyAttributes": [],
                                "LogicalName": "sdkmessageprocessingstep", "Name": row.step_name, "RowVersion": None},
            "PrimaryEntityName": row.primaryentitytype, "Stage": 40}


async def auto_delete(conn: AsyncConnection, job_ids: list[str]) -> None:
    """Delete jobs that succeeded for a step with `asyncautodelete` (their history stays)."""
    if job_ids:
        await delete_files(conn, JOBS, JOBS.c.asyncoperationid.in_(job_ids))
        await conn.execute(delete(JOBS).where(JOBS.c.asyncoperationid.in_(job_ids)))
        await conn.execute(delete(SIMULATIONS).where(SIMULATIONS.c.asyncoperationid.in_(job_ids)))
