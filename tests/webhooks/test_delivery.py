"""webhooks/: one delivery against a real receiver (uvicorn on a free port of 127.0.0.1)."""

from __future__ import annotations

import json

import pytest

from odata_emulator.webhooks import MAX_PAYLOAD, Endpoint, WebhookError, deliver, prepare_body, request_auth
from odata_emulator.webhooks.endpoint import BadAuthValue
from tests.webhooks.receiver import Receiver, free_port

# A real server: a receiver (uvicorn) on a port of 127.0.0.1 (the fast loop leaves real servers out).
pytestmark = pytest.mark.slow

CONTEXT = {"BusinessUnitId": "e2b9dd85-e89e-e711-8122-000d3aa2331c", "MessageName": "Create",
           "PrimaryEntityName": "contact", "InputParameters": [{"key": "Target", "value": {}}],
           "ParentContext": None, "PreEntityImages": [], "PostEntityImages": []}
HEADERS = {"entity_name": "contact", "request_name": "Create", "correlation_id": "b374239d-4233-41a9-8b17-a86cb4f737b5",
           "organization": "org.crm.dynamics.com"}


async def test_a_2xx_delivers_the_context_with_the_documented_headers():
    async with Receiver([202]) as receiver:
        done = await deliver(Endpoint(receiver.url), json.dumps(CONTEXT), **HEADERS)
    assert done.ok and done.attempts == 1 and done.status == 202 and done.errorcode is None
    [got] = receiver.requests
    assert got.method == "POST" and got.path == "/hook" and got.query == []
    assert got.json() == CONTEXT
    assert got.headers["content-type"] == "application/json"
    assert got.headers["x-ms-dynamics-organization"] == "org.crm.dynamics.com"
    assert got.headers["x-ms-dynamics-entity-name"] == "contact"
    assert got.headers["x-ms-dynamics-request-name"] == "Create"
    assert got.headers["x-ms-correlation-request-id"] == "b374239d-4233-41a9-8b17-a86cb4f737b5"
    assert len(got.headers["x-request-id"]) == 36
    assert "x-ms-dynamics-msg-size-exceeded" not in got.headers


async def test_webhook_key_is_sent_as_code_beside_the_urls_own_query():
    async with Receiver() as receiver:
        done = await deliver(Endpoint(receiver.url + "?tenant=a", 4, "s3cr3t"), CONTEXT, **HEADERS)
    assert done.ok
    assert receiver.requests[0].query == [("tenant", "a"), ("code", "s3cr3t")]


async def test_http_header_auth_sends_each_setting_as_a_header():
    value = '<settings><setting name="x-key" value="v1"/><setting name="x-other" value="two words"/></settings>'
    async with Receiver() as receiver:
        assert (await deliver(Endpoint(receiver.url, 5, value), CONTEXT, **HEADERS)).ok
    headers = receiver.requests[0].headers
    assert headers["x-key"] == "v1" and headers["x-other"] == "two words"


async def test_http_query_string_auth_sends_each_setting_as_a_parameter():
    value = '<settings><setting name="Key1" value="Value1"/><setting name="Key2" value="Value 2"/></settings>'
    async with Receiver() as receiver:
        assert (await deliver(Endpoint(receiver.url, 6, value), CONTEXT, **HEADERS)).ok
    assert receiver.requests[0].query == [("Key1", "Value1"), ("Key2", "Value 2")]


@pytest.mark.parametrize(("authtype", "value", "error"), [
    (5, "not xml", WebhookError.INVALID_HEADERS),
    (5, '<settings><setting name="bad name" value="v"/></settings>', WebhookError.INVALID_HEADERS),
    (5, "<other/>", WebhookError.INVALID_HEADERS),
    (5, None, WebhookError.INVALID_HEADERS),
    (6, "<settings><setting/></settings>", WebhookError.INVALID_QUERY),
    (6, '<!DOCTYPE x [<!ENTITY e "boom">]><settings><setting name="a" value="&e;"/></settings>',
     WebhookError.INVALID_QUERY),
    (4, None, WebhookError.INVALID_QUERY),
])
async def test_an_authvalue_that_does_not_read_fails_without_sending(authtype, value, error):
    async with Receiver() as receiver:
        done = await deliver(Endpoint(receiver.url, authtype, value), CONTEXT, **HEADERS)
    assert not done.ok and done.attempts == 0 and done.errorcode == error.code
    assert done.message.startswith(error.text + " (")
    assert receiver.requests == []


def test_auth_of_other_types_adds_nothing():
    assert request_auth(Endpoint("http://x", 0, "ignored")) == ({}, [])
    with pytest.raises(BadAuthValue):
        request_auth(Endpoint("http://x", 5, "<settings/>"))


async def test_500_fails_at_once_with_0x80050201():
    async with Receiver([500, 200]) as receiver:
        done = await deliver(Endpoint(receiver.url), CONTEXT, **HEADERS)
    assert not done.ok and done.attempts == 1 and done.status == 500
    assert done.errorcode == -2147155455 == 0x80050201 - 2 ** 32
    assert done.message == WebhookError.NON_SUCCESS_STATUS.text + " (StatusCode: 500)"
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_502_503_504_get_one_more_attempt(status):
    async with Receiver([status, 200]) as receiver:
        done = await deliver(Endpoint(receiver.url), CONTEXT, **HEADERS)
    assert done.ok and done.attempts == 2
    first, second = receiver.requests
    assert first.body == second.body and first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_503_twice_fails():
    async with Receiver([503, 503, 200]) as receiver:
        done = await deliver(Endpoint(receiver.url), CONTEXT, **HEADERS)
    assert not done.ok and done.attempts == 2 and done.errorcode == WebhookError.NON_SUCCESS_STATUS.code
    assert done.message.endswith("(StatusCode: 503)")
    assert len(receiver.requests) == 2


async def test_a_timeout_fails_with_0x80050202():
    async with Receiver(delay=2.0) as receiver:
        done = await deliver(Endpoint(receiver.url), CONTEXT, timeout=0.2, **HEADERS)
    assert not done.ok and done.errorcode == WebhookError.TIMEOUT.code and done.attempts == 1
    assert done.message == WebhookError.TIMEOUT.text + " (Timeout: 0.2 seconds)"


async def test_a_refused_connection_fails_with_0x80050205():
    done = await deliver(Endpoint(f"http://127.0.0.1:{free_port()}/hook"), CONTEXT, **HEADERS)
    assert not done.ok and done.errorcode == WebhookError.POST_FAILED.code and done.attempts == 1
    assert done.message.startswith(WebhookError.POST_FAILED.text + " (ConnectError")


async def test_a_url_that_is_not_http_fails_with_0x80050205():
    done = await deliver(Endpoint("ftp://127.0.0.1/hook"), CONTEXT, **HEADERS)
    assert done.errorcode == WebhookError.POST_FAILED.code


async def test_a_context_over_256_kb_is_trimmed_and_flagged():
    big = dict(CONTEXT, InputParameters=[{"key": "Target", "value": "x" * MAX_PAYLOAD}], ParentContext={"a": 1})
    async with Receiver() as receiver:
        done = await deliver(Endpoint(receiver.url), json.dumps(big), **HEADERS)
    assert done.ok and done.trimmed
    got = receiver.requests[0]
    assert got.headers["x-ms-dynamics-msg-size-exceeded"] == "true"
    assert set(got.json()) == set(CONTEXT) - {"InputParameters", "ParentContext", "PreEntityImages",
                                              "PostEntityImages"}


async def test_a_context_too_large_even_trimmed_fails_with_0x80050207():
    huge = dict(CONTEXT, SharedVariables=["x" * MAX_PAYLOAD])
    assert prepare_body(huge) is None
    async with Receiver() as receiver:
        done = await deliver(Endpoint(receiver.url), huge, **HEADERS)
    assert done.errorcode == WebhookError.PAYLOAD_TOO_LARGE.code and receiver.requests == []
