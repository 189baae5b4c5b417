"""Microsoft's Python SDK (PyPI `PowerPlatform-Dataverse-Client`), unmodified, against a real emulator
server: it creates an account and a contact, and the system jobs their async steps file are found."""

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


def jobs_regarding(server, record_id: str) -> list[dict]:
    url = (f"{server.api_url}asyncoperations?$select=name,operationtype,messagename,primaryentitytype"
           f"&$filter=_regardingobjectid_value eq {record_id}")
    return httpx.get(url).json()["value"]


async def test_the_sdk_creates_records_and_the_async_steps_file_jobs(server):
    async with AsyncDataverseClient(server.url, DummyCredential()) as client:
        account_id = await client.records.create("account", {"name": "SDK Account"})
        contact_id = await client.records.create("contact", {"firstname": "Sdk", "lastname": "Contact"})
        found = await client.records.retrieve("account", account_id, select=["name"])
    assert found["name"] == "SDK Account"
    # The data set registers two async steps on Create of account and two on Create of contact.
    account_jobs = jobs_regarding(server, account_id)
    contact_jobs = jobs_regarding(server, contact_id)
    assert {j["name"] for j in account_jobs} == {"Contoso.Plugins.AccountPostCreate: Create of account",
                                                 "Contoso.Plugins.CreditCheck: Create of account"}
    assert {j["name"] for j in contact_jobs} == {"Contoso.Plugins.ContactPostCreate: Create of contact",
                                                 "Contoso.Integration.MarketingListSync: Create of contact"}
    assert {(j["operationtype"], j["messagename"]) for j in account_jobs + contact_jobs} == {(1, "Create")}
