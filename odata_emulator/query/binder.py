"""OData query options -> bound query: `$select` and `$expand` against the entity model,
`$filter` and `$orderby` (through the expression binder, `bind_expression.py`), `$top`, `$count`,
and `$apply` (`bind_apply.py`). What Dataverse refuses is refused (strict mode) or let through
(loose mode).

Error texts follow ODataLib and Dataverse where they are known; see docs/deviations.md for the
ones that are the emulator's own wording.
"""

from __future__ import annotations

from ..errors import QueryError, UnknownProperty, UnsupportedQuery
from ..model import Attribute, Entity, OneToMany
from . import ast
from . import bound as b
from .bind_apply import bind_apply
from .bind_expression import ExpressionBinder, Scope
from .edm import type_name
from .limits import MAX_EXPANSIONS, check_sort_keys
from .options import QueryOptions, parse_count, parse_nonnegative, parse_top
from .parser import parse_apply, parse_expand, parse_filter, parse_orderby, parse_select

# join-tables.md, "Nested $expand on collection-valued navigation properties": Dataverse's text.
ONLY_SELECT_AND_FILTER = ("Only $select and $filter clause can be provided while doing $expand on many-to-one "
                          "relationship or nested one-to-many relationship.")


class Binder(ExpressionBinder):
    """Binds the options of one OData query (`bind_query`) against the entity set's table."""

    expand_text = ""  # `$expand` as written: an expansion's link repeats its options

    # ------------------------------------------------------------------------------ query

    def bind_query(self, options: QueryOptions) -> b.BoundQuery:
        self.aliases = dict(options.aliases)
        top = parse_top(options.top) if options.top is not None else None
        count = parse_count(options.count) if options.count is not None else False
        skip = None
        for key, value in options.refused:
            if key == "$skip":
                skip = parse_nonnegative(value, "$skip")
        if options.apply is not None:
            if options.select is not None or options.expand is not None:
                raise UnsupportedQuery("$select and $expand cannot be combined with $apply.")
            apply = bind_apply(self, parse_apply(options.apply), options)
            projection = b.Projection(self.entity, (), (), False)
            return b.BoundQuery(self.entity, projection, None, (), top, count, apply, skip)
        select = parse_select(options.select) if options.select is not None else None
        expand = parse_expand(options.expand) if options.expand is not None else None
        self.expand_text = options.expand or ""
        projection = self.bind_projection(self.entity, select, expand)
        if _count_expansions(projection) > MAX_EXPANSIONS:
            raise QueryError(f"The $expand query option can include at most {MAX_EXPANSIONS} expansions.")
        where = self.bind_filter(parse_filter(options.filter)) if options.filter is not None else None
        orderby = self.bind_orderby(parse_orderby(options.orderby)) if options.orderby is not None else ()
        return b.BoundQuery(self.entity, projection, where, orderby, top, count, None, skip)

    # ------------------------------------------------------------------------------ $select / $expand

    def bind_projection(self, entity: Entity, select: ast.Select | None, expand: ast.Expand | None) -> b.Projection:
        if select is None or select.star:
            properties = tuple(entity.properties.values())
            context_items: tuple[str, ...] = ("*",) if select is not None else ()
            explicit = False
        else:
            chosen: dict[str, Attribute] = {}
            for item in select.items:
                if len(item.path) != 1:
                    raise QueryError(
                        "Found a path with multiple navigation properties or a bad complex property path in a select "
                        "clause. Please reword your query such that each level of select or expand only contains "
                        "either TypeSegments or Properties."
                    )
                name = item.path[0]
                attribute = entity.properties.get(name)
                if attribute is None:
                    raise UnknownProperty(name, type_name(entity))
                chosen.setdefault(name, attribute)
            properties = tuple(chosen.values())
            context_items = tuple(chosen)
            explicit = True
        expansions = tuple(self.bind_expansion(entity, item) for item in (expand.items if expand else ()))
        return b.Projection(entity, properties, context_items, explicit, expansions)

    def bind_expansion(self, entity: Entity, item: ast.ExpandItem) -> b.Expansion:
        if len(item.path) != 1:
            raise QueryError(f"The expand path '{'/'.join(item.path)}' is not supported: expand one navigation property per item.")
        name = item.path[0]
        navigation = entity.navigations.get(name)
        if navigation is None:
            raise UnknownProperty(name, type_name(entity))
        if item.unsupported:
            raise UnsupportedQuery(f"The query option '{item.unsupported[0]}' is not supported inside $expand.")
        target = self.model.entity(navigation.target)
        is_collection = isinstance(navigation, OneToMany)
        if item.ref:
            if is_collection:
                raise QueryError("Expand with $ref is only supported on lookup type navigation property.")
            key = target.primary_id_attribute
            projection = b.Projection(target, (key,), ("$ref",), True)
            return b.Expansion(navigation, projection)
        if not is_collection and (item.orderby is not None or item.top is not None):
            raise QueryError(ONLY_SELECT_AND_FILTER)
        if not is_collection and item.filter is not None:
            raise QueryError(
                f"$filter, $orderby and $top inside $expand apply to collection-valued navigation properties; "
                f"'{name}' is single-valued."
            )
        projection = self.bind_projection(target, item.select, item.expand)
        if is_collection and any(e.is_collection for e in projection.expansions):
            raise UnsupportedQuery("Nested $expand of collection-valued navigation properties is not supported.")
        if is_collection and projection.expansions and (item.orderby is not None or item.top is not None):
            raise QueryError(ONLY_SELECT_AND_FILTER)
        child = Binder(self.model, target, self.strict, self.aliases)
        where = child.bind_filter(item.filter) if item.filter is not None else None
        orderby = child.bind_orderby(item.orderby) if item.orderby is not None else ()
        top = parse_top(str(item.top)) if item.top is not None else None
        link_query = "&".join(expand_options(self.expand_text, item.pos))
        return b.Expansion(navigation, projection, where, orderby, top, link_query)

    # ------------------------------------------------------------------------------ $orderby

    def bind_orderby(self, orderby: ast.OrderBy) -> tuple[b.OrderKey, ...]:
        check_sort_keys(len(orderby.items))
        keys = []
        for item in orderby.items:
            expr = self.bind_expr(item.expr, Scope(self.entity))
            if not isinstance(expr, b.PropertyRef):
                raise UnsupportedQuery("Only properties can be used in $orderby.")
            keys.append(b.OrderKey(expr, item.descending))
        return tuple(keys)


def expand_options(text: str, pos: int) -> list[str]:
    """The options of the `$expand` item written at `pos` of `text`, each as written
    (`$select=subject`), from between its parentheses (split at its own `;`, quotes respected)."""
    i = pos
    while i < len(text) and text[i] not in "(,":
        i += 1
    if i >= len(text) or text[i] != "(":
        return []
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for ch in text[i + 1:]:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            if depth == 0:
                break
            depth -= 1
        elif not quoted and ch == ";" and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _count_expansions(projection: b.Projection) -> int:
    return sum(1 + _count_expansions(e.projection) for e in projection.expansions)
