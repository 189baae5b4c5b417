"""Microsoft's Python SDK (PyPI `PowerPlatform-Dataverse-Client`), unmodified, against a real
emulator server: its async client (aiohttp), which takes an http:// org URL as published.

The expected answers come from plain httpx requests to the same server, so each test checks that
the SDK sees what the Web API serves."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("PowerPlatform.Dataverse")
from PowerPlatform.Dataverse.aio.async_client import AsyncDataverseClient  # noqa: E402
from PowerPlatform.Dataverse.models.filters import col  # noqa: E402

from tests.helpers import DummyCredential  # noqa: E402

pytestmark = pytest.mark.slow  # a real server (the `dataverse_server` fixture) and the SDK's aiohttp client


@pytest.fixture
def server(dataverse_server):
    dataverse_server.reset()
    return dataverse_server


def oracle(server, query: str) -> list[dict]:
    rows, url = [], f"{server.api_url}{query}"
    while url:
        body = httpx.get(url, headers={"Prefer": "odata.maxpagesize=5000"}).json()
        rows.extend(body["value"])
        url = body.get("@odata.nextLink")
    return rows


async def test_list_with_select_filter_orderby_and_paging(server):
    expected = [r["asyncoperationid"] for r in oracle(
        server, "asyncoperations?$select=name&$filter=statecode eq 3 and statuscode eq 30&$orderby=createdon desc")]
    assert len(expected) > 10
    credential = DummyCredential()
    async with AsyncDataverseClient(server.url, credential) as client:
        result = await client.records.list(
            "asyncoperation", select=["name", "statuscode", "createdon"],
            filter="statecode eq 3 and statuscode eq 30", orderby=["createdon desc"], page_size=7)
        ids = [r["asyncoperationid"] for r in result]
        pages = [len(page) async for page in client.records.list_pages(
            "asyncoperation", select=["name"], filter="statecode eq 3 and statuscode eq 30",
            orderby=["createdon desc"], page_size=7)]
        top = await client.records.list("asyncoperation", select=["name"], filter="statecode eq 3",
                                        orderby=["createdon desc"], top=5)
    assert ids == expected
    assert sum(pages) == len(expected) and max(pages) == 7 and len(pages) == -(-len(expected) // 7)
    assert len(top) == 5
    assert credential.scopes and credential.scopes[0] == (f"{server.url}/.default",)


async def test_retrieve_with_formatted_values(server):
    row = oracle(server, "asyncoperations?$select=name&$filter=statecode eq 3 and statuscode eq 31&$top=1")[0]
    async with AsyncDataverseClient(server.url, DummyCredential()) as client:
        record = await client.records.retrieve(
            "asyncoperation", row["asyncoperationid"], select=["name", "statecode", "statuscode", "operationtype"],
            include_annotations="OData.Community.Display.V1.FormattedValue")
        missing = await client.records.retrieve("asyncoperation", "00000000-0000-0000-0000-000000000123")
    assert record["name"] == row["name"]
    assert (record["statecode"], record["statuscode"]) == (3, 31)
    assert record["statecode@OData.Community.Display.V1.FormattedValue"] == "Completed"
    assert record["statuscode@OData.Community.Display.V1.FormattedValue"] == "Failed"
    assert missing is None


async def test_cancel_by_update_and_delete(server):
    [waiting, done] = server.seed_jobs({"name": "SDK cancel me", "postponeuntil": "2099-01-01T00:00:00Z"},
                                       {"name": "SDK delete me", "statecode": 3, "statuscode": 30})
    async with AsyncDataverseClient(server.url, DummyCredential()) as client:
        await client.records.update("asyncoperation", waiting, {"statecode": 3, "statuscode": 32})
        await client.records.delete("asyncoperation", done)
    cancelled = httpx.get(f"{server.api_url}asyncoperations({waiting})?$select=statecode,statuscode").json()
    assert (cancelled["statecode"], cancelled["statuscode"]) == (3, 32)
    assert httpx.get(f"{server.api_url}asyncoperations({done})").status_code == 404
    assert [h["reason"] for h in server.history(waiting)][-1] == "cancel"


async def test_query_builder_with_in(server):
    expected = {r["asyncoperationid"] for r in oracle(
        server, "asyncoperations?$select=name&$filter=(statuscode eq 31 or statuscode eq 32) and contains(name,'a')")}
    assert expected
    async with AsyncDataverseClient(server.url, DummyCredential()) as client:
        result = await (client.query.builder("asyncoperation")
                        .select("name", "statuscode")
                        .where(col("statuscode").in_([31, 32]))
                        .where(col("name").contains("a"))
                        .order_by("createdon", descending=True)
                        .execute())
    records = list(result)
    assert {r["asyncoperationid"] for r in records} == expected
    assert all(r["statuscode"] in (31, 32) for r in records)


async def test_fetchxml_pages_with_the_paging_cookie(server):
    expected = [r["asyncoperationid"] for r in oracle(server, "asyncoperations?$select=name&$filter=statecode eq 3")]
    fetch = """<fetch count="50"><entity name="asyncoperation"><attribute name="name"/><attribute name="statuscode"/>
      <filter><condition attribute="statecode" operator="eq" value="3"/></filter>
      <order attribute="asyncoperationid"/></entity></fetch>"""
    async with AsyncDataverseClient(server.url, DummyCredential()) as client:
        result = await client.query.fetchxml(fetch).execute()
    ids = [r["asyncoperationid"] for r in result]
    assert ids == sorted(expected) and len(ids) > 50
