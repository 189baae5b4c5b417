"""The Web API read path: `/api/data/v9.2/...`.

Service document, `$metadata`, entity set queries (select/expand/filter/orderby/top/count/apply
and paging), single rows, properties and `$value`, `/$count`, navigation, and `WhoAmI`.
"""

from __future__ import annotations

import re

import orjson
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from ..emulator import Emulator
from ..errors import (
    BadRequest,
    FetchXmlError,
    MethodNotAllowed,
    NotSupported,
    QueryError,
    RecordNotFound,
    ResourceNotFound,
    UnsupportedQuery,
)
from ..model import Entity, ManyToOne, OneToMany
from ..model.csdl import render_csdl
from ..query.compiler import CompiledQuery
from ..query.execute import Restriction, count_groups, count_rows, fetch_aggregate, fetch_page
from ..query.options import QueryOptions, parse_query_string
from ..query.binder import parse_count
from ..query.paging import PageCookie, decode_cookie, decode_inner_cookie, encode_cookie, skiptoken_query_value
from ..store.schema import METADATA
from . import actions, serialize as s, writes
from .auth import resolve_caller
from .batch import run_batch
from .errors import JSON_TYPE
from .prefer import DEFAULT_PAGE_SIZE, Preferences, parse_prefer
from .resource import EntityKey, Segment, entity_for_set, parse_key, split_path

API_PREFIX = "/api/data/v9.2/"
_SKIPTOKEN = re.compile(r"(^|&)(\$|%24)skiptoken=[^&]*", re.I)


def service_root(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}{API_PREFIX}"


def json_response(body, *, status: int = 200, prefs: Preferences | None = None, extra: dict | None = None) -> Response:
    headers = {"OData-Version": "4.0"}
    if prefs is not None:
        applied = prefs.applied()
        if applied:
            headers["Preference-Applied"] = ",".join(applied)
    if extra:
        headers.update(extra)
    return Response(orjson.dumps(body), status_code=status, media_type=JSON_TYPE, headers=headers)


def text_response(text: str) -> Response:
    return Response(text, media_type="text/plain", headers={"OData-Version": "4.0"})


class WebApi:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.model = emulator.model
        self._csdl: bytes | None = None
        self._set_names = {e.logical_name: e.entity_set for e in self.model.entities}

    # ------------------------------------------------------------------------------ dispatch

    async def __call__(self, request: Request) -> Response:
        request.state.caller = await resolve_caller(request, self.emulator)
        path = request.url.path[len(API_PREFIX):] if request.url.path.startswith(API_PREFIX) else ""
        segments = split_path(path)
        method = request.method
        if not segments:
            self._only(method, "GET")
            return self.service_document(request)
        first = segments[0]
        if first.name == "$metadata" and len(segments) == 1 and first.key is None:
            self._only(method, "GET")
            return self.metadata()
        if first.name == "$batch" and len(segments) == 1 and first.key is None:
            self._only(method, "POST")
            prefs = parse_prefer(request.headers.getlist("prefer"))
            return await run_batch(request, self.emulator, prefs.continue_on_error)
        if first.name == "WhoAmI" and len(segments) == 1 and first.key in (None, ""):
            if method != "GET":
                raise ResourceNotFound(
                    f"No HTTP resource was found that matches the request URI '{service_root(request)}WhoAmI'.",
                    code="",
                )
            return self.who_am_i(request)
        if first.name == "BulkDelete" and len(segments) == 1 and first.key is None:
            caller = request_caller(request) or self.emulator.caller
            return json_response(await actions.bulk_delete(request, self.emulator, service_root(request), caller))
        entity = entity_for_set(self.model, first.name)
        if first.key is None:
            return await self.collection(request, entity, segments[1:])
        key = parse_key(entity, first.key)
        return await self.single(request, entity, key, segments[1:])

    @staticmethod
    def _only(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise MethodNotAllowed(f"The requested resource does not support http method '{method}'.")

    # ------------------------------------------------------------------------------ documents

    def service_document(self, request: Request) -> Response:
        root = service_root(request)
        value = [{"name": e.entity_set, "kind": "EntitySet", "url": e.entity_set} for e in self.model.entities]
        return json_response({"@odata.context": f"{root}$metadata", "value": value})

    def metadata(self) -> Response:
        if self._csdl is None:
            self._csdl = render_csdl(self.model)
        return Response(self._csdl, media_type="application/xml", headers={"OData-Version": "4.0"})

    def who_am_i(self, request: Request) -> Response:
        caller = request_caller(request) or self.emulator.caller
        return json_response({
            "@odata.context": f"{service_root(request)}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": caller.business_unit_id,
            "UserId": caller.user_id,
            "OrganizationId": caller.organization_id,
        })

    # ------------------------------------------------------------------------------ collections

    async def collection(self, request: Request, entity: Entity, rest: list[Segment]) -> Response:
        if rest:
            if len(rest) == 1 and rest[0].name == "$count" and rest[0].key is None:
                self._only(request.method, "GET")
                return await self.count(request, entity)
            raise ResourceNotFound(f"Resource not found for the segment '{rest[0].name}'.")
        if request.method == "POST" and entity.logical_name == "asyncoperation":
            raise NotSupported("Creating system jobs with code is not supported. System jobs are created by the platform.")
        self._only(request.method, "GET")
        options = parse_query_string(request.url.query)
        prefs = parse_prefer(request.headers.getlist("prefer"))
        if options.extra_value("fetchXml") is not None:
            return await self.fetch_query(request, entity, options, prefs)
        self._refuse_other_languages(options)
        return await self.query(request, entity, options, prefs)

    @staticmethod
    def _refuse_other_languages(options: QueryOptions) -> None:
        if options.extra_value("fetchXml") is not None:
            raise UnsupportedQuery("FetchXML queries (fetchXml=) are only supported on an entity set.")
        for name in ("sql", "savedQuery", "userQuery"):
            if options.extra_value(name) is not None:
                raise UnsupportedQuery(f"The '{name}' query parameter is not supported by the emulator.")

    async def query(self, request: Request, entity: Entity, options: QueryOptions, prefs: Preferences,
                    *, restrict: Restriction | None = None, context_set: str | None = None) -> Response:
        emulator = self.emulator
        root = service_root(request)
        compiled = emulator.planner.plan(entity, options, annotations=prefs.annotations.lookup_names)
        context = emulator.context(request_caller(request))
        bound = compiled.query
        if bound.apply is not None:
            if options.skiptoken is not None:
                raise QueryError("$skiptoken cannot be combined with $apply.")
            return await self._aggregated(root, entity, compiled, context, prefs, limit=emulator.settings.aggregate_limit,
                                          top=bound.top, count=bound.count)

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
        async with emulator.store.snapshot(consistent=consistent) as snap:
            page = await fetch_page(snap, compiled, context, size=size, cookie=cookie, skip=bound.skip, restrict=restrict)
            counted = await count_rows(snap, compiled, context, restrict=restrict) if bound.count else None
        if top_left is not None and top_left <= size:
            page.more = False
        body = {"@odata.context": s.collection_context(root, entity, bound.projection if _has_projection(bound) else None)
                if context_set is None else context_set}
        _add_counts(body, prefs.annotations, counted, with_count=bound.count)
        shape = compiled.shape
        body["value"] = [
            s.entity_json(shape, row, prefs.annotations, service_root=root, children=page.children,
                          set_names=self._set_names)
            for row in page.rows
        ]
        if page.more and page.rows:
            token = encode_cookie(compiled.order, page.rows[0], page.rows[-1], page_number + 1)
            body["@odata.nextLink"] = _next_link(request, token)
        return json_response(body, prefs=_applied(prefs, page_size=prefs.max_page_size is not None))

    async def fetch_query(self, request: Request, entity: Entity, options: QueryOptions,
                          prefs: Preferences) -> Response:
        """`?fetchXml=`: FetchXML's rules for the rows (nulls left out, aliases, `link.column` names)
        and for paging (page numbers and the paging cookie annotations, no nextLink)."""
        for name in ("select", "filter", "orderby", "top", "expand", "apply", "skiptoken"):
            if getattr(options, name) is not None:
                raise QueryError(f"The query option '${name}' cannot be combined with fetchXml.")
        for key, _ in options.refused:
            raise QueryError(f"The query option '{key}' cannot be combined with fetchXml.")
        for name in ("sql", "savedQuery", "userQuery"):
            if options.extra_value(name) is not None:
                raise QueryError(f"The '{name}' query parameter cannot be combined with fetchXml.")
        count = parse_count(options.count) if options.count is not None else False
        emulator = self.emulator
        annotations = prefs.annotations
        bound, compiled = emulator.planner.plan_fetch(entity, options.extra_value("fetchXml"), count=count,
                                                      annotations=annotations.lookup_names)
        root = service_root(request)
        context = emulator.context(request_caller(request))
        if bound.apply is not None:
            limit = emulator.settings.aggregate_limit
            if bound.aggregate_limit is not None:
                limit = min(limit, bound.aggregate_limit) if limit > 0 else bound.aggregate_limit
            return await self._aggregated(root, entity, compiled, context, prefs, limit=limit, top=bound.top,
                                          count=count)

        size = bound.top if bound.top is not None else bound.page_size
        keyset = not (bound.distinct or bound.multiplies)
        cookie = None
        if bound.paging_cookie and keyset and bound.page > 1:
            try:
                cookie = PageCookie(bound.page, decode_inner_cookie(bound.paging_cookie, compiled.order))
            except Exception:
                raise FetchXmlError("The paging-cookie of the FetchXML query was not issued for this query: use the "
                                    "cookie of the previous page without changing it.", code="0x80040203") from None
        skip = (bound.page - 1) * size if cookie is None else None
        counting = count or bound.total_record_count
        async with emulator.store.snapshot(consistent=bool(counting)) as snap:
            page = await fetch_page(snap, compiled, context, size=size, cookie=cookie, skip=skip)
            counted = await count_rows(snap, compiled, context) if counting else None
        if bound.top is not None:
            page.more = False
        items = ",".join(bound.context_items)
        body = {"@odata.context": f"{root}$metadata#{entity.entity_set}" + (f"({items})" if items else "")}
        _add_counts(body, annotations, counted, with_count=count)
        if page.more and page.rows:
            if keyset and annotations.wants(s.PAGING_COOKIE):
                body[f"@{s.PAGING_COOKIE}"] = encode_cookie(compiled.order, page.rows[0], page.rows[-1],
                                                             bound.page + 1, twice=True)
            if annotations.wants(s.MORE_RECORDS):
                body[f"@{s.MORE_RECORDS}"] = True
        body["value"] = [
            s.entity_json(compiled.shape, row, annotations, service_root=root, set_names=self._set_names,
                          omit_nulls=True)
            for row in page.rows
        ]
        return json_response(body, prefs=_applied(prefs, page_size=False))

    async def _aggregated(self, root: str, entity: Entity, compiled: CompiledQuery, context, prefs: Preferences, *,
                          limit: int, top: int | None, count: bool) -> Response:
        """An aggregated result ($apply or FetchXML aggregate): one row per group, no paging."""
        async with self.emulator.store.snapshot(consistent=count or limit > 0) as snap:
            rows = await fetch_aggregate(snap, compiled, context, limit=limit, top=top)
            total = await count_groups(snap, compiled, context) if count else None
        body: dict = {"@odata.context": f"{root}$metadata#{entity.entity_set}"}
        if total is not None:
            body["@odata.count"] = total
        body["value"] = [s.aggregate_json(compiled.aggregate_outputs, row, prefs.annotations) for row in rows]
        return json_response(body, prefs=_applied(prefs, page_size=False))

    async def count(self, request: Request, entity: Entity) -> Response:
        options = parse_query_string(request.url.query)
        if any(v is not None for v in (options.select, options.expand, options.orderby, options.top,
                                        options.apply, options.skiptoken, options.count)):
            raise QueryError("Only $filter can be combined with /$count.")
        compiled = self.emulator.planner.plan(entity, options, annotations=False)
        async with self.emulator.store.snapshot() as snap:
            total, _ = await count_rows(snap, compiled, self.emulator.context(request_caller(request)))
        return text_response(str(total))


    # ------------------------------------------------------------------------------ single rows

    async def single(self, request: Request, entity: Entity, key: EntityKey, rest: list[Segment]) -> Response:
        method = request.method
        if method in ("PATCH", "DELETE") and entity.logical_name == "asyncoperation" and not rest \
                and key.primary is not None:
            return await self.write(request, entity, key.primary)
        if method != "GET":
            raise MethodNotAllowed(f"The requested resource does not support http method '{method}'.")
        options = parse_query_string(request.url.query)
        prefs = parse_prefer(request.headers.getlist("prefer"))
        key_value = await self._resolve_key(entity, key)
        if rest:
            return await self.below_single(request, entity, key_value, rest, options, prefs)
        _single_entity_options(options)
        compiled, body = await self._entity_body(request, entity, key_value, options, prefs)
        etag = body.get("@odata.etag")
        conditional = request.headers.get("if-none-match")
        if (etag and conditional and conditional == etag and not compiled.query.projection.expansions
                and not prefs.annotations.any):
            return Response(status_code=304, headers={"OData-Version": "4.0", "ETag": etag})
        extra = {"ETag": etag} if etag else None
        return json_response(body, prefs=_applied(prefs, page_size=False), extra=extra)

    async def write(self, request: Request, entity: Entity, job_id: str) -> Response:
        if request.method == "DELETE":
            return await writes.delete_job(request, self.emulator, job_id)
        await writes.patch_job(request, self.emulator, job_id)
        prefs = parse_prefer(request.headers.getlist("prefer"))
        entity_id = f"{service_root(request)}{entity.entity_set}({job_id})"
        if not prefs.return_representation:
            return Response(status_code=204, headers={"OData-Version": "4.0", "OData-EntityId": entity_id})
        # $select is honoured in the representation, $expand is not (as Dataverse does).
        options = QueryOptions(select=parse_query_string(request.url.query).select)
        _, body = await self._entity_body(request, entity, job_id, options, prefs)
        applied = Preferences(prefs.annotations, prefs.annotations_text, None, True)
        return json_response(body, prefs=applied, extra={"OData-EntityId": entity_id})

    async def _resolve_key(self, entity: Entity, key: EntityKey) -> str:
        if key.primary is not None:
            return key.primary
        table = METADATA.tables[entity.logical_name]
        names = dict(key.alternate)
        if not entity.is_metadata or set(names) != {"LogicalName"}:
            raise BadRequest(f"The alternate key '{','.join(names)}' is not defined for '{entity.logical_name}'.",
                             code="0x80060888")
        async with self.emulator.store.read() as conn:
            found = (await conn.execute(
                select(table.c[entity.primary_id]).where(table.c.LogicalName == names["LogicalName"])
            )).scalar_one_or_none()
        if found is None:
            raise RecordNotFound(f"Could not find an entity with the name '{names['LogicalName']}'.",
                                 code="0x80040217")
        return found

    async def _column_of(self, entity: Entity, key_value: str, column: str):
        """(value,) of one column of one row, or None when the row does not exist."""
        table = METADATA.tables[entity.logical_name]
        async with self.emulator.store.read() as conn:
            return (await conn.execute(
                select(table.c[column]).where(table.c[entity.primary_id] == key_value)
            )).first()

    async def _entity_body(self, request: Request, entity: Entity, key_value: str, options: QueryOptions,
                           prefs: Preferences) -> tuple[CompiledQuery, dict]:
        """One row as Dataverse writes a single entity: context, etag, properties, expansions."""
        compiled = self.emulator.planner.plan(entity, options, annotations=prefs.annotations.lookup_names)
        row, children = await self._fetch_one(compiled, entity, key_value, request_caller(request))
        if row is None:
            raise RecordNotFound.for_id(entity.logical_name, key_value)
        root = service_root(request)
        body = {"@odata.context": s.entity_context(root, entity, compiled.query.projection)}
        body.update(s.entity_json(compiled.shape, row, prefs.annotations, service_root=root, children=children,
                                  set_names=self._set_names))
        return compiled, body

    async def _fetch_one(self, compiled: CompiledQuery, entity: Entity, key_value: str, caller):
        table = METADATA.tables[entity.logical_name]
        restrict = Restriction(table.c[entity.primary_id], key_value)
        async with self.emulator.store.snapshot(consistent=bool(compiled.shape.collections)) as snap:
            page = await fetch_page(snap, compiled, self.emulator.context(caller), size=1, restrict=restrict)
        return (page.rows[0] if page.rows else None), page.children

    async def below_single(self, request: Request, entity: Entity, key_value: str, rest: list[Segment],
                           options: QueryOptions, prefs: Preferences) -> Response:
        head = rest[0]
        root = service_root(request)
        if head.key is not None:
            raise ResourceNotFound(f"Resource not found for the segment '{head.name}({head.key})'.")
        attribute = entity.properties.get(head.name)
        if attribute is not None:
            raw = len(rest) == 2 and rest[1].name == "$value"
            if len(rest) > 2 or (len(rest) == 2 and not raw):
                raise ResourceNotFound(f"Resource not found for the segment '{rest[-1].name}'.")
            result = await self._column_of(entity, key_value, attribute.name)
            if result is None:
                raise RecordNotFound.for_id(entity.logical_name, key_value)
            value = s.json_value(attribute, result[0])
            if raw:
                if value is None:
                    return Response(status_code=204, headers={"OData-Version": "4.0"})
                text = ("true" if value else "false") if isinstance(value, bool) else str(value)
                return text_response(text)
            if value is None:
                return Response(status_code=204, headers={"OData-Version": "4.0"})
            return json_response({"@odata.context": f"{root}$metadata#{entity.entity_set}({key_value})/{head.name}",
                                  "value": value})
        navigation = entity.navigations.get(head.name)
        if navigation is None:
            raise ResourceNotFound(f"Resource not found for the segment '{head.name}'.")
        if len(rest) > 1:
            raise ResourceNotFound(f"Resource not found for the segment '{rest[1].name}'.")
        target = self.model.entity(navigation.target)
        target_table = METADATA.tables[target.logical_name]
        if isinstance(navigation, ManyToOne):
            found = await self._column_of(entity, key_value, navigation.attribute)
            if found is None:
                raise RecordNotFound.for_id(entity.logical_name, key_value)
            if found[0] is None:
                return Response(status_code=204, headers={"OData-Version": "4.0"})
            return await self.single(request, target, EntityKey(primary=found[0]), [])
        assert isinstance(navigation, OneToMany)
        if await self._column_of(entity, key_value, entity.primary_id) is None:
            raise RecordNotFound.for_id(entity.logical_name, key_value)
        self._refuse_other_languages(options)
        return await self.query(request, target, options, prefs,
                                restrict=Restriction(target_table.c[navigation.attribute], key_value))


# ---------------------------------------------------------------------------------- helpers


def _add_counts(body: dict, annotations, counted: tuple[int, bool] | None, *, with_count: bool) -> None:
    """`@odata.count` ($count=true) and the total record count annotations (when asked for)."""
    if counted is not None and with_count:
        body["@odata.count"] = counted[0]
    if annotations.wants(s.TOTAL_COUNT):
        body[f"@{s.TOTAL_COUNT}"] = counted[0] if counted is not None else -1
    if annotations.wants(s.TOTAL_COUNT_EXCEEDED):
        body[f"@{s.TOTAL_COUNT_EXCEEDED}"] = counted[1] if counted is not None else False


def request_caller(request: Request):
    """The caller `resolve_caller` found for this request (None outside the Web API)."""
    return getattr(request.state, "caller", None)


def _has_projection(bound) -> bool:
    return bool(bound.projection.explicit or bound.projection.expansions or bound.projection.context_items)


def _applied(prefs: Preferences, *, page_size: bool) -> Preferences:
    if page_size:
        return prefs
    return Preferences(prefs.annotations, prefs.annotations_text, None, prefs.return_representation)


def _single_entity_options(options: QueryOptions) -> None:
    for name in ("filter", "orderby", "top", "apply", "count", "skiptoken"):
        if getattr(options, name) is not None:
            raise QueryError(f"The query option '${name}' is not allowed on a single entity.")


def _next_link(request: Request, cookie: str) -> str:
    query = _SKIPTOKEN.sub("", request.url.query).lstrip("&")
    token = f"$skiptoken={skiptoken_query_value(cookie)}"
    query = f"{query}&{token}" if query else token
    return f"{str(request.base_url).rstrip('/')}{request.url.path}?{query}"

