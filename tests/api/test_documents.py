"""The service's documents end to end: the service document, `$metadata` (CSDL XML), `WhoAmI`,
`EntityDefinitions` as client SDKs query it, and the emulator's control endpoints `health` and `reset`.
"""

from __future__ import annotations

import json
import sqlite3
import xml.etree.ElementTree as ET

from tests.helpers import API, BASE, REPO, assert_ok, sql_rows

EDMX = "{http://docs.oasis-open.org/odata/ns/edmx}"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
CALLER = json.loads((REPO / "fixtures" / "dataset.json").read_text(encoding="utf-8"))["caller"]
ENTITY_SETS = {"asyncoperations", "systemusers", "teams", "businessunits", "sdkmessageprocessingsteps", "workflows",
               "accounts", "contacts", "bulkdeleteoperations", "EntityDefinitions", "sdkmessages", "sdkmessagefilters",
               "plugintypes", "serviceendpoints", "sdkmessageprocessingstepimages", "fileattachments"}


def local(qualified: str) -> str:
    """A type name qualified by the schema's namespace or by its alias (CSDL allows both)."""
    for prefix in ("Microsoft.Dynamics.CRM.", "mscrm."):
        if qualified.startswith(prefix):
            return qualified[len(prefix):]
    raise AssertionError(f"{qualified} is not qualified by Microsoft.Dynamics.CRM or its alias mscrm")


async def test_service_document(emulated):
    body = assert_ok(await emulated.get(""))
    assert list(body) == ["@odata.context", "value"]
    assert body["@odata.context"] == f"{API}$metadata"
    assert body["value"] == [{"name": e["name"], "kind": "EntitySet", "url": e["name"]} for e in body["value"]]
    names = [e["name"] for e in body["value"]]
    assert len(names) == len(set(names))
    assert set(names) == ENTITY_SETS

    # Without the trailing slash, the same document.
    response = await emulated.get(API.rstrip("/"))
    assert assert_ok(response) == body

    # Every entity set listed can be queried.
    for name in names:
        response = await emulated.get(f"{name}?$top=1")
        assert response.status_code == 200, (name, response.text)
        assert response.json()["@odata.context"].startswith(f"{API}$metadata#{name}")

    # The service document and $metadata agree.
    root = ET.fromstring((await emulated.get("$metadata")).content)
    container = root.find(f"{EDMX}DataServices/{EDM}Schema/{EDM}EntityContainer")
    assert {e.get("Name") for e in container.findall(f"{EDM}EntitySet")} == set(names)


async def test_metadata_is_xml_whatever_accept_says(emulated):
    bodies = []
    for accept in ("application/json", "*/*", "application/xml", None):
        headers = {"Accept": accept} if accept else {}
        if accept is None:
            emulated.client.headers.pop("accept", None)
        response = await emulated.get("$metadata", headers=headers)
        assert response.status_code == 200, (accept, response.text)
        assert response.headers["content-type"] == "application/xml"
        assert response.headers["odata-version"] == "4.0"
        assert response.content.startswith(b"<?xml")
        bodies.append(response.content)
    assert len(set(bodies)) == 1

    root = ET.fromstring(bodies[0])
    assert root.tag == f"{EDMX}Edmx" and root.get("Version") == "4.0"
    schema = root.find(f"{EDMX}DataServices/{EDM}Schema")
    assert (schema.get("Namespace"), schema.get("Alias")) == ("Microsoft.Dynamics.CRM", "mscrm")
    container = schema.find(f"{EDM}EntityContainer")
    assert container.get("Name") == "System"
    sets = {e.get("Name"): e.get("EntityType") for e in container.findall(f"{EDM}EntitySet")}
    assert local(sets["asyncoperations"]) == "asyncoperation"

    types = {t.get("Name"): t for t in schema.findall(f"{EDM}EntityType")}
    job = types["asyncoperation"]
    assert local(job.get("BaseType")) == "crmbaseentity"
    assert [r.get("Name") for r in job.findall(f"{EDM}Key/{EDM}PropertyRef")] == ["asyncoperationid"]
    properties = {p.get("Name"): p.get("Type") for p in job.findall(f"{EDM}Property")}
    assert properties["asyncoperationid"] == "Edm.Guid"
    assert properties["name"] == "Edm.String"
    assert properties["statecode"] == "Edm.Int32"
    assert properties["createdon"] == "Edm.DateTimeOffset"
    assert properties["executiontimespan"] == "Edm.Double"
    assert properties["_owninguser_value"] == "Edm.Guid"
    navigations = {n.get("Name"): n.get("Type") for n in job.findall(f"{EDM}NavigationProperty")}
    assert local(navigations["owninguser"]) == "systemuser"
    assert local(navigations["owningbusinessunit"]) == "businessunit"
    user_navigations = {n.get("Name"): n.get("Type") for n in types["systemuser"].findall(f"{EDM}NavigationProperty")}
    collection = user_navigations["system_user_asyncoperation"]
    assert collection.startswith("Collection(") and local(collection[len("Collection("):-1]) == "asyncoperation"

    # Every entity set's type is declared.
    for entity_type in sets.values():
        assert local(entity_type) in types, entity_type


async def test_who_am_i(emulated):
    expected = {
        "@odata.context": f"{API}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
        "BusinessUnitId": CALLER["businessunitid"],
        "UserId": CALLER["systemuserid"],
        "OrganizationId": CALLER["organizationid"],
    }
    for path in ("WhoAmI", "WhoAmI()"):
        body = assert_ok(await emulated.get(path))
        assert body == expected
        assert list(body) == list(expected)

    # The caller is a real user of the data set, in the business unit WhoAmI names.
    response = await emulated.get(f"systemusers({CALLER['systemuserid']})?$select=fullname,_businessunitid_value")
    assert assert_ok(response)["_businessunitid_value"] == CALLER["businessunitid"]


async def test_entity_definitions_as_the_python_sdk_asks(emulated):
    # Exactly what the Microsoft Python SDK sends to resolve a table's entity set.
    url = (f"{API}EntityDefinitions?%24select=LogicalName,EntitySetName,PrimaryIdAttribute"
           "&%24filter=LogicalName+eq+%27asyncoperation%27")
    body = assert_ok(await emulated.get(url))
    metadata_id = body["value"][0]["MetadataId"]
    assert body == {
        "@odata.context": f"{API}$metadata#EntityDefinitions(LogicalName,EntitySetName,PrimaryIdAttribute)",
        "value": [{
            "LogicalName": "asyncoperation",
            "EntitySetName": "asyncoperations",
            "PrimaryIdAttribute": "asyncoperationid",
            "MetadataId": metadata_id,
        }],
    }
    # The same query written with literal `$` and `%20`.
    body2 = assert_ok(await emulated.get("EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
                                         "&$filter=LogicalName%20eq%20'asyncoperation'"))
    assert body2 == body

    # No match: an empty collection.
    body = assert_ok(await emulated.get("EntityDefinitions?$select=LogicalName&$filter=LogicalName eq 'nope'"))
    assert body == {"@odata.context": f"{API}$metadata#EntityDefinitions(LogicalName)", "value": []}

    # Every table of the service document but EntityDefinitions itself is described.
    body = assert_ok(await emulated.get("EntityDefinitions?$select=EntitySetName"))
    assert {row["EntitySetName"] for row in body["value"]} == ENTITY_SETS - {"EntityDefinitions"}


async def test_health(emulated):
    response = await emulated.get(f"{BASE}/_emulator/v1/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["clock"] == "virtual" and body["now"] == "2026-11-01T12:00:00Z" and body["strict"] is True


async def test_reset_restores_the_fixtures(file_store):
    em, path = file_store
    snapshot = "SELECT asyncoperationid, name, statecode, statuscode, createdon FROM asyncoperation ORDER BY 1"
    before = sql_rows(path, snapshot)
    users_before = sql_rows(path, "SELECT systemuserid, fullname FROM systemuser ORDER BY 1")
    total = len(before)
    assert (await em.get("asyncoperations/$count")).text == str(total)

    # Damage the store behind the emulator's back.
    victims = [r[0] for r in before[:10]]
    with sqlite3.connect(path) as conn:
        conn.executemany("DELETE FROM asyncoperation WHERE asyncoperationid = ?", [(v,) for v in victims])
        conn.execute("UPDATE asyncoperation SET name = 'renamed' WHERE asyncoperationid = ?", (before[10][0],))
        conn.execute("DELETE FROM systemuser WHERE fullname = 'Ana Souza'")
    assert (await em.get("asyncoperations/$count")).text == str(total - 10)
    response = await em.get(f"asyncoperations({victims[0]})")
    assert response.status_code == 404
    assert (await em.get(f"asyncoperations({before[10][0]})/name")).json()["value"] == "renamed"

    response = await em.client.post(f"{BASE}/_emulator/v1/reset")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer.pop("data").endswith("fixtures: 512 rows, 426 of them system jobs")
    assert answer == {"status": "reset", "clock": "back to its start, 2026-11-01T12:00:00Z"}

    assert sql_rows(path, snapshot) == before
    assert sql_rows(path, "SELECT systemuserid, fullname FROM systemuser ORDER BY 1") == users_before
    response = await em.get("asyncoperations/$count")
    assert response.status_code == 200 and response.text == str(total)
    response = await em.get(f"asyncoperations({victims[0]})?$select=name")
    assert response.status_code == 200 and response.json()["name"] == before[0][1]
    body = assert_ok(await em.get("WhoAmI"))
    assert body["UserId"] == CALLER["systemuserid"]

    # Twice in a row is fine, and changes nothing.
    assert (await em.client.post(f"{BASE}/_emulator/v1/reset")).status_code == 200
    assert sql_rows(path, snapshot) == before
    # Only POST.
    assert (await em.get(f"{BASE}/_emulator/v1/reset")).status_code in (404, 405)
