"""How deep in a chain of events a change is, and which request it belongs to.

A change a client makes has depth 1 and a fresh correlation id. A change made by a system job's own
work (a plug-in handler, a workflow) carries the job's correlation id and the job's depth + 1: run
that work inside `running_job(depth, correlation_id)` and every event it fires says so.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar

_DEPTH: ContextVar[int] = ContextVar("odata_emulator_event_depth", default=0)
_CORRELATION: ContextVar[str | None] = ContextVar("odata_emulator_event_correlation", default=None)


def current() -> tuple[int, str]:
    """(depth, correlation id) of a change made now: (1, a new id) outside any job's work."""
    return _DEPTH.get() + 1, _CORRELATION.get() or str(uuid.uuid4())


@contextlib.contextmanager
def running_job(depth: int, correlation_id: str | None) -> Iterator[None]:
    """Changes made inside are a job's work: their events carry `depth` + 1 and `correlation_id`."""
    depth_token = _DEPTH.set(depth)
    correlation_token = _CORRELATION.set(correlation_id)
    try:
        yield
    finally:
        _DEPTH.reset(depth_token)
        _CORRELATION.reset(correlation_token)
