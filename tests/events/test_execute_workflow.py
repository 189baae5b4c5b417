"""Workflows on demand (issue 14 item 5): `POST workflows(<id>)/Microsoft.Dynamics.CRM.ExecuteWorkflow`
with `{"EntityId": ...}` files a type-10 system job named after the workflow, regarding that record,
and answers with it (webapi/reference/executeworkflow.md: the action returns an asyncoperation)."""

from __future__ import annotations

from sqlalchemy import update

from odata_emulator.store.schema import METADATA
from tests.helpers import API, assert_error

ACTION = "Microsoft.Dynamics.CRM.ExecuteWorkflow"


async def _activated_workflow(client, table: str) -> dict:
    rows = (await client.get(f"{API}workflows?$select=name,primaryentity,statecode"
                             f"&$filter=primaryentity eq '{table}' and statecode eq 1")).json()["value"]
    assert rows, f"the data set has an activated workflow on {table}"
    return rows[0]


async def test_execute_workflow_files_a_workflow_job_regarding_the_record(emulated):
    client = emulated.client
    workflow = await _activated_workflow(client, "contact")
    contact = (await client.get(f"{API}contacts?$select=fullname&$top=1")).json()["value"][0]
    response = await client.post(f"{API}workflows({workflow['workflowid']})/{ACTION}",
                                 json={"EntityId": contact["contactid"]})
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("/api/data/v9.2/$metadata#asyncoperations/$entity")
    job = (await client.get(
        f"{API}asyncoperations({body['asyncoperationid']})?$select=name,operationtype,statecode,statuscode,"
        f"primaryentitytype,_regardingobjectid_value,_workflowactivationid_value")).json()
    assert (job["name"], job["operationtype"], job["statecode"], job["statuscode"]) == \
        (workflow["name"], 10, 0, 0)
    assert job["_regardingobjectid_value"] == contact["contactid"]
    assert job["_workflowactivationid_value"] == workflow["workflowid"]
    assert job["primaryentitytype"] == "contact"
    await client.post("/_emulator/v1/clock", json={"advance": "PT1H"})
    done = (await client.get(f"{API}asyncoperations({body['asyncoperationid']})?$select=statecode,statuscode")).json()
    assert (done["statecode"], done["statuscode"]) == (3, 30)


async def test_execute_workflow_refusals_change_nothing(emulated):
    client = emulated.client
    workflow = await _activated_workflow(client, "contact")
    count = (await client.get(f"{API}asyncoperations/$count")).text
    url = f"{API}workflows({workflow['workflowid']})/{ACTION}"
    missing = "00000000-0000-0000-0000-0000000000aa"
    assert_error(await client.post(url, json={}), 400, "0x80040203",
                 "The parameter 'EntityId' of ExecuteWorkflow is required.")
    assert_error(await client.post(url, json={"EntityId": "nope"}), 400, "0x80040203",
                 "Cannot convert the literal 'nope' to the expected type 'Edm.Guid'.")
    assert_error(await client.post(url, json={"EntityId": missing}), 404, "0x80040217",
                 f"Entity 'contact' With Id = {missing} Does Not Exist")
    assert_error(await client.post(f"{API}workflows({missing})/{ACTION}", json={"EntityId": missing}), 404,
                 "0x80040217", f"Entity 'workflow' With Id = {missing} Does Not Exist")
    # A draft process (workflows are not writable through the Web API: the store is changed directly).
    async with emulated.emulator.store.write() as conn:
        await conn.execute(update(METADATA.tables["workflow"]).where(
            METADATA.tables["workflow"].c.workflowid == workflow["workflowid"]).values(statecode=0, statuscode=1))
    contact = (await client.get(f"{API}contacts?$select=fullname&$top=1")).json()["value"][0]
    assert_error(await client.post(url, json={"EntityId": contact["contactid"]}), 400, "0x80040203",
                 f"The process '{workflow['name']}' is not activated: only an activated process can be run.")
    assert (await client.get(f"{API}asyncoperations/$count")).text == count


async def test_execute_workflow_is_declared_in_metadata(emulated):
    """webapi/reference/executeworkflow: bound to workflow, EntityId, returns an asyncoperation."""
    text = (await emulated.client.get(f"{API}$metadata")).text
    assert ('<Action Name="ExecuteWorkflow" IsBound="true">\n'
            '        <Parameter Name="entity" Type="mscrm.workflow" Nullable="false"/>\n'
            '        <Parameter Name="EntityId" Type="Edm.Guid" Nullable="false"/>\n'
            '        <ReturnType Type="mscrm.asyncoperation" Nullable="false"/>\n'
            '      </Action>') in text
