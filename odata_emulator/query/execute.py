"""Running a compiled plan against the store: one page at a time, counts, aggregates and the
collection-valued expansions of a page. Values come back in storage form; the serializer
writes them as Dataverse JSON."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import BindParameter, Column, Select, bindparam, func, select

from ..caller import Caller
from ..errors import AggregateLimitExceeded
from ..store.driver import Snapshot, Sql, compile_sql
from ..store.values import to_epoch
from .compiled import CollectionPlan, CompiledAggregate, CompiledQuery, CompiledRows, RuntimeParam, Shape
from .datefunctions import clock_bounds
from .paging import PageCookie, keyset_predicate

COUNT_LIMIT = 5000


@dataclass(frozen=True)
class Context:
    now: dt.datetime
    caller: Caller


@dataclass
class Page:
    rows: list
    more: bool
    children: Children = field(default_factory=lambda: Children())  # (path, parent key) -> child rows


class Children(dict):
    """The rows of a page's collection-valued expansions: (navigation path, parent key) -> rows;
    `more` holds the keys of the collections a paged expansion cut short (more rows follow)."""

    def __init__(self) -> None:
        super().__init__()
        self.more: set = set()


def parameters(params: tuple[RuntimeParam, ...], context: Context) -> dict[str, object]:
    values: dict[str, object] = {}
    for param in params:
        if param.caller == "user":
            values[param.name] = context.caller.user_id
        elif param.caller == "businessunit":
            values[param.name] = context.caller.business_unit_id
        elif param.function == "now":
            values[param.name] = to_epoch(context.now)
        else:
            assert param.function is not None  # a runtime parameter is the caller's or a clock bound
            lower, upper = clock_bounds(param.function, context.now, param.amount)
            bound = upper if param.upper else lower
            assert bound is not None  # the compiler makes parameters for a function's closed ends only
            values[param.name] = to_epoch(bound)
    return values


# ------------------------------------------------------------------------------------ statements
# Each variant of a plan's statement compiles once to SQLite text (`store/driver.py`) and is kept
# on the plan; everything that varies per request is a bind parameter.


@dataclass(frozen=True)
class Restriction:
    """Only the rows whose `column` equals a value given at execution (a single row by its key, or
    the rows of a navigation from one parent)."""

    column: Column[Any]
    value: object
    after: bool = False  # the rows whose column is greater than the value instead (change tracking's versions)

    @property
    def key(self) -> str:
        return f"{self.column.table.name}.{self.column.key}{'>' if self.after else '='}"


def _sql(plan, key: tuple, build) -> Sql:
    sql = plan.sql_cache.get(key)
    if sql is None:
        sql = plan.sql_cache[key] = compile_sql(build())
    return sql


def _statement_of(plan: CollectionPlan) -> Select[Any]:
    return plan.statement


def _restricted(statement, restrict: Restriction | None):
    if restrict is None:
        return statement
    value: BindParameter[Any] = bindparam("restrict_value")
    return statement.where(restrict.column > value if restrict.after else restrict.column == value)


def _page_statement(compiled: CompiledQuery, restrict: Restriction | None,
                    after_nulls: tuple[bool, ...] | None) -> Select[Any]:
    statement = _restricted(compiled.statement, restrict)
    if after_nulls is not None:
        values: tuple[Any, ...] = tuple(None if null else bindparam(f"after_{i}") for i, null in enumerate(after_nulls))
        statement = statement.where(keyset_predicate(compiled.order, values))
    return statement.limit(bindparam("page_size")).offset(bindparam("page_skip"))


def _page_sql(compiled: CompiledQuery, restrict: Restriction | None, after_nulls: tuple[bool, ...] | None) -> Sql:
    return _sql(compiled, ("page", restrict.key if restrict else None, after_nulls),
                lambda: _page_statement(compiled, restrict, after_nulls))


def _after_nulls(cookie: PageCookie | None) -> tuple[bool, ...] | None:
    """Which of the cookie's last values are null: the page statement's keyset predicate differs for them."""
    return tuple(v is None for v in cookie.last) if cookie is not None else None


def _page_values(compiled: CompiledQuery, context: Context, *, size: int, cookie: PageCookie | None,
                 skip: int | None, restrict: Restriction | None) -> dict:
    """The page statement's values: one row more than the page, to tell whether more follow."""
    values = _values(compiled.params, context, restrict)
    values["page_size"] = size + 1
    values["page_skip"] = skip or 0
    if cookie is not None:
        values.update((f"after_{i}", v) for i, v in enumerate(cookie.last))
    return values


def _values(compiled_params, context: Context, restrict: Restriction | None) -> dict:
    values = parameters(compiled_params, context)
    if restrict is not None:
        values["restrict_value"] = restrict.value
    return values


# ------------------------------------------------------------------------------------ running


async def fetch_page(snap: Snapshot, compiled: CompiledQuery, context: Context, *, size: int,
                     cookie: PageCookie | None = None, skip: int | None = None,
                     restrict: Restriction | None = None, child_size: int | None = None) -> Page:
    """One page of rows and their expanded collections (a paged expansion keeps `child_size` rows of
    each, by default as many as the page has)."""
    values = _page_values(compiled, context, size=size, cookie=cookie, skip=skip, restrict=restrict)
    rows = await snap.mappings(_page_sql(compiled, restrict, _after_nulls(cookie)), values)
    page = Page(rows[:size], len(rows) > size)
    if isinstance(compiled, CompiledRows) and page.rows:
        await _fetch_collections(snap, compiled.shape, page.rows, context, page.children, child_size or size)
    return page


@dataclass
class JsonPage:
    """A page whose rows SQLite wrote as JSON text (`fetch_json_page`); `first` and `last` hold the
    order keys of its first and last rows, for the next page's cookie."""

    rows: list[str]
    more: bool
    first: dict | None
    last: dict | None


# Writes one row of a shape as a JSON text expression over the statement's columns by label, or
# answers None where it cannot (`api/sql_json.row_json`).
RowWriter = Callable[[Shape, dict[str, Any]], Any]


async def fetch_json_page(snap: Snapshot, compiled: CompiledRows, context: Context, write: RowWriter, *, size: int,
                          cookie: PageCookie | None = None, skip: int | None = None,
                          restrict: Restriction | None = None) -> JsonPage | None:
    """`fetch_page` for a page without collections, each row written as JSON by SQLite through
    `write`; None when `write` cannot write the shape (the caller then fetches the rows)."""
    after_nulls = _after_nulls(cookie)
    key = ("json page", restrict.key if restrict else None, after_nulls)
    if key not in compiled.sql_cache:
        statement = _page_statement(compiled, restrict, after_nulls)
        columns = {column.name: column for column in compiled.statement.selected_columns}
        written = write(compiled.shape, columns)
        compiled.sql_cache[key] = None if written is None else compile_sql(statement.with_only_columns(
            written, *(columns[order.label] for order in compiled.order), maintain_column_froms=True))
    sql = compiled.sql_cache[key]
    if sql is None:
        return None
    rows = await snap.rows(sql, _page_values(compiled, context, size=size, cookie=cookie, skip=skip,
                                             restrict=restrict))
    more = len(rows) > size
    del rows[size:]
    if not rows:
        return JsonPage([], more, None, None)
    labels = [order.label for order in compiled.order]
    return JsonPage([row[0] for row in rows], more, dict(zip(labels, rows[0][1:])), dict(zip(labels, rows[-1][1:])))


async def _fetch_collections(snap: Snapshot, shape: Shape, rows: list, context: Context, into: Children,
                             size: int, prefix: tuple = ()) -> None:
    for navigation, plan in shape.collections:
        keys = list({row[shape.key_label] for row in rows if row[shape.key_label] is not None})
        if not keys:
            continue
        sql = _sql(plan, ("children",), partial(_statement_of, plan))
        values = {"parent_keys": json.dumps(keys), **parameters(plan.params, context)}
        if plan.paged:
            values["child_page"] = size + 1
        children = await snap.mappings(sql, values)
        for child in children:
            into.setdefault((prefix + (navigation,), child[plan.parent_label]), []).append(child)
        if plan.paged:
            for key in keys:
                found = into.get((prefix + (navigation,), key))
                if found is not None and len(found) > size:
                    del found[size:]
                    into.more.add((prefix + (navigation,), key))
    for navigation, child_shape, is_ref in shape.single:
        if not is_ref:
            await _fetch_collections(snap, child_shape, rows, context, into, size, prefix + (navigation,))


async def count_rows(snap: Snapshot, compiled: CompiledQuery, context: Context, cap: int = COUNT_LIMIT, *,
                     restrict: Restriction | None = None) -> tuple[int, bool]:
    """The number of matching rows, capped as Dataverse caps it, and whether the cap was hit."""
    def build():
        filtered = compiled.filtered if isinstance(compiled, CompiledRows) else None
        source = filtered if filtered is not None else compiled.statement
        limited = _restricted(source, restrict).limit(bindparam("count_cap")).subquery()
        return select(func.count()).select_from(limited)

    sql = _sql(compiled, ("count", restrict.key if restrict else None), build)
    values = _values(compiled.params, context, restrict)
    values["count_cap"] = cap + 1
    total = (await snap.rows(sql, values))[0][0]
    return min(total, cap), total > cap


async def fetch_aggregate(snap: Snapshot, compiled: CompiledAggregate, context: Context, *, limit: int,
                          top: int | None = None) -> list:
    values = parameters(compiled.params, context)
    if limit > 0:
        probe = _sql(compiled, ("probe",), lambda: compiled.input_count)
        if (await snap.rows(probe, {**values, "probe_limit": limit + 1}))[0][0] > limit:
            raise AggregateLimitExceeded()
    if top is None:
        return await snap.mappings(_sql(compiled, ("aggregate",), lambda: compiled.statement), values)
    sql = _sql(compiled, ("aggregate", "top"), lambda: compiled.statement.limit(bindparam("aggregate_top")))
    return await snap.mappings(sql, {**values, "aggregate_top": top})


async def count_groups(snap: Snapshot, compiled: CompiledAggregate, context: Context) -> int:
    sql = _sql(compiled, ("groups",), lambda: select(func.count()).select_from(
        compiled.statement.order_by(None).subquery()))
    return (await snap.rows(sql, parameters(compiled.params, context)))[0][0]
