"""Fuzz of the control API (`/_emulator/v1/`, issue 11): `POST jobs` with column maps of real and
unknown columns, values of every JSON type and width, simulation settings and recurrence patterns;
`POST clock` with durations and moments valid or not; history and event with ids of any shape; and
a short run of the job engine over fuzzed jobs (create, advance the virtual clock a few hours, send
events), after which every job is in a legal state.

Every answer: no 5xx, within a few seconds, a 4xx in Dataverse's shape, a refused request leaves the
store and the clock as they were (tests/fuzz/harness.py). Budget: the `ci` profile of
tests/fuzz/conftest.py; `HYPOTHESIS_PROFILE=long pytest tests/fuzz` runs thousands of examples.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odata_emulator.jobs import simulation, states
from odata_emulator.model import AttributeType as T
from tests.fuzz import strategies as fs
from tests.fuzz.harness import CONTROL, Harness, examples
from tests.helpers import make_settings

EMULATOR = {}

OUTCOMES = list(simulation.OUTCOMES)
ERROR_CODES = sorted(simulation.RETRYABLE) + sorted(simulation.SUSPENDING) + [simulation.DEFAULT_FAILURE_CODE]


def column_value(name: str, noisy: bool = True):
    """A value for a column: mostly of its type (and in its option set), sometimes anything."""
    attribute = fs.ENTITY.columns.get(name)
    anything = st.one_of(st.none(), st.booleans(), fs.ints, st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=12), fs.datetime_text, st.lists(st.integers(), max_size=2))
    if attribute is None:
        return anything
    kind = attribute.type
    if attribute.option_set is not None:
        typed = st.sampled_from(sorted(attribute.option_set.labels))
    elif kind in (T.INTEGER, T.BIGINT):
        typed = st.one_of(st.integers(-3, 10), fs.ints) if noisy else st.integers(0, 10)
    elif kind is T.DOUBLE:
        typed = st.floats(allow_nan=False, allow_infinity=False)
    elif kind is T.DATETIME:
        typed = fs.datetime_text if noisy else st.sampled_from(["2025-12-31T23:00:00Z", "2026-01-01T02:00:00Z"])
    elif kind in (T.UNIQUEIDENTIFIER, T.LOOKUP, T.OWNER):
        typed = fs.guid
    elif kind is T.BOOLEAN:
        typed = st.booleans()
    elif name == "recurrencepattern":
        typed = fs.recurrence_rules() if noisy else fs.valid_rules()
    elif name == "owneridtype":
        typed = st.sampled_from(["systemuser", "team", "x"])
    else:
        typed = st.text(max_size=12)
    return st.one_of(typed, typed, typed, anything) if noisy else typed


simulations = st.fixed_dictionaries({}, optional={
    "duration": st.one_of(st.integers(0, 7200), st.floats(-1, 4e7), fs.ints),
    "outcome": st.one_of(st.sampled_from(OUTCOMES), st.text(max_size=5)),
    "errorcode": st.one_of(st.sampled_from(ERROR_CODES), fs.ints),
    "message": st.one_of(st.text(max_size=10), st.integers()),
    "failures": st.one_of(st.integers(0, 6), fs.ints),
}) | st.one_of(st.none(), st.integers(), st.just({"nope": 1}))


clean_simulations = st.fixed_dictionaries({}, optional={
    "duration": st.sampled_from([0, 1, 30, 59.5, 600, 3600]), "outcome": st.sampled_from(OUTCOMES),
    "errorcode": st.sampled_from(ERROR_CODES), "failures": st.integers(0, 6)})


@st.composite
def job_specs(draw, columns=None) -> dict:
    """A job for `POST jobs`; given `columns`, a job made of those only, with values of their types."""
    names = draw(st.lists(st.sampled_from(columns) if columns else st.one_of(st.sampled_from(fs.COLUMNS), fs.junk),
                          max_size=5, unique=True))
    noisy = columns is None
    spec = {name: draw(column_value(name, noisy=noisy)) for name in names}
    if not noisy and ("statecode" in spec or "statuscode" in spec):
        spec["statecode"], spec["statuscode"] = draw(st.sampled_from(states.ALL_PAIRS))
    if draw(fs.one_in(2)):
        spec["recurrencepattern"] = draw(fs.recurrence_rules() if noisy else fs.valid_rules())
        if draw(st.booleans()):
            spec["recurrencestarttime"] = draw(fs.datetime_text if noisy else st.sampled_from(
                ["2025-12-31T23:00:00Z", "2026-01-01T00:00:00Z", "2026-01-01T01:30:00Z", "2026-02-28"]))
    if draw(fs.one_in(2)):
        spec["simulation"] = draw(simulations if noisy else clean_simulations)
    return spec


@st.composite
def job_bodies(draw) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind <= 5:
        return json.dumps(draw(job_specs())).encode()
    if kind <= 7:
        return json.dumps(draw(st.lists(job_specs(), max_size=4))).encode()
    return draw(st.one_of(st.binary(max_size=30), st.sampled_from([
        b"", b"null", b"[]", b"3", b'"x"', b"[null]", b"[[]]", b'{"statecode": 99999999999999999999}',
        b'{"executiontimespan": 1e999}', b'{"retrycount": ' + b"9" * 5000 + b"}", b"[" * 3000 + b"]" * 3000,
        json.dumps([{}] * 300).encode(), b'{"asyncoperationid": "' + fs.JOB.encode() + b'"}',
        b'[{"asyncoperationid": "' + fs.ZERO_GUID.encode() + b'"}, {"asyncoperationid": "' + fs.ZERO_GUID.encode()
        + b'"}]'])))


@settings(max_examples=examples(1.0))
@given(body=job_bodies())
def test_create_jobs(harness, body):
    async def go():
        if len(await harness.job_ids()) > 1500:
            await harness.reset()
        answer = await harness.ask_refusal_unchanged("POST", f"{CONTROL}/jobs", content=body)
        if answer.status == 201:
            created = [row["asyncoperationid"] for row in answer.response.json()["value"]]
            for job in created[:3]:
                row = (await harness.ask("GET", f"asyncoperations({job})?$select=statecode,statuscode")).response
                assert (row.json()["statecode"], row.json()["statuscode"]) in states.ALL_PAIRS, answer.request

    harness.run(go())


@st.composite
def clock_bodies(draw):
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        return {"advance": draw(fs.durations)}
    if kind <= 7:
        return {"set": draw(fs.datetime_text)}
    return draw(st.one_of(
        st.builds(lambda d: {"advance": d}, st.one_of(fs.ints, st.none(), st.booleans())),
        st.builds(lambda d: {"set": d}, st.one_of(fs.ints, st.none())),
        st.dictionaries(st.sampled_from(["advance", "set", "x"]), fs.durations, max_size=3),
        st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))))


@pytest.fixture(scope="module")
def empty_harness():
    """An emulator without the data set, whose clock the fuzz may move without running jobs for hours."""
    started = Harness(make_settings(fixtures=None))
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def clock_harness():
    """An emulator without the data set, for the clock alone."""
    started = Harness(make_settings(fixtures=None))
    try:
        yield started
    finally:
        started.close()


START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@settings(max_examples=examples(0.6))
@given(body=clock_bodies(), raw=st.one_of(st.none(), st.binary(max_size=20)))
def test_clock(clock_harness, body, raw):
    content = raw if raw is not None else json.dumps(body).encode()
    if clock_harness.emulator.clock.now().year > 2100:
        # Moved far ahead by an earlier example: back to the start (the store is empty), so that
        # moves forward are not all refused as "too far in the future".
        clock_harness.emulator.clock.set(START)

    async def go():
        await clock_harness.ask_refusal_unchanged("POST", f"{CONTROL}/clock", content=content)
        await clock_harness.ask("GET", f"{CONTROL}/clock")

    clock_harness.run(go())


job_ids = st.one_of(fs.fuzzy_guid, st.just(fs.JOB), st.text(max_size=40))


@settings(max_examples=examples(0.6))
@given(job=job_ids, method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
       what=st.sampled_from(["history", "event", "x", ""]))
def test_history_and_event_with_any_id(harness, job, method, what):
    async def go():
        url = f"{CONTROL}/jobs/{quote(job, safe='')}/{what}"
        await harness.ask_refusal_unchanged(method, url, content=b'{"x": 1}' if method != "GET" else None)

    harness.run(go())


# ---------------------------------------------------------------------------------- the engine at work

# Columns a fuzzed job that runs is made of: what decides how it runs.
RUNNING_COLUMNS = ["operationtype", "statecode", "statuscode", "postponeuntil", "iswaitingforevent",
                   "dependencytoken", "recurrencepattern", "recurrencestarttime", "retrycount", "name"]
# At most a few hours at a time: a minutely rule runs 180 times in three hours.
steps = st.one_of(st.sampled_from(["PT0S", "PT1S", "PT30S", "PT1M", "PT5M", "PT1H"]),
                  st.builds(lambda n: f"PT{n}M", st.integers(0, 180)))


@settings(max_examples=examples(0.25))
@given(specs=st.lists(job_specs(RUNNING_COLUMNS), min_size=1, max_size=3), advances=st.lists(steps, max_size=3),
       events=st.lists(st.integers(0, 5), max_size=2), patch=st.none() | st.fixed_dictionaries({
           "statecode": st.integers(0, 3), "statuscode": st.sampled_from([0, 10, 20, 21, 22, 30, 31, 32])}))
def test_fuzzed_jobs_run_and_end_in_legal_states(empty_harness, specs, advances, events, patch):
    async def go():
        await empty_harness.reset()
        empty_harness.emulator.clock.set(START)  # the store is empty: the clock may start again
        answer = await empty_harness.ask_refusal_unchanged("POST", f"{CONTROL}/jobs", json=specs)
        if answer.status != 201:
            return
        created = [row["asyncoperationid"] for row in answer.response.json()["value"]]
        if patch is not None:
            await empty_harness.ask_refusal_unchanged("PATCH", f"asyncoperations({created[0]})", json=patch)
        for step in advances:
            await empty_harness.ask("POST", f"{CONTROL}/clock", json={"advance": step})
            for index in events:
                await empty_harness.ask_refusal_unchanged("POST", f"{CONTROL}/jobs/{created[index % len(created)]}"
                                                                  f"/event")
        rows = (await empty_harness.ask("GET", "asyncoperations?$select=statecode,statuscode,name")).response.json()
        for row in rows["value"]:
            assert (row["statecode"], row["statuscode"]) in states.ALL_PAIRS, (specs, advances, row)
        for job in created:
            history = (await empty_harness.ask("GET", f"{CONTROL}/jobs/{job}/history")).response.json()["value"]
            assert history and all((h["statecode"], h["statuscode"]) in states.ALL_PAIRS for h in history), history

    empty_harness.run(go())
