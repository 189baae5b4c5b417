"""One bad job never stops the others: a recurrence rule that never advances is refused where it
enters (control API, BulkDelete, fixtures), and a job that reaches the scheduler anyway (a store
written by an older version, or by hand) fails with the reason while every other job runs. A
rule's arithmetic runs in a worker thread, never on the event loop under the write lock."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import threading

import pytest
from sqlalchemy import func, select, update

from odata_emulator import _resources
from odata_emulator.jobs import handlers, recurrence, states
from odata_emulator.jobs.outcome import error_number
from odata_emulator.jobs.recurrence import RecurrenceError
from odata_emulator.jobs.simulation import DEFAULT_FAILURE_CODE
from odata_emulator.store.schema import METADATA
from tests.helpers import API, get_job, make_settings, running, seed_jobs

JOBS = METADATA.tables["asyncoperation"]
SIMULATIONS = METADATA.tables["emulator_job_simulation"]
BULK_DELETES = METADATA.tables["bulkdeleteoperation"]
CONTROL = "/_emulator/v1"
NEVER_ADVANCE = [
    ("FREQ=MINUTELY;INTERVAL=0;", "INTERVAL must be a whole number from 1 to 5,259,600"),
    ("FREQ=HOURLY;INTERVAL=0", "INTERVAL must be a whole number from 1 to 87,660"),
    ("FREQ=MINUTELY;INTERVAL=-1", "INTERVAL must be a whole number from 1 to 5,259,600"),
    ("FREQ=DAILY;INTERVAL=99999999999", "INTERVAL must be a whole number from 1 to 3,652"),
    # Found by the fuzz: dateutil looked for it minute by minute, 60 s per check.
    ("FREQ=MINUTELY;BYMINUTE=3;BYSETPOS=3;", ("a minute holds 1 time (one per BYHOUR and BYMINUTE value), so "
                                             "BYSETPOS=3 never selects one")),
    ("FREQ=MINUTELY;BYHOUR=23;BYMONTH=9;BYMONTHDAY=31", ("it has no occurrence within 50 years of its start "
                                                          "(2026-01-01T00:00:00Z), so the job would never run again")),
    ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", ("it has no occurrence within 50 years of its start "
                                           "(2026-01-01T00:00:00Z), so the job would never run again")),
]
# The work a call may take before it counts as hung (the bug: an advance that never answered).
HANG = 15.0


def rule_error(pattern: str, why: str, where: str = "") -> dict:
    return {"error": {"code": "0x80040203",
                      "message": f"{where}The recurrence pattern '{pattern}' is not a valid RFC 2445 rule: {why}."}}


@pytest.fixture
async def service(empty_store_copy):
    async with running(make_settings(database=str(empty_store_copy), fixtures=None, concurrency=2)) as em:
        yield em


async def counts(em) -> tuple[int, int]:
    async with em.emulator.store.read() as conn:
        jobs = (await conn.execute(select(func.count()).select_from(JOBS))).scalar_one()
        operations = (await conn.execute(select(func.count()).select_from(BULK_DELETES))).scalar_one()
    return jobs, operations


async def advance(em, duration: str) -> dict:
    response = await asyncio.wait_for(em.client.post(f"{CONTROL}/clock", json={"advance": duration}), HANG)
    assert response.status_code == 200, response.text
    return response.json()


async def reasons(em, job_id: str) -> list[str]:
    response = await em.client.get(f"{CONTROL}/jobs/{job_id}/history")
    return [entry["reason"] for entry in response.json()["value"]]


async def store_value(em, job_id: str, **values) -> None:
    """Write columns as an older version (or a hand edit) would have left them, unchecked."""
    async with em.emulator.store.write() as conn:
        await conn.execute(update(JOBS).where(JOBS.c.asyncoperationid == job_id).values(**values))


# ---------------------------------------------------------------------------------- where rules enter


@pytest.mark.parametrize("pattern, why", NEVER_ADVANCE)
async def test_the_control_api_refuses_a_rule_that_never_advances(service, pattern, why):
    before = await counts(service)
    response = await asyncio.wait_for(service.client.post(f"{CONTROL}/jobs", json=[
        {"name": "fine", "recurrencepattern": "FREQ=DAILY;"},
        {"name": "bad", "recurrencepattern": pattern, "simulation": {"duration": 0}},
    ]), HANG)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json; odata.metadata=minimal"
    assert response.json() == rule_error(pattern, why, where="job 1: ")
    assert await counts(service) == before


@pytest.mark.parametrize("pattern, why", NEVER_ADVANCE)
async def test_bulk_delete_refuses_a_rule_that_never_advances(service, pattern, why):
    before = await counts(service)
    response = await asyncio.wait_for(service.client.post(f"{API}BulkDelete", json={
        "QuerySet": [{"EntityName": "asyncoperation", "ColumnSet": {"AllColumns": False, "Columns": []},
                      "Criteria": {"FilterOperator": "And", "Conditions": []}}],
        "JobName": "never", "SendEmailNotification": False, "ToRecipients": [], "CCRecipients": [],
        "RecurrencePattern": pattern, "StartDateTime": "2026-01-01T00:00:00Z",
    }), HANG)
    assert response.status_code == 400
    assert response.json() == rule_error(pattern, why)
    assert await counts(service) == before


@pytest.mark.parametrize("pattern, why", NEVER_ADVANCE[:1] + NEVER_ADVANCE[-1:])
async def test_a_data_set_with_a_rule_that_never_advances_is_not_loaded(tmp_path, pattern, why):
    directory = tmp_path / "fixtures"
    shutil.copytree(_resources.fixtures_dir(), directory)
    dataset = json.loads((directory / "dataset.json").read_text())
    row = next(r for r in dataset["tables"]["asyncoperation"] if r.get("recurrencepattern"))
    row["recurrencepattern"], row["recurrencestarttime"] = pattern, dataset["reference_time"][:10] + "T00:00:00Z"
    (directory / "dataset.json").write_text(json.dumps(dataset))
    database = tmp_path / "store.db"
    settings = make_settings(fixtures=directory, database=str(database))  # the clock starts at the reference time
    with pytest.raises(RecurrenceError) as refused:
        async with running(settings):
            pass
    where = f"The data set in {directory}, system job {row['asyncoperationid']}: "
    assert refused.value.message == rule_error(pattern, why.replace("2026-01-01", dataset["reference_time"][:10]),
                                               where)["error"]["message"]
    assert not database.exists() or database.stat().st_size == 0 or nothing_loaded(database)


def nothing_loaded(database) -> bool:
    with sqlite3.connect(database) as conn:
        tables = {name for name, in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return "asyncoperation" not in tables or conn.execute("SELECT count(*) FROM asyncoperation").fetchone() == (0,)


# ---------------------------------------------------------------------------------- bad jobs already stored


async def test_a_stored_rule_that_never_advances_fails_its_job_and_every_other_job_runs(service):
    plain, recurring, bad, after = await seed_jobs(
        service,
        {"name": "plain", "simulation": {"duration": 0}},
        {"name": "daily", "recurrencepattern": "FREQ=DAILY;", "simulation": {"duration": 0}},
        {"name": "bad", "recurrencepattern": "FREQ=DAILY;", "simulation": {"duration": 0}},
        {"name": "after", "simulation": {"duration": 5}},
    )
    await store_value(service, bad, recurrencepattern="FREQ=MINUTELY;INTERVAL=0;")
    await advance(service, "PT1M")
    failed = await get_job(service, bad)
    assert (failed["statecode"], failed["statuscode"]) == states.FAILED
    message = rule_error("FREQ=MINUTELY;INTERVAL=0;", "INTERVAL must be a whole number from 1 to 5,259,600")
    assert failed["message"] == failed["friendlymessage"] == message["error"]["message"]
    assert failed["errorcode"] == error_number("0x80040203")
    assert await reasons(service, bad) == ["created", "claim", "fail"]
    assert (lambda j: (j["statecode"], j["statuscode"]))(await get_job(service, plain)) == states.SUCCEEDED
    assert (lambda j: (j["statecode"], j["statuscode"]))(await get_job(service, after)) == states.SUCCEEDED
    daily = await get_job(service, recurring)
    assert (daily["statecode"], daily["statuscode"]) == states.WAITING
    assert daily["postponeuntil"] == "2026-01-02T00:00:00Z"
    # The clock goes on moving, and the recurring job keeps recurring.
    await advance(service, "P1D")
    assert await reasons(service, recurring) == ["created", "claim", "reschedule", "wake", "claim", "reschedule"]


async def test_a_stored_rule_with_no_occurrence_left_ends_its_job(service):
    """A rule that passes the entry checks but whose occurrences have run out (or lie beyond the
    horizon) is a rule that has ended: the run succeeds and the job does not recur."""
    done, = await seed_jobs(service, {"name": "rare", "recurrencepattern": "FREQ=DAILY;",
                                      "simulation": {"duration": 0}})
    await store_value(service, done, recurrencepattern="FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30")
    await advance(service, "PT1M")
    ended = await get_job(service, done)
    assert (ended["statecode"], ended["statuscode"]) == states.SUCCEEDED and ended["postponeuntil"] is None


async def test_stored_simulation_settings_that_do_not_read_fail_their_job_only(service):
    bad, good = await seed_jobs(service, {"name": "bad", "simulation": {"duration": 0}},
                                {"name": "good", "simulation": {"duration": 0}})
    async with service.emulator.store.write() as conn:
        await conn.execute(update(SIMULATIONS).where(SIMULATIONS.c.asyncoperationid == bad)
                           .values(settings='{"outcome": "explode"}'))
    await advance(service, "PT1M")
    failed = await get_job(service, bad)
    assert (failed["statecode"], failed["statuscode"]) == states.FAILED
    assert failed["message"] == ("The job's simulation settings are not valid: simulation.outcome must be one of "
                                 "succeed, fail, fail-then-succeed, hang.")
    assert failed["errorcode"] == DEFAULT_FAILURE_CODE
    assert (lambda j: (j["statecode"], j["statuscode"]))(await get_job(service, good)) == states.SUCCEEDED


async def test_work_that_breaks_unexpectedly_fails_its_job_only(service, monkeypatch):
    async def broken(conn, run):
        raise RuntimeError("a bug in the handler")

    monkeypatch.setitem(handlers.HANDLERS, 13, broken)
    bad, good = await seed_jobs(service, {"name": "seeded bulk delete", "operationtype": 13,
                                          "simulation": {"duration": 0}},
                                {"name": "good", "simulation": {"duration": 0}})
    await advance(service, "PT1M")
    failed = await get_job(service, bad)
    assert (failed["statecode"], failed["statuscode"]) == states.FAILED
    assert failed["message"] == "The system job's work failed unexpectedly: RuntimeError."
    assert await reasons(service, bad) == ["created", "claim", "fail"]
    assert (lambda j: (j["statecode"], j["statuscode"]))(await get_job(service, good)) == states.SUCCEEDED


async def test_a_rule_is_computed_off_the_event_loop_and_outside_the_write_lock(service, monkeypatch):
    """While a recurring job's next occurrence is being worked out (held here until released),
    the server answers, and other writers write: the event loop is free and the lock is not held."""
    computing, release, returned = threading.Event(), threading.Event(), threading.Event()
    exact = recurrence.next_occurrence

    def slow(pattern, start, after):
        computing.set()
        release.wait(HANG)
        returned.set()
        return exact(pattern, start, after)

    monkeypatch.setattr(recurrence, "next_occurrence", slow)
    recurring, other = await seed_jobs(service, {"name": "daily", "recurrencepattern": "FREQ=DAILY;",
                                                 "simulation": {"duration": 0}},
                                       {"name": "other", "postponeuntil": "2026-06-01T00:00:00Z"})
    moving = asyncio.create_task(service.client.post(f"{CONTROL}/clock", json={"advance": "PT1M"}))
    try:
        assert await asyncio.to_thread(computing.wait, HANG)
        health = await asyncio.wait_for(service.client.get(f"{CONTROL}/health"), HANG)
        assert health.status_code == 200
        cancel = await asyncio.wait_for(service.client.patch(f"{API}asyncoperations({other})",
                                                             json={"statecode": 3, "statuscode": 32}), HANG)
        assert cancel.status_code == 204, cancel.text
        assert not returned.is_set() and not moving.done()  # both answered while the rule was being worked out
    finally:
        release.set()
    assert (await asyncio.wait_for(moving, HANG)).status_code == 200
    daily = await get_job(service, recurring)
    assert (daily["statecode"], daily["statuscode"], daily["postponeuntil"]) == (1, 10, "2026-01-02T00:00:00Z")


@pytest.mark.slow  # over a second: the real clock
async def test_on_the_real_clock_a_bad_job_fails_once_instead_of_looping(monkeypatch):
    async with running(make_settings(fixtures=None, clock="real", poll_seconds=0.02, lease_seconds=1)) as em:
        bad, good = await seed_jobs(em, {"name": "bad", "recurrencepattern": "FREQ=DAILY;",
                                         "postponeuntil": "2100-01-01T00:00:00Z", "simulation": {"duration": 0}},
                                    {"name": "good", "simulation": {"duration": 0}})
        await store_value(em, bad, recurrencepattern="FREQ=HOURLY;INTERVAL=0", statecode=0, statuscode=0,
                          postponeuntil=None)
        em.emulator.jobs_changed()
        for _ in range(300):
            pairs = [((j := await get_job(em, i))["statecode"], j["statuscode"]) for i in (bad, good)]
            if pairs == [states.FAILED, states.SUCCEEDED]:
                break
            await asyncio.sleep(0.02)
        assert pairs == [states.FAILED, states.SUCCEEDED]
        await asyncio.sleep(1.5)  # longer than a lease: a crashed run would have been recovered and claimed again
        assert await reasons(em, bad) == ["created", "claim", "fail"]
