"""TDS packets (MS-TDS 2.2.3): the 8-byte header, messages made of packets, and replies cut into
packets of the negotiated size.

A message is one or more packets of one type; the last has the EOM status bit. A client that gives
up on a message half sent ends it with IGNORE+EOM (the server drops it and answers one DONE).
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

HEADER = struct.Struct(">BBHHBB")  # type, status, length (header included), SPID, packet id, window
HEADER_SIZE = HEADER.size

STATUS_EOM = 0x01
STATUS_IGNORE = 0x02
STATUS_RESET = 0x08
STATUS_RESET_SKIPTRAN = 0x10

MIN_PACKET_SIZE = 512
MAX_PACKET_SIZE = 32767  # the largest packet size a login may negotiate
DEFAULT_PACKET_SIZE = 4096
# The longest request message read: larger ones are read to their end and answered with an error.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024


class PacketType(enum.IntEnum):
    SQL_BATCH = 0x01
    PRE_TDS7_LOGIN = 0x02
    RPC = 0x03
    TABULAR_RESULT = 0x04
    ATTENTION = 0x06
    BULK_LOAD = 0x07
    FEDAUTH_TOKEN = 0x08
    TRANSACTION_MANAGER = 0x0E
    LOGIN7 = 0x10
    SSPI = 0x11
    PRELOGIN = 0x12


class Message(NamedTuple):  # a tuple: one is made per request
    type: int
    data: bytes
    status: int  # the first packet's status (RESETCONNECTION lives there)
    ignored: bool = False  # ended with IGNORE+EOM: the client cancelled it while sending
    oversized: bool = False  # longer than MAX_MESSAGE_SIZE: `data` holds only its beginning

    @property
    def reset(self) -> bool:
        return bool(self.status & (STATUS_RESET | STATUS_RESET_SKIPTRAN))


def header(packet_type: int, status: int, payload_length: int, spid: int = 0, packet_id: int = 1) -> bytes:
    return HEADER.pack(packet_type, status, payload_length + HEADER_SIZE, spid, packet_id & 0xFF, 0)


def packetize(packet_type: int, payload: bytes, packet_size: int = DEFAULT_PACKET_SIZE, spid: int = 0,
              first_id: int = 1, last: bool = True) -> bytes:
    """`payload` as packets of at most `packet_size` bytes; the last has EOM when `last`."""
    room = packet_size - HEADER_SIZE
    parts: list[bytes | memoryview] = []
    view = memoryview(payload)
    count = max(1, -(-len(payload) // room))
    for index in range(count):
        chunk = view[index * room:(index + 1) * room]
        status = STATUS_EOM if (last and index == count - 1) else 0
        parts.append(header(packet_type, status, len(chunk), spid, first_id + index))
        parts.append(chunk)
    return b"".join(parts)
