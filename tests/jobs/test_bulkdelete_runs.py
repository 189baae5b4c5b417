"""Bulk delete jobs that really delete, end to end through HTTP on the virtual clock: one-off and
recurring jobs filed with `POST BulkDelete`, what they delete (checked against an independent
computation over the rows read before), the counts on the bulkdeleteoperation and in the job's
history, Locked jobs counted as failures, cascades, cancellation; then the scheduler's handler
hook itself (the work and the transition commit together or not at all)."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from dateutil.rrule import rrulestr
from sqlalchemy import select, update

from odata_emulator.jobs import handlers, recurrence, states
from odata_emulator.jobs.outcome import error_number
from odata_emulator.jobs.simulation import DEFAULT_FAILURE_CODE, Result
from odata_emulator.store.schema import METADATA
from tests.helpers import API, JobService, make_settings, running

UTC = dt.timezone.utc
START = dt.datetime(2026, 1, 1, tzinfo=UTC)  # the virtual clock's start without fixtures
BULK_DELETES = METADATA.tables["bulkdeleteoperation"]


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def midnight(moment: dt.datetime) -> dt.datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def condition(attribute: str, operator: str, *values, entity: str | None = None) -> dict:
    found = {"AttributeName": attribute, "Operator": operator, "Values": [{"Value": str(v), "Type": "System.Int32"}
                                                                          if isinstance(v, int) else v for v in values]}
    if entity is not None:
        found["EntityName"] = entity
    return found


def bulk_delete(*queries: dict, name: str, start: dt.datetime, pattern: str = "", run_now: bool | None = None) -> dict:
    body = {"QuerySet": list(queries), "JobName": name, "SendEmailNotification": False, "ToRecipients": [],
            "CCRecipients": [], "RecurrencePattern": pattern, "StartDateTime": iso(start)}
    if run_now is not None:
        body["RunNow"] = run_now
    return body


class Service(JobService):
    """The emulator through HTTP, as a client and a test harness see it, with BulkDelete."""

    async def file(self, body: dict) -> str:
        response = await self.client.post(f"{API}BulkDelete", json=body)
        assert response.status_code == 200, response.text
        return response.json()["JobId"]

    async def now(self) -> dt.datetime:
        return instant((await self.client.get("/_emulator/v1/clock")).json()["now"])

    async def advance_to(self, moment: dt.datetime) -> None:
        response = await self.client.post("/_emulator/v1/clock", json={"set": iso(moment)})
        assert response.status_code == 200, response.text

    async def rows(self, entity_set: str, query: str = "") -> dict[str, dict]:
        response = await self.client.get(f"{API}{entity_set}{query}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert "@odata.nextLink" not in body
        key = {"asyncoperations": "asyncoperationid", "contacts": "contactid", "accounts": "accountid",
               "bulkdeleteoperations": "bulkdeleteoperationid"}[entity_set]
        return {row[key]: row for row in body["value"]}

    async def jobs(self) -> dict[str, dict]:
        return await self.rows("asyncoperations", "?$select=name,operationtype,statecode,statuscode,createdon,"
                                                  "completedon,postponeuntil,modifiedon")

    async def operation(self, job_id: str) -> dict:
        response = await self.client.get(f"{API}asyncoperations({job_id})/AsyncOperation_BulkDeleteOperation")
        found = response.json()["value"]
        assert len(found) == 1, found
        return found[0]


@pytest.fixture
async def service(empty_store_copy):
    async with running(make_settings(database=str(empty_store_copy), fixtures=None, concurrency=2)) as em:
        yield Service(em)


@pytest.fixture
async def with_fixtures(store_copy):
    async with running(make_settings(database=str(store_copy))) as em:
        yield Service(em)


def completed(name: str, operation_type: int, pair: tuple[int, int], completed_on: dt.datetime,
              created_on: dt.datetime | None = None) -> dict:
    created_on = created_on or completed_on - dt.timedelta(minutes=5)
    return {"name": name, "operationtype": operation_type, "statecode": pair[0], "statuscode": pair[1],
            "createdon": iso(created_on), "startedon": iso(created_on), "completedon": iso(completed_on)}


# ------------------------------------------------------------------------------------ one-off


async def test_a_one_off_bulk_delete_deletes_exactly_the_matching_jobs(service):
    rng = random.Random(13)
    pairs = [states.SUCCEEDED, states.FAILED, states.CANCELED]
    seeded = [completed(f"old {i}", rng.choice([1, 10, 54]), rng.choice(pairs),
                        START - dt.timedelta(hours=rng.randint(1, 24 * 30)))
              for i in range(60)]
    seeded += [{"name": f"postponed {i}", "operationtype": 10, "postponeuntil": iso(START + dt.timedelta(days=300))}
               for i in range(5)]
    # Matches, but was created after the job starts: Dataverse leaves it alone.
    seeded.append(completed("from the future", 10, states.SUCCEEDED, START + dt.timedelta(hours=2),
                            created_on=START + dt.timedelta(hours=1)))
    await service.create(*seeded)
    before = await service.jobs()

    job_id = await service.file(bulk_delete({
        "EntityName": "asyncoperation",
        "ColumnSet": {"Columns": ["asyncoperationid"]},
        "Criteria": {"FilterOperator": "And",
                     "Conditions": [condition("operationtype", "Equal", 10), condition("statecode", "Equal", 3)],
                     "Filters": [{"FilterOperator": "Or", "Conditions": [condition("statuscode", "Equal", 30),
                                                                         condition("statuscode", "Equal", 32)]}]},
    }, name="Delete finished workflows", start=START))
    run_started = START  # Ready at once, claimed at once: it starts now
    expected = {i for i, row in before.items()
                if row["operationtype"] == 10 and row["statecode"] == 3 and row["statuscode"] in (30, 32)
                and instant(row["createdon"]) <= run_started}
    assert 10 < len(expected) < len(before) - 10, "a meaningful mix"

    await service.advance_to(START + dt.timedelta(minutes=1))
    after = await service.jobs()
    assert set(after) == (set(before) - expected) | {job_id}
    assert all(after[i] == before[i] for i in before if i not in expected), "the rest is untouched"
    job = await service.job(job_id)
    assert (job["statecode"], job["statuscode"]) == states.SUCCEEDED
    operation = await service.operation(job_id)
    assert (operation["successcount"], operation["failurecount"]) == (len(expected), 0)
    assert (operation["statecode"], operation["statuscode"]) == states.SUCCEEDED
    assert operation["nextrun"] is None
    assert await service.history(job_id) == [
        (iso(START), 0, 0, "created"),
        (iso(START), 2, 20, "claim"),
        (iso(START + dt.timedelta(seconds=1)), 3, 30, f"succeed (bulk delete: {len(expected)} deleted, 0 failed)"),
    ]


async def test_accounts_and_contacts_with_links_several_queries_and_the_owner(with_fixtures):
    service = with_fixtures
    now = await service.now()
    me = (await service.client.get(f"{API}WhoAmI")).json()["UserId"]
    contacts = await service.rows("contacts", "?$select=lastname,statecode,createdon&$expand=createdby($select=fullname)")
    accounts = await service.rows("accounts", "?$select=name,address1_city,createdon,_createdby_value")
    job_id = await service.file(bulk_delete(
        {"EntityName": "contact",
         "Criteria": {"FilterOperator": "Or", "Conditions": [
             condition("statecode", "Equal", 1),
             condition("fullname", "Equal", "Daniel Okafor", entity="creator")]},
         "LinkEntities": [{"LinkFromAttributeName": "createdby", "LinkToEntityName": "systemuser",
                           "LinkToAttributeName": "systemuserid", "JoinOperator": "LeftOuter",
                           "EntityAlias": "creator"}]},
        {"EntityName": "account",
         "Criteria": {"FilterOperator": "Or", "Conditions": [
             condition("address1_city", "In", "London", "Oslo"),
             condition("createdby", "EqualUserId")]}},
        name="Tidy up", start=now))
    expected_contacts = {i for i, row in contacts.items()
                         if row["statecode"] == 1 or (row["createdby"] or {}).get("fullname") == "Daniel Okafor"}
    expected_accounts = {i for i, row in accounts.items()
                         if row["address1_city"] in ("London", "Oslo") or row["_createdby_value"] == me}
    assert expected_contacts and expected_accounts and len(expected_contacts) < len(contacts)

    # The fixture data set has its own queue ahead of this job.
    await service.advance_to(now + dt.timedelta(minutes=30))
    assert (await service.job(job_id))["statecode"] == 3
    assert set(await service.rows("contacts", "?$select=lastname")) == set(contacts) - expected_contacts
    assert set(await service.rows("accounts", "?$select=name")) == set(accounts) - expected_accounts
    operation = await service.operation(job_id)
    assert (operation["successcount"], operation["failurecount"]) == (len(expected_contacts) + len(expected_accounts), 0)
    assert operation["_ownerid_value"] == me


async def test_locked_jobs_and_the_job_itself_are_failures_not_deletions(service):
    stuck, = await service.create({"name": "stuck", "operationtype": 10, "simulation": {"outcome": "hang"}})
    finished = await service.create(*(completed(f"done {i}", 10, states.SUCCEEDED, START - dt.timedelta(days=i + 1))
                                      for i in range(4)))
    await service.advance_to(START)
    assert (await service.job(stuck))["statecode"] == 2, "claimed, and hanging"
    job_id = await service.file(bulk_delete(
        {"EntityName": "asyncoperation", "Criteria": {"Conditions": [condition("operationtype", "In", 10, 13)]}},
        name="Everything of types 10 and 13", start=START))
    await service.advance_to(START + dt.timedelta(minutes=1))

    remaining = await service.jobs()
    assert set(remaining) == {stuck, job_id}
    assert not set(finished) & set(remaining)
    assert (remaining[stuck]["statecode"], remaining[stuck]["statuscode"]) == states.IN_PROGRESS
    operation = await service.operation(job_id)
    assert (operation["successcount"], operation["failurecount"]) == (4, 2)
    assert (await service.history(job_id))[-1][3] == "succeed (bulk delete: 4 deleted, 2 failed)"


async def test_deleting_bulk_delete_jobs_cascades_to_their_bulkdeleteoperations(service):
    first = await service.file(bulk_delete(
        {"EntityName": "asyncoperation", "Criteria": {"Conditions": [condition("name", "Equal", "nothing")]}},
        name="Deletes nothing", start=START))
    await service.advance_to(START + dt.timedelta(minutes=1))
    assert (await service.operation(first))["successcount"] == 0
    second = await service.file(bulk_delete(
        {"EntityName": "asyncoperation", "Criteria": {"Conditions": [
            condition("operationtype", "Equal", 13), condition("statecode", "Equal", 3)]}},
        name="Delete finished bulk deletes", start=START + dt.timedelta(minutes=1)))
    await service.advance_to(START + dt.timedelta(minutes=2))
    assert set(await service.jobs()) == {second}
    operations = await service.rows("bulkdeleteoperations")
    assert [o["_asyncoperationid_value"] for o in operations.values()] == [second]
    assert (await service.operation(second))["successcount"] == 1


async def test_top_count_and_orders_bound_what_a_query_deletes(service):
    ids = await service.create(*(completed(f"job {i}", 1, states.SUCCEEDED, START - dt.timedelta(hours=i + 1))
                                 for i in range(10)))
    job_id = await service.file(bulk_delete(
        {"EntityName": "asyncoperation", "TopCount": 3,
         "Criteria": {"Conditions": [condition("operationtype", "Equal", 1)]},
         "Orders": [{"AttributeName": "completedon", "OrderType": "Ascending"}]},
        name="The three oldest", start=START))
    await service.advance_to(START + dt.timedelta(minutes=1))
    # Seeded newest first: the three completed longest ago are the last three.
    assert set(await service.jobs()) == set(ids[:7]) | {job_id}


# ------------------------------------------------------------------------------------ recurring


async def test_a_recurring_cleanup_of_succeeded_jobs_older_than_two_days(service):
    """The documented practice: a daily bulk delete of succeeded system jobs completed more than N
    days ago, filed through the Web API, run through five occurrences while new jobs keep being
    queued, run and completed in between."""
    days = 2
    first_run = START + dt.timedelta(hours=3)
    rule = "FREQ=DAILY;INTERVAL=1;"
    job_id = await service.file(bulk_delete({
        "EntityName": "asyncoperation",
        "ColumnSet": {"Columns": ["asyncoperationid"]},
        "Criteria": {"FilterOperator": "And", "Conditions": [
            condition("statecode", "Equal", 3), condition("statuscode", "Equal", 30),
            condition("completedon", "OlderThanXDays", days)]},
    }, name="Delete succeeded system jobs older than 2 days", start=first_run, pattern=rule))
    assert (await service.job(job_id))["postponeuntil"] == iso(first_run)

    rng = random.Random(2026)
    total = 0
    for occurrence_number in range(5):
        occurrence = first_run + dt.timedelta(days=occurrence_number)
        cutoff = midnight(occurrence - dt.timedelta(days=days))  # OlderThanXDays counts whole days (UTC)
        now = await service.now()
        # Jobs that already finished, some long ago, two on each side of this run's cutoff...
        await service.create(
            *(completed(f"history {occurrence_number}.{i}", rng.choice([1, 10, 54]),
                        rng.choice([states.SUCCEEDED, states.SUCCEEDED, states.FAILED, states.CANCELED]),
                        now - dt.timedelta(minutes=rng.randint(1, 60 * 24 * 6))) for i in range(12)),
            completed(f"on the cutoff {occurrence_number}", 1, states.SUCCEEDED, cutoff),
            completed(f"a second before {occurrence_number}", 1, states.SUCCEEDED, cutoff - dt.timedelta(seconds=1)),
        )
        # ...and work queued now, that runs, succeeds or fails before the occurrence.
        await service.create(*({"name": f"work {occurrence_number}.{i}", "operationtype": rng.choice([1, 10]),
                                "simulation": {"duration": rng.randint(0, 120),
                                               "outcome": rng.choice(["succeed", "succeed", "fail"])}}
                               for i in range(8)))
        await service.advance_to(occurrence - dt.timedelta(minutes=5))
        before = await service.jobs()
        assert all(row["statecode"] in (1, 3) for row in before.values()), "the queue is quiet before the run"
        expected = {i for i, row in before.items()
                    if (row["statecode"], row["statuscode"]) == states.SUCCEEDED
                    and instant(row["completedon"]) < cutoff and instant(row["createdon"]) <= occurrence}
        if occurrence_number:
            assert expected, "each run after the first has work to do"

        await service.advance_to(occurrence + dt.timedelta(minutes=5))
        after = await service.jobs()
        assert set(after) == set(before) - expected, occurrence_number
        assert all(after[i] == before[i] for i in after if i != job_id), "the rest is untouched"
        total += len(expected)

        next_run = occurrence + dt.timedelta(days=1)
        job = await service.job(job_id)
        assert (job["statecode"], job["statuscode"], job["postponeuntil"]) == (1, 10, iso(next_run))
        operation = await service.operation(job_id)
        # The counts are those of the run just finished (each run is one system job in Dataverse).
        assert (operation["successcount"], operation["failurecount"]) == (len(expected), 0)
        assert (operation["statecode"], operation["statuscode"], operation["nextrun"]) == (1, 10, iso(next_run))
        assert operation["isrecurring"] is True
        history = await service.history(job_id)
        assert history[-3:] == [
            (iso(occurrence), 0, 0, "wake"),
            (iso(occurrence), 2, 20, "claim"),
            (iso(occurrence + dt.timedelta(seconds=1)), 1, 10,
             f"reschedule (bulk delete: {len(expected)} deleted, 0 failed)"),
        ]
    notes = [reason for _, _, _, reason in await service.history(job_id) if reason.startswith("reschedule")]
    assert len(notes) == 5
    assert sum(int(note.split(": ")[1].split(" ")[0]) for note in notes) == total


# ------------------------------------------------------------------------------------ cancelling


async def test_cancelling_a_bulk_delete_before_it_runs_deletes_nothing(service):
    await service.create(*(completed(f"done {i}", 1, states.SUCCEEDED, START - dt.timedelta(days=10))
                           for i in range(5)))
    job_id = await service.file(bulk_delete(
        {"EntityName": "asyncoperation", "Criteria": {"Conditions": [condition("statecode", "Equal", 3)]}},
        name="Later", start=START + dt.timedelta(hours=1)))
    before = await service.jobs()
    response = await service.client.patch(f"{API}asyncoperations({job_id})", json={"statecode": 3, "statuscode": 32})
    assert response.status_code == 204, response.text
    operation = await service.operation(job_id)
    assert (operation["statecode"], operation["statuscode"]) == states.CANCELED, "it mirrors its job"

    await service.advance_to(START + dt.timedelta(days=1))
    after = await service.jobs()
    assert set(after) == set(before)
    assert (await service.operation(job_id))["successcount"] == 0
    assert [h[3] for h in await service.history(job_id)] == ["created", "cancel"]


async def test_cancelling_a_running_bulk_delete_deletes_nothing(service):
    await service.create(*(completed(f"done {i}", 1, states.SUCCEEDED, START - dt.timedelta(days=10))
                           for i in range(5)))
    job_id = await service.file(bulk_delete(
        {"EntityName": "asyncoperation", "Criteria": {"Conditions": [condition("statecode", "Equal", 3)]}},
        name="Soon", start=START + dt.timedelta(hours=1)))
    before = await service.jobs()
    await service.advance_to(START + dt.timedelta(hours=1))
    assert (await service.operation(job_id))["statecode"] == 2, "running (it takes a second)"
    response = await service.client.patch(f"{API}asyncoperations({job_id})", json={"statecode": 3, "statuscode": 32})
    assert response.status_code == 204, response.text
    assert ((await service.operation(job_id))["statuscode"]) == 22
    await service.advance_to(START + dt.timedelta(hours=2))
    assert set(await service.jobs()) == set(before)
    operation = await service.operation(job_id)
    assert (operation["statecode"], operation["statuscode"], operation["successcount"]) == (3, 32, 0)


# ------------------------------------------------------------------------------------ the handler hook


@pytest.fixture
async def manual(empty_store_copy):
    """The scheduler driven by hand: it runs nothing by itself (scheduler off), the test claims
    and finishes."""
    async with running(make_settings(database=str(empty_store_copy), fixtures=None, scheduler=False)) as em:
        yield Service(em), em.emulator.scheduler


async def test_the_work_is_rolled_back_when_the_job_moved_before_it_finished(manual):
    service, scheduler = manual
    doomed = await service.create(*(completed(f"done {i}", 1, states.SUCCEEDED, START - dt.timedelta(days=3))
                                    for i in range(3)))
    job_id = await service.file(bulk_delete(
        {"EntityName": "asyncoperation", "Criteria": {"Conditions": [condition("operationtype", "Equal", 1)]}},
        name="Raced", start=START))
    claimed, = await scheduler.claim_many(START, 1)
    assert claimed.job_id == job_id
    # The user cancels while the run is finishing (the real-clock runner checks, then finishes).
    response = await service.client.patch(f"{API}asyncoperations({job_id})", json={"statecode": 3, "statuscode": 32})
    assert response.status_code == 204
    await scheduler.finish(claimed, Result("succeeded"), START + dt.timedelta(seconds=1))

    assert set(doomed) <= set(await service.jobs()), "the deletion was rolled back"
    operation = await service.operation(job_id)
    assert (operation["successcount"], operation["statecode"], operation["statuscode"]) == (0, 3, 32)
    assert [h[3] for h in await service.history(job_id)] == ["created", "claim", "cancel-running", "canceled"]


async def test_work_that_fails_fails_the_job_and_keeps_nothing(manual):
    service, scheduler = manual
    doomed = await service.create(*(completed(f"done {i}", 1, states.SUCCEEDED, START - dt.timedelta(days=3))
                                    for i in range(3)))
    job_id = await service.file(bulk_delete(
        {"EntityName": "asyncoperation", "Criteria": {"Conditions": [condition("operationtype", "Equal", 1)]}},
        name="Broken", start=START))
    # Two queries, the second of which no longer binds (as if the column had been removed).
    async with service.em.emulator.store.write() as conn:
        stored = (await conn.execute(select(BULK_DELETES.c.orderedquerysetxml))).scalar_one()
        broken = stored.replace("</fetches>", '<fetch><entity name="asyncoperation"><filter><condition '
                                              'attribute="gone" operator="null" /></filter></entity></fetch></fetches>')
        await conn.execute(update(BULK_DELETES).values(orderedquerysetxml=broken))
    claimed, = await scheduler.claim_many(START, 1)
    await scheduler.finish(claimed, Result("succeeded"), START + dt.timedelta(seconds=1))

    assert set(doomed) <= set(await service.jobs()), "the first query's deletions were rolled back too"
    job = await service.job(job_id)
    assert (job["statecode"], job["statuscode"]) == states.FAILED
    assert job["errorcode"] == error_number("0x80041103") == -2147217149
    assert "'gone'" in job["message"]
    operation = await service.operation(job_id)
    assert (operation["successcount"], operation["statecode"], operation["statuscode"]) == (0, 3, 31)
    assert [h[3] for h in await service.history(job_id)] == ["created", "claim", "fail"]


async def test_a_type_13_job_without_a_query_is_only_simulated(manual):
    service, scheduler = manual
    job_id, = await service.create({"name": "seeded bulk delete", "operationtype": 13})
    claimed, = await scheduler.claim_many(START, 1)
    await scheduler.finish(claimed, Result("succeeded"), START + dt.timedelta(seconds=1))
    assert [h[3] for h in await service.history(job_id)] == ["created", "claim", "succeed"]


def test_handlers_are_found_by_operation_type():
    assert handlers.handler_for(13) is handlers.bulk_delete
    assert handlers.handler_for(1) is None and handlers.handler_for(None) is None


@pytest.mark.parametrize("code, number", [("0x80041103", -2147217149), ("0x80040203", -2147220989),
                                          ("0x0", DEFAULT_FAILURE_CODE), ("", DEFAULT_FAILURE_CODE),
                                          ("nonsense", DEFAULT_FAILURE_CODE), ("0x1", 1)])
def test_error_numbers(code, number):
    assert error_number(code) == number


@pytest.mark.slow  # over a second: 300 random rules checked against dateutil
def test_a_rule_that_started_long_ago_is_stepped_quickly_and_exactly():
    rng = random.Random(5)
    patterns = ["FREQ=DAILY;INTERVAL=3;", "FREQ=HOURLY;INTERVAL=5;BYMINUTE=7,40", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR",
                "FREQ=DAILY;BYHOUR=1,13;UNTIL=20260301T000000Z", "FREQ=MINUTELY;INTERVAL=7", "FREQ=DAILY;COUNT=400",
                "FREQ=MONTHLY;BYMONTHDAY=31"]
    for _ in range(300):
        pattern = rng.choice(patterns)
        start = START - dt.timedelta(seconds=rng.randint(0, 10 ** 7))
        after = start + dt.timedelta(seconds=rng.randint(0, 10 ** 7))
        slow = rrulestr(pattern.strip(";"), dtstart=start).after(after, inc=False)
        assert recurrence.next_occurrence(pattern, start, after) == slow, (pattern, start, after)
    # An hourly rule from 1753 would take dateutil seconds to walk; it takes no time now.
    long_ago = dt.datetime(1753, 1, 1, tzinfo=UTC)
    assert recurrence.next_occurrence("FREQ=MINUTELY;INTERVAL=30", long_ago, START) == START + dt.timedelta(minutes=30)
