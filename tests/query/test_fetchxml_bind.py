"""FetchXML through the binder and the compiler: names, links, conditions, orders, distinct and
aggregates as SQL text (no database), the QueryBuilder errors Dataverse answers FetchXML with,
and the date groupings checked against an independent computation of SQL Server's DATEPART."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from sqlalchemy import Integer, column
from sqlalchemy.dialects import sqlite

from odata_emulator.caller import Caller
from odata_emulator.errors import DataverseError
from odata_emulator.model import MODEL
from odata_emulator.query import bound as b
from odata_emulator.query.compile_apply import date_group
from odata_emulator.query.compiled import CompiledQuery
from odata_emulator.query.compiler import Compiler
from odata_emulator.query.execute import Context, parameters
from odata_emulator.query.fetchxml.bind import MAX_LINK_ENTITIES, FetchBinder
from odata_emulator.query.fetchxml.parse import parse_fetchxml
from odata_emulator.store.values import to_epoch
from tests.helpers import datepart, flat, where_of

ASYNC = MODEL.entity("asyncoperation")
USER = MODEL.entity("systemuser")
G1 = "6a1f0c44-aaaa-4bbb-8ccc-000000000001"
KEY_AND_ETAG = "asyncoperation.asyncoperationid AS c_asyncoperationid, asyncoperation.versionnumber AS c_versionnumber"
BY_KEY = "ORDER BY asyncoperation.asyncoperationid ASC"
USER_LINK = "<link-entity name='systemuser' from='systemuserid' to='createdby' alias='u'{extra}>{inner}</link-entity>"


def fetch(inner: str = "", entity: str = "asyncoperation", **attributes: str) -> str:
    attrs = "".join(f" {k}='{v}'" for k, v in attributes.items())
    return f"<fetch{attrs}><entity name='{entity}'>{inner}</entity></fetch>"


def user_link(inner: str = "", **attributes: str) -> str:
    return USER_LINK.format(extra="".join(f" {k.replace('_', '-')}='{v}'" for k, v in attributes.items()),
                            inner=inner)


def bind(text: str, *, entity=ASYNC, count: bool = False) -> b.BoundFetch:
    return FetchBinder(MODEL, entity).bind_fetch(parse_fetchxml(text), count=count)


def compile_fetch(text: str, *, entity=ASYNC, annotations: bool = False) -> CompiledQuery:
    return Compiler(MODEL, entity, annotations).compile_fetch(bind(text, entity=entity))


def sql(text: str, **kw) -> str:
    """SQLite SQL with every bind parameter rendered inline."""
    statement = compile_fetch(text, **kw).statement
    return flat(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def condition_sql(condition: str) -> str:
    return where_of(sql(fetch(f"<attribute name='name'/><filter>{condition}</filter>")))


def refusal(text: str, *, entity=ASYNC) -> DataverseError:
    with pytest.raises(DataverseError) as caught:
        compile_fetch(text, entity=entity)
    return caught.value


# ------------------------------------------------------------------------------------ columns


def test_attributes_are_named_as_the_web_api_names_them_and_ordered_by_the_key():
    compiled = compile_fetch(fetch("<attribute name='name'/><attribute name='createdby'/>"))
    assert flat(compiled.statement.compile(dialect=sqlite.dialect())) == (
        f"SELECT asyncoperation.name AS f0, asyncoperation.createdby AS f1, {KEY_AND_ETAG} FROM asyncoperation {BY_KEY}")
    shape = compiled.shape
    assert [(f.name, f.label, f.source) for f in shape.fields] == [("name", "f0", None), ("_createdby_value", "f1", None)]
    assert (shape.key_label, shape.key_selected, shape.etag_label) == ("c_asyncoperationid", False, "c_versionnumber")
    assert [(o.label, o.cookie_name, o.descending) for o in compiled.order] == [
        ("c_asyncoperationid", "asyncoperationid", False)]
    assert bind(fetch("<attribute name='name'/><attribute name='createdby'/>")).context_items == \
        ("name", "_createdby_value")


def test_the_selected_key_is_not_selected_twice():
    compiled = compile_fetch(fetch("<attribute name='asyncoperationid'/><attribute name='name'/>"))
    assert compiled.shape.key_selected and compiled.shape.key_label == "f0"
    assert "AS c_asyncoperationid" not in flat(compiled.statement.compile(dialect=sqlite.dialect()))


def test_an_entity_without_attributes_returns_every_column_as_all_attributes_does():
    everything = bind(fetch("<all-attributes/>"))
    readable = [a.property_name for a in ASYNC.attributes if a.in_webapi and a.valid_for_read]
    assert [c.name for c in everything.columns] == readable
    assert "workflowstate" not in readable and "versionnumber" not in readable
    assert bind(fetch("")).columns == everything.columns
    # ... with links too, but a link-entity without attributes adds none of its columns.
    linked = bind(fetch(user_link()))
    assert linked.columns == everything.columns


def test_duplicate_attributes_are_returned_once_and_aliases_rename():
    bound = bind(fetch("<attribute name='name'/><attribute name='name'/><attribute name='name' alias='title'/>"))
    assert [(c.name, c.source) for c in bound.columns] == [("name", None), ("title", "name")]
    assert bound.context_items == ("name",)


def test_link_entity_columns_are_alias_dot_column_with_their_logical_name():
    bound = bind(fetch("<attribute name='name'/>" + user_link(
        "<attribute name='fullname'/><attribute name='businessunitid'/><attribute name='fullname' alias='who'/>")))
    assert [(c.name, c.source, c.ref.entity.logical_name) for c in bound.columns] == [
        ("name", None, "asyncoperation"), ("u.fullname", "fullname", "systemuser"),
        ("u.businessunitid", "businessunitid", "systemuser"), ("who", "fullname", "systemuser")]
    all_columns = bind(fetch("<attribute name='name'/>" + user_link("<all-attributes/>")))
    assert [c.name for c in all_columns.columns][1:4] == ["u.systemuserid", "u.fullname", "u.firstname"]


def test_a_link_without_an_alias_gets_a_generated_one():
    bound = bind(fetch("<link-entity name='systemuser' from='systemuserid' to='createdby'><attribute name='fullname'/>"
                       "</link-entity><link-entity name='systemuser' from='systemuserid' to='modifiedby'>"
                       "<attribute name='fullname'/></link-entity>"))
    assert [c.name for c in bound.columns if c.ref.steps] == ["systemuser1.fullname", "systemuser2.fullname"]


# ------------------------------------------------------------------------------------ links


def test_an_inner_link_joins_and_keeps_only_rows_with_a_match():
    text = sql(fetch("<attribute name='name'/>" + user_link("<attribute name='fullname'/>")))
    assert text == (
        f"SELECT asyncoperation.name AS f0, j1.fullname AS f1, {KEY_AND_ETAG} FROM asyncoperation "
        "LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.createdby = j1.systemuserid "
        f"WHERE j1.systemuserid IS NOT NULL {BY_KEY}")


def test_an_outer_link_keeps_every_row():
    text = sql(fetch("<attribute name='name'/>" + user_link("<attribute name='fullname'/>", link_type="outer")))
    assert " WHERE " not in text
    assert "LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.createdby = j1.systemuserid" in text


def test_a_link_joins_even_when_nothing_is_selected_from_it():
    text = sql(fetch("<attribute name='name'/>" + user_link()))
    assert "LEFT OUTER JOIN systemuser AS j1" in text and where_of(text) == "j1.systemuserid IS NOT NULL"


def test_a_link_filter_belongs_to_the_join():
    outer = sql(fetch("<attribute name='name'/>" + user_link(
        "<filter type='or'><condition attribute='fullname' operator='eq' value='Alex Wu'/>"
        "<condition attribute='isdisabled' operator='eq' value='1'/></filter>", link_type="outer")))
    assert ("LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.createdby = j1.systemuserid "
            "AND (j1.fullname = 'Alex Wu' OR j1.isdisabled = 1)") in outer
    assert " WHERE " not in outer


def test_nested_links_join_from_their_parent():
    text = sql(fetch(user_link("<link-entity name='businessunit' from='businessunitid' to='businessunitid' "
                               "alias='bu' link-type='outer'><attribute name='name'/></link-entity>")))
    assert ("LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.createdby = j1.systemuserid "
            "LEFT OUTER JOIN businessunit AS j2 ON j1.businessunitid = j2.businessunitid") in text
    assert where_of(text) == "j1.systemuserid IS NOT NULL"


def test_a_condition_naming_a_link_alias_filters_the_rows():
    text = sql(fetch("<attribute name='name'/><link-entity name='team' from='teamid' to='owningteam' alias='t' "
                     "link-type='outer'/><filter><condition entityname='t' attribute='teamid' operator='null'/>"
                     "</filter>"))
    assert "LEFT OUTER JOIN team AS j1 ON asyncoperation.owningteam = j1.teamid" in text
    assert where_of(text) == "j1.teamid IS NULL"


def test_a_link_to_the_many_side_multiplies_rows():
    lookup = bind(fetch(user_link()))
    assert not lookup.multiplies
    jobs = bind(fetch("<attribute name='fullname'/><link-entity name='asyncoperation' from='createdby' "
                      "to='systemuserid' alias='a'><attribute name='name'/></link-entity>", entity="systemuser"),
                entity=USER)
    assert jobs.multiplies


def test_up_to_fifteen_link_entities():
    links = "".join(f"<link-entity name='systemuser' from='systemuserid' to='createdby' alias='u{i}' "
                    f"link-type='outer'/>" for i in range(MAX_LINK_ENTITIES))
    assert sql(fetch("<attribute name='name'/>" + links)).count("LEFT OUTER JOIN") == MAX_LINK_ENTITIES
    nested = "<link-entity name='systemuser' from='systemuserid' to='createdby' alias='n' link-type='outer'/>"
    error = refusal(fetch("<attribute name='name'/>" + links.replace("/>", ">" + nested + "</link-entity>", 1)))
    assert (error.code, error.message) == ("0x8004430d", "Number of link entities in query exceeded maximum limit.")


# ------------------------------------------------------------------------------------ conditions

CONDITIONS = [
    ("<condition attribute='retrycount' operator='eq' value='3'/>", "asyncoperation.retrycount = 3"),
    ("<condition attribute='retrycount' operator='ne' value='3'/>", "asyncoperation.retrycount != 3"),
    ("<condition attribute='retrycount' operator='neq' value='3'/>", "asyncoperation.retrycount != 3"),
    ("<condition attribute='retrycount' operator='gt' value=' +3 '/>", "asyncoperation.retrycount > 3"),
    ("<condition attribute='retrycount' operator='ge' value='-3'/>", "asyncoperation.retrycount >= -3"),
    ("<condition attribute='retrycount' operator='lt' value='3'/>", "asyncoperation.retrycount < 3"),
    ("<condition attribute='retrycount' operator='le' value='3'/>", "asyncoperation.retrycount <= 3"),
    ("<condition attribute='sequence' operator='gt' value='9223372036854775807'/>",
     "asyncoperation.sequence > 9223372036854775807"),
    ("<condition attribute='executiontimespan' operator='gt' value='0.25'/>", "asyncoperation.executiontimespan > 0.25"),
    ("<condition attribute='iswaitingforevent' operator='eq' value='true'/>", "asyncoperation.iswaitingforevent = 1"),
    ("<condition attribute='iswaitingforevent' operator='eq' value='0'/>", "asyncoperation.iswaitingforevent = 0"),
    ("<condition attribute='createdby' operator='eq' value='{0B1C6A96-B1F5-4AB2-8F4A-A46764E29B77}'/>",
     "asyncoperation.createdby = '0b1c6a96-b1f5-4ab2-8f4a-a46764e29b77'"),
    ("<condition attribute='createdon' operator='ge' value='2026-10-01T12:00:00Z'/>",
     f"asyncoperation.createdon >= {to_epoch(dt.datetime(2026, 10, 1, 12, tzinfo=dt.timezone.utc))}"),
    ("<condition attribute='name' operator='eq' value=\"O'Connor\"/>", "asyncoperation.name = 'O''Connor'"),
    ("<condition attribute='name' operator='like' value='%sync%'/>", "asyncoperation.name LIKE '%sync%'"),
    ("<condition attribute='name' operator='not-like' value='%sync%'/>", "asyncoperation.name NOT LIKE '%sync%'"),
    ("<condition attribute='name' operator='begins-with' value='Bulk'/>", "asyncoperation.name LIKE 'Bulk%'"),
    ("<condition attribute='name' operator='not-begin-with' value='Bulk'/>", "asyncoperation.name NOT LIKE 'Bulk%'"),
    ("<condition attribute='name' operator='ends-with' value='jobs'/>", "asyncoperation.name LIKE '%jobs'"),
    ("<condition attribute='name' operator='not-end-with' value='jobs'/>", "asyncoperation.name NOT LIKE '%jobs'"),
    ("<condition attribute='statecode' operator='in'><value>0</value><value>1</value></condition>",
     "asyncoperation.statecode IN (0, 1)"),
    ("<condition attribute='statecode' operator='not-in'><value>3</value></condition>",
     "(asyncoperation.statecode NOT IN (3))"),
    ("<condition attribute='retrycount' operator='between'><value>1</value><value>3</value></condition>",
     "asyncoperation.retrycount BETWEEN 1 AND 3"),
    ("<condition attribute='retrycount' operator='not-between'><value>1</value><value>3</value></condition>",
     "asyncoperation.retrycount NOT BETWEEN 1 AND 3"),
    ("<condition attribute='errorcode' operator='null'/>", "asyncoperation.errorcode IS NULL"),
    ("<condition attribute='errorcode' operator='not-null'/>", "asyncoperation.errorcode IS NOT NULL"),
    ("<condition attribute='createdon' operator='on' value='2026-10-01'/>",
     "asyncoperation.createdon >= 1790812800 AND asyncoperation.createdon < 1790899200"),
    ("<condition attribute='createdon' operator='on-or-after' value='2026-10-01T17:30:00Z'/>",
     "asyncoperation.createdon >= 1790812800"),
    ("<condition attribute='createdon' operator='on-or-before' value='2026-10-01'/>",
     "asyncoperation.createdon < 1790899200"),
]


@pytest.mark.parametrize("condition, expected", CONDITIONS)
def test_conditions_compile_to_sql(condition, expected):
    assert condition_sql(condition) == expected


def test_on_dates_are_whole_utc_days():
    # Independent: 2026-10-01T00:00:00Z as epoch seconds.
    assert dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() == 1790812800


def test_filters_keep_their_and_or_structure():
    assert condition_sql(
        "<condition attribute='statecode' operator='eq' value='3'/>"
        "<filter type='or'><condition attribute='statuscode' operator='eq' value='31'/>"
        "<condition attribute='retrycount' operator='gt' value='2'/></filter>") == (
        "asyncoperation.statecode = 3 AND (asyncoperation.statuscode = 31 OR asyncoperation.retrycount > 2)")


NOW = dt.datetime(2026, 11, 4, 15, 30, 45, tzinfo=dt.timezone.utc)  # a Wednesday
MIDNIGHT = dt.datetime(2026, 11, 4, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
CLOCK = [
    # (operator, value, lower bound or None, upper bound (exclusive) or None), as docs/deviations.md words them
    ("last-x-hours", "2", NOW - dt.timedelta(hours=2), NOW + dt.timedelta(seconds=1)),
    ("next-x-hours", "2", NOW, NOW + dt.timedelta(hours=2, seconds=1)),
    ("last-x-days", "3", MIDNIGHT - 3 * DAY, NOW + dt.timedelta(seconds=1)),
    ("next-x-days", "3", NOW, MIDNIGHT + 4 * DAY),
    ("olderthan-x-minutes", "90", None, NOW - dt.timedelta(minutes=90)),
    ("olderthan-x-hours", "5", None, NOW - dt.timedelta(hours=5)),
    ("olderthan-x-days", "2", None, MIDNIGHT - 2 * DAY),
    ("older-than-x-days", "2", None, MIDNIGHT - 2 * DAY),
    ("today", None, MIDNIGHT, MIDNIGHT + DAY),
    ("yesterday", None, MIDNIGHT - DAY, MIDNIGHT),
    ("tomorrow", None, MIDNIGHT + DAY, MIDNIGHT + 2 * DAY),
    ("this-week", None, MIDNIGHT - 3 * DAY, MIDNIGHT + 4 * DAY),  # weeks start on Sunday
    ("last-week", None, MIDNIGHT - 10 * DAY, MIDNIGHT - 3 * DAY),
    ("this-month", None, dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
     dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)),
    ("last-year", None, dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
     dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)),
]


@pytest.mark.parametrize("operator, value, lower, upper", CLOCK)
def test_clock_operators_bind_bounds_computed_at_execution(operator, value, lower, upper):
    written = f" value='{value}'" if value is not None else ""
    compiled = compile_fetch(fetch(f"<attribute name='name'/><filter><condition attribute='createdon' "
                                   f"operator='{operator}'{written}/></filter>"))
    rendered = compiled.statement.compile(dialect=sqlite.dialect())
    clauses = [c for c, bound in (("asyncoperation.createdon >= ?", lower), ("asyncoperation.createdon < ?", upper))
               if bound is not None]
    assert where_of(flat(rendered)) == " AND ".join(clauses)
    values = parameters(compiled.params, Context(NOW, Caller(G1, G1, G1)))
    assert sorted(values.values()) == sorted(to_epoch(x) for x in (lower, upper) if x is not None)


@pytest.mark.parametrize("operator, attribute, sql_operator, param", [
    ("eq-userid", "ownerid", "=", "caller_user"),
    ("ne-userid", "createdby", "!=", "caller_user"),
    ("eq-businessid", "owningbusinessunit", "=", "caller_businessunit"),
    ("ne-businessid", "owningbusinessunit", "!=", "caller_businessunit"),
])
def test_caller_operators_bind_the_callers_ids(operator, attribute, sql_operator, param):
    compiled = compile_fetch(fetch(f"<attribute name='name'/><filter><condition attribute='{attribute}' "
                                   f"operator='{operator}'/></filter>"))
    rendered = compiled.statement.compile(dialect=sqlite.dialect())
    assert where_of(flat(rendered)) == f"asyncoperation.{attribute} {sql_operator} ?"
    assert parameters(compiled.params, Context(NOW, Caller("me", "my-bu", "org"))) == \
        {param: "me" if param == "caller_user" else "my-bu"}


# ------------------------------------------------------------------------------------ orders and distinct


def test_orders_come_first_then_the_key():
    compiled = compile_fetch(fetch("<attribute name='name'/><order attribute='createdon' descending='true'/>"
                                   "<order attribute='name'/>"))
    assert flat(compiled.statement.compile(dialect=sqlite.dialect())).endswith(
        "ORDER BY asyncoperation.createdon DESC, asyncoperation.name ASC, asyncoperation.asyncoperationid ASC")
    assert [(o.cookie_name, o.descending) for o in compiled.order] == [
        ("createdon", True), ("name", False), ("asyncoperationid", False)]


def test_ordering_by_the_key_adds_no_second_key():
    compiled = compile_fetch(fetch("<attribute name='name'/><order attribute='asyncoperationid' descending='true'/>"))
    assert [(o.cookie_name, o.descending) for o in compiled.order] == [("asyncoperationid", True)]


def test_an_order_by_alias_and_by_a_link_column():
    compiled = compile_fetch(fetch("<attribute name='name' alias='title'/><order alias='title' descending='true'/>"
                                   + user_link("<attribute name='fullname'/><order attribute='fullname'/>")))
    text = flat(compiled.statement.compile(dialect=sqlite.dialect()))
    assert text.endswith("ORDER BY asyncoperation.name DESC, j1.fullname ASC, asyncoperation.asyncoperationid ASC")
    assert [o.cookie_name for o in compiled.order] == ["name", "u.fullname", "asyncoperationid"]


def test_distinct_rows_carry_no_key_and_order_on_every_column():
    compiled = compile_fetch(fetch("<attribute name='statecode'/><attribute name='statuscode'/>"
                                   "<order attribute='statuscode' descending='true'/>", distinct="true"))
    assert flat(compiled.statement.compile(dialect=sqlite.dialect())) == (
        "SELECT DISTINCT asyncoperation.statecode AS f0, asyncoperation.statuscode AS f1, asyncoperation.statuscode AS o0 "
        "FROM asyncoperation ORDER BY asyncoperation.statuscode DESC, asyncoperation.statecode ASC, "
        "asyncoperation.statuscode ASC")
    assert compiled.shape.key_label is None and compiled.shape.etag_label is None
    assert compiled.filtered is None


def test_paging_attributes_are_bound():
    bound = bind(fetch("<attribute name='name'/>", count="50", page="3", returntotalrecordcount="true"), count=True)
    assert (bound.page_size, bound.page, bound.top, bound.count, bound.total_record_count) == (50, 3, None, True, True)
    assert bind(fetch("<attribute name='name'/>")).page_size == 5000
    assert bind(fetch("<attribute name='name'/>", top="7")).page_size is None


# ------------------------------------------------------------------------------------ aggregates


def test_documented_aggregate_compiles_to_group_by_and_count():
    text = sql(fetch("<attribute name='statecode' alias='statecode' groupby='true'/>"
                     "<attribute name='statuscode' alias='statuscode' groupby='true'/>"
                     "<attribute name='asyncoperationid' alias='count' aggregate='count'/>"
                     "<filter><condition attribute='statecode' operator='eq' value='1'/></filter>"
                     "<order alias='count' descending='true'/>", aggregate="true"))
    counts = "emulator_group_count_asyncoperation"  # the store's kept counts (store/group_counts.py)
    assert text == (
        f"SELECT {counts}.statecode AS k0, {counts}.statuscode AS k1, sum({counts}.rowcount) AS a0 FROM {counts} "
        f"WHERE {counts}.statecode = 1 GROUP BY {counts}.statuscode "  # statecode: one value
        f"HAVING sum({counts}.rowcount) > 0 ORDER BY sum({counts}.rowcount) DESC")
    # With a link-entity, the rows (the link may filter or multiply them).
    text = sql(fetch("<attribute name='statecode' alias='statecode' groupby='true'/>"
                     "<attribute name='asyncoperationid' alias='count' aggregate='count'/>"
                     "<link-entity name='systemuser' from='systemuserid' to='owninguser'/>", aggregate="true"))
    assert counts not in text and "count(*) AS a0 FROM asyncoperation" in text


def test_aggregate_functions():
    compiled = compile_fetch(fetch(
        "<attribute name='errorcode' alias='c' aggregate='countcolumn'/>"
        "<attribute name='errorcode' alias='d' aggregate='countcolumn' distinct='true'/>"
        "<attribute name='retrycount' alias='s' aggregate='sum'/>"
        "<attribute name='executiontimespan' alias='a' aggregate='avg'/>"
        "<attribute name='depth' alias='lo' aggregate='min'/>"
        "<attribute name='createdon' alias='hi' aggregate='max'/>", aggregate="true"))
    assert flat(compiled.statement.compile(dialect=sqlite.dialect())) == (
        "SELECT count(asyncoperation.errorcode) AS a0, count(DISTINCT asyncoperation.errorcode) AS a1, "
        "sum(asyncoperation.retrycount) AS a2, avg(asyncoperation.executiontimespan) AS a3, "
        "min(asyncoperation.depth) AS a4, max(asyncoperation.createdon) AS a5 FROM asyncoperation")
    assert [(o.name, o.edm_type, o.source) for o in compiled.aggregate_outputs] == [
        ("c", "Edm.Int32", "errorcode"), ("d", "Edm.Int32", "errorcode"), ("s", "Edm.Int32", "retrycount"),
        ("a", "Edm.Decimal", "executiontimespan"), ("lo", "Edm.Int32", "depth"),
        ("hi", "Edm.DateTimeOffset", "createdon")]


def test_groups_are_ordered_by_their_keys_unless_an_order_says_otherwise():
    text = sql(fetch("<attribute name='operationtype' alias='t' groupby='true'/>"
                     "<attribute name='retrycount' alias='s' aggregate='sum'/>", aggregate="true"))
    assert text.endswith("GROUP BY asyncoperation.operationtype ORDER BY asyncoperation.operationtype ASC")
    text = sql(fetch("<attribute name='operationtype' alias='t' groupby='true'/>"
                     "<attribute name='retrycount' alias='s' aggregate='sum'/><order alias='s'/>"
                     "<order alias='t' descending='true'/>", aggregate="true"))
    assert text.endswith("ORDER BY sum(asyncoperation.retrycount) ASC, asyncoperation.operationtype DESC")


def test_a_group_key_on_a_link_column():
    text = sql(fetch("<attribute name='asyncoperationid' alias='n' aggregate='count'/>"
                     + user_link("<attribute name='fullname' alias='who' groupby='true'/>"), aggregate="true"))
    assert text == (
        "SELECT j1.fullname AS k0, count(*) AS a0 FROM asyncoperation LEFT OUTER JOIN systemuser AS j1 "
        "ON asyncoperation.createdby = j1.systemuserid WHERE j1.systemuserid IS NOT NULL GROUP BY j1.fullname "
        "ORDER BY j1.fullname ASC")


@pytest.mark.parametrize("grouping", ["year", "quarter", "month", "week", "day"])
def test_date_groupings_are_whole_numbers(grouping):
    text = sql(fetch(f"<attribute name='createdon' alias='g' groupby='true' dategrouping='{grouping}'/>"
                     "<attribute name='asyncoperationid' alias='n' aggregate='count'/>", aggregate="true"))
    assert "0.0" not in text  # integer division: no true division by (n + 0.0)
    compiled = compile_fetch(fetch(f"<attribute name='createdon' alias='g' groupby='true' dategrouping='{grouping}'/>"
                                   "<attribute name='asyncoperationid' alias='n' aggregate='count'/>",
                                   aggregate="true"))
    assert compiled.aggregate_outputs[0].edm_type == "Edm.Int32"


MOMENTS = [dt.datetime(y, m, d, h, tzinfo=dt.timezone.utc) for y, m, d, h in [
    (2026, 1, 1, 0), (2026, 1, 3, 23), (2026, 1, 4, 0), (2026, 3, 31, 23), (2026, 4, 1, 0), (2026, 6, 30, 12),
    (2026, 7, 1, 0), (2026, 9, 30, 23), (2026, 10, 1, 0), (2026, 12, 31, 23), (2027, 1, 1, 0), (2027, 1, 2, 5),
    (2027, 1, 3, 5), (2028, 2, 29, 12), (2028, 12, 31, 0), (2023, 1, 1, 0), (2022, 1, 1, 0), (2022, 1, 2, 0),
]]


@pytest.mark.parametrize("grouping", ["year", "quarter", "month", "week", "day"])
def test_date_groupings_match_sql_servers_datepart(grouping):
    expression = date_group(column("createdon", Integer), grouping)
    sql_text = expression.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    with sqlite3.connect(":memory:") as conn:
        got = [conn.execute(f"SELECT {sql_text} FROM (SELECT ? AS createdon)", (to_epoch(m),)).fetchone()[0]
               for m in MOMENTS]
    assert got == [datepart(grouping, m) for m in MOMENTS]
    assert all(isinstance(value, int) for value in got)


# ------------------------------------------------------------------------------------ refusals


def value_error(value: str, attribute: str, clr: str, reason: str, exception: str = "FormatException") -> str:
    return (f"An exception System.{exception} was thrown while trying to convert input value '{value}' to attribute "
            f"'asyncoperation.{attribute}'. Expected type of attribute value: {clr}. Exception raised: {reason}")


NOT_FORMATTED = "Input string was not in a correct format."
AGGREGATE = dict(aggregate="true")
REFUSALS = [
    # (document, code, message)
    (fetch(entity="nosuch"), "0x80041102",
     "The entity with a name = 'nosuch' with namemapping = 'Logical' was not found in the MetadataCache."),
    (fetch(entity="systemuser"), "0x80041128",
     ("The entity name 'systemuser' in the FetchXML does not match the entity set of the request ('asyncoperations' "
     "holds 'asyncoperation').")),
    (fetch(entity="EntityMetadata"), "0x80041102",
     "The entity with a name = 'EntityMetadata' with namemapping = 'Logical' was not found in the MetadataCache."),
    (fetch("<link-entity name='EntityMetadata' from='LogicalName' to='primaryentitytype'/>"), "0x80041102",
     "The entity with a name = 'EntityMetadata' with namemapping = 'Logical' was not found in the MetadataCache."),
    (fetch("<attribute name='nosuch'/>"), "0x80041103",
     "'asyncoperation' entity doesn't contain attribute with Name = 'nosuch' and NameMapping = 'Logical'."),
    (fetch("<attribute name='Name'/>"), "0x80041103",
     "'asyncoperation' entity doesn't contain attribute with Name = 'Name' and NameMapping = 'Logical'."),
    (fetch("<attribute name='_createdby_value'/>"), "0x80041103",
     "'asyncoperation' entity doesn't contain attribute with Name = '_createdby_value' and NameMapping = 'Logical'."),
    (fetch("<attribute name='workflowstate'/>"), "0x80041103",
     "'asyncoperation' entity doesn't contain attribute with Name = 'workflowstate' and NameMapping = 'Logical'."),
    (fetch("<order attribute='nosuch'/>"), "0x80041103",
     "'asyncoperation' entity doesn't contain attribute with Name = 'nosuch' and NameMapping = 'Logical'."),
    (fetch("<filter><condition attribute='nosuch' operator='null'/></filter>"), "0x80041103",
     "'asyncoperation' entity doesn't contain attribute with Name = 'nosuch' and NameMapping = 'Logical'."),
    (fetch("<link-entity name='nosuch' from='a' to='createdby'/>"), "0x80041102",
     "The entity with a name = 'nosuch' with namemapping = 'Logical' was not found in the MetadataCache."),
    (fetch("<link-entity name='systemuser' from='nosuch' to='createdby'/>"), "0x80041103",
     "'systemuser' entity doesn't contain attribute with Name = 'nosuch' and NameMapping = 'Logical'."),
    (fetch("<link-entity name='systemuser' from='systemuserid' to='nosuch'/>"), "0x80041103",
     "'asyncoperation' entity doesn't contain attribute with Name = 'nosuch' and NameMapping = 'Logical'."),
    (fetch(user_link("<attribute name='name'/>")), "0x80041103",
     "'systemuser' entity doesn't contain attribute with Name = 'name' and NameMapping = 'Logical'."),
    (fetch(user_link() + user_link()), "0x80041109", "The alias 'u' is used by more than one link-entity."),
    (fetch("<link-entity name='systemuser' from='systemuserid' to='createdby' link-type='any'/>"), "0x8006088a",
     "The link-type 'any' is not supported by the emulator: use 'inner' or 'outer'."),
    (fetch("<filter><condition entityname='zz' attribute='name' operator='null'/></filter>"), "0x8004110a",
     "The entityname 'zz' of a condition names no link-entity alias."),
    (fetch(user_link("<filter><condition entityname='u' attribute='fullname' operator='null'/></filter>")),
     "0x8006088a", "The 'entityname' attribute of a condition inside a link-entity is not supported by the emulator."),
    (fetch("<order alias='nosuch'/>"), "0x8004110a", "The order alias 'nosuch' names no aliased attribute."),
    (fetch("", top="5001"), "0x80041108", "The 'top' attribute can't be greater than 5000."),
    (fetch("", count="5001"), "0x80041108", "The 'count' attribute can't be greater than 5000."),
    (fetch("", count="5000", page="11"), "0x80041108",
     "Paging with 'page' and 'count' alone reaches at most 50000 rows: use the paging cookie to go further."),
    (fetch("", aggregatelimit="10"), "0x80041108", "The 'aggregatelimit' attribute applies to aggregate queries only."),
    # conditions
    (fetch("<filter><condition attribute='retrycount' operator='eq' value='abc'/></filter>"), "0x80040203",
     value_error("abc", "retrycount", "System.Int32", NOT_FORMATTED)),
    (fetch("<filter><condition attribute='retrycount' operator='eq' value='1.5'/></filter>"), "0x80040203",
     value_error("1.5", "retrycount", "System.Int32", NOT_FORMATTED)),
    (fetch("<filter><condition attribute='retrycount' operator='eq' value='1_000'/></filter>"), "0x80040203",
     value_error("1_000", "retrycount", "System.Int32", NOT_FORMATTED)),
    (fetch("<filter><condition attribute='retrycount' operator='eq' value='2147483648'/></filter>"), "0x80040203",
     value_error("2147483648", "retrycount", "System.Int32", "Value was either too large or too small for an Int32.",
                 "OverflowException")),
    (fetch("<filter><condition attribute='sequence' operator='eq' value='9223372036854775808'/></filter>"),
     "0x80040203", value_error("9223372036854775808", "sequence", "System.Int64",
                               "Value was either too large or too small for an Int64.", "OverflowException")),
    (fetch("<filter><condition attribute='statecode' operator='in'><value>0</value><value>x</value></condition>"
           "</filter>"), "0x80040203", value_error("x", "statecode", "System.Int32", NOT_FORMATTED)),
    (fetch("<filter><condition attribute='executiontimespan' operator='gt' value='NaN'/></filter>"), "0x80040203",
     value_error("NaN", "executiontimespan", "System.Double", NOT_FORMATTED)),
    (fetch("<filter><condition attribute='executiontimespan' operator='gt' value='1e999'/></filter>"), "0x80040203",
     value_error("1e999", "executiontimespan", "System.Double", NOT_FORMATTED)),
    (fetch("<filter><condition attribute='asyncoperationid' operator='eq' value='42'/></filter>"), "0x80040203",
     value_error("42", "asyncoperationid", "System.Guid",
                 "Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).")),
    (fetch("<filter><condition attribute='createdon' operator='on' value='yesterday'/></filter>"), "0x80040203",
     value_error("yesterday", "createdon", "System.DateTime", "String was not recognized as a valid DateTime.")),
    (fetch("<filter><condition attribute='iswaitingforevent' operator='eq' value='yes'/></filter>"), "0x80040203",
     value_error("yes", "iswaitingforevent", "System.Boolean", "String was not recognized as a valid Boolean.")),
    (fetch("<filter><condition attribute='retrycount' operator='between'><value>1</value></condition></filter>"),
     "0x80041106", "The condition operator 'Between' on 'retrycount' takes 2 values; 1 given."),
    (fetch("<filter><condition attribute='retrycount' operator='eq'/></filter>"), "0x80041106",
     "The condition operator 'Equal' on 'retrycount' takes 1 value; 0 given."),
    (fetch("<filter><condition attribute='errorcode' operator='null' value='1'/></filter>"), "0x80041106",
     "The condition operator 'Null' on 'errorcode' takes 0 values; 1 given."),
    (fetch("<filter><condition attribute='statecode' operator='in'/></filter>"), "0x80041106",
     "The condition operator 'In' on 'statecode' needs at least one value."),
    (fetch("<filter><condition attribute='retrycount' operator='like' value='1%'/></filter>"), "0x80041106",
     "The condition operator 'Like' applies to text columns; 'retrycount' is Edm.Int32."),
    (fetch("<filter><condition attribute='name' operator='eq-userid'/></filter>"), "0x80041106",
     "The condition operator 'EqualUserId' applies to lookup columns; 'name' is Edm.String."),
    (fetch("<filter><condition attribute='retrycount' operator='today'/></filter>"), "0x80041106",
     "The condition operator 'Today' applies to date and time columns; 'retrycount' is Edm.Int32."),
    (fetch("<filter><condition attribute='createdon' operator='last-x-hours' value='two'/></filter>"), "0x80041108",
     "The condition operator 'LastXHours' takes a whole number of at least 0, not 'two'."),
    (fetch("<filter><condition attribute='createdon' operator='last-x-hours'/></filter>"), "0x80041106",
     "The condition operator 'LastXHours' on 'createdon' takes 1 value; 0 given."),
    # aggregates
    (fetch("<attribute name='statecode' groupby='true'/>", **AGGREGATE), "0x8004110b",
     "An attribute of an aggregate query needs an alias ('statecode' has none)."),
    (fetch("<attribute name='statecode' alias='s' groupby='true'/><attribute name='retrycount' alias='s' "
           "aggregate='sum'/>", **AGGREGATE), "0x80041109", "The alias 's' is used more than once."),
    (fetch("<attribute name='statecode' alias='s'/>", **AGGREGATE), "0x8004111a",
     "The attribute 'statecode' of an aggregate query takes either aggregate='...' or groupby='true'."),
    (fetch("<attribute name='statecode' alias='s' groupby='true' aggregate='count'/>", **AGGREGATE), "0x8004111a",
     "The attribute 'statecode' of an aggregate query takes either aggregate='...' or groupby='true'."),
    (fetch("<attribute name='name' alias='s' aggregate='sum'/>", **AGGREGATE), "0x8004111a",
     "The aggregate 'sum' applies to number columns; 'name' is Edm.String."),
    (fetch("<attribute name='name' alias='s' aggregate='max'/>", **AGGREGATE), "0x8004111a",
     "The aggregate 'max' applies to number and date columns; 'name' is Edm.String."),
    (fetch("<attribute name='retrycount' alias='s' aggregate='sum' distinct='true'/>", **AGGREGATE), "0x8004111a",
     "distinct='true' applies to the countcolumn aggregate only."),
    (fetch("<attribute name='statecode' alias='s' groupby='true' dategrouping='year'/>", **AGGREGATE), "0x8004111a",
     "The date grouping 'year' applies to date and time columns; 'statecode' is Edm.Int32."),
    (fetch("<attribute name='createdon' alias='s' groupby='true' dategrouping='fiscal-year'/>", **AGGREGATE),
     "0x8006088a", "The date grouping 'fiscal-year' is not supported by the emulator."),
    (fetch("<attribute name='createdon' alias='s' aggregate='max' dategrouping='year'/>", **AGGREGATE), "0x8004111a",
     "'dategrouping' goes with groupby='true'."),
    (fetch("<attribute name='statecode' alias='s' groupby='true'/><order attribute='statecode'/>", **AGGREGATE),
     "0x8004110a", "An aggregate query orders by alias: <order alias='...'/>."),
    (fetch("<attribute name='statecode' alias='s' groupby='true'/><order alias='t'/>", **AGGREGATE), "0x8004110a",
     "The order alias 't' names no attribute of the query."),
    (fetch("<all-attributes/>", **AGGREGATE), "0x8004111a", "An aggregate query can't use 'all-attributes'."),
    (fetch("", **AGGREGATE), "0x8004111a",
     "An aggregate query needs at least one attribute with 'aggregate' or 'groupby'."),
    (fetch("<attribute name='asyncoperationid' alias='n' aggregate='count'/>", aggregatelimit="50001", **AGGREGATE),
     "0x80041108", "The 'aggregatelimit' attribute can't be greater than 50000."),
    (fetch("<attribute name='statecode' alias='s' groupby='true'/>"), "0x8004111a",
     "The 'aggregate', 'groupby' and 'dategrouping' attributes need <fetch aggregate='true'>."),
]


@pytest.mark.parametrize("text, code, message", REFUSALS)
def test_refusals(text, code, message):
    error = refusal(text)
    assert (error.status, error.code, error.message) == (400, code, message)
