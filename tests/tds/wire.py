"""A bare TDS client for the tests: raw packets on a socket, and a reader of the server's tokens.

Real clients (python-tds, pymssql, mssql-python) hide the bytes; these tests need them: malformed
input, attention, the ignore bit, packet sizes, what a reply holds token by token.
"""

from __future__ import annotations

import datetime as dt
import socket
import struct
import uuid
from dataclasses import dataclass, field

from odata_emulator.tds import login as login7
from odata_emulator.tds import prelogin
from odata_emulator.tds.packets import HEADER_SIZE, STATUS_EOM, PacketType, header, packetize

ALL_HEADERS = struct.pack("<IIHQI", 22, 18, 2, 0, 1)  # one transaction descriptor header


class Raw:
    """One connection; `timeout` bounds every read."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.packet_size = 4096
        self.packets: list[tuple[int, int, int]] = []  # (type, status, length) of every packet read

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, packet_type: int, payload: bytes, status: int = STATUS_EOM) -> None:
        if status == STATUS_EOM:
            self.sock.sendall(packetize(packet_type, payload, self.packet_size))
        else:
            self.sock.sendall(header(packet_type, status, len(payload)) + payload)

    def _exact(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed by the server")
            data += chunk
        return data

    def read_message(self) -> tuple[int, bytes]:
        parts, kind = [], None
        while True:
            kind_, status, length, _spid, _pid, _window = struct.unpack(">BBHHBB", self._exact(HEADER_SIZE))
            self.packets.append((kind_, status, length))
            kind = kind_
            parts.append(self._exact(length - HEADER_SIZE))
            if status & STATUS_EOM:
                return kind, b"".join(parts)

    def closed(self, wait: float = 5.0) -> bool:
        """True when the server closes the connection within `wait` seconds (reads and drops whatever
        comes first); False when it is still open."""
        self.sock.settimeout(wait)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except TimeoutError:
            return False
        except (ConnectionError, OSError):
            return True

    # ------------------------------------------------------------------ a client's steps

    def prelogin(self, encryption: int = prelogin.Encrypt.NOT_SUP) -> prelogin.Prelogin:
        self.send(PacketType.PRELOGIN, prelogin.build([(prelogin.VERSION, bytes(6)),
                                                      (prelogin.ENCRYPTION, bytes((encryption,)))]))
        kind, data = self.read_message()
        assert kind == PacketType.TABULAR_RESULT
        return prelogin.parse(data)

    def login(self, user: str = "sa", password: str = "secret", database: str = "", packet_size: int = 4096,
              features: dict[int, bytes] | None = None, version: int = login7.TDS_74) -> Reply:
        message = login7.build(login7.Login7(tds_version=version, packet_size=packet_size, client_pid=1, host="tests",
                                             user=user, password=password, app="tests", server="127.0.0.1",
                                             database=database, features=features or {}))
        self.send(PacketType.LOGIN7, message)
        reply = self.reply()
        if reply.loginack:
            self.packet_size = packet_size or 4096
        return reply

    def connect(self, **kw) -> Reply:
        self.prelogin()
        reply = self.login(**kw)
        assert reply.loginack, reply
        return reply

    def batch(self, sql: str, status: int = STATUS_EOM) -> None:
        self.send(PacketType.SQL_BATCH, ALL_HEADERS + sql.encode("utf-16-le"), status)

    def query(self, sql: str) -> Reply:
        self.batch(sql)
        return self.reply()

    def attention(self) -> None:
        self.sock.sendall(header(PacketType.ATTENTION, STATUS_EOM, 0))

    def reply(self) -> Reply:
        kind, data = self.read_message()
        assert kind == PacketType.TABULAR_RESULT, kind
        return read_tokens(data)


# ---------------------------------------------------------------------------- reading tokens


@dataclass
class Error:
    number: int
    state: int
    severity: int
    message: str
    line: int


@dataclass
class Result:
    columns: list[tuple[str, int]]  # (name, type code)
    rows: list[list] = field(default_factory=list)


@dataclass
class Reply:
    errors: list[Error] = field(default_factory=list)
    infos: list[Error] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    dones: list[tuple[int, int, int]] = field(default_factory=list)  # (token, status, rows)
    envchanges: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    loginack: tuple | None = None
    featureextack: bool = False
    return_status: list[int] = field(default_factory=list)
    return_values: list[tuple[str, object]] = field(default_factory=list)

    @property
    def rows(self) -> list[list]:
        return self.results[0].rows if self.results else []


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def take(self, count: int) -> bytes:
        chunk = self.data[self.position:self.position + count]
        if len(chunk) != count:
            raise ValueError("truncated token stream")
        self.position += count
        return chunk

    def unpack(self, fmt: str):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))

    def text(self, chars: int) -> str:
        return self.take(chars * 2).decode("utf-16-le")


def _type_info(cursor: _Cursor) -> tuple:
    code = cursor.take(1)[0]
    if code in (0x26, 0x68, 0x6D, 0x6F, 0x24):
        return (code, cursor.take(1)[0])
    if code == 0x6A:
        return (code,) + tuple(cursor.take(3))
    if code == 0x28:
        return (code,)
    if code == 0xE7:
        (size,) = cursor.unpack("<H")
        cursor.take(5)
        return (code, size)
    raise ValueError(f"type {code:#x}")


def _value(cursor: _Cursor, info: tuple):
    code = info[0]
    if code == 0xE7 and info[1] == 0xFFFF:
        (total,) = cursor.unpack("<Q")
        if total == 0xFFFFFFFFFFFFFFFF:
            return None
        parts = []
        while True:
            (size,) = cursor.unpack("<I")
            if not size:
                break
            parts.append(cursor.take(size))
        return b"".join(parts).decode("utf-16-le")
    if code == 0xE7:
        (size,) = cursor.unpack("<H")
        return None if size == 0xFFFF else cursor.take(size).decode("utf-16-le")
    size = cursor.take(1)[0]
    if size == 0:
        return None
    raw = cursor.take(size)
    if code == 0x26:
        return int.from_bytes(raw, "little", signed=True)
    if code == 0x68:
        return raw != b"\x00"
    if code == 0x6D:
        return struct.unpack("<d" if size == 8 else "<f", raw)[0]
    if code == 0x24:
        return uuid.UUID(bytes_le=raw)
    if code == 0x6F:
        days, ticks = struct.unpack("<iI", raw)
        return dt.datetime(1900, 1, 1) + dt.timedelta(days=days, milliseconds=round(ticks * 10 / 3))
    if code == 0x28:
        return dt.date(1, 1, 1) + dt.timedelta(days=int.from_bytes(raw, "little"))
    if code == 0x6A:
        import decimal
        number = decimal.Decimal(int.from_bytes(raw[1:], "little")).scaleb(-info[3])
        return number if raw[0] else -number
    raise ValueError(f"type {code:#x}")


def read_tokens(data: bytes) -> Reply:
    reply = Reply()
    cursor = _Cursor(data)
    result: Result | None = None
    infos: list[tuple] = []
    while cursor.position < len(data):
        token = cursor.take(1)[0]
        if token in (0xAA, 0xAB):
            (_length,) = cursor.unpack("<H")
            number, state, severity = cursor.unpack("<iBB")
            (chars,) = cursor.unpack("<H")
            text = cursor.text(chars)
            cursor.text(cursor.take(1)[0])
            cursor.text(cursor.take(1)[0])
            (line,) = cursor.unpack("<i")
            (reply.errors if token == 0xAA else reply.infos).append(Error(number, state, severity, text, line))
        elif token == 0xE3:
            (length,) = cursor.unpack("<H")
            body = cursor.take(length)
            kind = body[0]
            new_length = body[1]
            if kind in (7, 8, 9, 10, 18):
                new = body[2:2 + new_length]
                old = body[3 + new_length:]
            else:
                new = body[2:2 + new_length * 2]
                old = body[3 + new_length * 2:]
            reply.envchanges.append((kind, new, old))
        elif token == 0xAD:
            (length,) = cursor.unpack("<H")
            body = cursor.take(length)
            reply.loginack = (body[0], body[1:5].hex(), body[6:6 + body[5] * 2].decode("utf-16-le"), tuple(body[-4:]))
        elif token == 0xAE:
            while cursor.take(1)[0] != 0xFF:
                (size,) = cursor.unpack("<I")
                cursor.take(size)
            reply.featureextack = True
        elif token == 0x81:
            (count,) = cursor.unpack("<H")
            if count == 0xFFFF:
                continue
            columns = []
            for _ in range(count):
                cursor.unpack("<IH")
                info = _type_info(cursor)
                name = cursor.text(cursor.take(1)[0])
                columns.append((name, info))
            infos = [c[1] for c in columns]
            result = Result([(name, info[0]) for name, info in columns])
            reply.results.append(result)
        elif token == 0xD1:
            result.rows.append([_value(cursor, info) for info in infos])
        elif token in (0xFD, 0xFE, 0xFF):
            status, _command, rows = cursor.unpack("<HHQ")
            reply.dones.append((token, status, rows))
        elif token == 0x79:
            reply.return_status.append(cursor.unpack("<i")[0])
        elif token == 0xAC:
            cursor.unpack("<H")
            name = cursor.text(cursor.take(1)[0])
            cursor.take(1 + 4 + 2)
            info = _type_info(cursor)
            reply.return_values.append((name, _value(cursor, info)))
        else:
            raise ValueError(f"token {token:#x} at {cursor.position - 1}")
    return reply


# ---------------------------------------------------------------------------- RPC requests


def rpc_request(procedure: int | str, parameters: list[tuple[str, int, bytes, bytes]], options: int = 0) -> bytes:
    """An RPC request: ALL_HEADERS, the procedure (by well-known id or by name), then each parameter as
    (name, status flags, TYPE_INFO bytes, value bytes)."""
    if isinstance(procedure, int):
        head = struct.pack("<HH", 0xFFFF, procedure)
    else:
        head = struct.pack("<H", len(procedure)) + procedure.encode("utf-16-le")
    body = head + struct.pack("<H", options)
    for name, status, info, value in parameters:
        raw = name.encode("utf-16-le")
        body += bytes((len(raw) // 2,)) + raw + bytes((status,)) + info + value
    return ALL_HEADERS + body


def param(name: str, sqltype, value, output: bool = False) -> tuple[str, int, bytes, bytes]:
    """A parameter the way clients send it (the server's own value encoders write the same bytes)."""
    from odata_emulator.tds import encoders
    from odata_emulator.tds.encoders import epoch_of

    stored = value
    if isinstance(value, (dt.datetime, dt.date)):
        stored = epoch_of(value)
    elif isinstance(value, uuid.UUID):
        stored = str(value)
    return name, 1 if output else 0, sqltype.type_info(), encoders.encoder(sqltype)(stored)
