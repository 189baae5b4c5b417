"""The clock every timestamp and every date query function reads. "Now" is passed in from
here, never read from the wall or from SQL.

- `RealClock`: the wall clock, whole seconds, UTC.
- `VirtualClock`: stands still until told to move (`advance`, `set`), so tests are deterministic.
"""

from __future__ import annotations

import datetime as dt

UTC = dt.timezone.utc


class Clock:
    """Where "now" comes from: an aware UTC date-time in whole seconds. `virtual`: the clock moves
    only when told to (`set`)."""

    virtual = False

    def now(self) -> dt.datetime:  # pragma: no cover - abstract
        raise NotImplementedError

    def set(self, moment: dt.datetime) -> dt.datetime:
        """Move the clock to `moment` (kept in whole seconds, UTC) and return the new now. Only a
        virtual clock can be moved: the others raise ValueError."""
        raise ValueError("the real clock cannot be moved: start the emulator with --clock virtual")


class RealClock(Clock):
    """The wall clock."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC).replace(microsecond=0)


class VirtualClock(Clock):
    """A clock that stands still at `start` until moved (`set`, `advance`)."""

    virtual = True

    def __init__(self, start: dt.datetime) -> None:
        self.start = start.astimezone(UTC).replace(microsecond=0)  # where `reset` puts it back
        self._now = self.start

    def now(self) -> dt.datetime:
        return self._now

    def set(self, moment: dt.datetime) -> dt.datetime:
        self._now = moment.astimezone(UTC).replace(microsecond=0)
        return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        if delta < dt.timedelta(0):
            raise ValueError("the virtual clock only moves forward")
        return self.set(self._now + delta)
