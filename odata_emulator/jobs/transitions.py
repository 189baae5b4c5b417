"""Guarded writes: the only way a system job changes state.

Every transition is one UPDATE guarded on the pair the writer saw (`WHERE asyncoperationid = :id
AND statecode = :s AND statuscode = :r`), that also gives the row a new version and records the
state entered in the job's history, in the same transaction (and, for a bulk delete job, in its
bulkdeleteoperation). A zero row count means someone else moved the job first; the caller decides
what that means.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import Table, bindparam, func, insert, literal_column, select, update

from ..store import driver
from ..store.async_engine import AsyncConnection
from ..store.schema import BULK_DELETES, HISTORY, JOBS
from ..store.values import to_epoch
from .states import BULK_DELETE, Pair, Transition, describe

# One INFO line per state a job enters (`odata_emulator.jobs`), written as its history row is.
LOG = logging.getLogger("odata_emulator.jobs")


def next_version(table: Table = JOBS):
    """A row version above every other of `table` (SQLite runs one writer at a time, so this is
    race-free)."""
    return select(func.coalesce(func.max(table.c.versionnumber), 0) + 1).scalar_subquery()


class Superseded(Exception):
    """A guarded batch found a job no longer where its caller read it: roll the transaction back."""


@dataclass(frozen=True)
class Move:
    """One job to move along `transition` from `current`, by `apply_many`."""

    job_id: str
    transition: Transition
    current: Pair
    values: dict = field(default_factory=dict)
    reason: str | None = None
    holder: str | None = None  # the instance that must hold the job (Locked jobs)
    operation_type: int | None = None


_NAMES = driver.compile_sql(select(JOBS.c.asyncoperationid, JOBS.c.name).where(
    JOBS.c.asyncoperationid.in_(select(literal_column("value")).select_from(func.json_each(bindparam("ids"))))))

_RECORD = driver.compile_sql(insert(HISTORY).values(
    asyncoperationid=bindparam("job"), at=bindparam("moment"), statecode=bindparam("state"),
    statuscode=bindparam("status"), reason=bindparam("why"), host=bindparam("by"),
))


@lru_cache(maxsize=64)
def _guarded_update(columns: tuple[str, ...], held: bool, versioned: bool = False, returning: bool = False) -> driver.Sql:
    """The update of a job still where its caller read it (its pair; its holder; its version), setting
    `columns` and a new version; compiled once per shape. `returning`: what `apply` needs of the job
    (never for `apply_many`'s executemany, whose row count SQLite would then not report)."""
    guard = [JOBS.c.asyncoperationid == bindparam("job"), JOBS.c.statecode == bindparam("from_state"),
             JOBS.c.statuscode == bindparam("from_status")]
    if held:
        # Only the instance that holds the lock may move a Locked job on.
        guard.append(JOBS.c.hostid == bindparam("holder"))
    if versioned:
        guard.append(JOBS.c.versionnumber == bindparam("version"))
    # next_version() is evaluated for each row of an executemany: every job gets its own version.
    changes: dict[str, object] = {c: bindparam(f"set_{c}") for c in columns}
    statement = update(JOBS).where(*guard).values({**changes, "versionnumber": next_version()})
    return driver.compile_sql(statement.returning(JOBS.c.operationtype, JOBS.c.name) if returning else statement)


async def apply_many(conn: AsyncConnection, moves: list[Move], now: dt.datetime, *, host: str | None = None,
                     journal: list | None = None) -> None:
    """Several guarded moves with a handful of statements, for a caller that read the jobs' pairs in
    this same write transaction (SQLite's write lock is held from BEGIN IMMEDIATE, so none can have
    moved since). A guard that still finds a job moved raises `Superseded`: roll back. With a
    `journal`, the history rows are added to it for the caller to `record_many` before it commits."""
    if not moves:
        return
    epoch = to_epoch(now)
    groups: dict[tuple, list[dict]] = {}
    history = []
    for move in moves:
        changes = _changes(move.transition, move.current, epoch, move.values)
        row = {f"set_{name}": value for name, value in changes.items()}
        row.update(job=move.job_id, from_state=move.current[0], from_status=move.current[1], holder=move.holder)
        groups.setdefault((tuple(sorted(changes)), move.holder is not None), []).append(row)
        history.append(_entry(move.job_id, epoch, move.transition, move.reason, host, move.current))
    for (columns, held), rows in groups.items():
        if await driver.execute_many(conn, _guarded_update(columns, held), rows) != len(rows):
            raise Superseded()
    if journal is None:
        await record_many(conn, history)
    else:
        journal.extend(history)
    for move in moves:
        if move.operation_type == BULK_DELETE:
            await mirror_bulk_delete(conn, move.job_id, move.transition.target, now)


async def record_many(conn: AsyncConnection, history: list[dict]) -> None:
    if history:
        await driver.execute_many(conn, _RECORD, history)
        if LOG.isEnabledFor(logging.INFO):
            await _log_entries(conn, history)


async def _log_entries(conn: AsyncConnection, history: list[dict]) -> None:
    """The INFO line of each state entered: `job <id> (<name>): <from> -> <to>: <why>`."""
    unnamed = [entry["job"] for entry in history if entry.get("name") is None]
    names = dict(await driver.fetch_all(conn, _NAMES, {"ids": json.dumps(unnamed)})) if unnamed else {}
    for entry in history:
        label = entry.get("name") or names.get(entry["job"])
        name = f" ({label})" if label else ""
        before = f"{describe(entry['from'])} -> " if entry.get("from") else ""
        LOG.info("job %s%s: %s%s: %s", entry["job"], name, before, describe((entry["state"], entry["status"])),
                 entry["why"])


def _changes(transition: Transition, current: Pair, epoch: int, values: dict | None) -> dict:
    """The columns a move along `transition` writes (its new version aside)."""
    if current not in transition.sources:
        raise ValueError(f"{transition.name} does not start from {current}")
    target = transition.target
    return {"statecode": target[0], "statuscode": target[1], "modifiedon": epoch, **(values or {})}


def _entry(job_id: str, epoch: int, transition: Transition, reason: str | None, host: str | None,
           current: Pair | None = None, name: str | None = None) -> dict:
    """The history row of a move (the parameters of `record_many`; `from` and `name` are for the log)."""
    target = transition.target
    return {"job": job_id, "moment": epoch, "state": target[0], "status": target[1],
            "why": reason or transition.name, "by": host, "from": current, "name": name}


async def mirror_bulk_delete(conn: AsyncConnection, job_id: str, pair: Pair, at: dt.datetime) -> None:
    """A bulk delete job entered `pair`: its bulkdeleteoperation shows the same state, as
    Dataverse's does (claimed, cancelled, paused, finished...)."""
    moment = to_epoch(at)
    await conn.execute(
        update(BULK_DELETES).where(BULK_DELETES.c.asyncoperationid == job_id)
        .values(statecode=pair[0], statuscode=pair[1], modifiedon=moment, versionnumber=next_version(BULK_DELETES))
    )


async def apply(conn: AsyncConnection, job_id: str, transition: Transition, current: Pair, now: dt.datetime, *,
                reason: str | None = None, host: str | None = None, values: dict | None = None,
                version: int | None = None, holder: str | None = None) -> bool:
    """Move one job from `current` along `transition`. Returns False (and writes nothing) when the
    job is no longer in `current` (or no longer at `version`, when given)."""
    epoch = to_epoch(now)
    changes = _changes(transition, current, epoch, values)
    arguments = {f"set_{name}": value for name, value in changes.items()}
    arguments.update(job=job_id, from_state=current[0], from_status=current[1], version=version, holder=holder)
    moved = await driver.fetch_all(conn, _guarded_update(tuple(sorted(changes)), holder is not None,
                                                         version is not None, returning=True), arguments)
    if not moved:
        return False
    [(operation_type, name)] = moved
    await record_many(conn, [_entry(job_id, epoch, transition, reason, host, current, name)])
    if operation_type == BULK_DELETE:
        await mirror_bulk_delete(conn, job_id, transition.target, now)
    return True
