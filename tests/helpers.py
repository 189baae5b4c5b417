"""What the tests share, in one module (sqlglot's `tests/helpers.py` habit): test modules import from
here and never from each other; `tests/conftest.py` turns the emulator parts into fixtures.

- paths and URLs: `REPO`, `DOCUMENTED`, `BASE`, `API`, `JSON_TYPE`
- an emulator in-process: `make_settings`, `start`/`running` (an app through its lifespan plus an
  httpx client bound to it: `InProcessClient`), `seed_jobs`/`get_job`/`job_history` and `JobService` (jobs through it),
  `build_store`/`copy_store` (the template store the fixtures copy), `BULK_DELETE_REQUEST`
- the oracle's side: `plain_engine` (compiled statements run on a store), `sql_rows`/`sql_ids` (the same store read with the stdlib sqlite3; `file_content`
  reads file storage's content), `iso`/`epoch`,
  `datepart` (SQL Server's), `flat`/`where_of` (compiled SQL text), `guid`
- the two page writers: `both_writers`, `assert_same_answer`
- responses: `assert_json`, `assert_ok`, `assert_error` (status, Dataverse headers, body); `raw_request`
  (the ASGI app called with a target's bytes as given)
- a real server: `Server` (`odata-emulator serve` in a subprocess, on a port the OS picks), `serve_command`,
  `wait_until`
- the documented queries as a client reads them: `webapi_request`, `encode_like_a_browser`
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import itertools
import os
import re
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import time
import zlib
from pathlib import Path
from urllib.parse import quote

import httpx

from odata_emulator.api import sql_json
from odata_emulator.api.app import create_app
from odata_emulator.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DOCUMENTED = REPO / "fixtures" / "documented-queries"
BASE = "http://127.0.0.1:8080"
API = f"{BASE}/api/data/v9.2/"
JSON_TYPE = "application/json; odata.metadata=minimal"
UTC = dt.timezone.utc

# Instance annotations (`Prefer: odata.include-annotations`).
FORMATTED = "OData.Community.Display.V1.FormattedValue"
ATTRIBUTE_NAME = "OData.Community.Display.V1.AttributeName"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
LOGICAL = "Microsoft.Dynamics.CRM.lookuplogicalname"
# The option set labels, from the Dataverse table reference (asyncoperation_statecode / _statuscode).
STATE_LABELS = {0: "Ready", 1: "Suspended", 2: "Locked", 3: "Completed"}
STATUS_LABELS = {0: "Waiting For Resources", 10: "Waiting", 20: "In Progress", 21: "Pausing", 22: "Canceling",
                 30: "Succeeded", 31: "Failed", 32: "Canceled"}

# ------------------------------------------------------------------------------ an emulator in-process


def make_settings(**overrides) -> Settings:
    """The tests' defaults: a private store, the virtual clock (at the data set's reference time), and
    no fsync (a store copy is scratch, removed after the test: waiting for the disk at each checkpoint
    and close took about a third of an emulator's start, write and stop)."""
    values: dict = dict(database=":memory:", clock="virtual", fsync=False)
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


class InProcessClient(httpx.AsyncClient):
    """httpx's client on an app in this process (its ASGI transport), sending each request straight
    to the transport: without the cookie jar (the emulator sets no cookie), auth flows (tests send
    their own Authorization header), redirects (it answers none) and httpx's log line per request.
    Those cost about 0.4 ms a request, about as long as the emulator took to answer a small one. A
    request that asks for one of them (`auth=`, `follow_redirects=True`) goes through httpx's own
    `send`."""

    def __init__(self, app, **kwargs) -> None:
        self._app_transport = httpx.ASGITransport(app=app)
        super().__init__(transport=self._app_transport, **kwargs)

    async def send(self, request: httpx.Request, *, stream: bool = False, auth=httpx.USE_CLIENT_DEFAULT,
                   follow_redirects=httpx.USE_CLIENT_DEFAULT) -> httpx.Response:
        if auth is not httpx.USE_CLIENT_DEFAULT or follow_redirects is True or self.auth is not None:
            return await super().send(request, stream=stream, auth=auth, follow_redirects=follow_redirects)
        response = await self._app_transport.handle_async_request(request)
        response.request = request
        if not stream:
            await response.aread()
        return response


async def start(settings: Settings):
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = InProcessClient(app, base_url=BASE)
    return Emulated(app, client), lifespan, client


@contextlib.asynccontextmanager
async def running(settings: Settings):
    em, lifespan, client = await start(settings)
    try:
        yield em
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def seed_jobs(em: Emulated, *jobs: dict) -> list[str]:
    """Jobs created through the control API (`POST /_emulator/v1/jobs`): their ids."""
    response = await em.client.post("/_emulator/v1/jobs", json=list(jobs))
    assert response.status_code == 201, response.text
    return [value["asyncoperationid"] for value in response.json()["value"]]


async def get_job(em: Emulated, job_id: str) -> dict:
    """A system job as the Web API reads it."""
    response = await em.client.get(f"{API}asyncoperations({job_id})")
    assert response.status_code == 200, response.text
    return response.json()


async def job_history(em: Emulated, job_id: str) -> list[tuple[str, int, int, str]]:
    """A job's moves from the control API: (at, statecode, statuscode, reason), oldest first."""
    response = await em.client.get(f"/_emulator/v1/jobs/{job_id}/history")
    assert response.status_code == 200, response.text
    return [(e["at"], e["statecode"], e["statuscode"], e["reason"]) for e in response.json()["value"]]


class JobService:
    """System jobs through an in-process emulator, as a client and a test harness see them: the
    control API to create jobs and read their history, the Web API to read them."""

    def __init__(self, em: Emulated) -> None:
        self.em = em
        self.client = em.client

    async def create(self, *jobs: dict) -> list[str]:
        return await seed_jobs(self.em, *jobs)

    async def job(self, job_id: str) -> dict:
        return await get_job(self.em, job_id)

    async def pair(self, job_id: str) -> tuple[int, int]:
        job = await self.job(job_id)
        return job["statecode"], job["statuscode"]

    async def history(self, job_id: str) -> list[tuple[str, int, int, str]]:
        return await job_history(self.em, job_id)


def build_store(path: Path, **overrides) -> Path:
    """The store an emulator with these settings leaves at `path` after one start: schema made, data
    set loaded. A started emulator leaves an initialized store as it is (`store/fixtures.py`,
    `ensure_initialized`), so a copy of this file serves a test exactly as a fresh load would, for the
    same data settings (`fixtures`, `clock`, `clock_start`)."""

    async def build() -> None:
        async with running(make_settings(database=str(path), **overrides)):
            pass

    # On a thread of its own: a session fixture may first be asked for inside a test's event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        thread.submit(lambda: asyncio.run(build())).result()
    with sqlite3.connect(path) as conn:  # everything in the main file, so that a plain copy is whole
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def store_dump(path: Path) -> list[str]:
    """Every table's and index's schema and every row of the store file at `path`, as sorted lines: what
    it holds, whatever the order its catalog lists the indexes in (the order a process made them in,
    which differs from one process to the next)."""
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.iterdump())
    finally:
        conn.close()


def copy_store(template: Path, path: Path) -> Path:
    """A private copy of a template store (`build_store`) at `path`."""
    shutil.copyfile(template, path)
    return path


# The BulkDelete request of the reference (§8.1), as the docs write it. Copy it before changing it.
BULK_DELETE_REQUEST = {
    "QuerySet": [{
        "@odata.type": "Microsoft.Dynamics.CRM.QueryExpression",
        "EntityName": "asyncoperation",
        "ColumnSet": {"AllColumns": False, "Columns": ["asyncoperationid"]},
        "Distinct": False,
        "Criteria": {
            "FilterOperator": "And",
            "Conditions": [
                {"AttributeName": "statecode", "Operator": "Equal", "Values": [{"Value": "3", "Type": "System.Int32"}]},
                {"AttributeName": "completedon", "Operator": "OlderThanXDays",
                 "Values": [{"Value": "30", "Type": "System.Int32"}]},
            ],
        },
    }],
    "JobName": "Delete completed system jobs older than 30 days",
    "SendEmailNotification": False,
    "ToRecipients": [],
    "CCRecipients": [],
    "RecurrencePattern": "FREQ=DAILY;INTERVAL=1;",
    "StartDateTime": "2026-11-02T02:00:00Z",
}

async def both_writers(emulated, url: str, monkeypatch, **kw):
    """`url` asked with the page writer of SQLite (`api/sql_json.py`) and then with Python's."""
    monkeypatch.setattr(sql_json, "ENABLED", True)
    by_sqlite = await emulated.get(url, **kw)
    monkeypatch.setattr(sql_json, "ENABLED", False)
    by_python = await emulated.get(url, **kw)
    monkeypatch.setattr(sql_json, "ENABLED", True)
    return by_sqlite, by_python


def assert_same_answer(by_sqlite, by_python) -> None:
    assert by_sqlite.status_code == by_python.status_code == 200, by_python.text[:300]
    assert by_sqlite.content == by_python.content
    assert by_sqlite.headers == by_python.headers


# ------------------------------------------------------------------------------ the oracle's side


# A job's `data` as every reader sees it: the row's, or the content of its file in file storage.
READABLE_DATA = ("CASE WHEN {a}datablobid IS NULL THEN {a}data ELSE (SELECT file_content(content) FROM "
                 "emulator_file_content WHERE fileattachmentid = {a}datablobid) END")


def file_content(stored: bytes) -> str:
    """A file's content as the store keeps it (UTF-8, compressed with zlib), read back; `sql_rows`
    connections have it as the SQL function `file_content`."""
    return zlib.decompress(stored).decode("utf-8")


def with_file_data(path, jobs):
    """Stored job rows (dicts) with `data` read back from file storage where the job keeps it there."""
    files = dict(sql_rows(path, "SELECT fileattachmentid, file_content(content) FROM emulator_file_content"))
    for job in jobs:
        if job.get("datablobid") is not None:
            job["data"] = files[job["datablobid"]]
    return jobs


def plain_engine(url: str = "sqlite://"):
    """A synchronous SQLAlchemy engine on a store whose connections have the store's SQL functions
    (`store.values.STORE_FUNCTIONS`), as the emulator's own have: compiled statements run on it as is."""
    from sqlalchemy import create_engine, event

    from odata_emulator.store.values import register_functions

    engine = create_engine(url)
    event.listen(engine, "connect", lambda dbapi_connection, _record: register_functions(dbapi_connection))
    return engine


def sql_rows(path, query: str, params=()) -> list[tuple]:
    """The store read directly with the stdlib sqlite3 (the emulator's answers are compared with it)."""
    with sqlite3.connect(path) as conn:
        conn.create_function("file_content", 1, file_content, deterministic=True)
        rows = conn.execute(query, params).fetchall()
    conn.close()
    return rows


def sql_ids(path, where: str = "1", order: str = "asyncoperationid", params=()) -> list[str]:
    return [r[0] for r in sql_rows(path, f"SELECT asyncoperationid FROM asyncoperation WHERE {where} ORDER BY {order}",
                                   params)]


def iso(seconds: int | None) -> str | None:
    """A stored datetime (seconds since the epoch, UTC) as the Web API writes it."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(text: str) -> int:
    """An ISO 8601 UTC datetime as the store keeps it: whole seconds since the epoch."""
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def datepart(grouping: str, moment: dt.datetime | int) -> int:
    """SQL Server's DATEPART with the default DATEFIRST 7: weeks start on Sunday, and the week
    holding January 1 is week 1. `moment`: a datetime, or a stored one (seconds since the epoch)."""
    if isinstance(moment, int):
        moment = dt.datetime.fromtimestamp(moment, UTC)
    if grouping == "year":
        return moment.year
    if grouping == "quarter":
        return (moment.month - 1) // 3 + 1
    if grouping == "month":
        return moment.month
    if grouping == "day":
        return moment.day
    january_1 = dt.date(moment.year, 1, 1)
    first_sunday_on_or_before = january_1 - dt.timedelta(days=(january_1.weekday() + 1) % 7)
    return (moment.date() - first_sunday_on_or_before).days // 7 + 1


def flat(text) -> str:
    """SQL text on one line, single-spaced."""
    return " ".join(str(text).split())


def where_of(text: str) -> str:
    """The WHERE clause of a statement without ORDER BY/GROUP BY (the statement's own: not a
    subquery's in its columns, such as the one that reads a job's `data` from file storage)."""
    depth = 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if depth == 0 and text.startswith(" WHERE ", i):
            break
    clause = text[i + len(" WHERE "):]
    for end in (" GROUP BY ", " ORDER BY "):
        clause = clause.split(end, 1)[0]
    return clause


def guid(i: int) -> str:
    """A made-up row id whose order follows `i`."""
    return f"00000000-0000-4000-8000-{i:012d}"


# ------------------------------------------------------------------------------ responses


def assert_json(response, status: int = 200) -> dict:
    """The body of a JSON answer with this status and Dataverse's headers."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_TYPE
    assert response.headers["odata-version"] == "4.0"
    return response.json()


def assert_ok(response) -> dict:
    return assert_json(response, 200)


def assert_error(response, status: int, code: str, message: str) -> None:
    """A Dataverse error answer, to the letter."""
    assert assert_json(response, status) == {"error": {"code": code, "message": message}}


async def raw_request(app, path: bytes, query: bytes = b"", method: str = "GET") -> tuple[int, dict, bytes]:
    """One request through the ASGI app with the target's bytes as given (no client re-encodes them, and a
    URL may be longer than a client sends): (status, headers, body)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path.decode("latin-1"), "raw_path": path, "query_string": query, "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8080")], "server": ("127.0.0.1", 8080),
             "client": ("127.0.0.1", 50000), "extensions": {}}
    started: dict = {}
    chunks: list[bytes] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            started.update(status=message["status"],
                           headers={k.decode().lower(): v.decode() for k, v in message["headers"]})
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return started["status"], started["headers"], b"".join(chunks)


# ------------------------------------------------------------------------------ a real server


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def serve_command() -> list[str]:
    """The installed `odata-emulator` script, as a user runs it."""
    script = Path(sys.executable).parent / "odata-emulator"
    if script.exists():
        return [str(script)]
    found = shutil.which("odata-emulator")
    return [found] if found else [sys.executable, "-m", "odata_emulator.cli"]


# The banner's Web API line, which names the port the server really bound (`--port 0`: one the OS chose).
_RUNNING = re.compile(r"Web API +https?://\S+:(\d+)/api/data/")
_LOGS = itertools.count()


class Server:
    """`odata-emulator serve --port 0 ARGS` in a subprocess, run from `workdir`, its output logged there.

    The server binds a port the OS chooses and the port is read from its log (the banner's Web API line,
    printed once the server answers), so no other process can take the port between choosing and binding
    it. `port` and `base` are known after `wait_ready()`."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.port: int | None = None
        # With --tls-cert the server speaks HTTPS: `base` says so and `verify` trusts that certificate.
        self.scheme = "https" if "--tls-cert" in args else "http"
        self.verify: ssl.SSLContext | bool = (ssl.create_default_context(cafile=args[args.index("--tls-cert") + 1])
                                              if "--tls-cert" in args else True)
        self.log_path = workdir / f"server-{os.getpid()}-{next(_LOGS)}.log"
        self.log = open(self.log_path, "w+")
        self.process = subprocess.Popen(
            [*serve_command(), "serve", "--port", "0", *args],
            cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    @property
    def base(self) -> str:
        assert self.port is not None, "wait_ready() first"
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def _bound_port(self) -> int | None:
        found = _RUNNING.search(self.log_path.read_text(errors="replace"))
        return int(found.group(1)) if found else None

    def wait_ready(self, timeout: float = 30.0) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log_path.read_text(errors='replace')}")
            if self.port is None:
                self.port = self._bound_port()
            if self.port is not None:
                try:
                    if httpx.get(f"{self.base}/_emulator/v1/health", timeout=1, verify=self.verify).status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        raise AssertionError(f"server did not become ready:\n{self.log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


# ------------------------------------------------------------------------------ Microsoft's SDK


def _token():
    from azure.core.credentials import AccessToken  # the SDK's dependency: imported only by its tests

    return AccessToken("dummy-token", int(time.time()) + 3600)


class DummyCredential:
    """For the SDK's async client: any object with an async get_token (and close, async with) passes
    its AsyncTokenCredential protocol. `scopes` records what the SDK asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple] = []

    async def get_token(self, *scopes, **kwargs):
        self.scopes.append(scopes)
        return _token()

    async def close(self) -> None:
        pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *args) -> None:
        pass


class SyncDummyCredential:
    """For the SDK's sync client: any object with get_token passes azure.core's TokenCredential protocol."""

    def get_token(self, *scopes, **kwargs):
        return _token()


# ------------------------------------------------------------------------------ the documented queries


def webapi_request(path: Path) -> tuple[str, dict[str, str]]:
    """The request target (after the organization URL) and headers of a `.webapi.http` file.
    A URL spread over several lines is joined with no whitespace, as the docs' readers do."""
    text = path.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    headers = {}
    url_parts = []
    for line in lines:
        match = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
        if match and not line.startswith(("GET ", "http")) and url_parts:
            headers[match.group(1)] = match.group(2).strip()
        else:
            url_parts.append(line)
    target = "".join(url_parts)
    assert target.startswith("GET "), path
    target = target[4:]
    target = re.sub(r"^(\[Organization URI\]|<organization URL>)", "", target)
    return target, headers


def encode_like_a_browser(target: str) -> str:
    """Percent-encode what must be (spaces, quotes), keep OData's literal characters."""
    return quote(target, safe="/?&=$(),'@*:;")
