"""`$batch` as Dataverse takes it: multipart/mixed, change sets all-or-nothing, Content-ID
references, continue-on-error, GETs outside change sets, and per-part Dataverse errors."""

from __future__ import annotations

import email
import email.policy
import json

import pytest

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
