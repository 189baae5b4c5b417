"""Fuzzing the endpoint: bytes at every stage of a connection (before PRELOGIN, as LOGIN7, as requests
after login), random T-SQL and damaged RPC requests. Every input gets an answer or a closed connection
within seconds, never a hang; no session fails with an unexpected exception; the server answers after.

The server runs in-process on a thread of its own; the budget is a few seconds (derandomized, so CI runs
the same examples every time)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from odata_emulator.tds import login as login7
from odata_emulator.tds import types
from odata_emulator.tds.packets import PacketType, header, packetize
from tests.helpers import copy_store
from tests.tds.conftest import endpoint
from tests.tds.wire import ALL_HEADERS, Raw, param, rpc_request

# Property-based, against the TDS endpoint on a real port: the full suite's.
pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


class Failures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def port(tmp_path_factory, template_store):
    store = copy_store(template_store, tmp_path_factory.mktemp("tds-fuzz") / "store.db")
    ready, stop, found = threading.Event(), threading.Event(), {}
    failures = Failures()
    logging.getLogger("odata_emulator.tds").addHandler(failures)

    async def serve() -> None:
        async with endpoint(str(store)) as running:
            found["port"] = running.port
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(30)
    yield found["port"]
    stop.set()
    thread.join(30)
    logging.getLogger("odata_emulator.tds").removeHandler(failures)
    assert not failures.records, [r.getMessage() for r in failures.records]


def logged_in(port: int) -> Raw:
    raw = Raw(port, timeout=5)
    raw.connect()
    return raw


def ends_within(raw: Raw, seconds: float = 5.0) -> bool:
    """After the client stops sending, the server answers what it can and closes: no hang."""
    raw.sock.shutdown(socket.SHUT_WR)
    return raw.closed(seconds)


def healthy(port: int) -> bool:
    with logged_in(port) as raw:
        return raw.query("select count(*) from asyncoperation").rows[0][0] > 0


@FUZZ
@given(data=st.binary(max_size=3000))
def test_bytes_before_prelogin(port, data):
    with Raw(port, timeout=5) as raw:
        raw.send_raw(data)
        assert ends_within(raw)


@FUZZ
@given(data=st.binary(max_size=2000), framed=st.booleans())
def test_bytes_as_login(port, data, framed):
    with Raw(port, timeout=5) as raw:
        raw.prelogin()
        raw.send_raw(packetize(PacketType.LOGIN7, data) if framed else data)
        assert ends_within(raw)


_GOOD_LOGIN = login7.build(login7.Login7(login7.TDS_74, 4096, 1, host="h", user="sa", password="p", database="d",
                                         features={login7.FEATURE_UTF8_SUPPORT: b""}))


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, len(_GOOD_LOGIN) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_damaged_logins(port, flips):
    damaged = bytearray(_GOOD_LOGIN)
    for position, value in flips:
        damaged[position] = value
    with Raw(port, timeout=5) as raw:
        raw.prelogin()
        raw.send(PacketType.LOGIN7, bytes(damaged))
        assert ends_within(raw)


@FUZZ
@given(kind=st.sampled_from([0x01, 0x03, 0x06, 0x0E, 0x07, 0x10, 0x12, 0x04, 0x99]),
       status=st.integers(0, 255), payload=st.binary(max_size=2000))
def test_requests_after_login(port, kind, status, payload):
    with logged_in(port) as raw:
        raw.send_raw(header(kind, status, len(payload)) + payload)
        assert ends_within(raw)


SQL_WORDS = ["SELECT", "select", "*", "FROM", "asyncoperation", "AsyncOperation", "WHERE", "statecode", "=", "1",
             "'x'", "N'y'", "(", ")", ",", "count(*)", "GROUP", "BY", "ORDER", "DESC", "TOP", "[name]", "AS", "and",
             "or", "not", "null", "is", "in", "like", "'%a%'", "getutcdate()", "dateadd(day,", "-7", "isnull(",
             "convert(nvarchar,", "createdon", "statecodename", "owneridname", "union", "all", "join", "on",
             "systemuser", "case", "when", "then", "else", "end", ";", "update", "delete", "drop", "@x", "@@version",
             "/*", "*/", "--", "\n", "GO", "having", "distinct", "with", "(nolock)", "1e9", "0.5", "cast(", "int)",
             "'2026-01-01'", "datediff(day,", "len(", "+", "-", "/", "%", "between", "exists", "over", "()"]


@FUZZ
@given(words=st.lists(st.sampled_from(SQL_WORDS), min_size=1, max_size=25))
def test_random_sql_gets_an_answer_and_the_connection_goes_on(port, words):
    with logged_in(port) as raw:
        reply = raw.query(" ".join(words))
        assert reply.dones, reply  # rows or an ERROR token, and a DONE
        assert all(e.number in (102, 105, 113, 137, 241, 8115, 8120, 40000, 517) for e in reply.errors), reply.errors
        assert raw.query("select 1").rows == [[1]]


_GOOD_RPC = rpc_request(10, [param("", types.NVARCHAR_MAX, "select name from asyncoperation where statecode = @P1"),
                             param("", types.NVARCHAR_MAX, "@P1 int"), param("@P1", types.INT, 3)])


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(len(ALL_HEADERS), len(_GOOD_RPC) - 1), st.integers(0, 255)),
                      min_size=1, max_size=6))
def test_damaged_rpc_requests(port, flips):
    damaged = bytearray(_GOOD_RPC)
    for position, value in flips:
        damaged[position] = value
    with logged_in(port) as raw:
        raw.send(PacketType.RPC, bytes(damaged))
        assert ends_within(raw)


def test_the_server_answers_after_the_fuzzing(port):
    assert healthy(port)
