"""The clock every timestamp and every date query function reads. "Now" is passed in from
here, never read from the wall or from SQL.

- `RealClock`: the wall clock, whole seconds, UTC.
- `VirtualClock`: stands still until told to move (`advance`, `set`), so tests are deterministic.
"""

from __future__ import annotations

import datetime as dt

UTC = dt.timezone.utc


class Clock:
    virtual = False

    def now(self) -> dt.datetime:  # pragma: no cover - abstract
        raise NotImplementedError


class RealClock(Clock):
    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC).replace(microsecond=0)


class VirtualClock(Clock):
    virtual = True

    def __init__(self, start: dt.datetime) -> None:
        self._now = start.astimezone(UTC).replace(microsecond=0)

    def now(self) -> dt.datetime:
        return self._now

    def set(self, moment: dt.datetime) -> dt.datetime:
        self._now = moment.astimezone(UTC).replace(microsecond=0)
        return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        if delta < dt.timedelta(0):
            raise ValueError("the virtual clock only moves forward")
        return self.set(self._now + delta)
