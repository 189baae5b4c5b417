"""The compiler's SQL, read as text without a database (SQLAlchemy's own testing style), plus the
keyset predicate's semantics checked on a small SQLite table with NULLs, and the planner's cache."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateTable

from odata_emulator.caller import Caller
from odata_emulator.model import MODEL
from odata_emulator.query.binder import Binder
from odata_emulator.query.compiled import CompiledQuery
from odata_emulator.query.compiler import Compiler
from odata_emulator.query.execute import Context, parameters
from odata_emulator.query.options import parse_query_string
from odata_emulator.query.paging import keyset_predicate
from odata_emulator.query.plan import Planner
from odata_emulator.store.schema import METADATA
from odata_emulator.store.values import to_epoch
from tests.helpers import DOCUMENTED, flat, guid, webapi_request, where_of

ASYNC = MODEL.entity("asyncoperation")
USER = MODEL.entity("systemuser")
G1 = "6a1f0c44-aaaa-4bbb-8ccc-000000000001"

SELECT_NAME = (
    "SELECT asyncoperation.name AS c_name, asyncoperation.asyncoperationid AS c_asyncoperationid, "
    "asyncoperation.versionnumber AS c_versionnumber FROM asyncoperation"
)
BY_KEY = "ORDER BY asyncoperation.asyncoperationid ASC"


def compile_query(query: str, *, entity=ASYNC, annotations: bool = False, strict: bool = True) -> CompiledQuery:
    bound = Binder(MODEL, entity, strict=strict).bind_query(parse_query_string(query))
    return Compiler(MODEL, entity, annotations=annotations).compile(bound)


def literal(element) -> str:
    """SQLite SQL with every bind parameter rendered inline, whitespace collapsed."""
    return flat(element.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def sql(query: str, **kw) -> str:
    return literal(compile_query(query, **kw).statement)


# ------------------------------------------------------------------------------------ $select


def test_plain_select_labels_columns_and_orders_by_the_primary_key():
    compiled = compile_query("$select=name,statecode")
    assert literal(compiled.statement) == (
        "SELECT asyncoperation.name AS c_name, asyncoperation.statecode AS c_statecode, "
        "asyncoperation.asyncoperationid AS c_asyncoperationid, asyncoperation.versionnumber AS c_versionnumber "
        f"FROM asyncoperation {BY_KEY}"
    )
    shape = compiled.shape
    assert [(f.name, f.label) for f in shape.fields] == [("name", "c_name"), ("statecode", "c_statecode")]
    assert shape.key_label == "c_asyncoperationid" and not shape.key_selected
    assert shape.etag_label == "c_versionnumber"
    assert [(o.label, o.descending, o.cookie_name) for o in compiled.order] == [
        ("c_asyncoperationid", False, "asyncoperationid")
    ]
    assert compiled.params == ()


def test_selected_primary_key_is_not_repeated():
    compiled = compile_query("$select=asyncoperationid,name")
    text = literal(compiled.statement)
    assert text.count("asyncoperation.asyncoperationid AS c_") == 1
    assert compiled.shape.key_selected
    assert text.endswith(BY_KEY)


def test_lookup_property_selects_the_lookup_column_under_its_property_name():
    compiled = compile_query("$select=_ownerid_value")
    assert "asyncoperation.ownerid AS c_ownerid" in literal(compiled.statement)
    (field,) = compiled.shape.fields
    assert (field.name, field.label, field.navigation) == ("_ownerid_value", "c_ownerid", "ownerid")
    # Without annotations nothing but the column itself is read.
    assert field.name_label is None and field.type_label is None


def test_no_select_reads_every_web_api_property_but_not_hidden_columns():
    text = sql("")
    assert "asyncoperation.statecode AS c_statecode" in text
    assert "owneridtype" not in text and "regardingobjecttypecode" not in text
    assert "workflowstate" not in text  # not valid for read


# ------------------------------------------------------------------------------------ $filter


@pytest.mark.parametrize("filter_, where", [
    ("statecode eq 3", "asyncoperation.statecode = 3"),
    ("statecode ne 3", "asyncoperation.statecode != 3"),
    ("retrycount gt 1 and retrycount le 5", "asyncoperation.retrycount > 1 AND asyncoperation.retrycount <= 5"),
    ("statecode eq 3 and (name eq null or retrycount ge 1)",
     "asyncoperation.statecode = 3 AND (asyncoperation.name IS NULL OR asyncoperation.retrycount >= 1)"),
    ("(statecode eq 3 and name ne null) or completedon eq null",
     "asyncoperation.statecode = 3 AND asyncoperation.name IS NOT NULL OR asyncoperation.completedon IS NULL"),
    ("not (statecode eq 3 or statecode eq 2)", "NOT (asyncoperation.statecode = 3 OR asyncoperation.statecode = 2)"),
    ("not (errorcode eq null)", "asyncoperation.errorcode IS NOT NULL"),
    ("null eq completedon", "asyncoperation.completedon IS NULL"),
    ("null ne completedon", "asyncoperation.completedon IS NOT NULL"),
    ("iswaitingforevent eq true", "asyncoperation.iswaitingforevent = 1"),
    ("iswaitingforevent", "asyncoperation.iswaitingforevent = 1"),
    ("createdon ge 2023-04-07T14:59:01Z", "asyncoperation.createdon >= 1680879541"),
    ("_ownerid_value eq 6A1F0C44-AAAA-4BBB-8CCC-000000000001", f"asyncoperation.ownerid = '{G1}'"),
    ("name eq 'O''Brian'", "asyncoperation.name = 'O''Brian'"),
])
def test_filter_comparisons_and_logic(filter_, where):
    text = sql(f"$select=name&$filter={filter_}")
    assert text == f"{SELECT_NAME} WHERE {where} {BY_KEY}"


@pytest.mark.parametrize("filter_, where", [
    ("contains(name,'bulk')", "asyncoperation.name LIKE ('%' || 'bulk' || '%')"),
    ("startswith(name,'bulk')", "asyncoperation.name LIKE ('bulk' || '%')"),
    ("endswith(name,'bulk')", "asyncoperation.name LIKE ('%' || 'bulk')"),
    ("not contains(name,'bulk')", "asyncoperation.name NOT LIKE ('%' || 'bulk' || '%')"),
    # LIKE wildcards in the value are honoured, as Dataverse does (docs/deviations.md): no ESCAPE.
    ("contains(name,'a_b%')", "asyncoperation.name LIKE ('%' || 'a_b%' || '%')"),
])
def test_string_functions_become_like_patterns(filter_, where):
    text = sql(f"$select=name&$filter={filter_}")
    assert text == f"{SELECT_NAME} WHERE {where} {BY_KEY}"
    assert "ESCAPE" not in text


def test_navigation_path_filter_is_one_left_outer_join():
    text = sql("$select=name&$filter=owninguser/fullname eq 'x'")
    assert text == (
        "SELECT asyncoperation.name AS c_name, asyncoperation.asyncoperationid AS c_asyncoperationid, "
        "asyncoperation.versionnumber AS c_versionnumber FROM asyncoperation "
        "LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.owninguser = j1.systemuserid "
        f"WHERE j1.fullname = 'x' {BY_KEY}"
    )


def test_two_references_through_one_navigation_share_the_join():
    text = sql("$select=name&$filter=owninguser/fullname eq 'x' or owninguser/domainname eq 'y'&"
               "$orderby=owninguser/fullname")
    assert text.count("JOIN") == 1
    assert "WHERE j1.fullname = 'x' OR j1.domainname = 'y'" in text
    assert "ORDER BY j1.fullname ASC, asyncoperation.asyncoperationid ASC" in text


def test_different_navigations_to_one_table_get_their_own_joins():
    text = sql("$select=name&$filter=owninguser/fullname eq 'x' and createdby/fullname eq 'y'")
    assert "LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.owninguser = j1.systemuserid" in text
    assert "LEFT OUTER JOIN systemuser AS j2 ON asyncoperation.createdby = j2.systemuserid" in text
    assert "WHERE j1.fullname = 'x' AND j2.fullname = 'y'" in text


def test_multi_level_navigation_path_chains_joins():
    text = sql("$select=name&$filter=owninguser/businessunitid/name eq 'Sales'")
    assert ("FROM asyncoperation LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.owninguser = j1.systemuserid "
            "LEFT OUTER JOIN businessunit AS j2 ON j1.businessunitid = j2.businessunitid "
            "WHERE j2.name = 'Sales'") in text


@pytest.mark.parametrize("filter_, where", [
    ("Microsoft.Dynamics.CRM.In(PropertyName='statuscode',PropertyValues=[\"31\",\"32\"])",
     "asyncoperation.statuscode IN (31, 32)"),
    ("Microsoft.Dynamics.CRM.NotIn(PropertyName='operationtype',PropertyValues=['1','10'])",
     "(asyncoperation.operationtype NOT IN (1, 10))"),
    ("Microsoft.Dynamics.CRM.In(PropertyName='ownerid',PropertyValues=['{6A1F0C44-AAAA-4BBB-8CCC-000000000001}'])",
     f"asyncoperation.ownerid IN ('{G1}')"),
    ("Microsoft.Dynamics.CRM.Between(PropertyName='retrycount',PropertyValues=['1','5'])",
     "asyncoperation.retrycount BETWEEN 1 AND 5"),
    ("Microsoft.Dynamics.CRM.NotBetween(PropertyName='createdon',PropertyValues=['2023-01-01T00:00:00Z','2023-02-01'])",
     "asyncoperation.createdon NOT BETWEEN 1672531200 AND 1675209600"),
    ("Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2023-04-07')",
     "asyncoperation.createdon >= 1680825600 AND asyncoperation.createdon < 1680912000"),
])
def test_dataverse_set_and_range_functions(filter_, where):
    assert sql(f"$select=name&$filter={filter_}") == f"{SELECT_NAME} WHERE {where} {BY_KEY}"


# ------------------------------------------------------------------------------------ clock and caller


def test_clock_function_compiles_to_named_bind_parameters():
    compiled = compile_query("$select=name&$filter=Microsoft.Dynamics.CRM.LastXHours(PropertyName='createdon',PropertyValue=2)")
    rendered = compiled.statement.compile(dialect=sqlite.dialect())
    assert flat(rendered) == (f"{SELECT_NAME} WHERE asyncoperation.createdon >= ? AND asyncoperation.createdon < ? "
                              f"{BY_KEY}")
    assert set(rendered.params) == {"clock_LastXHours_2_lo", "clock_LastXHours_2_hi"}
    assert {p.name for p in compiled.params} == set(rendered.params)
    # The values come from the clock at execution time, not from compile time.
    now = dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    values = parameters(compiled.params, Context(now, Caller(G1, G1, G1)))
    assert values == {"clock_LastXHours_2_lo": to_epoch(now) - 7200, "clock_LastXHours_2_hi": to_epoch(now) + 1}


def test_open_ended_clock_function_binds_one_parameter():
    compiled = compile_query("$select=name&$filter=Microsoft.Dynamics.CRM.OlderThanXDays(PropertyName='createdon',PropertyValue=3)")
    rendered = compiled.statement.compile(dialect=sqlite.dialect())
    assert where_of(flat(rendered)) == "asyncoperation.createdon < ?"
    assert set(rendered.params) == {"clock_OlderThanXDays_3_hi"}


def test_repeated_clock_function_shares_its_parameters():
    compiled = compile_query(
        "$select=name&$filter=Microsoft.Dynamics.CRM.Today(PropertyName='createdon') or "
        "Microsoft.Dynamics.CRM.Today(PropertyName='modifiedon')"
    )
    rendered = compiled.statement.compile(dialect=sqlite.dialect())
    assert set(rendered.params) == {"clock_Today_None_lo", "clock_Today_None_hi"}
    assert [p.name for p in compiled.params] == ["clock_Today_None_lo", "clock_Today_None_hi"]


def test_caller_functions_bind_the_callers_ids():
    compiled = compile_query(
        "$select=name&$filter=Microsoft.Dynamics.CRM.EqualUserId(PropertyName='ownerid') and "
        "Microsoft.Dynamics.CRM.NotEqualBusinessId(PropertyName='owningbusinessunit')"
    )
    rendered = compiled.statement.compile(dialect=sqlite.dialect())
    assert where_of(flat(rendered)) == "asyncoperation.ownerid = ? AND asyncoperation.owningbusinessunit != ?"
    assert set(rendered.params) == {"caller_user", "caller_businessunit"}
    values = parameters(compiled.params, Context(dt.datetime.now(dt.timezone.utc), Caller("u", "bu", "org")))
    assert values == {"caller_user": "u", "caller_businessunit": "bu"}


# ------------------------------------------------------------------------------------ $orderby


def test_orderby_descending_with_primary_key_tiebreak():
    compiled = compile_query("$select=name&$orderby=createdon desc,name")
    text = literal(compiled.statement)
    assert text == (
        "SELECT asyncoperation.name AS c_name, asyncoperation.asyncoperationid AS c_asyncoperationid, "
        "asyncoperation.versionnumber AS c_versionnumber, asyncoperation.createdon AS o0, asyncoperation.name AS o1 "
        "FROM asyncoperation ORDER BY asyncoperation.createdon DESC, asyncoperation.name ASC, "
        "asyncoperation.asyncoperationid ASC"
    )
    assert [(o.label, o.descending, o.cookie_name) for o in compiled.order] == [
        ("o0", True, "createdon"), ("o1", False, "name"), ("c_asyncoperationid", False, "asyncoperationid"),
    ]


def test_orderby_on_the_primary_key_needs_no_tiebreak():
    compiled = compile_query("$select=name&$orderby=asyncoperationid desc")
    assert literal(compiled.statement).endswith("ORDER BY asyncoperation.asyncoperationid DESC")
    assert [(o.label, o.descending) for o in compiled.order] == [("o0", True)]


def test_orderby_through_a_navigation_names_the_cookie_element_by_path():
    compiled = compile_query("$select=name&$orderby=owninguser/fullname desc")
    text = literal(compiled.statement)
    assert "LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.owninguser = j1.systemuserid" in text
    assert text.endswith("ORDER BY j1.fullname DESC, asyncoperation.asyncoperationid ASC")
    assert compiled.order[0].cookie_name == "owninguser.fullname"


# ------------------------------------------------------------------------------------ $expand


def test_single_valued_expansions_are_left_outer_joins_with_labelled_columns():
    compiled = compile_query("$select=name&$expand=createdby($select=fullname),owningbusinessunit($select=name)")
    assert literal(compiled.statement) == (
        "SELECT asyncoperation.name AS c_name, asyncoperation.asyncoperationid AS c_asyncoperationid, "
        "asyncoperation.versionnumber AS c_versionnumber, "
        "j1.fullname AS c_x0_fullname, j1.systemuserid AS c_x0_systemuserid, j1.versionnumber AS c_x0_versionnumber, "
        "j2.name AS c_x1_name, j2.businessunitid AS c_x1_businessunitid, j2.versionnumber AS c_x1_versionnumber "
        "FROM asyncoperation LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.createdby = j1.systemuserid "
        "LEFT OUTER JOIN businessunit AS j2 ON asyncoperation.owningbusinessunit = j2.businessunitid "
        f"{BY_KEY}"
    )
    (created, created_shape, created_ref), (unit, unit_shape, unit_ref) = compiled.shape.single
    assert (created, created_ref, created_shape.key_label) == ("createdby", False, "c_x0_systemuserid")
    assert [f.label for f in created_shape.fields] == ["c_x0_fullname"]
    assert created_shape.inherited == ("ownerid",)  # systemuser rows carry ownerid
    assert (unit, unit_ref, unit_shape.key_label) == ("owningbusinessunit", False, "c_x1_businessunitid")


def test_nested_expansion_joins_from_the_expanded_table():
    text = sql("$select=name&$expand=createdby($select=fullname;$expand=businessunitid($select=name))")
    assert "LEFT OUTER JOIN businessunit AS j2 ON j1.businessunitid = j2.businessunitid" in text
    assert "j2.name AS c_x0_x0_name" in text


def test_expansion_and_filter_through_the_same_navigation_are_independent_joins():
    text = sql("$select=name&$expand=owninguser($select=fullname)&$filter=owninguser/fullname eq 'x'")
    assert text.count("LEFT OUTER JOIN systemuser") == 2
    assert "j1.fullname AS c_x0_fullname" in text and "WHERE j2.fullname = 'x'" in text


def test_ref_expansion_reads_only_the_key():
    compiled = compile_query("$select=name&$expand=owninguser/$ref")
    text = literal(compiled.statement)
    assert "j1.systemuserid AS c_x0_systemuserid" in text and "c_x0_fullname" not in text
    ((navigation, _, is_ref),) = compiled.shape.single
    assert (navigation, is_ref) == ("owninguser", True)


# ------------------------------------------------------------------------------------ lookup display names


def test_lookup_display_names_are_subqueries_when_annotations_are_wanted():
    compiled = compile_query("$select=_createdby_value,_ownerid_value,_regardingobjectid_value", annotations=True)
    text = literal(compiled.statement)
    assert ("(SELECT n0.fullname FROM systemuser AS n0 WHERE n0.systemuserid = asyncoperation.createdby) "
            "AS c_createdby__name") in text
    # Polymorphic lookups: a CASE over the stored type column, and the type column itself.
    assert ("CASE WHEN (asyncoperation.owneridtype = 'systemuser') THEN (SELECT n1.fullname FROM systemuser AS n1 "
            "WHERE n1.systemuserid = asyncoperation.ownerid) WHEN (asyncoperation.owneridtype = 'team') THEN "
            "(SELECT n2.name FROM team AS n2 WHERE n2.teamid = asyncoperation.ownerid) END AS c_ownerid__name, "
            "asyncoperation.owneridtype AS c_ownerid__type") in text
    assert "WHEN (asyncoperation.regardingobjecttypecode = 'account') THEN (SELECT n3.name FROM account AS n3" in text
    assert "WHEN (asyncoperation.regardingobjecttypecode = 'workflow') THEN (SELECT n8.name FROM workflow AS n8" in text
    assert "asyncoperation.regardingobjecttypecode AS c_regardingobjectid__type" in text
    fields = {f.name: f for f in compiled.shape.fields}
    assert (fields["_createdby_value"].name_label, fields["_createdby_value"].type_label) == ("c_createdby__name", None)
    assert fields["_createdby_value"].target == "systemuser"
    assert (fields["_ownerid_value"].name_label, fields["_ownerid_value"].type_label) == ("c_ownerid__name", "c_ownerid__type")
    assert fields["_ownerid_value"].target is None
    assert fields["_regardingobjectid_value"].type_label == "c_regardingobjectid__type"


def test_single_target_lookup_with_a_type_column_needs_no_case():
    text = sql("$select=_owningextensionid_value", annotations=True)
    assert "CASE" not in text
    assert ("(SELECT n0.name FROM sdkmessageprocessingstep AS n0 WHERE n0.sdkmessageprocessingstepid = "
            "asyncoperation.owningextensionid) AS c_owningextensionid__name") in text


def test_no_lookup_subqueries_without_annotations():
    text = sql("$select=_createdby_value,_ownerid_value,_regardingobjectid_value", annotations=False)
    assert "__name" not in text and "__type" not in text and "CASE" not in text
    assert text.count("SELECT") == 1


def test_lookups_inside_an_expansion_correlate_with_the_join_alias():
    text = sql("$select=name&$expand=createdby($select=_businessunitid_value)", annotations=True)
    assert ("(SELECT n0.name FROM businessunit AS n0 WHERE n0.businessunitid = j1.businessunitid) "
            "AS c_x0_businessunitid__name") in text


# ------------------------------------------------------------------------------------ $apply


# Each documented filter, and the group keys left once the keys it holds to one value are not
# grouped by (they are still selected: the same value in every row).
APPLY_WHERE = {
    "02-jobs-by-state-status-type": (None, ("statecode", "statuscode", "operationtype")),
    "03-waiting-jobs-by-count": ("{t}.statecode = 1", ("statuscode", "operationtype")),
    "04-workflows-by-count": ("{t}.operationtype = 10", ("statecode", "statuscode")),
    "05-jobs-waiting-for-resources": ("{t}.statecode = 0 AND {t}.statuscode = 0", ("operationtype",)),
}
COUNTS = "emulator_group_count_asyncoperation"


@pytest.mark.parametrize("name", sorted(APPLY_WHERE))
def test_documented_apply_queries_read_the_kept_counts(name):
    target, _ = webapi_request(DOCUMENTED / f"{name}.webapi.http")
    compiled = compile_query(target.split("?", 1)[1])
    where, grouped = APPLY_WHERE[name]
    where_sql = f" WHERE {where.format(t=COUNTS)}" if where else ""
    assert literal(compiled.statement) == (
        f"SELECT {COUNTS}.statecode AS k0, {COUNTS}.statuscode AS k1, {COUNTS}.operationtype AS k2, "
        f"sum({COUNTS}.rowcount) AS a0 FROM {COUNTS}{where_sql} "
        f"GROUP BY {', '.join(f'{COUNTS}.{key}' for key in grouped)} "
        f"HAVING sum({COUNTS}.rowcount) > 0 "
        f"ORDER BY {', '.join(f'{COUNTS}.{key} ASC' for key in grouped)}"
    )
    assert [(o.name, o.label, o.is_aggregate) for o in compiled.aggregate_outputs] == [
        ("statecode", "k0", False), ("statuscode", "k1", False), ("operationtype", "k2", False), ("count", "a0", True),
    ]
    assert compiled.shape is None and compiled.order == ()
    # The limit check sums the counts the filter keeps.
    assert literal(compiled.input_count) == f"SELECT coalesce(sum({COUNTS}.rowcount), 0) AS coalesce_1 FROM {COUNTS}{where_sql}"


@pytest.mark.parametrize("query", [
    "$apply=aggregate($count as n)",
    "$apply=groupby((statuscode))",
    ("$apply=filter(statecode ne 3 and (operationtype eq 10 or not (statuscode eq 10)))"
     "/groupby((operationtype),aggregate($count as n))"),
    ("$apply=filter(Microsoft.Dynamics.CRM.In(PropertyName='operationtype',PropertyValues=['10','1']))"
     "/groupby((statecode),aggregate($count as n))"),
    "$apply=groupby((statecode),aggregate($count as n))/filter(n gt 5)",  # loose mode's having
])
def test_counts_serve_any_filter_and_having_on_the_counted_keys(query):
    text = literal(compile_query(query, strict=False).statement)
    assert f"FROM {COUNTS}" in text and "asyncoperation." not in text.replace(COUNTS, "")


@pytest.mark.parametrize("query", [
    "$apply=filter(name eq 'x')/groupby((statecode),aggregate($count as n))",  # a filter on another column
    "$apply=groupby((statecode,_ownerid_value),aggregate($count as n))",  # another key
    "$apply=groupby((owninguser/fullname),aggregate($count as n))",  # a navigation
    "$apply=groupby((statecode),aggregate(retrycount with sum as n))",  # not a row count
    "$apply=groupby((statecode),aggregate($count as n,retrycount with max as m))",
    "$apply=filter(createdby/systemuserid eq 9fd9ed4b-ea7c-4bc1-a4d5-e0b93d6fb7d1)/groupby((statecode))",
])
def test_other_aggregations_read_the_rows(query):
    compiled = compile_query(query)
    assert COUNTS not in literal(compiled.statement) and COUNTS not in literal(compiled.input_count)
    assert "FROM asyncoperation" in literal(compiled.statement)


def test_apply_groupby_over_a_navigation_path():
    compiled = compile_query("$apply=groupby((owninguser/fullname),aggregate($count as count))")
    assert literal(compiled.statement) == (
        "SELECT j1.fullname AS k0, count(*) AS a0 FROM asyncoperation "
        "LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.owninguser = j1.systemuserid "
        "GROUP BY j1.fullname ORDER BY j1.fullname ASC"
    )
    assert compiled.aggregate_outputs[0].name == "systemuser_fullname"
    # The limit check reads the rows fed to aggregation: same FROM, no grouping, counted no further
    # than the limit.
    assert literal(compiled.input_count) == (
        "SELECT count(*) AS count_1 FROM (SELECT 1 AS one FROM asyncoperation "
        "LEFT OUTER JOIN systemuser AS j1 ON asyncoperation.owninguser = j1.systemuserid LIMIT NULL OFFSET 0) AS anon_1")


def test_apply_orderby_on_a_group_key_replaces_the_default_order():
    text = sql("$apply=groupby((statecode,retrycount))&$orderby=retrycount desc")
    assert text.endswith("GROUP BY asyncoperation.statecode, asyncoperation.retrycount "
                         "ORDER BY asyncoperation.retrycount DESC")
    text = sql("$apply=groupby((statecode,statuscode))&$orderby=statuscode desc")  # over the kept counts
    assert text.endswith(f"GROUP BY {COUNTS}.statecode, {COUNTS}.statuscode HAVING sum({COUNTS}.rowcount) > 0 "
                         f"ORDER BY {COUNTS}.statuscode DESC")


def test_apply_aggregate_without_groupby():
    compiled = compile_query("$apply=aggregate(retrycount with sum as total,executiontimespan with max as longest)")
    assert literal(compiled.statement) == (
        "SELECT sum(asyncoperation.retrycount) AS a0, max(asyncoperation.executiontimespan) AS a1 FROM asyncoperation"
    )
    total, longest = compiled.aggregate_outputs
    assert total.attribute is None and longest.attribute.name == "executiontimespan"


def test_apply_lookup_group_key_gets_display_name_with_annotations():
    compiled = compile_query("$apply=groupby((_ownerid_value),aggregate($count as count))", annotations=True)
    text = literal(compiled.statement)
    assert "AS k0_ownerid__name" in text and "asyncoperation.owneridtype AS k0_ownerid__type" in text
    key = compiled.aggregate_outputs[0]
    assert (key.name, key.name_label, key.type_label, key.navigation) == (
        "_ownerid_value", "k0_ownerid__name", "k0_ownerid__type", "ownerid")


# ------------------------------------------------------------------------------------ lambdas


def test_any_on_a_collection_navigation_is_an_exists_subquery():
    text = sql("$select=fullname&$filter=system_user_asyncoperation/any(a:a/statecode eq 3)", entity=USER)
    assert text == (
        "SELECT systemuser.fullname AS c_fullname, systemuser.systemuserid AS c_systemuserid, "
        "systemuser.versionnumber AS c_versionnumber FROM systemuser "
        "WHERE EXISTS (SELECT 1 AS anon_1 FROM asyncoperation AS l1 "
        "WHERE l1.owninguser = systemuser.systemuserid AND l1.statecode = 3) "
        "ORDER BY systemuser.systemuserid ASC"
    )


def test_any_without_predicate_and_all():
    any_text = sql("$select=fullname&$filter=lk_asyncoperation_createdby/any()", entity=USER)
    assert ("WHERE EXISTS (SELECT 1 AS anon_1 FROM asyncoperation AS l1 "
            "WHERE l1.createdby = systemuser.systemuserid)") in any_text
    all_text = sql("$select=fullname&$filter=system_user_asyncoperation/all(a:a/statecode eq 3)", entity=USER)
    assert ("WHERE NOT (EXISTS (SELECT 1 AS anon_1 FROM asyncoperation AS l1 "
            "WHERE l1.owninguser = systemuser.systemuserid AND l1.statecode != 3))") in all_text


def test_navigation_inside_a_lambda_joins_inside_the_subquery():
    text = sql("$select=fullname&$filter=system_user_asyncoperation/any(a:a/owningbusinessunit/name eq 'x')",
               entity=USER)
    assert ("FROM systemuser WHERE EXISTS (SELECT 1 AS anon_1 FROM asyncoperation AS l1 "
            "LEFT OUTER JOIN businessunit AS j1 ON l1.owningbusinessunit = j1.businessunitid "
            "WHERE l1.owninguser = systemuser.systemuserid AND j1.name = 'x')") in text


def test_two_lambdas_with_the_same_variable_do_not_share_joins():
    text = sql(
        "$select=fullname&$filter=system_user_asyncoperation/any(a:a/owningbusinessunit/name eq 'x') and "
        "lk_asyncoperation_createdby/any(a:a/owningbusinessunit/name eq 'y')",
        entity=USER,
    )
    assert ("EXISTS (SELECT 1 AS anon_2 FROM asyncoperation AS l2 "
            "LEFT OUTER JOIN businessunit AS j2 ON l2.owningbusinessunit = j2.businessunitid "
            "WHERE l2.createdby = systemuser.systemuserid AND j2.name = 'y')") in text
    assert ", businessunit" not in text  # no cross join


# ------------------------------------------------------------------------------------ keyset paging: SQL


def test_keyset_predicate_ascending():
    order = compile_query("$select=name&$orderby=errorcode").order
    assert literal(keyset_predicate(order, (5, G1))) == (
        f"asyncoperation.errorcode > 5 OR asyncoperation.errorcode = 5 AND asyncoperation.asyncoperationid > '{G1}'"
    )


def test_keyset_predicate_ascending_after_null():
    # NULL sorts first ascending: every non-NULL value comes after it.
    order = compile_query("$select=name&$orderby=errorcode").order
    assert literal(keyset_predicate(order, (None, G1))) == (
        "asyncoperation.errorcode IS NOT NULL OR "
        f"asyncoperation.errorcode IS NULL AND asyncoperation.asyncoperationid > '{G1}'"
    )


def test_keyset_predicate_descending():
    # NULL sorts last descending: smaller values and NULLs come after.
    order = compile_query("$select=name&$orderby=errorcode desc").order
    assert literal(keyset_predicate(order, (5, G1))) == (
        "asyncoperation.errorcode < 5 OR asyncoperation.errorcode IS NULL OR "
        f"asyncoperation.errorcode = 5 AND asyncoperation.asyncoperationid > '{G1}'"
    )


def test_keyset_predicate_descending_after_null():
    # Nothing sorts after NULL descending except ties broken by the next key.
    order = compile_query("$select=name&$orderby=errorcode desc").order
    assert literal(keyset_predicate(order, (None, G1))) == (
        f"asyncoperation.errorcode IS NULL AND asyncoperation.asyncoperationid > '{G1}'"
    )


def test_keyset_predicate_three_keys_and_primary_key_only():
    order = compile_query("$select=name&$orderby=errorcode desc,name").order
    assert literal(keyset_predicate(order, (5, "O'x", G1))) == (
        "asyncoperation.errorcode < 5 OR asyncoperation.errorcode IS NULL OR "
        "asyncoperation.errorcode = 5 AND asyncoperation.name > 'O''x' OR "
        f"asyncoperation.errorcode = 5 AND asyncoperation.name = 'O''x' AND asyncoperation.asyncoperationid > '{G1}'"
    )
    assert literal(keyset_predicate(compile_query("$select=name").order, (G1,))) == (
        f"asyncoperation.asyncoperationid > '{G1}'"
    )


# ------------------------------------------------------------------------------------ keyset paging: semantics


# (errorcode, name, createdon, executiontimespan): NULLs and ties in every column; names differ in case
# only ('a'/'A', 'b'/'B'), which NOCASE makes equal.
ROWS = [
    (None, "b", 100, 0.5),
    (5, "A", None, 0.25),
    (5, "a", 100, None),
    (None, None, 200, 0.25),
    (1, "c", None, 1.0),
    (9, "B", 300, 0.5),
    (5, None, 100, 0.25),
    (None, "b", None, None),
    (1, "a", 200, 1.0),
    (9, "c", 300, 0.5),
    (None, None, None, None),
]


@pytest.fixture(scope="module")
def jobs_db():
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    conn.execute(str(CreateTable(METADATA.tables["asyncoperation"]).compile(dialect=sqlite.dialect())))
    # Inserted out of key order, so that insertion order cannot pass for the ORDER BY.
    for i, (errorcode, name, createdon, span) in reversed(list(enumerate(ROWS))):
        conn.execute(
            "INSERT INTO asyncoperation (asyncoperationid, errorcode, name, createdon, executiontimespan, versionnumber) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (guid(i), errorcode, name, createdon, span, i + 1),
        )
    yield conn
    conn.close()


@pytest.mark.parametrize("orderby", [
    None,
    "errorcode",
    "errorcode desc",
    "errorcode desc,name",
    "name,errorcode desc",
    "name desc,createdon",
    "createdon desc,executiontimespan desc",
    "executiontimespan,errorcode,name desc",
    "asyncoperationid desc",
])
@pytest.mark.parametrize("size", [1, 2, 3])
def test_keyset_paging_visits_every_row_once_in_order(jobs_db, orderby, size):
    compiled = compile_query("$select=name" + (f"&$orderby={orderby}" if orderby else ""))
    everything = [r["c_asyncoperationid"] for r in jobs_db.execute(literal(compiled.statement))]
    assert sorted(everything) == sorted(guid(i) for i in range(len(ROWS)))

    visited = []
    values = None
    for _ in range(len(ROWS) + 2):
        statement = compiled.statement
        if values is not None:
            statement = statement.where(keyset_predicate(compiled.order, values))
        page = jobs_db.execute(literal(statement.limit(size))).fetchall()
        if not page:
            break
        visited.extend(r["c_asyncoperationid"] for r in page)
        values = tuple(page[-1][o.label] for o in compiled.order)
    assert visited == everything


def test_keyset_order_puts_nulls_first_ascending_and_last_descending(jobs_db):
    ascending = [r["o0"] for r in jobs_db.execute(literal(compile_query("$select=name&$orderby=errorcode").statement))]
    descending = [r["o0"] for r in jobs_db.execute(literal(compile_query("$select=name&$orderby=errorcode desc").statement))]
    assert ascending == [None] * 4 + [1, 1, 5, 5, 5, 9, 9]
    assert descending == [9, 9, 5, 5, 5, 1, 1] + [None] * 4


# ------------------------------------------------------------------------------------ planner cache


def test_planner_caches_compiled_queries():
    planner = Planner(MODEL)
    query = "$select=name,statecode&$filter=statecode eq 3&$orderby=createdon desc"
    first = planner.plan(ASYNC, parse_query_string(query), annotations=False)
    assert planner.plan(ASYNC, parse_query_string(query), annotations=False) is first
    # The page position is not part of the plan.
    assert planner.plan(ASYNC, parse_query_string(query + "&$skiptoken=x"), annotations=False) is first
    with_names = planner.plan(ASYNC, parse_query_string(query), annotations=True)
    assert with_names is not first
    assert planner.plan(ASYNC, parse_query_string(query), annotations=True) is with_names
    assert planner.plan(ASYNC, parse_query_string("$select=name"), annotations=False) is not first
    # The same options on another table are another plan.
    on_jobs = planner.plan(ASYNC, parse_query_string("$select=createdon"), annotations=False)
    on_users = planner.plan(USER, parse_query_string("$select=createdon"), annotations=False)
    assert on_users is not on_jobs and on_users.shape.entity is USER
    assert planner.cache_info() == 5


def test_planner_cache_is_bounded():
    planner = Planner(MODEL, size=2)
    plans = [planner.plan(ASYNC, parse_query_string(f"$select=name&$top={n}"), annotations=False) for n in range(3)]
    assert planner.cache_info() == 2
    assert planner.plan(ASYNC, parse_query_string("$select=name&$top=2"), annotations=False) is plans[2]
    assert planner.plan(ASYNC, parse_query_string("$select=name&$top=0"), annotations=False) is not plans[0]


def test_the_emulators_of_one_process_share_plans_by_model_and_strictness():
    from odata_emulator.query.plan import shared_cache

    assert shared_cache(MODEL, True) is shared_cache(MODEL, True)
    assert shared_cache(MODEL, False) is not shared_cache(MODEL, True)
    query = parse_query_string("$select=name&$top=7&$orderby=createdon")
    first = Planner(MODEL, cache=shared_cache(MODEL, True)).plan(ASYNC, query, annotations=False)
    assert Planner(MODEL, cache=shared_cache(MODEL, True)).plan(ASYNC, query, annotations=False) is first
    loose = Planner(MODEL, strict=False, cache=shared_cache(MODEL, False)).plan(ASYNC, query, annotations=False)
    assert loose is not first
    assert Planner(MODEL).plan(ASYNC, query, annotations=False) is not first, "a planner alone keeps its own"
