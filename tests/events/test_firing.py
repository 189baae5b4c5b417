"""System jobs from real events, end to end through the Web API: register a webhook step and a
plug-in step with the bodies real tools send, change records, find the jobs and their context."""

from __future__ import annotations

import json

import pytest

from tests.helpers import API, assert_ok

CREATE = "9ebdbb1b-ea3e-db11-86a7-000a3a5473e8"
UPDATE = "20bebb1b-ea3e-db11-86a7-000a3a5473e8"
DELETE = "a1bdbb1b-ea3e-db11-86a7-000a3a5473e8"
CREATE_ACCOUNT = "c2c5bb1b-ea3e-db11-86a7-000a3a5473e8"
UPDATE_ACCOUNT = "23c9bb1b-ea3e-db11-86a7-000a3a5473e8"
CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
JOB_COLUMNS = ("name,operationtype,messagename,primaryentitytype,_regardingobjectid_value,_owningextensionid_value,"
               "correlationid,depth,_ownerid_value,data,statecode,statuscode")


def entity_id(response) -> str:
    assert response.status_code == 204, response.text
    return response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


async def post(emulated, url: str, body: dict) -> str:
    return entity_id(await emulated.request("POST", url, json=body))


async def endpoint(emulated) -> str:
    return await post(emulated, "serviceendpoints", {"name": "MS Gainsight Test Event Listener", "contract": 8,
                                                      "url": "https://example.com/hook", "authtype": 4,
                                                      "authvalue": "secret", "messageformat": 2})


async def webhook_step(emulated, endpoint_id: str, **changes) -> str:
    body = {"name": "MS Gainsight Test Event Listener: Create of Account",
            "description": "OCP Wkshp Bee: Create of Account",
            "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint_id})",
            "sdkmessageid@odata.bind": f"/sdkmessages({CREATE})",
            "sdkmessagefilterid@odata.bind": f"/sdkmessagefilters({CREATE_ACCOUNT})",
            "mode": 1, "rank": 1, "stage": 40, "asyncautodelete": True, "filteringattributes": None,
            "configuration": None, "canusereadonlyconnection": False,
            "statecode": 0, "statuscode": 1, "supporteddeployment": 0}
    body.update(changes)
    return await post(emulated, "sdkmessageprocessingsteps", body)


async def plugin_step(emulated, name: str, message: str, filter_id: str | None, **changes) -> str:
    plugin = await post(emulated, "plugintypes", {"name": f"Tests.{name}", "typename": f"Tests.{name}",
                                                  "friendlyname": name})
    body = {"name": f"Tests.{name}: {changes.pop('label', message)} of account",
            "eventhandler_plugintype@odata.bind": f"/plugintypes({plugin})",
            "sdkmessageid@odata.bind": f"/sdkmessages({message})",
            "mode": 1, "rank": 1, "stage": 40, "supporteddeployment": 0}
    if filter_id:
        body["sdkmessagefilterid@odata.bind"] = f"{API}sdkmessagefilters({filter_id})"  # the absolute form
    body.update(changes)
    return await post(emulated, "sdkmessageprocessingsteps", body)


async def quiet_seeded_steps(emulated) -> None:
    """The data set's own steps (Create/Update of account and contact) disabled, so that each test
    sees only the jobs of the steps it registers."""
    steps = assert_ok(await emulated.get("sdkmessageprocessingsteps?$select=sdkmessageprocessingstepid"))["value"]
    for step in steps:
        response = await emulated.request("PATCH", f"sdkmessageprocessingsteps({step['sdkmessageprocessingstepid']})",
                                          json={"statecode": 1, "statuscode": 2}, headers={"If-Match": "*"})
        assert response.status_code == 204, response.text


async def jobs_for(emulated, record_id: str) -> list[dict]:
    url = (f"asyncoperations?$select={JOB_COLUMNS}&$filter=_regardingobjectid_value eq {record_id}"
           f"&$orderby=sequence asc")
    return assert_ok(await emulated.get(url))["value"]


@pytest.fixture
async def hooked(emulated):
    await quiet_seeded_steps(emulated)
    return emulated


async def test_registration_with_the_bodies_tools_send(hooked):
    endpoint_id = await endpoint(hooked)
    step_id = await webhook_step(hooked, endpoint_id)
    url = (f"sdkmessageprocessingsteps({step_id})?$expand=plugintypeid($select=friendlyname),"
           f"eventhandler_serviceendpoint($select=name),sdkmessagefilterid($select=primaryobjecttypecode),"
           f"sdkmessageid($select=name)")
    step = assert_ok(await hooked.get(url))
    assert step["eventhandler_serviceendpoint"]["name"] == "MS Gainsight Test Event Listener"
    assert step["sdkmessagefilterid"]["primaryobjecttypecode"] == "account"
    assert step["sdkmessageid"]["name"] == "Create"
    assert step["plugintypeid"] is None
    assert (step["mode"], step["stage"], step["asyncautodelete"], step["eventhandlertypecode"]) == (
        1, 40, True, "serviceendpoint")
    listed = assert_ok(await hooked.get(
        f"sdkmessagefilters({CREATE_ACCOUNT})?$select=sdkmessagefilterid"
        f"&$expand=sdkmessagefilterid_sdkmessageprocessingstep($select=name)"))
    assert "MS Gainsight Test Event Listener: Create of Account" in {
        s["name"] for s in listed["sdkmessagefilterid_sdkmessageprocessingstep"]}
    through = assert_ok(await hooked.get(f"serviceendpoints({endpoint_id})/serviceendpoint_sdkmessageprocessingstep"
                                         f"?$select=name"))["value"]
    assert [s["name"] for s in through] == ["MS Gainsight Test Event Listener: Create of Account"]
    # authvalue is written, never read; isauthvalueset says it is there.
    se = assert_ok(await hooked.get(f"serviceendpoints({endpoint_id})"))
    assert "authvalue" not in se and se["isauthvalueset"] is True
    refused = await hooked.get(f"serviceendpoints({endpoint_id})?$select=authvalue")
    assert refused.status_code == 400
    # The plug-in step: eventhandler_plugintype, plugintypeid mirrors it.
    plugin_id = await plugin_step(hooked, "Follow", CREATE, CREATE_ACCOUNT)
    step = assert_ok(await hooked.get(f"sdkmessageprocessingsteps({plugin_id})?$expand=plugintypeid($select=friendlyname)"))
    assert step["plugintypeid"]["friendlyname"] == "Follow" and step["eventhandlertypecode"] == "plugintype"
    assert step["_eventhandler_value"] == step["_plugintypeid_value"]


async def test_an_async_step_outside_post_operation_is_refused(hooked):
    endpoint_id = await endpoint(hooked)
    before = (await hooked.get("sdkmessageprocessingsteps/$count")).text
    response = await hooked.request("POST", "sdkmessageprocessingsteps", json={
        "name": "Early", "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint_id})",
        "sdkmessageid@odata.bind": f"/sdkmessages({CREATE})", "mode": 1, "stage": 20, "rank": 1})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "Asynchronous Execution Mode requires registration in one of the Post Stages.")
    assert (await hooked.get("sdkmessageprocessingsteps/$count")).text == before


async def test_create_files_one_job_per_async_step_in_rank_order(hooked):
    endpoint_id = await endpoint(hooked)
    second = await webhook_step(hooked, endpoint_id, rank=2)
    first = await plugin_step(hooked, "First", CREATE, CREATE_ACCOUNT, rank=1)
    await plugin_step(hooked, "Sync", CREATE, CREATE_ACCOUNT, mode=0)  # synchronous: no job
    await plugin_step(hooked, "Off", CREATE, CREATE_ACCOUNT, statecode=1, statuscode=2)  # disabled: no job
    await plugin_step(hooked, "Contacts", CREATE, None, label="Create of contact",
                      **{"sdkmessagefilterid@odata.bind": "/sdkmessagefilters("
                         + assert_ok(await hooked.get(
                             f"sdkmessagefilters?$select=sdkmessagefilterid&$filter=primaryobjecttypecode eq 'contact'"
                             f" and _sdkmessageid_value eq {CREATE}"))["value"][0]["sdkmessagefilterid"] + ")"})
    anywhere = await plugin_step(hooked, "Anywhere", CREATE, None, rank=3)  # no filter: every table
    account = await post(hooked, "accounts", {"name": "Fabrikam Test"})
    jobs = await jobs_for(hooked, account)
    assert [j["_owningextensionid_value"] for j in jobs] == [first, second, anywhere]
    job = jobs[1]
    assert job["name"] == "MS Gainsight Test Event Listener: Create of Account"
    assert (job["operationtype"], job["messagename"], job["primaryentitytype"], job["depth"]) == (
        1, "Create", "account", 1)
    assert (job["statecode"], job["statuscode"]) == (0, 0)
    assert len({j["correlationid"] for j in jobs}) == 1
    who = assert_ok(await hooked.get("WhoAmI()"))
    assert job["_ownerid_value"] == who["UserId"]
    # The regarding record and the owning step as navigation properties.
    expanded = assert_ok(await hooked.get(
        f"asyncoperations?$select=name&$filter=_owningextensionid_value eq {second}"
        f"&$expand=regardingobjectid_account($select=name),owningextensionid($select=name)"))["value"][0]
    assert expanded["regardingobjectid_account"]["name"] == "Fabrikam Test"
    assert expanded["owningextensionid"]["name"] == job["name"]


async def test_the_context_field_by_field(hooked):
    endpoint_id = await endpoint(hooked)
    step = await webhook_step(hooked, endpoint_id)
    account = await post(hooked, "accounts", {"name": "Context Test", "numberofemployees": 12})
    job = (await jobs_for(hooked, account))[0]
    context = json.loads(job["data"])
    assert list(context) == sorted(context)  # alphabetical, as serialized
    assert context["OperationId"] == assert_ok(await hooked.get(
        f"asyncoperations?$select=asyncoperationid&$filter=_owningextensionid_value eq {step}"))["value"][0][
        "asyncoperationid"]
    assert (context["MessageName"], context["Mode"], context["Stage"], context["Depth"]) == ("Create", 1, 40, 1)
    assert (context["IsInTransaction"], context["IsolationMode"], context["SecondaryEntityName"]) == (False, 1, "none")
    assert (context["PrimaryEntityId"], context["PrimaryEntityName"]) == (account, "account")
    assert context["CorrelationId"] == job["correlationid"]
    assert context["OwningExtension"] == {"Id": step, "KeyAttributes": [], "LogicalName": "sdkmessageprocessingstep",
                                          "Name": job["name"], "RowVersion": None}
    assert context["OutputParameters"] == [{"key": "id", "value": account}]
    assert context["OperationCreatedOn"].startswith("/Date(") and context["OperationCreatedOn"].endswith(")/")
    [target] = context["InputParameters"]
    assert target["key"] == "Target"
    entity = target["value"]
    assert entity["__type"] == f"Entity:{CONTRACTS}"
    assert list(entity) == ["__type", "Attributes", "EntityState", "FormattedValues", "Id", "KeyAttributes",
                            "LogicalName", "RelatedEntities", "RowVersion"]
    values = {a["key"]: a["value"] for a in entity["Attributes"]}
    assert values["name"] == "Context Test" and values["numberofemployees"] == 12
    assert values["statecode"] == {"__type": f"OptionSetValue:{CONTRACTS}", "Value": 0}
    assert values["ownerid"]["__type"] == f"EntityReference:{CONTRACTS}"
    assert values["ownerid"]["LogicalName"] == "systemuser" and values["ownerid"]["KeyAttributes"] == []
    assert values["createdon"].startswith("/Date(")
    [image] = context["PostEntityImages"]
    assert image["key"] == "AsynchronousStepPrimaryName" and "__type" not in image["value"]
    assert {a["key"] for a in image["value"]["Attributes"]} == {"name", "accountid"}
    parent = context["ParentContext"]
    assert (parent["Mode"], parent["Stage"], parent["ParentContext"], parent["CorrelationId"]) == (
        0, 30, None, context["CorrelationId"])
    assert parent["OwningExtension"]["Name"] == "ObjectModel Implementation"
    assert {"key": "SuppressDuplicateDetection", "value": False} in parent["InputParameters"]


async def test_update_fires_only_when_a_filtering_attribute_changes(hooked):
    step = await plugin_step(hooked, "Phone", UPDATE, UPDATE_ACCOUNT, filteringattributes="telephone1,name")
    await post(hooked, "sdkmessageprocessingstepimages", {
        "name": "pre", "entityalias": "pre", "imagetype": 0, "attributes": "name,telephone1",
        "messagepropertyname": "Target", "sdkmessageprocessingstepid@odata.bind": f"/sdkmessageprocessingsteps({step})"})
    account = await post(hooked, "accounts", {"name": "Filtered", "telephone1": "1"})
    response = await hooked.request("PATCH", f"accounts({account})", json={"address1_city": "Oslo"})
    assert response.status_code == 204
    assert await jobs_for(hooked, account) == []
    response = await hooked.request("PATCH", f"accounts({account})", json={"telephone1": "2"})
    assert response.status_code == 204
    [job] = await jobs_for(hooked, account)
    context = json.loads(job["data"])
    values = {a["key"]: a["value"] for a in context["InputParameters"][0]["value"]["Attributes"]}
    assert set(values) == {"telephone1", "accountid", "modifiedon", "modifiedby"}
    [pre] = context["PreEntityImages"]
    assert pre["key"] == "pre"
    assert {a["key"]: a["value"] for a in pre["value"]["Attributes"]} == {"name": "Filtered", "telephone1": "1"}


async def test_delete_fires_with_an_entity_reference(hooked):
    step = await plugin_step(hooked, "Gone", DELETE, "2bc6bb1b-ea3e-db11-86a7-000a3a5473e8")
    account = await post(hooked, "accounts", {"name": "Doomed"})
    assert (await hooked.request("DELETE", f"accounts({account})")).status_code == 204
    [job] = await jobs_for(hooked, account)
    assert job["messagename"] == "Delete" and job["_owningextensionid_value"] == step
    target = json.loads(job["data"])["InputParameters"][0]["value"]
    assert target["__type"] == f"EntityReference:{CONTRACTS}" and target["Id"] == account


async def test_a_change_made_by_a_jobs_work_is_one_deeper(hooked):
    from odata_emulator import records
    from odata_emulator.events import depth, pipeline

    await plugin_step(hooked, "Deep", CREATE, CREATE_ACCOUNT)
    emulator = hooked.emulator
    entity = emulator.model.entity("account")
    caller = emulator.caller
    with depth.running_job(3, "11111111-2222-3333-4444-555555555555"):
        async with emulator.store.write() as conn:
            body = records.read_body(emulator.model, entity, {"name": "Deep"}, creating=True)
            outcome = await pipeline.create(conn, entity, body, caller=caller, now=emulator.clock.now())
    [job] = await jobs_for(hooked, outcome.change.record_id)
    assert (job["depth"], job["correlationid"]) == (4, "11111111-2222-3333-4444-555555555555")


async def test_each_step_gets_its_own_images_in_the_order_registered(hooked):
    """Steps and their images are read together: each job's context carries its own step's images
    (in the order they were registered), a step without any only the primary-name image, and the
    organization's name is the root business unit's."""
    async def image(step: str, name: str, attributes: str) -> None:
        await post(hooked, "sdkmessageprocessingstepimages", {
            "name": name, "entityalias": name, "imagetype": 1, "attributes": attributes,
            "messagepropertyname": "id", "sdkmessageprocessingstepid@odata.bind": f"/sdkmessageprocessingsteps({step})"})

    second = await plugin_step(hooked, "Second", CREATE, CREATE_ACCOUNT, rank=2)
    first = await plugin_step(hooked, "First", CREATE, CREATE_ACCOUNT, rank=1)
    bare = await plugin_step(hooked, "Bare", CREATE, CREATE_ACCOUNT, rank=3)
    await image(second, "zulu", "name")
    await image(first, "only", "telephone1")
    await image(second, "alpha", "telephone1,name")
    account = await post(hooked, "accounts", {"name": "Imaged", "telephone1": "5"})
    jobs = await jobs_for(hooked, account)
    assert [j["_owningextensionid_value"] for j in jobs] == [first, second, bare]
    contexts = [json.loads(j["data"]) for j in jobs]
    assert [[i["key"] for i in c["PostEntityImages"]] for c in contexts] == [
        ["only", "AsynchronousStepPrimaryName"], ["zulu", "alpha", "AsynchronousStepPrimaryName"],
        ["AsynchronousStepPrimaryName"]]
    alpha = contexts[1]["PostEntityImages"][1]["value"]["Attributes"]
    assert {a["key"]: a["value"] for a in alpha} == {"telephone1": "5", "name": "Imaged"}
    root = assert_ok(await hooked.get("businessunits?$select=name&$filter=_parentbusinessunitid_value eq null"))
    assert {c["OrganizationName"] for c in contexts} == {root["value"][0]["name"]}


async def test_the_next_write_sees_a_step_registered_or_disabled_since(hooked):
    """Registrations are read in each write's own transaction: a step registered after a create
    fires on the next create, and once disabled no longer does."""
    assert await jobs_for(hooked, await post(hooked, "accounts", {"name": "Before"})) == []
    step = await plugin_step(hooked, "Late", CREATE, CREATE_ACCOUNT)
    [job] = await jobs_for(hooked, await post(hooked, "accounts", {"name": "After"}))
    assert job["_owningextensionid_value"] == step
    response = await hooked.request("PATCH", f"sdkmessageprocessingsteps({step})",
                                    json={"statecode": 1, "statuscode": 2}, headers={"If-Match": "*"})
    assert response.status_code == 204, response.text
    assert await jobs_for(hooked, await post(hooked, "accounts", {"name": "Disabled"})) == []
