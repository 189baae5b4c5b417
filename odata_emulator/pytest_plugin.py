"""The pytest plugin (registered through the `pytest11` entry point): an emulator for your tests.

    dataverse          an emulator per test, in process: an `httpx.AsyncClient` over ASGI, no port.
                       Needs pytest-asyncio (async tests).
    dataverse_server   one real server per test session on a free port of 127.0.0.1, for clients
                       that need a URL (another process, an SDK with its own HTTP stack). Sync helpers.

Both start on the bundled data set with a virtual clock, so that a test decides when time passes;
both carry helpers to seed jobs, move the clock, read a job's history, reset the store, and run a
Python function for the system jobs of a plug-in step (`on_step(name, fn)`).
Settings come from the ini file: `odata_emulator_fixtures` (`bundled`, `none` or a directory
holding dataset.json) and `odata_emulator_clock` (`virtual` or `real`).

Nothing heavy is imported until a fixture is used: the plugin loads in every pytest run of an
environment where odata-emulator is installed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest

ORG_URL = "http://127.0.0.1:8080"
CONTROL_PATH = "/_emulator/v1/"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("odata_emulator_fixtures", "data set of the dataverse fixtures: bundled, none or a directory",
                  default="bundled")
    parser.addini("odata_emulator_clock", "clock of the dataverse fixtures: virtual or real", default="virtual")


def _settings(config: pytest.Config, **overrides):
    from pathlib import Path

    from .settings import Settings

    data = config.getini("odata_emulator_fixtures")
    values: dict[str, Any] = {"database": ":memory:", "clock": config.getini("odata_emulator_clock")}
    if data == "none":
        values["fixtures"] = None
    elif data != "bundled":
        values["fixtures"] = Path(data)
    values.update(overrides)
    return Settings(**values)


def _duration(delta: dt.timedelta | str | None, units: dict) -> str:
    """An ISO 8601 duration for the control API, from a timedelta, a string, or keyword units."""
    if isinstance(delta, str):
        return delta
    if delta is None:
        delta = dt.timedelta(**units)
    return f"PT{delta.total_seconds():.6f}S"


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _checked(response):
    if response.status_code >= 400:
        raise AssertionError(f"{response.request.method} {response.request.url} answered {response.status_code}: "
                             f"{response.text}")
    return response


class Dataverse:
    """An in-process emulator: `await dataverse.get("asyncoperations?$top=1")` and friends."""

    url = ORG_URL

    def __init__(self, client, app) -> None:
        from .api.responses import API_PREFIX

        self.api_url = ORG_URL + API_PREFIX
        self.client = client  # httpx.AsyncClient bound to the app; absolute URLs or relative to the org root
        self.app = app
        self.emulator = app.state.emulator

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.api_url + path.lstrip("/")

    async def request(self, method: str, path: str, **kwargs):
        return await self.client.request(method, self._url(path), **kwargs)

    async def get(self, path: str, **kwargs):
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs):
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs):
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs):
        return await self.request("DELETE", path, **kwargs)

    async def seed_jobs(self, *jobs: dict) -> list[str]:
        """Create system jobs as the platform would (columns of asyncoperation, plus `simulation`)."""
        response = _checked(await self.client.post(ORG_URL + CONTROL_PATH + "jobs", json=list(jobs)))
        return [row["asyncoperationid"] for row in response.json()["value"]]

    async def advance(self, delta: dt.timedelta | str | None = None, **units: float) -> dt.datetime:
        """Move the virtual clock forward, running every job due on the way: `advance(minutes=5)`."""
        body = {"advance": _duration(delta, units)}
        return _when(_checked(await self.client.post(ORG_URL + CONTROL_PATH + "clock", json=body)).json()["now"])

    async def now(self) -> dt.datetime:
        return _when(_checked(await self.client.get(ORG_URL + CONTROL_PATH + "clock")).json()["now"])

    async def history(self, job_id: str) -> list[dict]:
        return _checked(await self.client.get(ORG_URL + CONTROL_PATH + f"jobs/{job_id}/history")).json()["value"]

    async def reset(self) -> None:
        _checked(await self.client.post(ORG_URL + CONTROL_PATH + "reset"))

    def on_step(self, name: str, handler) -> None:
        """Run `handler(context)` (a function or a coroutine function) for each system job of the
        plug-in step named `name`, or of the plug-in type whose typename or name is `name`: the
        context is the job's RemoteExecutionContext as a dict; raising fails the job (its text is
        the job's `friendlymessage`, an int `errorcode` attribute its `errorcode`). None removes it."""
        self.emulator.events.on_step(name, handler)


class DataverseServer:
    """A real server on 127.0.0.1: `url` (org root, for SDKs), `api_url`, and sync helpers."""

    def __init__(self, settings) -> None:
        import httpx
        import uvicorn

        from .api.app import create_app
        from .api.responses import API_PREFIX
        from .cli import server_options

        app = create_app(settings)
        self.emulator = app.state.emulator
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on",
                                **server_options())
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="odata-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the odata-emulator server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.api_url = self.url + API_PREFIX
        self.client = httpx.Client(base_url=self.api_url, timeout=30)

    def close(self) -> None:
        self.client.close()
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def seed_jobs(self, *jobs: dict) -> list[str]:
        response = _checked(self.client.post(self.url + CONTROL_PATH + "jobs", json=list(jobs)))
        return [row["asyncoperationid"] for row in response.json()["value"]]

    def advance(self, delta: dt.timedelta | str | None = None, **units: float) -> dt.datetime:
        body = {"advance": _duration(delta, units)}
        return _when(_checked(self.client.post(self.url + CONTROL_PATH + "clock", json=body)).json()["now"])

    def now(self) -> dt.datetime:
        return _when(_checked(self.client.get(self.url + CONTROL_PATH + "clock")).json()["now"])

    def history(self, job_id: str) -> list[dict]:
        return _checked(self.client.get(self.url + CONTROL_PATH + f"jobs/{job_id}/history")).json()["value"]

    def reset(self) -> None:
        _checked(self.client.post(self.url + CONTROL_PATH + "reset"))

    def on_step(self, name: str, handler) -> None:
        """As `Dataverse.on_step`; a plain function runs in a worker thread of the server."""
        self.emulator.events.on_step(name, handler)


@pytest.fixture(scope="session")
def dataverse_server(pytestconfig: pytest.Config):
    server = DataverseServer(_settings(pytestconfig))
    try:
        yield server
    finally:
        server.close()


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the in-process fixture is async
    @pytest.fixture
    def dataverse():
        pytest.fail("The dataverse fixture needs pytest-asyncio: pip install pytest-asyncio "
                    "(or use the dataverse_server fixture).")
else:
    # (The fallback above stands in when pytest-asyncio is missing.)
    @pytest_asyncio.fixture
    async def dataverse(pytestconfig: pytest.Config):  # type: ignore[misc]
        import httpx

        from .api.app import create_app

        app = create_app(_settings(pytestconfig))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORG_URL)
        try:
            yield Dataverse(client, app)
        finally:
            await client.aclose()
            await lifespan.__aexit__(None, None, None)
