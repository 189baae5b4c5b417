"""Instance annotations on `Prefer: odata.include-annotations`: formatted values, lookup logical
names, associated navigation properties and total record counts, end to end.

Labels come from the Dataverse reference (not from the emulator's option sets); related primary
names and counts from SQL on the emulator's own store file.
"""

from __future__ import annotations

import datetime as dt

from tests.helpers import API, FORMATTED, JSON_TYPE, LOGICAL, NAVIGATION, STATE_LABELS, STATUS_LABELS, iso, sql_rows

TOTAL = "Microsoft.Dynamics.CRM.totalrecordcount"
EXCEEDED = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"

# From the Dataverse asyncoperation reference (option sets asyncoperation_statecode/_statuscode/_operationtype).
OPERATION = {1: "System Event", 9: "SQM Data Collection", 10: "Workflow", 13: "Bulk Delete",
             16: "Collect Organization Statistics", 18: "Calculate Organization Storage Size",
             19: "Collect Organization Database Statistics", 20: "Collection Organization Size Statistics",
             22: "Calculate Organization Maximum Storage Size", 24: "Update Statistic Intervals",
             25: "Organization Full Text Catalog Index", 27: "Update Contract States",
             31: "Storage Limit Notification", 35: "Recurring Series Expansion", 41: "Audit Partition Creation",
             50: "Outgoing Activity", 51: "Incoming Email Processing", 54: "Execute Async Request",
             57: "Calculate Rollup Field", 58: "Mass Calculate Rollup Field",
             202: "Export Solution Async Operation", 203: "Import Solution Async Operation",
             204: "PublishAll Async Operation"}

SELECT = ("name,statecode,statuscode,operationtype,iswaitingforevent,retainjobhistory,createdon,completedon,"
          "recurrencestarttime,executiontimespan,retrycount,sequence,errorcode,_ownerid_value,_regardingobjectid_value,"
          "_owningteam_value,_owninguser_value,_owningextensionid_value,_workflowactivationid_value")

# Each job with its related rows' primary names, and the lookups' targets.
ORACLE_SQL = """
SELECT a.asyncoperationid, a.name, a.statecode, a.statuscode, a.operationtype, a.iswaitingforevent, a.retainjobhistory,
       a.createdon, a.completedon, a.recurrencestarttime, a.executiontimespan, a.retrycount, a.sequence, a.errorcode,
       a.ownerid, a.owneridtype, coalesce(ou.fullname, ot.name),
       a.regardingobjectid, a.regardingobjecttypecode, coalesce(ra.name, rc.fullname, ru.fullname, rt.name),
       a.owningteam, t.name, a.owninguser, u.fullname, a.owningextensionid, s.name, a.workflowactivationid, w.name,
       a.versionnumber
FROM asyncoperation a
LEFT JOIN systemuser ou ON a.owneridtype = 'systemuser' AND ou.systemuserid = a.ownerid
LEFT JOIN team ot ON a.owneridtype = 'team' AND ot.teamid = a.ownerid
LEFT JOIN account ra ON a.regardingobjecttypecode = 'account' AND ra.accountid = a.regardingobjectid
LEFT JOIN contact rc ON a.regardingobjecttypecode = 'contact' AND rc.contactid = a.regardingobjectid
LEFT JOIN systemuser ru ON a.regardingobjecttypecode = 'systemuser' AND ru.systemuserid = a.regardingobjectid
LEFT JOIN team rt ON a.regardingobjecttypecode = 'team' AND rt.teamid = a.regardingobjectid
LEFT JOIN team t ON t.teamid = a.owningteam
LEFT JOIN systemuser u ON u.systemuserid = a.owninguser
LEFT JOIN sdkmessageprocessingstep s ON s.sdkmessageprocessingstepid = a.owningextensionid
LEFT JOIN workflow w ON w.workflowid = a.workflowactivationid
ORDER BY a.asyncoperationid
"""


def en_us(seconds: int, *, date_only: bool = False) -> str:
    """4/7/2023 2:59 PM, in UTC."""
    moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    day = f"{moment.month}/{moment.day}/{moment.year}"
    if date_only:
        return day
    return f"{day} {(moment.hour % 12) or 12}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def expected_row(record: tuple, *, formatted: bool, lookups: bool) -> dict:
    """The JSON row Dataverse writes for `SELECT`, with formatted values and/or lookup annotations."""
    (job, name, state, status, operation, waiting, retain, created, completed, recurrence, span, retries, sequence,
     errorcode, owner, owner_type, owner_name, regarding, regarding_type, regarding_name, team, team_name, user,
     user_name, step, step_name, workflow, workflow_name, version) = record
    out: dict = {"@odata.etag": f'W/"{version}"', "name": name}

    def plain(key, value, text):
        if formatted and value is not None:
            out[f"{key}@{FORMATTED}"] = text
        out[key] = value

    def lookup(key, value, display, navigation, logical):
        if value is not None:
            if formatted:
                out[f"{key}@{FORMATTED}"] = display
            if lookups:
                out[f"{key}@{NAVIGATION}"] = navigation
                out[f"{key}@{LOGICAL}"] = logical
        out[key] = value

    plain("statecode", state, STATE_LABELS[state])
    plain("statuscode", status, STATUS_LABELS[status])
    plain("operationtype", operation, OPERATION[operation])
    plain("iswaitingforevent", bool(waiting), "Yes" if waiting else "No")
    plain("retainjobhistory", bool(retain), "Yes" if retain else "No")
    plain("createdon", iso(created), created is not None and en_us(created))
    plain("completedon", iso(completed), completed is not None and en_us(completed))
    plain("recurrencestarttime", iso(recurrence), recurrence is not None and en_us(recurrence, date_only=True))
    plain("executiontimespan", span, f"{span:,.2f}")
    plain("retrycount", retries, f"{retries:,}")
    plain("sequence", sequence, f"{sequence:,}")
    plain("errorcode", errorcode, errorcode is not None and f"{errorcode:,}")
    lookup("_ownerid_value", owner, owner_name, "ownerid", owner_type)
    lookup("_regardingobjectid_value", regarding, regarding_name, f"regardingobjectid_{regarding_type}", regarding_type)
    lookup("_owningteam_value", team, team_name, "owningteam", "team")
    lookup("_owninguser_value", user, user_name, "owninguser", "systemuser")
    lookup("_owningextensionid_value", step, step_name, "owningextensionid", "sdkmessageprocessingstep")
    lookup("_workflowactivationid_value", workflow, workflow_name, "workflowactivationid", "workflow")
    out["asyncoperationid"] = job
    return out


def assert_annotations_precede(row: dict) -> None:
    """Each annotation comes right before the property it annotates (with its sibling annotations)."""
    keys = list(row)
    for i, key in enumerate(keys):
        if "@" in key and not key.startswith("@"):
            prop = key.split("@", 1)[0]
            following = keys[i + 1:]
            assert prop in following, key
            assert all(k.startswith(prop + "@") for k in following[:following.index(prop)]), key


async def get_annotated(em, url: str, prefer: str | list[str]) -> tuple[dict, str]:
    headers = [("Prefer", p) for p in ([prefer] if isinstance(prefer, str) else prefer)]
    response = await em.client.get(url if url.startswith("http") else API + url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_TYPE
    return response.json(), response.headers.get("preference-applied")


# ------------------------------------------------------------------------------------ rows


async def test_all_annotations_on_every_row(file_store):
    em, path = file_store
    body, applied = await get_annotated(em, f"asyncoperations?$select={SELECT}", 'odata.include-annotations="*"')
    assert applied == 'odata.include-annotations="*"'
    assert body["@odata.context"] == f"{API}$metadata#asyncoperations({SELECT})"
    # Without $count=true the total record count is -1, and not exceeded.
    assert list(body) == ["@odata.context", f"@{TOTAL}", f"@{EXCEEDED}", "value"]
    assert body[f"@{TOTAL}"] == -1 and body[f"@{EXCEEDED}"] is False
    oracle = sql_rows(path, ORACLE_SQL)
    assert len(body["value"]) == len(oracle) == 426
    for row, record in zip(body["value"], oracle):
        assert row == expected_row(record, formatted=True, lookups=True)
        assert_annotations_precede(row)
        assert list(row)[0] == "@odata.etag" and list(row)[-1] == "asyncoperationid"
    # The data reaches every case the oracle distinguishes.
    rows = body["value"]
    assert {r[f"_ownerid_value@{LOGICAL}"] for r in rows} == {"systemuser", "team"}
    assert {r.get(f"_regardingobjectid_value@{LOGICAL}") for r in rows} >= {"account", "contact", "systemuser", None}
    assert any(r["_owningteam_value"] is None for r in rows) and any(r["completedon"] is None for r in rows)
    assert any(r["recurrencestarttime"] is not None for r in rows)


async def test_team_owned_job_and_job_regarding_an_account(file_store):
    em, path = file_store
    (job, team, team_name), = sql_rows(path, """
        SELECT a.asyncoperationid, a.ownerid, t.name FROM asyncoperation a JOIN team t ON t.teamid = a.ownerid
        WHERE a.owneridtype = 'team' AND a.regardingobjecttypecode = 'account' ORDER BY a.asyncoperationid LIMIT 1""")
    (account, account_name), = sql_rows(path, """
        SELECT r.accountid, r.name FROM asyncoperation a JOIN account r ON r.accountid = a.regardingobjectid
        WHERE a.asyncoperationid = ?""", (job,))
    body, _ = await get_annotated(
        em, f"asyncoperations?$select=_ownerid_value,_regardingobjectid_value,_owninguser_value"
            f"&$filter=asyncoperationid eq {job}", 'odata.include-annotations="*"')
    (row,) = body["value"]
    assert list(row) == [
        "@odata.etag",
        f"_ownerid_value@{FORMATTED}", f"_ownerid_value@{NAVIGATION}", f"_ownerid_value@{LOGICAL}", "_ownerid_value",
        f"_regardingobjectid_value@{FORMATTED}", f"_regardingobjectid_value@{NAVIGATION}",
        f"_regardingobjectid_value@{LOGICAL}", "_regardingobjectid_value",
        "_owninguser_value", "asyncoperationid",
    ]
    assert row[f"_ownerid_value@{FORMATTED}"] == team_name
    assert row[f"_ownerid_value@{NAVIGATION}"] == "ownerid"
    assert row[f"_ownerid_value@{LOGICAL}"] == "team"
    assert row["_ownerid_value"] == team
    assert row[f"_regardingobjectid_value@{FORMATTED}"] == account_name
    assert row[f"_regardingobjectid_value@{NAVIGATION}"] == "regardingobjectid_account"
    assert row[f"_regardingobjectid_value@{LOGICAL}"] == "account"
    assert row["_regardingobjectid_value"] == account
    assert row["_owninguser_value"] is None  # a null lookup has no annotations


async def test_formatted_values_only(file_store):
    em, path = file_store
    prefer = f'odata.include-annotations="{FORMATTED}"'
    body, applied = await get_annotated(em, f"asyncoperations?$select={SELECT}&$filter=statecode ne 3", prefer)
    assert applied == prefer
    assert list(body) == ["@odata.context", "value"]
    oracle = [r for r in sql_rows(path, ORACLE_SQL) if r[2] != 3]
    assert [r["asyncoperationid"] for r in body["value"]] == [r[0] for r in oracle]
    for row, record in zip(body["value"], oracle):
        assert row == expected_row(record, formatted=True, lookups=False)
        assert not any(NAVIGATION in k or LOGICAL in k for k in row)


async def test_crm_wildcard_gives_lookup_annotations_and_counts(file_store):
    em, path = file_store
    prefer = 'odata.include-annotations="Microsoft.Dynamics.CRM.*"'
    body, applied = await get_annotated(em, f"asyncoperations?$select={SELECT}&$filter=statecode eq 3&$count=true",
                                        prefer)
    assert applied == prefer
    completed = [r for r in sql_rows(path, ORACLE_SQL) if r[2] == 3]
    assert list(body) == ["@odata.context", "@odata.count", f"@{TOTAL}", f"@{EXCEEDED}", "value"]
    assert body["@odata.count"] == body[f"@{TOTAL}"] == len(completed)
    assert body[f"@{EXCEEDED}"] is False
    for row, record in zip(body["value"], completed, strict=True):
        assert row == expected_row(record, formatted=False, lookups=True)
        assert not any(FORMATTED in k for k in row)


async def test_no_prefer_no_annotations(file_store):
    em, path = file_store
    response = await em.get(f"asyncoperations?$select={SELECT}&$count=true")
    assert "preference-applied" not in response.headers
    body = response.json()
    assert list(body) == ["@odata.context", "@odata.count", "value"]
    for row, record in zip(body["value"], sql_rows(path, ORACLE_SQL), strict=True):
        assert row == expected_row(record, formatted=False, lookups=False)


# ------------------------------------------------------------------------------------ the header


async def test_preference_forms(file_store):
    em, path = file_store
    url = "asyncoperations?$select=statecode,_ownerid_value&$orderby=createdon desc"
    first = sql_rows(path, """SELECT a.asyncoperationid, a.statecode, coalesce(u.fullname, t.name), a.owneridtype
                              FROM asyncoperation a LEFT JOIN systemuser u ON u.systemuserid = a.ownerid
                              LEFT JOIN team t ON t.teamid = a.ownerid ORDER BY a.createdon DESC LIMIT 1""")[0]
    formatted_only = {f"statecode@{FORMATTED}": STATE_LABELS[first[1]], f"_ownerid_value@{FORMATTED}": first[2]}
    everything = {**formatted_only, f"_ownerid_value@{NAVIGATION}": "ownerid", f"_ownerid_value@{LOGICAL}": first[3]}

    def annotations(row):
        return {k: v for k, v in row.items() if "@" in k and not k.startswith("@")}

    cases = [
        # dataverse-api: unquoted, followed by the page size in the same header.
        (f"odata.include-annotations={FORMATTED},odata.maxpagesize=1",
         f'odata.include-annotations="{FORMATTED}",odata.maxpagesize=1', formatted_only, 1),
        # newman: quoted, then the page size.
        (f'odata.include-annotations="{FORMATTED}",odata.maxpagesize=2',
         f'odata.include-annotations="{FORMATTED}",odata.maxpagesize=2', formatted_only, 2),
        # the page size first, then the annotations.
        ('odata.maxpagesize=3, odata.include-annotations="*"',
         'odata.include-annotations="*",odata.maxpagesize=3', everything, 3),
        ("odata.include-annotations=*", 'odata.include-annotations="*"', everything, None),
        # Two preferences in one quoted list.
        (f'odata.include-annotations="{FORMATTED},{LOGICAL}"',
         f'odata.include-annotations="{FORMATTED},{LOGICAL}"',
         {**formatted_only, f"_ownerid_value@{LOGICAL}": first[3]}, None),
        ('odata.include-annotations="OData.Community.Display.V1.*"',
         'odata.include-annotations="OData.Community.Display.V1.*"', formatted_only, None),
        # Two header lines.
        ([f'odata.include-annotations="{FORMATTED}"', "odata.maxpagesize=4"],
         f'odata.include-annotations="{FORMATTED}",odata.maxpagesize=4', formatted_only, 4),
        ('odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"',
         'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"',
         {f"_ownerid_value@{LOGICAL}": first[3]}, None),
    ]
    for prefer, applied, wanted, size in cases:
        body, got = await get_annotated(em, url, prefer)
        assert got == applied, prefer
        row = body["value"][0]
        assert row["asyncoperationid"] == first[0], prefer
        assert annotations(row) == wanted, prefer
        assert len(body["value"]) == (size or 426), prefer
        assert ("@odata.nextLink" in body) == (size is not None), prefer
        # Only "*" reaches the total record count annotations.
        assert (f"@{TOTAL}" in body) == (wanted is everything), prefer


async def test_total_record_count_requested_alone(file_store):
    em, path = file_store
    prefer = f'odata.include-annotations="{TOTAL}"'
    failed = sql_rows(path, "SELECT count(*) FROM asyncoperation WHERE statuscode = 31")[0][0]
    body, applied = await get_annotated(em, "asyncoperations?$select=name&$filter=statuscode eq 31&$count=true", prefer)
    assert applied == prefer
    assert list(body) == ["@odata.context", "@odata.count", f"@{TOTAL}", "value"]
    assert body["@odata.count"] == body[f"@{TOTAL}"] == failed == len(body["value"])
    assert all(list(row) == ["@odata.etag", "name", "asyncoperationid"] for row in body["value"])
    body, _ = await get_annotated(em, "asyncoperations?$select=name&$filter=statuscode eq 31", prefer)
    assert list(body) == ["@odata.context", f"@{TOTAL}", "value"]
    assert body[f"@{TOTAL}"] == -1
    # With paging the count annotations stay on every page, before value.
    body, applied = await get_annotated(em, "asyncoperations?$select=name&$filter=statuscode eq 31&$count=true",
                                        [prefer, "odata.maxpagesize=10"])
    assert applied == f"{prefer},odata.maxpagesize=10"
    assert list(body) == ["@odata.context", "@odata.count", f"@{TOTAL}", "value", "@odata.nextLink"]
    response = await em.client.get(body["@odata.nextLink"], headers=[("Prefer", prefer), ("Prefer", "odata.maxpagesize=10")])
    page = response.json()
    assert page["@odata.count"] == page[f"@{TOTAL}"] == failed


async def test_annotations_inside_expanded_rows(file_store):
    em, path = file_store
    body, _ = await get_annotated(
        em, "asyncoperations?$select=name&$expand=owninguser($select=fullname,isdisabled,_businessunitid_value)"
            "&$filter=_owninguser_value ne null&$top=3", f'odata.include-annotations="{FORMATTED}"')
    units = dict(sql_rows(path, "SELECT businessunitid, name FROM businessunit"))
    users = {u: (n, d, b) for u, n, d, b in sql_rows(path, "SELECT systemuserid, fullname, isdisabled, businessunitid FROM systemuser")}
    for row in body["value"]:
        user = row["owninguser"]
        fullname, disabled, unit = users[user["systemuserid"]]
        assert user == {
            "fullname": fullname,
            f"isdisabled@{FORMATTED}": "Yes" if disabled else "No",
            "isdisabled": bool(disabled),
            f"_businessunitid_value@{FORMATTED}": units[unit],
            "_businessunitid_value": unit,
            "systemuserid": user["systemuserid"],
            "ownerid": user["systemuserid"],
        }


async def test_annotations_inside_expanded_collections(file_store):
    em, path = file_store
    body, _ = await get_annotated(
        em, "systemusers?$select=fullname&$expand=system_user_asyncoperation($select=statuscode,_ownerid_value,"
            "_regardingobjectid_value;$filter=_regardingobjectid_value ne null;$orderby=createdon desc;$top=3)",
        'odata.include-annotations="*"')
    oracle = {r[0]: r for r in sql_rows(path, ORACLE_SQL)}
    seen = 0
    for user in body["value"]:
        expected = [r[0] for r in sql_rows(path, """
            SELECT asyncoperationid FROM asyncoperation WHERE owninguser = ? AND regardingobjectid IS NOT NULL
            ORDER BY createdon DESC, asyncoperationid LIMIT 3""", (user["systemuserid"],))]
        assert [j["asyncoperationid"] for j in user["system_user_asyncoperation"]] == expected
        for job in user["system_user_asyncoperation"]:
            full = expected_row(oracle[job["asyncoperationid"]], formatted=True, lookups=True)
            selected = ("@odata.etag", "statuscode", "_ownerid_value", "_regardingobjectid_value", "asyncoperationid")
            assert job == {k: v for k, v in full.items() if k.split("@")[0] in selected or k == "@odata.etag"}
            assert_annotations_precede(job)
            seen += 1
    assert seen > 10
