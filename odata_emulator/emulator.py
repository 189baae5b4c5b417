"""One emulator instance: the store, the clock, the query planner and who the caller is.
HTTP lives in `api/` and `control/`; this is what they share."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from .caller import Caller
from .clock import Clock, RealClock, VirtualClock
from .jobs import recurrence
from .jobs.scheduler import Scheduler
from .jobs.system_event import SystemEvents
from .model import MODEL, EntityModel
from .query.execute import Context
from .query.plan import Planner, shared_cache
from .settings import Settings
from .store import templates
from .store.engine import Store, create_schema
from .store.fixtures import (
    EMPTY_CALLER,
    caller_of,
    clear_data,
    ensure_initialized,
    read_dataset,
    reference_time,
    shift_of,
    shift_seconds,
    stored_caller,
)
from .store.values import parse_datetime

if TYPE_CHECKING:  # the TDS endpoint (and sqlglot) is imported only when served
    from .tds.server import TdsServer


class Emulator:
    def __init__(self, settings: Settings, model: EntityModel = MODEL) -> None:
        self.settings = settings
        self.model = model
        self.clock = self._make_clock(settings)
        self.store = Store(settings.database, fsync=settings.fsync)
        self.planner = Planner(model, strict=settings.strict, cache=shared_cache(model, settings.strict))
        self.caller: Caller = EMPTY_CALLER
        self.scheduler = Scheduler(self.store, self.clock, concurrency=settings.concurrency,
                                   lease_seconds=settings.lease_seconds, poll_seconds=settings.poll_seconds,
                                   events=SystemEvents(timeout=settings.webhook_timeout))
        self.events = self.scheduler.events  # webhook timeout, plug-in handlers and simulations
        self.tds: TdsServer | None = None  # the TDS endpoint, when settings.tds
        self.ready = False
        self.data_note = ""  # what start() did to the store's data (the banner says it)

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

    async def _dataset(self, now: dt.datetime) -> dict | None:
        """The data set to load, checked first: its recurring jobs' rules must advance (the check is
        bounded but may take a moment, so it runs before the write lock, in a worker thread)."""
        if self.settings.fixtures is None:
            return None
        dataset = read_dataset(self.settings.fixtures)
        shift = shift_of(dataset, now)
        rules, where = [], []
        for row in dataset["tables"].get("asyncoperation", []):
            start = row.get("recurrencestarttime") or row.get("createdon")
            rules.append((row.get("recurrencepattern"), parse_datetime(start) + shift if start else now))
            where.append(f"The data set in {self.settings.fixtures}, system job {row.get('asyncoperationid')}: ")
        await recurrence.check_async(rules, where=where)
        return dataset

    def _describe_data(self, kept: bool, dataset: dict | None) -> str:
        """What starting did to the store's data, for the banner."""
        if kept:
            return "kept the data already in the store"
        if dataset is None:
            return "started empty (--no-fixtures)"
        jobs = len(dataset["tables"].get("asyncoperation", []))
        rows = sum(len(rows) for rows in dataset["tables"].values())
        return f"loaded the data set in {self.settings.fixtures}: {rows} rows, {jobs} of them system jobs"

    async def start(self) -> None:
        now = self.clock.now()
        template = self._template()
        # A new store: its data set read and checked first, as a load does, before any file is made.
        dataset = await self._dataset(now) if template is not None else None
        copied = template is not None and templates.copy_template(
            template, self.store.file or "", self.model, shift_seconds(dataset, now))
        caller = caller_of(self.store.current_caller(self.model))
        if caller is None:
            async with self.store.write() as conn:
                await create_schema(conn, self.model)
                caller = await stored_caller(conn)
        # A store already initialized is kept as it is: its data set is not read (nor checked) again.
        # (Should another instance initialize it meanwhile, ensure_initialized sees that and keeps it.)
        initialized = caller is not None and not copied
        if caller is None:
            if template is None:
                dataset = await self._dataset(now)
            async with self.store.write() as conn:
                built = await stored_caller(conn) is None
                caller = await ensure_initialized(conn, self.model, dataset, now)
            if built and template is not None:  # kept for the next new store, before anything else writes
                await asyncio.to_thread(templates.save_template, self.store.file or "", template, self.model,
                                        shift_seconds(dataset, now))
        assert caller is not None
        self.caller = caller
        self.data_note = self._describe_data(initialized, dataset)
        if self.settings.scheduler and not self.clock.virtual:
            self.scheduler.start()
        if self.settings.tds:
            await self._start_tds()
        self.ready = True

    def _template(self) -> Path | None:
        """The template to copy (or to keep) when the store file is new; None when it exists already."""
        file = self.store.file
        if file is None or Path(file).exists():
            return None
        return templates.template_path(self.model, self.settings.fixtures)

    async def _start_tds(self) -> None:
        """The TDS endpoint reads the same store's file, on the same clock, beside the Web API."""
        from .tds.server import TdsServer

        s = self.settings
        database = self.store.engine.url.database
        assert database is not None  # a Store is always a file (`:memory:` is a private temporary one)
        self.tds = TdsServer(database_path=database, clock=self.clock, host=s.tds_host,
                             port=s.tds_port, encrypt=s.tds_encrypt, cert=s.tls_cert, key=s.tls_key,
                             require_auth=s.require_auth, password=s.tds_password)
        await self.tds.start()

    async def stop(self) -> None:
        self.ready = False
        if self.tds is not None:
            await self.tds.stop()
            self.tds = None
        await self.scheduler.stop()
        await self.store.close()

    async def reset(self) -> None:
        """Back to the data set (or to an empty store), and a virtual clock back to its start."""
        self.scheduler.forget()
        if isinstance(self.clock, VirtualClock):
            self.clock.set(self.clock.start)
        now = self.clock.now()
        dataset = await self._dataset(now)
        async with self.store.write() as conn:
            await clear_data(conn, self.model)
            self.caller = await ensure_initialized(conn, self.model, dataset, now)
        self.data_note = self._describe_data(False, dataset)

    async def advance_clock(self, target: dt.datetime) -> dt.datetime:
        """Move the virtual clock to `target`, running every job due by then."""
        if not self.clock.virtual:
            raise ValueError("the real clock cannot be moved: start the emulator with --clock virtual")
        if not self.settings.scheduler:
            return self.clock.set(target)
        return await self.scheduler.advance(target)

    def jobs_changed(self) -> None:
        """Tell the real-clock scheduler to look now (a job was created, resumed...)."""
        self.scheduler.nudge()

    def context(self, caller: Caller | None = None) -> Context:
        """What a query runs with: now, and who asks (the request's caller, else the data set's user)."""
        return Context(self.clock.now(), caller or self.caller)
