"""QueryExpression JSON, as the Web API takes it (BulkDelete's `QuerySet`), -> the query tree
(`ast.Fetch`) that FetchXML also parses to.

    {"EntityName": "asyncoperation",
     "ColumnSet": {"AllColumns": false, "Columns": ["asyncoperationid"]},
     "Criteria": {"FilterOperator": "And",
                  "Conditions": [{"AttributeName": "statecode", "Operator": "Equal",
                                  "Values": [{"Value": "3", "Type": "System.Int32"}]}],
                  "Filters": [...]},
     "Orders": [{"AttributeName": "createdon", "OrderType": "Descending"}],
     "LinkEntities": [{"LinkFromAttributeName": "createdby", "LinkToEntityName": "systemuser",
                       "LinkToAttributeName": "systemuserid", "JoinOperator": "Inner",
                       "EntityAlias": "u", "LinkCriteria": {...}}],
     "Distinct": false, "TopCount": 10, "PageInfo": {...}, "NoLock": false}

The SDK's QueryExpression and FetchXML say the same things in two notations, so the mapping is
one to one: a LinkEntity is a `<link-entity name=LinkToEntityName from=LinkToAttributeName
to=LinkFromAttributeName>` (FetchXML's `from` is the linked table's column), conditions keep the
SDK's ConditionOperator names, and values are kept as text for the binder to convert against the
column's type. What has no FetchXML counterpart the emulator evaluates (sub-queries, `Exists`
joins, column comparisons, aggregate AttributeExpressions) is refused.

Names of tables and columns are left to the binder (`bind.py`); a value's declared type is
checked in `query/literals.py`. Errors are FetchXmlError with the code Dataverse's deserializer
(0x80048d19) or QueryBuilder would answer; what the emulator does not evaluate answers 0x8006088a.
"""

from __future__ import annotations

import math
import re
from typing import overload

from ...errors import Code, FetchXmlError
from .. import ast
from ..literals import declared_value
from .parse import OPERATORS, combine

MAX_DEPTH = 32

# The ConditionOperator names the binder evaluates (FetchXML's operators, by their SDK names).
CONDITION_OPERATORS = frozenset(OPERATORS.values())
# ConditionOperator members the emulator does not evaluate: fiscal periods, hierarchies, teams,
# multi-select choices, full-text search, bit masks.
UNSUPPORTED_OPERATORS = frozenset({
    "ChildOf", "Mask", "NotMask", "MasksSelect", "Contains", "DoesNotContain", "EqualUserLanguage", "NotOn",
    "ThisFiscalYear", "ThisFiscalPeriod", "NextFiscalYear", "NextFiscalPeriod", "LastFiscalYear",
    "LastFiscalPeriod", "LastXFiscalYears", "LastXFiscalPeriods", "NextXFiscalYears", "NextXFiscalPeriods",
    "InFiscalYear", "InFiscalPeriod", "InFiscalPeriodAndYear", "InOrBeforeFiscalPeriodAndYear",
    "InOrAfterFiscalPeriodAndYear", "EqualUserTeams", "EqualUserOrUserTeams", "Under", "UnderOrEqual",
    "NotUnder", "Above", "AboveOrEqual", "EqualUserOrUserHierarchy", "EqualUserOrUserHierarchyAndTeams",
    "EqualRoleBusinessId", "ContainValues", "DoesNotContainValues",
})
# Enum properties: the Web API writes an enum member by name; its number is accepted too.
FILTER_OPERATORS = {"And": "and", "Or": "or", 0: "and", 1: "or"}
JOIN_OPERATORS = {"Inner": "inner", "LeftOuter": "outer", 0: "inner", 1: "outer"}
UNSUPPORTED_JOINS = frozenset({"Natural", "MatchFirstRowUsingCrossApply", "In", "Exists", "Any", "NotAny", "All",
                               "NotAll", 2})
ORDER_TYPES = {"Ascending": False, "Descending": True, 0: False, 1: True}

_QUERY_KEYS = {"EntityName", "ColumnSet", "Criteria", "Orders", "LinkEntities", "Distinct", "TopCount", "PageInfo",
               "NoLock", "QueryHints", "ForceSeek", "DataSource", "SubQueryExpression"}
_COLUMN_SET_KEYS = {"AllColumns", "Columns", "AttributeExpressions"}
_FILTER_KEYS = {"FilterOperator", "Conditions", "Filters", "IsQuickFindFilter", "FilterHint"}
_CONDITION_KEYS = {"AttributeName", "Operator", "Values", "EntityName", "CompareColumns"}
_ORDER_KEYS = {"AttributeName", "OrderType", "Alias", "EntityName"}
_LINK_KEYS = {"LinkFromEntityName", "LinkFromAttributeName", "LinkToEntityName", "LinkToAttributeName",
              "JoinOperator", "EntityAlias", "Columns", "LinkCriteria", "LinkEntities", "Orders"}
_PAGE_INFO_KEYS = {"Count", "PageNumber", "PagingCookie", "ReturnTotalRecordCount"}
_VALUE_KEYS = {"Value", "Type"}

# Characters XML 1.0 cannot carry: a query holding one could not be stored as FetchXML.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _payload(message: str) -> FetchXmlError:
    """A QueryExpression the Web API's deserializer would refuse."""
    return FetchXmlError(message, code=Code.INVALID_PAYLOAD)


def _unsupported(message: str) -> FetchXmlError:
    return FetchXmlError(f"{message} is not supported by the emulator.", code=Code.RESOURCE_NOT_FOUND)


def parse_query_expression(query) -> ast.Fetch:
    """A QueryExpression (a decoded JSON object) as the tree FetchXML parses to."""
    if not isinstance(query, dict):
        raise _payload("A query of the QuerySet must be a QueryExpression JSON object.")
    _check_keys(query, _QUERY_KEYS, "QueryExpression")
    entity = _required_name(query, "EntityName", "QueryExpression")
    if query.get("SubQueryExpression") is not None:
        raise _unsupported("SubQueryExpression")
    data_source = _optional(query, "DataSource", str, "QueryExpression")
    if data_source not in (None, "", "live"):
        raise _unsupported(f"The DataSource '{data_source}' (long term retention data)")
    for hint in ("QueryHints", "ForceSeek"):
        _optional(query, hint, str, "QueryExpression")  # SQL Server hints: nothing to do on SQLite
    _optional(query, "NoLock", bool, "QueryExpression")
    attributes, all_attributes = _column_set(query.get("ColumnSet"), "ColumnSet")
    top = _optional(query, "TopCount", int, "QueryExpression")
    if top is not None and top < 1:
        raise FetchXmlError(f"TopCount must be at least 1, not {top}.", code=Code.QUERY_PAGING_LIMIT)
    count, page, cookie, total = _page_info(query.get("PageInfo"))
    if top is not None and (count is not None or page is not None):
        raise FetchXmlError("TopCount can't be specified with PageInfo's Count or PageNumber.", code=Code.QUERY_PAGING_LIMIT)
    return ast.Fetch(
        entity=entity,
        attributes=attributes,
        all_attributes=all_attributes,
        filter=_filter(query.get("Criteria"), "Criteria", depth=1),
        orders=_orders(query.get("Orders")),
        links=_links(query.get("LinkEntities"), entity, aliases=set(), depth=1),
        top=top,
        count=count,
        page=page,
        paging_cookie=cookie,
        distinct=bool(_optional(query, "Distinct", bool, "QueryExpression")),
        total_record_count=total,
    )


# ---------------------------------------------------------------------------------- parts


def _check_keys(obj: dict, allowed: set[str], type_name: str) -> None:
    for key in obj:
        # Instance annotations (`@odata.type`, `Values@odata.type`) carry no query.
        if key.startswith("@") or "@" in key:
            continue
        if key not in allowed:
            raise _payload(f"The property '{key}' does not exist on type 'Microsoft.Dynamics.CRM.{type_name}'. "
                           f"Make sure to only use property names that are defined by the type.")


@overload
def _optional(obj: dict, key: str, kind: type[bool], type_name: str) -> bool | None: ...
@overload
def _optional(obj: dict, key: str, kind: type[int], type_name: str) -> int | None: ...
@overload
def _optional(obj: dict, key: str, kind: type[str], type_name: str) -> str | None: ...


def _optional(obj: dict, key: str, kind: type, type_name: str) -> object:
    value = obj.get(key)
    if value is None:
        return None
    # bool is an int in Python; JSON keeps them apart, so do we.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = {bool: "Edm.Boolean", int: "Edm.Int32", str: "Edm.String"}[kind]
        raise _payload(f"The property '{key}' of '{type_name}' must be of type '{expected}', not "
                       f"{_json_type(value)}.")
    if kind is int and isinstance(value, int) and not -2 ** 31 <= value < 2 ** 31:
        raise _payload(f"The property '{key}' of '{type_name}' must be a 32-bit integer.")
    if kind is str and isinstance(value, str):
        _xml_safe(value, key)
    return value


def _name(obj: dict, key: str, type_name: str) -> str | None:
    value = _optional(obj, key, str, type_name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _required_name(obj: dict, key: str, type_name: str) -> str:
    name = _name(obj, key, type_name)
    if name is None:
        # A missing table name reads as QueryBuilder's "entity not found"; anything else is an
        # invalid argument.
        code = Code.QUERY_ENTITY_NOT_FOUND if key.endswith("EntityName") else Code.INVALID_ARGUMENT
        raise FetchXmlError(f"The '{key}' of a {type_name} is required.", code=code)
    return name


def _list(value, key: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _payload(f"The property '{key}' must be a JSON array, not {_json_type(value)}.")
    return value


def _object(value, key: str) -> dict:
    if not isinstance(value, dict):
        raise _payload(f"'{key}' must be a JSON object, not {_json_type(value)}.")
    return value


def _xml_safe(text: str, where: str) -> None:
    if _NOT_XML.search(text):
        raise _payload(f"'{where}' holds a control character that a query can't carry.")


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object"}.get(type(value), type(value).__name__)


def _enum(value, members: dict, key: str, enum_name: str):
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value not in members:
        raise _payload(f"The value {value!r} of '{key}' is not a valid {enum_name} member: use "
                       f"{', '.join(m for m in members if isinstance(m, str))}.")
    return members[value]


def _column_set(value, key: str) -> tuple[tuple[ast.FetchAttribute, ...], bool]:
    if value is None:
        return (), False
    if isinstance(value, list):  # the SDK's `new ColumnSet("a", "b")`, as some clients send it
        value = {"Columns": value}
    column_set = _object(value, key)
    _check_keys(column_set, _COLUMN_SET_KEYS, "ColumnSet")
    if _list(column_set.get("AttributeExpressions"), "AttributeExpressions"):
        raise _unsupported("An aggregate ColumnSet (AttributeExpressions)")
    all_columns = bool(_optional(column_set, "AllColumns", bool, "ColumnSet"))
    attributes: list[ast.FetchAttribute] = []
    for name in _list(column_set.get("Columns"), "Columns"):
        if not isinstance(name, str) or not name.strip():
            raise _payload(f"The Columns of a ColumnSet are column names, not {_json_type(name)}.")
        _xml_safe(name, "Columns")
        if all(a.name != name.strip() for a in attributes):
            attributes.append(ast.FetchAttribute(name.strip()))
    return tuple(attributes), all_columns


def _page_info(value) -> tuple[int | None, int | None, str | None, bool]:
    if value is None:
        return None, None, None, False
    info = _object(value, "PageInfo")
    _check_keys(info, _PAGE_INFO_KEYS, "PagingInfo")
    count = _optional(info, "Count", int, "PagingInfo")
    page = _optional(info, "PageNumber", int, "PagingInfo")
    for name, number in (("Count", count), ("PageNumber", page)):
        if number is not None and number < 0:
            raise FetchXmlError(f"PageInfo's {name} can't be negative.", code=Code.QUERY_PAGING_LIMIT)
    cookie = _optional(info, "PagingCookie", str, "PagingInfo")
    total = bool(_optional(info, "ReturnTotalRecordCount", bool, "PagingInfo"))
    # The SDK's `new PagingInfo()` sends 0 for "not set".
    return count or None, page or None, cookie or None, total


def _filter(value, key: str, depth: int) -> ast.Node | None:
    if value is None:
        return None
    if depth > MAX_DEPTH:
        raise FetchXmlError(f"The query nests more than {MAX_DEPTH} levels.")
    expression = _object(value, key)
    _check_keys(expression, _FILTER_KEYS, "FilterExpression")
    operator = expression.get("FilterOperator", "And")
    kind = _enum(operator, FILTER_OPERATORS, "FilterOperator", "LogicalOperator")
    _optional(expression, "IsQuickFindFilter", bool, "FilterExpression")  # only changes record limits
    _optional(expression, "FilterHint", str, "FilterExpression")
    parts: list[ast.Node] = [_condition(c) for c in _list(expression.get("Conditions"), "Conditions")]
    for inner in _list(expression.get("Filters"), "Filters"):
        node = _filter(inner, "Filters", depth + 1)
        if node is not None:
            parts.append(node)
    return combine(kind, parts)


def _condition(value) -> ast.Condition:
    condition = _object(value, "Conditions")
    _check_keys(condition, _CONDITION_KEYS, "ConditionExpression")
    attribute = _required_name(condition, "AttributeName", "ConditionExpression")
    if _optional(condition, "CompareColumns", bool, "ConditionExpression"):
        raise _unsupported("Comparing two columns (CompareColumns)")
    operator = condition.get("Operator")
    if isinstance(operator, str) and operator in UNSUPPORTED_OPERATORS:
        raise _unsupported(f"The condition operator '{operator}'")
    if not isinstance(operator, str) or operator not in CONDITION_OPERATORS:
        shown = operator if isinstance(operator, str) else _json_type(operator)
        raise _payload(f"The condition operator '{shown}' is not a valid ConditionOperator member: use a name such "
                       f"as Equal, NotEqual, GreaterThan, In, Null, OlderThanXDays or EqualUserId.")
    values = tuple(_value(v, attribute) for v in _list(condition.get("Values"), "Values"))
    entity = _name(condition, "EntityName", "ConditionExpression")
    return ast.Condition(attribute, operator, values, entity)


def _value(item, attribute: str) -> str:
    """One condition value as text: `{"Value": "3", "Type": "System.Int32"}`, or a bare JSON
    string, number or boolean. The text must read as its declared type; whether that type fits
    the column is the binder's question."""
    declared = None
    if isinstance(item, dict):
        _check_keys(item, _VALUE_KEYS, "Object")
        declared = item.get("Type")
        if declared is not None and not isinstance(declared, str):
            raise _payload(f"The Type of a value of '{attribute}' must be a .NET type name such as System.Int32.")
        item = item.get("Value")
    if item is None:
        raise _payload(f"A value of the condition on '{attribute}' is null: use the Null or NotNull operator.")
    if isinstance(item, bool):
        text = "true" if item else "false"
    elif isinstance(item, int):
        text = str(item)
    elif isinstance(item, float):
        if not math.isfinite(item):
            raise _payload(f"A value of the condition on '{attribute}' is not a finite number.")
        text = repr(item)
    elif isinstance(item, str):
        text = item
    else:
        raise _payload(f"A value of the condition on '{attribute}' must be a string, number or boolean, not "
                       f"{_json_type(item)}.")
    _xml_safe(text, attribute)
    return declared_value(text, declared, attribute) if declared else text


def _orders(value) -> tuple[ast.FetchOrder, ...]:
    orders = []
    for item in _list(value, "Orders"):
        order = _object(item, "Orders")
        _check_keys(order, _ORDER_KEYS, "OrderExpression")
        if _name(order, "EntityName", "OrderExpression") is not None:
            raise _unsupported("An OrderExpression with an EntityName (put the order in the LinkEntity)")
        attribute = _name(order, "AttributeName", "OrderExpression")
        alias = _name(order, "Alias", "OrderExpression")
        if (attribute is None) == (alias is None):
            raise FetchXmlError("An OrderExpression names either an AttributeName or an Alias.", code=Code.QUERY_ORDER)
        descending = _enum(order.get("OrderType", "Ascending"), ORDER_TYPES, "OrderType", "OrderType")
        orders.append(ast.FetchOrder(attribute, alias, descending))
    return tuple(orders)


def _links(value, parent: str, aliases: set[str], depth: int) -> tuple[ast.FetchLink, ...]:
    links = []
    for item in _list(value, "LinkEntities"):
        if depth > MAX_DEPTH:
            raise FetchXmlError(f"The query nests more than {MAX_DEPTH} levels.")
        link = _object(item, "LinkEntities")
        _check_keys(link, _LINK_KEYS, "LinkEntity")
        target = _required_name(link, "LinkToEntityName", "LinkEntity")
        from_attribute = _required_name(link, "LinkFromAttributeName", "LinkEntity")
        to_attribute = _required_name(link, "LinkToAttributeName", "LinkEntity")
        starts_at = _name(link, "LinkFromEntityName", "LinkEntity")
        if starts_at is not None and starts_at != parent:
            raise FetchXmlError(f"The LinkFromEntityName '{starts_at}' is not the entity the link starts from "
                                f"('{parent}').", code=Code.QUERY_ENTITY_NOT_FOUND)
        operator = link.get("JoinOperator", "Inner")
        if isinstance(operator, (str, int)) and not isinstance(operator, bool) and operator in UNSUPPORTED_JOINS:
            raise _unsupported(f"The JoinOperator '{operator}'")
        link_type = _enum(operator, JOIN_OPERATORS, "JoinOperator", "JoinOperator")
        alias = _name(link, "EntityAlias", "LinkEntity")
        if alias is not None:
            if not _ALIAS.match(alias):
                raise FetchXmlError(f"The alias '{alias}' is not valid: an alias starts with a letter or '_' and holds "
                                    f"only letters, digits and '_'.", code=Code.QUERY_DUPLICATE_ALIAS)
            if alias in aliases:
                raise FetchXmlError(f"The alias '{alias}' is used by more than one LinkEntity.", code=Code.QUERY_DUPLICATE_ALIAS)
            aliases.add(alias)
        attributes, all_attributes = _column_set(link.get("Columns"), "Columns")
        links.append(ast.FetchLink(
            name=target,
            # FetchXML's `from` is the linked table's column, `to` the column of the table it hangs from.
            from_attribute=to_attribute,
            to_attribute=from_attribute,
            alias=alias,
            link_type=link_type,
            attributes=attributes,
            all_attributes=all_attributes,
            filter=_filter(link.get("LinkCriteria"), "LinkCriteria", depth + 1),
            orders=_orders(link.get("Orders")),
            links=_links(link.get("LinkEntities"), target, aliases, depth + 1),
        ))
    return tuple(links)


__all__ = ["parse_query_expression", "CONDITION_OPERATORS", "UNSUPPORTED_OPERATORS"]
