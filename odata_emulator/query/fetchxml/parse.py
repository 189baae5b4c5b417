"""FetchXML text -> the query tree (`ast.Fetch`); `printer.py` goes back.

The document is parsed with defusedxml with DTDs forbidden outright: no entity expansion (billion
laughs), no external entities or DTDs, and a bounded size, so a hostile document costs a quick
400 and nothing else. The element and attribute names are checked as Dataverse's schema checks
them; names of tables and columns are left to the binder.

Condition operators are translated to the SDK's ConditionOperator names (`eq` -> Equal), the
names QueryExpression uses, so both languages reach the binder as the same tree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as safe_fromstring

from ...errors import Code, FetchXmlError
from .. import ast
from ..numbers import whole_number

MAX_FETCHXML_LENGTH = 131_072
MAX_DEPTH = 32

# FetchXML operator -> ConditionOperator name.
OPERATORS = {
    "eq": "Equal", "ne": "NotEqual", "neq": "NotEqual", "gt": "GreaterThan", "ge": "GreaterEqual",
    "lt": "LessThan", "le": "LessEqual", "like": "Like", "not-like": "NotLike", "begins-with": "BeginsWith",
    "not-begin-with": "DoesNotBeginWith", "ends-with": "EndsWith", "not-end-with": "DoesNotEndWith",
    "in": "In", "not-in": "NotIn", "between": "Between", "not-between": "NotBetween", "null": "Null",
    "not-null": "NotNull", "yesterday": "Yesterday", "today": "Today", "tomorrow": "Tomorrow",
    "last-seven-days": "Last7Days", "next-seven-days": "Next7Days", "last-week": "LastWeek",
    "this-week": "ThisWeek", "next-week": "NextWeek", "last-month": "LastMonth", "this-month": "ThisMonth",
    "next-month": "NextMonth", "last-year": "LastYear", "this-year": "ThisYear", "next-year": "NextYear",
    "on": "On", "on-or-before": "OnOrBefore", "on-or-after": "OnOrAfter",
    "last-x-hours": "LastXHours", "next-x-hours": "NextXHours", "last-x-days": "LastXDays",
    "next-x-days": "NextXDays", "last-x-weeks": "LastXWeeks", "next-x-weeks": "NextXWeeks",
    "last-x-months": "LastXMonths", "next-x-months": "NextXMonths", "last-x-years": "LastXYears",
    "next-x-years": "NextXYears", "olderthan-x-minutes": "OlderThanXMinutes",
    "olderthan-x-hours": "OlderThanXHours", "olderthan-x-days": "OlderThanXDays",
    "olderthan-x-weeks": "OlderThanXWeeks", "olderthan-x-months": "OlderThanXMonths",
    "olderthan-x-years": "OlderThanXYears", "eq-userid": "EqualUserId", "ne-userid": "NotEqualUserId",
    "eq-businessid": "EqualBusinessId", "ne-businessid": "NotEqualBusinessId",
}
# The schema (and the SDK's serializer) spell the "older than" operators `olderthan-x-days`; the
# hyphenated `older-than-x-days` that some references print is accepted too (docs/deviations.md).
# The printer writes the schema's spelling: it comes first above.
OPERATORS.update({
    "older-than-x-minutes": "OlderThanXMinutes", "older-than-x-hours": "OlderThanXHours",
    "older-than-x-days": "OlderThanXDays", "older-than-x-weeks": "OlderThanXWeeks",
    "older-than-x-months": "OlderThanXMonths", "older-than-x-years": "OlderThanXYears",
})
# Operators of the FetchXML schema the emulator does not evaluate (fiscal periods, hierarchies,
# multi-select choices, full-text, teams).
KNOWN_UNSUPPORTED = {
    "eq-userteams", "eq-useroruserteams", "eq-useroruserhierarchy", "eq-useroruserhierarchyandteams",
    "eq-userlanguage", "this-fiscal-year", "this-fiscal-period", "next-fiscal-year", "next-fiscal-period",
    "last-fiscal-year", "last-fiscal-period", "last-x-fiscal-years", "last-x-fiscal-periods",
    "next-x-fiscal-years", "next-x-fiscal-periods", "in-fiscal-year", "in-fiscal-period",
    "in-fiscal-period-and-year", "in-or-before-fiscal-period-and-year", "in-or-after-fiscal-period-and-year",
    "under", "eq-or-under", "not-under", "above", "eq-or-above", "contain-values", "not-contain-values",
    "not-null-or-empty", "null-or-empty",
}
_FETCH_NAMES = {"version", "output-format", "mapping", "distinct", "top", "count", "page", "paging-cookie",
                "aggregate", "aggregatelimit", "returntotalrecordcount", "no-lock", "latematerialize",
                "useraworderby", "datasource", "options", "min-active-row-version", "utc-offset"}
_ENTITY_NAMES = {"name", "enableprefiltering", "prefilterparametername"}
_ATTRIBUTE_NAMES = {"name", "alias", "aggregate", "groupby", "dategrouping", "distinct", "usertimezone",
                    "rowaggregate", "build", "addedby"}
_ORDER_NAMES = {"attribute", "alias", "descending", "entityname"}
_FILTER_NAMES = {"type", "isquickfindfields", "overridequickfindrecordlimitenabled",
                 "overridequickfindrecordlimitdisabled", "bypassquickfind", "hint"}
_CONDITION_NAMES = {"attribute", "operator", "value", "entityname", "column", "valueof", "alias", "aggregate",
                    "rowaggregate", "uiname", "uitype", "uihidden"}
_LINK_NAMES = {"name", "from", "to", "alias", "link-type", "visible", "intersect", "enableprefiltering",
               "prefilterparametername"}
AGGREGATES = {"count", "countcolumn", "sum", "avg", "min", "max"}
DATE_GROUPINGS = {"day", "week", "month", "quarter", "year", "fiscal-period", "fiscal-year"}
LINK_TYPES = {"inner", "outer", "any", "not any", "all", "not all", "exists", "in", "matchfirstrowusingcrossapply"}


def _error(message: str, code: str = Code.FETCHXML_MALFORMED) -> FetchXmlError:
    return FetchXmlError(message, code=code)


def _check_names(element: ET.Element, allowed: set[str]) -> None:
    for name in element.attrib:
        if name not in allowed:
            raise _error(f"The '{name}' attribute is not declared on the '{element.tag}' element.")


def _boolean(element: ET.Element, name: str) -> bool:
    value = element.get(name)
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _error(f"The '{name}' attribute of '{element.tag}' must be 'true' or 'false', not '{value}'.")


def _whole(element: ET.Element, name: str, *, minimum: int = 0) -> int | None:
    value = element.get(name)
    if value is None:
        return None
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or not minimum <= whole_number(text) <= 2 ** 31 - 1:
        raise _error(f"The '{name}' attribute of '{element.tag}' must be a whole number of at least {minimum}, "
                     f"not '{value}'.", code=Code.QUERY_PAGING_LIMIT)
    return whole_number(text)


def _required(element: ET.Element, name: str) -> str:
    value = element.get(name)
    if value is None or not value.strip():
        raise _error(f"The '{element.tag}' element requires the '{name}' attribute.")
    return value.strip()


@lru_cache(maxsize=512)
def parse_fetchxml(text: str) -> ast.Fetch:
    if len(text) > MAX_FETCHXML_LENGTH:
        raise FetchXmlError(f"The FetchXML document is longer than {MAX_FETCHXML_LENGTH} characters.")
    if not text.strip():
        raise _error("The FetchXML document is empty.", code=Code.FETCHXML_EMPTY)
    try:
        root = safe_fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise FetchXmlError("The FetchXML document declares a DTD or entities, which are not allowed.") from None
    except ET.ParseError as exc:
        line, column = exc.position
        raise FetchXmlError(f"The FetchXML document is not well-formed XML: {_parse_reason(exc)} "
                            f"Line {line}, position {column + 1}.") from None
    return from_element(root)


def _parse_reason(exc: ET.ParseError) -> str:
    reason = str(exc).split(":")[0].strip()
    return reason[:1].upper() + reason[1:] + "."


def from_element(root: ET.Element) -> ast.Fetch:
    """A `<fetch>` element already parsed (safely) -> the query tree."""
    if root.tag != "fetch":
        raise _error(f"The root element of a FetchXML query is 'fetch', not '{root.tag}'.", code=Code.FETCHXML_ROOT)
    _check_names(root, _FETCH_NAMES)
    entities = [child for child in root if child.tag == "entity"]
    # The schema allows `order` directly under `fetch` "for the Reports view only": a query is
    # ordered by the orders of its entity and link-entities, so this one is accepted and ignored.
    for child in root:
        if child.tag not in ("entity", "order"):
            raise _error(f"The element '{child.tag}' is not valid inside 'fetch'.")
    if len(entities) != 1:
        raise _error("A FetchXML query has exactly one 'entity' element.",
                     code=Code.QUERY_STRUCTURE if entities else Code.FETCHXML_MALFORMED)
    entity = entities[0]
    _check_names(entity, _ENTITY_NAMES)
    name = _required(entity, "name")
    parts = _children(entity, depth=1)
    top = _whole(root, "top", minimum=1)
    count = _whole(root, "count", minimum=1)
    page = _whole(root, "page", minimum=1)
    if top is not None and (count is not None or page is not None):
        raise _error("The 'top' attribute can't be specified with paging attribute 'page' or 'count'.",
                     code=Code.QUERY_PAGING_LIMIT)
    total_record_count = _boolean(root, "returntotalrecordcount")
    if top is not None and total_record_count:
        # fetchxml/count-rows.md: "You can't apply the fetch element top attribute together with
        # returntotalrecordcount." (the docs print no text: Dataverse's own, as clients record it)
        raise _error("The top attribute can't be specified with paging attribute returntotalrecordcount",
                     code=Code.QUERY_PAGING_LIMIT)
    aggregate_limit = _whole(root, "aggregatelimit", minimum=1)
    return ast.Fetch(
        entity=name,
        attributes=parts["attributes"],
        all_attributes=parts["all_attributes"],
        filter=parts["filter"],
        orders=parts["orders"],
        links=parts["links"],
        top=top,
        count=count,
        page=page,
        paging_cookie=root.get("paging-cookie"),
        distinct=_boolean(root, "distinct"),
        aggregate=_boolean(root, "aggregate"),
        aggregate_limit=aggregate_limit,
        total_record_count=total_record_count,
    )


def _children(element: ET.Element, depth: int) -> dict:
    if depth > MAX_DEPTH:
        raise FetchXmlError(f"The FetchXML query nests more than {MAX_DEPTH} levels.")
    attributes, orders, links, filters = [], [], [], []
    all_attributes = False
    for child in element:
        tag = child.tag
        if tag == "attribute":
            attributes.append(_attribute(child))
        elif tag == "all-attributes":
            _check_names(child, set())
            all_attributes = True
        elif tag == "order":
            orders.append(_order(child))
        elif tag == "filter":
            filters.extend(_filter_parts(child, depth + 1, "and"))
        elif tag == "link-entity":
            links.append(_link(child, depth + 1))
        else:
            raise _error(f"The element '{tag}' is not valid inside '{element.tag}'.")
    return {
        "attributes": tuple(attributes),
        "all_attributes": all_attributes,
        "orders": tuple(orders),
        "links": tuple(links),
        "filter": combine("and", filters),
    }


def _attribute(element: ET.Element) -> ast.FetchAttribute:
    _check_names(element, _ATTRIBUTE_NAMES)
    if len(element):
        raise _error("The 'attribute' element has no child elements.")
    aggregate = element.get("aggregate")
    if aggregate is not None and aggregate not in AGGREGATES:
        raise _error(f"The aggregate '{aggregate}' is not valid: use one of {', '.join(sorted(AGGREGATES))}.",
                     code=Code.QUERY_AGGREGATE)
    grouping = element.get("dategrouping")
    if grouping is not None and grouping not in DATE_GROUPINGS:
        raise _error(f"The date grouping '{grouping}' is not valid: use one of "
                     f"{', '.join(sorted(DATE_GROUPINGS))}.", code=Code.QUERY_AGGREGATE)
    alias = _alias(element)
    return ast.FetchAttribute(_required(element, "name"), alias, aggregate, _boolean(element, "groupby"),
                              grouping, _boolean(element, "distinct"))


def _alias(element: ET.Element) -> str | None:
    """The element's `alias`, which starts with a letter or '_' and holds only letters, digits and '_'."""
    alias = element.get("alias")
    if alias is not None and not (alias and alias.isascii() and (alias[0].isalpha() or alias[0] == "_")
                                  and all(c.isalnum() or c == "_" for c in alias)):
        raise _error(f"The alias '{alias}' is not valid: an alias starts with a letter or '_' and holds only "
                     f"letters, digits and '_'.", code=Code.QUERY_DUPLICATE_ALIAS)
    return alias


def _order(element: ET.Element) -> ast.FetchOrder:
    _check_names(element, _ORDER_NAMES)
    attribute, alias = element.get("attribute"), element.get("alias")
    if (attribute is None) == (alias is None):
        raise _error("An 'order' element names either an 'attribute' or an 'alias'.", code=Code.QUERY_ORDER)
    if element.get("entityname") is not None:
        raise _error("The 'entityname' attribute of 'order' is not supported by the emulator: put the order "
                     "inside the link-entity.", code=Code.QUERY_ORDER)
    return ast.FetchOrder(attribute, alias, _boolean(element, "descending"))


def _filter_parts(element: ET.Element, depth: int, outer: str) -> list:
    """What a `<filter>` adds to an enclosing and/or of kind `outer`: its conditions themselves when
    it is of the same kind (and/or are associative), else the one node it combines to. So a tree
    has one shape however its filters were nested, and the printer's flat output parses back to
    the same tree."""
    if depth > MAX_DEPTH:
        raise FetchXmlError(f"The FetchXML query nests more than {MAX_DEPTH} levels.")
    _check_names(element, _FILTER_NAMES)
    kind = element.get("type", "and")
    if kind not in ("and", "or"):
        raise _error(f"The filter type '{kind}' is not valid: use 'and' or 'or'.", code=Code.QUERY_FILTER_TYPE)
    parts = []
    for child in element:
        if child.tag == "condition":
            parts.append(_condition(child))
        elif child.tag == "filter":
            parts.extend(_filter_parts(child, depth + 1, kind))
        elif child.tag == "link-entity":
            raise _error("A link-entity inside a filter is not supported by the emulator.", code=Code.QUERY_STRUCTURE)
        else:
            raise _error(f"The element '{child.tag}' is not valid inside 'filter'.")
    if kind == outer or len(parts) < 2:
        return parts
    return [combine(kind, parts)]


def combine(kind: str, parts: list) -> ast.Node | None:
    """`parts` joined by `kind` ("and" or "or"); None when there are none. QueryExpression's
    filters combine the same way, so both notations give one tree."""
    if not parts:
        return None
    # Balanced, so that a long list of conditions nests log(n) deep rather than n.
    while len(parts) > 1:
        parts = [ast.BinaryOp(kind, parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
                 for i in range(0, len(parts), 2)]
    return parts[0]


def _condition(element: ET.Element) -> ast.Condition:
    _check_names(element, _CONDITION_NAMES)
    written = _required(element, "operator")
    operator = OPERATORS.get(written)
    if operator is None:
        if written in KNOWN_UNSUPPORTED:
            raise _error(f"The condition operator '{written}' is not supported by the emulator.", code=Code.RESOURCE_NOT_FOUND)
        raise _error(f"The condition operator '{written}' is not valid.", code=Code.QUERY_CONDITION_OPERATOR)
    for name in ("valueof", "column", "aggregate", "rowaggregate", "alias"):
        if element.get(name) is not None:
            raise _error(f"The '{name}' attribute of 'condition' is not supported by the emulator.", code=Code.RESOURCE_NOT_FOUND)
    values = []
    for child in element:
        if child.tag != "value":
            raise _error(f"The element '{child.tag}' is not valid inside 'condition'.")
        if len(child):
            raise _error("The 'value' element holds text only.")
        values.append(child.text or "")
    single = element.get("value")
    # Tools write `<condition operator='in' value=''><value>1</value>...`: Dataverse ignores the
    # empty attribute when value elements are there.
    if single is not None and not (single == "" and values):
        values.insert(0, single)
    return ast.Condition(_required(element, "attribute"), operator, tuple(values), element.get("entityname"))


def _link(element: ET.Element, depth: int) -> ast.FetchLink:
    _check_names(element, _LINK_NAMES)
    link_type = element.get("link-type", "inner")
    if link_type not in LINK_TYPES:
        raise _error(f"The link-type '{link_type}' is not valid.", code=Code.QUERY_STRUCTURE)
    alias = _alias(element)
    parts = _children(element, depth)
    return ast.FetchLink(
        name=_required(element, "name"),
        from_attribute=_required(element, "from"),
        to_attribute=_required(element, "to"),
        alias=alias,
        link_type=link_type,
        attributes=parts["attributes"],
        all_attributes=parts["all_attributes"],
        filter=parts["filter"],
        orders=parts["orders"],
        links=parts["links"],
    )
