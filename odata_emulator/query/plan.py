"""Query options (or a FetchXML document) -> compiled plan, cached: a repeated query string is
parsed, bound and compiled once."""

from __future__ import annotations

import functools
from collections import OrderedDict
from threading import Lock
from typing import TypeAlias

from ..model import Entity, EntityModel
from . import bound as b
from .binder import Binder
from .compiled import CompiledQuery
from .compiler import Compiler
from .fetchxml.bind import FetchBinder
from .fetchxml.parse import parse_fetchxml
from .options import QueryOptions, check_refused

# What the cache holds: a compiled query for query options, the bound and compiled query for FetchXML
# (their keys differ in length, so the two never meet under one key).
_Plan: TypeAlias = CompiledQuery | tuple[b.BoundFetch, CompiledQuery]


class PlanCache:
    """The last `size` plans (least recently used first out), safe to share between threads."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._plans: OrderedDict[tuple[object, ...], _Plan] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple[object, ...]) -> _Plan | None:
        with self._lock:
            cached = self._plans.get(key)
            if cached is not None:
                self._plans.move_to_end(key)
            return cached

    def put(self, key: tuple[object, ...], value: _Plan) -> None:
        with self._lock:
            self._plans[key] = value
            if len(self._plans) > self._size:
                self._plans.popitem(last=False)

    def __len__(self) -> int:
        return len(self._plans)


@functools.cache
def shared_cache(model: EntityModel, strict: bool) -> PlanCache:
    """The plan cache of every emulator of this process on `model` with this strictness: a plan
    depends on nothing else, so an emulator started again (the tests start hundreds) plans a query
    string once."""
    return PlanCache()


class Planner:
    """Plans queries for one model, keeping the last `size` plans in a cache of its own, or in
    `cache` (`shared_cache`)."""

    def __init__(self, model: EntityModel, *, strict: bool = True, size: int = 1024,
                 cache: PlanCache | None = None) -> None:
        self.model = model
        self.strict = strict
        self._cache = cache if cache is not None else PlanCache(size)

    def plan(self, entity: Entity, options: QueryOptions, *, annotations: bool) -> CompiledQuery:
        check_refused(options, strict=self.strict)
        key = (entity.logical_name, options.cache_key(), annotations)
        cached = self._cache.get(key)
        if cached is not None and not isinstance(cached, tuple):
            return cached
        bound = Binder(self.model, entity, self.strict).bind_query(options)
        compiled = Compiler(self.model, entity, annotations).compile(bound)
        self._cache.put(key, compiled)
        return compiled

    def plan_fetch(self, entity: Entity, text: str, *, count: bool, annotations: bool) -> tuple[b.BoundFetch, CompiledQuery]:
        key = ("fetch", entity.logical_name, text, count, annotations)
        cached = self._cache.get(key)
        if isinstance(cached, tuple):
            return cached
        bound = FetchBinder(self.model, entity, self.strict).bind_fetch(parse_fetchxml(text), count=count)
        planned = (bound, Compiler(self.model, entity, annotations).compile_fetch(bound))
        self._cache.put(key, planned)
        return planned

    def cache_info(self) -> int:
        return len(self._cache)
