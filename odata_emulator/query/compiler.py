"""Bound queries -> whole SQLAlchemy Core statements: the projection (`$select`, `$expand`, FetchXML
columns and link-entities), the filter and the order, with the `Shape` that tells the serializer
which labelled column holds which property.

The compiler knows nothing of HTTP or of paging cookies; it emits a statement ordered by a
total order (the requested keys, then the primary key) so that the caller can page it with a
keyset predicate (`query/paging.py`). Expressions compile in `compile_expression.py`, aggregated
queries in `compile_apply.py`; the output types are in `compiled.py`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, literal, literal_column, select
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.expression import bindparam

from ..model import OneToMany
from ..store.schema import readable_column
from . import bound as b
from .compile_apply import compile_apply
from .compile_expression import ExpressionCompiler
from .compiled import (
    CollectionPlan,
    CompiledQuery,
    CompiledRows,
    FieldOut,
    OrderColumn,
    Shape,
    associated_navigation,
    single_target,
)


class Compiler(ExpressionCompiler):
    """One query's statement. Use once: the joins it makes are kept on it."""

    # A nested $expand anywhere in the query pages every expanded collection (join-tables.md).
    page_collections = False

    # --------------------------------------------------------------------------- projections

    def projection_columns(self, projection: b.Projection, table, prefix: str, columns: list) -> Shape:
        entity = projection.entity
        fields = []
        for attribute in projection.properties:
            label = f"{prefix}{attribute.name}"
            columns.append(readable_column(table, attribute.name).label(label))
            name_label, type_label = self.lookup_columns(table, attribute, prefix, columns)
            fields.append(FieldOut(
                attribute.property_name, attribute, label, name_label, type_label,
                associated_navigation(entity, attribute), single_target(attribute),
            ))
        key_label = f"{prefix}{entity.primary_id}"
        key_selected = any(f.attribute.name == entity.primary_id for f in fields)
        if not key_selected:
            columns.append(table.c[entity.primary_id].label(key_label))
        etag_label = None
        if entity.has_row_version:
            etag_label = f"{prefix}versionnumber"
            columns.append(table.c["versionnumber"].label(etag_label))
        single = []
        collections = []
        for i, expansion in enumerate(projection.expansions):
            navigation = expansion.navigation
            if expansion.is_collection:
                collections.append((navigation.navigation, self.collection_plan(expansion)))
                continue
            target = self.model.entity(navigation.target)
            alias = self.join_expansion((f"{prefix}x{i}",), target, table.c[navigation.attribute])
            child = self.projection_columns(expansion.projection, alias, f"{prefix}x{i}_", columns)
            is_ref = expansion.projection.context_items == ("$ref",)
            single.append((navigation.navigation, child, is_ref))
        inherited = tuple(name for name, _ in entity.inherited_properties) if projection.properties else ()
        return Shape(entity, tuple(fields), key_label, key_selected, etag_label, inherited, tuple(single), tuple(collections))

    def collection_plan(self, expansion: b.Expansion) -> CollectionPlan:
        navigation = expansion.navigation
        assert isinstance(navigation, OneToMany)  # called for collection-valued expansions only
        child = Compiler(self.model, expansion.projection.entity, self.annotations)
        child.page_collections = self.page_collections
        columns: list = []
        shape = child.projection_columns(expansion.projection, child.root, "c_", columns)
        parent_label = "parent_key"
        fk = child.root.c[navigation.attribute]
        columns.append(fk.label(parent_label))
        # The parent keys arrive as one JSON array, so that the statement compiles once.
        where: list[ColumnElement[Any]] = [fk.in_(select(literal_column("value")).select_from(func.json_each(bindparam("parent_keys"))))]
        if expansion.filter is not None:
            where.append(child.predicate(expansion.filter))
        order = [child._order_expression(k) for k in expansion.orderby]
        order.append(child.root.c[child.entity.primary_id].asc())
        statement = select(*columns).select_from(child.source).where(*where)
        paged = self.page_collections
        if expansion.top is not None or paged:
            ranked = statement.add_columns(
                func.row_number().over(partition_by=fk, order_by=order).label("rn")
            ).subquery("ranked")
            limit: Any = bindparam("child_page") if paged else expansion.top
            statement = (
                select(*[ranked.c[c.name] for c in columns])
                .where(ranked.c.rn <= limit)
                .order_by(ranked.c[parent_label], ranked.c.rn)
            )
        else:
            statement = statement.order_by(fk, *order)
        key = child.entity.primary_id_attribute
        assert shape.key_label is not None  # a projection always labels its key
        key_order = (OrderColumn(shape.key_label, child.root.c[key.name], key, False, key.name),)
        return CollectionPlan(navigation, statement, parent_label, shape, tuple(child.params),
                              expansion.link_query, paged, key_order)

    def _order_expression(self, key: b.OrderKey):
        column, _ = self.sort_expression(key.expr)
        return column.desc() if key.descending else column.asc()

    # --------------------------------------------------------------------------- queries

    def compile(self, query: b.BoundQuery) -> CompiledQuery:
        if query.apply is not None:
            return compile_apply(self, query.apply, query)
        columns: list = []
        self.page_collections = _has_nested_expand(query.projection)
        shape = self.projection_columns(query.projection, self.root, "c_", columns)
        where = self.predicate(query.filter) if query.filter is not None else None
        order = self._order_columns(query.orderby, columns)
        key_attribute = self.entity.primary_id_attribute
        key_column = self.root.c[self.entity.primary_id]
        if not any(o.expression is key_column for o in order):
            assert shape.key_label is not None  # a projection always labels its key
            order.append(OrderColumn(shape.key_label, key_column, key_attribute, False, self.entity.primary_id))
        statement = select(*columns).select_from(self.source)
        filtered = select(literal(1).label("one")).select_from(self.source)
        if where is not None:
            statement = statement.where(where)
            filtered = filtered.where(where)
        statement = statement.order_by(*[(o.expression.desc() if o.descending else o.expression.asc()) for o in order])
        return CompiledRows(statement, shape, tuple(order), tuple(self.params), filtered=filtered, query=query)

    def _order_columns(self, keys: tuple[b.OrderKey, ...], columns: list, *,
                       last_step_only: bool = False) -> list[OrderColumn]:
        """The requested ordering, selected as o0, o1... so that the paging cookie can read it back;
        each named in the cookie by its path (`createdby.fullname`)."""
        order = []
        for i, key in enumerate(keys):
            expression, attribute = self.sort_expression(key.expr)
            label = f"o{i}"
            columns.append(expression.label(label))
            steps = [s.navigation for s in key.expr.steps]
            cookie = ".".join((steps[-1:] if last_step_only else steps) + [key.expr.attribute.name])
            order.append(OrderColumn(label, expression, attribute, key.descending, cookie))
        return order

    def compile_fetch(self, fetch: b.BoundFetch) -> CompiledQuery:
        """A FetchXML query: columns named as FetchXML names them, link-entities as joins."""
        self.link_conditions = dict(fetch.link_conditions)
        for path in fetch.links:
            self.table_for(path)  # every link joins, selected from or not (inner links filter, some multiply)
        if fetch.apply is not None:
            projection = b.Projection(self.entity, (), (), False)
            query = b.BoundQuery(self.entity, projection, None, (), fetch.top, fetch.count, fetch.apply)
            return compile_apply(self, fetch.apply, query)
        columns: list = []
        fields = []
        selected = []
        for i, column in enumerate(fetch.columns):
            table = self.table_for(column.ref.steps)
            attribute = column.ref.attribute
            label = f"f{i}"
            selected.append(readable_column(table, attribute.name))
            columns.append(selected[-1].label(label))
            name_label, type_label = self.lookup_columns(table, attribute, f"f{i}_", columns)
            fields.append(FieldOut(
                column.name, attribute, label, name_label, type_label,
                associated_navigation(column.ref.entity, attribute), single_target(attribute),
                source=column.source,
            ))
        key_column = self.root.c[self.entity.primary_id]
        key_label = etag_label = None
        key_selected = False
        if not fetch.distinct:
            key_label = next((f.label for f in fields if f.attribute.name == self.entity.primary_id
                              and f.source is None and f.name == self.entity.primary_id), None)
            key_selected = key_label is not None
            if key_label is None:
                key_label = f"c_{self.entity.primary_id}"
                columns.append(key_column.label(key_label))
            if self.entity.has_row_version:
                etag_label = "c_versionnumber"
                columns.append(self.root.c["versionnumber"].label(etag_label))
        where = self.predicate(fetch.where) if fetch.where is not None else None
        # A link-entity's alias is unique in its query: it alone names the column in the cookie.
        order = self._order_columns(fetch.orderby, columns, last_step_only=True)
        if fetch.distinct:
            # Ties broken on every selected column, so that page N is the same rows each time.
            for field_out, expression in zip(fields, selected):
                order.append(OrderColumn(field_out.label, expression, field_out.attribute, False, field_out.attribute.name))
        elif not any(o.expression is key_column for o in order):
            assert key_label is not None  # every query but a distinct one selects its key
            order.append(OrderColumn(key_label, key_column, self.entity.primary_id_attribute, False, self.entity.primary_id))
        statement = select(*columns).select_from(self.source)
        filtered = select(literal(1).label("one")).select_from(self.source)
        if where is not None:
            statement = statement.where(where)
            filtered = filtered.where(where)
        if fetch.distinct:
            statement = statement.distinct()
        statement = statement.order_by(*[(o.expression.desc() if o.descending else o.expression.asc()) for o in order])
        shape = Shape(self.entity, tuple(fields), key_label, key_selected, etag_label)
        # A distinct query is counted over its statement, not over the filtered rows.
        return CompiledRows(statement, shape, tuple(order), tuple(self.params),
                            filtered=None if fetch.distinct else filtered)


def _has_nested_expand(projection: b.Projection) -> bool:
    """Whether an `$expand` holds an `$expand`, anywhere in the query."""
    return any(e.projection.expansions for e in projection.expansions) or any(
        _has_nested_expand(e.projection) for e in projection.expansions)
