"""`/api/data/v9.0/` and `/api/data/v9.1/` answer as v9.2 does: compose-http-requests-handle-errors.md
("Version compatibility": "Your code written for v9.0 will continue to work in future versions when
you reference v9.0 in the URL you use"), and the docs' own samples use v9.0
(query-metadata-web-api.md). Each answer's URLs keep the version asked."""

from __future__ import annotations

import pytest

from tests.helpers import BASE, assert_ok


@pytest.mark.parametrize("version", ["v9.0", "v9.1"])
async def test_every_9x_version_is_the_same_service(emulated, version):
    root = f"{BASE}/api/data/{version}/"
    same = f"{BASE}/api/data/v9.2/"
    query = "asyncoperations?$select=name&$orderby=createdon desc"
    older = await emulated.client.get(root + query, headers={"Prefer": "odata.maxpagesize=3"})
    newer = await emulated.client.get(same + query, headers={"Prefer": "odata.maxpagesize=3"})
    body, expected = assert_ok(older), assert_ok(newer)
    assert body["value"] == expected["value"]
    assert body["@odata.context"] == expected["@odata.context"].replace(same, root)
    assert body["@odata.nextLink"].startswith(root + "asyncoperations?")
    second = assert_ok(await emulated.client.get(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=3"}))
    assert second["value"] == assert_ok(await emulated.client.get(
        expected["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=3"}))["value"]
    who = assert_ok(await emulated.client.get(root + "WhoAmI"))
    assert who["@odata.context"] == f"{root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"
    assert (await emulated.client.get(root + "$metadata")).status_code == 200
    assert assert_ok(await emulated.client.get(root))["@odata.context"] == f"{root}$metadata"


async def test_retrieve_version_is_served_and_declared(emulated):
    """use-web-api-functions.md: `GET [Organization URI]/api/data/v9.2/RetrieveVersion()` answers a
    RetrieveVersionResponse with `Version`; the function is declared in `$metadata`."""
    body = assert_ok(await emulated.get("RetrieveVersion()"))
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.RetrieveVersionResponse")
    assert body["Version"].startswith("9.2.")
    assert assert_ok(await emulated.get("RetrieveVersion")) == body
    csdl = (await emulated.get("$metadata")).text
    assert '<Function Name="RetrieveVersion">' in csdl
    assert '<FunctionImport Name="RetrieveVersion" Function="mscrm.RetrieveVersion"' in csdl
    assert (await emulated.request("POST", "RetrieveVersion()")).status_code == 404
