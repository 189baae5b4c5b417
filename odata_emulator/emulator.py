"""One emulator instance: the store, the clock, the query planner and who the caller is.
HTTP lives in `api/` and `control/`; this is what they share."""

from __future__ import annotations

import datetime as dt

from .clock import Clock, RealClock, VirtualClock
from .model import MODEL, EntityModel
from .query.execute import Context
from .query.plan import Planner
from .settings import Settings
from .store.engine import create_engine, create_schema
from .store.fixtures import EMPTY_CALLER, Caller, clear_data, ensure_initialized, reference_time


class Emulator:
    def __init__(self, settings: Settings, model: EntityModel = MODEL) -> None:
        self.settings = settings
        self.model = model
        self.clock = self._make_clock(settings)
        self.engine = create_engine(settings.database)
        self.planner = Planner(model, strict=settings.strict)
        self.caller: Caller = EMPTY_CALLER
        self.ready = False

    @staticmethod
    def _make_clock(settings: Settings) -> Clock:
        if settings.clock == "virtual":
            start = settings.clock_start
            if start is None:
                start = reference_time(settings.fixtures) if settings.fixtures else dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
            return VirtualClock(start)
        if settings.clock != "real":
            raise ValueError(f"unknown clock {settings.clock!r}: use 'real' or 'virtual'")
        return RealClock()

    async def start(self) -> None:
        await create_schema(self.engine, self.model)
        async with self.engine.begin() as conn:
            self.caller = await ensure_initialized(conn, self.model, self.settings.fixtures, self.clock.now())
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        await self.engine.dispose()

    async def reset(self) -> None:
        """Back to the bundled data set (or to an empty store)."""
        async with self.engine.begin() as conn:
            await clear_data(conn, self.model)
            self.caller = await ensure_initialized(conn, self.model, self.settings.fixtures, self.clock.now())

    def context(self) -> Context:
        return Context(self.clock.now(), self.caller)
