"""System Event jobs (operationtype 1) doing their step's work for real, end to end through HTTP:
a webhook step's job POSTs its context to a real receiver (uvicorn on a free port of 127.0.0.1), a
plug-in step's job runs the Python handler registered for it. Registration rows are written
through the store; the jobs are filed through the control API with `owningextensionid` and `data`."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from sqlalchemy import insert

from odata_emulator.store.schema import METADATA
from odata_emulator.webhooks import WebhookError
from tests.helpers import API, JobService, make_settings, start
from tests.webhooks.receiver import Receiver, free_port

# Real servers: each delivery goes to a receiver (uvicorn) on a port of 127.0.0.1 (the fast loop leaves them out).
pytestmark = pytest.mark.slow

CONTEXT = {"BusinessUnitId": "e2b9dd85-e89e-e711-8122-000d3aa2331c", "CorrelationId": "b374239d-4233-41a9-8b17-a86cb4f737b5",
           "Depth": 1, "MessageName": "Create", "Mode": 1, "OrganizationName": "OrgName", "PrimaryEntityName": "contact",
           "InputParameters": [{"key": "Target", "value": {"LogicalName": "contact"}}], "Stage": 40}


class Events(JobService):
    async def advance(self, duration: str = "PT1M") -> None:
        response = await self.client.post("/_emulator/v1/clock", json={"advance": duration})
        assert response.status_code == 200, response.text

    async def step(self, *, url: str | None = None, authtype: int | None = None, authvalue: str | None = None,
                   plugin: str | None = None, autodelete: bool = False, name: str = "My Hook: Create of contact") -> str:
        """A registered async step whose handler is a new webhook endpoint (`url`) or plug-in type."""
        handler = str(uuid.uuid4())
        step = str(uuid.uuid4())
        async with self.em.emulator.store.write() as conn:
            if url is not None:
                await conn.execute(insert(METADATA.tables["serviceendpoint"]).values(
                    serviceendpointid=handler, name="My Hook", contract=8, url=url, authtype=authtype,
                    authvalue=authvalue, messageformat=2))
            else:
                await conn.execute(insert(METADATA.tables["plugintype"]).values(
                    plugintypeid=handler, name=plugin, typename=plugin, friendlyname=plugin))
            await conn.execute(insert(METADATA.tables["sdkmessageprocessingstep"]).values(
                sdkmessageprocessingstepid=step, name=name, mode=1, stage=40, rank=1, eventhandler=handler,
                eventhandlertypecode="serviceendpoint" if url is not None else "plugintype",
                asyncautodelete=int(autodelete), statecode=0, statuscode=1, supporteddeployment=0))
        return step

    async def fire(self, step: str, context: dict = CONTEXT) -> str:
        [job] = await self.create({"name": "My Hook: Create of contact", "operationtype": 1, "owningextensionid": step,
                                   "owningextensiontypecode": "sdkmessageprocessingstep", "messagename": "Create",
                                   "primaryentitytype": "contact", "correlationid": context["CorrelationId"],
                                   "data": json.dumps(context)})
        return job

    async def columns(self, job_id: str) -> dict:
        return await self.job(job_id)

    async def reasons(self, job_id: str) -> list[str]:
        return [reason for _, _, _, reason in await self.history(job_id)]


@pytest.fixture
async def events(empty_store_copy):
    service = await _service(empty_store_copy)
    try:
        yield service
    finally:
        await service._close()


async def _service(path, **settings) -> Events:
    em, lifespan, client = await start(make_settings(database=str(path), fixtures=None, **settings))
    service = Events(em)

    async def close():
        await client.aclose()
        await lifespan.__aexit__(None, None, None)

    service._close = close  # type: ignore[attr-defined]
    return service


async def test_a_webhook_step_delivers_the_context_and_succeeds(events):
    async with Receiver([200]) as receiver:
        job = await events.fire(await events.step(url=receiver.url))
        await events.advance()
    [got] = receiver.requests
    assert got.json() == CONTEXT
    assert got.headers["x-ms-dynamics-entity-name"] == "contact"
    assert got.headers["x-ms-dynamics-request-name"] == "Create"
    assert got.headers["x-ms-correlation-request-id"] == CONTEXT["CorrelationId"]
    assert got.headers["x-ms-dynamics-organization"] == "orgname.crm.dynamics.com"
    assert uuid.UUID(got.headers["x-request-id"])
    row = await events.columns(job)
    assert (row["statecode"], row["statuscode"], row["errorcode"], row["message"]) == (3, 30, None, None)
    assert await events.reasons(job) == ["created", "claim", "succeed"]


@pytest.mark.parametrize(("authtype", "authvalue", "expect"), [
    (4, "k3y", lambda got: ("code", "k3y") in got.query),
    (5, '<settings><setting name="x-api-key" value="abc"/></settings>', lambda got: got.headers["x-api-key"] == "abc"),
    (6, '<settings><setting name="sig" value="s 1"/></settings>', lambda got: ("sig", "s 1") in got.query),
])
async def test_each_auth_mode_reaches_the_receiver(events, authtype, authvalue, expect):
    async with Receiver() as receiver:
        job = await events.fire(await events.step(url=receiver.url, authtype=authtype, authvalue=authvalue))
        await events.advance()
    assert expect(receiver.requests[0])
    assert await events.pair(job) == (3, 30)


async def test_500_fails_the_job_with_0x80050201(events):
    async with Receiver([500]) as receiver:
        job = await events.fire(await events.step(url=receiver.url))
        await events.advance()
    row = await events.columns(job)
    assert (row["statecode"], row["statuscode"], row["errorcode"]) == (3, 31, -2147155455)
    assert row["message"] == row["friendlymessage"] == WebhookError.NON_SUCCESS_STATUS.text + " (StatusCode: 500)"
    assert row["retrycount"] == 0 and len(receiver.requests) == 1
    assert await events.reasons(job) == ["created", "claim", "fail"]


async def test_503_then_200_succeeds_after_one_more_attempt(events):
    async with Receiver([503, 200]) as receiver:
        job = await events.fire(await events.step(url=receiver.url))
        await events.advance()
    assert len(receiver.requests) == 2 and await events.pair(job) == (3, 30)
    assert await events.reasons(job) == ["created", "claim", "succeed"]  # the retry is inside the delivery


async def test_503_twice_fails(events):
    async with Receiver([503, 503]) as receiver:
        job = await events.fire(await events.step(url=receiver.url))
        await events.advance()
    row = await events.columns(job)
    assert (row["statuscode"], row["errorcode"]) == (31, -2147155455) and row["message"].endswith("(StatusCode: 503)")
    assert len(receiver.requests) == 2


async def test_a_timeout_fails_with_0x80050202(empty_store_copy):
    events = await _service(empty_store_copy, webhook_timeout=0.2)
    try:
        async with Receiver(delay=3) as receiver:
            job = await events.fire(await events.step(url=receiver.url))
            await events.advance()
        row = await events.columns(job)
        assert (row["statuscode"], row["errorcode"]) == (31, -2147155454)
        assert row["message"] == WebhookError.TIMEOUT.text + " (Timeout: 0.2 seconds)"
    finally:
        await events._close()


async def test_a_refused_connection_fails_with_0x80050205(events):
    job = await events.fire(await events.step(url=f"http://127.0.0.1:{free_port()}/hook"))
    await events.advance()
    row = await events.columns(job)
    assert (row["statuscode"], row["errorcode"]) == (31, -2147155451)
    assert row["message"].startswith(WebhookError.POST_FAILED.text + " (ConnectError")


async def test_a_bad_authvalue_fails_without_a_request(events):
    async with Receiver() as receiver:
        job = await events.fire(await events.step(url=receiver.url, authtype=5, authvalue="<settings"))
        await events.advance()
    assert receiver.requests == []
    assert (await events.columns(job))["errorcode"] == -2147155453


async def test_asyncautodelete_deletes_a_success_and_keeps_a_failure(events):
    async with Receiver([200]) as ok, Receiver([500]) as broken:
        deleted = await events.fire(await events.step(url=ok.url, autodelete=True))
        kept = await events.fire(await events.step(url=broken.url, autodelete=True))
        await events.advance()
    assert (await events.client.get(f"{API}asyncoperations({deleted})")).status_code == 404
    assert await events.reasons(deleted) == ["created", "claim", "succeed (asyncautodelete: the job is deleted)"]
    assert await events.pair(kept) == (3, 31)


async def test_cancel_while_the_delivery_is_pending(events):
    async with Receiver() as receiver:
        receiver.hold()
        job = await events.fire(await events.step(url=receiver.url))
        advance = asyncio.create_task(events.advance())
        await asyncio.wait_for(receiver.arrived.wait(), 10)
        assert await events.pair(job) == (2, 20)  # Locked while the request is in flight: the store is not
        response = await events.client.patch(f"{API}asyncoperations({job})", json={"statecode": 3, "statuscode": 32})
        assert response.status_code == 204, response.text
        assert await events.pair(job) == (2, 22)
        receiver.release()
        await asyncio.wait_for(advance, 10)
    assert await events.pair(job) == (3, 32)
    assert await events.reasons(job) == ["created", "claim", "cancel-running", "canceled"]


async def test_postpone_while_the_delivery_is_pending_delivers_again_later(events):
    async with Receiver() as receiver:
        receiver.hold()
        job = await events.fire(await events.step(url=receiver.url))
        advance = asyncio.create_task(events.advance("PT1S"))
        await asyncio.wait_for(receiver.arrived.wait(), 10)
        response = await events.client.patch(f"{API}asyncoperations({job})",
                                             json={"postponeuntil": "2026-01-01T01:00:00Z"})
        assert response.status_code == 204, response.text
        receiver.release()
        await asyncio.wait_for(advance, 10)
        row = await events.columns(job)
        assert (row["statecode"], row["statuscode"], row["postponeuntil"]) == (1, 10, "2026-01-01T01:00:00Z")
        receiver.hold = lambda: None  # type: ignore[method-assign]
        await events.advance("PT2H")
    assert len(receiver.requests) == 2  # at least once: the first answer came after the postpone
    assert await events.pair(job) == (3, 30)
    assert await events.reasons(job) == ["created", "claim", "postpone-running", "paused", "wake", "claim", "succeed"]


async def test_cancel_on_the_real_clock_does_not_wait_for_the_receiver(empty_store_copy):
    events = await _service(empty_store_copy, clock="real", poll_seconds=0.05)
    try:
        async with Receiver() as receiver:
            receiver.hold()
            job = await events.fire(await events.step(url=receiver.url))
            await asyncio.wait_for(receiver.arrived.wait(), 10)
            assert await events.pair(job) == (2, 20)
            await events.client.patch(f"{API}asyncoperations({job})", json={"statecode": 3, "statuscode": 32})
            for _ in range(100):
                if await events.pair(job) == (3, 32):
                    break
                await asyncio.sleep(0.05)
            assert await events.pair(job) == (3, 32)  # while the receiver still holds the request
    finally:
        await events._close()


async def test_a_webhook_job_runs_on_the_real_clock(empty_store_copy):
    events = await _service(empty_store_copy, clock="real", poll_seconds=0.05)
    try:
        async with Receiver([200]) as receiver:
            job = await events.fire(await events.step(url=receiver.url))
            for _ in range(100):
                if await events.pair(job) == (3, 30):
                    break
                await asyncio.sleep(0.05)
        assert await events.pair(job) == (3, 30) and len(receiver.requests) == 1
    finally:
        await events._close()


class PluginFailure(Exception):
    errorcode = -2147220970


async def test_a_plugin_step_runs_the_registered_handler(events):
    seen = []
    events.em.emulator.events.on_step("Contoso.Plugins.Followup", seen.append)
    job = await events.fire(await events.step(plugin="Contoso.Plugins.Followup"))
    await events.advance()
    assert seen == [CONTEXT] and await events.pair(job) == (3, 30)


async def test_a_plugin_handler_that_raises_fails_the_job(events):
    async def handler(context):
        raise PluginFailure("The credit limit is exceeded.")

    events.em.emulator.events.on_step("Credit check: Create of contact", handler)
    job = await events.fire(await events.step(plugin="Contoso.Credit", name="Credit check: Create of contact"))
    await events.advance()
    row = await events.columns(job)
    assert (row["statuscode"], row["errorcode"], row["friendlymessage"]) == (31, -2147220970, "The credit limit is exceeded.")
    assert row["message"] == "PluginFailure: The credit limit is exceeded."


async def test_a_plugin_step_without_handler_succeeds_or_follows_its_types_simulation(events):
    job = await events.fire(await events.step(plugin="Contoso.Quiet"))
    response = await events.client.put("/_emulator/v1/plugintypes/contoso.loud/simulation",
                                       json={"outcome": "fail", "message": "Boom"})
    assert response.status_code == 200 and response.json()["simulation"]["outcome"] == "fail"
    failing = await events.fire(await events.step(plugin="Contoso.Loud"))
    await events.advance()
    assert await events.pair(job) == (3, 30)
    row = await events.columns(failing)
    assert (row["statuscode"], row["errorcode"], row["message"]) == (31, -2147220891, "Boom")
    response = await events.client.delete("/_emulator/v1/plugintypes/contoso.loud/simulation")
    assert response.json()["simulation"] is None


async def test_a_job_with_simulation_settings_stays_simulated(events):
    async with Receiver() as receiver:
        step = await events.step(url=receiver.url)
        [job] = await events.create({"operationtype": 1, "owningextensionid": step, "simulation": {"outcome": "fail"}})
        await events.advance()
    assert receiver.requests == [] and await events.pair(job) == (3, 31)


async def test_the_webhook_inbox_stores_and_lists(events):
    response = await events.client.post("/_emulator/v1/webhook-inbox?code=k", json={"a": 1},
                                        headers={"x-ms-dynamics-entity-name": "contact"})
    assert response.status_code == 200
    assert (await events.client.post("/_emulator/v1/webhook-inbox?status=503", content=b"x")).status_code == 503
    [first, second] = (await events.client.get("/_emulator/v1/webhook-inbox")).json()["value"]
    assert first["body"] == {"a": 1} and first["query"] == {"code": "k"}
    assert first["headers"]["x-ms-dynamics-entity-name"] == "contact" and second["body"] == "x"
    assert (await events.client.delete("/_emulator/v1/webhook-inbox")).status_code == 204
    assert (await events.client.get("/_emulator/v1/webhook-inbox")).json()["value"] == []


async def test_registered_with_the_tools_bodies_a_create_delivers_its_context(store_copy):
    """Registration through the Web API with the reference's bodies (§1.2: a webhook step on Create of
    account, asyncautodelete), an account created, the context delivered with the header auth."""
    em, lifespan, client = await start(make_settings(database=str(store_copy)))
    try:
        async with Receiver() as receiver:
            response = await client.post(f"{API}serviceendpoints", json={
                "name": "MS Gainsight Test Event Listener", "url": receiver.url, "contract": 8, "authtype": 5,
                "authvalue": '<settings><setting name="x-key" value="v"/></settings>'})
            assert response.status_code == 204, response.text
            endpoint = response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
            response = await client.post(f"{API}sdkmessageprocessingsteps", json={
                "name": "MS Gainsight Test Event Listener: Create of Account",
                "description": "OCP Wkshp Bee: Create of Account",
                "eventhandler_serviceendpoint@odata.bind": f"/serviceendpoints({endpoint})",
                "sdkmessageid@odata.bind": "/sdkmessages(9ebdbb1b-ea3e-db11-86a7-000a3a5473e8)",
                "sdkmessagefilterid@odata.bind": "/sdkmessagefilters(c2c5bb1b-ea3e-db11-86a7-000a3a5473e8)",
                "mode": 1, "rank": 1, "stage": 40, "asyncautodelete": True, "filteringattributes": None,
                "configuration": None, "canusereadonlyconnection": False,
                "statecode": 0, "statuscode": 1, "supporteddeployment": 0})
            assert response.status_code == 204, response.text
            step = response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
            response = await client.post(f"{API}accounts", json={"name": "Contoso webhook test"})
            assert response.status_code == 204, response.text
            account = response.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
            jobs = (await client.get(f"{API}asyncoperations?$select=statecode&$filter=_owningextensionid_value eq {step}"
                                     )).json()["value"]
            assert [job["statecode"] for job in jobs] == [0]
            response = await client.post("/_emulator/v1/clock", json={"advance": "PT10M"})
            assert response.status_code == 200
        [got] = receiver.requests
        body = got.json()
        assert got.headers["x-key"] == "v" and got.headers["x-ms-dynamics-entity-name"] == "account"
        assert got.headers["x-ms-dynamics-request-name"] == "Create"
        assert body["OperationId"] == jobs[0]["asyncoperationid"] and body["PrimaryEntityId"] == account
        assert body["OwningExtension"]["Id"] == step
        assert got.headers["x-ms-correlation-request-id"] == body["CorrelationId"]
        # asyncautodelete: the job is gone once it succeeded; its history stays.
        assert (await client.get(f"{API}asyncoperations({body['OperationId']})")).status_code == 404
        history = (await client.get(f"/_emulator/v1/jobs/{body['OperationId']}/history")).json()["value"]
        assert [entry["reason"] for entry in history] == ["created", "claim", "succeed (asyncautodelete: the job is deleted)"]
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
