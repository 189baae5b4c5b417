"""A session on the wire, in-process: login, batches, RPC, attention, the ignore bit, connection reset,
transaction-manager requests, packet sizes, authentication, and bad input that gets an ERROR token or a
closed connection while the server goes on answering."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from odata_emulator.tds import login as login7
from odata_emulator.tds import prelogin, types
from odata_emulator.tds.packets import STATUS_EOM, STATUS_IGNORE, STATUS_RESET, PacketType, header, packetize
from tests.helpers import DOCUMENTED, sql_rows
from tests.tds.conftest import endpoint, in_thread
from tests.tds.wire import ALL_HEADERS, Raw, param, rpc_request

# A real server: the TDS endpoint listening on a port of 127.0.0.1 (the fast loop leaves real servers out).
pytestmark = pytest.mark.slow

DONE, DONEPROC, DONEINPROC = 0xFD, 0xFE, 0xFF


def connected(port: int, **kw) -> Raw:
    raw = Raw(port)
    raw.connect(**kw)
    return raw


def healthy(port: int) -> bool:
    with connected(port) as raw:
        return raw.query("select 1").rows == [[1]]


async def test_login_answers_what_sql_server_answers(tds):
    def scenario():
        with Raw(tds.port) as raw:
            answer = raw.prelogin(prelogin.Encrypt.NOT_SUP)
            assert answer.encryption == prelogin.Encrypt.NOT_SUP
            assert answer.options[prelogin.VERSION][:2] == bytes((12, 0))
            reply = raw.login(database="org", packet_size=8192)
            assert reply.loginack == (1, "74000004", "Microsoft SQL Server", (12, 0, 7, 208))
            assert (4, "8192".encode("utf-16-le"), "8192".encode("utf-16-le")) in reply.envchanges
            assert (1, "org".encode("utf-16-le"), "master".encode("utf-16-le")) in reply.envchanges
            assert reply.dones[-1] == (DONE, 0, 0) and not reply.featureextack
            version = raw.query("select @@version")
            assert version.rows == [["Microsoft SQL Azure (RTM) - 12.0.2000.8"]]
            assert version.results[0].columns == [("", 0xE7)]
    await in_thread(scenario)


async def test_each_session_has_its_own_spid(tds):
    def scenario():
        with connected(tds.port) as one, connected(tds.port) as two:
            return one.query("select @@spid").rows, two.query("select @@spid").rows
    first, second = await in_thread(scenario)
    assert first != second and first[0][0] >= 51


async def test_a_documented_query_and_its_row_count(tds):
    text = (DOCUMENTED / "02-jobs-by-state-status-type.sql").read_text(encoding="utf-8")

    def scenario():
        with connected(tds.port) as raw:
            return raw.query(text)
    reply = await in_thread(scenario)
    expected = sql_rows(tds.store, text)
    answer = [tuple(r) for r in reply.rows]
    # ORDER BY Count DESC: groups with equal counts come in no particular order (in SQL Server as here)
    assert sorted(answer) == sorted(expected)
    assert [row[3] for row in answer] == [row[3] for row in expected]
    assert reply.dones == [(DONE, 0x10, len(expected))]  # DONE_COUNT with the row count


async def test_replies_are_cut_at_the_negotiated_packet_size(tds):
    def scenario():
        with connected(tds.port, packet_size=512) as raw:
            # Every job's id and name: hundreds of packets (`*` would also stream the three 4 MB
            # file-storage contexts, 25,000 packets, for nothing this test looks at).
            reply = raw.query("select asyncoperationid, name from asyncoperation")
            return raw.packets, reply
    packets, reply = await in_thread(scenario)
    result_packets = packets[2:]  # after the PRELOGIN and login answers
    assert len(result_packets) > 50
    assert all(length <= 512 for _, _, length in result_packets)
    assert [status for _, status, _ in result_packets][-1] == STATUS_EOM
    assert all(status == 0 for _, status, _ in result_packets[:-1])
    assert len(reply.rows) == sql_rows(tds.store, "select count(*) from asyncoperation")[0][0]


async def test_statements_of_a_batch_each_end_with_a_done(tds):
    def scenario():
        with connected(tds.port) as raw:
            return raw.query("SET NOCOUNT ON; select 1 select 2, 3")
    reply = await in_thread(scenario)
    assert [r.rows for r in reply.results] == [[[1]], [[2, 3]]]
    assert reply.dones == [(DONE, 0x01, 0), (DONE, 0x11, 1), (DONE, 0x10, 1)]


async def test_an_error_ends_the_batch_with_an_error_token_and_the_connection_goes_on(tds):
    def scenario():
        with connected(tds.port) as raw:
            refused = raw.query("select 1; update asyncoperation set name = 'x'")
            misprint = raw.query((DOCUMENTED / "06-file-storage.sql").read_text(encoding="utf-8"))
            after = raw.query("select 2")
            return refused, misprint, after
    refused, misprint, after = await in_thread(scenario)
    assert not refused.results  # nothing ran: the batch did not compile
    (error,) = refused.errors
    assert (error.number, error.severity, error.state) == (40000, 16, 1)
    assert error.message.startswith("'UPDATE' statement is not supported. Line:1, Position:11\nRequestId: TDS;")
    assert refused.dones == [(DONE, 0x02, 0)]
    assert [(e.number, e.severity, e.message, e.line) for e in misprint.errors] == \
        [(102, 15, "Incorrect syntax near '('.", 5)]
    assert after.rows == [[2]]


async def test_attention_when_idle_is_acknowledged(tds):
    def scenario():
        with connected(tds.port) as raw:
            raw.attention()
            ack = raw.reply()
            return ack, raw.query("select 1")
    ack, after = await in_thread(scenario)
    assert ack.dones == [(DONE, 0x20, 0)]
    assert after.rows == [[1]]


async def test_attention_stops_a_running_result(tds):
    def scenario():
        with connected(tds.port) as raw:
            raw.batch("select a.name, b.name from asyncoperation a cross join asyncoperation b")
            raw.sock.recv(4096)  # the result has begun
            raw.attention()
            while True:  # the client reads and drops everything up to the acknowledgement
                kind, data = raw.read_message()
                if data.endswith(struct.pack("<BHHQ", 0xFD, 0x20, 0, 0)):
                    break
            return raw.query("select 1")
    assert (await in_thread(scenario)).rows == [[1]]


async def test_attention_sent_with_the_request_in_one_write_is_acknowledged_once(tds):
    request = packetize(PacketType.SQL_BATCH, ALL_HEADERS + "select name from asyncoperation".encode("utf-16-le"))

    def scenario():
        with connected(tds.port) as raw:
            raw.send_raw(request + header(PacketType.ATTENTION, STATUS_EOM, 0))
            acknowledgements = 0
            while True:  # whatever was answered before the cancel, then the acknowledgement
                _kind, data = raw.read_message()
                if data.endswith(struct.pack("<BHHQ", DONE, 0x20, 0, 0)):
                    acknowledgements += 1
                    break
            return acknowledgements, raw.query("select 1")
    acknowledgements, after = await in_thread(scenario)
    assert acknowledgements == 1 and after.rows == [[1]]  # one acknowledgement: the next reply is select 1's


async def test_requests_sent_without_waiting_are_all_answered_in_order(tds, monkeypatch):
    from odata_emulator.tds import channel
    monkeypatch.setattr(channel, "READ_AHEAD", 8192)  # the server stops reading many times over
    resumed = []
    resume = channel.Channel._resume_reading
    monkeypatch.setattr(channel.Channel, "_resume_reading", lambda self: (resumed.append(1), resume(self)))
    count = 400
    padding = " -- " + "x" * 1000  # about 2 kB a request

    def scenario():
        with connected(tds.port) as raw:
            raw.send_raw(b"".join(packetize(PacketType.SQL_BATCH,
                                            ALL_HEADERS + f"select {n % 7}{padding}".encode("utf-16-le"))
                                  for n in range(count)))
            return [raw.reply().rows for _ in range(count)]
    answers = await in_thread(scenario)
    assert answers == [[[n % 7]] for n in range(count)]
    assert resumed  # reading stopped, and went on once the session had caught up


async def test_a_message_ended_with_the_ignore_bit_gets_one_done(tds):
    def scenario():
        with connected(tds.port) as raw:
            raw.send_raw(header(PacketType.SQL_BATCH, 0, len(ALL_HEADERS)) + ALL_HEADERS)
            raw.send_raw(header(PacketType.SQL_BATCH, STATUS_EOM | STATUS_IGNORE, 4) + "se".encode("utf-16-le"))
            return raw.reply(), raw.query("select 1")
    ignored, after = await in_thread(scenario)
    assert (ignored.dones, ignored.errors, ignored.results) == ([(DONE, 0, 0)], [], [])
    assert after.rows == [[1]]


async def test_reset_connection_is_acknowledged(tds):
    def scenario():
        with connected(tds.port) as raw:
            raw.batch("select 1", status=STATUS_EOM | STATUS_RESET)
            return raw.reply()
    reply = await in_thread(scenario)
    assert reply.envchanges == [(18, b"", b"")] and reply.rows == [[1]]


def tm_request(request: int, payload: bytes = b"") -> bytes:
    return ALL_HEADERS + struct.pack("<H", request) + payload


async def test_transaction_manager_requests_are_acknowledged(tds):
    def scenario():
        with connected(tds.port) as raw:
            raw.send(PacketType.TRANSACTION_MANAGER, tm_request(5, b"\x00\x00"))  # begin, isolation 0, no name
            begin = raw.reply()
            raw.send(PacketType.TRANSACTION_MANAGER, tm_request(7, b"\x00\x01\x00"))  # commit, then begin again
            commit = raw.reply()
            raw.send(PacketType.TRANSACTION_MANAGER, tm_request(8, b"\x00\x00"))  # rollback
            rollback = raw.reply()
            return begin, commit, rollback
    begin, commit, rollback = await in_thread(scenario)
    ((kind, descriptor, old),) = begin.envchanges
    assert kind == 8 and len(descriptor) == 8 and old == b""
    assert commit.envchanges[0] == (9, b"", descriptor) and commit.envchanges[1][0] == 8
    assert rollback.envchanges == [(10, b"", commit.envchanges[1][1])]
    assert begin.dones == commit.dones == rollback.dones == [(DONE, 0, 0)]


async def test_sp_executesql_sp_prepare_sp_execute_sp_unprepare(tds):
    statement = "select count(*) from asyncoperation where statecode = @state and name like @name"

    def scenario():
        with connected(tds.port) as raw:
            raw.send(PacketType.RPC, rpc_request(10, [
                param("", types.NVARCHAR_MAX, statement), param("", types.NVARCHAR_MAX, "@state int, @name nvarchar(50)"),
                param("@state", types.INT, 3), param("@name", types.nvarchar(50), "%a%")]))
            executed = raw.reply()
            raw.send(PacketType.RPC, rpc_request(11, [
                param("@handle", types.INT, None, output=True),
                param("", types.NVARCHAR_MAX, "@state int, @name nvarchar(50)"),
                param("", types.NVARCHAR_MAX, statement), param("", types.INT, 1)]))
            prepared = raw.reply()
            handle = prepared.return_values[0][1]
            raw.send(PacketType.RPC, rpc_request(12, [param("", types.INT, handle), param("", types.INT, 3),
                                                     param("", types.nvarchar(50), "%a%")]))
            again = raw.reply()
            raw.send(PacketType.RPC, rpc_request(15, [param("", types.INT, handle)]))
            unprepared = raw.reply()
            raw.send(PacketType.RPC, rpc_request(12, [param("", types.INT, handle)]))
            gone = raw.reply()
            return executed, prepared, again, unprepared, gone
    executed, prepared, again, unprepared, gone = await in_thread(scenario)
    expected = sql_rows(tds.store, "select count(*) from asyncoperation where statecode = 3 and name like '%a%'")
    assert [tuple(r) for r in executed.rows] == expected
    assert executed.dones == [(DONEINPROC, 0x11, 1), (DONEPROC, 0, 0)] and executed.return_status == [0]
    assert prepared.return_values == [("@handle", 1)] and not prepared.results
    assert [tuple(r) for r in again.rows] == expected
    assert unprepared.dones == [(DONEPROC, 0, 0)]
    assert gone.errors[0].number == 40000 and "Could not find prepared statement with handle 1" in gone.errors[0].message
    assert gone.dones[-1] == (DONEPROC, 0x02, 0)


async def test_sp_prepexec_returns_its_handle_and_the_rows(tds):
    def scenario():
        with connected(tds.port) as raw:
            raw.send(PacketType.RPC, rpc_request(13, [
                param("@handle", types.INT, None, output=True), param("", types.NVARCHAR_MAX, "@P1 tinyint"),
                param("", types.NVARCHAR_MAX, "select statecodename from asyncoperation where statecode = @P1 "
                                              "group by statecodename"),
                param("", types.TINYINT, 3)]))
            return raw.reply()
    reply = await in_thread(scenario)
    assert reply.rows == [["Completed"]]
    assert reply.return_values == [("@handle", 1)] and reply.dones[-1] == (DONEPROC, 0, 0)


@pytest.mark.parametrize("procedure, message", [
    (2, "'sp_cursoropen' is not supported"),
    ("sp_who", "'EXECUTE' statement is not supported."),
])
async def test_other_procedures_are_refused(tds, procedure, message):
    def scenario():
        with connected(tds.port) as raw:
            raw.send(PacketType.RPC, rpc_request(procedure, []))
            return raw.reply(), raw.query("select 1")
    refused, after = await in_thread(scenario)
    assert refused.errors[0].number == 40000 and message in refused.errors[0].message
    assert after.rows == [[1]]


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("garbage", [
    b"\x00" * 64,
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    header(PacketType.PRELOGIN, STATUS_EOM, 0)[:4] + b"\x00\x00\x01\x00",  # length 0
    struct.pack(">BBHHBB", PacketType.PRELOGIN, STATUS_EOM, 65535, 0, 1, 0) + b"\xff" * 100,  # huge length
    header(PacketType.PRELOGIN, STATUS_EOM, 3) + b"\x01\x02\x03",  # a PRELOGIN without its terminator
    header(PacketType.LOGIN7, STATUS_EOM, 4) + b"\x00" * 4,  # LOGIN7 before PRELOGIN
    b"\x16\x03\x01\x00\x05hello",  # a TLS record that is no handshake
])
async def test_garbage_closes_the_connection_and_the_server_goes_on(tds, garbage):
    def scenario():
        with Raw(tds.port) as raw:
            raw.send_raw(garbage)
            closed = raw.closed()
        return closed, healthy(tds.port)
    assert await in_thread(scenario) == (True, True)


async def test_a_truncated_packet_then_a_hang_up_leaves_the_server_healthy(tds):
    def scenario():
        with Raw(tds.port) as raw:
            raw.send_raw(header(PacketType.PRELOGIN, STATUS_EOM, 100) + b"\x00" * 10)
        with connected(tds.port) as raw:
            raw.batch("select * from asyncoperation")  # and hang up without reading
        return healthy(tds.port)
    assert await in_thread(scenario)


async def test_a_login_with_wrong_lengths_gets_an_error_and_a_closed_connection(tds):
    def scenario():
        with Raw(tds.port) as raw:
            raw.prelogin()
            message = bytearray(login7.build(login7.Login7(login7.TDS_74, 4096, 1, user="sa", password="x")))
            struct.pack_into("<H", message, 42, 500)  # the user name runs past the message
            raw.send(PacketType.LOGIN7, bytes(message))
            reply = raw.reply()
            return reply, raw.closed(), healthy(tds.port)
    reply, closed, still = await in_thread(scenario)
    assert [(e.number, e.severity) for e in reply.errors] == [(18456, 14)]
    assert reply.errors[0].message.startswith("Login failed: the login packet is malformed")
    assert reply.loginack is None and closed and still


async def test_an_oversized_request_gets_an_error(tds, monkeypatch):
    from odata_emulator.tds import channel
    monkeypatch.setattr(channel, "MAX_MESSAGE_SIZE", 10_000)

    def scenario():
        with connected(tds.port) as raw:
            oversized = raw.query("select '" + "x" * 20_000 + "'")
            return oversized, raw.query("select 1")
    oversized, after = await in_thread(scenario)
    assert oversized.errors[0].message.startswith("The request is larger than the emulator accepts.")
    assert after.rows == [[1]]


# ---------------------------------------------------------------------------- authentication


def jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.signature"


async def test_require_auth_takes_the_configured_password_or_a_bearer_token(store_copy):
    async with endpoint(str(store_copy), require_auth=True, tds_password="s3cret") as found:
        def attempt(password: str):
            with Raw(found.port) as raw:
                raw.prelogin()
                return raw.login(password=password)
        for good in ("s3cret", jwt({"oid": "00000000-0000-0000-0000-000000000001"})):
            assert (await in_thread(attempt, good)).loginack is not None
        for bad in ("", "wrong", "a.b.c"):
            reply = await in_thread(attempt, bad)
            assert reply.loginack is None
            ((number, severity, message),) = [(e.number, e.severity, e.message) for e in reply.errors]
            assert (number, severity) == (18456, 14)
            assert message.startswith("Login failed: Request is not authenticated.\nRequestId: TDS;")


async def test_entra_id_sign_in_is_refused_with_a_way_out(tds):
    def scenario():
        with Raw(tds.port) as raw:
            raw.prelogin()
            return raw.login(features={login7.FEATURE_FEDAUTH: b"\x02\x00"})
    reply = await in_thread(scenario)
    assert reply.loginack is None and "Use SQL authentication" in reply.errors[0].message
