"""Query options -> compiled plan, cached: a repeated query string is parsed, bound and compiled once."""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from ..model import Entity, EntityModel
from .binder import Binder
from .compiler import CompiledQuery, Compiler
from .options import QueryOptions, check_refused


class Planner:
    def __init__(self, model: EntityModel, *, strict: bool = True, size: int = 1024) -> None:
        self.model = model
        self.strict = strict
        self._size = size
        self._cache: OrderedDict[tuple, CompiledQuery] = OrderedDict()
        self._lock = Lock()

    def plan(self, entity: Entity, options: QueryOptions, *, annotations: bool) -> CompiledQuery:
        check_refused(options, strict=self.strict)
        key = (entity.logical_name, options.cache_key(), annotations)
        with self._lock:
            compiled = self._cache.get(key)
            if compiled is not None:
                self._cache.move_to_end(key)
                return compiled
        bound = Binder(self.model, entity, self.strict).bind_query(options)
        compiled = Compiler(self.model, entity, annotations).compile(bound)
        with self._lock:
            self._cache[key] = compiled
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return compiled

    def cache_info(self) -> int:
        return len(self._cache)
