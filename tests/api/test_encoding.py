"""The same query, encoded the ways real clients encode it (reference/clients.md, section 1), gives
the same answer; the headers clients add on a GET are harmless; a repeated option is refused.
"""

from __future__ import annotations

import httpx

from tests.helpers import API, JSON_TYPE, sql_rows

ELEVEN_UTC = 1_793_530_800  # 2026-11-01T11:00:00Z

# The Microsoft Python SDK's failed-jobs query, as each client puts it on the wire.
FAILED_JOBS = {
    "requests params= (MS SDK sync, dataverse-api, binaryrain)":
        b"%24select=name%2Cstatuscode&%24filter=statecode+eq+3+and+statuscode+eq+31&%24orderby=createdon+desc&%24top=10",
    "aiohttp (MS SDK async)":
        b"$select=name,statuscode&$filter=statecode+eq+3+and+statuscode+eq+31&$orderby=createdon+desc&$top=10",
    "python-odata / odata2ts":
        b"%24select=name%2Cstatuscode&%24filter=%28statecode%20eq%203%29%20and%20%28statuscode%20eq%2031%29"
        b"&%24orderby=createdon%20desc&%24top=10",
    "newman, dynamics-web-api, @odata/client":
        b"$select=name,statuscode&$filter=statecode%20eq%203%20and%20statuscode%20eq%2031&$orderby=createdon%20desc&$top=10",
    "raw, by hand (literal $ , ' ( ) and %20)":
        b"$select=name,statuscode&$filter=(statecode%20eq%203)%20and%20(statuscode%20eq%2031)&$orderby=createdon%20desc"
        b"&$top=10",
    "mixed + and %20, %24 and $":
        b"$select=name%2cstatuscode&%24filter=statecode%20eq+3+and%20statuscode+eq%2031&$orderby=createdon+desc&%24top=10",
    "options in another order":
        b"$top=10&$orderby=createdon%20desc&$filter=statecode%20eq%203%20and%20statuscode%20eq%2031&$select=name,statuscode",
    "lowercase percent escapes":
        b"%24select=name%2cstatuscode&%24filter=statecode%20eq%203%20and%20statuscode%20eq%2031&%24orderby=createdon%20desc"
        b"&%24top=10",
}


def raw_url(path: str, query: bytes) -> httpx.URL:
    return httpx.URL(API + path, query=query)


async def test_every_client_encoding_gives_the_same_body(file_store):
    em, path = file_store
    expected = [
        {"@odata.etag": f'W/"{version}"', "name": name, "statuscode": 31, "asyncoperationid": job}
        for job, name, version in sql_rows(path, """
            SELECT asyncoperationid, name, versionnumber FROM asyncoperation WHERE statecode = 3 AND statuscode = 31
            ORDER BY createdon DESC, asyncoperationid LIMIT 10""")
    ]
    assert len(expected) == 10
    bodies = {}
    for client, query in FAILED_JOBS.items():
        response = await em.client.get(raw_url("asyncoperations", query))
        assert response.request.url.query == query, client
        assert response.status_code == 200, (client, response.text)
        assert response.headers["content-type"] == JSON_TYPE
        bodies[client] = response.content
        assert response.json() == {
            "@odata.context": f"{API}$metadata#asyncoperations(name,statuscode)",
            "value": expected,
        }, client
    assert len(set(bodies.values())) == 1, "byte for byte the same answer"

    # httpx's own encoding of params= as well.
    response = await em.get("asyncoperations", params={
        "$select": "name,statuscode", "$filter": "statecode eq 3 and statuscode eq 31", "$orderby": "createdon desc",
        "$top": "10"})
    assert response.content == bodies["aiohttp (MS SDK async)"]


async def test_literals_survive_every_encoding(file_store):
    em, path = file_store
    # A quote doubled inside a string literal: raw, %27-encoded, and form-encoded.
    (user,) = sql_rows(path, "SELECT systemuserid FROM systemuser WHERE fullname = ?", ("Liam O'Connor",))
    for query in (b"$select=fullname&$filter=fullname eq 'Liam O''Connor'",
                  b"$select=fullname&$filter=fullname%20eq%20%27Liam%20O%27%27Connor%27",
                  b"%24select=fullname&%24filter=fullname+eq+%27Liam+O%27%27Connor%27"):
        response = await em.client.get(raw_url("systemusers", query.replace(b" ", b"%20")))
        assert response.status_code == 200, (query, response.text)
        assert [(r["fullname"], r["systemuserid"]) for r in response.json()["value"]] == [("Liam O'Connor", user[0])]

    # A `+` that belongs to the value must come as %2B: a time zone offset.
    expected = [r[0] for r in sql_rows(path, """SELECT asyncoperationid FROM asyncoperation
                                                WHERE createdon >= ? ORDER BY asyncoperationid""",
                                         (ELEVEN_UTC,))]
    assert expected
    for query in (b"$select=name&$filter=createdon%20ge%202026-11-01T13:00:00%2B02:00",
                  b"$select=name&$filter=createdon+ge+2026-11-01T11:00:00Z",
                  b"$select=name&$filter=createdon%20ge%202026-11-01T11%3A00%3A00Z"):
        response = await em.client.get(raw_url("asyncoperations", query))
        assert response.status_code == 200, (query, response.text)
        assert [r["asyncoperationid"] for r in response.json()["value"]] == expected, query
    # Left as a raw `+`, it is a space, and the literal no longer parses: a Dataverse error, not a crash.
    response = await em.client.get(raw_url("asyncoperations", b"$select=name&$filter=createdon%20ge%202026-11-01T13:00:00+02:00"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "0x80060888"

    # The In function's JSON array, encoded and not.
    expected = [r[0] for r in sql_rows(path, "SELECT asyncoperationid FROM asyncoperation WHERE statuscode IN (31, 32) "
                                             "ORDER BY asyncoperationid")]
    for query in (b'$select=name&$filter=Microsoft.Dynamics.CRM.In(PropertyName=\'statuscode\',PropertyValues=["31","32"])',
                  (b"%24select=name&%24filter=Microsoft.Dynamics.CRM.In%28PropertyName%3D%27statuscode%27%2C"
                  b"PropertyValues%3D%5B%2231%22%2C%2232%22%5D%29")):
        response = await em.client.get(raw_url("asyncoperations", query.replace(b'"', b"%22")
                                               .replace(b"[", b"%5B").replace(b"]", b"%5D")))
        assert response.status_code == 200, (query, response.text)
        assert [r["asyncoperationid"] for r in response.json()["value"]] == expected


async def test_headers_real_clients_send_on_get(emulated):
    url = raw_url("asyncoperations", b"$select=name,statecode&$filter=statecode%20eq%200&$orderby=createdon")
    baseline = await emulated.client.get(url, headers={"Accept": "application/json", "OData-MaxVersion": "4.0",
                                                       "OData-Version": "4.0"})
    assert baseline.status_code == 200
    assert baseline.headers["content-type"] == JSON_TYPE and baseline.headers["odata-version"] == "4.0"
    assert baseline.json()["value"]
    variants = {
        "MS SDK": {"Authorization": "Bearer dummy-token", "Accept": "application/json",
                   "Content-Type": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0",
                   "User-Agent": "DataverseSvcPythonClient:1.1.0",
                   "x-ms-client-request-id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                   "x-ms-correlation-id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"},
        "docs (If-None-Match: null)": {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0",
                                       "If-None-Match": "null"},
        "odata2ts (no OData headers)": {"Accept": "application/json, text/plain, */*",
                                        "Content-Type": "application/json"},
        "python-odata": {"Accept": "*/*"},
        "newman": {"Postman-Token": "4d2b5c8e-0d2b-4a7c-9f5e-1b2c3d4e5f60", "Cache-Control": "no-cache",
                   "Accept": "application/json"},
        "nothing at all": {},
    }
    for client, headers in variants.items():
        response = await emulated.client.get(url, headers=headers)
        assert response.status_code == 200, (client, response.text)
        assert response.headers["content-type"] == JSON_TYPE, client
        assert response.headers["odata-version"] == "4.0", client
        assert response.content == baseline.content, client


async def test_single_record_get_built_by_hand(file_store):
    em, path = file_store
    (job, name, state), = sql_rows(path, "SELECT asyncoperationid, name, statecode FROM asyncoperation "
                                         "ORDER BY createdon DESC LIMIT 1")
    for query in (b"$select=name,statecode", b"%24select=name%2Cstatecode"):
        response = await em.client.get(raw_url(f"asyncoperations({job})", query),
                                       headers={"Content-Type": "application/json", "If-None-Match": "null"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["@odata.context"] == f"{API}$metadata#asyncoperations(name,statecode)/$entity"
        assert {k: v for k, v in body.items() if k not in ("@odata.context", "@odata.etag")} == {
            "name": name, "statecode": state, "asyncoperationid": job}


async def test_a_repeated_query_option_is_refused(emulated):
    cases = {
        b"$select=name&$top=1&$top=2": "$top",
        b"$select=name&%24select=statecode": "$select",
        b"$filter=statecode%20eq%203&$select=name&$filter=statecode%20eq%200": "$filter",
        b"$select=name&$orderby=createdon&%24orderby=name": "$orderby",
        b"$select=name&$filter=statecode%20eq%20@p&@p=1&@p=2": "@p",
    }
    for query, option in cases.items():
        response = await emulated.client.get(raw_url("asyncoperations", query))
        assert response.status_code == 400, (query, response.text)
        assert response.headers["content-type"] == JSON_TYPE
        assert response.json() == {"error": {
            "code": "0x80060888",
            "message": f"Query option '{option}' was specified more than once, but it must be specified at most once.",
        }}, query
