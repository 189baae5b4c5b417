"""Single rows end to end: `asyncoperations(<id>)` with and without `$select`/`$expand`, key forms,
properties and `/$value`, navigation from a row, conditional GET and `EntityDefinitions(LogicalName=...)`,
as a client sees them (status, headers, exact JSON).

Values are checked against an independent oracle: SQL run with the stdlib sqlite3 module on the
emulator's own store file (logical column names, GUIDs as lowercase text, date-times as epoch seconds).
"""

from __future__ import annotations

from tests.helpers import API, assert_error, assert_json, iso, sql_rows

MISSING = "00000000-0000-0000-0000-0000000000ff"


def sql_one(path, query: str, params=()) -> tuple:
    rows = sql_rows(path, query, params)
    assert len(rows) == 1, rows
    return rows[0]


def user_job(path) -> tuple:
    """A completed, user-owned job with no team: (id, name, statecode, statuscode, versionnumber, owninguser)."""
    return sql_rows(path, """
        SELECT asyncoperationid, name, statecode, statuscode, versionnumber, owninguser FROM asyncoperation
        WHERE owninguser IS NOT NULL AND owningteam IS NULL AND completedon IS NOT NULL
          AND executiontimespan IS NOT NULL
        ORDER BY asyncoperationid LIMIT 1""")[0]


async def test_single_row_with_and_without_select_and_expand(file_store):
    em, path = file_store
    job, name, state, status, version, user = user_job(path)
    etag = f'W/"{version}"'

    # $select: the listed columns in order, then the key; ETag header = @odata.etag = versionnumber.
    response = await em.get(f"asyncoperations({job})?$select=name,statecode")
    body = assert_json(response)
    assert response.headers["etag"] == etag
    assert body == {
        "@odata.context": f"{API}$metadata#asyncoperations(name,statecode)/$entity",
        "@odata.etag": etag,
        "name": name,
        "statecode": state,
        "asyncoperationid": job,
    }
    assert list(body) == ["@odata.context", "@odata.etag", "name", "statecode", "asyncoperationid"]

    # No $select: every property, nulls included, values in their wire form.
    response = await em.get(f"asyncoperations({job})")
    body = assert_json(response)
    assert response.headers["etag"] == etag
    assert list(body)[:2] == ["@odata.context", "@odata.etag"]
    assert body["@odata.context"] == f"{API}$metadata#asyncoperations/$entity"
    assert body["@odata.etag"] == etag
    created, completed, span, waiting, retries, owner, unit, team = sql_one(path, """
        SELECT createdon, completedon, executiontimespan, iswaitingforevent, retrycount, ownerid,
               owningbusinessunit, owningteam
        FROM asyncoperation WHERE asyncoperationid = ?""", (job,))
    expected = {
        "asyncoperationid": job, "name": name, "statecode": state, "statuscode": status,
        "createdon": iso(created), "completedon": iso(completed), "executiontimespan": span,
        "iswaitingforevent": bool(waiting), "retrycount": retries, "_ownerid_value": owner,
        "_owningbusinessunit_value": unit, "_owninguser_value": user, "_owningteam_value": team,
    }
    assert {k: body[k] for k in expected} == expected
    assert team is None and "_owningteam_value" in body
    assert isinstance(body["executiontimespan"], float) and isinstance(body["iswaitingforevent"], bool)
    assert "versionnumber" not in body and "owneridtype" not in body

    # $expand of a single-valued navigation property, with $select inside and outside.
    fullname, user_version = sql_one(path, "SELECT fullname, versionnumber FROM systemuser WHERE systemuserid = ?",
                                     (user,))
    response = await em.get(f"asyncoperations({job})?$select=name&$expand=owninguser($select=fullname),owningteam($select=name)")
    body = assert_json(response)
    assert response.headers["etag"] == etag
    assert body == {
        "@odata.context": f"{API}$metadata#asyncoperations(name,owninguser(fullname),owningteam(name))/$entity",
        "@odata.etag": etag,
        "name": name,
        "asyncoperationid": job,
        "owninguser": {"fullname": fullname, "systemuserid": user, "ownerid": user},
        "owningteam": None,
    }
    assert user_version  # the expanded row carries no etag of its own

    # The named-key form and an upper-case GUID address the same row, answered in lowercase.
    for key in (f"asyncoperationid={job}", job.upper(), f"asyncoperationid={job.upper()}"):
        response = await em.get(f"asyncoperations({key})?$select=name,statecode")
        assert response.status_code == 200, (key, response.text)
        assert response.headers["etag"] == etag
        assert response.json() == {
            "@odata.context": f"{API}$metadata#asyncoperations(name,statecode)/$entity",
            "@odata.etag": etag, "name": name, "statecode": state, "asyncoperationid": job,
        }

    # Rows of the other tables are read the same way.
    response = await em.get(f"systemusers({user})?$select=fullname")
    assert assert_json(response) == {
        "@odata.context": f"{API}$metadata#systemusers(fullname)/$entity",
        "@odata.etag": f'W/"{user_version}"',
        "fullname": fullname,
        "systemuserid": user,
        "ownerid": user,
    }


async def test_bad_keys_and_missing_rows(file_store):
    em, path = file_store
    job = user_job(path)[0]

    # A quoted GUID is a string literal: 400, Dataverse-shaped.
    for quoted in (f"'{job}'", f"asyncoperationid='{job}'"):
        response = await em.get(f"asyncoperations({quoted})")
        assert_error(response, 400, "0x80060888",
                     f"The key value '{job}' for the property 'asyncoperationid' is not valid: the key of "
                     "'asyncoperations' is an Edm.Guid, written without quotes.")
    assert response.headers["req_id"]

    # Malformed keys.
    for bad in ("xyz", "12345", f"{job}0", ""):
        response = await em.get(f"asyncoperations({bad})")
        assert_error(response, 400, "0x80060888", f"Unrecognized 'Edm.Guid' literal '{bad}' in the key of 'asyncoperations'.")
    response = await em.get("asyncoperations(name='x')")
    assert_error(response, 400, "0x80060888", "The alternate key 'name' is not defined for 'asyncoperation'.")

    # A row that does not exist: 404 0x80040217, whatever is asked of it.
    not_found = f"Entity 'asyncoperation' With Id = {MISSING} Does Not Exist"
    for tail in ("", "?$select=name", "/name", "/name/$value", "/owninguser", "/owninguser?$select=fullname"):
        response = await em.get(f"asyncoperations({MISSING}){tail}")
        assert_error(response, 404, "0x80040217", not_found)
    response = await em.get(f"asyncoperations({MISSING.upper()})")
    assert_error(response, 404, "0x80040217", not_found)
    response = await em.get(f"systemusers({MISSING})/system_user_asyncoperation?$select=name")
    assert_error(response, 404, "0x80040217", f"Entity 'systemuser' With Id = {MISSING} Does Not Exist")

    # Query options that make no sense on one row.
    for option in ("$filter=statecode eq 3", "$orderby=name", "$top=1", "$count=true"):
        response = await em.get(f"asyncoperations({job})?{option}")
        name = option.split("=")[0]
        assert_error(response, 400, "0x80060888", f"The query option '{name}' is not allowed on a single entity.")
    # ...but the option itself is still checked first.
    response = await em.get(f"asyncoperations({job})?$select=nope")
    assert_error(response, 400, "0x80060888",
                 "Could not find a property named 'nope' on type 'Microsoft.Dynamics.CRM.asyncoperation'.")


async def test_properties_and_raw_values(file_store):
    em, path = file_store
    job, name, state, status, _, _ = user_job(path)
    created, span, waiting, sequence = sql_one(
        path, "SELECT createdon, executiontimespan, iswaitingforevent, sequence FROM asyncoperation WHERE asyncoperationid = ?",
        (job,))

    for prop, value in (("name", name), ("statecode", state), ("statuscode", status), ("createdon", iso(created)),
                        ("executiontimespan", span), ("iswaitingforevent", bool(waiting)), ("asyncoperationid", job)):
        response = await em.get(f"asyncoperations({job})/{prop}")
        body = assert_json(response)
        assert body == {"@odata.context": f"{API}$metadata#asyncoperations({job})/{prop}", "value": value}
        assert list(body) == ["@odata.context", "value"]

    if sequence is not None:
        response = await em.get(f"asyncoperations({job})/sequence")
        assert assert_json(response)["value"] == sequence

    # /$value: the bare value as text/plain.
    for prop, text in (("name", name), ("statecode", str(state)), ("iswaitingforevent", "true" if waiting else "false"),
                       ("createdon", iso(created)), ("asyncoperationid", job)):
        response = await em.get(f"asyncoperations({job})/{prop}/$value")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].split(";")[0] == "text/plain"
        assert response.headers["odata-version"] == "4.0"
        assert response.text == text

    # A null property (and its raw value): 204 with no body.
    null_job = sql_rows(path, "SELECT asyncoperationid FROM asyncoperation WHERE completedon IS NULL "
                              "ORDER BY asyncoperationid LIMIT 1")[0][0]
    for tail in ("completedon", "completedon/$value", "_owningteam_value"):
        target = null_job if tail.startswith("completedon") else job
        response = await em.get(f"asyncoperations({target})/{tail}")
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert response.headers["odata-version"] == "4.0"

    # A lookup's value property.
    owner = sql_one(path, "SELECT ownerid FROM asyncoperation WHERE asyncoperationid = ?", (job,))[0]
    response = await em.get(f"asyncoperations({job})/_ownerid_value")
    assert assert_json(response) == {"@odata.context": f"{API}$metadata#asyncoperations({job})/_ownerid_value",
                                     "value": owner}

    # Segments that are not properties, and property paths that go on.
    for tail, segment in (("foo", "foo"), ("Name", "Name"), ("name/$value/x", "x"), ("name/length", "length"),
                          ("$value", "$value"), ("$count", "$count"), ("owninguser/fullname", "fullname"),
                          ("owninguser/$ref", "$ref")):
        response = await em.get(f"asyncoperations({job})/{tail}")
        assert_error(response, 404, "0x8006088a", f"Resource not found for the segment '{segment}'.")


async def test_navigation_from_a_row(file_store):
    em, path = file_store
    job, _, _, _, _, user = user_job(path)
    fullname, user_version = sql_one(path, "SELECT fullname, versionnumber FROM systemuser WHERE systemuserid = ?", (user,))

    response = await em.get(f"asyncoperations({job})/owninguser?$select=fullname")
    body = assert_json(response)
    assert response.headers["etag"] == f'W/"{user_version}"'
    assert body == {
        "@odata.context": f"{API}$metadata#systemusers(fullname)/$entity",
        "@odata.etag": f'W/"{user_version}"',
        "fullname": fullname,
        "systemuserid": user,
        "ownerid": user,
    }

    unit, unit_name = sql_one(path, """
        SELECT b.businessunitid, b.name FROM asyncoperation a JOIN businessunit b ON b.businessunitid = a.owningbusinessunit
        WHERE a.asyncoperationid = ?""", (job,))
    response = await em.get(f"asyncoperations({job})/owningbusinessunit?$select=name")
    body = assert_json(response)
    assert body["@odata.context"] == f"{API}$metadata#businessunits(name)/$entity"
    assert {k: v for k, v in body.items() if k != "@odata.etag"} == {
        "@odata.context": f"{API}$metadata#businessunits(name)/$entity", "name": unit_name, "businessunitid": unit}

    # A null lookup navigated: 204.
    response = await em.get(f"asyncoperations({job})/owningteam")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert response.headers["odata-version"] == "4.0"

    # A collection-valued navigation property: a collection, checked against SQL.
    expected = sql_rows(path, """
        SELECT versionnumber, name, asyncoperationid FROM asyncoperation WHERE owninguser = ?
        ORDER BY asyncoperationid LIMIT 2""", (user,))
    total = sql_one(path, "SELECT count(*) FROM asyncoperation WHERE owninguser = ?", (user,))[0]
    assert total > 2
    response = await em.get(f"systemusers({user})/system_user_asyncoperation?$select=name&$top=2")
    body = assert_json(response)
    assert body == {
        "@odata.context": f"{API}$metadata#asyncoperations(name)",
        "value": [{"@odata.etag": f'W/"{v}"', "name": n, "asyncoperationid": i} for v, n, i in expected],
    }
    response = await em.get(f"systemusers({user})/system_user_asyncoperation?$select=name&$filter=statecode eq 3&$count=true")
    body = assert_json(response)
    completed = sql_rows(path, "SELECT asyncoperationid FROM asyncoperation WHERE owninguser = ? AND statecode = 3 "
                               "ORDER BY asyncoperationid", (user,))
    assert body["@odata.count"] == len(completed)
    assert [r["asyncoperationid"] for r in body["value"]] == [r[0] for r in completed]
    assert "@odata.nextLink" not in body


async def test_conditional_get(file_store):
    em, path = file_store
    job, _, state, _, version, _ = user_job(path)
    etag = f'W/"{version}"'

    for query in ("", "?$select=name,statecode"):
        response = await em.get(f"asyncoperations({job}){query}", headers={"If-None-Match": etag})
        assert response.status_code == 304, response.text
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["odata-version"] == "4.0"

    # Not with $expand, not with annotations, not with another version or `null`: 200 and the row.
    cases = [
        ("?$select=name&$expand=owninguser($select=fullname)", {}),
        ("?$select=statecode", {"Prefer": 'odata.include-annotations="*"'}),
        ("?$select=statecode", {"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'}),
        ("?$select=statecode", {}),
    ]
    for i, (query, extra) in enumerate(cases):
        match = etag if i < 3 else f'W/"{version + 100000}"'
        response = await em.get(f"asyncoperations({job}){query}", headers={"If-None-Match": match, **extra})
        body = assert_json(response)
        assert response.headers["etag"] == etag
        assert body["@odata.etag"] == etag and body["asyncoperationid"] == job
    assert body == {"@odata.context": f"{API}$metadata#asyncoperations(statecode)/$entity", "@odata.etag": etag,
                    "statecode": state, "asyncoperationid": job}

    response = await em.get(f"asyncoperations({job})?$select=statecode", headers={"If-None-Match": "null"})
    assert response.status_code == 200
    response = await em.get(f"asyncoperations({job})?$select=statecode",
                            headers={"If-None-Match": etag, "Prefer": 'odata.include-annotations="*"'})
    labels = {0: "Ready", 1: "Suspended", 2: "Locked", 3: "Completed"}
    assert response.json()["statecode@OData.Community.Display.V1.FormattedValue"] == labels[state]


async def test_entity_definitions_by_logical_name(emulated):
    response = await emulated.get("EntityDefinitions(LogicalName='asyncoperation')")
    body = assert_json(response)
    assert body["@odata.context"] == f"{API}$metadata#EntityDefinitions/$entity"
    assert {k: body[k] for k in ("LogicalName", "SchemaName", "EntitySetName", "PrimaryIdAttribute",
                                 "PrimaryNameAttribute", "ObjectTypeCode", "OwnershipType", "IsCustomEntity")} == {
        "LogicalName": "asyncoperation", "SchemaName": "AsyncOperation", "EntitySetName": "asyncoperations",
        "PrimaryIdAttribute": "asyncoperationid", "PrimaryNameAttribute": "name", "ObjectTypeCode": 4700,
        "OwnershipType": "UserOwned", "IsCustomEntity": False,
    }
    metadata_id = body["MetadataId"]

    response = await emulated.get("EntityDefinitions(LogicalName='systemuser')?$select=LogicalName,EntitySetName")
    assert assert_json(response) == {
        "@odata.context": f"{API}$metadata#EntityDefinitions(LogicalName,EntitySetName)/$entity",
        "LogicalName": "systemuser",
        "EntitySetName": "systemusers",
        "MetadataId": response.json()["MetadataId"],
    }

    # By MetadataId too.
    response = await emulated.get(f"EntityDefinitions({metadata_id})?$select=LogicalName")
    assert assert_json(response)["LogicalName"] == "asyncoperation"

    response = await emulated.get("EntityDefinitions(LogicalName='nope')")
    assert_error(response, 404, "0x80040217", "Could not find an entity with the name 'nope'.")
