"""The tokens of the server's replies (MS-TDS 2.2.7), each as bytes."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

from .encoders import encoder
from .types import SqlType

# Token types
ALTMETADATA = 0x88
COLMETADATA = 0x81
DONE = 0xFD
DONEPROC = 0xFE
DONEINPROC = 0xFF
ENVCHANGE = 0xE3
ERROR = 0xAA
FEATUREEXTACK = 0xAE
INFO = 0xAB
LOGINACK = 0xAD
RETURNSTATUS = 0x79
RETURNVALUE = 0xAC
ROW = 0xD1

# DONE status bits
DONE_FINAL = 0x00
DONE_MORE = 0x01
DONE_ERROR = 0x02
DONE_INXACT = 0x04
DONE_COUNT = 0x10
DONE_ATTN = 0x20
DONE_SRVERROR = 0x100

# DONE CurCmd values SQL Server uses
CMD_SELECT = 0xC1
CMD_NONE = 0x00

# ENVCHANGE types
ENV_DATABASE = 1
ENV_LANGUAGE = 2
ENV_PACKET_SIZE = 4
ENV_COLLATION = 7
ENV_BEGIN_TRANSACTION = 8
ENV_COMMIT_TRANSACTION = 9
ENV_ROLLBACK_TRANSACTION = 10
ENV_RESET_ACK = 18

_DONE = struct.Struct("<BHHQ")
_U2 = struct.Struct("<H")
_U4 = struct.Struct("<I")
_I4 = struct.Struct("<i")


def b_varchar(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return bytes((len(raw) // 2,)) + raw


def us_varchar(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return _U2.pack(len(raw) // 2) + raw


def b_varbyte(data: bytes) -> bytes:
    return bytes((len(data),)) + data


def _with_length(token: int, body: bytes) -> bytes:
    return bytes((token,)) + _U2.pack(len(body)) + body


def done(status: int = DONE_FINAL, rows: int = 0, command: int = CMD_NONE, token: int = DONE) -> bytes:
    return _DONE.pack(token, status, command, rows)


def envchange(kind: int, new: str, old: str = "") -> bytes:
    return _with_length(ENVCHANGE, bytes((kind,)) + b_varchar(new) + b_varchar(old))


def envchange_bytes(kind: int, new: bytes, old: bytes = b"") -> bytes:
    return _with_length(ENVCHANGE, bytes((kind,)) + b_varbyte(new) + b_varbyte(old))


def message(number: int, state: int, severity: int, text: str, server: str = "", procedure: str = "",
            line: int = 1, *, info: bool = False) -> bytes:
    """An ERROR token (or INFO with `info`)."""
    body = (_I4.pack(number) + bytes((state & 0xFF, severity & 0xFF)) + us_varchar(text[:4000])
            + b_varchar(server[:128]) + b_varchar(procedure[:128]) + _I4.pack(line))
    return _with_length(INFO if info else ERROR, body)


def loginack(tds_version: int, program: str, version: tuple[int, int, int]) -> bytes:
    major, minor, build = version
    body = (bytes((1,)) + tds_version.to_bytes(4, "big") + b_varchar(program)
            + bytes((major, minor, build >> 8 & 0xFF, build & 0xFF)))
    return _with_length(LOGINACK, body)


def featureextack(features: Sequence[tuple[int, bytes]] = ()) -> bytes:
    body = b"".join(bytes((feature,)) + _U4.pack(len(data)) + data for feature, data in features)
    return bytes((FEATUREEXTACK,)) + body + b"\xff"


def colmetadata(columns: Sequence[tuple[str, SqlType]]) -> bytes:
    if not columns:
        return bytes((COLMETADATA,)) + b"\xff\xff"
    parts = [bytes((COLMETADATA,)), _U2.pack(len(columns))]
    for name, sqltype in columns:
        # UserType 0, flags: nullable, read-only (updateable bits 0)
        parts.append(b"\x00\x00\x00\x00\x01\x00")
        parts.append(sqltype.type_info())
        parts.append(b_varchar(name[:128]))
    return b"".join(parts)


def row_encoder(types: Sequence[SqlType]):
    """A function writing one ROW token from a tuple of values in storage form."""
    encoders = [encoder(t) for t in types]
    if len(encoders) == 1:
        (only,) = encoders

        def encode_one(row: Sequence[Any]) -> bytes:
            return b"\xd1" + only(row[0])
        return encode_one

    def encode(row: Sequence[Any]) -> bytes:
        return b"\xd1" + b"".join([e(v) for e, v in zip(encoders, row)])
    return encode


def rows(types: Sequence[SqlType], values: Iterable[Sequence[Any]]) -> bytes:
    encode = row_encoder(types)
    return b"".join(encode(v) for v in values)


def returnstatus(value: int) -> bytes:
    return bytes((RETURNSTATUS,)) + _I4.pack(value)


def returnvalue(ordinal: int, name: str, sqltype: SqlType, value: Any, *, output: bool = True) -> bytes:
    return (bytes((RETURNVALUE,)) + _U2.pack(ordinal) + b_varchar(name) + bytes((1 if output else 2,))
            + b"\x00\x00\x00\x00\x00\x00"  # UserType, Flags
            + sqltype.type_info() + encoder(sqltype)(value))
