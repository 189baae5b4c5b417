"""The state machine (`jobs/states.py`), table-driven: every transition's sources and target, and
which user operation a PATCH asks for from every pair, for every pair asked."""

from __future__ import annotations

import itertools

import pytest

from odata_emulator.jobs import states
from odata_emulator.jobs.states import (
    CANCELED,
    CANCELING,
    FAILED,
    IN_PROGRESS,
    PAUSING,
    READY,
    SUCCEEDED,
    WAITING,
    Actor,
)
from odata_emulator.model import MODEL

USER, PLATFORM = Actor.USER, Actor.PLATFORM

# name: (actor, sources, target, asked, postpones, refused for platform jobs)
EXPECTED = {
    "cancel": (USER, {READY, WAITING}, CANCELED, CANCELED, False, True),
    "cancel-running": (USER, {IN_PROGRESS, PAUSING}, CANCELING, CANCELED, False, True),
    "resume": (USER, {WAITING}, READY, READY, False, True),
    "pause": (USER, {IN_PROGRESS}, PAUSING, WAITING, False, True),
    "postpone": (USER, {READY}, WAITING, WAITING, True, False),
    "postpone-running": (USER, {IN_PROGRESS}, PAUSING, WAITING, True, False),
    "claim": (PLATFORM, {READY}, IN_PROGRESS, None, False, False),
    "succeed": (PLATFORM, {IN_PROGRESS}, SUCCEEDED, None, False, False),
    "fail": (PLATFORM, {IN_PROGRESS}, FAILED, None, False, False),
    "retry": (PLATFORM, {IN_PROGRESS}, WAITING, None, False, False),
    "reschedule": (PLATFORM, {IN_PROGRESS}, WAITING, None, False, False),
    "suspend": (PLATFORM, {IN_PROGRESS}, WAITING, None, False, False),
    "paused": (PLATFORM, {PAUSING}, WAITING, None, False, False),
    "canceled": (PLATFORM, {CANCELING}, CANCELED, None, False, False),
    "wake": (PLATFORM, {WAITING}, READY, None, False, False),
    "recover": (PLATFORM, {IN_PROGRESS, PAUSING, CANCELING}, READY, None, False, False),
}

# What a PATCH may do (current pair, pair asked, postponeuntil given) -> the user transition; every
# other combination is refused.
LEGAL = {
    (READY, CANCELED, False): "cancel",
    (WAITING, CANCELED, False): "cancel",
    (IN_PROGRESS, CANCELED, False): "cancel-running",
    (PAUSING, CANCELED, False): "cancel-running",
    (WAITING, READY, False): "resume",
    (IN_PROGRESS, WAITING, False): "pause",
    (READY, WAITING, True): "postpone",
    (READY, None, True): "postpone",
    (IN_PROGRESS, WAITING, True): "postpone-running",
    (IN_PROGRESS, None, True): "postpone-running",
}


def test_every_transition_is_expected_and_every_expected_one_exists():
    assert set(states.TRANSITIONS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_transition_has_its_sources_and_target(name):
    transition = states.TRANSITIONS[name]
    actor, sources, target, asked, postpones, refused = EXPECTED[name]
    assert transition.name == name
    assert transition.actor is actor
    assert set(transition.sources) == sources and len(transition.sources) == len(sources)
    assert transition.target == target
    assert transition.asked == asked
    assert transition.postpones is postpones
    assert transition.refused_for_platform_jobs is refused


def test_transitions_only_join_legal_pairs_and_never_leave_completed():
    for transition in states.TRANSITIONS.values():
        assert transition.target in states.ALL_PAIRS
        assert set(transition.sources) <= set(states.ALL_PAIRS)
        assert not set(transition.sources) & set(states.COMPLETED), transition.name


def test_every_unfinished_pair_has_a_way_out():
    left = {source for t in states.TRANSITIONS.values() for source in t.sources}
    assert left == set(states.ALL_PAIRS) - set(states.COMPLETED)


@pytest.mark.parametrize(("current", "asked", "postpone"),
                         list(itertools.product(states.ALL_PAIRS, (*states.ALL_PAIRS, None), (False, True))))
def test_user_transition_over_every_pair(current, asked, postpone):
    found = states.user_transition(current, asked, postpone)
    expected = LEGAL.get((current, asked, postpone))
    assert (found.name if found is not None else None) == expected
    if found is not None:
        assert found.actor is USER and current in found.sources


def test_pairs_are_the_models_status_options():
    status = MODEL.entity("asyncoperation").columns["statuscode"].option_set
    assert {(o.state, o.value) for o in status.options} == set(states.ALL_PAIRS)
    assert len(states.ALL_PAIRS) == len(set(states.ALL_PAIRS))
    assert states.STATUS_STATE == {status: state for state, status in states.ALL_PAIRS}


def test_default_status_and_labels_come_from_the_models_state_options():
    assert states.DEFAULT_STATUS == {0: 0, 1: 10, 2: 20, 3: 30}
    for state, status in states.DEFAULT_STATUS.items():
        assert states.STATUS_STATE[status] == state
    assert states.STATE_LABELS == {0: "Ready", 1: "Suspended", 2: "Locked", 3: "Completed"}


def test_state_codes_by_name():
    assert (states.READY_STATE, states.SUSPENDED_STATE, states.LOCKED_STATE, states.COMPLETED_STATE) == (0, 1, 2, 3)
    assert {pair[0] for pair in states.LOCKED} == {states.LOCKED_STATE}
    assert {pair[0] for pair in states.COMPLETED} == {states.COMPLETED_STATE}


def test_platform_jobs():
    assert states.is_platform_job(9) and states.is_platform_job(31)
    assert not states.is_platform_job(1) and not states.is_platform_job(states.BULK_DELETE)
    assert not states.is_platform_job(None)
