"""Rows -> Dataverse JSON: formatted values, wire values, property and annotation order, aggregates,
annotation patterns and `@odata.context` URLs.

Rows come from compiled queries run on a small in-memory SQLite store, so the serializer sees the
labels and storage values the compiler really produces.
"""

from __future__ import annotations

import orjson
import pytest

from odata_emulator.api.serialize import (
    ASSOCIATED_NAVIGATION,
    FORMATTED,
    LOOKUP_LOGICAL_NAME,
    TOTAL_COUNT,
    Annotations,
    aggregate_json,
    aggregate_writer,
    collection_context,
    entity_context,
    entity_json,
    formatted_value,
    json_value,
)
from odata_emulator.model import MODEL
from odata_emulator.query.binder import Binder
from odata_emulator.query.compiler import Compiler
from odata_emulator.query.options import parse_query_string
from odata_emulator.query.plan import Planner
from odata_emulator.store.schema import METADATA
from odata_emulator.store.values import parse_datetime, to_epoch
from tests.helpers import copy_store, plain_engine

ASYNC = MODEL.entity("asyncoperation")
COL = ASYNC.columns
ROOT = "http://localhost/api/data/v9.2/"
ALL = Annotations(("*",))
NONE = Annotations()

BU = "10000000-0000-4000-8000-000000000001"
USER = "20000000-0000-4000-8000-000000000001"
TEAM = "30000000-0000-4000-8000-000000000001"
ACCOUNT = "40000000-0000-4000-8000-000000000001"
STEP = "50000000-0000-4000-8000-000000000001"
JOB1 = "4b757ff7-9c85-ee11-8179-000d3a9933c9"
JOB2 = "4b757ff7-9c85-ee11-8179-000d3a9933ca"


def epoch(text: str) -> int:
    return to_epoch(parse_datetime(text))


CREATED = epoch("2023-04-07T14:59:01Z")


def compile_query(query: str, *, annotations: bool = False, entity=ASYNC):
    bound = Binder(MODEL, entity).bind_query(parse_query_string(query))
    return Compiler(MODEL, entity, annotations=annotations).compile(bound)


@pytest.fixture(scope="module")
def db():
    engine = plain_engine()
    METADATA.create_all(engine)
    t = METADATA.tables
    with engine.begin() as conn:
        conn.execute(t["businessunit"].insert(), [{"businessunitid": BU, "name": "Sales", "versionnumber": 1}])
        conn.execute(t["systemuser"].insert(), [{"systemuserid": USER, "fullname": "Jane Doe", "businessunitid": BU,
                                                 "versionnumber": 2}])
        conn.execute(t["team"].insert(), [{"teamid": TEAM, "name": "Ops team", "businessunitid": BU, "versionnumber": 3}])
        conn.execute(t["account"].insert(), [{"accountid": ACCOUNT, "name": "Contoso", "versionnumber": 4}])
        conn.execute(t["sdkmessageprocessingstep"].insert(), [{"sdkmessageprocessingstepid": STEP, "name": "Step one",
                                                               "versionnumber": 5}])
        for job in [
            {"asyncoperationid": JOB1, "name": "Bulk delete completed jobs", "statecode": 3, "statuscode": 30,
             "operationtype": 13, "ownerid": USER, "owneridtype": "systemuser", "owninguser": USER,
             "owningbusinessunit": BU, "createdby": USER, "regardingobjectid": ACCOUNT,
             "regardingobjecttypecode": "account", "owningextensionid": STEP,
             "owningextensiontypecode": "sdkmessageprocessingstep", "createdon": CREATED, "completedon": None,
             "iswaitingforevent": 0, "executiontimespan": 0.25, "retrycount": 9500, "sequence": 1234567,
             "versionnumber": 112430907},
            {"asyncoperationid": JOB2, "name": "Team job", "statecode": 0, "statuscode": 0, "operationtype": 10,
             "ownerid": TEAM, "owneridtype": "team", "owningteam": TEAM, "owningbusinessunit": BU,
             "createdby": USER, "createdon": CREATED + 60, "iswaitingforevent": 1, "executiontimespan": 1234.5,
             "retrycount": 0, "sequence": 2, "versionnumber": 112430908},
        ]:
            conn.execute(t["asyncoperation"].insert(), job)
    yield engine
    engine.dispose()


def rows(db, query: str, *, annotations: bool = False, entity=ASYNC):
    compiled = compile_query(query, annotations=annotations, entity=entity)
    with db.connect() as conn:
        return compiled, list(conn.execute(compiled.statement).mappings())


def by_key(db, query: str, **kw):
    compiled, found = rows(db, query, **kw)
    return compiled.shape, {r[compiled.shape.key_label]: r for r in found}


# ------------------------------------------------------------------------------------ formatted values


@pytest.mark.parametrize("column, value, text", [
    ("statecode", 3, "Completed"),
    ("statecode", 0, "Ready"),
    ("statuscode", 30, "Succeeded"),
    ("statuscode", 0, "Waiting For Resources"),
    ("operationtype", 10, "Workflow"),
    ("operationtype", 13, "Bulk Delete"),
    ("operationtype", 987654, "987654"),  # a value the option set does not know
    ("iswaitingforevent", 1, "Yes"),
    ("iswaitingforevent", 0, "No"),
    ("retrycount", 9500, "9,500"),
    ("retrycount", 0, "0"),
    ("errorcode", -2147204346, "-2,147,204,346"),
    ("sequence", 1234567, "1,234,567"),
    ("executiontimespan", 0.25, "0.25"),
    ("executiontimespan", 1234.5, "1,234.50"),
    ("executiontimespan", 2.0, "2.00"),
    ("createdon", epoch("2023-04-07T14:59:01Z"), "4/7/2023 2:59 PM"),
    ("createdon", epoch("2023-04-07T00:00:00Z"), "4/7/2023 12:00 AM"),
    ("createdon", epoch("2023-04-07T12:00:59Z"), "4/7/2023 12:00 PM"),
    ("createdon", epoch("2023-12-31T00:05:00Z"), "12/31/2023 12:05 AM"),
    ("createdon", epoch("2023-01-01T23:59:00Z"), "1/1/2023 11:59 PM"),
    ("createdon", epoch("2023-01-01T11:59:00Z"), "1/1/2023 11:59 AM"),
    ("recurrencestarttime", epoch("2023-04-07T14:59:01Z"), "4/7/2023"),  # date-only format
])
def test_formatted_value(column, value, text):
    assert formatted_value(COL[column], value) == text


@pytest.mark.parametrize("column, value", [
    ("name", "Bulk delete"),
    ("message", "text"),
    ("asyncoperationid", JOB1),
    ("ownerid", USER),  # lookups take the related row's name from the query, not from here
    ("createdby", USER),
    ("primaryentitytype", "account"),
])
def test_no_formatted_value_for_text_guids_and_lookups(column, value):
    assert formatted_value(COL[column], value) is None


@pytest.mark.parametrize("column", ["statecode", "iswaitingforevent", "retrycount", "executiontimespan", "createdon"])
def test_no_formatted_value_for_null(column):
    assert formatted_value(COL[column], None) is None


@pytest.mark.parametrize("column, stored, wire", [
    ("createdon", epoch("2023-04-07T21:59:01Z"), "2023-04-07T21:59:01Z"),
    ("createdon", 0, "1970-01-01T00:00:00Z"),
    ("recurrencestarttime", epoch("2023-04-07T00:00:00Z"), "2023-04-07T00:00:00Z"),
    ("iswaitingforevent", 0, False),
    ("iswaitingforevent", 1, True),
    ("executiontimespan", 2, 2.0),
    ("executiontimespan", 0.25, 0.25),
    ("retrycount", 0, 0),
    ("sequence", 1234567, 1234567),
    ("statecode", 3, 3),
    ("name", "x", "x"),
    ("asyncoperationid", JOB1, JOB1),
    ("ownerid", USER, USER),
    ("completedon", None, None),
    ("iswaitingforevent", None, None),
])
def test_json_value(column, stored, wire):
    value = json_value(COL[column], stored)
    assert value == wire and type(value) is type(wire)


# ------------------------------------------------------------------------------------ entity_json


def test_row_shape_matches_the_documented_envelope(db):
    shape, found = by_key(db, "$select=name,statecode,statuscode")
    body = entity_json(shape, found[JOB1], Annotations((FORMATTED,)))
    assert body == {
        "@odata.etag": 'W/"112430907"',
        "name": "Bulk delete completed jobs",
        "statecode@OData.Community.Display.V1.FormattedValue": "Completed",
        "statecode": 3,
        "statuscode@OData.Community.Display.V1.FormattedValue": "Succeeded",
        "statuscode": 30,
        "asyncoperationid": JOB1,
    }
    assert list(body) == ["@odata.etag", "name", f"statecode@{FORMATTED}", "statecode", f"statuscode@{FORMATTED}",
                          "statuscode", "asyncoperationid"]


def test_each_annotation_precedes_its_property_and_key_follows_selected_columns(db):
    shape, found = by_key(db, "$select=createdon,iswaitingforevent,executiontimespan,retrycount,completedon,name")
    body = entity_json(shape, found[JOB2], ALL)
    assert list(body) == [
        "@odata.etag",
        f"createdon@{FORMATTED}", "createdon",
        f"iswaitingforevent@{FORMATTED}", "iswaitingforevent",
        f"executiontimespan@{FORMATTED}", "executiontimespan",
        f"retrycount@{FORMATTED}", "retrycount",
        "completedon",  # null: no annotation
        "name",  # text: no formatted value
        "asyncoperationid",
    ]
    assert body[f"createdon@{FORMATTED}"] == "4/7/2023 3:00 PM" and body["createdon"] == "2023-04-07T15:00:01Z"
    assert body[f"iswaitingforevent@{FORMATTED}"] == "Yes" and body["iswaitingforevent"] is True
    assert body[f"executiontimespan@{FORMATTED}"] == "1,234.50" and body["executiontimespan"] == 1234.5
    assert body["completedon"] is None


def test_no_annotations_unless_asked(db):
    shape, found = by_key(db, "$select=name,statecode,_ownerid_value", annotations=False)
    body = entity_json(shape, found[JOB1], NONE)
    assert body == {"@odata.etag": 'W/"112430907"', "name": "Bulk delete completed jobs", "statecode": 3,
                    "_ownerid_value": USER, "asyncoperationid": JOB1}


def test_selected_primary_key_stays_where_it_was_selected(db):
    shape, found = by_key(db, "$select=statecode,asyncoperationid,name")
    assert list(entity_json(shape, found[JOB1], NONE)) == ["@odata.etag", "statecode", "asyncoperationid", "name"]


def test_without_etag(db):
    shape, found = by_key(db, "$select=name")
    assert entity_json(shape, found[JOB1], NONE, etag=False) == {"name": "Bulk delete completed jobs",
                                                                 "asyncoperationid": JOB1}


LOOKUPS = "$select=_ownerid_value,_regardingobjectid_value,_owningbusinessunit_value,_owningextensionid_value,name"


def test_lookup_annotations_in_order(db):
    shape, found = by_key(db, LOOKUPS, annotations=True)
    body = entity_json(shape, found[JOB1], ALL)
    assert list(body) == [
        "@odata.etag",
        f"_ownerid_value@{FORMATTED}", f"_ownerid_value@{ASSOCIATED_NAVIGATION}", f"_ownerid_value@{LOOKUP_LOGICAL_NAME}",
        "_ownerid_value",
        f"_regardingobjectid_value@{FORMATTED}", f"_regardingobjectid_value@{ASSOCIATED_NAVIGATION}",
        f"_regardingobjectid_value@{LOOKUP_LOGICAL_NAME}", "_regardingobjectid_value",
        f"_owningbusinessunit_value@{FORMATTED}", f"_owningbusinessunit_value@{ASSOCIATED_NAVIGATION}",
        f"_owningbusinessunit_value@{LOOKUP_LOGICAL_NAME}", "_owningbusinessunit_value",
        f"_owningextensionid_value@{FORMATTED}", f"_owningextensionid_value@{ASSOCIATED_NAVIGATION}",
        f"_owningextensionid_value@{LOOKUP_LOGICAL_NAME}", "_owningextensionid_value",
        "name", "asyncoperationid",
    ]
    assert body[f"_ownerid_value@{FORMATTED}"] == "Jane Doe"
    assert body[f"_ownerid_value@{ASSOCIATED_NAVIGATION}"] == "ownerid"
    assert body[f"_ownerid_value@{LOOKUP_LOGICAL_NAME}"] == "systemuser"
    assert body["_ownerid_value"] == USER
    # The regarding navigation property is named after the table the row points at.
    assert body[f"_regardingobjectid_value@{FORMATTED}"] == "Contoso"
    assert body[f"_regardingobjectid_value@{ASSOCIATED_NAVIGATION}"] == "regardingobjectid_account"
    assert body[f"_regardingobjectid_value@{LOOKUP_LOGICAL_NAME}"] == "account"
    assert body[f"_owningbusinessunit_value@{FORMATTED}"] == "Sales"
    assert body[f"_owningbusinessunit_value@{ASSOCIATED_NAVIGATION}"] == "owningbusinessunit"
    assert body[f"_owningbusinessunit_value@{LOOKUP_LOGICAL_NAME}"] == "businessunit"
    assert body[f"_owningextensionid_value@{FORMATTED}"] == "Step one"
    assert body[f"_owningextensionid_value@{LOOKUP_LOGICAL_NAME}"] == "sdkmessageprocessingstep"


def test_team_owner_and_null_lookups(db):
    shape, found = by_key(db, LOOKUPS, annotations=True)
    body = entity_json(shape, found[JOB2], ALL)
    assert body[f"_ownerid_value@{FORMATTED}"] == "Ops team"
    assert body[f"_ownerid_value@{ASSOCIATED_NAVIGATION}"] == "ownerid"
    assert body[f"_ownerid_value@{LOOKUP_LOGICAL_NAME}"] == "team"
    # A null lookup is the bare property, with no annotations.
    assert body["_regardingobjectid_value"] is None
    assert not any(k.startswith("_regardingobjectid_value@") for k in body)
    assert body["_owningextensionid_value"] is None
    assert not any(k.startswith("_owningextensionid_value@") for k in body)


@pytest.mark.parametrize("wanted, expected", [
    ((FORMATTED,), [f"_ownerid_value@{FORMATTED}"]),
    ((LOOKUP_LOGICAL_NAME,), [f"_ownerid_value@{LOOKUP_LOGICAL_NAME}"]),
    ((ASSOCIATED_NAVIGATION,), [f"_ownerid_value@{ASSOCIATED_NAVIGATION}"]),
    (("Microsoft.Dynamics.CRM.*",), [f"_ownerid_value@{ASSOCIATED_NAVIGATION}", f"_ownerid_value@{LOOKUP_LOGICAL_NAME}"]),
    ((TOTAL_COUNT,), []),
])
def test_only_the_requested_lookup_annotations(db, wanted, expected):
    shape, found = by_key(db, "$select=_ownerid_value", annotations=True)
    body = entity_json(shape, found[JOB1], Annotations(wanted))
    assert [k for k in body if k.startswith("_ownerid_value@")] == expected


def test_all_properties_without_select_include_nulls(db):
    shape, found = by_key(db, "", annotations=True)
    body = entity_json(shape, found[JOB2], NONE)
    assert list(body)[0] == "@odata.etag"
    assert body["completedon"] is None and body["_regardingobjectid_value"] is None
    assert body["asyncoperationid"] == JOB2 and list(body).count("asyncoperationid") == 1
    assert "owneridtype" not in body and "versionnumber" not in body and "workflowstate" not in body


def test_expansions_come_last_and_a_missing_row_is_null(db):
    shape, found = by_key(db, "$select=name&$expand=owninguser($select=fullname),owningteam($select=name)")
    first = entity_json(shape, found[JOB1], NONE)
    assert list(first) == ["@odata.etag", "name", "asyncoperationid", "owninguser", "owningteam"]
    # No etag inside an expanded single-valued navigation; systemuser rows carry the inherited ownerid.
    assert first["owninguser"] == {"fullname": "Jane Doe", "systemuserid": USER, "ownerid": USER}
    assert first["owningteam"] is None
    second = entity_json(shape, found[JOB2], NONE)
    assert second["owninguser"] is None
    assert second["owningteam"] == {"name": "Ops team", "teamid": TEAM, "ownerid": TEAM}


def test_nested_expansion_and_annotations_inside_it(db):
    shape, found = by_key(
        db, "$select=name&$expand=createdby($select=fullname,_businessunitid_value;$expand=businessunitid($select=name))",
        annotations=True)
    body = entity_json(shape, found[JOB1], ALL)
    assert body["createdby"] == {
        "fullname": "Jane Doe",
        f"_businessunitid_value@{FORMATTED}": "Sales",
        f"_businessunitid_value@{ASSOCIATED_NAVIGATION}": "businessunitid",
        f"_businessunitid_value@{LOOKUP_LOGICAL_NAME}": "businessunit",
        "_businessunitid_value": BU,
        "systemuserid": USER,
        "ownerid": USER,
        "businessunitid": {"name": "Sales", "businessunitid": BU},
    }


def test_ref_expansion_is_an_odata_id(db):
    shape, found = by_key(db, "$select=name&$expand=owninguser/$ref")
    assert entity_json(shape, found[JOB1], NONE, service_root=ROOT)["owninguser"] == {
        "@odata.id": f"{ROOT}systemusers({USER})"}
    assert entity_json(shape, found[JOB2], NONE, service_root=ROOT)["owninguser"] is None


# ------------------------------------------------------------------------------------ aggregate_json


DOCUMENTED_GROUPS = "$apply=groupby((statecode,statuscode,operationtype),aggregate($count as count))"


def test_aggregate_row_with_formatted_values(db):
    compiled, found = rows(db, DOCUMENTED_GROUPS)
    assert [aggregate_json(compiled.aggregate_outputs, r, NONE) for r in found] == [
        {"statecode": 0, "statuscode": 0, "operationtype": 10, "count": 1},
        {"statecode": 3, "statuscode": 30, "operationtype": 13, "count": 1},
    ]
    formatted = aggregate_json(compiled.aggregate_outputs, found[1], Annotations((FORMATTED,)))
    assert list(formatted.items()) == [
        (f"statecode@{FORMATTED}", "Completed"), ("statecode", 3),
        (f"statuscode@{FORMATTED}", "Succeeded"), ("statuscode", 30),
        (f"operationtype@{FORMATTED}", "Bulk Delete"), ("operationtype", 13),
        (f"count@{FORMATTED}", "1"), ("count", 1),
    ]


def test_aggregate_count_is_formatted_with_thousands_separators():
    outputs = compile_query(DOCUMENTED_GROUPS).aggregate_outputs
    row = {"k0": 3, "k1": 31, "k2": 10, "a0": 12345}
    body = aggregate_json(outputs, row, ALL)
    assert body[f"count@{FORMATTED}"] == "12,345" and body["count"] == 12345
    assert body[f"statuscode@{FORMATTED}"] == "Failed"


def test_aggregate_null_group_values_are_left_out(db):
    compiled, found = rows(db, "$apply=groupby((statecode,owninguser/fullname),aggregate($count as count))")
    bodies = [aggregate_json(compiled.aggregate_outputs, r, NONE) for r in found]
    assert bodies == [{"statecode": 0, "count": 1}, {"statecode": 3, "systemuser_fullname": "Jane Doe", "count": 1}]
    outputs = compile_query(DOCUMENTED_GROUPS).aggregate_outputs
    assert aggregate_json(outputs, {"k0": 1, "k1": None, "k2": None, "a0": 2}, ALL) == {
        f"statecode@{FORMATTED}": "Suspended", "statecode": 1, f"count@{FORMATTED}": "2", "count": 2}


def test_aggregate_measures(db):
    compiled, (row,) = rows(db, "$apply=aggregate(retrycount with sum as total,executiontimespan with average as mean,"
                                "createdon with min as first,executiontimespan with max as longest)")
    body = aggregate_json(compiled.aggregate_outputs, row, Annotations((FORMATTED,)))
    assert body == {
        f"total@{FORMATTED}": "9,500", "total": 9500,
        f"mean@{FORMATTED}": "617.38", "mean": 617.375,
        f"first@{FORMATTED}": "4/7/2023 2:59 PM", "first": "2023-04-07T14:59:01Z",  # min/max keep the column's type
        f"longest@{FORMATTED}": "1,234.50", "longest": 1234.5,
    }


def test_aggregate_lookup_key_gets_lookup_annotations(db):
    compiled, found = rows(db, "$apply=groupby((_ownerid_value),aggregate($count as count))", annotations=True)
    bodies = {r["k0"]: aggregate_json(compiled.aggregate_outputs, r, ALL) for r in found}
    assert list(bodies[TEAM].items()) == [
        (f"_ownerid_value@{FORMATTED}", "Ops team"),
        (f"_ownerid_value@{ASSOCIATED_NAVIGATION}", "ownerid"),
        (f"_ownerid_value@{LOOKUP_LOGICAL_NAME}", "team"),
        ("_ownerid_value", TEAM),
        (f"count@{FORMATTED}", "1"), ("count", 1),
    ]


# ------------------------------------------------------------------------------------ Annotations.wants


@pytest.mark.parametrize("patterns, term, wanted", [
    (("*",), FORMATTED, True),
    (("*",), TOTAL_COUNT, True),
    (("*",), "Microsoft.PowerApps.CDS.HelpLink", True),
    ((FORMATTED,), FORMATTED, True),
    ((FORMATTED,), LOOKUP_LOGICAL_NAME, False),
    ((LOOKUP_LOGICAL_NAME, TOTAL_COUNT), TOTAL_COUNT, True),
    (("Microsoft.Dynamics.CRM.*",), LOOKUP_LOGICAL_NAME, True),
    (("Microsoft.Dynamics.CRM.*",), ASSOCIATED_NAVIGATION, True),
    (("Microsoft.Dynamics.CRM.*",), TOTAL_COUNT, True),
    (("Microsoft.Dynamics.CRM.*",), FORMATTED, False),
    (("OData.Community.Display.V1.*",), FORMATTED, True),
    (("Microsoft.PowerApps.CDS.ErrorDetails*",), "Microsoft.PowerApps.CDS.ErrorDetails.OperationStatus", True),
    (("Microsoft.PowerApps.CDS.ErrorDetails*",), "Microsoft.PowerApps.CDS.HelpLink", False),
    (("Microsoft.Dynamics.CRM",), LOOKUP_LOGICAL_NAME, False),  # no implicit prefix match
    (("Microsoft.Dynamics.CRM.lookup",), LOOKUP_LOGICAL_NAME, False),
    ((), FORMATTED, False),
])
def test_annotations_wants(patterns, term, wanted):
    assert Annotations(patterns).wants(term) is wanted


def test_annotation_flags():
    assert not NONE.any and not NONE.formatted and not NONE.lookup_names
    assert ALL.any and ALL.formatted and ALL.lookup_names
    only_names = Annotations((LOOKUP_LOGICAL_NAME,))
    assert only_names.lookup_names and not only_names.formatted
    assert Annotations((FORMATTED,)).lookup_names  # lookup display names come from the same subqueries
    assert not Annotations((TOTAL_COUNT,)).lookup_names


# ------------------------------------------------------------------------------------ context URLs


def projection(query: str, entity=ASYNC):
    return Binder(MODEL, entity).bind_query(parse_query_string(query)).projection


@pytest.mark.parametrize("query, context", [
    ("$select=name,statecode", "asyncoperations(name,statecode)"),
    ("$select=statecode,name", "asyncoperations(statecode,name)"),  # request order
    ("$select=name,name", "asyncoperations(name)"),
    ("$select=_ownerid_value,name", "asyncoperations(_ownerid_value,name)"),
    ("$select=asyncoperationid", "asyncoperations(asyncoperationid)"),
    ("$select=*", "asyncoperations(*)"),
    ("$select=name&$expand=createdby($select=fullname)", "asyncoperations(name,createdby(fullname))"),
    ("$select=name&$expand=createdby($select=fullname),owningbusinessunit($select=name)",
     "asyncoperations(name,createdby(fullname),owningbusinessunit(name))"),
    ("$select=name&$expand=createdby($select=fullname;$expand=businessunitid($select=name))",
     "asyncoperations(name,createdby(fullname,businessunitid(name)))"),
    ("$select=name&$expand=createdby", "asyncoperations(name,createdby())"),
    ("$expand=createdby($select=fullname)", "asyncoperations(createdby(fullname))"),
])
def test_collection_context(query, context):
    assert collection_context(ROOT, ASYNC, projection(query)) == f"{ROOT}$metadata#{context}"
    assert entity_context(ROOT, ASYNC, projection(query)) == f"{ROOT}$metadata#{context}/$entity"


def test_context_without_projection():
    assert collection_context(ROOT, ASYNC, None) == f"{ROOT}$metadata#asyncoperations"
    assert collection_context(ROOT, ASYNC, projection("")) == f"{ROOT}$metadata#asyncoperations"
    assert entity_context(ROOT, ASYNC, projection("")) == f"{ROOT}$metadata#asyncoperations/$entity"
    user = MODEL.entity("systemuser")
    assert collection_context(ROOT, user, projection("$select=fullname", user)) == f"{ROOT}$metadata#systemusers(fullname)"


def test_documented_system_jobs_context():
    query = ("$select=name,_ownerid_value,statecode&$expand=createdby($select=fullname),"
             "owningextensionid($select=name),owninguser($select=fullname)")
    assert collection_context(ROOT, ASYNC, projection(query)) == (
        f"{ROOT}$metadata#asyncoperations(name,_ownerid_value,statecode,createdby(fullname),owningextensionid(name),"
        "owninguser(fullname))")


# ------------------------------------------------------------------------------------ the generated writers

# Row shapes without annotations are written by straight-line code made once per shape
# (`serialize._plain_writer`, built with `exec`): a second implementation of `entity_json`. Every
# shape below must come out byte for byte as the general path writes it (an annotation pattern that
# matches no term takes the general path and adds nothing), over every row of the bundled data set,
# with and without the etag, keeping nulls (OData) and leaving them out (FetchXML's rule). Shapes with
# nested rows only come from OData's $expand, which keeps nulls: they are checked that way only (asked
# to leave nulls out, the two paths differ inside a nested row, and no caller asks).
GENERAL_PATH = Annotations(("Test.NoSuchAnnotation",))

WRITER_QUERIES = [
    ("asyncoperation", ""),
    ("asyncoperation", "$select=name"),
    ("asyncoperation", "$select=asyncoperationid,name"),
    ("asyncoperation", ("$select=name,statecode,statuscode,operationtype,createdon,completedon,postponeuntil,"
                       "iswaitingforevent,retainjobhistory,executiontimespan,retrycount,errorcode,message")),
    ("asyncoperation", LOOKUPS),
    ("asyncoperation", "$select=name&$expand=createdby"),
    ("asyncoperation", "$select=name&$expand=createdby($select=fullname)"),
    ("asyncoperation", "$select=name&$expand=createdby($select=fullname;$expand=businessunitid($select=name))"),
    ("asyncoperation", ("$select=name,_ownerid_value&$expand=owninguser($select=fullname),owningteam($select=name),"
                       "owningbusinessunit($select=name,_parentbusinessunitid_value)")),
    ("asyncoperation", ("$select=statecode&$expand=owningextensionid($select=name),workflowactivationid,"
                       "regardingobjectid_account($select=name),regardingobjectid_contact")),
    ("asyncoperation", ("$expand=modifiedby($select=fullname;$expand=businessunitid($select=name;"
                       "$expand=parentbusinessunitid($select=name)))")),
    ("systemuser", ""),
    ("systemuser", "$select=fullname&$expand=businessunitid($select=name)"),
    ("team", "$select=name&$expand=administratorid($select=fullname),businessunitid"),
    ("businessunit", "$expand=parentbusinessunitid($select=name)"),
    ("workflow", ""),
    ("sdkmessageprocessingstep", ""),
    ("account", "$expand=createdby($select=fullname)"),
    ("contact", ""),
]

WRITER_FETCHES = [
    "<fetch><entity name='asyncoperation'><all-attributes/></entity></fetch>",
    ("<fetch><entity name='asyncoperation'><attribute name='name'/><attribute name='completedon'/>"
    "<attribute name='ownerid'/><attribute name='regardingobjectid'/></entity></fetch>"),
    ("<fetch><entity name='asyncoperation'><attribute name='name' alias='n'/><attribute name='statecode' alias='s'/>"
    "</entity></fetch>"),
    ("<fetch><entity name='asyncoperation'><attribute name='name'/>"
    "<link-entity name='systemuser' from='systemuserid' to='createdby' alias='u' link-type='outer'>"
    "<attribute name='fullname'/><attribute name='businessunitid'/></link-entity>"
    "<link-entity name='team' from='teamid' to='owningteam' alias='t' link-type='outer'><attribute name='name'/>"
    "</link-entity></entity></fetch>"),
    ("<fetch distinct='true'><entity name='asyncoperation'><attribute name='statecode'/><attribute name='statuscode'/>"
    "</entity></fetch>"),
]


@pytest.fixture(scope="module")
def data_set(tmp_path_factory, template_store):
    """The bundled data set (a copy of the tests' template store), read with a plain SQLAlchemy engine."""
    path = copy_store(template_store, tmp_path_factory.mktemp("serialize") / "store.db")
    engine = plain_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def assert_writer_matches_entity_json(engine, compiled) -> None:
    from odata_emulator.api.serialize import _plain_writer  # white-box: the module's fast path

    shape = compiled.shape
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(compiled.statement).mappings()]
    assert rows
    for etag in (True, False):
        for omit_nulls in (False,) if shape.single else (False, True):
            write = _plain_writer(shape, etag, omit_nulls)
            assert write is not None, "a shape without collections or $ref is written by generated code"
            for row in rows:
                generated = write(row)
                general = entity_json(shape, row, GENERAL_PATH, etag=etag, omit_nulls=omit_nulls)
                # orjson's bytes: the same properties in the same order, with the same JSON types.
                assert orjson.dumps(generated) == orjson.dumps(general), (etag, omit_nulls, row)
                assert entity_json(shape, row, NONE, etag=etag, omit_nulls=omit_nulls) == generated


@pytest.mark.parametrize("entity, query", WRITER_QUERIES, ids=[f"{e}?{q}" for e, q in WRITER_QUERIES])
def test_generated_writer_matches_entity_json(data_set, entity, query):
    compiled = Planner(MODEL).plan(MODEL.entity(entity), parse_query_string(query), annotations=False)
    assert_writer_matches_entity_json(data_set, compiled)


@pytest.mark.parametrize("xml", WRITER_FETCHES)
def test_generated_writer_matches_entity_json_for_fetchxml(data_set, xml):
    _, compiled = Planner(MODEL).plan_fetch(ASYNC, xml, count=False, annotations=False)
    assert not compiled.shape.single, "FetchXML rows are flat"
    assert_writer_matches_entity_json(data_set, compiled)


def test_shapes_with_collections_or_refs_take_the_general_path():
    from odata_emulator.api.serialize import _plain_writer

    for query in ("$select=name&$expand=AsyncOperation_BulkDeleteOperation", "$select=name&$expand=createdby/$ref"):
        shape = Planner(MODEL).plan(ASYNC, parse_query_string(query), annotations=False).shape
        assert _plain_writer(shape, True, False) is None


AGGREGATE_QUERIES = [
    "$apply=groupby((statecode,statuscode,operationtype),aggregate($count as count))",
    ("$apply=filter(statecode eq 3)/groupby((operationtype,_ownerid_value,_regardingobjectid_value),"
    "aggregate($count as n,createdon with max as last,startedon with min as first,executiontimespan with sum as spent))"),
    "$apply=groupby((createdby/fullname,iswaitingforevent),aggregate(executiontimespan with average as avg))",
    "$apply=aggregate($count as n,completedon with max as done)",
]
AGGREGATE_FETCHES = [
    ("<fetch aggregate='true'><entity name='asyncoperation'><attribute name='asyncoperationid' alias='n' "
    "aggregate='count'/><attribute name='createdon' alias='month' groupby='true' dategrouping='month'/>"
    "<attribute name='postponeuntil' alias='last' aggregate='max'/></entity></fetch>"),
]


def _assert_aggregate_writer_matches_aggregate_json(engine, compiled) -> None:
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(compiled.statement).mappings()]
    assert rows
    write = aggregate_writer(compiled, NONE)
    assert aggregate_writer(compiled, NONE) is write, "made once per plan"
    for row in rows:
        # orjson's bytes: the same properties in the same order, with the same JSON types.
        assert orjson.dumps(write(row)) == orjson.dumps(aggregate_json(compiled.aggregate_outputs, row, GENERAL_PATH))
        assert write(row) == aggregate_json(compiled.aggregate_outputs, row, NONE)


@pytest.mark.parametrize("query", AGGREGATE_QUERIES)
def test_generated_aggregate_writer_matches_aggregate_json(data_set, query):
    compiled = Planner(MODEL).plan(ASYNC, parse_query_string(query), annotations=False)
    _assert_aggregate_writer_matches_aggregate_json(data_set, compiled)


@pytest.mark.parametrize("xml", AGGREGATE_FETCHES)
def test_generated_aggregate_writer_matches_aggregate_json_for_fetchxml(data_set, xml):
    _, compiled = Planner(MODEL).plan_fetch(ASYNC, xml, count=False, annotations=False)
    _assert_aggregate_writer_matches_aggregate_json(data_set, compiled)
