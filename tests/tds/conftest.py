"""The TDS endpoint in-process: an emulator started through its lifespan with `tds=True` on a free port,
its store a copy of the session's template store. SQL clients block, so tests run them with
`asyncio.to_thread` while the server answers on the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import pytest

from tests.helpers import make_settings, running


@dataclass
class Endpoint:
    em: object  # tests.helpers.Emulated
    port: int
    cert: str | None
    store: str

    @property
    def server(self):
        return self.em.emulator.tds


@contextlib.asynccontextmanager
async def endpoint(database: str, **settings):
    async with running(make_settings(database=database, tds=True, tds_port=0, **settings)) as em:
        server = em.emulator.tds
        yield Endpoint(em, server.port, str(server.certificate.cert) if server.certificate else None, database)


@pytest.fixture
async def tds(store_copy):
    async with endpoint(str(store_copy)) as found:
        yield found


async def in_thread(function, *args):
    return await asyncio.to_thread(function, *args)
