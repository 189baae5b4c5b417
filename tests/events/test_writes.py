"""Writes on business tables: Dataverse's answers, its defaults, and every bad write refused with a
Dataverse-shaped error and nothing changed."""

from __future__ import annotations

import pytest

from tests.helpers import assert_json, assert_ok, sql_rows

PAYLOAD = ("Error identified in Payload provided by the user for Entity :'accounts', For more information on this error "
           "please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
           "Microsoft.OData.ODataException: ")


def assert_error(response, status: int) -> dict:
    """A Dataverse error answer with this status: its `error` object."""
    body = assert_json(response, status)
    assert list(body) == ["error"] and set(body["error"]) == {"code", "message"}, body
    return body["error"]


async def snapshot(emulated) -> tuple:
    accounts = assert_ok(await emulated.get("accounts?$select=name,telephone1&$orderby=accountid"))["value"]
    jobs = (await emulated.get("asyncoperations/$count")).text
    return accounts, jobs


async def test_create_answers_204_with_the_entity_id_and_applies_defaults(emulated):
    response = await emulated.request("POST", "accounts", json={"name": "Defaults"})
    assert response.status_code == 204 and response.content == b""
    url = response.headers["OData-EntityId"]
    assert url.startswith("http://127.0.0.1:8080/api/data/v9.2/accounts(")
    row = assert_ok(await emulated.get(url))
    who = assert_ok(await emulated.get("WhoAmI()"))
    assert row["_ownerid_value"] == row["_createdby_value"] == row["_modifiedby_value"] == who["UserId"]
    assert row["_owningbusinessunit_value"] == who["BusinessUnitId"]
    assert (row["statecode"], row["statuscode"]) == (0, 1)
    assert row["createdon"] == row["modifiedon"] and row["@odata.etag"].startswith('W/"')


async def test_return_representation_select_and_binds(emulated):
    contact = assert_ok(await emulated.get("contacts?$top=1&$select=contactid"))["value"][0]["contactid"]
    team = assert_ok(await emulated.get("teams?$top=1&$select=teamid"))["value"][0]["teamid"]
    response = await emulated.request(
        "POST", "accounts?$select=name,_primarycontactid_value,_ownerid_value",
        json={"name": "Bound", "primarycontactid@odata.bind": f"/contacts({contact})",
              "ownerid@odata.bind": f"teams({team})"},
        headers={"Prefer": "return=representation"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["_primarycontactid_value"] == contact and body["_ownerid_value"] == team
    assert set(body) == {"@odata.context", "@odata.etag", "name", "_primarycontactid_value", "_ownerid_value",
                         "accountid"}
    # A polymorphic lookup: parentcustomerid_account.
    account = body["accountid"]
    response = await emulated.request("POST", "contacts", json={
        "firstname": "Poly", "lastname": "Morph",
        "parentcustomerid_account@odata.bind": f"http://127.0.0.1:8080/api/data/v9.2/accounts({account})"})
    created = assert_ok(await emulated.get(response.headers["OData-EntityId"] + "?$select=fullname,_parentcustomerid_value",
                                           headers={"Prefer": 'odata.include-annotations="*"'}))
    assert created["fullname"] == "Poly Morph" and created["_parentcustomerid_value"] == account
    assert created["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"


async def test_update_upsert_and_conditions(emulated):
    url = (await emulated.request("POST", "accounts", json={"name": "Before"})).headers["OData-EntityId"]
    etag = assert_ok(await emulated.get(url))["@odata.etag"]
    response = await emulated.request("PATCH", url, json={"name": "After"}, headers={"If-Match": etag})
    assert response.status_code == 204 and response.headers["OData-EntityId"] == url
    assert_error(await emulated.request("PATCH", url, json={"name": "Stale"}, headers={"If-Match": etag}), 412)
    assert_error(await emulated.request("PATCH", url, json={"name": "No"}, headers={"If-None-Match": "*"}), 412)
    assert assert_ok(await emulated.get(url))["name"] == "After"
    missing = "accounts(6d81597f-0f9f-e711-8122-000d3aa2331c)"
    assert_error(await emulated.request("PATCH", missing, json={"name": "x"}, headers={"If-Match": "*"}), 404)
    response = await emulated.request("PATCH", missing, json={"name": "Upserted"},
                                      headers={"Prefer": "return=representation"})
    assert response.status_code == 201 and response.json()["name"] == "Upserted"
    assert (await emulated.request("DELETE", missing)).status_code == 204
    assert_error(await emulated.request("DELETE", missing), 404)


async def test_platform_tables_stay_read_only(emulated):
    assert_error(await emulated.request("POST", "systemusers", json={"firstname": "x"}), 405)
    assert_error(await emulated.request("POST", "sdkmessages", json={"name": "x"}), 405)
    assert_error(await emulated.request("POST", "asyncoperations", json={"name": "x"}), 400)


@pytest.mark.parametrize(("body", "status", "code", "message"), [
    ({"name": "x", "foo": 1}, 400, "0x80048d19",
     PAYLOAD + "The property 'foo' does not exist on type 'Microsoft.Dynamics.CRM.account'. Make sure to only use "
               "property names that are defined by the type or mark the type as open type."),
    ({"name": "x", "numberofemployees": "many"}, 400, "0x80048d19",
     PAYLOAD + "Cannot convert the literal 'many' to the expected type 'Edm.Int32'."),
    ({"name": 12}, 400, "0x80048d19",
     PAYLOAD + "Cannot convert a primitive value to the expected type 'Edm.String'. See the inner exception for more "
               "details."),
    ({"name": "x" * 161}, 400, "0x80044331",
     ("A validation error occurred. The length of the 'name' attribute of the 'account' entity exceeded the maximum "
      "allowed length of '160'.")),
    ({"name": "x", "primarycontactid@odata.bind": "/accounts(6d81597f-0f9f-e711-8122-000d3aa2331c)"}, 400,
     "0x80048d19", None),
    ({"name": "x", "primarycontactid@odata.bind": "/contacts(6d81597f-0f9f-e711-8122-000d3aa2331c)"}, 404,
     "0x80040217", "contact With Id = 6d81597f-0f9f-e711-8122-000d3aa2331c Does Not Exist"),
    ({"name": "x", "nowhere@odata.bind": "/contacts(6d81597f-0f9f-e711-8122-000d3aa2331c)"}, 400, "0x80048d19", None),
    ({"name": "x", "createdon": "2020-01-01T00:00:00Z"}, 400, "0x80040203", None),
    ({"name": "x", "_ownerid_value": "6d81597f-0f9f-e711-8122-000d3aa2331c"}, 400, "0x80048d19", None),
    ({"name": "x", "statuscode": 7}, 400, "0x80044331", None),
], ids=["unknown-property", "wrong-type-literal", "wrong-type", "too-long", "bind-wrong-table", "bind-missing-row",
        "bind-unknown-navigation", "read-only", "lookup-value-property", "bad-option"])
async def test_a_bad_write_changes_nothing(emulated, body, status, code, message):
    before = await snapshot(emulated)
    response = await emulated.request("POST", "accounts", json=body)
    error = assert_error(response, status)
    assert error["code"] == code, error
    if message is not None:
        assert error["message"] == message
    account = assert_ok(await emulated.get("accounts?$top=1&$select=accountid"))["value"][0]["accountid"]
    patched = await emulated.request("PATCH", f"accounts({account})", json=body, headers={"If-Match": "*"})
    assert patched.status_code == status
    assert await snapshot(emulated) == before


async def test_every_row_written_is_in_the_store(emulated, store_copy):
    response = await emulated.request("POST", "accounts", json={"name": "Stored", "telephone1": "555"})
    record = response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    [row] = sql_rows(store_copy, "SELECT name, telephone1, owneridtype FROM account WHERE accountid = ?", (record,))
    assert tuple(row) == ("Stored", "555", "systemuser")
