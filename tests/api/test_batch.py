"""`$batch` as Dataverse takes it: multipart/mixed, change sets all-or-nothing, Content-ID
references, continue-on-error, GETs outside change sets, and per-part Dataverse errors."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json

import pytest
from sqlalchemy import select, update

from odata_emulator.store.schema import METADATA

BOUNDARY = "batch_7f1a"


def http_part(request_line: str, body: dict | None = None, content_id: str | None = None, **headers) -> str:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id is not None:
        head += f"Content-ID: {content_id}\r\n"
    lines = [request_line + " HTTP/1.1"]
    if body is not None:
        headers.setdefault("Content_Type", "application/json; type=entry")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    text = head + "\r\n" + "\r\n".join(lines) + "\r\n\r\n"
    if body is not None:
        text += json.dumps(body) + "\r\n"
    return text


def change_set(name: str, *parts: str) -> str:
    inner = "".join(f"--{name}\r\n{p}" for p in parts) + f"--{name}--\r\n"
    return f"Content-Type: multipart/mixed; boundary={name}\r\n\r\n" + inner


def batch(*parts: str) -> bytes:
    return ("".join(f"--{BOUNDARY}\r\n{p}" for p in parts) + f"--{BOUNDARY}--\r\n").encode()


async def post_batch(em, body: bytes, **headers):
    return await em.request("POST", "$batch", content=body,
                            headers={"Content-Type": f"multipart/mixed; boundary={BOUNDARY}", **headers})


def responses(response) -> list:
    """The parts of a batch response: each a (status, headers, body) or a list of them for a change set."""
    message = email.message_from_bytes(
        b"Content-Type: " + response.headers["content-type"].encode() + b"\r\n\r\n" + response.content,
        policy=email.policy.HTTP)
    out = []
    for part in message.iter_parts():
        if part.get_content_type() == "multipart/mixed":
            out.append([_http(p) for p in part.iter_parts()])
        else:
            out.append(_http(part))
    return out


def _http(part):
    raw = part.get_payload(decode=True).decode()
    head, _, body = raw.partition("\r\n\r\n")
    status_line, *header_lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    headers["Content-ID"] = part.get("Content-ID")
    return int(status_line.split()[1]), headers, (json.loads(body) if body.strip() else None)


async def ready_jobs(em, n: int) -> list[str]:
    rows = (await em.get(f"asyncoperations?$select=name&$filter=statecode eq 0&$orderby=createdon&$top={n}")).json()
    return [r["asyncoperationid"] for r in rows["value"]]


async def state(em, job: str) -> tuple[int, int]:
    row = (await em.get(f"asyncoperations({job})?$select=statecode,statuscode")).json()
    return row["statecode"], row["statuscode"]


async def test_gets_and_a_successful_change_set(emulated):
    em = emulated
    a, b = await ready_jobs(em, 2)
    body = batch(
        http_part("GET /api/data/v9.2/asyncoperations?$select=name&$filter=statecode eq 0&$top=1", Accept="application/json"),
        change_set("changeset_1",
                   http_part(f"PATCH /api/data/v9.2/asyncoperations({a})", {"statecode": 3, "statuscode": 32}, "1",
                             If_Match="*"),
                   http_part(f"PATCH asyncoperations({b})", {"statecode": 3, "statuscode": 32}, "2", If_Match="*")),
        http_part(f"GET http://127.0.0.1:8080/api/data/v9.2/asyncoperations({a})?$select=statecode,statuscode"),
    )
    response = await post_batch(em, body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert response.headers["odata-version"] == "4.0"
    first, changes, last = responses(response)
    assert first[0] == 200 and first[1]["Content-Type"].startswith("application/json")
    assert len(first[2]["value"]) == 1
    assert [(s, h["Content-ID"], h["OData-EntityId"]) for s, h, _ in changes] == [
        (204, "1", f"http://127.0.0.1:8080/api/data/v9.2/asyncoperations({a})"),
        (204, "2", f"http://127.0.0.1:8080/api/data/v9.2/asyncoperations({b})"),
    ]
    # A GET after the change set sees it committed.
    assert (last[2]["statecode"], last[2]["statuscode"]) == (3, 32)
    assert await state(em, a) == (3, 32) and await state(em, b) == (3, 32)


async def test_a_failing_change_set_rolls_back_every_part(emulated):
    em = emulated
    a, b = await ready_jobs(em, 2)
    before = (await em.get(f"asyncoperations({a})?$select=statecode,modifiedon")).json()
    body = batch(change_set(
        "changeset_2",
        http_part(f"PATCH asyncoperations({a})", {"statecode": 3, "statuscode": 32}, "1", If_Match="*"),
        # Resuming a Ready job is a refused transition: the whole change set goes.
        http_part(f"PATCH asyncoperations({b})", {"statecode": 0, "statuscode": 0, "name": "x"}, "2", If_Match="*"),
    ))
    response = await post_batch(em, body)
    assert response.status_code == 400
    [(status, headers, error)] = responses(response)
    assert status == 400 and headers["Content-ID"] == "2"
    assert error["error"]["code"].startswith("0x8")
    after = (await em.get(f"asyncoperations({a})?$select=statecode,modifiedon")).json()
    assert after == before
    assert [h["reason"] for h in (await em.get(f"http://127.0.0.1:8080/_emulator/v1/jobs/{a}/history")).json()["value"]][-1] != "cancel"


async def test_without_continue_on_error_the_batch_stops_at_the_first_failure(emulated):
    em = emulated
    [a] = await ready_jobs(em, 1)
    body = batch(
        http_part("GET asyncoperations?$select=nope"),
        http_part(f"PATCH asyncoperations({a})", {"statecode": 3, "statuscode": 32}, If_Match="*"),
    )
    response = await post_batch(em, body)
    assert response.status_code == 400
    [(status, _, error)] = responses(response)
    assert status == 400
    assert error == {"error": {"code": "0x80060888",
                               "message": "Could not find a property named 'nope' on type 'Microsoft.Dynamics.CRM.asyncoperation'."}}
    assert await state(em, a) == (0, 0)  # the PATCH after the failure never ran


async def test_continue_on_error_runs_every_part(emulated):
    em = emulated
    a, b = await ready_jobs(em, 2)
    body = batch(
        http_part("GET asyncoperations(00000000-0000-0000-0000-000000000042)"),
        change_set("changeset_3",
                   http_part(f"PATCH asyncoperations({a})", {"statecode": 3, "statuscode": 32}, "1", If_Match="*"),
                   http_part(f"PATCH asyncoperations({a})", {"name": "not updatable"}, "2", If_Match="*")),
        http_part(f"PATCH asyncoperations({b})", {"statecode": 3, "statuscode": 32}, If_Match="*"),
        http_part("GET asyncoperations/$count"),
    )
    response = await post_batch(em, body, Prefer="odata.continue-on-error")
    assert response.status_code == 200
    missing, failed_set, patched, counted = responses(response)
    assert missing[0] == 404 and missing[2]["error"]["code"] == "0x80040217"
    assert failed_set[0] == 400 and failed_set[1]["Content-ID"] == "2"
    assert patched[0] == 204
    assert counted[0] == 200 and counted[2] == 426
    assert await state(em, a) == (0, 0)  # its change set failed as a whole
    assert await state(em, b) == (3, 32)


async def test_content_id_references(emulated):
    em = emulated
    [a] = await ready_jobs(em, 1)
    body = batch(change_set(
        "changeset_4",
        http_part(f"PATCH asyncoperations({a})", {"postponeuntil": "2099-01-01T00:00:00Z"}, "1", If_Match="*"),
        http_part("PATCH $1", {"statecode": 3, "statuscode": 32}, "2", If_Match="*"),
    ))
    response = await post_batch(em, body)
    assert response.status_code == 200, response.text
    assert await state(em, a) == (3, 32)
    history = (await em.get(f"http://127.0.0.1:8080/_emulator/v1/jobs/{a}/history")).json()["value"]
    assert [h["reason"] for h in history][-2:] == ["postpone", "cancel"]


async def test_a_content_id_comes_back_as_it_was_sent(emulated):
    """Read as HTTP's header bytes (UTF-8, a folded line unfolded), echoed in UTF-8; an RFC 2047
    encoded word is mail's, not HTTP's, and stays as it is."""
    sent = ["1", "✓ été", "a\r\n b", "=?utf-8?q?caf=C3=A9?="]
    response = await post_batch(emulated, batch(*(http_part("GET WhoAmI", content_id=c) for c in sent)))
    assert response.status_code == 200
    head = [part.split(b"\r\n\r\n", 1)[0] for part in response.content.split(b"--batchresponse_")[1:-1]]
    assert [line for h in head for line in h.split(b"\r\n") if line.startswith(b"Content-ID")] == [
        b"Content-ID: 1", "Content-ID: ✓ été".encode(), b"Content-ID: a b", b"Content-ID: =?utf-8?q?caf=C3=A9?="]


async def test_parts_inherit_the_caller(emulated):
    alex = "727480ae-0fb7-4d66-99dd-87950c4be1ae"
    response = await post_batch(emulated, batch(http_part("GET WhoAmI")), MSCRMCallerID=alex)
    [(status, _, body)] = responses(response)
    assert status == 200 and body["UserId"] == alex


@pytest.mark.parametrize("content_type, body, status, code", [
    ("application/json", b"{}", 400, "0x80048d19"),
    ("multipart/mixed", b"--x\r\n", 400, "0x80048d19"),
    (f"multipart/mixed; boundary={BOUNDARY}", b"", 400, "0x80048d19"),
    (f"multipart/mixed; boundary={BOUNDARY}", batch("Content-Type: text/plain\r\n\r\nhello\r\n"), 400, "0x80048d19"),
    (f"multipart/mixed; boundary={BOUNDARY}", batch("Content-Type: application/http\r\n\r\nNOT A REQUEST\r\n"), 400,
     "0x80048d19"),
    (f"multipart/mixed; boundary={BOUNDARY}", batch(change_set("cs", http_part("GET asyncoperations"))), 400,
     "0x80048d19"),
    (f"multipart/mixed; boundary={BOUNDARY}", batch(*[http_part("GET WhoAmI")] * 1001), 400, "0x80048d19"),
])
async def test_malformed_batches_answer_400(emulated, content_type, body, status, code):
    response = await emulated.request("POST", "$batch", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_only_post(emulated):
    response = await emulated.get("$batch")
    assert response.status_code == 405


async def test_bare_line_feeds_are_read_too(emulated):
    # Dataverse wants CRLF; hand-typed bodies (Postman's editor) often have LF only. See docs/deviations.md.
    body = batch(http_part("GET asyncoperations/$count")).replace(b"\r\n", b"\n")
    response = await emulated.request("POST", "$batch", content=body,
                                      headers={"Content-Type": f"multipart/mixed; boundary={BOUNDARY}"})
    assert response.status_code == 200
    [(status, _, count)] = responses(response)
    assert (status, count) == (200, 426)


# ---------------------------------------------------------------------------------- what a part may target


def outside(target: str) -> dict:
    return {"error": {"code": "0x80060888", "message": f"The request URL '{target}' is not a Web API request: "
                                                       "a $batch part must target the service root /api/data/v9.2/."}}


NESTED = {"error": {"code": "0x80048d19", "message": "A $batch request cannot contain another $batch request."}}
INNER = "batch_inner"


def nested_batch_part(target: str, *parts: str, content_id: str | None = None) -> str:
    """A part whose request is itself a `$batch` (with its own boundary) holding `parts`."""
    inner = "".join(f"--{INNER}\r\n{p}" for p in parts) + f"--{INNER}--\r\n"
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id is not None:
        head += f"Content-ID: {content_id}\r\n"
    return (head + f"\r\nPOST {target} HTTP/1.1\r\nContent-Type: multipart/mixed; boundary={INNER}\r\n\r\n"
            + inner + "\r\n")


async def _store_state(em, *jobs: str):
    count = (await em.get("asyncoperations/$count")).json()
    return count, [await state(em, job) for job in jobs], em.emulator.clock.now()


CONTROL_TARGETS = [
    ("POST", "/_emulator/v1/reset", None),
    ("POST", "http://127.0.0.1:8080/_emulator/v1/reset", None),
    ("POST", "/%5Femulator/v1/reset", None),
    ("POST", "/_emulator/v1/jobs", [{"name": "Sneaked in"}]),
    ("POST", "/_emulator/v1/clock", {"advance": "PT1H"}),
    ("DELETE", "/api/data/v9.2/../../_emulator/v1/reset", None),
]


@pytest.mark.parametrize("method, target, body", CONTROL_TARGETS + [
    ("GET", "/", None),
    ("GET", "/_emulator/v1/clock", None),
    ("GET", "http://127.0.0.1:8080/_emulator/v1/health", None),
    ("GET", "/api/data/v9.2x/asyncoperations", None),
])
async def test_a_part_outside_the_web_api_is_refused(emulated, method, target, body):
    em = emulated
    [a] = await ready_jobs(em, 1)
    cancelled = await em.request("PATCH", f"asyncoperations({a})", json={"statecode": 3, "statuscode": 32},
                                 headers={"If-Match": "*"})
    assert cancelled.status_code == 204
    before = await _store_state(em, a)
    response = await post_batch(em, batch(http_part(f"{method} {target}", body, "7")))
    assert response.status_code == 400
    [(status, headers, error)] = responses(response)
    assert (status, headers["Content-ID"], error) == (400, "7", outside(target))
    assert headers["REQ_ID"]
    # Nothing ran: a reset would have made the cancelled job Ready again, a job or an hour been added.
    assert await _store_state(em, a) == before == ((before[0]), [(3, 32)], before[2])


@pytest.mark.parametrize("method, target, body", CONTROL_TARGETS)
async def test_a_change_set_part_outside_the_web_api_rolls_the_change_set_back(emulated, method, target, body):
    em = emulated
    a, b = await ready_jobs(em, 2)
    before = await _store_state(em, a, b)
    body = batch(change_set(
        "changeset_out",
        http_part(f"PATCH asyncoperations({a})", {"statecode": 3, "statuscode": 32}, "1", If_Match="*"),
        http_part(f"{method} {target}", body, "2"),
        http_part(f"PATCH asyncoperations({b})", {"statecode": 3, "statuscode": 32}, "3", If_Match="*"),
    ))
    response = await post_batch(em, body, Prefer="odata.continue-on-error")
    assert response.status_code == 200
    [(status, headers, error)] = responses(response)
    assert (status, headers["Content-ID"], error) == (400, "2", outside(target))
    assert await _store_state(em, a, b) == before


@pytest.mark.parametrize("target", ["$batch", "/api/data/v9.2/$batch", "http://127.0.0.1:8080/api/data/v9.2/$batch"])
async def test_a_batch_inside_a_batch_is_refused(emulated, target):
    em = emulated
    a, b = await ready_jobs(em, 2)
    before = await _store_state(em, a, b)
    body = batch(
        nested_batch_part(target, change_set(
            "changeset_in", http_part(f"PATCH asyncoperations({a})", {"statecode": 3, "statuscode": 32}, "1",
                                      If_Match="*")), content_id="9"),
        http_part(f"PATCH asyncoperations({b})", {"statecode": 3, "statuscode": 32}, If_Match="*"),
    )
    response = await asyncio.wait_for(post_batch(em, body), 10)
    assert response.status_code == 400
    [(status, headers, error)] = responses(response)
    assert (status, headers["Content-ID"], error) == (400, "9", NESTED)
    assert await _store_state(em, a, b) == before  # neither the inner PATCH nor the part after it ran


@pytest.mark.parametrize("target", ["$batch", "/api/data/v9.2/$batch"])
async def test_a_batch_inside_a_change_set_is_refused_at_once(emulated, target):
    # It used to open a second write transaction while the change set held SQLite's write lock:
    # 30 s of busy_timeout for every writer, then a 500.
    em = emulated
    a, b = await ready_jobs(em, 2)
    before = await _store_state(em, a, b)
    body = batch(change_set(
        "changeset_outer",
        http_part(f"PATCH asyncoperations({a})", {"statecode": 3, "statuscode": 32}, "1", If_Match="*"),
        nested_batch_part(target, change_set(
            "changeset_in", http_part(f"PATCH asyncoperations({b})", {"statecode": 3, "statuscode": 32}, "1",
                                      If_Match="*")), content_id="2"),
    ))
    response = await asyncio.wait_for(post_batch(em, body), 10)
    assert response.status_code == 400
    [(status, headers, error)] = responses(response)
    assert (status, headers["Content-ID"], error) == (400, "2", NESTED)
    assert await _store_state(em, a, b) == before
    # The write lock is free again: a plain write goes through at once.
    patched = await asyncio.wait_for(em.request("PATCH", f"asyncoperations({b})", json={"statecode": 3, "statuscode": 32},
                                                headers={"If-Match": "*"}), 10)
    assert patched.status_code == 204


async def test_an_atomic_block_inside_another_joins_it(emulated):
    """Nothing run inside a change set waits on a second write connection: a nested `Store.atomic()`
    is a savepoint of the change set's own transaction."""
    em = emulated
    store, jobs = em.emulator.store, METADATA.tables["asyncoperation"]
    a, b = await ready_jobs(em, 2)

    def rename(job: str, name: str):
        return update(jobs).where(jobs.c.asyncoperationid == job).values(name=name)

    async def change_set_with_nested_blocks():
        async with store.atomic() as outer:
            await outer.execute(rename(a, "outer"))
            with pytest.raises(RuntimeError):
                async with store.atomic() as inner:
                    await inner.execute(rename(b, "rolled back"))
                    raise RuntimeError("roll the inner block back")
            async with store.atomic() as inner:
                await inner.execute(rename(b, "joined"))
            async with store.write() as conn:
                assert conn is outer

    await asyncio.wait_for(change_set_with_nested_blocks(), 10)
    async with store.read() as conn:
        names = dict((await conn.execute(select(jobs.c.asyncoperationid, jobs.c.name)
                                         .where(jobs.c.asyncoperationid.in_([a, b])))).all())
    assert names == {a: "outer", b: "joined"}
