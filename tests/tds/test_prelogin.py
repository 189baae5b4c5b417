"""PRELOGIN: the option table, the encryption negotiation table of MS-TDS 2.2.6.5, the answer."""

from __future__ import annotations

import struct

import pytest

from odata_emulator.tds import prelogin
from odata_emulator.tds.errors import ProtocolError
from odata_emulator.tds.prelogin import Encrypt, Mode


def test_options_round_trip():
    data = prelogin.build([(prelogin.VERSION, bytes((9, 0, 0, 0, 0, 0))), (prelogin.ENCRYPTION, b"\x01"),
                           (prelogin.INSTOPT, b"MSSQLServer\x00"), (prelogin.THREADID, b"\x01\x02\x03\x04")])
    parsed = prelogin.parse(data)
    assert parsed.encryption == Encrypt.ON
    assert parsed.instance == "MSSQLServer"
    assert parsed.options[prelogin.THREADID] == b"\x01\x02\x03\x04"
    assert not parsed.fedauth_required


@pytest.mark.parametrize("client, setting, answer, mode", [
    # the server offers TLS (a certificate, --tds-encrypt optional)
    (Encrypt.OFF, "optional", Encrypt.OFF, Mode.LOGIN_ONLY),
    (Encrypt.ON, "optional", Encrypt.ON, Mode.FULL),
    (Encrypt.REQ, "optional", Encrypt.ON, Mode.FULL),
    (Encrypt.NOT_SUP, "optional", Encrypt.NOT_SUP, Mode.NONE),
    (Encrypt.ON | 0x80, "optional", Encrypt.ON, Mode.FULL),  # CLIENT_CERT bit
    (None, "optional", Encrypt.OFF, Mode.LOGIN_ONLY),
    # --tds-encrypt required
    (Encrypt.OFF, "required", Encrypt.REQ, Mode.FULL),
    (Encrypt.ON, "required", Encrypt.ON, Mode.FULL),
    (Encrypt.NOT_SUP, "required", Encrypt.REQ, Mode.REFUSED),
    # --tds-encrypt off: never TLS
    (Encrypt.OFF, "off", Encrypt.NOT_SUP, Mode.NONE),
    (Encrypt.NOT_SUP, "off", Encrypt.NOT_SUP, Mode.NONE),
    (Encrypt.ON, "off", Encrypt.NOT_SUP, Mode.REFUSED),
    (Encrypt.REQ, "off", Encrypt.NOT_SUP, Mode.REFUSED),
])
def test_the_negotiation_table(client, setting, answer, mode):
    assert prelogin.negotiate(client, setting, tls_available=True) == (answer, mode)


def test_without_a_certificate_nothing_is_encrypted():
    assert prelogin.negotiate(Encrypt.OFF, "optional", tls_available=False) == (Encrypt.NOT_SUP, Mode.NONE)
    assert prelogin.negotiate(Encrypt.ON, "optional", tls_available=False) == (Encrypt.NOT_SUP, Mode.REFUSED)


def test_an_unknown_encryption_value_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        prelogin.negotiate(0x07, "optional", tls_available=True)


def test_the_answer_states_sql_azure_12_0_2000_8():
    parsed = prelogin.parse(prelogin.response(Encrypt.OFF, (12, 0, 2000, 8)))
    assert parsed.options[prelogin.VERSION] == bytes((12, 0)) + struct.pack(">HH", 2000, 8)
    assert parsed.encryption == Encrypt.OFF
    assert parsed.options[prelogin.MARS] == b"\x00"


@pytest.mark.parametrize("data, problem", [
    (b"", "terminator"),
    (b"\x00\x00\x05\x00\x00", "terminator"),
    (b"\x00\x00", "truncated"),
    (b"\x01\x00\x06\x00\x10\xff", "outside"),
    (b"\x01\x00\x0b\x00\x01\x01\x00\x0b\x00\x01\xff\x00", "twice"),
    (b"\x01\x00\x06\x00\x02\xff\x00\x00", "one byte"),
])
def test_malformed_option_tables(data, problem):
    with pytest.raises(ProtocolError, match=problem):
        prelogin.parse(data)
