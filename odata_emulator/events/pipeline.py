"""The event pipeline of one message: the core operation (`records`, stage 30) and then, in the same
transaction, the asynchronous steps it fires (`events.fire`, stage 40). Whoever changes a record as
a client or a job would (the Web API, a job's own work) goes through here, so every change fires."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .. import records
from ..caller import Caller
from ..model import Entity
from ..store.async_engine import AsyncConnection
from .fire import fire


@dataclass
class Outcome:
    """The change made and the system jobs it filed."""

    change: records.Change
    jobs: list[str] = field(default_factory=list)


async def create(conn: AsyncConnection, entity: Entity, body: records.Body, *, caller: Caller, now: dt.datetime,
                 record_id: str | None = None) -> Outcome:
    change = await records.create(conn, entity, body, caller=caller, now=now, record_id=record_id)
    return Outcome(change, await fire(conn, change, caller=caller, now=now))


async def update(conn: AsyncConnection, entity: Entity, record_id: str, body: records.Body, *, caller: Caller,
                 now: dt.datetime, if_match: str | None = None) -> Outcome:
    change = await records.update(conn, entity, record_id, body, caller=caller, now=now, if_match=if_match)
    return Outcome(change, await fire(conn, change, caller=caller, now=now))


async def delete(conn: AsyncConnection, entity: Entity, record_id: str, *, caller: Caller, now: dt.datetime,
                 if_match: str | None = None) -> Outcome:
    change = await records.delete(conn, entity, record_id, if_match=if_match)
    return Outcome(change, await fire(conn, change, caller=caller, now=now))
