"""Authentication as clients send it: any bearer token by default, 401 with --require-auth, and
the token or the impersonation headers choosing the systemuser who is the caller."""

from __future__ import annotations

import base64
import json

import pytest

from tests.helpers import make_settings, running

ADMIN = "0b1c6a96-b1f5-4ab2-8f4a-a46764e29b77"
ADMIN_BU = "72485191-245e-4262-a012-22d654504ace"
ALEX = "727480ae-0fb7-4d66-99dd-87950c4be1ae"
ALEX_BU = "9fc7c87b-e8e5-43e9-a2e4-e4a1174a4488"
ALEX_OID = "a66273b4-558d-4f44-a8e7-3e2c71b97e0f"
MARCO = "b868f345-a2f8-4041-95e4-22757df09a0b"
MARCO_BU = "1a715734-6352-4ef7-bde3-f69506bf97c0"
MARCO_OID = "d8044822-b5c0-4ec0-b23f-b8ade27bd2a3"
DISABLED = "325471ff-5bc5-4a9b-ae77-ca3c6295c77c"


def jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


async def who(em, **headers) -> tuple[str, str]:
    response = await em.get("WhoAmI", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["UserId"], body["BusinessUnitId"]


async def test_any_token_or_none_is_the_data_sets_user(emulated):
    assert await who(emulated) == (ADMIN, ADMIN_BU)
    assert await who(emulated, Authorization="Bearer dummy-token") == (ADMIN, ADMIN_BU)


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
async def test_require_auth_answers_401_without_a_bearer_token(store_copy, header):
    async with running(make_settings(database=str(store_copy), require_auth=True)) as em:
        headers = {} if header is None else {"Authorization": header}
        response = await em.get("asyncoperations?$select=name&$top=1", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert error["code"] == "0x80044306"
        assert "Authorization" in error["message"]
        ok = await em.get("asyncoperations?$select=name&$top=1", headers={"Authorization": "Bearer anything"})
        assert ok.status_code == 200


async def test_a_token_naming_a_user_makes_that_user_the_caller(emulated):
    assert await who(emulated, Authorization=f"Bearer {ALEX}") == (ALEX, ALEX_BU)
    token = jwt({"oid": MARCO_OID, "aud": "http://127.0.0.1:8080"})
    assert await who(emulated, Authorization=f"Bearer {token}") == (MARCO, MARCO_BU)
    # A JWT whose oid names nobody, and a token that is no JWT, leave the data set's user.
    assert await who(emulated, Authorization=f"Bearer {jwt({'oid': '11111111-1111-1111-1111-111111111111'})}") == (ADMIN, ADMIN_BU)
    assert await who(emulated, Authorization="Bearer a.b.c") == (ADMIN, ADMIN_BU)


async def test_impersonation_headers(emulated):
    assert await who(emulated, MSCRMCallerID=ALEX) == (ALEX, ALEX_BU)
    assert await who(emulated, MSCRMCallerID="{" + ALEX.upper() + "}") == (ALEX, ALEX_BU)
    assert await who(emulated, CallerObjectId=MARCO_OID) == (MARCO, MARCO_BU)
    # MSCRMCallerID wins over the token.
    assert await who(emulated, MSCRMCallerID=MARCO, Authorization=f"Bearer {ALEX}") == (MARCO, MARCO_BU)


@pytest.mark.parametrize("headers, status, code", [
    ({"MSCRMCallerID": "11111111-1111-1111-1111-111111111111"}, 404, "0x80040217"),
    ({"MSCRMCallerID": "not-a-guid"}, 401, "0x80044306"),
    ({"CallerObjectId": "11111111-1111-1111-1111-111111111111"}, 401, "0x80044306"),
    ({"MSCRMCallerID": DISABLED}, 401, "0x80044306"),
])
async def test_impersonating_nobody_is_refused(emulated, headers, status, code):
    response = await emulated.get("WhoAmI", headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_the_caller_is_who_modifies_and_whom_eq_userid_means(emulated):
    em = emulated
    ready = (await em.get("asyncoperations?$select=name&$filter=statecode eq 0&$top=1")).json()["value"][0]
    job = ready["asyncoperationid"]
    response = await em.request("PATCH", f"asyncoperations({job})", json={"statecode": 3, "statuscode": 32},
                                headers={"If-Match": "*", "MSCRMCallerID": ALEX})
    assert response.status_code == 204, response.text
    row = (await em.get(f"asyncoperations({job})?$select=_modifiedby_value")).json()
    assert row["_modifiedby_value"] == ALEX
    # EqualUserId compares with the request's caller.
    mine = await em.get("asyncoperations?$select=name&$filter=Microsoft.Dynamics.CRM.EqualUserId(PropertyName='modifiedby')",
                        headers={"MSCRMCallerID": ALEX})
    assert job in {r["asyncoperationid"] for r in mine.json()["value"]}
    admins = await em.get("asyncoperations?$select=name&$filter=Microsoft.Dynamics.CRM.EqualUserId(PropertyName='modifiedby')")
    assert job not in {r["asyncoperationid"] for r in admins.json()["value"]}


CONTROL = "http://127.0.0.1:8080/_emulator/v1"
NO_TOKEN = {"error": {"code": "0x80044306",
                      "message": "The request has no Authorization header: send 'Authorization: Bearer <token>'."}}
WAITING = "asyncoperations?$select=name&$filter=statecode eq 1 and statuscode eq 10 and iswaitingforevent eq true&$top=1"


async def _job_count(em) -> int:
    return (await em.get("asyncoperations/$count", headers={"Authorization": "Bearer t"})).json()


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/reset", None),
    ("POST", "/jobs", [{"name": "Sneaked in"}]),
    ("GET", "/jobs/{job}/history", None),
    ("POST", "/jobs/{job}/event", None),
    ("GET", "/clock", None),
    ("POST", "/clock", {"advance": "PT1H"}),
])
async def test_require_auth_guards_the_control_api(store_copy, method, path, body):
    async with running(make_settings(database=str(store_copy), require_auth=True)) as em:
        token = {"Authorization": "Bearer anything"}
        job = (await em.get(WAITING, headers=token)).json()["value"][0]["asyncoperationid"]
        url = CONTROL + path.format(job=job)
        count, now = await _job_count(em), em.emulator.clock.now()

        for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}):
            refused = await em.client.request(method, url, json=body, headers=headers)
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/json")
            if not headers:
                assert refused.json() == NO_TOKEN
            else:
                assert refused.json() == {"error": {"code": "0x80044306",
                                                    "message": "The Authorization header must be 'Bearer <token>'."}}
        # Nothing ran: no reset, no new job, the waiting job still waits, the clock where it was.
        assert await _job_count(em) == count
        waiting = (await em.get(f"asyncoperations({job})?$select=statecode,statuscode", headers=token)).json()
        assert (waiting["statecode"], waiting["statuscode"]) == (1, 10)
        assert em.emulator.clock.now() == now

        allowed = await em.client.request(method, url, json=body, headers=token)
        assert allowed.status_code == (201 if path == "/jobs" else 200), allowed.text


async def test_health_stays_open_under_require_auth(store_copy):
    async with running(make_settings(database=str(store_copy), require_auth=True)) as em:
        response = await em.client.get(f"{CONTROL}/health")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"


async def test_without_require_auth_the_control_api_needs_no_token(emulated):
    created = await emulated.client.post(f"{CONTROL}/jobs", json=[{"name": "Open"}])
    assert created.status_code == 201
    assert (await emulated.client.get(f"{CONTROL}/clock")).status_code == 200
    assert (await emulated.client.post(f"{CONTROL}/reset")).status_code == 200
