"""A minimal raw-wire TDS 7.4 client: what the endpoint costs without a real client's decoding.

A plain socket, no encryption (PRELOGIN with ENCRYPTION NOT_SUP), LOGIN7, then per query one
SQL_BATCH message and the reply's packets read until the end-of-message bit. The reply's bytes are
kept, never decoded into values: only its final DONE token is read, for the row count
(`done_rows`). The messages are built with the package's own modules (odata_emulator.tds).
"""

from __future__ import annotations

import socket
import struct

from odata_emulator.tds import login as login7
from odata_emulator.tds import prelogin
from odata_emulator.tds.packets import HEADER_SIZE, STATUS_EOM, PacketType, packetize

ALL_HEADERS = struct.pack("<IIHQI", 22, 18, 2, 0, 1)  # one transaction descriptor header (autocommit)
PACKET_SIZE = 4096  # what FreeTDS (pymssql) uses too
_PACKET_HEAD = struct.Struct(">BBH")  # type, status, length (header included)
_DONE = struct.Struct("<BHHQ")  # token, status, curcmd, rowcount
DONE_TOKENS = (0xFD, 0xFE, 0xFF)  # DONE, DONEPROC, DONEINPROC
DONE_MORE = 0x01
DONE_ERROR = 0x02
DONE_COUNT = 0x10
DONE_STATUS_BITS = 0x01 | 0x02 | 0x04 | 0x10 | 0x20 | 0x100  # MORE, ERROR, INXACT, COUNT, ATTN, SRVERROR
ERROR = 0xAA
LOGINACK = 0xAD


class WireError(RuntimeError):
    pass


def done_rows(reply: bytes) -> int | None:
    """The row count of a reply's trailing DONE tokens (13 bytes each: token, status(2), curcmd(2),
    rowcount(8)), read from the end: the last one whose status has DONE_COUNT, walking back over a
    final DONE without a count to the DONE/DONEINPROC before it (which then has DONE_MORE). None when
    the reply does not end that way; WireError when such a token has DONE_ERROR."""
    end, last = len(reply), True
    while end >= _DONE.size and reply[end - _DONE.size] in DONE_TOKENS:
        _token, status, _command, rows = _DONE.unpack_from(reply, end - _DONE.size)
        if status & ~DONE_STATUS_BITS or not (last or status & DONE_MORE):
            break  # not a DONE token: a row's bytes
        if status & DONE_ERROR:
            raise WireError(f"the reply's DONE has the error bit (status {status:#x})")
        if status & DONE_COUNT:
            return rows
        end, last = end - _DONE.size, False
    return None


def check_reply(reply: bytes) -> int:
    """The reply's row count, or WireError when it starts with an ERROR token or ends without a
    counted DONE."""
    if not reply:
        raise WireError("an empty reply")
    if reply[0] == ERROR:
        raise WireError("the reply starts with an ERROR token")
    rows = done_rows(reply)
    if rows is None:
        raise WireError(f"the reply does not end with a DONE that counts rows (last bytes {reply[-13:].hex()})")
    return rows


def read_message(sock: socket.socket, buffer: bytearray) -> bytes:
    """The payload of the next message on `sock`: its packets' bodies up to the one with EOM. `buffer`
    holds what was received and not yet used, between calls."""
    payload = bytearray()
    while True:
        while len(buffer) < HEADER_SIZE:
            _fill(sock, buffer)
        _kind, status, length = _PACKET_HEAD.unpack_from(buffer)
        if length < HEADER_SIZE:
            raise WireError(f"a packet of length {length}")
        while len(buffer) < length:
            _fill(sock, buffer)
        payload += buffer[HEADER_SIZE:length]
        del buffer[:length]
        if status & STATUS_EOM:
            return bytes(payload)


def _fill(sock: socket.socket, buffer: bytearray) -> None:
    chunk = sock.recv(262144)
    if not chunk:
        raise WireError("closed by the server")
    buffer += chunk


class WireClient:
    """One connection: `execute(sql)` sends a batch and returns the reply's payload bytes."""

    def __init__(self, port: int, host: str = "127.0.0.1", user: str = "bench", password: str = "bench",
                 timeout: float = 600.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        try:
            self._login(user, password, host)
        except BaseException:
            self.sock.close()
            raise

    def _login(self, user: str, password: str, server: str) -> None:
        self._send(PacketType.PRELOGIN, prelogin.build([(prelogin.VERSION, bytes(6)),
                                                        (prelogin.ENCRYPTION, bytes((prelogin.Encrypt.NOT_SUP,)))]))
        answer = prelogin.parse(self.read_message())
        if answer.encryption not in (prelogin.Encrypt.NOT_SUP, prelogin.Encrypt.OFF):
            raise WireError(f"the server wants encryption ({answer.encryption}); serve with --tds-encrypt off")
        self._send(PacketType.LOGIN7, login7.build(login7.Login7(
            tds_version=login7.TDS_74, packet_size=PACKET_SIZE, client_pid=1, host="bench", user=user,
            password=password, app="bench", server=server)))
        reply = self.read_message()
        if not reply or reply[0] == ERROR or LOGINACK not in reply:
            raise WireError("the login was refused")

    def _send(self, packet_type: int, payload: bytes) -> None:
        self.sock.sendall(packetize(packet_type, payload, PACKET_SIZE))

    def read_message(self) -> bytes:
        return read_message(self.sock, self._buffer)

    def execute(self, sql: str) -> bytes:
        self._send(PacketType.SQL_BATCH, ALL_HEADERS + sql.encode("utf-16-le"))
        return self.read_message()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
