"""Change tracking through the Web API (use-change-tracking-synchronize-data-external-systems.md):
`Prefer: odata.track-changes` answers a delta link; the link answers what changed since (new and
updated rows, then `$deletedEntity` entries) with a new link; `/$count` with the token counts the
changes; `$filter`, `$orderby`, `$expand` and `$top` are refused with the docs' text."""

from __future__ import annotations

import pytest

from tests.helpers import API, assert_error, seed_jobs

TRACK = {"Prefer": "odata.track-changes"}
SELECT = "asyncoperations?$select=name,statecode,statuscode"


async def _delta(client, link: str) -> dict:
    response = await client.get(link)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_delta_link_then_what_changed_since(emulated):
    client = emulated.client
    first = await client.get(f"{API}{SELECT}", headers={**TRACK, "Prefer": "odata.track-changes,odata.maxpagesize=5000"})
    assert first.status_code == 200
    assert "odata.track-changes" in first.headers["preference-applied"]
    body = first.json()
    assert list(body)[:3] == ["@odata.context", "@odata.deltaLink", "value"]
    assert body["@odata.context"].endswith("$metadata#asyncoperations(name,statecode,statuscode)")
    link = body["@odata.deltaLink"]
    assert link.startswith(f"{API}{SELECT}&$deltatoken=")
    total = len(body["value"])

    # Nothing changed: an empty delta, and a link to go on from.
    quiet = await _delta(client, link)
    assert quiet["value"] == []
    assert quiet["@odata.context"].endswith("$metadata#asyncoperations(name,statecode,statuscode)/$delta")

    # A new job, a changed job (postponed), a deleted job.
    (new,) = await seed_jobs(emulated, {"name": "Tracked: new"})
    changed, deleted = [row["asyncoperationid"] for row in body["value"] if row["statecode"] == 0][:2]
    assert (await client.patch(f"{API}asyncoperations({changed})",
                               json={"postponeuntil": "2030-01-01T00:00:00Z"})).status_code == 204
    assert (await client.delete(f"{API}asyncoperations({deleted})")).status_code == 204
    delta = await _delta(client, link)
    rows = [row for row in delta["value"] if "id" not in row]
    assert {row["asyncoperationid"] for row in rows} == {new, changed}
    assert delta["value"][-1] == {"@odata.context": f"{API}$metadata#asyncoperations/$deletedEntity",
                                  "id": deleted, "reason": "deleted"}
    counted = await client.get(f"{API}asyncoperations/$count?" + link.split("?", 1)[1].split("&", 1)[1])
    assert counted.text == "3"
    # The new link starts after these changes.
    assert (await _delta(client, delta["@odata.deltaLink"]))["value"] == []
    # The first link still answers everything since it was issued.
    again = await _delta(client, link)
    assert len(again["value"]) == 3 and total > 3


@pytest.mark.parametrize("option", ["$filter=statecode eq 0", "$orderby=name", "$expand=owninguser($select=fullname)",
                                    "$top=5"])
async def test_options_change_tracking_refuses(emulated, option):
    name = option.split("=")[0][1:]
    response = await emulated.client.get(f"{API}asyncoperations?$select=name&{option}", headers=TRACK)
    assert_error(response, 400, "0x80040203",
                 f'The "${name}" query parameter isn\'t supported when Change Tracking is enabled.')


async def test_a_bad_token_and_an_untracked_table(emulated):
    client = emulated.client
    assert_error(await client.get(f"{API}asyncoperations?$select=name&$deltatoken=yesterday"), 400, "0x80040203",
                 "The delta token 'yesterday' is not valid: use the @odata.deltaLink of an earlier answer as it was "
                 "given.")
    assert_error(await client.get(f"{API}systemusers?$select=fullname", headers=TRACK), 400, "0x80040203",
                 "Change tracking is not enabled for the table 'systemuser' (tracked here: asyncoperation, account, "
                 "contact).")
