"""Microsoft's Python SDK (PowerPlatform-Dataverse-Client), unmodified, through what it reads of the
metadata Web API (query-metadata-web-api.md): an update carrying a text value (it first reads the
table's picklists, `Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=OptionSet`),
and `tables.get`, `tables.list`, `tables.list_columns`."""

from __future__ import annotations

import httpx
import pytest

pytest.importorskip("PowerPlatform.Dataverse")
from PowerPlatform.Dataverse.aio.async_client import AsyncDataverseClient  # noqa: E402

from tests.helpers import DummyCredential  # noqa: E402

pytestmark = pytest.mark.slow  # a real server and the SDK's aiohttp client


@pytest.fixture
def server(dataverse_server):
    dataverse_server.reset()
    return dataverse_server


async def test_postpone_a_job_with_a_text_value(server):
    """update-delete-entities-using-web-api.md (PATCH), with the SDK's label lookup first:
    query-metadata-web-api.md "Querying EntityMetadata attributes"."""
    [job] = server.seed_jobs({"name": "Later", "simulation": {"duration": 5}})
    async with AsyncDataverseClient(server.url, DummyCredential()) as client:
        await client.records.update("asyncoperation", job, {"postponeuntil": "2030-01-01T00:00:00Z"})
    row = httpx.get(f"{server.api_url}asyncoperations({job})?$select=postponeuntil").json()
    assert row["postponeuntil"] == "2030-01-01T00:00:00Z"


async def test_tables_get_list_and_list_columns(server):
    """query-metadata-web-api.md: EntityDefinitions with $select/$filter (IsPrivate), and a table's
    Attributes by MetadataId."""
    async with AsyncDataverseClient(server.url, DummyCredential()) as client:
        info = await client.tables.get("asyncoperation")
        tables = await client.tables.list()
        columns = await client.tables.list_columns("asyncoperation", select=["LogicalName", "AttributeType"])
        strings = await client.tables.list_columns("asyncoperation", filter="AttributeType eq 'String'")
    assert info["entity_set_name"] == "asyncoperations" and info["primary_id_attribute"] == "asyncoperationid"
    assert "asyncoperation" in {t["LogicalName"] for t in tables}
    types = {c["LogicalName"]: c["AttributeType"] for c in columns}
    assert types["statecode"] == "State" and types["operationtype"] == "Picklist"
    assert "name" in {c["LogicalName"] for c in strings}
    assert {c["AttributeType"] for c in strings} == {"String"}
