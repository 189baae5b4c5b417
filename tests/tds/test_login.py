"""LOGIN7: the offsets and lengths read (and checked), the password decoded, feature extensions, and
the server's login answer token by token."""

from __future__ import annotations

import struct

import pytest

from odata_emulator.tds import login as login7
from odata_emulator.tds.errors import ProtocolError
from tests.tds.wire import read_tokens


def a_login(**kw) -> login7.Login7:
    values = dict(tds_version=login7.TDS_74, packet_size=8192, client_pid=42, host="desk", user="sa",
                  password="P@ssw0rd é", app="SSMS", server="127.0.0.1,1433", database="org")
    values.update(kw)
    return login7.Login7(**values)


def test_a_login_round_trips():
    parsed = login7.parse(login7.build(a_login()))
    assert (parsed.tds_version, parsed.packet_size, parsed.client_pid) == (login7.TDS_74, 8192, 42)
    assert (parsed.host, parsed.user, parsed.password, parsed.app, parsed.server, parsed.database) == \
        ("desk", "sa", "P@ssw0rd é", "SSMS", "127.0.0.1,1433", "org")
    assert parsed.features == {} and not parsed.sspi


def test_the_password_is_nibble_swapped_and_xored_with_a5():
    # MS-TDS 2.2.6.4: each byte's nibbles swapped, then XOR 0xA5. 'a' (0x61 0x00) -> 0xB3 0xA5
    assert login7.encode_password("a") == b"\xb3\xa5"
    assert login7.decode_password(b"\xb3\xa5") == "a"


def test_feature_extensions_are_read():
    parsed = login7.parse(login7.build(a_login(features={login7.FEATURE_UTF8_SUPPORT: b"", 0x09: b"\x01"})))
    assert parsed.features == {login7.FEATURE_UTF8_SUPPORT: b"", 0x09: b"\x01"}


@pytest.mark.parametrize("size, expected", [(0, 4096), (100, 512), (8192, 8192), (1_000_000, 32767)])
def test_the_packet_size_is_the_clients_within_the_limits(size, expected):
    assert a_login(packet_size=size).negotiated_packet_size == expected


def corrupt(data: bytes, offset: int, fmt: str, value) -> bytes:
    patched = bytearray(data)
    struct.pack_into(fmt, patched, offset, value)
    return bytes(patched)


GOOD = login7.build(a_login())


@pytest.mark.parametrize("data, problem", [
    (GOOD[:50], "shorter than its fixed part"),
    (corrupt(GOOD, 0, "<I", len(GOOD) + 100), "length"),
    (corrupt(GOOD, 0, "<I", 20), "length"),
    (corrupt(GOOD, 42, "<H", 200), "user outside"),  # user name longer than the message
    (corrupt(GOOD, 36, "<H", 3000), "host outside"),  # host name offset past the end
    (corrupt(GOOD, 36, "<H", 10), "host outside"),  # host name inside the fixed part
    (corrupt(corrupt(GOOD, 80, "<H", 60000), 78, "<H", 94), "SSPI"),
])
def test_wrong_lengths_are_protocol_errors(data, problem):
    with pytest.raises(ProtocolError, match=problem):
        login7.parse(data)


def test_a_feature_extension_without_its_terminator_is_a_protocol_error():
    data = login7.build(a_login(features={login7.FEATURE_UTF8_SUPPORT: b""}))
    with pytest.raises(ProtocolError):
        login7.parse(data[:-1] + b"\x0a")


def test_the_login_answer():
    reply = read_tokens(login7.response(database="org", packet_size=8192, program="Microsoft SQL Server",
                                        version=(12, 0, 2000), features={0x0A: b""}, server="odata-emulator"))
    kinds = [kind for kind, _, _ in reply.envchanges]
    assert kinds == [1, 7, 2, 4]
    assert reply.envchanges[0][1].decode("utf-16-le") == "org"
    assert reply.envchanges[1][1] == bytes((0x09, 0x04, 0xD0, 0x00, 0x34))  # SQL_Latin1_General_CP1_CI_AS
    assert reply.envchanges[3][1].decode("utf-16-le") == "8192"
    assert reply.loginack == (1, "74000004", "Microsoft SQL Server", (12, 0, 7, 208))
    assert [i.number for i in reply.infos] == [5701, 5703]
    assert reply.featureextack
    assert reply.dones == [(0xFD, 0, 0)]
