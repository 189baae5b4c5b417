"""FetchXML text -> `ast.Fetch` and back: the documented queries, every element and operator,
what the schema refuses, hostile documents (quick 400s, nothing fetched or expanded), and the
printer's round trip. No binder, no database."""

from __future__ import annotations

import time
from xml.sax.saxutils import quoteattr

import pytest

from odata_emulator.errors import FetchXmlError
from odata_emulator.query import ast
from odata_emulator.query.fetchxml.parse import (
    KNOWN_UNSUPPORTED,
    MAX_DEPTH,
    MAX_FETCHXML_LENGTH,
    OPERATORS,
    parse_fetchxml,
)
from odata_emulator.query.fetchxml.printer import to_fetchxml
from tests.helpers import DOCUMENTED

COLUMNS_01 = [
    "asyncoperationid", "completedon", "createdby", "createdon", "data", "dependencytoken", "depth", "errorcode",
    "executiontimespan", "friendlymessage", "iswaitingforevent", "message", "messagename", "modifiedby",
    "modifiedon", "name", "operationtype", "ownerid", "owningbusinessunit", "owningextensionid", "owningteam",
    "owninguser", "postponeuntil", "primaryentitytype", "recurrencepattern", "recurrencestarttime",
    "regardingobjectid", "retrycount", "sequence", "startedon", "statecode", "utcconversiontimezonecode",
    "workflowstagename",
]
GROUP_KEYS = [ast.FetchAttribute("statecode", "statecode", groupby=True),
              ast.FetchAttribute("statuscode", "statuscode", groupby=True),
              ast.FetchAttribute("operationtype", "operationtype", groupby=True),
              ast.FetchAttribute("asyncoperationid", "count", aggregate="count")]


def fetch(inner: str, **attributes: str) -> str:
    attrs = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in attributes.items())
    return f"<fetch{attrs}><entity name='asyncoperation'>{inner}</entity></fetch>"


def condition_of(xml: str) -> ast.Node:
    return parse_fetchxml(fetch(f"<filter>{xml}</filter>")).filter


def refusal(text: str) -> FetchXmlError:
    with pytest.raises(FetchXmlError) as caught:
        parse_fetchxml(text)
    return caught.value


def conditions(node) -> list:
    """The leaves of an and/or tree, left to right."""
    if isinstance(node, ast.BinaryOp):
        return conditions(node.left) + conditions(node.right)
    return [node]


# ------------------------------------------------------------------------------------ the documented queries


def test_documented_system_jobs_query_parses_to_its_attributes_in_order():
    parsed = parse_fetchxml((DOCUMENTED / "01-retrieve-system-jobs.fetchxml.xml").read_text(encoding="utf-8"))
    assert parsed.entity == "asyncoperation"
    assert parsed.top == 1000 and parsed.count is None and parsed.page is None
    assert [a.name for a in parsed.attributes] == COLUMNS_01
    assert all(a.alias is None and a.aggregate is None and not a.groupby for a in parsed.attributes)
    assert parsed.filter is None and parsed.links == () and parsed.orders == ()
    assert not parsed.aggregate and not parsed.distinct and not parsed.all_attributes


@pytest.mark.parametrize("name, expected_filter", [
    ("02-jobs-by-state-status-type", None),
    ("03-waiting-jobs-by-count", ast.Condition("statecode", "Equal", ("1",))),
    ("04-workflows-by-count", ast.Condition("operationtype", "Equal", ("10",))),
    ("05-jobs-waiting-for-resources", ast.BinaryOp("and", ast.Condition("statecode", "Equal", ("0",)),
                                                   ast.Condition("statuscode", "Equal", ("0",)))),
])
def test_documented_aggregate_queries_parse_to_groups_a_count_and_an_order(name, expected_filter):
    parsed = parse_fetchxml((DOCUMENTED / f"{name}.fetchxml.xml").read_text(encoding="utf-8"))
    assert parsed.aggregate and parsed.entity == "asyncoperation"
    assert list(parsed.attributes) == GROUP_KEYS
    assert parsed.orders == (ast.FetchOrder(alias="count", descending=True),)
    assert parsed.filter == expected_filter


# ------------------------------------------------------------------------------------ elements


def test_fetch_attributes():
    parsed = parse_fetchxml(fetch("<attribute name='name'/>", count="25", page="3", distinct="true",
                                  returntotalrecordcount="1", no_lock="true", version="1.0", mapping="logical",
                                  output_format="xml-platform", paging_cookie="<cookie page='2'/>"))
    assert (parsed.count, parsed.page, parsed.top) == (25, 3, None)
    assert parsed.distinct and parsed.total_record_count and not parsed.aggregate
    assert parsed.paging_cookie == "<cookie page='2'/>"
    aggregate = parse_fetchxml(fetch("<attribute name='name' alias='n' aggregate='count'/>", aggregate="1",
                                     aggregatelimit="10", distinct="0"))
    assert aggregate.aggregate and aggregate.aggregate_limit == 10 and not aggregate.distinct


def test_attribute_alias_aggregate_groupby_dategrouping_distinct():
    parsed = parse_fetchxml(fetch(
        "<attribute name='createdon' alias='Week' groupby='true' dategrouping='week'/>"
        "<attribute name='errorcode' alias='codes' aggregate='countcolumn' distinct='true'/>"
        "<attribute name='retrycount' alias='tries' aggregate='sum'/>", aggregate="true"))
    assert parsed.attributes == (
        ast.FetchAttribute("createdon", "Week", None, True, "week", False),
        ast.FetchAttribute("errorcode", "codes", "countcolumn", False, None, True),
        ast.FetchAttribute("retrycount", "tries", "sum"),
    )


def test_all_attributes_and_orders():
    parsed = parse_fetchxml(fetch("<all-attributes/><order attribute='createdon' descending='true'/>"
                                  "<order alias='x'/><order attribute='name' descending='false'/>"))
    assert parsed.all_attributes
    assert parsed.orders == (ast.FetchOrder("createdon", None, True), ast.FetchOrder(None, "x", False),
                             ast.FetchOrder("name", None, False))


def test_order_directly_under_fetch_is_accepted_and_ignored():
    # The schema allows it "for the Reports view only".
    parsed = parse_fetchxml("<fetch><order attribute='name'/><entity name='asyncoperation'/></fetch>")
    assert parsed.orders == ()


def test_link_entities_nest_with_their_own_parts():
    parsed = parse_fetchxml(fetch(
        "<attribute name='name'/>"
        "<link-entity name='systemuser' from='systemuserid' to='createdby' alias='u' link-type='outer'>"
        "  <attribute name='fullname' alias='who'/>"
        "  <order attribute='fullname' descending='true'/>"
        "  <filter type='or'><condition attribute='fullname' operator='like' value='A%'/>"
        "    <condition attribute='isdisabled' operator='eq' value='0'/></filter>"
        "  <link-entity name='businessunit' from='businessunitid' to='businessunitid'><all-attributes/></link-entity>"
        "</link-entity>"))
    (link,) = parsed.links
    assert (link.name, link.from_attribute, link.to_attribute, link.alias, link.link_type) == \
        ("systemuser", "systemuserid", "createdby", "u", "outer")
    assert link.attributes == (ast.FetchAttribute("fullname", "who"),)
    assert link.orders == (ast.FetchOrder("fullname", None, True),)
    assert link.filter == ast.BinaryOp("or", ast.Condition("fullname", "Like", ("A%",)),
                                       ast.Condition("isdisabled", "Equal", ("0",)))
    (inner,) = link.links
    assert (inner.name, inner.alias, inner.link_type, inner.all_attributes) == ("businessunit", None, "inner", True)


def test_filters_nest_and_default_to_and():
    node = condition_of(
        "<condition attribute='statecode' operator='eq' value='3'/>"
        "<filter type='or'>"
        "  <condition attribute='statuscode' operator='eq' value='31'/>"
        "  <filter><condition attribute='retrycount' operator='gt' value='2'/>"
        "          <condition attribute='depth' operator='le' value='1'/></filter>"
        "</filter>")
    assert node == ast.BinaryOp(
        "and", ast.Condition("statecode", "Equal", ("3",)),
        ast.BinaryOp("or", ast.Condition("statuscode", "Equal", ("31",)),
                     ast.BinaryOp("and", ast.Condition("retrycount", "GreaterThan", ("2",)),
                                  ast.Condition("depth", "LessEqual", ("1",)))))


def test_empty_filters_vanish_and_several_filters_are_anded():
    assert condition_of("<filter/><filter type='or'></filter>") is None
    parsed = parse_fetchxml(fetch("<filter><condition attribute='depth' operator='eq' value='1'/></filter>"
                                  "<filter><condition attribute='depth' operator='eq' value='2'/></filter>"))
    assert parsed.filter == ast.BinaryOp("and", ast.Condition("depth", "Equal", ("1",)),
                                         ast.Condition("depth", "Equal", ("2",)))


def test_a_long_filter_is_balanced_not_a_chain():
    node = condition_of("".join(f"<condition attribute='depth' operator='eq' value='{i}'/>" for i in range(1024)))
    depth = 0
    while isinstance(node, ast.BinaryOp):
        node, depth = node.left, depth + 1
    assert depth == 10
    assert [c.values[0] for c in conditions(condition_of(
        "".join(f"<condition attribute='depth' operator='eq' value='{i}'/>" for i in range(7))))] == \
        [str(i) for i in range(7)]


def test_values_come_from_the_value_attribute_and_value_elements():
    assert condition_of("<condition attribute='statecode' operator='in'><value>0</value><value uiname='x'>1</value>"
                        "</condition>") == ast.Condition("statecode", "In", ("0", "1"))
    assert condition_of("<condition attribute='name' operator='eq' value=''/>") == ast.Condition("name", "Equal", ("",))
    assert condition_of("<condition attribute='name' operator='null'/>") == ast.Condition("name", "Null", ())
    assert condition_of("<condition entityname='u' attribute='fullname' operator='not-null'/>") == \
        ast.Condition("fullname", "NotNull", (), "u")
    assert condition_of("<condition attribute='name' operator='eq' value='a &amp; &lt;b&gt; &quot;c&quot;'/>") == \
        ast.Condition("name", "Equal", ('a & <b> "c"',))


def test_an_empty_value_attribute_beside_value_elements_is_ignored():
    # As FetchXML Builder writes `in` conditions; Dataverse ignores the empty attribute.
    assert condition_of("<condition attribute='statecode' operator='in' value=''><value>0</value><value>1</value>"
                        "</condition>") == ast.Condition("statecode", "In", ("0", "1"))
    assert condition_of("<condition attribute='statecode' operator='in' value='2'><value>0</value></condition>") == \
        ast.Condition("statecode", "In", ("2", "0"))


OPERATOR_TABLE = [
    ("eq", "Equal"), ("ne", "NotEqual"), ("neq", "NotEqual"), ("gt", "GreaterThan"), ("ge", "GreaterEqual"),
    ("lt", "LessThan"), ("le", "LessEqual"), ("like", "Like"), ("not-like", "NotLike"),
    ("begins-with", "BeginsWith"), ("not-begin-with", "DoesNotBeginWith"), ("ends-with", "EndsWith"),
    ("not-end-with", "DoesNotEndWith"), ("in", "In"), ("not-in", "NotIn"), ("between", "Between"),
    ("not-between", "NotBetween"), ("null", "Null"), ("not-null", "NotNull"),
    ("last-x-hours", "LastXHours"), ("next-x-hours", "NextXHours"), ("last-x-days", "LastXDays"),
    ("next-x-days", "NextXDays"), ("last-x-weeks", "LastXWeeks"), ("next-x-weeks", "NextXWeeks"),
    ("last-x-months", "LastXMonths"), ("next-x-months", "NextXMonths"), ("last-x-years", "LastXYears"),
    ("next-x-years", "NextXYears"),
    ("olderthan-x-minutes", "OlderThanXMinutes"), ("olderthan-x-hours", "OlderThanXHours"),
    ("olderthan-x-days", "OlderThanXDays"), ("olderthan-x-weeks", "OlderThanXWeeks"),
    ("olderthan-x-months", "OlderThanXMonths"), ("olderthan-x-years", "OlderThanXYears"),
    ("older-than-x-minutes", "OlderThanXMinutes"), ("older-than-x-hours", "OlderThanXHours"),
    ("older-than-x-days", "OlderThanXDays"),
    ("today", "Today"), ("yesterday", "Yesterday"), ("tomorrow", "Tomorrow"), ("this-week", "ThisWeek"),
    ("last-week", "LastWeek"), ("next-week", "NextWeek"), ("this-month", "ThisMonth"), ("last-month", "LastMonth"),
    ("next-month", "NextMonth"), ("this-year", "ThisYear"), ("last-year", "LastYear"), ("next-year", "NextYear"),
    ("last-seven-days", "Last7Days"), ("next-seven-days", "Next7Days"),
    ("on", "On"), ("on-or-after", "OnOrAfter"), ("on-or-before", "OnOrBefore"),
    ("eq-userid", "EqualUserId"), ("ne-userid", "NotEqualUserId"), ("eq-businessid", "EqualBusinessId"),
    ("ne-businessid", "NotEqualBusinessId"),
]


@pytest.mark.parametrize("written, name", OPERATOR_TABLE)
def test_operators_become_condition_operator_names(written, name):
    assert condition_of(f"<condition attribute='createdon' operator='{written}' value='1'/>") == \
        ast.Condition("createdon", name, ("1",))


def test_the_operator_table_is_complete():
    assert set(OPERATORS) == {w for w, _ in OPERATOR_TABLE} | {"older-than-x-weeks", "older-than-x-months",
                                                                "older-than-x-years"}


# ------------------------------------------------------------------------------------ schema errors

SCHEMA_ERRORS = [
    # (document, code, message)
    ("<query/>", "0x80041125", "The root element of a FetchXML query is 'fetch', not 'query'."),
    ("<fetch/>", "0x8004111c", "A FetchXML query has exactly one 'entity' element."),
    ("<fetch><entity name='asyncoperation'/><entity name='asyncoperation'/></fetch>", "0x80041117",
     "A FetchXML query has exactly one 'entity' element."),
    ("<fetch><entity/></fetch>", "0x8004111c", "The 'entity' element requires the 'name' attribute."),
    ("<fetch><entity name='  '/></fetch>", "0x8004111c", "The 'entity' element requires the 'name' attribute."),
    ("<fetch><filter/><entity name='asyncoperation'/></fetch>", "0x8004111c",
     "The element 'filter' is not valid inside 'fetch'."),
    (fetch("<bogus/>"), "0x8004111c", "The element 'bogus' is not valid inside 'entity'."),
    (fetch("", bogus="1"), "0x8004111c", "The 'bogus' attribute is not declared on the 'fetch' element."),
    (fetch("<attribute name='name' bogus='1'/>"), "0x8004111c",
     "The 'bogus' attribute is not declared on the 'attribute' element."),
    (fetch("<attribute/>"), "0x8004111c", "The 'attribute' element requires the 'name' attribute."),
    (fetch("<attribute name='name'><x/></attribute>"), "0x8004111c", "The 'attribute' element has no child elements."),
    (fetch("<all-attributes x='1'/>"), "0x8004111c", "The 'x' attribute is not declared on the 'all-attributes' element."),
    (fetch("<filter><condition attribute='name' operator='bogus' value='x'/></filter>"), "0x80041120",
     "The condition operator 'bogus' is not valid."),
    (fetch("<filter><condition attribute='name' value='x'/></filter>"), "0x8004111c",
     "The 'condition' element requires the 'operator' attribute."),
    (fetch("<filter><condition operator='null'/></filter>"), "0x8004111c",
     "The 'condition' element requires the 'attribute' attribute."),
    (fetch("<filter><condition attribute='name' operator='in'><x/></condition></filter>"), "0x8004111c",
     "The element 'x' is not valid inside 'condition'."),
    (fetch("<filter><condition attribute='name' operator='in'><value><b/></value></condition></filter>"),
     "0x8004111c", "The 'value' element holds text only."),
    (fetch("<filter type='xor'/>"), "0x80041122", "The filter type 'xor' is not valid: use 'and' or 'or'."),
    (fetch("<filter><order attribute='name'/></filter>"), "0x8004111c", "The element 'order' is not valid inside 'filter'."),
    (fetch("<filter><condition attribute='createdby' operator='eq-useroruserteams'/></filter>"), "0x8006088a",
     "The condition operator 'eq-useroruserteams' is not supported by the emulator."),
    (fetch("<filter><condition attribute='name' operator='eq' valueof='message'/></filter>"), "0x8006088a",
     "The 'valueof' attribute of 'condition' is not supported by the emulator."),
    (fetch("<order/>"), "0x80041121", "An 'order' element names either an 'attribute' or an 'alias'."),
    (fetch("<order attribute='name' alias='n'/>"), "0x80041121",
     "An 'order' element names either an 'attribute' or an 'alias'."),
    (fetch("<order attribute='name' descending='maybe'/>"), "0x8004111c",
     "The 'descending' attribute of 'order' must be 'true' or 'false', not 'maybe'."),
    (fetch("", distinct="yes"), "0x8004111c", "The 'distinct' attribute of 'fetch' must be 'true' or 'false', not 'yes'."),
    (fetch("", top="0"), "0x80041108", "The 'top' attribute of 'fetch' must be a whole number of at least 1, not '0'."),
    (fetch("", top="-1"), "0x80041108", "The 'top' attribute of 'fetch' must be a whole number of at least 1, not '-1'."),
    (fetch("", count="ten"), "0x80041108",
     "The 'count' attribute of 'fetch' must be a whole number of at least 1, not 'ten'."),
    (fetch("", page="2147483648"), "0x80041108",
     "The 'page' attribute of 'fetch' must be a whole number of at least 1, not '2147483648'."),
    (fetch("", top="5", page="1"), "0x80041108",
     "The 'top' attribute can't be specified with paging attribute 'page' or 'count'."),
    (fetch("", top="5", count="5"), "0x80041108",
     "The 'top' attribute can't be specified with paging attribute 'page' or 'count'."),
    (fetch("<attribute name='name' alias='1st'/>"), "0x80041109",
     "The alias '1st' is not valid: an alias starts with a letter or '_' and holds only letters, digits and '_'."),
    (fetch("<attribute name='name' alias='n' aggregate='median'/>", aggregate="true"), "0x8004111a",
     "The aggregate 'median' is not valid: use one of avg, count, countcolumn, max, min, sum."),
    (fetch("<attribute name='createdon' alias='d' groupby='true' dategrouping='hour'/>", aggregate="true"),
     "0x8004111a", ("The date grouping 'hour' is not valid: use one of day, fiscal-period, fiscal-year, month, "
                   "quarter, week, year.")),
    (fetch("<link-entity name='systemuser' to='createdby'/>"), "0x8004111c",
     "The 'link-entity' element requires the 'from' attribute."),
    (fetch("<link-entity name='systemuser' from='systemuserid'/>"), "0x8004111c",
     "The 'link-entity' element requires the 'to' attribute."),
    (fetch("<link-entity name='systemuser' from='systemuserid' to='createdby' link-type='left'/>"), "0x80041117",
     "The link-type 'left' is not valid."),
    (fetch("<link-entity name='systemuser' from='systemuserid' to='createdby' alias='a.b'/>"), "0x80041109",
     "The alias 'a.b' is not valid: an alias starts with a letter or '_' and holds only letters, digits and '_'."),
    ("", "0x80041124", "The FetchXML document is empty."),
    ("   \n ", "0x80041124", "The FetchXML document is empty."),
]


@pytest.mark.parametrize("text, code, message", SCHEMA_ERRORS)
def test_schema_errors(text, code, message):
    error = refusal(text)
    assert (error.code, error.message, error.status) == (code, message, 400)


@pytest.mark.parametrize("text, reason", [
    ("<fetch><entity name='asyncoperation'>", "No element found. Line 1, position 38."),
    ("<fetch><entity name='asyncoperation'></fetch>", "Mismatched tag. Line 1, position 40."),
    ("not xml at all", "Syntax error. Line 1, position 1."),
    ("{\"fetch\": 1}", "Not well-formed (invalid token). Line 1, position 1."),
    ("<fetch><entity name='asyncoperation'/></fetch><fetch/>", "Junk after document element. Line 1, position 47."),
    ("<fetch><entity name='asyncoperation'>&#0;</entity></fetch>",
     "Reference to invalid character number. Line 1, position 38."),
    ("<fetch><entity name='asyncoperation'>&nbsp;</entity></fetch>", "Undefined entity. Line 1, position 38."),
    ("<fetch><entity name='asyncoperation' name='x'/></fetch>", "Duplicate attribute. Line 1, position 38."),
])
def test_malformed_xml_names_the_position(text, reason):
    error = refusal(text)
    assert error.code == "0x80040203"
    assert error.message == f"The FetchXML document is not well-formed XML: {reason}"


# ------------------------------------------------------------------------------------ hostile documents

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1 if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]><fetch><entity name='asyncoperation'><filter><condition attribute='name' operator='eq' value='&lol9;'/>"
      "</filter></entity></fetch>")
DTD_REFUSED = "The FetchXML document declares a DTD or entities, which are not allowed."
HOSTILE = [
    ("billion laughs", BILLION_LAUGHS, "0x80040203", DTD_REFUSED),
    ("external entity", ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><fetch><entity '
                        "name='asyncoperation'><filter><condition attribute='name' operator='eq' value='&e;'/>"
                        "</filter></entity></fetch>"), "0x80040203", DTD_REFUSED),
    ("parameter entity", '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><fetch/>',
     "0x80040203", DTD_REFUSED),
    ("external DTD", ('<!DOCTYPE fetch SYSTEM "http://127.0.0.1:9/fetch.dtd"><fetch><entity name="asyncoperation"/>'
                     "</fetch>"), "0x80040203", DTD_REFUSED),
    ("internal DTD", "<!DOCTYPE fetch [<!ELEMENT fetch ANY>]><fetch><entity name='asyncoperation'/></fetch>",
     "0x80040203", DTD_REFUSED),
    ("over the size bound", fetch("<attribute name='name'/>" * (MAX_FETCHXML_LENGTH // 24)), "0x80040203",
     f"The FetchXML document is longer than {MAX_FETCHXML_LENGTH} characters."),
    ("deep filters", fetch("<filter>" * 5000 + "</filter>" * 5000), "0x80040203",
     f"The FetchXML query nests more than {MAX_DEPTH} levels."),
    ("deep link-entities", fetch("<link-entity name='systemuser' from='systemuserid' to='createdby'>" * 40
                                 + "</link-entity>" * 40), "0x80040203",
     f"The FetchXML query nests more than {MAX_DEPTH} levels."),
    ("deep unknown elements", fetch("<a>" * 15000 + "</a>" * 15000), "0x8004111c",
     "The element 'a' is not valid inside 'entity'."),
    ("deep root", "<a>" * 18000 + "</a>" * 18000, "0x80041125",
     "The root element of a FetchXML query is 'fetch', not 'a'."),
]


@pytest.mark.parametrize("text, code, message", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_documents_are_refused_quickly(text, code, message):
    started = time.perf_counter()
    error = refusal(text)
    assert time.perf_counter() - started < 1.0
    assert (error.code, error.message, error.status) == (code, message, 400)


def test_nesting_up_to_the_bound_is_fine():
    nested = "<filter>" * (MAX_DEPTH - 2) + "<condition attribute='depth' operator='eq' value='1'/>" \
        + "</filter>" * (MAX_DEPTH - 2)
    assert parse_fetchxml(fetch(nested)).filter == ast.Condition("depth", "Equal", ("1",))


def test_a_document_at_the_size_bound_parses():
    padding = MAX_FETCHXML_LENGTH - len(fetch(""))
    text = fetch(" " * padding)
    assert len(text) == MAX_FETCHXML_LENGTH
    assert parse_fetchxml(text).entity == "asyncoperation"


# ------------------------------------------------------------------------------------ printing

ROUND_TRIPS = [
    (DOCUMENTED / "01-retrieve-system-jobs.fetchxml.xml").read_text(encoding="utf-8"),
    (DOCUMENTED / "05-jobs-waiting-for-resources.fetchxml.xml").read_text(encoding="utf-8"),
    fetch("<all-attributes/><order attribute='createdon' descending='true'/>", count="50", page="2",
          returntotalrecordcount="true", paging_cookie='<cookie page="1"><asyncoperationid last="{A}" /></cookie>'),
    fetch("<attribute name='name' alias='title'/>"
          "<filter type='or'><condition attribute='statecode' operator='in'><value>0</value><value>1</value>"
          "</condition><condition attribute='retrycount' operator='between'><value>1</value><value>3</value>"
          "</condition><filter><condition attribute='name' operator='like' value='%a&amp;b&lt;c&quot;%'/>"
          "<condition attribute='createdon' operator='olderthan-x-days' value='3'/></filter></filter>"
          "<link-entity name='systemuser' from='systemuserid' to='createdby' alias='u' link-type='outer'>"
          "<attribute name='fullname'/><order attribute='fullname'/>"
          "<filter><condition attribute='isdisabled' operator='eq' value='0'/></filter>"
          "<link-entity name='businessunit' from='businessunitid' to='businessunitid'><all-attributes/>"
          "</link-entity></link-entity>"
          "<filter><condition entityname='u' attribute='fullname' operator='not-null'/>"
          "<condition attribute='statecode' operator='in'><value>3</value></condition></filter>", top="10",
          distinct="true"),
    fetch("<attribute name='createdon' alias='m' groupby='true' dategrouping='month'/>"
          "<attribute name='errorcode' alias='c' aggregate='countcolumn' distinct='true'/>"
          "<order alias='m' descending='true'/>", aggregate="true", aggregatelimit="100"),
]


@pytest.mark.parametrize("text", ROUND_TRIPS)
def test_printing_then_parsing_gives_the_same_tree(text):
    parsed = parse_fetchxml(text)
    printed = to_fetchxml(parsed)
    assert parse_fetchxml(printed) == parsed
    assert to_fetchxml(parse_fetchxml(printed)) == printed


def test_the_printer_writes_the_schema_spelling_of_operators():
    printed = to_fetchxml(parse_fetchxml(fetch(
        "<filter><condition attribute='createdon' operator='older-than-x-hours' value='2'/>"
        "<condition attribute='statecode' operator='neq' value='3'/></filter>")))
    assert "operator=\"olderthan-x-hours\"" in printed and "operator=\"ne\"" in printed


def test_nested_filters_of_one_kind_are_one_filter():
    # and/or are associative: nesting a filter in one of its own kind changes nothing, and the
    # tree has one shape for both (so the printer's flat output parses back to the same tree).
    nested = parse_fetchxml(fetch("<filter><condition attribute='depth' operator='eq' value='1'/>"
                                  "<filter><condition attribute='depth' operator='eq' value='2'/>"
                                  "<condition attribute='depth' operator='eq' value='3'/></filter></filter>"
                                  "<filter><condition attribute='depth' operator='eq' value='4'/></filter>"))
    flat = parse_fetchxml(fetch("<filter>" + "".join(f"<condition attribute='depth' operator='eq' value='{i}'/>"
                                                     for i in range(1, 5)) + "</filter>"))
    assert nested.filter == flat.filter
    assert to_fetchxml(nested).count("<filter") == 1
    single = parse_fetchxml(fetch("<filter type='or'><filter><filter type='or'>"
                                  "<condition attribute='depth' operator='eq' value='1'/></filter></filter></filter>"))
    assert single.filter == ast.Condition("depth", "Equal", ("1",))


def test_known_unsupported_operators_are_not_evaluated():
    assert not set(KNOWN_UNSUPPORTED) & set(OPERATORS)
