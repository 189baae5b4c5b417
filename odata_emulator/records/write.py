"""Create, update and delete of rows of the writable tables, as the platform's core operation does
them: the body checked (`records/body.py`), binds pointing at rows that exist, the platform's
defaults (owner, audit columns, state and status, a new row version), the registration rules
(`records/rules.py`). Each returns the `Change` it made, which `events/` turns into system jobs
in the same transaction."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update

from ..caller import Caller
from ..errors import BadRequest, Code, PreconditionFailed, RecordNotFound
from ..model import Entity
from ..store import driver
from ..store.async_engine import AsyncConnection
from ..store.schema import METADATA
from ..store.values import to_epoch
from . import rules
from .body import Body

STALE = "The version of the existing record doesn't match the RowVersion property provided."


@dataclass
class Change:
    """One core operation done: its message, the row it touched, and the row before and after (the
    images; storage form, every column). `target` is what the context's Target holds: for a Create the
    whole row as stored, for an Update the columns written, for a Delete nothing but the id."""

    message: str
    entity: Entity
    record_id: str
    target: dict[str, Any]
    pre: dict[str, Any] | None = None
    post: dict[str, Any] | None = None
    changed: list[str] = field(default_factory=list)


def _table(entity: Entity):
    return METADATA.tables[entity.logical_name]


# The reads every write makes, compiled once per table and run with one trip each (`store/driver.py`):
# built and compiled by SQLAlchemy at each write, they took about a fifth of a create's time.
@functools.cache
def _by_key(table_name: str, key: str, columns: tuple[str, ...] = ()) -> driver.Sql:
    """`columns` (all of them when none) of the row of `table_name` whose `key` is the parameter `key`."""
    table = METADATA.tables[table_name]
    chosen = select(*(table.c[name] for name in columns)) if columns else select(table)
    return driver.compile_sql(chosen.where(table.c[key] == bindparam("key")))


@functools.cache
def _top_version_sql(table_name: str) -> driver.Sql:
    return driver.compile_sql(select(func.max(METADATA.tables[table_name].c.versionnumber)))


async def current(conn: AsyncConnection, entity: Entity, record_id: str) -> dict[str, Any] | None:
    sql = _by_key(entity.logical_name, entity.primary_id)
    rows = await driver.fetch_all(conn, sql, {"key": record_id})
    return sql.dicts(rows)[0] if rows else None


async def _next_version(conn: AsyncConnection, entity: Entity) -> int:
    [(top,)] = await driver.fetch_all(conn, _top_version_sql(entity.logical_name))
    return (top or 0) + 1


async def _check_references(conn: AsyncConnection, body: Body) -> None:
    for reference in body.references:
        target = reference.target
        if not await driver.fetch_all(conn, _by_key(target.logical_name, target.primary_id, (target.primary_id,)),
                                      {"key": reference.record_id}):
            raise RecordNotFound(f"{target.logical_name} With Id = {reference.record_id} Does Not Exist")


def check_version(row: dict[str, Any], if_match: str | None) -> None:
    """`If-Match: *` takes any version; `If-Match: W/"<n>"` only version n (412 otherwise)."""
    if if_match is None or if_match.strip() == "*":
        return
    tags = [tag.strip() for tag in if_match.split(",")]
    if f'W/"{row["versionnumber"]}"' not in tags:
        raise PreconditionFailed(STALE)


async def _owner_business_unit(conn: AsyncConnection, owner_type: str, owner_id: str) -> str | None:
    key = "systemuserid" if owner_type == "systemuser" else "teamid"
    rows = await driver.fetch_all(conn, _by_key(owner_type, key, ("businessunitid",)), {"key": owner_id})
    return rows[0][0] if rows else None


async def _ownership(conn: AsyncConnection, entity: Entity, row: dict[str, Any]) -> None:
    """owninguser/owningteam/owningbusinessunit follow ownerid."""
    if "ownerid" not in entity.columns or row.get("ownerid") is None:
        return
    owner_type = row.get("owneridtype") or "systemuser"
    row["owneridtype"] = owner_type
    row["owninguser"] = row["ownerid"] if owner_type == "systemuser" else None
    row["owningteam"] = row["ownerid"] if owner_type == "team" else None
    row["owningbusinessunit"] = await _owner_business_unit(conn, owner_type, row["ownerid"])


def _state_and_status(entity: Entity, row: dict[str, Any], given: dict[str, Any]) -> None:
    state, status = entity.columns.get("statecode"), entity.columns.get("statuscode")
    if state is None or status is None or state.option_set is None or status.option_set is None:
        return
    if "statuscode" in given and "statecode" not in given and row.get("statuscode") is not None:
        row["statecode"] = status.option_set.by_value[row["statuscode"]].state
    elif "statecode" in given and "statuscode" not in given and row.get("statecode") is not None:
        row["statuscode"] = state.option_set.by_value[row["statecode"]].default_status
    if row.get("statecode") is None:
        row["statecode"] = state.option_set.options[0].value
    if row.get("statuscode") is None:
        row["statuscode"] = state.option_set.by_value[row["statecode"]].default_status
    if status.option_set.by_value[row["statuscode"]].state != row["statecode"]:
        raise BadRequest(f"{row['statuscode']} is not a valid status code for state code "
                         f"{entity.schema_name}State.{state.option_set.by_value[row['statecode']].label} on "
                         f"{entity.logical_name} with Id {row[entity.primary_id]}.", code=Code.INVALID_ARGUMENT)


async def create(conn: AsyncConnection, entity: Entity, body: Body, *, caller: Caller, now: dt.datetime,
                 record_id: str | None = None) -> Change:
    """Insert one row; 400 (nothing written) when a rule refuses it, 412 when the id is taken."""
    epoch = to_epoch(now)
    row: dict[str, Any] = {name: None for name in entity.columns}
    row.update(body.values)
    record_id = record_id or row.get(entity.primary_id) or str(uuid.uuid4())
    row[entity.primary_id] = record_id
    if await current(conn, entity, record_id) is not None:
        raise BadRequest("A record with matching key values already exists.", code=Code.DUPLICATE_RECORD,
                         status=412)
    await _check_references(conn, body)
    row.update(createdon=epoch, modifiedon=epoch, createdby=caller.user_id, modifiedby=caller.user_id)
    if "ownerid" in entity.columns and row.get("ownerid") is None:
        row.update(ownerid=caller.user_id, owneridtype="systemuser")
    await _ownership(conn, entity, row)
    _state_and_status(entity, row, body.values)
    await rules.apply(conn, entity, row, None, body)
    row["versionnumber"] = await _next_version(conn, entity)
    await conn.execute(insert(_table(entity)), [row])
    target = {k: v for k, v in row.items() if v is not None and k != "versionnumber"}
    return Change("Create", entity, record_id, target, post=dict(row), changed=list(body.values))


async def update(conn: AsyncConnection, entity: Entity, record_id: str, body: Body, *, caller: Caller,
                 now: dt.datetime, if_match: str | None = None) -> Change:
    """Update one row that exists (the caller checked); 412 on a stale `If-Match`."""
    before = await current(conn, entity, record_id)
    if before is None:
        raise RecordNotFound.for_id(entity.logical_name, record_id)
    check_version(before, if_match)
    await _check_references(conn, body)
    row = dict(before)
    row.update(body.values)
    row.update(modifiedon=to_epoch(now), modifiedby=caller.user_id)
    if "ownerid" in body.values:
        await _ownership(conn, entity, row)
    _state_and_status(entity, row, body.values)
    await rules.apply(conn, entity, row, before, body)
    row["versionnumber"] = await _next_version(conn, entity)
    changes = {k: v for k, v in row.items() if before.get(k) != v or k in body.values}
    await conn.execute(sql_update(_table(entity)).where(_table(entity).c[entity.primary_id] == record_id)
                       .values(changes))
    target = {k: row[k] for k in body.values}
    target.update({entity.primary_id: record_id, "modifiedon": row["modifiedon"], "modifiedby": row["modifiedby"]})
    if "modifiedonbehalfby" in entity.columns:
        target["modifiedonbehalfby"] = None
    return Change("Update", entity, record_id, target, pre=before, post=row, changed=list(body.values))


async def delete(conn: AsyncConnection, entity: Entity, record_id: str, *, if_match: str | None = None) -> Change:
    before = await current(conn, entity, record_id)
    if before is None:
        raise RecordNotFound.for_id(entity.logical_name, record_id)
    check_version(before, if_match)
    await conn.execute(sql_delete(_table(entity)).where(_table(entity).c[entity.primary_id] == record_id))
    return Change("Delete", entity, record_id, {entity.primary_id: record_id}, pre=before)
