"""Rows -> Dataverse JSON, written by SQLite: the serializer's plain writer (`serialize._generate`)
as one `json_object(...)` expression per row, for a page of rows in the Web API's default form.

A page of a thousand rows spends more time in Python turning rows into dicts and dicts into JSON than
SQLite spends finding them (`$top=1000` with an expansion: about 6 ms of SQL, 8 ms of rows to
dicts and writing them); SQLite's JSON functions write the same text in C, and the page is then
joined as text. The output is byte for byte what `serialize.entity_json` and orjson write: property
order, `@odata.etag`, dates in Dataverse's `Z` form, booleans, the key and inherited properties,
single-valued expansions (null when there is no related row); strings are escaped alike (orjson and
SQLite both escape `"`, `\\` and the control characters, `\\b \\f \\n \\r \\t` by name and the others as
`\\u00xx`, and write the rest as UTF-8).

A Double is written by the store's SQL function `odata_json_double` (orjson's text: SQLite's own
writes 15 significant digits where orjson writes the shortest exact form), read back by `json()`,
which keeps a number's text as it is. Shapes it cannot write exactly fall back to the Python writer
(`row_json` answers None): collections and `$ref`s, FetchXML's left-out nulls, and every instance
annotation (the caller checks those).
"""

from __future__ import annotations

from sqlalchemy import String, case, cast, func, literal
from sqlalchemy.sql import ColumnElement

from ..model import AttributeType as T
from ..query.compiled import Shape
from ..store.values import JSON_DOUBLE_FUNCTION

# The attribute types whose stored value JSON writes as is (text, whole numbers); `_value` converts
# DATETIME, BOOLEAN and DOUBLE as the Python writer does.
_AS_STORED = frozenset({T.UNIQUEIDENTIFIER, T.STRING, T.MEMO, T.INTEGER, T.BIGINT, T.PICKLIST, T.STATE,
                        T.STATUS, T.LOOKUP, T.OWNER, T.ENTITYNAME})

ENABLED = True  # read at each request: tests compare the two writers by turning this one off


def row_json(shape: Shape, columns: dict[str, ColumnElement]) -> ColumnElement | None:
    """One row of `shape` as JSON text, from the statement's `columns` by label; None when the Python
    writer must write it."""
    return _object(shape, columns, etag=True)


def _object(shape: Shape, columns: dict[str, ColumnElement], *, etag: bool) -> ColumnElement | None:
    if shape.collections or any(is_ref for _, _, is_ref in shape.single):
        return None
    arguments: list = []
    if etag and shape.etag_label is not None:
        # str() of the row version, as the Python writer puts it; never null in a stored row.
        version = func.coalesce(cast(columns[shape.etag_label], String), "None")
        arguments += ["@odata.etag", literal('W/"').concat(version).concat('"')]
    for output in shape.fields:
        value = _value(output.attribute.type if not output.attribute.is_lookup else T.LOOKUP, columns[output.label])
        if value is None:
            return None
        arguments += [output.name, value]
    if shape.key_label is not None:
        key = columns[shape.key_label]
        if not shape.key_selected:
            arguments += [shape.entity.primary_id, key]
        for name in shape.inherited:
            arguments += [name, key]
        for navigation, child, _ in shape.single:
            written = _object(child, columns, etag=False)
            if written is None or child.key_label is None:
                return None
            arguments += [navigation, case((columns[child.key_label].is_(None), None), else_=written)]
    return func.json_object(*arguments)


def _value(kind: T, column: ColumnElement) -> ColumnElement | None:
    if kind in _AS_STORED:
        return column
    if kind is T.DATETIME:  # whole epoch seconds -> 2026-10-13T02:39:56Z (null stays null)
        return func.replace(func.datetime(column, "unixepoch"), " ", "T").concat("Z")
    if kind is T.BOOLEAN:  # stored 0/1 -> true/false
        return case((column.is_(None), None), (column != 0, func.json("true")), else_=func.json("false"))
    if kind is T.DOUBLE:  # orjson's number text, embedded as a number (null stays null)
        return func.json(getattr(func, JSON_DOUBLE_FUNCTION)(column))
    return None
