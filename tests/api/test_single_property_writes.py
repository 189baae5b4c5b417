"""`PUT <set>(<id>)/<property>` with `{"value": ...}` and `DELETE <set>(<id>)/<property>`:
update-delete-entities-using-web-api.md, "Update a single property value" and "Delete a single
property value" (204 No Content). On system jobs they follow the PATCH rules (only statecode,
statuscode and postponeuntil change, by moves the state table allows)."""

from __future__ import annotations

from tests.helpers import assert_json, get_job, seed_jobs


async def test_put_postponeuntil_postpones_a_ready_job(emulated):
    [job] = await seed_jobs(emulated, {"name": "Later"})
    response = await emulated.request("PUT", f"asyncoperations({job})/postponeuntil",
                                      json={"value": "2030-01-01T00:00:00Z"})
    assert response.status_code == 204 and response.content == b""
    row = await get_job(emulated, job)
    assert row["postponeuntil"] == "2030-01-01T00:00:00Z"
    assert (row["statecode"], row["statuscode"]) == (1, 10)


async def test_put_cancels_through_statecode_and_refuses_what_patch_refuses(emulated):
    [job] = await seed_jobs(emulated, {"name": "Cancel me", "postponeuntil": "2099-01-01T00:00:00Z"})
    refused = await emulated.request("PUT", f"asyncoperations({job})/name", json={"value": "Renamed"})
    patched = await emulated.request("PATCH", f"asyncoperations({job})", json={"name": "Renamed"})
    assert assert_json(refused, 400) == assert_json(patched, 400)
    wrong_body = await emulated.request("PUT", f"asyncoperations({job})/postponeuntil", json={"postponeuntil": None})
    assert_json(wrong_body, 400)
    missing = await emulated.request("PUT", "asyncoperations(00000000-0000-0000-0000-0000000000aa)/postponeuntil",
                                     json={"value": "2030-01-01T00:00:00Z"})
    assert missing.status_code == 404
    other_table = await emulated.request("PUT", "systemusers(00000000-0000-0000-0000-0000000000aa)/fullname",
                                         json={"value": "x"})
    assert other_table.status_code == 405


async def test_delete_a_property_is_its_patch_to_null(emulated):
    [job] = await seed_jobs(emulated, {"name": "Keep"})
    deleted = await emulated.request("DELETE", f"asyncoperations({job})/statecode")
    patched = await emulated.request("PATCH", f"asyncoperations({job})", json={"statecode": None})
    assert (deleted.status_code, deleted.json()) == (patched.status_code, patched.json())
    renamed = await emulated.request("DELETE", f"asyncoperations({job})/name")
    assert assert_json(renamed, 400) == assert_json(
        await emulated.request("PATCH", f"asyncoperations({job})", json={"name": None}), 400)
