"""The outcome policy: what the end of a run does to its job. Pure functions of their arguments
(no store, no clock), so each rule is testable on its own; the scheduler's steps (`steps.py`)
apply what they return as guarded moves.

- `outcome`: a run's `Result` (`simulation.ResultKind`) -> the transition of `states.py` it asks
  for and the columns it writes (a retry waits `simulation.retry_delay`, a recurring job that
  succeeded waits for its next occurrence);
- `acknowledgement`: a pause or cancel a user asked for while the job ran, carried through;
- `failure`: the result of a run whose work (or recurrence rule) raised an error;
- `error_number`: a Dataverse error code as a system job's `errorcode`;
- `default_duration`: how long a run takes when its settings do not say.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from ..errors import DataverseError
from ..store.values import to_epoch
from . import simulation, states
from .simulation import Result, ResultKind
from .transitions import Move

__all__ = ["Outcome", "acknowledgement", "default_duration", "error_number", "failure", "outcome"]


class Outcome(NamedTuple):
    """The transition a run's result asks for (a name of `states.TRANSITIONS`) and the columns it writes."""

    name: str
    values: dict


def outcome(result: Result, *, started: dt.datetime, attempt: int, now: dt.datetime,
            following: dt.datetime | None) -> Outcome:
    """What run number `attempt` (1-based), started at `started` and ended at `now` with `result`,
    does to its job. `following` is the next occurrence of a recurring job that succeeded (None:
    it does not recur, or its rule has ended)."""
    took = round((now - started).total_seconds(), 2)
    values: dict = {"executiontimespan": took, "leaseexpires": None}
    epoch = to_epoch(now)
    kind = result.kind
    if kind is ResultKind.SUCCEEDED:
        if following is not None:
            values.update(postponeuntil=to_epoch(following), completedon=epoch, retrycount=0, errorcode=None,
                          message=None, friendlymessage=None, hostid=None)
            return Outcome("reschedule", values)
        values.update(completedon=epoch, errorcode=None, message=None, friendlymessage=None)
        return Outcome("succeed", values)
    if kind is ResultKind.RETRY:
        retry = attempt  # retrycount after this failure
        values.update(retrycount=retry, postponeuntil=to_epoch(now + simulation.retry_delay(retry)),
                      errorcode=result.errorcode, message=result.message, friendlymessage=result.message, hostid=None)
        return Outcome("retry", values)
    if kind is ResultKind.SUSPENDED:
        values.update(errorcode=result.errorcode, message=result.message, friendlymessage=result.message,
                      postponeuntil=None, hostid=None)
        return Outcome("suspend", values)
    values.update(completedon=epoch, errorcode=result.errorcode, message=result.message,
                  friendlymessage=result.friendlymessage or result.message)
    return Outcome("fail", values)


def acknowledgement(job_id: str, pair: states.Pair, now: dt.datetime, operation_type: int | None) -> Move:
    """A running job's Pausing (2/21) or Canceling (2/22), carried through to where it was headed:
    Suspended 1/10 or Canceled 3/32 (with its completion time)."""
    values: dict = {"hostid": None, "leaseexpires": None}
    if pair == states.CANCELING:
        values["completedon"] = to_epoch(now)
    name = "paused" if pair == states.PAUSING else "canceled"
    return Move(job_id, states.TRANSITIONS[name], pair, values, operation_type=operation_type)


def failure(exc: BaseException) -> Result:
    """The result of a run whose work (or recurrence rule) raised `exc`. A Dataverse error fails the
    job with its code and message, as a query error fails a job in Dataverse rather than being
    retried; anything else is a bug in the work, and fails the job with a generic message."""
    if isinstance(exc, DataverseError):
        return Result(ResultKind.FAILED, error_number(exc.code), exc.message)
    return Result(ResultKind.FAILED, simulation.DEFAULT_FAILURE_CODE,
                  f"The system job's work failed unexpectedly: {type(exc).__name__}.")


def error_number(code: str) -> int:
    """A Dataverse error code ("0x80041103") as the signed 32-bit `errorcode` of a system job."""
    try:
        value = int(code, 16)
    except ValueError:
        return simulation.DEFAULT_FAILURE_CODE
    if not 0 < value < 2 ** 32:
        return simulation.DEFAULT_FAILURE_CODE
    return value - 2 ** 32 if value >= 2 ** 31 else value


def default_duration(operation_type: int | None) -> float:
    """How long a job runs when nobody said: platform maintenance takes a little longer."""
    return 3.0 if states.is_platform_job(operation_type) else 1.0
