"""SQL run for a session: a batch's plans (cached per server by text, parameter types and database)
run one statement at a time against the store, each answered with its tokens (COLMETADATA, ROWs,
DONE); a result streams a chunk at a time, and an attention stops it between chunks.

Used by SQLBatch requests and by the RPC procedures (`procedures.py`), whose statements answer with
DONEINPROC instead of DONE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, NamedTuple

from . import batch, tokens
from .encoders import epoch_of
from .errors import Refused, SqlError
from .outbox import Outbox
from .reader import Cancelled
from .rows import rows_encoder
from .translate import Environment, Param, Query

if TYPE_CHECKING:  # pragma: no cover
    from .session import Session

log = logging.getLogger("odata_emulator.tds")


async def run_batch(session: Session, text: str, outbox: Outbox, values: dict[str, Any] | None = None,
                    params: dict[str, Param] | None = None, *, in_procedure: bool = False) -> bool:
    """Runs a batch; answers its tokens. False when it ended with an error."""
    done_token = tokens.DONEINPROC if in_procedure else tokens.DONE
    key = (text, tuple(sorted((name, str(p.type)) for name, p in params.items())) if params else (),
           session.state.database)
    planned = session.server.plans.get(key)
    if planned is None:
        planned = await _plan(session, key, params or {}, outbox, in_procedure)
        if planned is None:
            return False
    plans = planned.plans
    values = dict(values) if values else {}
    if planned.reads_now:  # the clock is read once per batch, and only when a statement needs it
        values["__now"] = epoch_of(session.server.clock.now())
    values["__rowcount"] = 0
    values["__spid"] = session.spid
    for index, plan in enumerate(plans):
        more = tokens.DONE_MORE if (index < len(plans) - 1 or in_procedure) else 0
        try:
            if isinstance(plan, batch.Quiet):
                values["__rowcount"] = 0
                outbox.add(tokens.done(more, token=done_token))
            elif isinstance(plan, batch.Assign):
                if plan.query is None:
                    values[plan.key] = None
                else:
                    row = await session.store.first(plan.query.sql, bind_late(plan.query, values))
                    values[plan.key] = row[0] if row else None
                values["__rowcount"] = 1
                outbox.add(tokens.done(more, token=done_token))
            else:
                count = await _stream(session, plan.query, values, outbox)
                if count is None:  # cancelled: acknowledged
                    return False
                values["__rowcount"] = count
                outbox.add(tokens.done(more | tokens.DONE_COUNT, count, tokens.CMD_SELECT, done_token))
        except SqlError as error:
            if error.line == 1:
                error.line = plan.line
            session.error(outbox, error, in_procedure)
            return False
        await outbox.flush()
    if not plans:
        outbox.add(tokens.done(tokens.DONE_MORE if in_procedure else 0, token=done_token))
    return True


class Planned(NamedTuple):
    """A batch's plans, as cached by the server (by text, parameter types and database)."""

    plans: list[batch.Plan]
    reads_now: bool  # a statement uses the current time (`__now`): the clock is read when it runs


async def _plan(session: Session, key: tuple, params: dict[str, Param], outbox: Outbox,
                in_procedure: bool) -> Planned | None:
    """A batch planned and cached; None when it cannot be, its error answered."""
    server = session.server
    text, _types, database = key
    environment = Environment(server.catalog, dict(params), server=server.name, database=database)
    try:
        if len(text) < 2000:
            plans = batch.plan(text, environment)
        else:  # a long batch is parsed off the event loop
            plans = await asyncio.get_running_loop().run_in_executor(server.executor, batch.plan, text, environment)
    except SqlError as error:
        session.error(outbox, error, in_procedure)
        return None
    except RecursionError:
        session.error(outbox, Refused("The statement is nested too deeply for the emulator."), in_procedure)
        return None
    except Exception as exc:  # a statement the translator does not handle: the session goes on
        log.exception("TDS session %s: translating %r failed", session.spid, text[:200])
        session.error(outbox, Refused(f"The emulator cannot run this statement ({type(exc).__name__})."),
                      in_procedure)
        return None
    planned = Planned(plans, any(_reads_now(plan) for plan in plans))
    server.plans.put(key, planned)
    return planned


def _reads_now(plan: batch.Plan) -> bool:
    query = getattr(plan, "query", None)  # a Quiet plan has none; an Assign of NULL has None
    return query is not None and "__now" in query.late


async def _stream(session: Session, query: Query, values: dict[str, Any], outbox: Outbox) -> int | None:
    """COLMETADATA then ROWs, a chunk at a time, each written while the store reads the next ones; the
    row count, or None when cancelled."""
    if query.head is None:
        query.head = (tokens.colmetadata(query.columns), rows_encoder([sqltype for _, sqltype in query.columns]))
    metadata, encode = query.head
    count = 0
    try:
        async with contextlib.aclosing(session.store.chunks(query.sql, bind_late(query, values), encode)) as chunks:
            async for data, rows in chunks:
                if metadata:  # before the first chunk (an error before it is answered alone)
                    outbox.add(metadata)
                    metadata = b""
                outbox.add(data)
                count += rows
                await outbox.flush()
                if session.cancel.is_set():
                    raise Cancelled()
        return count
    except Cancelled:  # the tokens written so far stay whole; the acknowledgement ends them
        outbox.add(tokens.done(tokens.DONE_ATTN))
        session.cancel.clear()
        return None


def bind_late(query: Query, values: dict[str, Any]) -> dict[str, Any]:
    """The query's arguments with what is known only now (variables, `__now`, `__rowcount`) filled in."""
    if not query.late:
        return query.args
    arguments = dict(query.args)
    for key in query.late:
        arguments[key] = values.get(key)
    return arguments
