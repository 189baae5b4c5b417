"""Entity set reads: `GET <set>` with OData query options (select/expand/filter/orderby/top/count,
`$apply`, paging by `$skiptoken`), with `?fetchXml=`, and `GET <set>/$count`. A collection-valued
navigation (`api/single.py`) is read here too, restricted to the row's children."""

from __future__ import annotations

import re
import time

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..errors import FetchXmlError, QueryError, UnsupportedQuery
from ..model import Entity
from ..query.compiled import CompiledAggregate, CompiledQuery, CompiledRows
from ..query.execute import Restriction, count_groups, count_rows, fetch_aggregate, fetch_json_page, fetch_page
from ..query.options import QueryOptions, parse_count, parse_query_string
from ..query.paging import PageCookie, decode_cookie, decode_inner_cookie, encode_cookie, skiptoken_query_value
from . import changes, sql_json
from . import serialize as s
from .prefer import DEFAULT_PAGE_SIZE, Preferences, parse_prefer
from .responses import json_response, text_response
from .routing import Call

# An aggregate that ran in less than this, its last time, runs on the event loop's thread next time
# (one statement, no hop to a reader thread and back); a longer one stays on a reader thread, where
# it does not hold the loop. ($apply filter((statecode eq 0 and statuscode eq 0))/groupby(...) at 100k:
# about 0.4 ms of SQL; the unfiltered groupby: 10 ms and more.)
INLINE_AGGREGATE_SECONDS = 0.002

_SKIPTOKEN = re.compile(r"(^|&)(\$|%24)skiptoken=[^&]*", re.I)
_OTHER_LANGUAGES = ("sql", "savedQuery", "userQuery")


async def read(call: Call) -> Response:
    """`GET <set>`: OData query options, or FetchXML when `fetchXml=` is given."""
    options = parse_query_string(call.request.url.query)
    prefs = parse_prefer(call.request.headers.getlist("prefer"))
    if options.extra_value("fetchXml") is not None:
        return await fetch_query(call, call.entity, options, prefs)
    refuse_other_languages(options)
    if changes.wanted(options, prefs):
        return await changes.read(call, call.entity, options, prefs)
    return await query(call, call.entity, options, prefs)


async def count(call: Call) -> Response:
    """`GET <set>/$count`: the number of rows `$filter` keeps, as text."""
    options = parse_query_string(call.request.url.query)
    if options.deltatoken is not None:
        return await changes.count(call, call.entity, options)
    if any(v is not None for v in (options.select, options.expand, options.orderby, options.top,
                                    options.apply, options.skiptoken, options.count)):
        raise QueryError("Only $filter can be combined with /$count.")
    emulator = call.emulator
    compiled = emulator.planner.plan(call.entity, options, annotations=False)
    async with emulator.store.snapshot() as snap:
        total, _ = await count_rows(snap, compiled, emulator.context(call.caller))
    return text_response(str(total))


def refuse_other_languages(options: QueryOptions) -> None:
    """Query languages the emulator does not take, and FetchXML where only an entity set takes it."""
    if options.extra_value("fetchXml") is not None:
        raise UnsupportedQuery("FetchXML queries (fetchXml=) are only supported on an entity set.")
    for name in _OTHER_LANGUAGES:
        if options.extra_value(name) is not None:
            raise UnsupportedQuery(f"The '{name}' query parameter is not supported by the emulator.")


async def query(call: Call, entity: Entity, options: QueryOptions, prefs: Preferences, *,
                restrict: Restriction | None = None) -> Response:
    """Rows of `entity` by OData query options, a page at a time (or aggregated by `$apply`)."""
    body, applied = await query_body(call, entity, options, prefs, restrict=restrict, json_rows=True)
    return json_response(body, prefs=applied)


async def query_body(call: Call, entity: Entity, options: QueryOptions, prefs: Preferences, *,
                     restrict: Restriction | None = None, json_rows: bool = False) -> tuple[dict, Preferences]:
    """`query`'s body, and the preferences it applied (an aggregate or a single page applies no page size).
    `json_rows`: where it can, `value` is the page's rows written as JSON by SQLite (`api/sql_json.py`),
    an `orjson.Fragment` for the response to embed; otherwise, and without it, a list of dicts."""
    emulator = call.emulator
    root = call.root
    compiled = emulator.planner.plan(entity, options, annotations=prefs.annotations.lookup_names)
    context = emulator.context(call.caller)
    bound = compiled.query
    assert bound is not None, "OData query options are always bound"
    if bound.apply is not None:
        if options.skiptoken is not None:
            raise QueryError("$skiptoken cannot be combined with $apply.")
        return await _aggregated_body(call, entity, compiled, context, prefs, limit=emulator.settings.aggregate_limit,
                                      top=bound.top, count=bound.count), prefs.without_page_size()

    assert isinstance(compiled, CompiledRows), "without $apply the query selects rows"
    # Page size: Prefer wins over $top (Dataverse ignores $top when both are sent).
    if prefs.max_page_size is not None:
        size, top_left = prefs.max_page_size, None
    else:
        size, top_left = DEFAULT_PAGE_SIZE, bound.top
    cookie = decode_cookie(options.skiptoken, compiled.order) if options.skiptoken is not None else None
    page_number = cookie.page_number if cookie is not None else 1
    if top_left is not None:
        top_left -= (page_number - 1) * DEFAULT_PAGE_SIZE
        size = max(0, min(size, top_left))
    consistent = bool(bound.count or compiled.shape.collections)
    async with emulator.store.snapshot(consistent=consistent, inline=not consistent) as snap:
        written = None
        if json_rows and sql_json.ENABLED and not prefs.annotations.any:
            written = await fetch_json_page(snap, compiled, context, sql_json.row_json, size=size, cookie=cookie,
                                            skip=bound.skip, restrict=restrict)
        page = None if written is not None else await fetch_page(snap, compiled, context, size=size, cookie=cookie,
                                                                 skip=bound.skip, restrict=restrict)
        counted = await count_rows(snap, compiled, context, restrict=restrict) if bound.count else None
    body: dict = {"@odata.context": s.collection_context(root, entity, bound.projection if _has_projection(bound) else None)}
    _add_counts(body, prefs.annotations, counted, with_count=bound.count)
    if written is not None:
        body["value"] = orjson.Fragment("[" + ",".join(written.rows) + "]")
        more, first, last = written.more, written.first, written.last
    else:
        assert page is not None
        shape = compiled.shape
        set_names = call.service.set_names
        body["value"] = [
            s.entity_json(shape, row, prefs.annotations, service_root=root, children=page.children, set_names=set_names)
            for row in page.rows
        ]
        more, first, last = page.more, page.rows[0] if page.rows else None, page.rows[-1] if page.rows else None
    if top_left is not None and top_left <= size:
        more = False
    if more and first is not None:
        token = encode_cookie(compiled.order, first, last, page_number + 1)
        body["@odata.nextLink"] = _next_link(call.request, token)
    return body, prefs if prefs.max_page_size is not None else prefs.without_page_size()


async def fetch_query(call: Call, entity: Entity, options: QueryOptions, prefs: Preferences) -> Response:
    """`?fetchXml=`: FetchXML's rules for the rows (nulls left out, aliases, `link.column` names)
    and for paging (page numbers and the paging cookie annotations, no nextLink)."""
    _refuse_beside_fetchxml(options)
    count = parse_count(options.count) if options.count is not None else False
    emulator = call.emulator
    annotations = prefs.annotations
    text = options.extra_value("fetchXml")
    assert text is not None, "the caller routes here only a query with fetchXml"
    bound, compiled = emulator.planner.plan_fetch(entity, text, count=count, annotations=annotations.lookup_names)
    root = call.root
    context = emulator.context(call.caller)
    if bound.apply is not None:
        limit = emulator.settings.aggregate_limit
        if bound.aggregate_limit is not None:
            limit = min(limit, bound.aggregate_limit) if limit > 0 else bound.aggregate_limit
        aggregated = await _aggregated_body(call, entity, compiled, context, prefs, limit=limit, top=bound.top,
                                            count=count)
        return json_response(aggregated, prefs=prefs.without_page_size())

    assert isinstance(compiled, CompiledRows), "a FetchXML query without aggregates selects rows"
    size = bound.top if bound.top is not None else bound.page_size
    assert size is not None, "the FetchXML binder gives every query a page size"
    keyset = not (bound.distinct or bound.multiplies)
    cookie = _fetch_cookie(bound, compiled) if bound.paging_cookie and keyset and bound.page > 1 else None
    skip = (bound.page - 1) * size if cookie is None else None
    counting = count or bound.total_record_count
    async with emulator.store.snapshot(consistent=bool(counting), inline=not counting) as snap:
        page = await fetch_page(snap, compiled, context, size=size, cookie=cookie, skip=skip)
        counted = await count_rows(snap, compiled, context) if counting else None
    if bound.top is not None:
        page.more = False
    items = ",".join(bound.context_items)
    body: dict = {"@odata.context": f"{root}$metadata#{entity.entity_set}" + (f"({items})" if items else "")}
    # fetchxml/count-rows.md: returntotalrecordcount='true' "has the same result as ... $count".
    _add_counts(body, annotations, counted, with_count=counting)
    if page.more and page.rows:
        if keyset and annotations.wants(s.PAGING_COOKIE):
            body[f"@{s.PAGING_COOKIE}"] = encode_cookie(compiled.order, page.rows[0], page.rows[-1],
                                                         bound.page + 1, twice=True)
        if annotations.wants(s.MORE_RECORDS):
            body[f"@{s.MORE_RECORDS}"] = True
    body["value"] = [
        s.entity_json(compiled.shape, row, annotations, service_root=root, set_names=call.service.set_names,
                      omit_nulls=True)
        for row in page.rows
    ]
    return json_response(body, prefs=prefs.without_page_size())


def _refuse_beside_fetchxml(options: QueryOptions) -> None:
    for name in ("select", "filter", "orderby", "top", "expand", "apply", "skiptoken", "deltatoken"):
        if getattr(options, name) is not None:
            raise QueryError(f"The query option '${name}' cannot be combined with fetchXml.")
    for key, _ in options.refused:
        raise QueryError(f"The query option '{key}' cannot be combined with fetchXml.")
    for name in _OTHER_LANGUAGES:
        if options.extra_value(name) is not None:
            raise QueryError(f"The '{name}' query parameter cannot be combined with fetchXml.")


def _fetch_cookie(bound, compiled: CompiledQuery) -> PageCookie:
    """The position a FetchXML `paging-cookie` names (the previous page's cookie, unchanged)."""
    try:
        return PageCookie(bound.page, decode_inner_cookie(bound.paging_cookie, compiled.order))
    except Exception:
        raise FetchXmlError("The paging-cookie of the FetchXML query was not issued for this query: use the "
                            "cookie of the previous page without changing it.", code="0x80040203") from None


async def _aggregated_body(call: Call, entity: Entity, compiled: CompiledQuery, context, prefs: Preferences, *,
                           limit: int, top: int | None, count: bool) -> dict:
    """An aggregated result ($apply or FetchXML aggregate): one row per group, no paging."""
    assert isinstance(compiled, CompiledAggregate), "an aggregated query compiles to an aggregate"
    consistent = count or limit > 0
    quick = compiled.timing.get("seconds", INLINE_AGGREGATE_SECONDS) < INLINE_AGGREGATE_SECONDS
    async with call.emulator.store.snapshot(consistent=consistent, inline=quick and not consistent) as snap:
        started = time.perf_counter()
        rows = await fetch_aggregate(snap, compiled, context, limit=limit, top=top)
        compiled.timing["seconds"] = time.perf_counter() - started
        total = await count_groups(snap, compiled, context) if count else None
    body: dict = {"@odata.context": f"{call.root}$metadata#{entity.entity_set}"}
    if total is not None:
        body["@odata.count"] = total
    write = s.aggregate_writer(compiled, prefs.annotations)
    body["value"] = [write(row) for row in rows]
    return body


def _add_counts(body: dict, annotations, counted: tuple[int, bool] | None, *, with_count: bool) -> None:
    """`@odata.count` ($count=true) and the total record count annotations (when asked for)."""
    if counted is not None and with_count:
        body["@odata.count"] = counted[0]
    if annotations.wants(s.TOTAL_COUNT):
        body[f"@{s.TOTAL_COUNT}"] = counted[0] if counted is not None else -1
    if annotations.wants(s.TOTAL_COUNT_EXCEEDED):
        body[f"@{s.TOTAL_COUNT_EXCEEDED}"] = counted[1] if counted is not None else False


def _has_projection(bound) -> bool:
    return bool(bound.projection.explicit or bound.projection.expansions or bound.projection.context_items)


def _next_link(request: Request, cookie: str) -> str:
    query = _SKIPTOKEN.sub("", request.url.query).lstrip("&")
    token = f"$skiptoken={skiptoken_query_value(cookie)}"
    query = f"{query}&{token}" if query else token
    return f"{str(request.base_url).rstrip('/')}{request.url.path}?{query}"
