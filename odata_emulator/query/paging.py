"""Paging: Dataverse's paging cookie, as carried by `$skiptoken` in `@odata.nextLink`, and the
keyset predicate that continues after the row it names.

    <cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e...%3c%2fcookie%3e" istracking="False" />

The `pagingcookie` attribute is itself URL-encoded: `<cookie page="1"><k last=".." first=".." />...</cookie>`
with one element per ordering column (the primary key last), holding the values of the last
and first rows of the page. The emulator reads the `last` values back to continue with a
keyset predicate (`keyset_predicate`), so a page costs the same wherever it is in the table.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import quote, unquote

from defusedxml.ElementTree import fromstring as safe_fromstring
from sqlalchemy import and_, false, or_
from sqlalchemy.sql import ColumnElement

from ..errors import InvalidSkipToken
from ..model import Attribute
from ..model import AttributeType as T
from ..store.values import format_datetime, normalize_guid, parse_datetime, to_epoch
from .compiled import OrderColumn
from .numbers import whole_number

MAX_COOKIE_LENGTH = 32_768


@dataclass(frozen=True)
class PageCookie:
    page_number: int  # the page this cookie asks for (2 for the second page)
    last: tuple  # storage values of the ordering columns of the previous page's last row


def _encode_value(attribute: Attribute, value) -> str | None:
    if value is None:
        return None
    if attribute.type in (T.UNIQUEIDENTIFIER, T.LOOKUP, T.OWNER):
        return "{" + str(value).upper() + "}"
    if attribute.type is T.DATETIME:
        return format_datetime(value)
    return str(value)


def _decode_value(attribute: Attribute, text: str | None):
    if text is None:
        return None
    kind = attribute.type
    if kind in (T.UNIQUEIDENTIFIER, T.LOOKUP, T.OWNER):
        return normalize_guid(text)
    if kind is T.DATETIME:
        return to_epoch(parse_datetime(text))
    if kind is T.DOUBLE:
        return float(text)
    if kind in (T.INTEGER, T.BIGINT, T.PICKLIST, T.STATE, T.STATUS, T.BOOLEAN):
        number = whole_number(text)
        if not -(2 ** 63) <= number < 2 ** 63:  # SQLite cannot bind it: a tampered cookie
            raise ValueError("integer out of range")
        return number
    return text


def _lower_hex_quote(text: str) -> str:
    # Dataverse writes the inner cookie with lowercase escapes (%3c, %22, %7b).
    quoted = quote(text, safe="")
    out = []
    i = 0
    while i < len(quoted):
        if quoted[i] == "%":
            out.append(quoted[i:i + 3].lower())
            i += 3
        else:
            out.append(quoted[i])
            i += 1
    return "".join(out)


def encode_cookie(order: tuple[OrderColumn, ...], first_row, last_row, next_page: int, *, twice: bool = False) -> str:
    """The `$skiptoken` value (before URL encoding) for the page after the one that ended at `last_row`.
    `twice`: the FetchXML annotation's form, whose `pagingcookie` is URL-encoded twice."""
    inner_text = inner_cookie(order, first_row, last_row, next_page - 1)
    pagingcookie = _lower_hex_quote(inner_text)
    if twice:
        pagingcookie = _lower_hex_quote(pagingcookie)
    return f'<cookie pagenumber="{next_page}" pagingcookie="{pagingcookie}" istracking="False" />'


def inner_cookie(order: tuple[OrderColumn, ...], first_row, last_row, page: int) -> str:
    """`<cookie page="1"><k last=".." first=".." />...</cookie>`: what a FetchXML client puts back
    into `paging-cookie` to ask for the page after `page`."""
    inner = ET.Element("cookie", {"page": str(page)})
    for column in order:
        attributes = {}
        last = _encode_value(column.attribute, last_row[column.label])
        first = _encode_value(column.attribute, first_row[column.label])
        if last is not None:
            attributes["last"] = last
        if first is not None:
            attributes["first"] = first
        ET.SubElement(inner, column.cookie_name, attributes)
    return ET.tostring(inner, encoding="unicode", short_empty_elements=True)


def decode_inner_cookie(text: str, order: tuple[OrderColumn, ...]) -> tuple:
    """The `last` values of a FetchXML `paging-cookie` (the inner cookie), in storage form; raises
    ValueError when it was not issued for this query's order."""
    if len(text) > MAX_COOKIE_LENGTH:
        raise ValueError("too long")
    inner = safe_fromstring(text)
    if inner.tag != "cookie":
        raise ValueError("not a cookie")
    elements = list(inner)
    if [e.tag for e in elements] != [c.cookie_name for c in order]:
        raise ValueError("the cookie does not match the query's order")
    return tuple(_decode_value(c.attribute, e.get("last")) for c, e in zip(order, elements))


def skiptoken_query_value(cookie: str) -> str:
    """The cookie as it appears in a URL: `=` kept, everything else that needs it escaped."""
    return quote(cookie, safe="=")


def decode_cookie(token: str, order: tuple[OrderColumn, ...]) -> PageCookie:
    if len(token) > MAX_COOKIE_LENGTH:
        raise InvalidSkipToken("The $skiptoken value is too long.")
    try:
        outer = safe_fromstring(token)
        if outer.tag != "cookie":
            raise ValueError("not a cookie")
        page_number = whole_number(outer.get("pagenumber", ""))
        inner = safe_fromstring(unquote(outer.get("pagingcookie", "")))
        if inner.tag != "cookie":
            raise ValueError("not a cookie")
        elements = list(inner)
        if [e.tag for e in elements] != [c.cookie_name for c in order]:
            raise ValueError("the cookie does not match the query's order")
        last = tuple(_decode_value(c.attribute, e.get("last")) for c, e in zip(order, elements))
    except InvalidSkipToken:
        raise
    except Exception:
        raise InvalidSkipToken(
            "The $skiptoken value is not a paging cookie issued for this query. Use the @odata.nextLink "
            "of the previous page without changing it."
        ) from None
    if page_number < 2:
        raise InvalidSkipToken("The $skiptoken paging cookie names an invalid page number.")
    return PageCookie(page_number, last)


# ------------------------------------------------------------------------------------ keyset


def keyset_predicate(order: tuple[OrderColumn, ...], values: tuple) -> ColumnElement:
    """Rows strictly after `values` in the order (SQLite sorts NULL first ascending, last descending,
    as SQL Server does)."""
    clauses = []
    for i, column in enumerate(order):
        equal_before = [_equal(order[j].expression, values[j]) for j in range(i)]
        after = _after(column.expression, values[i], column.descending)
        if after is None:
            continue
        clauses.append(and_(*equal_before, after))
    return or_(*clauses) if clauses else false()


def _equal(expression, value):
    return expression.is_(None) if value is None else expression == value


def _after(expression, value, descending: bool):
    if not descending:
        if value is None:
            return expression.is_not(None)
        return expression > value
    if value is None:
        return None
    return or_(expression < value, expression.is_(None))
