"""The outcome policy (`jobs/outcome.py`) and the retry policy it reads (`jobs/simulation.py`):
pure functions, no store. Every result kind -> the transition and the columns it writes; retry
delays; error numbers; a pause or cancel carried through; a failure of the work."""

from __future__ import annotations

import datetime as dt

import pytest

from odata_emulator.errors import BadRequest, FetchXmlError
from odata_emulator.jobs import outcome, simulation, states
from odata_emulator.jobs.simulation import (
    DEFAULT_FAILURE_CODE,
    MAX_RETRIES,
    SERVER_BUSY,
    Result,
    ResultKind,
    Simulation,
    retry_delay,
    run_result,
)
from odata_emulator.store.values import to_epoch

STARTED = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
NOW = STARTED + dt.timedelta(seconds=2.5)
FOLLOWING = dt.datetime(2026, 3, 2, 12, 0, 0, tzinfo=dt.timezone.utc)
UNAUTHORIZED = -2147204345  # suspends
CODE, MESSAGE = -2147204784, "A SQL Server error occurred."


def decide(result: Result, *, attempt: int = 1, following: dt.datetime | None = None) -> outcome.Outcome:
    return outcome.outcome(result, started=STARTED, attempt=attempt, now=NOW, following=following)


# (result, following) -> (transition, the columns it writes besides executiontimespan and leaseexpires)
CASES = {
    "succeeded": (Result(ResultKind.SUCCEEDED), None, "succeed",
                  {"completedon": to_epoch(NOW), "errorcode": None, "message": None, "friendlymessage": None}),
    "succeeded, recurring": (Result(ResultKind.SUCCEEDED), FOLLOWING, "reschedule",
                             {"postponeuntil": to_epoch(FOLLOWING), "completedon": to_epoch(NOW), "retrycount": 0,
                              "errorcode": None, "message": None, "friendlymessage": None, "hostid": None}),
    "retry": (Result(ResultKind.RETRY, CODE, MESSAGE), None, "retry",
              {"retrycount": 1, "postponeuntil": to_epoch(NOW + dt.timedelta(minutes=1)), "errorcode": CODE,
               "message": MESSAGE, "friendlymessage": MESSAGE, "hostid": None}),
    "suspended": (Result(ResultKind.SUSPENDED, UNAUTHORIZED, "401"), None, "suspend",
                  {"errorcode": UNAUTHORIZED, "message": "401", "friendlymessage": "401", "postponeuntil": None,
                   "hostid": None}),
    "failed": (Result(ResultKind.FAILED, CODE, MESSAGE), None, "fail",
               {"completedon": to_epoch(NOW), "errorcode": CODE, "message": MESSAGE, "friendlymessage": MESSAGE}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_result_kind_asks_for_its_transition_and_columns(case):
    result, following, name, columns = CASES[case]
    decided = decide(result, following=following)
    assert decided.name == name
    assert decided.values == {"executiontimespan": 2.5, "leaseexpires": None, **columns}
    # Every outcome moves a running job on (the steps guard it on In Progress 2/20).
    assert states.IN_PROGRESS in states.TRANSITIONS[name].sources


def test_every_result_kind_is_covered():
    assert {case[0].kind for case in CASES.values()} == set(ResultKind)


def test_a_recurring_job_that_failed_does_not_wait_for_its_next_occurrence():
    decided = decide(Result(ResultKind.FAILED, CODE, MESSAGE), following=FOLLOWING)
    assert decided.name == "fail" and "postponeuntil" not in decided.values


def test_run_time_is_rounded_to_hundredths():
    decided = outcome.outcome(Result("succeeded"), started=STARTED, attempt=1,
                              now=STARTED + dt.timedelta(seconds=1, microseconds=234_567), following=None)
    assert decided.values["executiontimespan"] == 1.23


@pytest.mark.parametrize(("attempt", "minutes"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (9, 30)])
def test_a_retry_waits_longer_each_time_up_to_half_an_hour(attempt, minutes):
    assert retry_delay(attempt) == dt.timedelta(minutes=minutes)
    decided = decide(Result(ResultKind.RETRY, CODE, MESSAGE), attempt=attempt)
    assert decided.values["retrycount"] == attempt
    assert decided.values["postponeuntil"] == to_epoch(NOW + dt.timedelta(minutes=minutes))


def test_the_result_kind_is_an_enum_and_may_be_given_as_text():
    assert Result("succeeded").kind is ResultKind.SUCCEEDED
    assert Result(ResultKind.RETRY).kind == "retry"
    with pytest.raises(ValueError):
        Result("finished")


@pytest.mark.parametrize(("settings", "attempt", "expected"), [
    (Simulation(), 1, Result(ResultKind.SUCCEEDED)),
    (Simulation(outcome="hang"), 1, None),
    (Simulation(outcome="fail"), 1,
     Result(ResultKind.FAILED, DEFAULT_FAILURE_CODE, simulation.DEFAULT_FAILURE_MESSAGE)),
    (Simulation(outcome="fail", errorcode=CODE, message=MESSAGE), 1, Result(ResultKind.RETRY, CODE, MESSAGE)),
    (Simulation(outcome="fail", errorcode=CODE, message=MESSAGE), MAX_RETRIES,
     Result(ResultKind.RETRY, CODE, MESSAGE)),
    (Simulation(outcome="fail", errorcode=CODE, message=MESSAGE), MAX_RETRIES + 1,
     Result(ResultKind.FAILED, CODE, MESSAGE)),
    (Simulation(outcome="fail", errorcode=UNAUTHORIZED, message="401"), 1,
     Result(ResultKind.SUSPENDED, UNAUTHORIZED, "401")),
    (Simulation(outcome="fail-then-succeed", errorcode=SERVER_BUSY, message="busy", failures=2), 2,
     Result(ResultKind.RETRY, SERVER_BUSY, "busy")),
    (Simulation(outcome="fail-then-succeed", errorcode=SERVER_BUSY, message="busy", failures=2), 3,
     Result(ResultKind.SUCCEEDED)),
])
def test_which_result_a_run_has(settings, attempt, expected):
    assert run_result(settings, attempt) == expected


@pytest.mark.parametrize(("code", "number"), [
    ("0x80041103", -2147217149),
    ("0x80040203", -2147220989),
    ("0xFFFFFFFF", -1),
    ("0x7fffffff", 2147483647),
    ("0x1", 1),
    ("0x0", DEFAULT_FAILURE_CODE),
    ("0x100000000", DEFAULT_FAILURE_CODE),
    ("", DEFAULT_FAILURE_CODE),
    ("not a code", DEFAULT_FAILURE_CODE),
])
def test_error_number(code, number):
    assert outcome.error_number(code) == number


@pytest.mark.parametrize(("pair", "name", "target"), [
    (states.PAUSING, "paused", states.WAITING),
    (states.CANCELING, "canceled", states.CANCELED),
])
def test_a_pause_or_cancel_asked_while_running_is_carried_through(pair, name, target):
    move = outcome.acknowledgement("job", pair, NOW, 13)
    assert (move.job_id, move.transition.name, move.transition.target, move.current) == ("job", name, target, pair)
    assert move.operation_type == 13 and move.holder is None
    expected = {"hostid": None, "leaseexpires": None}
    if pair == states.CANCELING:
        expected["completedon"] = to_epoch(NOW)
    assert move.values == expected


def test_work_that_raises_a_dataverse_error_fails_with_its_code_and_message():
    error = FetchXmlError("The entity has no attribute 'x'.", code="0x80041103")
    assert outcome.failure(error) == Result(ResultKind.FAILED, -2147217149, "The entity has no attribute 'x'.")
    assert outcome.failure(BadRequest("bad")) == Result(ResultKind.FAILED, outcome.error_number(BadRequest("bad").code),
                                                        "bad")


def test_work_that_breaks_otherwise_fails_with_a_generic_message():
    assert outcome.failure(ZeroDivisionError("x")) == Result(
        ResultKind.FAILED, DEFAULT_FAILURE_CODE, "The system job's work failed unexpectedly: ZeroDivisionError.")


@pytest.mark.parametrize(("operation_type", "seconds"), [(1, 1.0), (None, 1.0), (13, 1.0), (9, 3.0), (31, 3.0)])
def test_default_duration(operation_type, seconds):
    assert outcome.default_duration(operation_type) == seconds
