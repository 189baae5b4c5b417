"""The asynchronous service through HTTP, on the virtual clock: jobs queue, run, wait, fail and
retry, get postponed, paused, resumed, cancelled and deleted."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from odata_emulator.jobs import states
from tests.helpers import API, JobService, make_settings, start

START = "2026-01-01T00:00:00Z"


@pytest.fixture
async def service(empty_store_copy):
    em, lifespan, client = await start(make_settings(database=str(empty_store_copy), fixtures=None, concurrency=1))
    try:
        yield Service(em)
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


class Service(JobService):
    async def advance(self, duration: str) -> str:
        response = await self.client.post("/_emulator/v1/clock", json={"advance": duration})
        assert response.status_code == 200, response.text
        return response.json()["now"]

    async def patch(self, job_id: str, body: dict, **headers):
        return await self.client.patch(f"{API}asyncoperations({job_id})", json=body, headers=headers)


def claims(history) -> list[str]:
    return [at for at, state, status, reason in history if reason == "claim"]


async def test_jobs_run_first_in_first_out(service):
    ids = await service.create(*({"name": f"job {i}", "simulation": {"duration": 30}} for i in range(5)))
    assert await service.pair(ids[0]) == states.READY
    await service.advance("PT10M")
    started = [claims(await service.history(i))[0] for i in ids]
    assert started == ["2026-01-01T00:00:00Z", "2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z",
                       "2026-01-01T00:01:30Z", "2026-01-01T00:02:00Z"]
    for job_id in ids:
        job = await service.job(job_id)
        assert (job["statecode"], job["statuscode"]) == states.SUCCEEDED
        assert job["executiontimespan"] == 30.0
        assert job["completedon"] > job["startedon"]
        assert [h[3] for h in await service.history(job_id)] == ["created", "claim", "succeed"]


async def test_a_postponed_job_holds_back_later_jobs_with_its_dependency_token(service):
    token = "account:8c9d0e1f"
    first, postponed, last = await service.create(
        {"name": "A", "dependencytoken": token, "createdon": "2026-01-01T00:00:00Z"},
        {"name": "B", "dependencytoken": token, "createdon": "2026-01-01T00:00:00Z", "postponeuntil": "2026-01-01T02:00:00Z"},
        {"name": "C", "dependencytoken": token, "createdon": "2026-01-01T00:00:00Z"},
    )
    unrelated, = await service.create({"name": "independent"})
    assert await service.pair(postponed) == states.WAITING
    await service.advance("PT1H")
    assert await service.pair(first) == states.SUCCEEDED
    assert await service.pair(unrelated) == states.SUCCEEDED
    assert await service.pair(postponed) == states.WAITING
    assert await service.pair(last) == states.READY, "C must wait for B, which is postponed"
    await service.advance("PT1H")
    assert await service.pair(postponed) == states.IN_PROGRESS, "B woke at 02:00 and runs for its default second"
    assert await service.pair(last) == states.READY
    await service.advance("PT1M")
    assert await service.pair(postponed) == states.SUCCEEDED
    assert await service.pair(last) == states.SUCCEEDED
    b_done = (await service.history(postponed))[-1][0]
    assert b_done == "2026-01-01T02:00:01Z"
    assert claims(await service.history(last)) == [b_done], "C starts the moment B completes"


async def test_dependency_chains_and_free_jobs_share_one_first_in_first_out_queue(service):
    """Three tokens (one differing only in case, which is the same token: text compares without
    case) interleaved with jobs without a token, one slot: each job starts when the one before it
    in creation order that it may follow has finished, and never before an older eligible job."""
    specs = []
    for i in range(12):
        token = (None, "order:1", "ORDER:1", "order:2")[i % 4]
        spec = {"name": f"job {i}", "createdon": f"2026-01-01T00:00:{i:02d}Z", "simulation": {"duration": 10}}
        if token:
            spec["dependencytoken"] = token
        specs.append(spec)
    ids = await service.create(*specs)
    await service.advance("PT10M")
    started = {job_id: claims(await service.history(job_id))[0] for job_id in ids}
    # One slot and equal durations: the queue order is exactly creation order.
    assert sorted(ids, key=started.get) == ids
    assert [started[i] for i in ids] == [f"2026-01-01T00:{10 * n // 60:02d}:{10 * n % 60:02d}Z" for n in range(12)]


async def test_a_long_chain_runs_in_creation_order_one_at_a_time(service):
    ids = await service.create(*({"name": f"link {i}", "dependencytoken": "chain", "simulation": {"duration": 0}}
                                 for i in range(300)))
    free, = await service.create({"name": "free", "simulation": {"duration": 0}})
    await service.advance("PT1S")
    histories = [await service.history(job_id) for job_id in ids[:3] + ids[-2:] + [free]]
    assert all([h[3] for h in history] == ["created", "claim", "succeed"] for history in histories)
    response = await service.client.get(f"{API}asyncoperations?$filter=dependencytoken eq 'chain' and statuscode eq 30"
                                        "&$count=true&$top=1")
    assert response.json()["@odata.count"] == 300
    async with service.em.emulator.store.read() as conn:
        claimed = (await conn.execute(text(
            "SELECT asyncoperationid FROM emulator_job_history WHERE reason = 'claim' ORDER BY id"))).scalars().all()
    # All created at one instant: the queue order is the creation order, the free job last.
    assert claimed == ids + [free]


async def test_postpone_then_automatic_resume(service):
    job_id, = await service.create({"name": "later", "simulation": {"duration": 0}})
    response = await service.patch(job_id, {"postponeuntil": "2026-01-01T03:00:00Z"}, **{"If-Match": "*"})
    assert response.status_code == 204, response.text
    job = await service.job(job_id)
    assert (job["statecode"], job["statuscode"]) == states.WAITING
    assert job["postponeuntil"] == "2026-01-01T03:00:00Z"
    await service.advance("PT2H59M")
    assert await service.pair(job_id) == states.WAITING
    await service.advance("PT1M")
    assert await service.pair(job_id) == states.SUCCEEDED
    assert [h[3] for h in await service.history(job_id)][-4:] == ["postpone", "wake", "claim", "succeed"]


async def test_every_three_days(service):
    job_id, = await service.create({"name": "Bulk delete completed jobs", "operationtype": 13,
                                    "recurrencepattern": "FREQ=DAILY;INTERVAL=3;", "recurrencestarttime": START,
                                    "simulation": {"duration": 0}})
    await service.advance("P7D")
    assert claims(await service.history(job_id)) == ["2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-07T00:00:00Z"]
    job = await service.job(job_id)
    assert (job["statecode"], job["statuscode"]) == states.WAITING
    assert job["postponeuntil"] == "2026-01-10T00:00:00Z"


async def test_retries_are_counted_with_backoff(service):
    job_id, = await service.create({"name": "flaky", "simulation": {"outcome": "fail-then-succeed", "failures": 2, "duration": 0}})
    await service.advance("PT1H")
    job = await service.job(job_id)
    assert (job["statecode"], job["statuscode"]) == states.SUCCEEDED
    assert job["retrycount"] == 2
    assert claims(await service.history(job_id)) == ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:03:00Z"]


async def test_retries_run_out_and_the_job_fails(service):
    job_id, = await service.create({"name": "always busy",
                                    "simulation": {"outcome": "fail", "errorcode": -2147180543, "duration": 0}})
    await service.advance("P1D")
    job = await service.job(job_id)
    assert (job["statecode"], job["statuscode"]) == states.FAILED
    assert job["retrycount"] == 5
    assert job["errorcode"] == -2147180543
    assert job["message"] == "The server is busy and the request was not completed."
    assert len(claims(await service.history(job_id))) == 6


async def test_a_non_retryable_error_fails_at_once(service):
    job_id, = await service.create({"name": "plug-in throws", "simulation": {"outcome": "fail", "message": "Boom"}})
    await service.advance("PT5M")
    job = await service.job(job_id)
    assert (job["statecode"], job["statuscode"], job["retrycount"]) == (3, 31, 0)
    assert (job["errorcode"], job["message"], job["friendlymessage"]) == (-2147220891, "Boom", "Boom")


async def test_unauthorized_suspends_until_resumed(service):
    job_id, = await service.create({"name": "calls out", "simulation": {"outcome": "fail", "errorcode": -2147204345}})
    await service.advance("PT1H")
    assert await service.pair(job_id) == states.WAITING
    await service.advance("P1D")
    assert await service.pair(job_id) == states.WAITING, "a suspended job waits for a person"
    assert (await service.patch(job_id, {"statecode": 0})).status_code == 204
    assert await service.pair(job_id) == states.READY


async def test_waiting_for_an_event(service):
    job_id, = await service.create({"name": "workflow waits", "operationtype": 10, "iswaitingforevent": True,
                                    "simulation": {"duration": 0}})
    await service.advance("P1D")
    assert await service.pair(job_id) == states.WAITING
    response = await service.client.post(f"/_emulator/v1/jobs/{job_id}/event")
    assert response.status_code == 200
    assert await service.pair(job_id) == states.SUCCEEDED
    again = await service.client.post(f"/_emulator/v1/jobs/{job_id}/event")
    assert again.status_code == 400 and "not waiting for an event" in again.json()["error"]["message"]


async def test_cancel_a_running_job(service):
    job_id, = await service.create({"name": "long", "simulation": {"outcome": "hang"}})
    await service.advance("PT1M")
    assert await service.pair(job_id) == states.IN_PROGRESS
    response = await service.patch(job_id, {"statecode": 3, "statuscode": 32}, Prefer="return=representation")
    assert response.status_code == 200
    assert (response.json()["statecode"], response.json()["statuscode"]) == states.CANCELING
    await service.advance("PT0S")
    job = await service.job(job_id)
    assert (job["statecode"], job["statuscode"]) == states.CANCELED
    assert job["completedon"] == "2026-01-01T00:01:00Z"
    assert [h[1:3] for h in await service.history(job_id)] == [states.READY, states.IN_PROGRESS, states.CANCELING,
                                                                 states.CANCELED]


async def test_pause_and_resume_a_running_job(service):
    job_id, = await service.create({"name": "long", "simulation": {"duration": 600}})
    await service.advance("PT1M")
    assert (await service.patch(job_id, {"statecode": 1, "statuscode": 10})).status_code == 204
    assert await service.pair(job_id) == states.PAUSING
    await service.advance("PT0S")
    assert await service.pair(job_id) == states.WAITING
    await service.advance("PT1H")
    assert await service.pair(job_id) == states.WAITING
    assert (await service.patch(job_id, {"statecode": 0, "statuscode": 0})).status_code == 204
    await service.advance("PT11M")
    assert await service.pair(job_id) == states.SUCCEEDED


async def test_postpone_a_running_job(service):
    job_id, = await service.create({"name": "long", "simulation": {"duration": 600}})
    await service.advance("PT1M")
    response = await service.patch(job_id, {"postponeuntil": "2026-01-02T00:00:00Z"})
    assert response.status_code == 204
    assert await service.pair(job_id) == states.PAUSING
    await service.advance("PT0S")
    job = await service.job(job_id)
    assert (job["statecode"], job["statuscode"], job["postponeuntil"]) == (1, 10, "2026-01-02T00:00:00Z")
    await service.advance("P1D")
    assert await service.pair(job_id) == states.IN_PROGRESS
    await service.advance("PT10M")
    assert await service.pair(job_id) == states.SUCCEEDED


# ------------------------------------------------------------------------ the user state table

# (from pair, body) -> the pair the job is in right after the PATCH; everything else is refused.
ALLOWED = {
    (states.READY, "cancel"): states.CANCELED,
    (states.WAITING, "cancel"): states.CANCELED,
    (states.IN_PROGRESS, "cancel"): states.CANCELING,
    (states.PAUSING, "cancel"): states.CANCELING,
    (states.WAITING, "resume"): states.READY,
    (states.IN_PROGRESS, "pause"): states.PAUSING,
    (states.READY, "postpone"): states.WAITING,
    (states.IN_PROGRESS, "postpone"): states.PAUSING,
}
BODIES = {
    "cancel": {"statecode": 3, "statuscode": 32},
    "resume": {"statecode": 0, "statuscode": 0},
    "pause": {"statecode": 1, "statuscode": 10},
    "postpone": {"postponeuntil": "2026-06-01T00:00:00Z"},
    "succeed": {"statecode": 3},
    "fail": {"statecode": 3, "statuscode": 31},
    "lock": {"statecode": 2, "statuscode": 20},
    "pausing": {"statecode": 2, "statuscode": 21},
    "canceling": {"statecode": 2, "statuscode": 22},
}


@pytest.mark.parametrize("pair", states.ALL_PAIRS, ids=lambda p: f"{p[0]}-{p[1]}")
async def test_user_state_table(service, pair):
    for operation, body in BODIES.items():
        job_id, = await service.create({"name": f"{operation} from {pair}", "statecode": pair[0], "statuscode": pair[1]})
        before = await service.job(job_id)
        response = await service.patch(job_id, body, **{"If-Match": "*"})
        expected = ALLOWED.get((pair, operation))
        if expected is None:
            assert response.status_code == 400, (pair, operation, response.text)
            error = response.json()["error"]
            assert error["code"] == "0x80040203" and job_id in error["message"]
            assert await service.job(job_id) == before, "a refused transition changes nothing"
        else:
            assert response.status_code == 204, (pair, operation, response.text)
            after = await service.job(job_id)
            assert (after["statecode"], after["statuscode"]) == expected
            assert after["@odata.etag"] != before["@odata.etag"]
        deleted = await service.client.delete(f"{API}asyncoperations({job_id})")
        assert deleted.status_code == 204, "delete works from any state"
        assert (await service.client.get(f"{API}asyncoperations({job_id})")).status_code == 404


@pytest.mark.parametrize("operation_type", [9, 16, 18, 19, 20, 22, 24, 25, 27, 31])
async def test_platform_jobs_cannot_be_cancelled_paused_or_resumed(service, operation_type):
    ready, waiting, running = await service.create(
        {"operationtype": operation_type},
        {"operationtype": operation_type, "statecode": 1, "statuscode": 10},
        {"operationtype": operation_type, "statecode": 2, "statuscode": 20},
    )
    for job_id, body in ((ready, BODIES["cancel"]), (waiting, BODIES["resume"]), (waiting, BODIES["cancel"]),
                         (running, BODIES["pause"]), (running, BODIES["cancel"])):
        before = await service.job(job_id)
        response = await service.patch(job_id, body)
        assert response.status_code == 400
        assert "platform maintenance job" in response.json()["error"]["message"]
        assert await service.job(job_id) == before
    assert (await service.patch(ready, BODIES["postpone"])).status_code == 204


async def test_only_lifecycle_columns_are_updatable(service):
    job_id, = await service.create({"name": "x"})
    for body, code in (({"name": "renamed"}, "0x80040203"), ({"_ownerid_value": job_id}, "0x80060888"),
                       ({"nonsense": 1}, "0x0"), ({"statecode": "3"}, "0x80048d19"),
                       ({"statecode": 3, "statuscode": 10}, "0x80040203"), ({"postponeuntil": "soon"}, "0x80048d19")):
        response = await service.patch(job_id, body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == code, (body, response.text)
    assert (await service.job(job_id))["name"] == "x"


async def test_concurrency_headers_and_representation(service):
    job_id, = await service.create({"name": "x", "statecode": 1, "statuscode": 10})
    job = await service.job(job_id)
    stale = await service.patch(job_id, BODIES["resume"], **{"If-Match": 'W/"999999"'})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "0x80060882"
    fresh = await service.patch(job_id, BODIES["resume"], **{"If-Match": job["@odata.etag"], "Prefer": "return=representation"})
    assert fresh.status_code == 200
    assert fresh.headers["preference-applied"] == "return=representation"
    assert fresh.json()["@odata.context"] == f"{API}$metadata#asyncoperations/$entity"
    assert (fresh.json()["statecode"], fresh.json()["statuscode"]) == states.READY
    missing = "00000000-0000-0000-0000-0000000000ff"
    gone = await service.patch(missing, BODIES["cancel"], **{"If-Match": "*"})
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "0x80040217"
    upsert = await service.patch(missing, BODIES["cancel"])
    assert upsert.status_code == 400 and "not supported" in upsert.json()["error"]["message"]
    stale_delete = await service.client.delete(f"{API}asyncoperations({job_id})", headers={"If-Match": 'W/"1"'})
    assert stale_delete.status_code == 412
    created = await service.client.post(f"{API}asyncoperations", json={"name": "mine"})
    assert created.status_code == 400
    assert created.json()["error"]["message"].startswith("Creating system jobs with code is not supported")


async def test_control_api_rejects_bad_bodies(service):
    post = service.client.post
    for body in ("nope", 3, [{"name": 5}], [{"nosuchcolumn": 1}], [{"operationtype": 99999}], [{"statecode": 2, "statuscode": 30}],
                 [{"name": "x" * 257}], [{"recurrencepattern": "FREQ=SOMETIMES"}], [{"simulation": {"outcome": "explode"}}],
                 [{"simulation": {"duration": -1}}]):
        response = await post("/_emulator/v1/jobs", json=body)
        assert response.status_code == 400, (body, response.text)
        assert "message" in response.json()["error"]
    assert (await post("/_emulator/v1/jobs", content=b"{not json")).status_code == 400
    for body in ({"advance": "soon"}, {"advance": "-PT1H"}, {"set": "2020-01-01T00:00:00Z"}, {}, {"advance": "PT1H", "set": START}):
        response = await post("/_emulator/v1/clock", json=body)
        assert response.status_code == 400, (body, response.text)
    assert (await service.client.get("/_emulator/v1/jobs/not-a-guid/history")).status_code == 400
    assert (await service.client.get("/_emulator/v1/jobs/00000000-0000-0000-0000-000000000000/history")).status_code == 404
    assert (await service.client.get("/_emulator/v1/clock")).json() == {"now": START, "clock": "virtual"}
    moved = await post("/_emulator/v1/clock", json={"set": "2026-02-01T00:00:00Z"})
    assert moved.json() == {"now": "2026-02-01T00:00:00Z"}


async def test_created_jobs_answer_in_request_order_with_platform_defaults(service):
    ids = await service.create({"name": "one"}, {"name": "two", "postponeuntil": "2026-01-05T00:00:00Z"})
    first, second = [await service.job(i) for i in ids]
    assert (first["name"], second["name"]) == ("one", "two")
    assert (first["statecode"], first["statuscode"]) == states.READY
    assert (second["statecode"], second["statuscode"]) == states.WAITING
    assert first["createdon"] == START and first["_ownerid_value"] and first["sequence"] < second["sequence"]
    assert first["retrycount"] == 0 and first["executiontimespan"] == 0 and first["iswaitingforevent"] is False
