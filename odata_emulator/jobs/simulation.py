"""What a simulated job does when it runs, and what happens when it fails (the retry policy,
written up in docs/retry-policy.md).

Each job may carry simulation settings (from the fixtures or the control API): how long it runs,
and how it ends: `succeed`, `fail` (with an error code and message), `fail-then-succeed` (fail N
times, then succeed) or `hang` (run until cancelled or paused).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from enum import StrEnum

from ..errors import BadRequest

OUTCOMES = ("succeed", "fail", "fail-then-succeed", "hang")

# Errors the asynchronous service retries (the on-premises rules Microsoft published):
# organization disabled, server busy, SQL error, network / HTTP failure.
RETRYABLE = {
    -2147180284: "The organization is disabled.",  # 0x8004A104
    -2147180281: "The organization is being updated.",  # 0x8004A107
    -2147180543: "The server is busy and the request was not completed.",  # 0x8004A001
    -2147204784: "A SQL Server error occurred.",  # 0x80040216 (generic SQL error)
    -2147204346: "A network or HTTP error occurred.",  # 0x80044306
}
# An HTTP 401 from an outside service suspends the job until someone resumes it.
SUSPENDING = {-2147204345: "The request was unauthorized (HTTP 401)."}  # 0x80044307
MAX_RETRIES = 5
FIRST_RETRY = dt.timedelta(minutes=1)
LONGEST_RETRY = dt.timedelta(minutes=30)

SERVER_BUSY = -2147180543
DEFAULT_FAILURE_CODE = -2147220891  # 0x80040265 InvalidPluginExecutionException
DEFAULT_FAILURE_MESSAGE = "The plug-in or workflow activity raised an error."
# The longest simulated run: a year (a run that never ends is `hang`).
MAX_DURATION = 366 * 86_400.0


def retry_delay(retry_number: int) -> dt.timedelta:
    """1, 2, 4, 8, 16 minutes..., capped at 30: the wait before retry `retry_number` (1-based)."""
    return min(FIRST_RETRY * (2 ** (retry_number - 1)), LONGEST_RETRY)


@dataclass(frozen=True)
class Simulation:
    duration: float = 0.0  # seconds
    outcome: str = "succeed"
    errorcode: int = DEFAULT_FAILURE_CODE
    message: str = DEFAULT_FAILURE_MESSAGE
    failures: int = 1  # for fail-then-succeed

    @classmethod
    def from_json(cls, value: dict | None, default_duration: float = 0.0) -> Simulation:
        if value is None:
            return cls(duration=default_duration)
        if not isinstance(value, dict):
            raise BadRequest("simulation must be a JSON object.")
        unknown = set(value) - {"duration", "outcome", "errorcode", "message", "failures"}
        if unknown:
            raise BadRequest(f"Unknown simulation settings: {', '.join(sorted(unknown))}.")
        duration = value.get("duration", default_duration)
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 <= duration <= MAX_DURATION:
            raise BadRequest(f"simulation.duration must be a number of seconds from 0 to {MAX_DURATION:.0f} "
                             f"(a year); a run that never ends is outcome 'hang'.")
        outcome = value.get("outcome", "succeed")
        if outcome not in OUTCOMES:
            raise BadRequest(f"simulation.outcome must be one of {', '.join(OUTCOMES)}.")
        # Failing then succeeding needs an error the service retries: "server busy" unless told otherwise.
        errorcode = value.get("errorcode", SERVER_BUSY if outcome == "fail-then-succeed" else DEFAULT_FAILURE_CODE)
        if isinstance(errorcode, bool) or not isinstance(errorcode, int) or not -2**31 <= errorcode < 2**31:
            raise BadRequest("simulation.errorcode must be a 32-bit integer.")
        message = value.get("message", RETRYABLE.get(errorcode) or SUSPENDING.get(errorcode) or DEFAULT_FAILURE_MESSAGE)
        if not isinstance(message, str):
            raise BadRequest("simulation.message must be a string.")
        failures = value.get("failures", 1)
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
            raise BadRequest("simulation.failures must be a whole number, zero or more.")
        return cls(float(duration), outcome, errorcode, message, failures)


def stored(settings: str | None, default_duration: float) -> Simulation:
    """Settings as the store keeps them (JSON text, or None). Settings that do not read (written by
    hand into the store, or by an older version) make the run fail and say why, rather than stop
    the queue for every job."""
    try:
        return Simulation.from_json(json.loads(settings) if settings else None, default_duration)
    except (ValueError, BadRequest) as exc:  # json.JSONDecodeError is a ValueError
        return Simulation(outcome="fail", message=f"The job's simulation settings are not valid: {exc}")


class ResultKind(StrEnum):
    """How a run ended; `outcome.outcome` turns each into a transition of `states.py`."""

    #: the work is done: Succeeded 3/30, or Waiting 1/10 until a recurring job's next occurrence
    SUCCEEDED = "succeeded"
    #: failed for good: Failed 3/31, with the error
    FAILED = "failed"
    #: failed with an error the service retries: Waiting 1/10 until the next attempt (`retry_delay`)
    RETRY = "retry"
    #: failed with an error that waits for a person (HTTP 401): Waiting 1/10 until resumed
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class Result:
    """How one run ended (None stands for a run that hangs). `kind` may be given as its text
    (`Result("succeeded")`); it is kept as a `ResultKind`."""

    kind: ResultKind
    errorcode: int | None = None
    message: str | None = None
    friendlymessage: str | None = None  # what a user reads; None: the same as `message`

    def __post_init__(self) -> None:
        if not isinstance(self.kind, ResultKind):
            object.__setattr__(self, "kind", ResultKind(self.kind))


def run_result(simulation: Simulation, attempt: int) -> Result | None:
    """The result of run number `attempt` (1-based); None: the job hangs until cancelled or paused."""
    if simulation.outcome == "hang":
        return None
    failing = simulation.outcome == "fail" or (simulation.outcome == "fail-then-succeed" and attempt <= simulation.failures)
    if not failing:
        return Result(ResultKind.SUCCEEDED)
    code = simulation.errorcode
    if code in SUSPENDING:
        return Result(ResultKind.SUSPENDED, code, simulation.message)
    if code in RETRYABLE and attempt <= MAX_RETRIES:
        return Result(ResultKind.RETRY, code, simulation.message)
    return Result(ResultKind.FAILED, code, simulation.message)
