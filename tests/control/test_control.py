"""The control API beyond the job life cycle: its index, the job list and a job's `why`, reset that
puts the virtual clock back, and the snapshot that `--fixtures DIR` reads back."""

from __future__ import annotations

import json

import pytest

from tests.helpers import assert_error, make_settings, running, seed_jobs

CONTROL = "/_emulator/v1"


async def test_the_index_lists_every_route(emulated):
    answer = (await emulated.client.get(f"{CONTROL}/")).json()["value"]
    listed = {(entry["method"], entry["path"]) for entry in answer}
    assert {("GET", "/health"), ("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/jobs/{job_id}"),
            ("GET", "/jobs/{job_id}/history"), ("POST", "/jobs/{job_id}/event"), ("GET", "/clock"),
            ("POST", "/clock"), ("POST", "/reset"), ("GET", "/snapshot"), ("GET", "/"),
            *((m, "/plugintypes/{name}/simulation") for m in ("GET", "PUT", "POST", "DELETE")),
            *((m, "/webhook-inbox") for m in ("GET", "POST", "DELETE"))} == listed
    assert all(entry["does"] for entry in answer)
    assert (await emulated.client.get(CONTROL)).json()["value"] == answer


async def test_the_job_list_filters_and_keeps_queue_order(emulated):
    client = emulated.client
    answer = (await client.get(f"{CONTROL}/jobs", params={"statecode": "0", "operationtype": "10", "top": "50"})).json()
    assert len(answer["value"]) == 7
    assert all(job["statecode"] == 0 and job["operationtype"] == 10 for job in answer["value"])
    created = [job["createdon"] for job in answer["value"]]
    assert created == sorted(created)
    assert answer["value"][0]["status"] == "Waiting For Resources (0/0)"
    named = (await client.get(f"{CONTROL}/jobs", params={"name": "delete"})).json()["value"]
    assert named and all("delete" in job["name"].lower() for job in named)
    assert len((await client.get(f"{CONTROL}/jobs", params={"top": "2"})).json()["value"]) == 2


@pytest.mark.parametrize(("query", "message"), [
    ({"color": "red"}, ("Unknown filter(s): color. Filter by statecode, statuscode, operationtype, name (contains) "
                       "and top (at most 5000).")),
    ({"statecode": "zero"}, "statecode must be a whole number; 'zero' is not one."),
    ({"top": "0"}, "top must be from 1 to 5000."),
])
async def test_a_bad_filter_answers_400(emulated, query, message):
    assert_error(await emulated.client.get(f"{CONTROL}/jobs", params=query), 400, "0x80040203", message)


async def test_why_a_job_waits(emulated):
    client = emulated.client
    first, second, postponed, waiting = await seed_jobs(
        emulated,
        {"name": "head", "dependencytoken": "chain-1", "postponeuntil": "2026-11-05T00:00:00Z"},
        {"name": "tail", "dependencytoken": "chain-1"},
        {"name": "later", "postponeuntil": "2026-11-03T08:00:00Z"},
        {"name": "event", "iswaitingforevent": True},
    )
    why = (await client.get(f"{CONTROL}/jobs/{second}")).json()["why"]
    assert why["blocked_by"] == {"asyncoperationid": first, "name": "head", "status": "Waiting (1/10)",
                                 "dependencytoken": "chain-1"}
    assert why["summary"].startswith(f"It waits for job {first} (head, Waiting (1/10)), the first unfinished job")
    why = (await client.get(f"{CONTROL}/jobs/{postponed}")).json()["why"]
    assert why["summary"] == "It is postponed until 2026-11-03T08:00:00Z."
    why = (await client.get(f"{CONTROL}/jobs/{waiting}")).json()["why"]
    assert why["summary"] == (f"It waits for an event: POST /_emulator/v1/jobs/{waiting}/event releases it "
                              f"(then it is Ready).")
    missing = "00000000-0000-0000-0000-000000000001"
    assert_error(await client.get(f"{CONTROL}/jobs/{missing}"), 404, "0x80040217",
                 f"Entity 'asyncoperation' With Id = {missing} Does Not Exist")


async def test_why_a_ready_job_waits_then_runs_then_is_finished(empty_store_copy):
    async with running(make_settings(database=str(empty_store_copy), fixtures=None)) as emulated:
        client = emulated.client
        older, ready = await seed_jobs(emulated, {"name": "older"}, {"name": "plain", "simulation": {"duration": 5}})
        answer = (await client.get(f"{CONTROL}/jobs/{ready}")).json()
        assert answer["name"] == "plain" and answer["statecode"] == 0
        assert answer["why"]["simulation"] == {"duration": 5}
        assert answer["why"]["ready_ahead"] == 1 and answer["why"]["running"] == 0
        assert answer["why"]["summary"] == (
            'It is Ready, with 1 Ready job(s) ahead of it: on the virtual clock due jobs run when the clock moves '
            '(POST /_emulator/v1/clock {"advance": "PT1S"}).')
        await client.post(f"{CONTROL}/clock", json={"advance": "PT1S"})
        why = (await client.get(f"{CONTROL}/jobs/{ready}")).json()["why"]
        assert why["summary"].startswith("It is running on AsyncService_")
        assert why["summary"].endswith("(lease until 2026-01-01T00:00:30Z).")
        await client.post(f"{CONTROL}/clock", json={"advance": "PT10S"})
        why = (await client.get(f"{CONTROL}/jobs/{ready}")).json()["why"]
        assert why["summary"] == "It is finished: Succeeded (3/30) at 2026-01-01T00:00:05Z."


async def test_reset_puts_the_virtual_clock_back_and_says_so(emulated):
    client = emulated.client
    start = (await client.get(f"{CONTROL}/clock")).json()["now"]
    await client.post(f"{CONTROL}/clock", json={"advance": "PT10M"})
    answer = (await client.post(f"{CONTROL}/reset")).json()
    assert answer["clock"] == f"back to its start, {start}"
    assert answer["data"].startswith("loaded the data set in ")
    assert (await client.get(f"{CONTROL}/clock")).json()["now"] == start


async def test_a_snapshot_loads_back_as_the_same_store(emulated, tmp_path):
    client = emulated.client
    (job,) = await seed_jobs(emulated, {"name": "kept", "simulation": {"outcome": "fail", "duration": 3}})
    await client.post(f"{CONTROL}/clock", json={"advance": "PT1S"})  # runs some jobs: states change
    taken = await client.get(f"{CONTROL}/snapshot")
    assert taken.headers["content-disposition"] == 'attachment; filename="dataset.json"'
    data = taken.json()
    assert data["reference_time"] == "2026-11-01T12:00:01Z"
    (tmp_path / "dataset.json").write_text(json.dumps(data))
    url = "/api/data/v9.2/asyncoperations?$orderby=asyncoperationid&$select=name,statecode,statuscode,createdon," \
          "postponeuntil,startedon,hostid"
    before = (await client.get(url)).json()["value"]
    accounts = (await client.get("/api/data/v9.2/accounts?$orderby=accountid")).json()["value"]
    async with running(make_settings(fixtures=tmp_path, clock_start=None)) as again:
        assert (await again.client.get(f"{CONTROL}/clock")).json()["now"] == "2026-11-01T12:00:01Z"
        after = (await again.client.get(url)).json()["value"]
        assert [{k: v for k, v in row.items() if k != "@odata.etag"} for row in after] == \
            [{k: v for k, v in row.items() if k != "@odata.etag"} for row in before]
        assert len((await again.client.get("/api/data/v9.2/accounts")).json()["value"]) == len(accounts)
        kept = (await again.client.get(f"{CONTROL}/jobs/{job}")).json()
        assert kept["why"]["simulation"] == {"outcome": "fail", "duration": 3}
