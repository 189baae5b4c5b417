"""PRELOGIN (MS-TDS 2.2.6.5): the options a client sends first, the server's answer, and the
encryption negotiation table.

The client and the server each state an ENCRYPTION value; the pair decides what is encrypted:

    client \\ server   OFF (offers TLS)   ON (requires TLS)   NOT_SUP (no TLS)
    OFF                login only          full (answers REQ)   none
    ON / REQ           full                full                 refused (client gives up)
    NOT_SUP            none                refused (REQ)        none
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

from .errors import ProtocolError

VERSION, ENCRYPTION, INSTOPT, THREADID, MARS, TRACEID, FEDAUTHREQUIRED, NONCEOPT = range(8)
TERMINATOR = 0xFF


class Encrypt(enum.IntEnum):
    OFF = 0x00
    ON = 0x01
    NOT_SUP = 0x02
    REQ = 0x03


class Mode(enum.Enum):
    """What gets encrypted on a connection."""

    NONE = "none"
    LOGIN_ONLY = "login-only"
    FULL = "full"
    STRICT = "strict"  # TDS 8.0: TLS before PRELOGIN
    REFUSED = "refused"  # the two sides cannot agree: the client hangs up


@dataclass
class Prelogin:
    options: dict[int, bytes] = field(default_factory=dict)

    @property
    def encryption(self) -> int | None:
        value = self.options.get(ENCRYPTION)
        return value[0] if value else None

    @property
    def fedauth_required(self) -> bool:
        value = self.options.get(FEDAUTHREQUIRED)
        return bool(value and value[0])

    @property
    def instance(self) -> str:
        value = self.options.get(INSTOPT, b"")
        return value.split(b"\x00", 1)[0].decode("latin-1")


def parse(data: bytes) -> Prelogin:
    """The option table: (token, offset, length) entries up to 0xFF, offsets from the start."""
    options: dict[int, bytes] = {}
    position = 0
    while True:
        if position >= len(data):
            raise ProtocolError("PRELOGIN without its terminator")
        token = data[position]
        if token == TERMINATOR:
            break
        if position + 5 > len(data):
            raise ProtocolError("truncated PRELOGIN option")
        offset, length = struct.unpack_from(">HH", data, position + 1)
        if offset + length > len(data):
            raise ProtocolError("PRELOGIN option outside the message")
        if token in options:
            raise ProtocolError(f"PRELOGIN option {token} twice")
        options[token] = data[offset:offset + length]
        position += 5
        if len(options) > 32:
            raise ProtocolError("too many PRELOGIN options")
    if ENCRYPTION in options and len(options[ENCRYPTION]) != 1:
        raise ProtocolError("PRELOGIN ENCRYPTION must be one byte")
    return Prelogin(options)


def build(options: list[tuple[int, bytes]]) -> bytes:
    table_size = 5 * len(options) + 1
    table, payload = bytearray(), bytearray()
    for token, value in options:
        table += struct.pack(">BHH", token, table_size + len(payload), len(value))
        payload += value
    return bytes(table) + bytes([TERMINATOR]) + bytes(payload)


def negotiate(client: int | None, server_setting: str, tls_available: bool) -> tuple[Encrypt, Mode]:
    """The server's ENCRYPTION answer and what gets encrypted.

    `server_setting`: "off" (never TLS: answers NOT_SUP), "optional" (TLS when the client wants it,
    login-only for a client that says OFF), "required" (always full TLS)."""
    if not tls_available or server_setting == "off":
        return Encrypt.NOT_SUP, (Mode.REFUSED if client in (Encrypt.ON, Encrypt.REQ) else Mode.NONE)
    client_value = Encrypt.OFF if client is None else client & 0x7F  # 0x80: client certificate wanted
    required = server_setting == "required"
    if client_value == Encrypt.NOT_SUP:
        return (Encrypt.REQ, Mode.REFUSED) if required else (Encrypt.NOT_SUP, Mode.NONE)
    if client_value in (Encrypt.ON, Encrypt.REQ):
        return Encrypt.ON, Mode.FULL
    if client_value == Encrypt.OFF:
        return (Encrypt.REQ, Mode.FULL) if required else (Encrypt.OFF, Mode.LOGIN_ONLY)
    raise ProtocolError(f"PRELOGIN ENCRYPTION {client:#x}")


def response(encryption: Encrypt, version: tuple[int, int, int, int], *, fedauth_echo: bool = False) -> bytes:
    major, minor, build_number, sub = version
    options = [
        (VERSION, bytes((major, minor)) + struct.pack(">HH", build_number, sub)),
        (ENCRYPTION, bytes((encryption,))),
        (INSTOPT, b"\x00"),
        (THREADID, b""),
        (MARS, b"\x00"),
    ]
    if fedauth_echo:
        options.append((FEDAUTHREQUIRED, b"\x00"))
    return build(options)
