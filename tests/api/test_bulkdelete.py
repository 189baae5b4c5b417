"""`POST /api/data/v9.2/BulkDelete` end to end: the response (status, headers, exact JSON), the
system job and the bulkdeleteoperation it files as the Web API reads them back, and every invalid
request answering its Dataverse error with nothing written (checked on the store file with the
stdlib sqlite3 module)."""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
import sqlite3

import pytest

from tests.helpers import API, BULK_DELETE_REQUEST, JSON_TYPE, make_settings, running

NOW = "2026-11-01T12:00:00Z"  # the fixture data set's reference time: the virtual clock starts there
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

DOCUMENTED_FETCHXML = (
    '<fetches><fetch><entity name="asyncoperation"><attribute name="asyncoperationid" />'
    '<filter type="and"><condition attribute="statecode" operator="eq" value="3" />'
    '<condition attribute="completedon" operator="olderthan-x-days" value="30" /></filter>'
    '</entity></fetch></fetches>'
)


def request(**changes) -> dict:
    body = copy.deepcopy(BULK_DELETE_REQUEST)
    body.update(changes)
    return body


def with_query(**changes) -> dict:
    body = request()
    body["QuerySet"][0].update(changes)
    return body


def with_condition(**changes) -> dict:
    body = request()
    body["QuerySet"][0]["Criteria"]["Conditions"][0].update(changes)
    return body


def without(name: str) -> dict:
    return {k: v for k, v in BULK_DELETE_REQUEST.items() if k != name}


async def file(em, body, **kw):
    return await em.request("POST", "BulkDelete", json=body, **kw)


async def caller_id(em) -> str:
    return (await em.get("WhoAmI")).json()["UserId"]


# ------------------------------------------------------------------------------------ the response


async def test_the_documented_request_answers_a_bulk_delete_response(emulated):
    response = await file(emulated, BULK_DELETE_REQUEST, headers={"OData-MaxVersion": "4.0", "OData-Version": "4.0",
                                                         "Accept": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_TYPE
    assert response.headers["odata-version"] == "4.0"
    body = response.json()
    assert list(body) == ["@odata.context", "JobId"]
    assert body["@odata.context"] == f"{API}$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse"
    assert GUID.match(body["JobId"])


async def test_the_filed_job_and_bulkdeleteoperation_read_back(emulated):
    job_id = (await file(emulated, BULK_DELETE_REQUEST)).json()["JobId"]
    user = await caller_id(emulated)

    job = (await emulated.get(f"asyncoperations({job_id})")).json()
    assert job["name"] == BULK_DELETE_REQUEST["JobName"]
    assert job["operationtype"] == 13
    assert job["messagename"] == "BulkDelete"
    # Starts tomorrow at 02:00: Suspended / Waiting until then.
    assert (job["statecode"], job["statuscode"]) == (1, 10)
    assert job["postponeuntil"] == "2026-11-02T02:00:00Z"
    assert job["recurrencepattern"] == "FREQ=DAILY;INTERVAL=1;"
    assert job["recurrencestarttime"] == "2026-11-02T02:00:00Z"
    assert job["createdon"] == NOW
    assert job["_ownerid_value"] == job["_createdby_value"] == user

    found = (await emulated.get(f"bulkdeleteoperations?$filter=_asyncoperationid_value eq {job_id}")).json()["value"]
    assert len(found) == 1
    operation = found[0]
    assert GUID.match(operation.pop("bulkdeleteoperationid"))
    assert operation.pop("@odata.etag").startswith('W/"')
    assert operation == {
        "name": BULK_DELETE_REQUEST["JobName"],
        "_asyncoperationid_value": job_id,
        "successcount": 0,
        "failurecount": 0,
        "isrecurring": True,
        "nextrun": "2026-11-02T02:00:00Z",
        "orderedquerysetxml": DOCUMENTED_FETCHXML,
        "processingqeindex": 0,
        "statecode": 1,
        "statuscode": 10,
        "_ownerid_value": user,
        "_owningbusinessunit_value": job["_owningbusinessunit_value"],
        "_owninguser_value": user,
        "createdon": NOW,
        "_createdby_value": user,
        "modifiedon": NOW,
        "_modifiedby_value": user,
    }
    # The relationship reads both ways.
    related = (await emulated.get(f"asyncoperations({job_id})/AsyncOperation_BulkDeleteOperation")).json()["value"]
    assert [r["name"] for r in related] == [BULK_DELETE_REQUEST["JobName"]]
    expanded = (await emulated.get(f"bulkdeleteoperations?$filter=_asyncoperationid_value eq {job_id}"
                                   f"&$expand=asyncoperationid($select=operationtype)")).json()["value"][0]
    assert expanded["asyncoperationid"]["operationtype"] == 13


@pytest.mark.parametrize("changes, pair, postponed, recurrence_start", [
    # Run once, started already: Ready now.
    ({"RecurrencePattern": "", "StartDateTime": "2026-11-01T11:00:00Z"}, (0, 0), None, None),
    ({"RecurrencePattern": "", "StartDateTime": NOW}, (0, 0), None, None),
    # Run once, later: Suspended / Waiting until then, unless RunNow.
    ({"RecurrencePattern": "", "StartDateTime": "2026-12-01T00:00:00Z"}, (1, 10), "2026-12-01T00:00:00Z", None),
    ({"RecurrencePattern": "", "StartDateTime": "2026-12-01T00:00:00Z", "RunNow": True}, (0, 0), None, None),
    # Recurring: the rule counts from StartDateTime (in UTC); RunNow only brings the first run forward.
    ({"StartDateTime": "2026-12-01T00:00:00+02:00", "RunNow": False}, (1, 10), "2026-11-30T22:00:00Z",
     "2026-11-30T22:00:00Z"),
    ({"RunNow": True}, (0, 0), None, "2026-11-02T02:00:00Z"),
])
async def test_when_the_job_first_runs(emulated, changes, pair, postponed, recurrence_start):
    job_id = (await file(emulated, request(**changes))).json()["JobId"]
    job = (await emulated.get(f"asyncoperations({job_id})")).json()
    assert (job["statecode"], job["statuscode"]) == pair
    assert job["postponeuntil"] == postponed
    assert job["recurrencestarttime"] == recurrence_start
    pattern = changes.get("RecurrencePattern", BULK_DELETE_REQUEST["RecurrencePattern"])
    assert job["recurrencepattern"] == (pattern or None)
    operation = (await emulated.get(f"asyncoperations({job_id})/AsyncOperation_BulkDeleteOperation")).json()["value"][0]
    assert (operation["statecode"], operation["statuscode"]) == pair
    assert operation["nextrun"] == (postponed or NOW)
    assert operation["isrecurring"] is (recurrence_start is not None)


async def test_several_queries_optional_parameters_and_annotations(emulated):
    body = request(
        QuerySet=[
            {"EntityName": "contact", "ColumnSet": {"AllColumns": True}, "PageInfo": {"Count": 10, "PageNumber": 1},
             "Criteria": {"Conditions": [{"AttributeName": "lastname", "Operator": "BeginsWith", "Values": ["Sm"]}]}},
            {"EntityName": "account", "Criteria": {"FilterOperator": "Or", "Conditions": [
                {"AttributeName": "name", "Operator": "Like", "Values": [{"Value": "%test%", "Type": "System.String"}]},
                {"AttributeName": "createdby", "Operator": "EqualUserId"}]},
             "LinkEntities": [{"LinkFromAttributeName": "createdby", "LinkToEntityName": "systemuser",
                               "LinkToAttributeName": "systemuserid", "JoinOperator": "LeftOuter",
                               "EntityAlias": "creator"}],
             "Orders": [{"AttributeName": "name", "OrderType": "Descending"}], "TopCount": 3},
        ],
        SendEmailNotification=True,
        ToRecipients=["0B1C6A96-B1F5-4AB2-8F4A-A46764E29B77", {"partyid_systemuser@odata.bind": "/systemusers(x)"}],
        RunNow=None, SourceImportId="00000000-0000-0000-0000-000000000000",
        Options={"CanRecoverDeletedRecords": False, "RunJobForSandbox": True},
        **{"QuerySet@odata.type": "#Collection(Microsoft.Dynamics.CRM.QueryExpression)"},
    )
    response = await file(emulated, body)
    assert response.status_code == 200, response.text
    job_id = response.json()["JobId"]
    operation = (await emulated.get(f"asyncoperations({job_id})/AsyncOperation_BulkDeleteOperation")).json()["value"][0]
    # In order, PageInfo left out (the job pages through every match itself).
    assert operation["orderedquerysetxml"] == (
        '<fetches><fetch><entity name="contact"><all-attributes /><filter type="and">'
        '<condition attribute="lastname" operator="begins-with" value="Sm" /></filter></entity></fetch>'
        '<fetch top="3"><entity name="account"><order attribute="name" descending="true" />'
        '<filter type="or"><condition attribute="name" operator="like" value="%test%" />'
        '<condition attribute="createdby" operator="eq-userid" /></filter>'
        '<link-entity name="systemuser" from="systemuserid" to="createdby" link-type="outer" alias="creator" />'
        '</entity></fetch></fetches>'
    )


async def test_only_post(emulated):
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = await emulated.request(method, "BulkDelete")
        assert response.status_code == 404, method
        assert response.json() == {"error": {"code": "", "message": "No HTTP resource was found that matches the "
                                                                    f"request URI '{API}BulkDelete'."}}
    assert (await emulated.request("POST", "BulkDelete(1)", json=BULK_DELETE_REQUEST)).status_code in (400, 404)
    assert (await emulated.request("POST", "BulkDelete/x", json=BULK_DELETE_REQUEST)).status_code == 404


# ------------------------------------------------------------------------------------ invalid requests


INVALID = [
    # (case, body, code, fragment of the message)
    ("not JSON", b"{QuerySet: []", "0x80048d19", "not valid JSON"),
    ("empty body", b"", "0x80048d19", "empty"),
    ("a JSON array", b"[]", "0x80048d19", "JSON object"),
    ("unknown parameter", request(Query=[]), "0x80048d19", "'Query' in the request payload is not a valid parameter"),
    ("no QuerySet", without("QuerySet"), "0x80040203", "'QuerySet' of BulkDelete is required"),
    ("null QuerySet", request(QuerySet=None), "0x80048d19", "null value"),
    ("empty QuerySet", request(QuerySet=[]), "0x80040203", "at least one query"),
    ("QuerySet not an array", request(QuerySet=BULK_DELETE_REQUEST["QuerySet"][0]), "0x80048d19", "Collection"),
    ("a query that is not an object", request(QuerySet=["asyncoperations?$filter=statecode eq 3"]), "0x80048d19",
     "QueryExpression JSON object"),
    ("the second query is bad", request(QuerySet=[BULK_DELETE_REQUEST["QuerySet"][0], {"EntityName": "nosuch"}]),
     "0x80041102", "'nosuch'"),
    ("unknown EntityName", with_query(EntityName="asyncoperations"), "0x80041102", "'asyncoperations'"),
    ("no EntityName", with_query(EntityName=None), "0x80041102", "EntityName"),
    ("EntityDefinitions", with_query(EntityName="EntityDefinitions", Criteria=None), "0x80041102",
     "'EntityDefinitions'"),
    ("the metadata table", with_query(EntityName="EntityMetadata", Criteria=None), "0x80041102", "'EntityMetadata'"),
    ("a table the emulator does not bulk delete", with_query(EntityName="systemuser", Criteria=None), "0x80040203",
     "does not delete 'systemuser' records"),
    ("unknown attribute", with_condition(AttributeName="state"), "0x80041103", "Name = 'state'"),
    ("unknown column in the ColumnSet", with_query(ColumnSet={"Columns": ["nosuch"]}), "0x80041103", "'nosuch'"),
    ("unknown property of the query", with_query(Filter={}), "0x80048d19", "'Filter' does not exist"),
    ("unknown operator", with_condition(Operator="Equals"), "0x80048d19", "'Equals' is not a valid ConditionOperator"),
    ("operator the emulator does not evaluate", with_condition(Operator="InFiscalYear"), "0x8006088a",
     "not supported by the emulator"),
    ("value not of its declared type", with_condition(Values=[{"Value": "three", "Type": "System.Int32"}]),
     "0x80048d19", "'three'"),
    ("value not of the column's type", with_condition(Values=[{"Value": "three", "Type": "System.String"}]), None,
     "'three'"),
    ("a null value", with_condition(Values=[None]), "0x80048d19", "Null or NotNull"),
    ("an object value", with_condition(Values=[{"Value": {"x": 1}}]), "0x80048d19", "string, number or boolean"),
    ("two values for Equal", with_condition(Values=["3", "4"]), None, "2 given"),
    ("a date function out of range", with_condition(AttributeName="completedon", Operator="OlderThanXYears",
                                                    Values=["2147483647"]), None, "out of range"),
    ("JoinOperator Exists", with_query(LinkEntities=[{"LinkFromAttributeName": "createdby",
                                                      "LinkToEntityName": "systemuser",
                                                      "LinkToAttributeName": "systemuserid",
                                                      "JoinOperator": "Exists"}]), "0x8006088a", "Exists"),
    ("no JobName", without("JobName"), "0x80040203", "'JobName' of BulkDelete is required"),
    ("blank JobName", request(JobName="   "), "0x80040203", "must not be empty"),
    ("JobName not a string", request(JobName=7), "0x80048d19", "Edm.String"),
    ("JobName too long", request(JobName="x" * 257), "0x80044331", "256"),
    ("bad RecurrencePattern", request(RecurrencePattern="FREQ=FORTNIGHTLY"), "0x80040203", "RFC 2445"),
    ("RecurrencePattern not a string", request(RecurrencePattern=1), "0x80048d19", "Edm.String"),
    ("RecurrencePattern too long", request(RecurrencePattern="FREQ=DAILY;" * 30), "0x80044331", "256"),
    ("no RecurrencePattern", without("RecurrencePattern"), "0x80040203", "required"),
    ("bad StartDateTime", request(StartDateTime="next Tuesday"), "0x80048d19", "'next Tuesday'"),
    ("StartDateTime a number", request(StartDateTime=1767225600), "0x80048d19", "Edm.DateTimeOffset"),
    ("no StartDateTime", without("StartDateTime"), "0x80040203", "'StartDateTime' of BulkDelete is required"),
    ("SendEmailNotification not a boolean", request(SendEmailNotification="no"), "0x80048d19", "Edm.Boolean"),
    ("no ToRecipients", without("ToRecipients"), "0x80040203", "required"),
    ("ToRecipients not an array", request(ToRecipients="someone"), "0x80048d19", "Collection"),
    ("a recipient that is not a GUID", request(CCRecipients=["someone"]), "0x80048d19", "'someone'"),
    ("RunNow not a boolean", request(RunNow="yes"), "0x80048d19", "Edm.Boolean"),
    ("an import the emulator does not have", request(SourceImportId="5b0a3c3e-1111-4222-8333-944455556666"),
     "0x80040203", "no data imports"),
    ("SourceImportId not a GUID", request(SourceImportId="import-1"), "0x80048d19", "Edm.Guid"),
    ("unknown option", request(Options={"Fast": True}), "0x80048d19", "'Fast'"),
    ("option not a boolean", request(Options={"RunJobForSandbox": "yes"}), "0x80048d19", "Edm.Boolean"),
]


def store_counts(path) -> tuple[int, ...]:
    with sqlite3.connect(path) as conn:
        return tuple(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                     for table in ("asyncoperation", "bulkdeleteoperation", "emulator_job_history",
                                   "emulator_job_simulation"))


async def test_invalid_requests_answer_their_error_and_write_nothing(file_store):
    em, path = file_store
    before = store_counts(path)
    for case, body, code, fragment in INVALID:
        if isinstance(body, bytes):
            response = await em.request("POST", "BulkDelete", content=body, headers={"Content-Type": "application/json"})
        else:
            response = await file(em, body)
        assert response.status_code == 400, (case, response.text)
        assert response.headers["content-type"] == JSON_TYPE, case
        error = response.json()["error"]
        assert list(response.json()) == ["error"] and set(error) == {"code", "message"}, case
        if code is not None:
            assert error["code"] == code, (case, error)
        else:
            assert error["code"].startswith("0x8"), (case, error)
        assert fragment in error["message"], (case, error)
        assert store_counts(path) == before, f"{case}: a refused request writes nothing"
    # ...and the same store still files a good one.
    assert (await file(em, BULK_DELETE_REQUEST)).status_code == 200
    assert store_counts(path)[:2] == (before[0] + 1, before[1] + 1)


# ------------------------------------------------------------------------------------ fuzzing

_ATOMS = [None, True, False, 0, -1, 2 ** 40, 1.5, "", "x", "3", "Equal", "And", "Inner", "\x00", NOW, [], {}, [None],
          {"Value": None}, {"Value": "1", "Type": "System.Int32"}, "asyncoperation", "EntityMetadata",
          "OlderThanXDays", "💥", "a" * 300]
_FUZZ_BASE = copy.deepcopy(BULK_DELETE_REQUEST)
_FUZZ_BASE["QuerySet"][0].update(
    LinkEntities=[{"LinkFromAttributeName": "createdby", "LinkToEntityName": "systemuser",
                   "LinkToAttributeName": "systemuserid", "JoinOperator": "LeftOuter", "EntityAlias": "u",
                   "Columns": {"Columns": ["fullname"]},
                   "LinkCriteria": {"Conditions": [{"AttributeName": "fullname", "Operator": "Like",
                                                    "Values": ["%a%"]}]}}],
    Orders=[{"AttributeName": "name", "OrderType": "Descending"}], TopCount=5)


def _places(node, prefix=()):
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in children:
        yield from _places(value, prefix + (key,))


def _mutated(rng) -> dict:
    body = copy.deepcopy(_FUZZ_BASE)
    for _ in range(rng.randint(1, 3)):
        place = rng.choice([p for p in _places(body) if p])
        parent = body
        for key in place[:-1]:
            parent = parent[key]
        roll = rng.random()
        if roll < 0.6:
            parent[place[-1]] = rng.choice(_ATOMS)
        elif isinstance(parent, dict) and roll < 0.8:
            del parent[place[-1]]
        elif isinstance(parent, dict):
            parent[rng.choice(["Foo", "Values", "Filters", "LinkEntities", "EntityName", "Operator"])] = \
                rng.choice(_ATOMS)
    return body


@pytest.mark.slow  # over a second: 200 mangled requests
async def test_mangled_requests_never_fail_with_500_and_what_is_accepted_runs(tmp_path):
    path = tmp_path / "store.db"
    start = dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc)  # NOW, so that the documented start is near
    async with running(make_settings(database=str(path), fixtures=None, clock_start=start)) as em:
        await _fuzz(em, path, random.Random(7))


async def _fuzz(em, path, rng) -> None:
    filed = []
    for _ in range(200):
        before = store_counts(path)
        response = await file(em, _mutated(rng))
        assert response.status_code in (200, 400), response.text
        if response.status_code == 200:
            filed.append(response.json()["JobId"])
        else:
            assert response.json()["error"]["code"].startswith("0x8"), response.text
            assert store_counts(path) == before
    assert len(filed) > 10
    # Every query that was accepted runs: no accepted bulk delete fails. (Some may delete others.)
    await em.client.post("/_emulator/v1/clock", json={"advance": "P3D"})
    with sqlite3.connect(path) as conn:
        marks = ",".join("?" * len(filed))
        outcomes = conn.execute(f"SELECT statecode, statuscode FROM asyncoperation WHERE asyncoperationid IN ({marks})",
                                filed).fetchall()
        ran = {row[0] for row in conn.execute(
            f"SELECT asyncoperationid FROM emulator_job_history WHERE asyncoperationid IN ({marks}) "
            f"AND reason LIKE '% (bulk delete: %'", filed)}
        remaining = {row[0] for row in conn.execute(
            f"SELECT asyncoperationid FROM asyncoperation WHERE asyncoperationid IN ({marks})", filed)}
    assert outcomes and all(pair in ((3, 30), (1, 10)) for pair in outcomes), outcomes
    assert remaining <= ran, "every accepted job that is still there has run and deleted"
    assert len(ran) > 10
