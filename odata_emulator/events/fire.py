"""Stage 40, asynchronous: after a Create, Update or Delete is written, one system job per enabled
asynchronous step registered for it, in the same transaction and in `rank` order
(`../shared/reference/async-steps-and-webhooks.md` §2). Synchronous and disabled steps file nothing.
The jobs go in through the job engine's own insert (`jobs/create.py`)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from typing import Any, NamedTuple

from sqlalchemy import bindparam, literal_column, or_, select

from ..caller import Caller
from ..jobs import create as jobs
from ..model import MODEL
from ..records import Change
from ..store import driver
from ..store.async_engine import AsyncConnection
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


def _registered_statement():
    """The enabled asynchronous steps a message on a table fires, in execution order (rank, then
    creation), each with its images (one row per image, or one without any); on every row the
    organization's unique name (its root business unit's name) and the jobs' `top_columns`."""
    messages = select(_MESSAGES.c.sdkmessageid).where(_MESSAGES.c.name == bindparam("message"))
    filters = select(_FILTERS.c.sdkmessagefilterid).where(_FILTERS.c.primaryobjecttypecode == bindparam("table"))
    organization = (select(_UNITS.c.name).where(_UNITS.c.parentbusinessunitid.is_(None)).limit(1)
                    .scalar_subquery().label("organization_name"))
    image = _IMAGES.c
    joined = _STEPS.outerjoin(_IMAGES, image.sdkmessageprocessingstepid == _STEPS.c.sdkmessageprocessingstepid)
    return (select(_STEPS, image.sdkmessageprocessingstepimageid.label("image_id"),
                   image.entityalias.label("image_alias"), image.name.label("image_name"),
                   image.imagetype.label("image_type"), image.attributes.label("image_attributes"), organization,
                   *jobs.top_columns())
            .select_from(joined).where(
                _STEPS.c.mode == ASYNCHRONOUS, _STEPS.c.statecode == ENABLED,
                _STEPS.c.sdkmessageid.in_(messages),
                or_(_STEPS.c.sdkmessagefilterid.is_(None), _STEPS.c.sdkmessagefilterid.in_(filters)),
                or_(_STEPS.c.supporteddeployment.is_(None), _STEPS.c.supporteddeployment != 1),
            )
            # A step's images in creation order (ties: the order they were written).
            .order_by(_STEPS.c.rank, _STEPS.c.createdon, _STEPS.c.sdkmessageprocessingstepid, image.createdon,
                      literal_column(f"{_IMAGES.name}.rowid")))


# Compiled once (`store/driver.py`): every write of an event table runs it, so it is one hop to
# SQLite with no SQLAlchemy work; the images, the organization and the jobs' tops ride along
# for the same reason.
_REGISTERED = driver.compile_sql(_registered_statement())
_EXTRA_COLUMNS = ("image_id", "image_alias", "image_name", "image_type", "image_attributes", "organization_name",
                  "top_sequence", "top_version")


def _image(alias: str | None, name: str | None, image_type: int | None,
           attributes: str | None) -> tuple[str, int, tuple[str, ...]]:
    return (alias or name or "Image", image_type or 0,
            tuple(a.strip() for a in (attributes or "").split(",") if a.strip()))


class Registered(NamedTuple):
    steps: list[tuple[dict[str, Any], tuple]]  # (the step's row, its images), in execution order
    organization_name: str
    tops: tuple[int | None, int | None]  # the jobs' highest sequence and row version, read alongside


async def _registered(conn: AsyncConnection, change: Change) -> Registered:
    """The steps `change` fires (rows of sdkmessageprocessingstep) with their images, the
    organization's unique name and what the jobs' insert needs."""
    rows = await driver.fetch_all(conn, _REGISTERED, {"message": change.message,
                                                      "table": change.entity.logical_name})
    columns = _REGISTERED.columns
    steps: dict[str, tuple[dict[str, Any], list]] = {}
    row: dict[str, Any] = {}
    for values in rows:
        row = dict(zip(columns, values))
        step_id = row["sdkmessageprocessingstepid"]
        if step_id not in steps:  # the step's first row (its rows are consecutive: ordered by step)
            steps[step_id] = ({k: v for k, v in row.items() if k not in _EXTRA_COLUMNS}, [])
        if row["image_id"] is not None:
            steps[step_id][1].append(_image(row["image_alias"], row["image_name"], row["image_type"],
                                            row["image_attributes"]))
    found = [(step, tuple(images)) for step, images in steps.values() if _meets_filter(step, change)]
    return Registered(found, row.get("organization_name") or "org", (row.get("top_sequence"), row.get("top_version")))


async def matching_steps(conn: AsyncConnection, change: Change) -> list[dict[str, Any]]:
    """The enabled asynchronous steps `change` fires, in execution order (rank, then creation)."""
    return [step for step, _ in (await _registered(conn, change)).steps]


async def fire(conn: AsyncConnection, change: Change, *, caller: Caller, now: dt.datetime,
               correlation_id: str | None = None, depth_level: int | None = None) -> list[str]:
    """File the system jobs `change` fires; their ids, in rank order. Depth and correlation come
    from `events.depth` (a job's own work) unless given."""
    if change.entity.logical_name not in EVENT_TABLES:
        return []
    registered = await _registered(conn, change)
    steps = registered.steps
    if not steps:
        return []
    level, correlation = depth.current()
    origin_base = functools.partial(
        context.Origin, user_id=caller.user_id, business_unit_id=caller.business_unit_id,
        organization_id=caller.organization_id, organization_name=registered.organization_name,
        correlation_id=correlation_id or correlation, depth=depth_level if depth_level is not None else level,
        created_on=now)
    specs = []
    for step, images in steps:
        job_id = str(uuid.uuid4())
        origin = origin_base(run_as=step["impersonatinguserid"])
        described = context.Step(step["sdkmessageprocessingstepid"], step["name"], images)
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
    # Their ids are new uuid4s, so no check for a taken one; the tops came with the steps.
    return await jobs.insert_fresh_jobs(conn, jobs.prepare_jobs(specs, now, caller), *registered.tops)
