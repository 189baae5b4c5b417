"""Every documented Web API query, replayed as printed, returns Dataverse's shape and the right numbers.

The numbers are checked against an independent oracle: the documented T-SQL of the same query,
run with the stdlib sqlite3 module on the emulator's own store file.
"""

from __future__ import annotations

import pytest

from tests.helpers import API, DOCUMENTED, encode_like_a_browser, sql_rows, webapi_request

AGGREGATES = ["02-jobs-by-state-status-type", "03-waiting-jobs-by-count", "04-workflows-by-count",
              "05-jobs-waiting-for-resources"]


@pytest.mark.parametrize("name", AGGREGATES)
async def test_documented_aggregate_matches_documented_sql(file_store, name):
    em, path = file_store
    target, headers = webapi_request(DOCUMENTED / f"{name}.webapi.http")
    response = await em.client.get(encode_like_a_browser(target), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; odata.metadata=minimal"
    assert response.headers["odata-version"] == "4.0"
    body = response.json()
    assert list(body) == ["@odata.context", "value"]
    assert body["@odata.context"] == f"{API}$metadata#asyncoperations"
    got = sorted((r["statecode"], r["statuscode"], r["operationtype"], r["count"]) for r in body["value"])
    expected = sorted(sql_rows(path, (DOCUMENTED / f"{name}.sql").read_text()))
    assert got == expected
    assert got, "the fixtures should give every documented diagnostic query something to count"
    for row in body["value"]:
        assert list(row) == ["statecode", "statuscode", "operationtype", "count"]


async def test_documented_system_jobs_query(file_store):
    em, path = file_store
    target, headers = webapi_request(DOCUMENTED / "01-retrieve-system-jobs.webapi.http")
    assert "\n" not in target and " " not in target
    response = await em.client.get(encode_like_a_browser(target), headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    selected = target.split("$select=")[1].split("&")[0].split(",")
    expands = ["createdby(fullname)", "modifiedby(fullname)", "owningbusinessunit(name)", "owningextensionid(name)",
               "owningteam(name)", "owninguser(fullname)"]
    assert body["@odata.context"] == f"{API}$metadata#asyncoperations({','.join(selected + expands)})"
    assert "@odata.nextLink" not in body

    expected_ids = [r[0] for r in sql_rows(path, "SELECT asyncoperationid FROM asyncoperation ORDER BY asyncoperationid LIMIT 1000")]
    assert [r["asyncoperationid"] for r in body["value"]] == expected_ids

    names = dict(sql_rows(path, """
        SELECT a.asyncoperationid, u.fullname FROM asyncoperation a LEFT JOIN systemuser u ON u.systemuserid = a.createdby"""))
    steps = dict(sql_rows(path, """
        SELECT a.asyncoperationid, s.name FROM asyncoperation a
        JOIN sdkmessageprocessingstep s ON s.sdkmessageprocessingstepid = a.owningextensionid"""))
    teams = dict(sql_rows(path, """
        SELECT a.asyncoperationid, t.name FROM asyncoperation a JOIN team t ON t.teamid = a.owningteam"""))
    for row in body["value"]:
        keys = list(row)
        assert keys[0] == "@odata.etag" and row["@odata.etag"].startswith('W/"')
        assert keys[1:1 + len(selected)] == selected
        assert keys[1 + len(selected):] == ["createdby", "modifiedby", "owningbusinessunit", "owningextensionid",
                                             "owningteam", "owninguser"]
        job = row["asyncoperationid"]
        assert row["createdby"]["fullname"] == names[job]
        assert set(row["createdby"]) == {"fullname", "systemuserid", "ownerid"}
        if job in steps:
            assert row["owningextensionid"] == {"name": steps[job], "sdkmessageprocessingstepid": row["owningextensionid"]["sdkmessageprocessingstepid"]}
        else:
            assert row["owningextensionid"] is None
        assert (row["owningteam"] or {}).get("name") == teams.get(job)
    assert any(r["owningextensionid"] for r in body["value"]) and any(r["owningteam"] for r in body["value"])
