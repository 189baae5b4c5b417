"""Stage 40, asynchronous: after a Create, Update or Delete is written, one system job per enabled
asynchronous step registered for it, in the same transaction and in `rank` order
(`../shared/reference/async-steps-and-webhooks.md` §2). Synchronous and disabled steps file nothing.
The jobs go in through the job engine's own insert (`jobs/create.py`)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..caller import Caller
from ..jobs import create as jobs
from ..model import MODEL
from ..records import Change
from ..store.schema import METADATA
from . import context, depth

SYSTEM_EVENT = 1
ASYNCHRONOUS, ENABLED = 1, 0
_STEPS = METADATA.tables["sdkmessageprocessingstep"]
_MESSAGES = METADATA.tables["sdkmessage"]
_FILTERS = METADATA.tables["sdkmessagefilter"]
_IMAGES = METADATA.tables["sdkmessageprocessingstepimage"]
_UNITS = METADATA.tables["businessunit"]
# The tables a system job can be regarding: the ones whose changes file jobs.
EVENT_TABLES = frozenset(MODEL.entity("asyncoperation").columns["regardingobjectid"].targets)


def _meets_filter(step: dict[str, Any], change: Change) -> bool:
    """An Update fires a step with filtering attributes only when it wrote one of them."""
    if change.message != "Update" or not step["filteringattributes"]:
        return True
    wanted = {name.strip().lower() for name in step["filteringattributes"].split(",") if name.strip()}
    return bool(wanted & {name.lower() for name in change.changed})


async def matching_steps(conn: AsyncConnection, change: Change) -> list[dict[str, Any]]:
    """The enabled asynchronous steps `change` fires, in execution order (rank, then creation)."""
    messages = select(_MESSAGES.c.sdkmessageid).where(_MESSAGES.c.name == change.message)
    filters = select(_FILTERS.c.sdkmessagefilterid).where(
        _FILTERS.c.primaryobjecttypecode == change.entity.logical_name)
    query = (select(_STEPS).where(
        _STEPS.c.mode == ASYNCHRONOUS, _STEPS.c.statecode == ENABLED,
        _STEPS.c.sdkmessageid.in_(messages),
        or_(_STEPS.c.sdkmessagefilterid.is_(None), _STEPS.c.sdkmessagefilterid.in_(filters)),
        or_(_STEPS.c.supporteddeployment.is_(None), _STEPS.c.supporteddeployment != 1),
    ).order_by(_STEPS.c.rank, _STEPS.c.createdon, _STEPS.c.sdkmessageprocessingstepid))
    rows = [dict(row) for row in (await conn.execute(query)).mappings()]
    return [row for row in rows if _meets_filter(row, change)]


async def _step_images(conn: AsyncConnection, step_id: str) -> tuple[tuple[str, int, tuple[str, ...]], ...]:
    rows = (await conn.execute(select(_IMAGES.c.entityalias, _IMAGES.c.name, _IMAGES.c.imagetype,
                                      _IMAGES.c.attributes).where(_IMAGES.c.sdkmessageprocessingstepid == step_id)
                               .order_by(_IMAGES.c.createdon))).all()
    return tuple((alias or name or "Image", image_type or 0,
                  tuple(a.strip() for a in (attributes or "").split(",") if a.strip()))
                 for alias, name, image_type, attributes in rows)


async def organization_name(conn: AsyncConnection) -> str:
    """The organization's unique name: its root business unit's name."""
    name = (await conn.execute(select(_UNITS.c.name).where(_UNITS.c.parentbusinessunitid.is_(None))
                               .limit(1))).scalar_one_or_none()
    return name or "org"


async def fire(conn: AsyncConnection, change: Change, *, caller: Caller, now: dt.datetime,
               correlation_id: str | None = None, depth_level: int | None = None) -> list[str]:
    """File the system jobs `change` fires; their ids, in rank order. Depth and correlation come
    from `events.depth` (a job's own work) unless given."""
    if change.entity.logical_name not in EVENT_TABLES:
        return []
    steps = await matching_steps(conn, change)
    if not steps:
        return []
    level, correlation = depth.current()
    origin_base = functools.partial(
        context.Origin, user_id=caller.user_id, business_unit_id=caller.business_unit_id,
        organization_id=caller.organization_id, organization_name=await organization_name(conn),
        correlation_id=correlation_id or correlation, depth=depth_level if depth_level is not None else level,
        created_on=now)
    specs = []
    for step in steps:
        job_id = str(uuid.uuid4())
        origin = origin_base(run_as=step["impersonatinguserid"])
        described = context.Step(step["sdkmessageprocessingstepid"], step["name"],
                                 await _step_images(conn, step["sdkmessageprocessingstepid"]))
        data = context.build(change, described, origin, operation_id=job_id)
        specs.append({
            "asyncoperationid": job_id, "name": step["name"], "operationtype": SYSTEM_EVENT,
            "messagename": change.message, "primaryentitytype": change.entity.logical_name,
            "regardingobjectid": change.record_id, "regardingobjecttypecode": change.entity.logical_name,
            "owningextensionid": step["sdkmessageprocessingstepid"],
            "owningextensiontypecode": "sdkmessageprocessingstep",
            "correlationid": origin.correlation_id, "depth": origin.depth,
            "ownerid": origin.run_as or caller.user_id, "owneridtype": "systemuser",
            "data": json.dumps(data, separators=(",", ":")),
        })
    # One moment for all of them: the queue orders them by `sequence`, which follows rank order.
    return await jobs.insert_jobs(conn, jobs.prepare_jobs(specs, now, caller))
