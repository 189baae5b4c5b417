"""The system job state machine, in one table.

Both the Web API (PATCH on `asyncoperations(<id>)`) and the scheduler read it, so they can never
disagree. A transition names the (statecode, statuscode) pairs it may start from and the pair it
ends in; every write made for it is guarded on the current pair (`WHERE statecode = ... AND
statuscode = ...`), so a writer that lost a race changes nothing.

    Ready 0/0 ──claim──▶ Locked 2/20 ──succeed──▶ Completed 3/30
      ▲  │                  │  │  └──fail────────▶ Completed 3/31
      │  │cancel            │  └──retry──▶ Suspended 1/10 (postponeuntil = next attempt)
      │  ▼                  │pause ▶ 2/21 ──▶ 1/10      cancel ▶ 2/22 ──▶ 3/32
      │  Completed 3/32     │postpone ▶ 2/21 ──▶ 1/10 (postponeuntil)
      └──resume/wake── Suspended 1/10 ◀──postpone── Ready 0/0
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..model import MODEL, PLATFORM_MAINTENANCE_TYPES

Pair = tuple[int, int]

READY: Pair = (0, 0)
WAITING: Pair = (1, 10)
IN_PROGRESS: Pair = (2, 20)
PAUSING: Pair = (2, 21)
CANCELING: Pair = (2, 22)
SUCCEEDED: Pair = (3, 30)
FAILED: Pair = (3, 31)
CANCELED: Pair = (3, 32)

LOCKED = (IN_PROGRESS, PAUSING, CANCELING)
COMPLETED = (SUCCEEDED, FAILED, CANCELED)
ALL_PAIRS = (READY, WAITING, *LOCKED, *COMPLETED)

# A state's code alone, for conditions on `statecode` only (`statecode < COMPLETED_STATE`: unfinished).
READY_STATE, SUSPENDED_STATE, LOCKED_STATE, COMPLETED_STATE = READY[0], WAITING[0], IN_PROGRESS[0], SUCCEEDED[0]

_STATE_OPTIONS = MODEL.entity("asyncoperation").columns["statecode"].option_set
_STATUS_OPTIONS = MODEL.entity("asyncoperation").columns["statuscode"].option_set
assert _STATE_OPTIONS is not None and _STATUS_OPTIONS is not None, "asyncoperation declares its states"
# A statecode alone takes its state's default status (Dataverse's general rule for updates), as
# the model's state option set declares it.
DEFAULT_STATUS: dict[int, int] = {o.value: o.default_status for o in _STATE_OPTIONS.options
                                  if o.default_status is not None}
STATE_LABELS: dict[int, str] = dict(_STATE_OPTIONS.labels)
STATUS_LABELS: dict[int, str] = dict(_STATUS_OPTIONS.labels)
# The state each status belongs to, as the model's status option set says.
STATUS_STATE: dict[int, int] = {o.value: o.state for o in _STATUS_OPTIONS.options if o.state is not None}

# Operation types whose jobs the engine treats specially (asyncoperation_operationtype): a bulk
# delete job drives a bulkdeleteoperation row and has real work (`handlers.py`).
BULK_DELETE = 13


def describe(pair: Pair) -> str:
    """`In Progress (2/20)`: a pair as the log and messages name it."""
    return f"{STATUS_LABELS.get(pair[1], STATE_LABELS.get(pair[0], '?'))} ({pair[0]}/{pair[1]})"


class Actor(enum.Enum):
    USER = "user"  # through the Web API
    PLATFORM = "platform"  # the scheduler


@dataclass(frozen=True)
class Transition:
    name: str
    actor: Actor
    sources: tuple[Pair, ...]
    target: Pair
    # User operations: the pair the request asks for (a running job asked to cancel becomes
    # Canceling first), whether the request carries a `postponeuntil`, and whether the platform
    # refuses the operation on its own maintenance jobs.
    asked: Pair | None = None
    postpones: bool = False
    refused_for_platform_jobs: bool = False


def _user(name, sources, asked, target, *, postpones=False, refused=True) -> Transition:
    return Transition(name, Actor.USER, tuple(sources), target, asked, postpones, refused)


def _platform(name, sources, target) -> Transition:
    return Transition(name, Actor.PLATFORM, tuple(sources), target)


TRANSITIONS: dict[str, Transition] = {t.name: t for t in (
    # What users do: the System Jobs grid's Cancel, Resume, Pause and Postpone (DELETE is separate).
    _user("cancel", (READY, WAITING), CANCELED, CANCELED),
    _user("cancel-running", (IN_PROGRESS, PAUSING), CANCELED, CANCELING),
    _user("resume", (WAITING,), READY, READY),
    _user("pause", (IN_PROGRESS,), WAITING, PAUSING),
    _user("postpone", (READY,), WAITING, WAITING, postpones=True, refused=False),
    _user("postpone-running", (IN_PROGRESS,), WAITING, PAUSING, postpones=True, refused=False),
    # What the platform does.
    _platform("claim", (READY,), IN_PROGRESS),
    _platform("succeed", (IN_PROGRESS,), SUCCEEDED),
    _platform("fail", (IN_PROGRESS,), FAILED),
    _platform("retry", (IN_PROGRESS,), WAITING),
    _platform("reschedule", (IN_PROGRESS,), WAITING),
    _platform("suspend", (IN_PROGRESS,), WAITING),
    _platform("paused", (PAUSING,), WAITING),
    _platform("canceled", (CANCELING,), CANCELED),
    _platform("wake", (WAITING,), READY),
    _platform("recover", LOCKED, READY),
)}


def is_platform_job(operation_type: int | None) -> bool:
    return operation_type in PLATFORM_MAINTENANCE_TYPES


def user_transition(current: Pair, asked: Pair | None, postpone: bool) -> Transition | None:
    """The user operation a PATCH asks for, or None when none leads there from `current`.

    `asked` is the (statecode, statuscode) the body sets (None when it sets neither); `postpone`
    is true when the body sets `postponeuntil` to a date (a postpone may also say 1/10).
    """
    for transition in TRANSITIONS.values():
        if transition.actor is not Actor.USER or current not in transition.sources:
            continue
        if transition.postpones != postpone:
            continue
        if asked == transition.asked or (postpone and asked is None):
            return transition
    return None
