"""Shared fixtures: an emulator app on a fresh store, and an httpx client talking to it in-process."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest

from odata_emulator.api.app import create_app
from odata_emulator.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DOCUMENTED = REPO / "fixtures" / "documented-queries"
BASE = "http://127.0.0.1:8080"
API = f"{BASE}/api/data/v9.2/"


def make_settings(**overrides) -> Settings:
    values = dict(database=":memory:", clock="virtual")
    values.update(overrides)
    return Settings(**values)


class Emulated:
    """An app started through its lifespan, plus a client bound to it."""

    def __init__(self, app, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client
        self.emulator = app.state.emulator

    async def get(self, url: str, **kw) -> httpx.Response:
        return await self.client.get(url if url.startswith("http") else API + url, **kw)

    async def request(self, method: str, url: str, **kw) -> httpx.Response:
        return await self.client.request(method, url if url.startswith("http") else API + url, **kw)


async def start(settings: Settings):
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    return Emulated(app, client), lifespan, client


@contextlib.asynccontextmanager
async def running(settings: Settings):
    em, lifespan, client = await start(settings)
    try:
        yield em
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def emulated():
    async with running(make_settings()) as em:
        yield em


@pytest.fixture
async def loose():
    async with running(make_settings(strict=False)) as em:
        yield em


@pytest.fixture
async def file_store(tmp_path):
    """An emulator on a SQLite file, so that tests can read the same store with the stdlib sqlite3."""
    path = tmp_path / "store.db"
    async with running(make_settings(database=str(path))) as em:
        yield em, path
