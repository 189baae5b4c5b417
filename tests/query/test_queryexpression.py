"""QueryExpression JSON -> the FetchXML query tree: the mapping of each part, the values, the
round trip through FetchXML text, binding, and every refusal with its code. No HTTP, no database."""

from __future__ import annotations

import copy

import pytest

from odata_emulator.errors import DataverseError, FetchXmlError
from odata_emulator.model import MODEL
from odata_emulator.query import ast
from odata_emulator.query import bound as b
from odata_emulator.query.fetchxml.bind import FetchBinder
from odata_emulator.query.fetchxml.parse import OPERATORS, parse_fetchxml
from odata_emulator.query.fetchxml.printer import to_fetchxml
from odata_emulator.query.fetchxml.queryexpression import MAX_DEPTH, UNSUPPORTED_OPERATORS, parse_query_expression
from tests.helpers import BULK_DELETE_REQUEST

ASYNC = MODEL.entity("asyncoperation")
GUID = "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"


def condition(attribute: str, operator: str, *values) -> dict:
    return {"AttributeName": attribute, "Operator": operator, "Values": list(values)}


def typed(value: str, kind: str = "System.Int32") -> dict:
    return {"Value": value, "Type": kind}


def query(**parts) -> dict:
    return {"EntityName": "asyncoperation", **parts}


def refusal(obj) -> FetchXmlError:
    with pytest.raises(FetchXmlError) as caught:
        parse_query_expression(obj)
    return caught.value


# ------------------------------------------------------------------------------------ mapping


def test_the_documented_bulk_delete_query():
    fetch = parse_query_expression(copy.deepcopy(BULK_DELETE_REQUEST["QuerySet"][0]))
    assert fetch == ast.Fetch(
        entity="asyncoperation",
        attributes=(ast.FetchAttribute("asyncoperationid"),),
        filter=ast.BinaryOp("and", ast.Condition("statecode", "Equal", ("3",)),
                            ast.Condition("completedon", "OlderThanXDays", ("30",))),
    )


def test_nested_filters_combine_as_fetchxml_filters_do():
    fetch = parse_query_expression(query(Criteria={
        "FilterOperator": "Or",
        "Conditions": [condition("statecode", "Equal", "0")],
        "Filters": [{"FilterOperator": 0, "Conditions": [condition("statecode", "Equal", "3"),
                                                         condition("statuscode", "Equal", "30")]},
                    {"Conditions": []}],  # an empty filter adds nothing
    }))
    assert fetch.filter == ast.BinaryOp(
        "or", ast.Condition("statecode", "Equal", ("0",)),
        ast.BinaryOp("and", ast.Condition("statecode", "Equal", ("3",)), ast.Condition("statuscode", "Equal", ("30",))),
    )
    assert parse_query_expression(query(Criteria={"FilterOperator": 1, "Conditions": [
        condition("name", "Null"), condition("name", "NotNull")]})).filter.op == "or"
    assert parse_query_expression(query(Criteria={"Conditions": []})).filter is None


def test_columns_orders_distinct_top_and_paging():
    fetch = parse_query_expression(query(
        ColumnSet={"Columns": ["name", "statecode", "name"]},
        Orders=[{"AttributeName": "createdon", "OrderType": "Descending"}, {"AttributeName": "name", "OrderType": 0},
                {"Alias": "x", "OrderType": 1}],
        Distinct=True, TopCount=10, NoLock=True, QueryHints="", DataSource="live",
    ))
    assert fetch.attributes == (ast.FetchAttribute("name"), ast.FetchAttribute("statecode"))
    assert fetch.orders == (ast.FetchOrder("createdon", None, True), ast.FetchOrder("name", None, False),
                            ast.FetchOrder(None, "x", True))
    assert (fetch.distinct, fetch.top, fetch.count, fetch.page) == (True, 10, None, None)
    assert parse_query_expression(query(ColumnSet={"AllColumns": True})).all_attributes is True
    assert parse_query_expression(query(ColumnSet=["name"])).attributes == (ast.FetchAttribute("name"),)
    paged = parse_query_expression(query(PageInfo={"Count": 50, "PageNumber": 2, "PagingCookie": "<cookie/>",
                                                   "ReturnTotalRecordCount": True}))
    assert (paged.count, paged.page, paged.paging_cookie, paged.total_record_count) == (50, 2, "<cookie/>", True)
    unset = parse_query_expression(query(PageInfo={"Count": 0, "PageNumber": 0, "PagingCookie": None}))
    assert (unset.count, unset.page, unset.paging_cookie) == (None, None, None), "the SDK's 0 means not set"


def test_link_entities_map_to_link_entity_elements():
    fetch = parse_query_expression(query(LinkEntities=[{
        "LinkFromEntityName": "asyncoperation",
        "LinkFromAttributeName": "createdby",
        "LinkToEntityName": "systemuser",
        "LinkToAttributeName": "systemuserid",
        "JoinOperator": "LeftOuter",
        "EntityAlias": "creator",
        "Columns": {"Columns": ["fullname"]},
        "LinkCriteria": {"Conditions": [condition("isdisabled", "Equal", False)]},
        "Orders": [{"AttributeName": "fullname"}],
        "LinkEntities": [{"LinkFromAttributeName": "businessunitid", "LinkToEntityName": "businessunit",
                          "LinkToAttributeName": "businessunitid", "JoinOperator": 0}],
    }]))
    link, = fetch.links
    # FetchXML's `from` is the linked table's column, `to` the column it hangs from.
    assert (link.name, link.from_attribute, link.to_attribute, link.alias, link.link_type) == \
        ("systemuser", "systemuserid", "createdby", "creator", "outer")
    assert link.attributes == (ast.FetchAttribute("fullname"),)
    assert link.filter == ast.Condition("isdisabled", "Equal", ("false",))
    assert link.orders == (ast.FetchOrder("fullname"),)
    inner, = link.links
    assert (inner.name, inner.from_attribute, inner.to_attribute, inner.link_type) == \
        ("businessunit", "businessunitid", "businessunitid", "inner")


def test_values_typed_or_bare():
    def values(*items):
        return parse_query_expression(query(Criteria={"Conditions": [condition("x", "In", *items)]})).filter.values

    assert values(typed("3"), typed(" -7 ", "System.Int64"), typed("2.5", "System.Double"),
                  typed("True", "System.Boolean"), typed(GUID, "System.Guid"),
                  typed("2026-01-01T00:00:00Z", "System.DateTime"), typed(" a b ", "System.String")) == \
        ("3", "-7", "2.5", "true", GUID.lower(), "2026-01-01T00:00:00Z", " a b ")
    assert values("3", 4, 2.5, True, False) == ("3", "4", "2.5", "true", "false")
    assert values({"Value": "untyped"}) == ("untyped",)
    assert parse_query_expression(query(Criteria={"Conditions": [condition("name", "Null")]})).filter.values == ()
    assert parse_query_expression(query(Criteria={"Conditions": [
        {"AttributeName": "name", "Operator": "Null", "Values": None, "EntityName": "u"}]})).filter.entity == "u"


@pytest.mark.parametrize("operator", sorted(set(OPERATORS.values())))
def test_every_condition_operator_the_binder_evaluates_is_accepted(operator):
    assert parse_query_expression(query(Criteria={"Conditions": [condition("x", operator)]})).filter.operator == operator


@pytest.mark.parametrize("operator", sorted(UNSUPPORTED_OPERATORS))
def test_sdk_operators_the_emulator_does_not_evaluate_say_so(operator):
    error = refusal(query(Criteria={"Conditions": [condition("x", operator)]}))
    assert error.code == "0x8006088a" and "not supported by the emulator" in error.message


# ------------------------------------------------------------------------------------ through FetchXML


def test_the_fetchxml_text_parses_back_to_the_same_tree():
    fetch = parse_query_expression(query(
        ColumnSet={"Columns": ["name", "asyncoperationid"]},
        Criteria={"FilterOperator": "And",
                  "Conditions": [condition("statecode", "In", "0", "1"), condition("name", "Like", "%<&>'\"%"),
                                 condition("createdon", "Between", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")],
                  "Filters": [{"FilterOperator": "Or", "Conditions": [condition("ownerid", "EqualUserId"),
                                                                      condition("completedon", "OlderThanXDays", 3)]}]},
        Orders=[{"AttributeName": "createdon", "OrderType": "Descending"}],
        LinkEntities=[{"LinkFromAttributeName": "createdby", "LinkToEntityName": "systemuser",
                       "LinkToAttributeName": "systemuserid", "EntityAlias": "u",
                       "LinkCriteria": {"Conditions": [condition("fullname", "BeginsWith", "A")]}}],
        Distinct=True, TopCount=25,
    ))
    assert parse_fetchxml(to_fetchxml(fetch)) == fetch


def test_bound_by_the_fetchxml_binder():
    fetch = parse_query_expression(query(Criteria={"Conditions": [
        condition("statecode", "Equal", typed("3")),
        condition("completedon", "OlderThanXDays", typed("30")),
        condition("ownerid", "EqualUserId"),
    ]}))
    bound = FetchBinder(MODEL, ASYNC).bind_fetch(fetch)
    assert isinstance(bound.where, b.BoolOp)
    parts = [bound.where.left.left, bound.where.left.right, bound.where.right]
    assert parts[0] == b.Compare("eq", parts[0].left, b.Const(3, "Edm.Int32"))
    assert isinstance(parts[1], b.ClockCondition) and (parts[1].function, parts[1].amount) == ("OlderThanXDays", 30)
    assert isinstance(parts[2], b.CallerCondition) and parts[2].which == "user"


@pytest.mark.parametrize("obj, code", [
    (query(Criteria={"Conditions": [condition("nosuch", "Equal", "1")]}), "0x80041103"),
    (query(Orders=[{"AttributeName": "nosuch"}]), "0x80041103"),
    (query(LinkEntities=[{"LinkFromAttributeName": "createdby", "LinkToEntityName": "nosuch",
                          "LinkToAttributeName": "x"}]), "0x80041102"),
    # Values and value counts are the binder's to judge against the column (its codes, not ours).
    (query(Criteria={"Conditions": [condition("statecode", "Equal", "open")]}), None),
    (query(Criteria={"Conditions": [condition("statecode", "Equal")]}), None),
    (query(Criteria={"Conditions": [condition("statecode", "Like", "x")]}), None),
])
def test_what_the_binder_refuses(obj, code):
    with pytest.raises(DataverseError) as caught:
        FetchBinder(MODEL, ASYNC).bind_fetch(parse_query_expression(obj))
    assert caught.value.status == 400
    if code is not None:
        assert caught.value.code == code, caught.value.message


# ------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize("obj, code, fragment", [
    ("asyncoperation", "0x80048d19", "QueryExpression JSON object"),
    ([], "0x80048d19", "QueryExpression JSON object"),
    ({}, "0x80041102", "'EntityName'"),
    ({"EntityName": "  "}, "0x80041102", "'EntityName'"),
    ({"EntityName": 5}, "0x80048d19", "Edm.String"),
    (query(Nonsense=1), "0x80048d19", "'Nonsense' does not exist on type 'Microsoft.Dynamics.CRM.QueryExpression'"),
    (query(ColumnSet={"Columns": [3]}), "0x80048d19", "column names"),
    (query(ColumnSet={"AllColumns": "yes"}), "0x80048d19", "Edm.Boolean"),
    (query(ColumnSet={"AttributeExpressions": [{"AttributeName": "x"}]}), "0x8006088a", "AttributeExpressions"),
    (query(ColumnSet="name"), "0x80048d19", "JSON object"),
    (query(Criteria=[]), "0x80048d19", "JSON object"),
    (query(Criteria={"FilterOperator": "Xor"}), "0x80048d19", "LogicalOperator"),
    (query(Criteria={"FilterOperator": True}), "0x80048d19", "LogicalOperator"),
    (query(Criteria={"Conditions": {}}), "0x80048d19", "JSON array"),
    (query(Criteria={"Conditions": ["statecode eq 3"]}), "0x80048d19", "JSON object"),
    (query(Criteria={"Conditions": [{"Operator": "Equal"}]}), "0x80040203", "'AttributeName'"),
    (query(Criteria={"Conditions": [condition("x", "eq", "1")]}), "0x80048d19", "not a valid ConditionOperator"),
    (query(Criteria={"Conditions": [condition("x", 0, "1")]}), "0x80048d19", "not a valid ConditionOperator"),
    (query(Criteria={"Conditions": [condition("x", "Equal", None)]}), "0x80048d19", "Null or NotNull"),
    (query(Criteria={"Conditions": [condition("x", "Equal", [1])]}), "0x80048d19", "string, number or boolean"),
    (query(Criteria={"Conditions": [condition("x", "Equal", float("inf"))]}), "0x80048d19", "finite"),
    (query(Criteria={"Conditions": [condition("x", "Equal", typed("abc"))]}), "0x80048d19", "System.Int32"),
    (query(Criteria={"Conditions": [condition("x", "Equal", typed("2147483648"))]}), "0x80048d19", "System.Int32"),
    (query(Criteria={"Conditions": [condition("x", "Equal", typed("²"))]}), "0x80048d19", "System.Int32"),
    (query(Criteria={"Conditions": [condition("x", "Equal", typed("nan", "System.Double"))]}), "0x80048d19", "Double"),
    (query(Criteria={"Conditions": [condition("x", "Equal", typed("yes", "System.Boolean"))]}), "0x80048d19", "Boolean"),
    (query(Criteria={"Conditions": [condition("x", "Equal", typed("nope", "System.Guid"))]}), "0x80048d19", "Guid"),
    (query(Criteria={"Conditions": [condition("x", "Equal", typed("soon", "System.DateTime"))]}), "0x80048d19",
     "DateTime"),
    (query(Criteria={"Conditions": [condition("x", "Equal", typed("1", "System.Money"))]}), "0x80048d19",
     "'System.Money' of a value of 'x' is not supported"),
    (query(Criteria={"Conditions": [condition("x", "Equal", {"Value": "1", "Type": 3})]}), "0x80048d19", ".NET type"),
    (query(Criteria={"Conditions": [condition("x", "Equal", {"Value": "1", "Kind": "x"})]}), "0x80048d19",
     "'Kind' does not exist"),
    (query(Criteria={"Conditions": [condition("x", "Equal", "a\x00b")]}), "0x80048d19", "control character"),
    (query(Criteria={"Conditions": [{**condition("x", "Equal", "1"), "CompareColumns": True}]}), "0x8006088a",
     "CompareColumns"),
    (query(Orders=[{"AttributeName": "name", "OrderType": "Up"}]), "0x80048d19", "OrderType"),
    (query(Orders=[{"AttributeName": "name", "Alias": "n"}]), "0x80041121", "either"),
    (query(Orders=[{}]), "0x80041121", "either"),
    (query(Orders=[{"AttributeName": "name", "EntityName": "u"}]), "0x8006088a", "EntityName"),
    (query(TopCount=0), "0x80041108", "at least 1"),
    (query(TopCount="5"), "0x80048d19", "Edm.Int32"),
    (query(TopCount=2 ** 31), "0x80048d19", "32-bit"),
    (query(TopCount=5, PageInfo={"Count": 5}), "0x80041108", "TopCount"),
    (query(PageInfo={"Count": -1}), "0x80041108", "negative"),
    (query(PageInfo={"Size": 5}), "0x80048d19", "PagingInfo"),
    (query(SubQueryExpression={"EntityName": "account"}), "0x8006088a", "SubQueryExpression"),
    (query(DataSource="retained"), "0x8006088a", "retained"),
    (query(LinkEntities=[{"LinkToEntityName": "systemuser", "LinkToAttributeName": "systemuserid"}]), "0x80040203",
     "'LinkFromAttributeName'"),
    (query(LinkEntities=[{"LinkFromAttributeName": "createdby", "LinkToAttributeName": "systemuserid"}]), "0x80041102",
     "'LinkToEntityName'"),
    (query(LinkEntities=[{"LinkFromEntityName": "account", "LinkFromAttributeName": "createdby",
                          "LinkToEntityName": "systemuser", "LinkToAttributeName": "systemuserid"}]), "0x80041102",
     "starts from ('asyncoperation')"),
    (query(LinkEntities=[{"LinkFromAttributeName": "createdby", "LinkToEntityName": "systemuser",
                          "LinkToAttributeName": "systemuserid", "JoinOperator": "Exists"}]), "0x8006088a", "Exists"),
    (query(LinkEntities=[{"LinkFromAttributeName": "createdby", "LinkToEntityName": "systemuser",
                          "LinkToAttributeName": "systemuserid", "JoinOperator": "Sideways"}]), "0x80048d19",
     "JoinOperator"),
    (query(LinkEntities=[{"LinkFromAttributeName": "createdby", "LinkToEntityName": "systemuser",
                          "LinkToAttributeName": "systemuserid", "EntityAlias": "1u"}]), "0x80041109", "not valid"),
    (query(LinkEntities=[{"LinkFromAttributeName": a, "LinkToEntityName": "systemuser",
                          "LinkToAttributeName": "systemuserid", "EntityAlias": "u"} for a in ("createdby", "modifiedby")]),
     "0x80041109", "more than one"),
    (query(LinkEntities={}), "0x80048d19", "JSON array"),
])
def test_refusals(obj, code, fragment):
    error = refusal(obj)
    assert error.code == code, error.message
    assert fragment in error.message


def test_nesting_is_bounded():
    deep: dict = {"Conditions": [condition("name", "Null")]}
    for _ in range(MAX_DEPTH + 1):
        deep = {"Filters": [deep]}
    assert refusal(query(Criteria=deep)).code == "0x80040203"
    link: dict = {"LinkFromAttributeName": "a", "LinkToEntityName": "asyncoperation", "LinkToAttributeName": "b"}
    for _ in range(MAX_DEPTH + 1):
        link = {**link, "LinkEntities": [dict(link)]}
    assert "nests more than" in refusal(query(LinkEntities=[link])).message
