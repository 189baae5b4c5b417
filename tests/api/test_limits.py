"""Oversized inputs and the limits that refuse them (issue 11, items 4 and 5), end to end: each answers
the Dataverse-shaped error a client gets for any other value out of range, never a 500, and a refused
write changes nothing in the store (checked with the stdlib sqlite3 module on the store file).

- Whole numbers longer than Python's int() reads (4,300 digits) in `$filter`, `$top`, FetchXML and
  BulkDelete's QueryExpression.
- More sort keys, group keys, aggregates or columns than the emulator's caps (SQLite refuses more than
  2,000 columns in a statement).
- A PATCH of a number too wide for JSON's 64-bit integers.
- Request targets: Dataverse's 32 KB URL limit (64 KB inside `$batch`), and paths or query strings
  that are not UTF-8.
- An unexpected error answers the Dataverse-shaped 500 and leaves the keep-alive connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import logging
import socket
import sqlite3
import time
from urllib.parse import quote

import httpx
import orjson
import pytest
import uvicorn

from odata_emulator.api import documents, routes
from odata_emulator.api.app import create_app
from odata_emulator.cli import MAX_REQUEST_HEAD, server_options
from tests.helpers import BASE, BULK_DELETE_REQUEST, JSON_TYPE, assert_error, make_settings, raw_request

BIG = "9" * 5000  # past int()'s 4,300 digits
INT32_OVERFLOW = "Exception raised: Value was either too large or too small for an Int32."
URL_TOO_LONG = ("HTTP Error 414. The request URL is too long: a URL is limited to 32,768 characters. Send a longer "
                "query as a GET request inside a $batch request, where the limit is 65,536 characters.")
BATCH_URL_TOO_LONG = ("HTTP Error 414. The request URL is too long: a URL inside a $batch request is limited to "
                      "65,536 characters.")
UNEXPECTED = {"error": {"code": "0x80040216", "message": "An unexpected error occurred: RuntimeError"}}


def store_state(path) -> tuple:
    with sqlite3.connect(path) as conn:
        jobs = conn.execute("SELECT asyncoperationid, statecode, statuscode, versionnumber, modifiedon "
                            "FROM asyncoperation ORDER BY asyncoperationid").fetchall()
        operations = conn.execute("SELECT count(*) FROM bulkdeleteoperation").fetchall()
        history = conn.execute("SELECT count(*) FROM emulator_job_history").fetchall()
    return jobs, operations, history


def fetch(inner: str, **attributes: str) -> str:
    head = "".join(f' {k}="{v}"' for k, v in attributes.items())
    return f'<fetch{head}><entity name="asyncoperation">{inner}</entity></fetch>'


async def get_fetch(em, xml: str):
    return await em.get(f"asyncoperations?fetchXml={quote(xml, safe='')}")


def bulk_delete(**query_changes) -> dict:
    body = copy.deepcopy(BULK_DELETE_REQUEST)
    body["QuerySet"][0].update(query_changes)
    return body


def condition(value) -> dict:
    return {"FilterOperator": "And",
            "Conditions": [{"AttributeName": "statecode", "Operator": "Equal", "Values": [value]}]}


# ------------------------------------------------------------------------------ whole numbers past int()


async def test_whole_numbers_past_the_int_digit_limit_in_query_options(emulated):
    """Refused as a number just out of range is (`...eq 99999999999999999999`), with the text as written."""
    cases = [
        (f"asyncoperations?$filter=retrycount eq {BIG}", "0x80060888",
         f"Unrecognized 'Edm.Int64' literal '{BIG}' at '14' in 'retrycount eq {BIG}'."),
        (f"asyncoperations?$filter=retrycount eq -{BIG}", "0x80060888",
         f"Unrecognized 'Edm.Int64' literal '-{BIG}' at '14' in 'retrycount eq -{BIG}'."),
        (f"asyncoperations?$filter=Microsoft.Dynamics.CRM.In(PropertyName='statecode',PropertyValues=[{BIG}])",
         "0x80060888", (f"The value '{BIG}' in PropertyValues of function 'In' is not valid for 'statecode' of "
                       f"type Edm.Int32.")),
        (f"asyncoperations?$filter=Microsoft.Dynamics.CRM.In(PropertyName='statecode',PropertyValues=['{BIG}'])",
         "0x80060888", (f"The value '{BIG}' in PropertyValues of function 'In' is not valid for 'statecode' of "
                       f"type Edm.Int32.")),
        ((f"asyncoperations?$filter=Microsoft.Dynamics.CRM.LastXHours(PropertyName='createdon',"
         f"PropertyValue='{BIG}')"), "0x80060888",
         "The parameter 'PropertyValue' of function 'LastXHours' is out of range."),
        (f"asyncoperations?$top={BIG}", "0x80060888",
         (f"Invalid value '{BIG}' for $top query option found. The $top query option requires a non-negative "
         f"integer value.")),
        (f"systemusers?$expand=system_user_asyncoperation($top={BIG})", "0x80060888",
         (f"Invalid value '{BIG}' for $top query option found. The $top query option requires a non-negative "
         f"integer value.")),
    ]
    for url, code, message in cases:
        assert_error(await emulated.get(url), 400, code, message)
    # The emulator is still serving, and ordinary numbers still read.
    body = (await emulated.get("asyncoperations?$filter=retrycount eq 0&$top=1&$select=retrycount")).json()
    assert body["value"][0]["retrycount"] == 0


async def test_whole_numbers_past_the_int_digit_limit_in_fetchxml(emulated):
    def overflow(column: str) -> str:
        return (f"An exception System.OverflowException was thrown while trying to convert input value '{BIG}' to "
                f"attribute 'asyncoperation.{column}'. Expected type of attribute value: System.Int32. "
                f"{INT32_OVERFLOW}")

    cases = [
        (fetch(f'<filter><condition attribute="statecode" operator="eq" value="{BIG}"/></filter>'), "0x80040203",
         overflow("statecode")),
        (fetch(f'<filter><condition attribute="retrycount" operator="in"><value>1</value><value>{BIG}</value>'
               f'</condition></filter>'), "0x80040203", overflow("retrycount")),
        (fetch(f'<filter><condition attribute="createdon" operator="last-x-hours" value="{BIG}"/></filter>'),
         "0x80041108", f"The condition operator 'LastXHours' takes a whole number of at least 0, not '{BIG}'."),
        (fetch("", top=BIG), "0x80041108",
         f"The 'top' attribute of 'fetch' must be a whole number of at least 1, not '{BIG}'."),
    ]
    for xml, code, message in cases:
        assert_error(await get_fetch(emulated, xml), 400, code, message)


async def test_a_page_size_past_the_int_digit_limit_is_capped_like_any_large_one(emulated):
    """`Prefer: odata.maxpagesize=<5,000 digits>` answered 500 (int() refused it); it is the largest page."""
    for value in (BIG, "0" * 5000 + "2"):
        response = await emulated.get("asyncoperations?$select=name", headers={"Prefer": f"odata.maxpagesize={value}"})
        assert response.status_code == 200, response.text
        size = "5000" if value == BIG else "2"
        assert response.headers["preference-applied"] == f"odata.maxpagesize={size}"
        assert len(response.json()["value"]) == min(int(size), 426)


@pytest.mark.parametrize("number", ["99999999999999999999", "-99999999999999999999", "1" + "0" * 4000])
async def test_a_bulk_delete_value_wider_than_64_bits_is_echoed_as_written(file_store, number):
    """orjson reads such a number as a float, and the message echoed it as '1e+20'."""
    em, path = file_store
    before = store_state(path)
    body = orjson.dumps(bulk_delete(Criteria=condition({"Value": 0, "Type": "System.Int32"}))).replace(
        b'"Value":0', b'"Value":' + number.encode())
    response = await em.request("POST", "BulkDelete", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "0x80048d19", f"Cannot convert the literal '{number}' to the expected type "
                                              f"'System.Int32' (a value of the condition on 'statecode').")
    # Past the digits int() reads, the body is refused as a whole.
    body = body.replace(number.encode(), b"9" * 5000)
    response = await em.request("POST", "BulkDelete", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "0x80048d19", "Error identified in Payload provided by the user: a number in the "
                                              "body has more digits than any type takes.")
    assert store_state(path) == before


async def test_control_api_numbers_wider_than_64_bits_are_read_exactly(file_store):
    """A job column past 1e308 answered 500 (float() overflowed); one past 64 bits was read as a float."""
    em, path = file_store
    before = store_state(path)
    cases = [
        (b'{"executiontimespan": 1' + b"0" * 400 + b"}", "job 0: 'executiontimespan': the number is out of range."),
        (b'{"sequence": 99999999999999999999}', "job 0: 'sequence' must be between -9.22337e+18 and 9.22337e+18."),
        (b'[{"name": "a"}, {"simulation": {"duration": 1' + b"0" * 400 + b"}}]",
         ("simulation.duration must be a number of seconds from 0 to 31622400 (a year); a run that never ends is "
         "outcome 'hang'.")),
    ]
    for body, message in cases:
        response = await em.client.post(f"{BASE}/_emulator/v1/jobs", content=body)
        assert_error(response, 400, "0x80040203", message)
    assert store_state(path) == before


async def test_a_job_sequence_leaves_room_for_the_jobs_created_after_it(file_store):
    """A job given `sequence` 2**63 - 1 was accepted, and every job created after it answered 500
    (its number, one more, does not fit SQLite's INTEGER)."""
    em, path = file_store
    before = store_state(path)
    response = await em.client.post(f"{BASE}/_emulator/v1/jobs", json={"sequence": 2 ** 63 - 1})
    assert_error(response, 400, "0x80040203", "job 0: 'sequence' must be at most 4,611,686,018,427,387,904: the "
                                              "jobs created after it are numbered after it.")
    assert store_state(path) == before
    for body in ({"sequence": 2 ** 62}, {"name": "after it"}):
        response = await em.client.post(f"{BASE}/_emulator/v1/jobs", json=body)
        assert response.status_code == 201, response.text
    job = response.json()["value"][0]["asyncoperationid"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT sequence FROM asyncoperation WHERE asyncoperationid = ?", (job,)).fetchone() == \
            (2 ** 62 + 1,)


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00"])
async def test_a_date_that_leaves_the_calendar_in_utc_is_refused(file_store, moment):
    """Valid ISO 8601, but past year 9999 (or before year 1) once in UTC: answered 500 (OverflowError)
    in a PATCH, a BulkDelete and the control API."""
    em, path = file_store
    job = (await em.get("asyncoperations?$select=name&$filter=statecode eq 1&$top=1")).json()["value"][0]
    before = store_state(path)
    literal = f"Cannot convert the literal '{moment}' to the expected type 'Edm.DateTimeOffset'."
    response = await em.request("PATCH", f"asyncoperations({job['asyncoperationid']})", json={"postponeuntil": moment})
    assert_error(response, 400, "0x80048d19", literal)
    body = {**copy.deepcopy(BULK_DELETE_REQUEST), "StartDateTime": moment}
    response = await em.request("POST", "BulkDelete", json=body)
    assert_error(response, 400, "0x80048d19", literal)
    response = await em.client.post(f"{BASE}/_emulator/v1/jobs", json={"postponeuntil": moment})
    assert_error(response, 400, "0x80040203", "job 0: 'postponeuntil': date value out of range.")
    assert store_state(path) == before


@pytest.mark.parametrize("value, code, message", [
    ({"Value": BIG, "Type": "System.Int32"}, "0x80048d19",
     (f"Cannot convert the literal '{BIG}' to the expected type 'System.Int32' (a value of the condition on "
     f"'statecode').")),
    (BIG, "0x80040203",
     (f"An exception System.OverflowException was thrown while trying to convert input value '{BIG}' to attribute "
     f"'asyncoperation.statecode'. Expected type of attribute value: System.Int32. {INT32_OVERFLOW}")),
])
async def test_whole_numbers_past_the_int_digit_limit_in_a_bulk_delete(file_store, value, code, message):
    em, path = file_store
    before = store_state(path)
    response = await em.request("POST", "BulkDelete", json=bulk_delete(Criteria=condition(value)))
    assert_error(response, 400, code, message)
    assert store_state(path) == before


# ------------------------------------------------------------------------------ sort, group and column caps


@pytest.mark.slow  # over a second: orderings of thousands of keys
async def test_sort_keys_are_capped_before_sqlite_refuses_the_statement(emulated):
    too_many = "The $orderby query option can include at most 100 properties."
    for terms in (101, 2100):
        assert_error(await emulated.get("asyncoperations?$orderby=" + ",".join(["name"] * terms)), 400, "0x80060888",
                     too_many)
    assert_error(await emulated.get("asyncoperations?$orderby=" + ",".join(["createdby/fullname"] * 1500)), 400,
                 "0x80060888", too_many)
    assert_error(await emulated.get("systemusers?$expand=system_user_asyncoperation($orderby="
                                    + ",".join(["name"] * 2100) + ")"), 400, "0x80060888", too_many)
    assert_error(await emulated.get("asyncoperations?$apply=groupby((statuscode))&$orderby="
                                    + ",".join(["statuscode"] * 2100)), 400, "0x80060888", too_many)
    # At the cap, every page answers, and quickly (a later page compares every key with the cookie).
    keys = ["name", "createdon desc", "statuscode", "createdby/fullname", "retrycount desc"] * 20
    started = time.perf_counter()
    first = await emulated.get("asyncoperations?$select=name&$orderby=" + ",".join(keys),
                               headers={"Prefer": "odata.maxpagesize=3"})
    assert first.status_code == 200, first.text
    second = await emulated.client.get(first.json()["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=3"})
    assert second.status_code == 200, second.text
    assert len(second.json()["value"]) == 3
    assert time.perf_counter() - started < 10


async def test_group_keys_and_aggregates_are_capped(emulated):
    assert_error(await emulated.get("asyncoperations?$apply=groupby((" + ",".join(["statuscode"] * 2100) + "))"),
                 400, "0x80060888", "The groupby transformation of $apply can include at most 100 properties.")
    aggregates = "The aggregate transformation of $apply can include at most 100 aggregations."
    many = ",".join(f"statuscode with max as m{i}" for i in range(101))
    assert_error(await emulated.get(f"asyncoperations?$apply=aggregate({many})"), 400, "0x80060888", aggregates)
    assert_error(await emulated.get(f"asyncoperations?$apply=groupby((statecode),aggregate({many}))"), 400,
                 "0x80060888", aggregates)
    # At the cap: answered.
    hundred = ",".join(f"statuscode with max as m{i}" for i in range(100))
    response = await emulated.get(f"asyncoperations?$apply=aggregate({hundred})")
    assert response.status_code == 200, response.text
    assert len(response.json()["value"][0]) == 100
    # $select repeats name one column, however often.
    response = await emulated.get("asyncoperations?$select=" + ",".join(["name", "statuscode"] * 1000) + "&$top=1")
    assert response.status_code == 200, response.text
    assert sorted(response.json()["value"][0]) == ["@odata.etag", "asyncoperationid", "name", "statuscode"]


async def test_fetchxml_orders_groups_aggregates_and_columns_are_capped(emulated):
    cases = [
        (fetch('<attribute name="name"/>' + '<order attribute="name"/>' * 101), "0x80040203",
         "The query can include at most 100 orders (order elements or OrderExpressions)."),
        (fetch('<attribute name="name"/><order attribute="name"/>'
               '<link-entity name="systemuser" from="systemuserid" to="createdby">'
               + '<order attribute="fullname"/>' * 100 + "</link-entity>"), "0x80040203",
         "The query can include at most 100 orders (order elements or OrderExpressions)."),
        (fetch("".join(f'<attribute name="statuscode" alias="g{i}" groupby="true"/>' for i in range(101)),
               aggregate="true"), "0x80040203",
         "An aggregate query can include at most 100 attributes with groupby='true'."),
        (fetch("".join(f'<attribute name="statuscode" alias="a{i}" aggregate="max"/>' for i in range(101)),
               aggregate="true"), "0x80040203",
         "An aggregate query can include at most 100 attributes with aggregate='...'."),
        (fetch("".join(f'<attribute name="name" alias="c{i}"/>' for i in range(501))), "0x80040203",
         ("The query can return at most 500 columns (attribute elements, all-attributes and link-entity columns "
         "together).")),
    ]
    for xml, code, message in cases:
        assert_error(await get_fetch(emulated, xml), 400, code, message)
    # At the caps: answered.
    response = await get_fetch(emulated, fetch('<attribute name="name"/>' + '<order attribute="name"/>' * 100))
    assert response.status_code == 200, response.text
    grouped = fetch("".join(f'<attribute name="statuscode" alias="g{i}" groupby="true"/>' for i in range(100)),
                    aggregate="true")
    assert (await get_fetch(emulated, grouped)).status_code == 200


async def test_thousands_of_orders_in_a_bulk_delete_query_are_refused(file_store):
    em, path = file_store
    before = store_state(path)
    orders = [{"AttributeName": "name", "OrderType": "Ascending"}] * 2000
    response = await em.request("POST", "BulkDelete", json=bulk_delete(Orders=orders))
    assert_error(response, 400, "0x80040203",
                 "The query can include at most 100 orders (order elements or OrderExpressions).")
    assert store_state(path) == before


# ------------------------------------------------------------------------------ PATCH with a number JSON can't hold


async def test_patch_with_a_statecode_wider_than_64_bits_is_not_echoed_mangled(file_store):
    em, path = file_store
    job = (await em.get("asyncoperations?$select=name&$filter=statecode eq 1&$top=1")).json()["value"][0]
    before = store_state(path)
    response = await em.request("PATCH", f"asyncoperations({job['asyncoperationid']})",
                                content=b'{"statecode": 99999999999999999999}',
                                headers={"Content-Type": "application/json"})
    assert_error(response, 400, "0x80048d19",
                 "Cannot convert the literal '99999999999999999999' to the expected type 'Edm.Int32'.")
    assert "1e+20" not in response.text
    # Written with an exponent, it is not echoed in Python's spelling.
    response = await em.request("PATCH", f"asyncoperations({job['asyncoperationid']})", content=b'{"statecode": 1e20}',
                                headers={"Content-Type": "application/json"})
    assert_error(response, 400, "0x80048d19",
                 "Cannot convert the number given for 'statecode' to the expected type 'Edm.Int32'.")
    # A number that fits is still echoed as written.
    response = await em.request("PATCH", f"asyncoperations({job['asyncoperationid']})", content=b'{"statecode": 1.5}',
                                headers={"Content-Type": "application/json"})
    assert_error(response, 400, "0x80048d19", "Cannot convert the literal '1.5' to the expected type 'Edm.Int32'.")
    assert store_state(path) == before


# ------------------------------------------------------------------------------ request targets


def padded_filter(total: int) -> bytes:
    """A query string that makes the target `/api/data/v9.2/asyncoperations?<query>` exactly `total` long."""
    head = b"$select=name&$filter=name%20eq%20'"
    path_length = len(b"/api/data/v9.2/asyncoperations?")
    return head + b"x" * (total - path_length - len(head) - 1) + b"'"


async def test_a_url_past_32_kb_is_refused_with_414(emulated):
    path = b"/api/data/v9.2/asyncoperations"
    status, headers, body = await raw_request(emulated.app, path, padded_filter(32_768))
    assert status == 200, body[:300]
    status, headers, body = await raw_request(emulated.app, path, padded_filter(32_769))
    assert status == 414
    assert headers["content-type"] == JSON_TYPE and headers["odata-version"] == "4.0"
    assert body == b'{"error":{"code":"","message":"' + URL_TOO_LONG.encode() + b'"}}'
    # Any method, any route, a long path as well as a long query string.
    status, _, body = await raw_request(emulated.app, b"/api/data/v9.2/" + b"a" * 33_000, method="DELETE")
    assert status == 414 and URL_TOO_LONG.encode() in body
    status, _, _ = await raw_request(emulated.app, b"/_emulator/v1/health", b"x=" + b"y" * 33_000)
    assert status == 414


BOUNDARY = "batch_limits"


def batch_of(*request_lines: str) -> bytes:
    parts = "".join(f"--{BOUNDARY}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                    f"{line} HTTP/1.1\r\nAccept: application/json\r\n\r\n" for line in request_lines)
    return (parts + f"--{BOUNDARY}--\r\n").encode()


async def post_batch(em, body: bytes):
    return await em.request("POST", "$batch", content=body,
                            headers={"Content-Type": f"multipart/mixed; boundary={BOUNDARY}",
                                     "Prefer": "odata.continue-on-error"})


async def test_inside_batch_a_url_may_be_64_kb(emulated):
    long_filter = "asyncoperations?$select=name&$filter=name%20eq%20'" + "x" * 40_000 + "'"
    past_64kb = "asyncoperations?$select=name&$filter=name%20eq%20'" + "x" * 66_000 + "'"
    too_long_token = "asyncoperations?$select=name&$skiptoken=" + "x" * 40_000
    response = await post_batch(emulated, batch_of(f"GET {long_filter}", f"GET {past_64kb}", f"GET {too_long_token}"))
    assert response.status_code == 200, response.text
    text = response.text
    assert text.count("HTTP/1.1 200 OK") == 1  # the 40 KB URL answered
    assert "HTTP/1.1 414 Request-URI Too Long" in text or "HTTP/1.1 414 URI Too Long" in text
    assert '{"error":{"code":"","message":"' + BATCH_URL_TOO_LONG + '"}}' in text
    # The skiptoken's own bound answers once the URL is in.
    assert '"message":"The $skiptoken value is too long."' in text


async def test_a_target_that_is_not_utf8_is_a_dataverse_400(emulated):
    api = b"/api/data/v9.2/asyncoperations"
    cases = [
        (api + b"\xff", b"", "0x80060888", "The request path is not valid UTF-8 after URL decoding."),
        (api + b"%FF", b"", "0x80060888", "The request path is not valid UTF-8 after URL decoding."),
        (b"/api/data/v9.2/asyncoperations(%C3%28)", b"", "0x80060888",
         "The request path is not valid UTF-8 after URL decoding."),
        (api, b"$filter=name eq '\xff'", "0x80060888", "The query string is not valid UTF-8."),
        (api, b"\xc3\x28=1", "0x80060888", "The query string is not valid UTF-8."),
        (b"/_emulator/v1/health", b"\xff", "0x80060888", "The query string is not valid UTF-8."),
    ]
    for path, query, code, message in cases:
        status, headers, body = await raw_request(emulated.app, path, query)
        assert status == 400, (path, query, body)
        assert headers["content-type"] == JSON_TYPE
        assert body == ('{"error":{"code":"' + code + '","message":"' + message + '"}}').encode()


# ------------------------------------------------------------------------------ a real server


@contextlib.asynccontextmanager
async def serving(app):
    """The app on a real uvicorn (with the settings `odata-emulator serve` uses), on a free port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", **server_options())
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def local_port(response: httpx.Response) -> int:
    """The client's port of the connection a response came on: the same port, the same connection."""
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def with_endpoint(endpoint, replacement) -> tuple:
    """The Web API's route table with `endpoint` replaced."""
    return tuple(dataclasses.replace(r, endpoint=replacement) if r.endpoint is endpoint else r for r in routes.ROUTES)


@pytest.mark.slow  # a real uvicorn server
async def test_an_unexpected_error_answers_500_and_keeps_the_connection(monkeypatch, caplog):
    def boom(call):
        raise RuntimeError("boom")

    monkeypatch.setattr(routes, "ROUTES", with_endpoint(documents.who_am_i, boom))
    app = create_app(make_settings())
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        first = await client.get("/api/data/v9.2/asyncoperations?$select=name&$top=1")
        assert first.status_code == 200
        with caplog.at_level(logging.ERROR, logger="odata_emulator"):
            failed = await client.get("/api/data/v9.2/WhoAmI")
        assert failed.status_code == 500
        assert failed.headers["content-type"] == JSON_TYPE and failed.headers["odata-version"] == "4.0"
        assert failed.json() == UNEXPECTED
        assert failed.headers.get("connection", "").lower() != "close"
        # Logged with the traceback.
        logged = [r for r in caplog.records if r.name == "odata_emulator" and r.exc_info]
        assert logged and isinstance(logged[-1].exc_info[1], RuntimeError)
        after = await client.get("/api/data/v9.2/asyncoperations?$select=name&$top=1")
        assert after.status_code == 200
        # One connection throughout: the 500 did not close it.
        assert local_port(first) == local_port(failed) == local_port(after)


async def test_an_unexpected_error_in_a_batch_part_answers_that_part(emulated, monkeypatch):
    def boom(call):
        raise RuntimeError("boom")

    monkeypatch.setattr(routes, "ROUTES", with_endpoint(documents.who_am_i, boom))
    response = await post_batch(emulated, batch_of("GET WhoAmI", "GET asyncoperations?$select=name&$top=1"))
    assert response.status_code == 200, response.text
    text = response.text
    assert "HTTP/1.1 500 Internal Server Error" in text
    assert '{"error":{"code":"0x80040216","message":"An unexpected error occurred: RuntimeError"}}' in text
    assert "HTTP/1.1 200 OK" in text


@pytest.mark.slow  # a real uvicorn server
async def test_a_real_server_answers_long_urls_in_dataverse_shape():
    app = create_app(make_settings())
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        # Between uvicorn's default head size (16 KB) and Dataverse's limit: answered.
        url = "/api/data/v9.2/asyncoperations?$select=name&$filter=name eq '" + "x" * 30_000 + "'"
        response = await client.get(url)
        assert response.status_code == 200, response.text[:300]
        # Past Dataverse's limit: the application's 414.
        response = await client.get("/api/data/v9.2/asyncoperations?$filter=name eq '" + "x" * 32_800 + "'")
        assert_error(response, 414, "", URL_TOO_LONG)
        # A target of about 1 MB too (longer than an HTTP client library sends: written on the socket).
        port = int(base.rsplit(":", 1)[1])
        target = b"/api/data/v9.2/asyncoperations?$filter=" + b"x" * 1_000_000
        head, body = await asyncio.to_thread(_raw_http, port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 414 ") and b"content-type: " + JSON_TYPE.encode() in head.lower()
        assert body == b'{"error":{"code":"","message":"' + URL_TOO_LONG.encode() + b'"}}'
        # Still serving.
        assert (await client.get("/_emulator/v1/health")).status_code == 200

    # Past the server's head size, and raw bytes that are not a valid request line, are refused by
    # the server itself (a plain-text 400) before the application sees them; it keeps serving.
    async with serving(create_app(make_settings())) as base:
        port = int(base.rsplit(":", 1)[1])
        for target in (b"/api/data/v9.2/asyncoperations?$filter=" + b"x" * (2 * MAX_REQUEST_HEAD),
                       b"/api/data/v9.2/asyncoperations?$filter=name%20eq%20'\xff'"):
            head, _ = await asyncio.to_thread(_raw_http, port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 "), head
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/_emulator/v1/health")).status_code == 200


def _raw_http(port: int, request: bytes) -> tuple[bytes, bytes]:
    """One request written on a socket as given: (the response head, its body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass  # the server may answer and close before reading everything
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head, body
