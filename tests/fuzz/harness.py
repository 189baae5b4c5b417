"""What every fuzz module shares: an emulator started once on an event loop the test owns, and the
checks every answer must pass.

Hypothesis runs plain (sync) test functions; each example drives the ASGI app in-process through
httpx on the harness's own `asyncio.Runner`, so the emulator (its store connections and its
scheduler) lives on one loop for the whole module.

Every answer must come within `ANSWER_SECONDS`, be no 5xx, and, when it is a 4xx, be Dataverse's
error: `application/json; odata.metadata=minimal`, `OData-Version: 4.0`, and a body that is exactly
`{"error": {"code": "<text>", "message": "<non-empty text>"}}`. A refused input (a 4xx) must leave
the store (and the virtual clock) as it found it: `digest()` before and after.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import time
from dataclasses import dataclass

import httpx
from hypothesis import event, settings
from sqlalchemy import func, select

from odata_emulator.settings import Settings
from odata_emulator.store.schema import METADATA
from tests.helpers import API, BASE, Emulated, running

JSON_TYPE = "application/json; odata.metadata=minimal"
# "No hang": every answer comes within this many seconds.
ANSWER_SECONDS = 5.0
CONTROL = f"{BASE}/_emulator/v1"

JOBS = METADATA.tables["asyncoperation"]
_COUNTED = ("asyncoperation", "bulkdeleteoperation", "emulator_job_history", "emulator_job_simulation", "account",
            "contact", "systemuser", "team", "businessunit", "workflow", "sdkmessageprocessingstep", "emulator_meta")


def examples(factor: float) -> int:
    """The loaded profile's number of examples (tests/fuzz/conftest.py), scaled for a test whose
    examples cost more or less than most."""
    return max(10, int(settings.default.max_examples * factor))


@dataclass(frozen=True)
class Answer:
    """A response, with what was asked (for failure messages)."""

    request: str
    response: httpx.Response
    seconds: float

    @property
    def status(self) -> int:
        return self.response.status_code


def header_value(text: str) -> bytes:
    """A header value as a server hands it to the app: bytes (UTF-8 here), never a line break or NUL,
    which the HTTP server itself refuses before the app sees the request."""
    return text.replace("\r", " ").replace("\n", " ").replace("\x00", " ").encode("utf-8")


def sendable(url: str) -> str:
    """The URL with what no request line can carry (control characters, spaces, '#') percent-encoded,
    as any client must: HTTP servers refuse those before the app sees the request."""
    return "".join(f"%{ord(c):02X}" if c <= " " or c in "\x7f#" else c for c in url)


def describe(method: str, url: str, kw: dict) -> str:
    extra = {k: v for k, v in kw.items() if v is not None}
    text = f"{method} {url}"
    if extra:
        text += f" {extra!r}"
    return text[:4000]


def assert_dataverse_error(status: int, headers, body: bytes, what: str, *, head: bool = False) -> None:
    """A 4xx as Dataverse writes it. `head`: the answer to a HEAD request, which has no body."""
    assert headers.get("content-type") == JSON_TYPE, f"{what}: {status} with content-type " \
                                                     f"{headers.get('content-type')!r}: {body[:300]!r}"
    assert headers.get("odata-version") == "4.0", f"{what}: {status} without OData-Version: {body[:300]!r}"
    if head:
        return
    try:
        error = json.loads(body)
    except ValueError:
        raise AssertionError(f"{what}: {status} whose body is not JSON: {body[:300]!r}") from None
    assert isinstance(error, dict) and list(error) == ["error"], f"{what}: {status} {error!r}"
    inner = error["error"]
    # code and message first; then, when the request's Prefer asked for annotations, only the detail
    # annotations Dataverse adds (compose-http-requests-handle-errors.md).
    assert isinstance(inner, dict) and list(inner)[:2] == ["code", "message"], f"{what}: {status} {error!r}"
    extra = list(inner)[2:]
    assert all(key.startswith("@Microsoft.PowerApps.CDS.") and isinstance(inner[key], str) for key in extra), \
        f"{what}: {status} {error!r}"
    assert isinstance(inner["code"], str), f"{what}: {status} {error!r}"
    assert isinstance(inner["message"], str) and inner["message"].strip(), f"{what}: {status} {error!r}"


def check_answer(answer: Answer, *, method: str = "GET") -> None:
    response = answer.response
    assert answer.status < 500, f"{answer.request}: {answer.status} {response.text[:1000]}"
    if answer.status >= 400:
        assert_dataverse_error(answer.status, response.headers, response.content, answer.request,
                               head=method == "HEAD")


def batch_parts(response: httpx.Response) -> list:
    """The parts of a multipart/mixed `$batch` answer: (status, headers, body) each, or a list of them
    for a change set."""
    message = email.message_from_bytes(
        b"Content-Type: " + response.headers["content-type"].encode("latin-1") + b"\r\n\r\n" + response.content,
        policy=email.policy.HTTP)
    assert message.is_multipart() and not message.defects, response.content[:500]
    out = []
    for part in message.iter_parts():
        if part.get_content_type() == "multipart/mixed":
            out.append([_http_answer(p) for p in part.iter_parts()])
        else:
            out.append(_http_answer(part))
    return out


def _http_answer(part) -> tuple[int, dict, bytes]:
    assert part.get_content_type() == "application/http", part.as_string()[:300]
    raw = part.get_payload(decode=True) or b""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body.removesuffix(b"\r\n")


class Harness:
    """One emulator on a loop of its own; `run` drives a coroutine on that loop."""

    def __init__(self, settings: Settings) -> None:
        self.runner = asyncio.Runner()
        self._context = running(settings)
        self.em: Emulated = self.runner.run(self._context.__aenter__())
        self._ids: list[str] | None = None

    def close(self) -> None:
        try:
            self.runner.run(self._context.__aexit__(None, None, None))
        finally:
            self.runner.close()

    def run(self, coroutine):
        return self.runner.run(coroutine)

    @property
    def emulator(self):
        return self.em.emulator

    # ------------------------------------------------------------------------------ requests

    async def ask(self, method: str, url: str, *, check: bool = True, **kw) -> Answer:
        """One request, answered within ANSWER_SECONDS and (`check`) passing `check_answer`."""
        target = sendable(url if url.startswith("http") else API + url)
        what = describe(method, target, kw)
        started = time.perf_counter()
        try:
            response = await asyncio.wait_for(self.em.client.request(method, target, **kw), ANSWER_SECONDS)
        except TimeoutError:
            raise AssertionError(f"{what}: no answer within {ANSWER_SECONDS} s") from None
        seconds = time.perf_counter() - started
        # Work that blocks the event loop cannot be interrupted by wait_for: measure it too.
        assert seconds < ANSWER_SECONDS, f"{what}: answered after {seconds:.1f} s"
        answer = Answer(what, response, seconds)
        event(f"{method} {answer.status}")  # `pytest --hypothesis-show-statistics` shows the mix
        if check:
            check_answer(answer, method=method)
        return answer

    async def ask_refusal_unchanged(self, method: str, url: str, **kw) -> Answer:
        """`ask`, and when the answer is a 4xx, the store and the clock are as they were before."""
        before = await self.digest()
        answer = await self.ask(method, url, **kw)
        if 400 <= answer.status < 500:
            after = await self.digest()
            assert after == before, f"{answer.request}: refused with {answer.status} " \
                                    f"({answer.response.text[:300]}) but the store changed: {before} -> {after}"
        elif 200 <= answer.status < 300:
            self._ids = None
        return answer

    # ------------------------------------------------------------------------------ the store

    async def digest(self) -> tuple:
        """A cheap fingerprint of everything a request could change: row counts of every table,
        the system jobs' and bulk delete operations' row versions, the history, and the clock."""
        async with self.emulator.store.read() as conn:
            counts = []
            for name in _COUNTED:
                counts.append((await conn.execute(select(func.count()).select_from(METADATA.tables[name]))).scalar())
            jobs = (await conn.execute(select(
                func.max(JOBS.c.versionnumber), func.total(JOBS.c.versionnumber), func.total(JOBS.c.modifiedon),
                func.total(JOBS.c.statuscode), func.total(JOBS.c.postponeuntil)))).one()
            operations = METADATA.tables["bulkdeleteoperation"]
            bulk = (await conn.execute(select(func.max(operations.c.versionnumber),
                                              func.total(operations.c.versionnumber)))).one()
            history = METADATA.tables["emulator_job_history"]
            last = (await conn.execute(select(func.max(history.c.id)))).scalar()
        return tuple(counts), tuple(jobs), tuple(bulk), last, self.emulator.clock.now()

    async def job_ids(self) -> list[str]:
        """The ids of the system jobs in the store, oldest first (remembered until a write succeeds)."""
        if self._ids is None:
            async with self.emulator.store.read() as conn:
                rows = (await conn.execute(select(JOBS.c.asyncoperationid).order_by(JOBS.c.sequence,
                                                                                    JOBS.c.asyncoperationid))).all()
            self._ids = [row[0] for row in rows]
        return self._ids

    def forget_ids(self) -> None:
        self._ids = None

    async def reset(self) -> None:
        answer = await self.ask("POST", f"{CONTROL}/reset")
        assert answer.status == 200, answer.response.text
        self._ids = None
