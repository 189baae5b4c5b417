"""Running a compiled plan against the store: one page at a time, counts, aggregates and the
collection-valued expansions of a page. Values come back in storage form; the serializer
writes them as Dataverse JSON."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..errors import AggregateLimitExceeded
from ..store.fixtures import Caller
from ..store.values import to_epoch
from .compiler import ClockParam, CompiledQuery, Shape, keyset_predicate
from .datefunctions import clock_bounds
from .paging import PageCookie

COUNT_LIMIT = 5000


@dataclass(frozen=True)
class Context:
    now: dt.datetime
    caller: Caller


@dataclass
class Page:
    rows: list
    more: bool
    children: dict = field(default_factory=dict)  # (navigation, parent key) -> list of child rows


def parameters(params: tuple[ClockParam, ...], context: Context) -> dict:
    values = {}
    for param in params:
        if param.caller == "user":
            values[param.name] = context.caller.user_id
        elif param.caller == "businessunit":
            values[param.name] = context.caller.business_unit_id
        elif param.function == "now":
            values[param.name] = to_epoch(context.now)
        else:
            lower, upper = clock_bounds(param.function, context.now, param.amount)
            values[param.name] = to_epoch(upper if param.upper else lower)
    return values


async def fetch_page(conn: AsyncConnection, compiled: CompiledQuery, context: Context, *, size: int,
                     cookie: PageCookie | None = None, skip: int | None = None) -> Page:
    statement = compiled.statement
    if cookie is not None:
        statement = statement.where(keyset_predicate(compiled.order, cookie.last))
    statement = statement.limit(size + 1)
    if skip:
        statement = statement.offset(skip)
    result = await conn.execute(statement, parameters(compiled.params, context))
    rows = result.mappings().all()
    page = Page(list(rows[:size]), len(rows) > size)
    if compiled.shape is not None and page.rows:
        await _fetch_collections(conn, compiled.shape, page.rows, context, page.children)
    return page


async def _fetch_collections(conn: AsyncConnection, shape: Shape, rows: list, context: Context, into: dict,
                             prefix: tuple = ()) -> None:
    for navigation, plan in shape.collections:
        keys = list({row[shape.key_label] for row in rows if row[shape.key_label] is not None})
        if not keys:
            continue
        result = await conn.execute(plan.statement, {"parent_keys": keys, **parameters(plan.params, context)})
        children = result.mappings().all()
        for child in children:
            into.setdefault((prefix + (navigation,), child[plan.parent_label]), []).append(child)
    for navigation, child_shape, is_ref in shape.single:
        if not is_ref:
            await _fetch_collections(conn, child_shape, rows, context, into, prefix + (navigation,))


async def count_rows(conn: AsyncConnection, compiled: CompiledQuery, context: Context,
                     cap: int = COUNT_LIMIT) -> tuple[int, bool]:
    """The number of matching rows, capped as Dataverse caps it, and whether the cap was hit."""
    source = compiled.filtered if compiled.filtered is not None else compiled.statement
    limited = source.limit(cap + 1).subquery()
    total = (await conn.execute(select(func.count()).select_from(limited), parameters(compiled.params, context))).scalar_one()
    return min(total, cap), total > cap


async def fetch_aggregate(conn: AsyncConnection, compiled: CompiledQuery, context: Context, *, limit: int,
                          top: int | None = None) -> list:
    values = parameters(compiled.params, context)
    if limit > 0:
        probe = compiled.aggregate_input.limit(limit + 1).subquery()
        rows = (await conn.execute(select(func.count()).select_from(probe), values)).scalar_one()
        if rows > limit:
            raise AggregateLimitExceeded()
    statement = compiled.statement
    if top is not None:
        statement = statement.limit(top)
    return list((await conn.execute(statement, values)).mappings().all())


async def count_groups(conn: AsyncConnection, compiled: CompiledQuery, context: Context) -> int:
    grouped = compiled.statement.order_by(None).subquery()
    return (await conn.execute(select(func.count()).select_from(grouped), parameters(compiled.params, context))).scalar_one()
