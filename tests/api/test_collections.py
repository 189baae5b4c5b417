"""Entity set queries end to end: `$select`, `$filter`, `$orderby`, `$top`, `$count`, `$expand`,
lambdas and the related entity sets, as a client sees them (status, headers, exact JSON).

Every row set is checked against an independent oracle: SQL run with the stdlib sqlite3 module on
the emulator's own store file (logical column names, GUIDs as lowercase text, date-times as epoch
seconds). The virtual clock stands at the fixtures' reference time, 2026-11-01T12:00:00Z.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

from tests.helpers import API, JSON_TYPE, REPO, epoch, iso, sql_ids, sql_rows, with_file_data

NOW = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
CALLER = json.loads((REPO / "fixtures" / "dataset.json").read_text(encoding="utf-8"))["caller"]["systemuserid"]
TEAM_MARKETING = "b6c35a20-9175-4880-b74e-a00d78968288"

DATETIMES = {"completedon", "correlationupdatedtime", "createdon", "expanderstarttime", "modifiedon",
             "postponeuntil", "recurrencestarttime", "startedon"}
BOOLEANS = {"iswaitingforevent", "retainjobhistory"}
LOOKUPS = {"createdby", "createdonbehalfby", "modifiedby", "modifiedonbehalfby", "ownerid", "owningbusinessunit",
           "owningextensionid", "owningteam", "owninguser", "regardingobjectid", "workflowactivationid"}
# Every Web API property of asyncoperation (the Dataverse EntityType): no `workflowstate` or
# `workflowisblocked` (not valid for read), no `owneridtype`, `owningextensiontypecode`,
# `regardingobjecttypecode`, `datablobid_name` or `versionnumber` (not Web API properties).
WEBAPI_PROPERTIES = {
    "asyncoperationid", "breadcrumbid", "callerorigin", "completedon", "correlationid", "correlationupdatedtime",
    "_createdby_value", "createdon", "_createdonbehalfby_value", "data", "datablobid", "dependencytoken", "depth",
    "errorcode", "executiontimespan", "expanderstarttime", "friendlymessage", "hostid", "iswaitingforevent",
    "message", "messagename", "_modifiedby_value", "modifiedon", "_modifiedonbehalfby_value", "name",
    "operationtype", "_ownerid_value", "_owningbusinessunit_value", "_owningextensionid_value", "_owningteam_value",
    "_owninguser_value", "parentpluginexecutionid", "postponeuntil", "primaryentitytype", "recurrencepattern",
    "recurrencestarttime", "_regardingobjectid_value", "requestid", "retainjobhistory", "retrycount",
    "rootexecutioncontext", "sequence", "startedon", "statecode", "statuscode", "subtype",
    "timezoneruleversionnumber", "utcconversiontimezonecode", "_workflowactivationid_value", "workflowstagename",
    "workload",
}


def sql_jobs(path) -> dict[str, dict]:
    """Every stored job, as {asyncoperationid: {column: stored value}}."""
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        jobs = [dict(r) for r in conn.execute("SELECT * FROM asyncoperation")]
    conn.close()
    return {job["asyncoperationid"]: job for job in with_file_data(path, jobs)}


def webapi_value(column: str, value):
    """What the Web API writes for a stored value: the oracle's own conversion."""
    if value is None:
        return None
    if column in DATETIMES:
        return iso(value)
    if column in BOOLEANS:
        return bool(value)
    if column == "executiontimespan":
        return float(value)
    return value


async def get_ok(em, url: str, **kw) -> dict:
    response = await em.get(url, **kw)
    assert response.status_code == 200, (url, response.text)
    assert response.headers["content-type"] == JSON_TYPE
    assert response.headers["odata-version"] == "4.0"
    return response.json()


def ids_of(body: dict, key: str = "asyncoperationid") -> list[str]:
    return [row[key] for row in body["value"]]


# ------------------------------------------------------------------------------------ $select


async def test_select_shape_order_nulls_and_context(file_store):
    em, path = file_store
    body = await get_ok(em, "asyncoperations?$select=statuscode,_ownerid_value,name,completedon&$filter=statecode eq 0")
    assert list(body) == ["@odata.context", "value"]
    assert body["@odata.context"] == f"{API}$metadata#asyncoperations(statuscode,_ownerid_value,name,completedon)"
    expected = sql_rows(path, """SELECT asyncoperationid, statuscode, ownerid, name, completedon FROM asyncoperation
                                 WHERE statecode = 0 ORDER BY asyncoperationid""")
    assert expected, "the fixtures hold waiting jobs"
    assert len(body["value"]) == len(expected)
    jobs = sql_jobs(path)
    for row, (job, status, owner, name, completed) in zip(body["value"], expected):
        version = jobs[job]["versionnumber"]
        # Selected properties in request order, nulls included, the primary key appended.
        assert row == {"@odata.etag": f'W/"{version}"', "statuscode": status, "_ownerid_value": owner, "name": name,
                       "completedon": None, "asyncoperationid": job}
        assert list(row) == ["@odata.etag", "statuscode", "_ownerid_value", "name", "completedon", "asyncoperationid"]
        assert completed is None

    # Selecting the primary key keeps it where it was asked for, once.
    body = await get_ok(em, "asyncoperations?$select=name,asyncoperationid,createdon&$top=3")
    assert body["@odata.context"] == f"{API}$metadata#asyncoperations(name,asyncoperationid,createdon)"
    assert [list(row) for row in body["value"]] == [["@odata.etag", "name", "asyncoperationid", "createdon"]] * 3
    first = jobs[body["value"][0]["asyncoperationid"]]
    assert body["value"][0]["createdon"] == iso(first["createdon"])
    assert body["value"][0]["name"] == first["name"]


async def test_no_select_returns_every_webapi_property(file_store):
    em, path = file_store
    body = await get_ok(em, "asyncoperations")
    assert body["@odata.context"] == f"{API}$metadata#asyncoperations"
    assert list(body) == ["@odata.context", "value"]
    assert ids_of(body) == sql_ids(path)
    jobs = sql_jobs(path)
    for row in body["value"]:
        assert list(row)[0] == "@odata.etag"
        assert set(row) - {"@odata.etag"} == WEBAPI_PROPERTIES
        stored = jobs[row["asyncoperationid"]]
        assert row["@odata.etag"] == f'W/"{stored["versionnumber"]}"'
        for key, value in row.items():
            if key == "@odata.etag":
                continue
            column = key[1:-len("_value")] if key.startswith("_") and key.endswith("_value") else key
            assert column not in LOOKUPS or key == f"_{column}_value"
            assert value == webapi_value(column, stored[column]), (row["asyncoperationid"], key)
    # Nulls are written out, not left out.
    assert any(row["completedon"] is None for row in body["value"])


# ------------------------------------------------------------------------------------ $filter

BULK_JOB = "SELECT asyncoperationid, correlationid FROM asyncoperation WHERE name LIKE 'Bulk%' ORDER BY asyncoperationid"
MIDNIGHT = int(dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc).timestamp())
NOW_S = int(NOW.timestamp())
DAY = 86_400

FILTERS = [
    ("statecode eq 3 and statuscode eq 31", "statecode = 3 AND statuscode = 31"),
    ("(statecode eq 3) and (statuscode eq 31)", "statecode = 3 AND statuscode = 31"),
    ("statecode eq 0 or statuscode eq 32 or operationtype eq 13", "statecode = 0 OR statuscode = 32 OR operationtype = 13"),
    ("not (statecode eq 3)", "NOT (statecode = 3)"),
    ("not (statecode eq 3 or retrycount gt 0) and operationtype ne 1",
     "NOT (statecode = 3 OR retrycount > 0) AND operationtype <> 1"),
    ("completedon eq null", "completedon IS NULL"),
    ("completedon ne null and _owningteam_value ne null", "completedon IS NOT NULL AND owningteam IS NOT NULL"),
    ("_regardingobjectid_value eq null", "regardingobjectid IS NULL"),
    ("contains(name,'BULK')", "instr(lower(name), 'bulk') > 0"),
    ("contains(name, 'bulk delete')", "instr(lower(name), 'bulk delete') > 0"),
    ("not contains(name,'contoso')", "instr(lower(name), 'contoso') = 0"),
    ("startswith(name,'contoso.plugins')", "substr(lower(name), 1, 15) = 'contoso.plugins'"),
    ("endswith(name,'OF ACCOUNT')", "substr(lower(name), -10) = 'of account'"),
    ("name eq 'PUBLISHALL'", "lower(name) = 'publishall'"),
    ("_ownerid_value eq {caller}", "ownerid = '{caller}'"),
    ("_ownerid_value eq {team}", "ownerid = '{team}'"),
    ("_owninguser_value eq '{caller}'", "owninguser = '{caller}'"),
    ("owninguser/fullname eq 'Priya Natarajan'",
     "owninguser IN (SELECT systemuserid FROM systemuser WHERE fullname = 'Priya Natarajan')"),
    ("owningteam/name eq 'sales team emea'",
     "owningteam IN (SELECT teamid FROM team WHERE lower(name) = 'sales team emea')"),
    ("createdby/fullname eq 'SYSTEM' and statecode ne 3",
     "createdby IN (SELECT systemuserid FROM systemuser WHERE fullname = 'SYSTEM') AND statecode <> 3"),
    ("createdon ge 2026-10-25", f"createdon >= {epoch('2026-10-25T00:00:00Z')}"),
    ("createdon ge 2026-10-25T06:30:00Z and createdon lt 2026-10-31T00:00:00Z",
     f"createdon >= {epoch('2026-10-25T06:30:00Z')} AND createdon < {epoch('2026-10-31T00:00:00Z')}"),
    ("completedon le 2026-10-01T00:00:00Z", f"completedon <= {epoch('2026-10-01T00:00:00Z')}"),
    ("executiontimespan gt 1.5", "executiontimespan > 1.5"),
    ("iswaitingforevent eq true", "iswaitingforevent = 1"),
    ('Microsoft.Dynamics.CRM.In(PropertyName=\'statuscode\',PropertyValues=["31","32"])', "statuscode IN (31, 32)"),
    ('Microsoft.Dynamics.CRM.NotIn(PropertyName=\'operationtype\',PropertyValues=["1","10","13"])',
     "operationtype NOT IN (1, 10, 13)"),
    ('Microsoft.Dynamics.CRM.Between(PropertyName=\'retrycount\',PropertyValues=["1","3"])',
     "retrycount BETWEEN 1 AND 3"),
    ('Microsoft.Dynamics.CRM.NotBetween(PropertyName=\'retrycount\',PropertyValues=["1","3"])',
     "retrycount NOT BETWEEN 1 AND 3"),
    ("Microsoft.Dynamics.CRM.LastXHours(PropertyName='createdon',PropertyValue=24)",
     f"createdon >= {NOW_S - DAY} AND createdon <= {NOW_S}"),
    ("Microsoft.Dynamics.CRM.OlderThanXDays(PropertyName='createdon',PropertyValue=7)",
     f"createdon < {MIDNIGHT - 7 * DAY}"),
    ("Microsoft.Dynamics.CRM.Today(PropertyName='createdon')",
     f"createdon >= {MIDNIGHT} AND createdon < {MIDNIGHT + DAY}"),
    ("Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2026-10-20')",
     f"createdon >= {epoch('2026-10-20T00:00:00Z')} AND createdon < {epoch('2026-10-21T00:00:00Z')}"),
    ("Microsoft.Dynamics.CRM.EqualUserId(PropertyName='ownerid')", "ownerid = '{caller}'"),
    ("Microsoft.Dynamics.CRM.EqualUserId(PropertyName='ownerid') and statecode eq 3",
     "ownerid = '{caller}' AND statecode = 3"),
]


async def test_filters_match_sql(file_store):
    em, path = file_store
    total = sql_rows(path, "SELECT count(*) FROM asyncoperation")[0][0]
    for odata, where in FILTERS:
        odata = odata.format(caller=CALLER, team=TEAM_MARKETING)
        where = where.format(caller=CALLER, team=TEAM_MARKETING)
        expected = sql_ids(path, where)
        assert 0 < len(expected) < total, (odata, "the fixtures should make every filter discriminate")
        body = await get_ok(em, "asyncoperations", params={"$select": "name", "$filter": odata})
        assert body["@odata.context"] == f"{API}$metadata#asyncoperations(name)", odata
        assert ids_of(body) == expected, odata


async def test_filter_guid_literals_unquoted_quoted_and_uppercase(file_store):
    em, path = file_store
    job, correlation = sql_rows(path, BULK_JOB)[0]
    for literal in (job, f"'{job}'", job.upper()):
        body = await get_ok(em, "asyncoperations", params={"$select": "name", "$filter": f"asyncoperationid eq {literal}"})
        assert ids_of(body) == [job], literal
    for literal in (correlation, f"'{correlation}'"):
        body = await get_ok(em, "asyncoperations",
                            params={"$select": "correlationid", "$filter": f"correlationid eq {literal}"})
        assert ids_of(body) == sql_ids(path, "correlationid = ?", params=(correlation,))
        assert [r["correlationid"] for r in body["value"]] == [correlation] * len(body["value"])


async def test_parameter_aliases(file_store):
    em, path = file_store
    body = await get_ok(em, "asyncoperations",
                        params={"$select": "name", "$filter": "statecode eq @p1 and contains(name,@p2)", "@p1": "3",
                                "@p2": "'bulk'"})
    assert ids_of(body) == sql_ids(path, "statecode = 3 AND instr(lower(name), 'bulk') > 0")
    assert body["value"]
    # The documented form: the function's parameters are aliases.
    body = await get_ok(em, "asyncoperations?$select=name&$filter=Microsoft.Dynamics.CRM.OlderThanXMinutes("
                            "PropertyName=@p1,PropertyValue=@p2)&@p1='createdon'&@p2=42")
    assert ids_of(body) == sql_ids(path, f"createdon < {NOW_S - 42 * 60}")
    # An alias in $orderby.
    body = await get_ok(em, "asyncoperations?$select=name&$filter=statecode eq 0&$orderby=@o desc&@o=createdon")
    assert ids_of(body) == sql_ids(path, "statecode = 0", order="createdon DESC, asyncoperationid")


# ------------------------------------------------------------------------------------ $orderby, $top, $count

ORDERS = [
    ("createdon", "createdon, asyncoperationid"),
    ("createdon desc", "createdon DESC, asyncoperationid"),
    ("createdon asc", "createdon ASC, asyncoperationid"),
    ("statecode", "statecode, asyncoperationid"),  # ties broken by the primary key
    ("statecode desc,statuscode", "statecode DESC, statuscode, asyncoperationid"),
    ("operationtype desc,name,createdon desc", "operationtype DESC, name COLLATE NOCASE, createdon DESC, asyncoperationid"),
    ("completedon", "completedon, asyncoperationid"),  # NULLs first ascending, as SQL Server
    ("completedon desc", "completedon DESC, asyncoperationid"),  # and last descending
    # A lookup sorts by the related row's primary name (webapi/query/order-rows.md, "Lookup Columns").
    ("_owninguser_value,sequence desc",
     "(SELECT fullname FROM systemuser WHERE systemuserid = owninguser) COLLATE NOCASE, sequence DESC, asyncoperationid"),
]


async def test_orderby_matches_sql(file_store):
    em, path = file_store
    for odata, order in ORDERS:
        body = await get_ok(em, "asyncoperations", params={"$select": "name", "$orderby": odata})
        assert ids_of(body) == sql_ids(path, order=order), odata
        assert len(body["value"]) == 426
    body = await get_ok(em, "asyncoperations",
                        params={"$select": "name", "$filter": "statecode eq 3", "$orderby": "createdon desc", "$top": "7"})
    assert ids_of(body) == sql_ids(path, "statecode = 3", "createdon DESC, asyncoperationid LIMIT 7")
    assert "@odata.nextLink" not in body


async def test_top_and_count(file_store):
    em, path = file_store
    body = await get_ok(em, "asyncoperations?$select=name&$top=5")
    assert list(body) == ["@odata.context", "value"]
    assert ids_of(body) == sql_ids(path, order="asyncoperationid LIMIT 5")
    assert (await get_ok(em, "asyncoperations?$select=name&$top=0"))["value"] == []

    failed = sql_rows(path, "SELECT count(*) FROM asyncoperation WHERE statecode = 3 AND statuscode = 31")[0][0]
    body = await get_ok(em, "asyncoperations?$select=name&$filter=statecode eq 3 and statuscode eq 31&$count=true")
    assert list(body) == ["@odata.context", "@odata.count", "value"]
    assert body["@odata.count"] == failed == len(body["value"])
    # $count counts every match, not the page: $top does not change it.
    body = await get_ok(em, "asyncoperations?$select=name&$filter=statecode eq 3&$count=true&$top=2")
    assert list(body) == ["@odata.context", "@odata.count", "value"]
    assert body["@odata.count"] == sql_rows(path, "SELECT count(*) FROM asyncoperation WHERE statecode = 3")[0][0]
    assert len(body["value"]) == 2
    body = await get_ok(em, "asyncoperations?$select=name&$count=false")
    assert "@odata.count" not in body
    body = await get_ok(em, "asyncoperations?$select=name&$filter=name eq 'no such job'&$count=true")
    assert body["@odata.count"] == 0 and body["value"] == []

    response = await em.get("asyncoperations/$count")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "426"


async def test_count_is_capped_at_5000(file_store):
    em, path = file_store
    with sqlite3.connect(path) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(asyncoperation)")]
        others = ", ".join(c for c in columns if c != "asyncoperationid")
        conn.execute("CREATE TEMP TABLE original AS SELECT * FROM asyncoperation")
        # 12 copies of the 426 fixture jobs, each with a new primary key: 5538 jobs in all.
        for copy in range(1, 13):
            conn.execute(f"INSERT INTO asyncoperation (asyncoperationid, {others}) "
                         f"SELECT printf('%08x', {copy}) || substr(asyncoperationid, 9), {others} FROM original")
        conn.commit()
    total = sql_rows(path, "SELECT count(*) FROM asyncoperation")[0][0]
    assert total == 426 * 13
    body = await get_ok(em, "asyncoperations?$select=name&$count=true&$top=1")
    assert body["@odata.count"] == 5000
    body = await get_ok(em, "asyncoperations?$select=name&$count=true&$filter=statecode eq 3",
                        headers={"Prefer": 'odata.include-annotations="*",odata.maxpagesize=10'})
    matching = sql_rows(path, "SELECT count(*) FROM asyncoperation WHERE statecode = 3")[0][0]
    assert matching == 326 * 13 and matching < 5000
    assert body["@odata.count"] == matching
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False
    body = await get_ok(em, "asyncoperations?$select=name&$count=true",
                        headers={"Prefer": 'odata.include-annotations="*",odata.maxpagesize=10'})
    assert body["@odata.count"] == 5000
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 5000
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True
    assert list(body) == ["@odata.context", "@odata.count", "@Microsoft.Dynamics.CRM.totalrecordcount",
                          "@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded", "value", "@odata.nextLink"]


# ------------------------------------------------------------------------------------ $expand


async def test_expand_single_valued(file_store):
    em, path = file_store
    body = await get_ok(em, "asyncoperations?$select=name&$expand=owninguser($select=fullname),owningteam($select=name)"
                            "&$filter=statecode eq 3")
    assert body["@odata.context"] == (
        f"{API}$metadata#asyncoperations(name,owninguser(fullname),owningteam(name))")
    expected = sql_rows(path, """
        SELECT a.asyncoperationid, a.name, u.systemuserid, u.fullname, t.teamid, t.name FROM asyncoperation a
        LEFT JOIN systemuser u ON u.systemuserid = a.owninguser LEFT JOIN team t ON t.teamid = a.owningteam
        WHERE a.statecode = 3 ORDER BY a.asyncoperationid""")
    assert len(body["value"]) == len(expected)
    for row, (job, name, user, fullname, team, team_name) in zip(body["value"], expected):
        assert list(row) == ["@odata.etag", "name", "asyncoperationid", "owninguser", "owningteam"]
        assert row["asyncoperationid"] == job and row["name"] == name
        if user is None:
            assert row["owninguser"] is None
        else:
            # A user is a principal: its `ownerid` key comes along with its own key. No etag inside.
            assert row["owninguser"] == {"fullname": fullname, "systemuserid": user, "ownerid": user}
        if team is None:
            assert row["owningteam"] is None
        else:
            assert row["owningteam"] == {"name": team_name, "teamid": team, "ownerid": team}
    assert any(r["owninguser"] is None for r in body["value"]) and any(r["owningteam"] is None for r in body["value"])
    assert any(r["owningteam"] is not None for r in body["value"])


async def test_expand_nested(file_store):
    em, path = file_store
    body = await get_ok(em, "asyncoperations?$select=name&$expand=owninguser($select=fullname;"
                            "$expand=businessunitid($select=name))&$orderby=createdon desc&$top=40")
    assert body["@odata.context"] == f"{API}$metadata#asyncoperations(name,owninguser(fullname,businessunitid(name)))"
    expected = sql_rows(path, """
        SELECT a.asyncoperationid, u.systemuserid, u.fullname, b.businessunitid, b.name FROM asyncoperation a
        LEFT JOIN systemuser u ON u.systemuserid = a.owninguser
        LEFT JOIN businessunit b ON b.businessunitid = u.businessunitid
        ORDER BY a.createdon DESC, a.asyncoperationid LIMIT 40""")
    assert [r["asyncoperationid"] for r in body["value"]] == [e[0] for e in expected]
    for row, (_job, user, fullname, unit, unit_name) in zip(body["value"], expected):
        if user is None:
            assert row["owninguser"] is None
            continue
        assert row["owninguser"] == {"fullname": fullname, "systemuserid": user, "ownerid": user,
                                     "businessunitid": {"name": unit_name, "businessunitid": unit}}
    assert len({r["owninguser"]["businessunitid"]["name"] for r in body["value"] if r["owninguser"]}) > 1


async def test_expand_ref(file_store):
    em, path = file_store
    body = await get_ok(em, "asyncoperations?$select=name&$expand=owningteam/$ref&$filter=statecode eq 3")
    assert body["@odata.context"] == f"{API}$metadata#asyncoperations(name,owningteam/$ref())"
    teams = dict(sql_rows(path, "SELECT asyncoperationid, owningteam FROM asyncoperation WHERE statecode = 3"))
    assert ids_of(body) == sql_ids(path, "statecode = 3")
    for row in body["value"]:
        team = teams[row["asyncoperationid"]]
        assert row["owningteam"] == (None if team is None else {"@odata.id": f"{API}teams({team})"})


async def test_expand_collection_valued_from_systemusers(file_store):
    em, path = file_store
    body = await get_ok(em, "systemusers?$select=fullname&$expand=system_user_asyncoperation($select=name;"
                            "$filter=statecode eq 3;$orderby=createdon desc;$top=2)")
    assert body["@odata.context"] == f"{API}$metadata#systemusers(fullname,system_user_asyncoperation(name))"
    users = sql_rows(path, "SELECT systemuserid, fullname FROM systemuser ORDER BY systemuserid")
    assert [(r["systemuserid"], r["fullname"]) for r in body["value"]] == users
    empty = 0
    for row in body["value"]:
        # Each expanded collection carries its own URL with the expansion's options (join-tables.md).
        assert list(row) == ["@odata.etag", "fullname", "systemuserid", "ownerid", "system_user_asyncoperation",
                             "system_user_asyncoperation@odata.nextLink"]
        assert row["system_user_asyncoperation@odata.nextLink"] == (
            f"{API}systemusers({row['systemuserid']})/system_user_asyncoperation?$select=name&"
            "$filter=statecode%20eq%203&$orderby=createdon%20desc&$top=2")
        expected = sql_rows(path, """SELECT asyncoperationid, name, versionnumber FROM asyncoperation
                                     WHERE owninguser = ? AND statecode = 3
                                     ORDER BY createdon DESC, asyncoperationid LIMIT 2""", (row["systemuserid"],))
        assert row["system_user_asyncoperation"] == [
            {"@odata.etag": f'W/"{version}"', "name": name, "asyncoperationid": job} for job, name, version in expected]
        empty += not expected
    assert empty > 0, "some users own no job: their collection is an empty array"

    # Without options: every job the user owns, in primary key order.
    body = await get_ok(em, "systemusers?$select=fullname&$expand=system_user_asyncoperation($select=statecode)"
                            "&$filter=fullname eq 'Priya Natarajan'")
    (row,) = body["value"]
    assert [j["asyncoperationid"] for j in row["system_user_asyncoperation"]] == sql_ids(
        path, "owninguser = ?", params=(row["systemuserid"],))


async def test_lambda_any_and_all_from_systemusers(file_store):
    em, path = file_store
    cases = [
        ("system_user_asyncoperation/any(a:a/statecode eq 3 and a/statuscode eq 31)",
         ("EXISTS (SELECT 1 FROM asyncoperation a WHERE a.owninguser = u.systemuserid AND a.statecode = 3 "
         "AND a.statuscode = 31)")),
        ("system_user_asyncoperation/any()",
         "EXISTS (SELECT 1 FROM asyncoperation a WHERE a.owninguser = u.systemuserid)"),
        ("not system_user_asyncoperation/any()",
         "NOT EXISTS (SELECT 1 FROM asyncoperation a WHERE a.owninguser = u.systemuserid)"),
        ("system_user_asyncoperation/all(a:a/retrycount eq 0)",
         "NOT EXISTS (SELECT 1 FROM asyncoperation a WHERE a.owninguser = u.systemuserid AND a.retrycount <> 0)"),
    ]
    for odata, where in cases:
        body = await get_ok(em, "systemusers", params={"$select": "fullname", "$filter": odata})
        expected = [r[0] for r in sql_rows(path, f"SELECT systemuserid FROM systemuser u WHERE {where} ORDER BY systemuserid")]
        assert expected, odata
        assert ids_of(body, "systemuserid") == expected, odata


async def test_related_entity_sets(file_store):
    em, path = file_store
    body = await get_ok(em, "systemusers?$select=fullname,isdisabled&$filter=isdisabled eq false&$orderby=fullname")
    assert body["@odata.context"] == f"{API}$metadata#systemusers(fullname,isdisabled)"
    expected = sql_rows(path, """SELECT systemuserid, fullname, versionnumber FROM systemuser WHERE isdisabled = 0
                                 ORDER BY fullname COLLATE NOCASE, systemuserid""")
    assert body["value"] == [{"@odata.etag": f'W/"{v}"', "fullname": n, "isdisabled": False, "systemuserid": u,
                              "ownerid": u} for u, n, v in expected]

    body = await get_ok(em, "teams?$select=name,_businessunitid_value&$expand=businessunitid($select=name)")
    assert body["@odata.context"] == f"{API}$metadata#teams(name,_businessunitid_value,businessunitid(name))"
    expected = sql_rows(path, """SELECT t.teamid, t.name, t.businessunitid, b.name FROM team t
                                 JOIN businessunit b ON b.businessunitid = t.businessunitid ORDER BY t.teamid""")
    assert [(r["teamid"], r["name"], r["_businessunitid_value"], r["businessunitid"]["name"]) for r in body["value"]] == expected
    for row in body["value"]:
        assert list(row) == ["@odata.etag", "name", "_businessunitid_value", "teamid", "ownerid", "businessunitid"]

    # What the Microsoft Python SDK asks before it can query a table.
    body = await get_ok(em, "EntityDefinitions?%24select=LogicalName%2CEntitySetName%2CPrimaryIdAttribute"
                            "&%24filter=LogicalName+eq+%27asyncoperation%27")
    assert body["@odata.context"] == f"{API}$metadata#EntityDefinitions(LogicalName,EntitySetName,PrimaryIdAttribute)"
    (definition,) = body["value"]
    assert list(definition) == ["LogicalName", "EntitySetName", "PrimaryIdAttribute", "MetadataId"]
    assert definition["LogicalName"] == "asyncoperation"
    assert definition["EntitySetName"] == "asyncoperations"
    assert definition["PrimaryIdAttribute"] == "asyncoperationid"
    body = await get_ok(em, "EntityDefinitions?$select=EntitySetName,LogicalName")
    sets = {r["LogicalName"]: r["EntitySetName"] for r in body["value"]}
    assert {"asyncoperation": "asyncoperations", "systemuser": "systemusers", "team": "teams"}.items() <= sets.items()


# ------------------------------------------------------------------------------------ bad values

OUT_OF_RANGE = [
    # A number too large for Int64 where the emulator used to hand it to SQLite (a 500).
    "systemusers?$select=fullname&$expand=system_user_asyncoperation($select=name;$top=99999999999999999999)",
    "asyncoperations?$select=name&$top=9223372036854775808",
    "asyncoperations?$select=name&$top=%C2%B2",  # a superscript two is a digit to str.isdigit, not to OData
    ("asyncoperations?$select=name&$filter=Microsoft.Dynamics.CRM.In(PropertyName='retrycount',"
    "PropertyValues=[%2299999999999999999999%22])"),
    ("asyncoperations?$select=name&$filter=Microsoft.Dynamics.CRM.Between(PropertyName='sequence',"
    "PropertyValues=[%221%22,%22-99999999999999999999%22])"),
    # Date functions whose bounds fall outside the calendar.
    "asyncoperations?$select=name&$filter=Microsoft.Dynamics.CRM.LastXYears(PropertyName='createdon',PropertyValue=100000)",
    "asyncoperations?$select=name&$filter=Microsoft.Dynamics.CRM.NextXYears(PropertyName='postponeuntil',PropertyValue=8000)",
    ("asyncoperations?$select=name&$filter=Microsoft.Dynamics.CRM.LastXHours(PropertyName='createdon',"
    "PropertyValue=9223372036854775807)"),
    ("asyncoperations?$select=name&$filter=Microsoft.Dynamics.CRM.OlderThanXMinutes(PropertyName='createdon',"
    "PropertyValue=9223372036854775807)"),
]


async def test_out_of_range_values_are_dataverse_errors(emulated):
    for url in OUT_OF_RANGE:
        response = await emulated.get(url)
        assert response.status_code == 400, (url, response.text)
        assert response.headers["content-type"] == JSON_TYPE
        body = response.json()
        assert list(body) == ["error"] and body["error"]["code"] == "0x80060888", url
    # The largest $top there is still works.
    body = await get_ok(emulated, "systemusers?$select=fullname&$expand=system_user_asyncoperation($select=name;"
                                  "$top=9223372036854775807)&$top=9223372036854775807")
    assert sum(len(u["system_user_asyncoperation"]) for u in body["value"]) == 389


async def test_loose_date_function_truncates_to_the_day(loose):
    rows = (await loose.get("asyncoperations?$select=createdon&$orderby=createdon&$top=50")).json()["value"]
    day = rows[0]["createdon"][:10]
    expected = {r["asyncoperationid"] for r in (await loose.get(
        f"asyncoperations?$select=createdon&$filter=createdon ge {day}T00:00:00Z and createdon lt "
        f"{day}T23:59:59.999Z")).json()["value"]}
    got = {r["asyncoperationid"] for r in (await loose.get(
        f"asyncoperations?$select=createdon&$filter=date(createdon) eq {day}")).json()["value"]}
    assert got == expected and got
