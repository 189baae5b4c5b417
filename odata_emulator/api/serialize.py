"""Rows -> Dataverse JSON: property order, `@odata.etag`, lookups, annotations and formatted values,
`@odata.context`. Values arrive in storage form (`store/schema.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Any
from urllib.parse import quote

from ..model import Attribute, Entity
from ..model import AttributeType as T
from ..query import bound as b
from ..query.compiled import AggregateOut, CollectionPlan, CompiledAggregate, Shape
from ..query.paging import encode_cookie, skiptoken_query_value
from ..store.values import format_datetime, from_epoch

FORMATTED = "OData.Community.Display.V1.FormattedValue"
ATTRIBUTE_NAME = "OData.Community.Display.V1.AttributeName"
LOOKUP_LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"
ASSOCIATED_NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
TOTAL_COUNT = "Microsoft.Dynamics.CRM.totalrecordcount"
TOTAL_COUNT_EXCEEDED = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"
PAGING_COOKIE = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
MORE_RECORDS = "Microsoft.Dynamics.CRM.morerecords"


@dataclass(frozen=True)
class Annotations:
    """Which instance annotations the client asked for with `Prefer: odata.include-annotations`."""

    patterns: tuple[str, ...] = ()

    def wants(self, term: str) -> bool:
        return any(p == term or p == "*" or (p.endswith("*") and fnmatchcase(term, p)) for p in self.patterns)

    # Cached: asked once per property of every row.
    @cached_property
    def any(self) -> bool:
        return bool(self.patterns)

    @cached_property
    def formatted(self) -> bool:
        return self.wants(FORMATTED)

    @cached_property
    def attribute_names(self) -> bool:
        return self.wants(ATTRIBUTE_NAME)

    @cached_property
    def lookup_names(self) -> bool:
        return self.wants(FORMATTED) or self.wants(LOOKUP_LOGICAL_NAME) or self.wants(ASSOCIATED_NAVIGATION)


# ------------------------------------------------------------------------------------ values


# Storage form -> JSON value, for the types whose forms differ.
_CONVERTERS: dict[T, Callable[[Any], Any]] = {T.DATETIME: format_datetime, T.BOOLEAN: bool, T.DOUBLE: float}


def json_value(attribute: Attribute, value):
    if value is None:
        return None
    convert = _CONVERTERS.get(attribute.type)
    return value if convert is None else convert(value)


def _format_datetime(attribute: Attribute, seconds: int) -> str:
    moment = from_epoch(seconds)
    day = f"{moment.month}/{moment.day}/{moment.year}"
    if attribute.date_only:
        return day
    hour = moment.hour % 12 or 12
    return f"{day} {hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def formatted_value(attribute: Attribute, value) -> str | None:
    """The `FormattedValue` annotation as an en-US user in UTC sees it; None where there is none."""
    if value is None:
        return None
    kind = attribute.type
    if kind.is_choice and attribute.option_set is not None:
        return attribute.option_set.labels.get(value, str(value))
    if kind is T.BOOLEAN and attribute.boolean_labels is not None:
        return attribute.boolean_labels.true if value else attribute.boolean_labels.false
    if kind in (T.INTEGER, T.BIGINT):
        return f"{value:,}"
    if kind is T.DOUBLE:
        return f"{value:,.{attribute.precision if attribute.precision is not None else 2}f}"
    if kind is T.DATETIME:
        return _format_datetime(attribute, value)
    return None


def _number_format(edm_type: str, value) -> str:
    if isinstance(value, float) and edm_type in ("Edm.Decimal", "Edm.Double"):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# ------------------------------------------------------------------------------------ entities


def _property(out: dict, field, attribute: Attribute, value, row, annotations: Annotations) -> None:
    """One property with its annotations before it. `field` is a FieldOut or a group key's
    AggregateOut: both name the labels of a lookup's display name and target type."""
    if attribute.is_lookup:
        logical = field.target or (row[field.type_label] if field.type_label else None)
        navigation = field.navigation
        if attribute.name == "regardingobjectid" and logical:
            navigation = f"regardingobjectid_{logical}"
        display = row[field.name_label] if field.name_label else None
        _lookup(out, field.name, value, annotations, display, navigation, logical)
        return
    if annotations.formatted and value is not None:
        text = formatted_value(attribute, value)
        if text is not None:
            out[f"{field.name}@{FORMATTED}"] = text
    out[field.name] = json_value(attribute, value)


def _lookup(out: dict, name: str, value, annotations: Annotations, display, navigation, logical) -> None:
    if value is not None:
        if annotations.formatted and display is not None:
            out[f"{name}@{FORMATTED}"] = display
        if navigation is not None and annotations.wants(ASSOCIATED_NAVIGATION):
            out[f"{name}@{ASSOCIATED_NAVIGATION}"] = navigation
        if logical is not None and annotations.wants(LOOKUP_LOGICAL_NAME):
            out[f"{name}@{LOOKUP_LOGICAL_NAME}"] = logical
    out[name] = value


def _plain_writer(shape: Shape, etag: bool, omit_nulls: bool):
    """`write(row) -> dict`: one row of `shape` without annotations, as straight-line code made once
    per shape (None where the shape has collections or `$ref`s: those take the general path). A
    page writes thousands of rows of dozens of properties, where a loop over field descriptions
    and a call per expansion cost twice as much."""
    key = ("plain", etag, omit_nulls)
    if key in shape.serializer_cache:
        return shape.serializer_cache[key]
    writer = None
    if not shape.collections and all(not is_ref for _, _, is_ref in shape.single):
        children = [(navigation, _plain_writer(child, False, omit_nulls), child.key_label)
                    for navigation, child, _ in shape.single]
        if all(child is not None for _, child, _ in children):
            writer = _generate(shape, etag, omit_nulls, children)
    shape.serializer_cache[key] = writer
    return writer


def _generate(shape: Shape, etag: bool, omit_nulls: bool, children: list):
    namespace: dict = {}
    lines = ["def write(row):", "    out = {}"]
    if etag and shape.etag_label is not None:
        lines.append(f"    out['@odata.etag'] = 'W/\"' + str(row[{shape.etag_label!r}]) + '\"'")
    for i, f in enumerate(shape.fields):
        convert = None if f.attribute.is_lookup else _CONVERTERS.get(f.attribute.type)
        label, name = repr(f.label), repr(f.name)
        if convert is not None:
            namespace[f"convert_{i}"] = convert
        value = f"convert_{i}(value)" if convert is not None else "value"
        if omit_nulls:
            lines += [f"    value = row[{label}]", "    if value is not None:", f"        out[{name}] = {value}"]
        elif convert is None:
            lines.append(f"    out[{name}] = row[{label}]")
        else:
            lines += [f"    value = row[{label}]", f"    out[{name}] = None if value is None else {value}"]
    if shape.key_label is not None:
        lines.append(f"    key = row[{shape.key_label!r}]")
        if not shape.key_selected:
            lines.append(f"    out[{shape.entity.primary_id!r}] = key")
        for name in shape.inherited:
            lines.append(f"    out[{name!r}] = key")
        for i, (navigation, child, child_key) in enumerate(children):
            namespace[f"child_{i}"] = child
            lines.append(f"    out[{navigation!r}] = None if row[{child_key!r}] is None else child_{i}(row)")
    lines.append("    return out")
    exec("\n".join(lines), namespace)  # noqa: S102 - the text is made here from the model's own names
    return namespace["write"]


def entity_json(shape: Shape, row, annotations: Annotations, *, etag: bool = True, service_root: str = "",
                children: dict | None = None, path: tuple = (), set_names: dict | None = None,
                omit_nulls: bool = False) -> dict:
    """One row. `omit_nulls` is FetchXML's rule: a property whose value is null is left out."""
    if not annotations.any:
        write = _plain_writer(shape, etag, omit_nulls)
        if write is not None:
            return write(row)
    out: dict = {}
    if etag and shape.etag_label is not None:
        out["@odata.etag"] = f'W/"{row[shape.etag_label]}"'
    attribute_names = annotations.attribute_names
    for field in shape.fields:
        value = row[field.label]
        if value is None and omit_nulls:
            continue
        if field.source is not None and attribute_names:
            out[f"{field.name}@{ATTRIBUTE_NAME}"] = field.source
        _property(out, field, field.attribute, value, row, annotations)
    if shape.key_label is None:
        return out
    key = row[shape.key_label]
    if not shape.key_selected:
        out[shape.entity.primary_id] = key
    for name in shape.inherited:
        out[name] = key
    for navigation, child, is_ref in shape.single:
        child_key = row[child.key_label]
        if child_key is None:
            out[navigation] = None
        elif is_ref:
            entity_set = (set_names or {}).get(child.entity.logical_name, child.entity.entity_set)
            out[navigation] = {"@odata.id": f"{service_root}{entity_set}({child_key})"}
        else:
            out[navigation] = entity_json(child, row, annotations, etag=False, children=children,
                                          path=path + (navigation,), service_root=service_root,
                                          set_names=set_names)
    _collections(out, shape, key, annotations, children, path, service_root, set_names)
    return out


def _collections(out: dict, shape: Shape, key, annotations: Annotations, children: dict | None, path: tuple,
                 service_root: str, set_names: dict | None) -> None:
    """A row's expanded collections, each followed by its `<navigation>@odata.nextLink`."""
    entity_set = (set_names or {}).get(shape.entity.logical_name, shape.entity.entity_set)
    for navigation, plan in shape.collections:
        rows = (children or {}).get((path + (navigation,), key), [])
        out[navigation] = [
            entity_json(plan.shape, child, annotations, etag=True, children=children, path=path + (navigation,),
                        service_root=service_root, set_names=set_names)
            for child in rows
        ]
        more = (path + (navigation,), key) in getattr(children, "more", ())
        out[f"{navigation}@odata.nextLink"] = expanded_link(
            f"{service_root}{entity_set}({key})/{navigation}", plan, rows if more else [])


def expanded_link(url: str, plan: CollectionPlan, rows: list) -> str:
    """`<navigation>@odata.nextLink` (join-tables.md): the related rows' own URL with the expansion's
    options; when a paged expansion was cut short (`rows` is then the page sent), the paging cookie
    of the next page."""
    query = quote(plan.link_query, safe="$=&,;()'/@:*!")
    if rows:
        cookie = encode_cookie(plan.key_order, rows[0], rows[-1], 2)
        query = f"{query}&" if query else ""
        query += f"$skiptoken={skiptoken_query_value(cookie)}"
    return f"{url}?{query}" if query else url


def aggregate_writer(compiled: CompiledAggregate, annotations: Annotations) -> Callable[[Any], dict]:
    """`write(row) -> dict` for the groups of `compiled`: without annotations, straight-line code
    made once per plan (`aggregate_json` asks each output what it is, for every row); with them,
    `aggregate_json`."""
    if annotations.any:
        outputs = compiled.aggregate_outputs
        return lambda row: aggregate_json(outputs, row, annotations)
    writer = compiled.serializer_cache.get("plain")
    if writer is None:
        writer = compiled.serializer_cache["plain"] = _generate_aggregate(compiled.aggregate_outputs)
    return writer


def _generate_aggregate(outputs: tuple[AggregateOut, ...]):
    """`aggregate_json` without annotations: a null is left out, a value converted as its column's
    (a lookup, a count, a date grouping: as stored)."""
    namespace: dict = {}
    lines = ["def write(row):", "    out = {}"]
    for i, output in enumerate(outputs):
        attribute = output.attribute
        convert = None if attribute is None or attribute.is_lookup else _CONVERTERS.get(attribute.type)
        if convert is not None:
            namespace[f"convert_{i}"] = convert
        lines += [f"    value = row[{output.label!r}]", "    if value is not None:",
                  f"        out[{output.name!r}] = {f'convert_{i}(value)' if convert is not None else 'value'}"]
    lines.append("    return out")
    exec("\n".join(lines), namespace)  # noqa: S102 - the text is made here from the model's own names
    return namespace["write"]


def aggregate_json(outputs: tuple[AggregateOut, ...], row, annotations: Annotations) -> dict:
    out: dict = {}
    attribute_names = annotations.attribute_names
    for output in outputs:
        value = row[output.label]
        if value is None:
            continue  # a null group value or an all-null measure is left out of the row
        if output.source is not None and attribute_names:
            out[f"{output.name}@{ATTRIBUTE_NAME}"] = output.source
        if output.attribute is None and not output.is_aggregate:  # a FetchXML date grouping: a number
            if annotations.formatted:
                # Formatted as whole numbers are: the docs' aggregate sample shows the year 2023 as "2,023".
                out[f"{output.name}@{FORMATTED}"] = f"{value:,}"
            out[output.name] = value
            continue
        if output.is_aggregate:
            if output.attribute is not None:  # min/max keep the column's type
                if annotations.formatted:
                    text = formatted_value(output.attribute, value)
                    if text is not None:
                        out[f"{output.name}@{FORMATTED}"] = text
                out[output.name] = json_value(output.attribute, value)
                continue
            if annotations.formatted:
                out[f"{output.name}@{FORMATTED}"] = _number_format(output.edm_type, value)
            out[output.name] = value
            continue
        assert output.attribute is not None  # a group key without an attribute is a date grouping (above)
        _property(out, output, output.attribute, value, row, annotations)
    return out


# ------------------------------------------------------------------------------------ context


def projection_context(projection: b.Projection) -> str:
    items = list(projection.context_items)
    for expansion in projection.expansions:
        name = expansion.navigation.navigation
        if expansion.projection.context_items == ("$ref",):
            items.append(f"{name}/$ref()")
        else:
            items.append(f"{name}({projection_context(expansion.projection)})")
    return ",".join(items)


def collection_context(service_root: str, entity: Entity, projection: b.Projection | None) -> str:
    items = projection_context(projection) if projection is not None else ""
    return f"{service_root}$metadata#{entity.entity_set}" + (f"({items})" if items else "")


def entity_context(service_root: str, entity: Entity, projection: b.Projection) -> str:
    return collection_context(service_root, entity, projection) + "/$entity"
