"""LOGIN7 (MS-TDS 2.2.6.4): what a client sends to log in, and the server's answer.

The fixed part is 94 bytes: lengths, flags, then (offset, length) pairs pointing into the rest of the
message for the host, user, password (each byte nibble-swapped and XORed with 0xA5), application,
server, feature extension, client library, language, database... Every pair is checked against the
message before it is read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from . import tokens
from .errors import ProtocolError
from .packets import DEFAULT_PACKET_SIZE, MAX_PACKET_SIZE, MIN_PACKET_SIZE

FIXED = struct.Struct("<IIIIII BBBB iI")  # Length, TDSVersion, PacketSize, ClientProgVer, PID, ConnID, flags, tz, LCID
FIXED_SIZE = 94
# (offset, length) pairs after the fixed 36 bytes, in order; lengths in characters unless noted
_FIELDS = ("host", "user", "password", "app", "server", "extension", "library", "language", "database")
OPTION3_EXTENSION = 0x10

# Feature extensions (MS-TDS 2.2.6.4, FeatureExt)
FEATURE_SESSIONRECOVERY = 0x01
FEATURE_FEDAUTH = 0x02
FEATURE_COLUMNENCRYPTION = 0x04
FEATURE_GLOBALTRANSACTIONS = 0x05
FEATURE_AZURESQLSUPPORT = 0x08
FEATURE_DATACLASSIFICATION = 0x09
FEATURE_UTF8_SUPPORT = 0x0A
FEATURE_AZURESQLDNSCACHING = 0x0B
FEATURE_TERMINATOR = 0xFF

TDS_74 = 0x74000004
TDS_80 = 0x08000000


@dataclass
class Login7:
    tds_version: int
    packet_size: int
    client_pid: int
    host: str = ""
    user: str = ""
    password: str = ""
    app: str = ""
    server: str = ""
    library: str = ""
    language: str = ""
    database: str = ""
    sspi: bool = False
    features: dict[int, bytes] = field(default_factory=dict)

    @property
    def negotiated_packet_size(self) -> int:
        if self.packet_size == 0:
            return DEFAULT_PACKET_SIZE
        return max(MIN_PACKET_SIZE, min(MAX_PACKET_SIZE, self.packet_size))


def decode_password(raw: bytes) -> str:
    plain = bytes(((b ^ 0xA5) << 4 & 0xF0) | ((b ^ 0xA5) >> 4) for b in raw)
    return plain.decode("utf-16-le", "replace")


def encode_password(password: str) -> bytes:
    """The client's side (for tests): each byte nibble-swapped, then XORed with 0xA5."""
    return bytes((((b << 4) & 0xF0) | (b >> 4)) ^ 0xA5 for b in password.encode("utf-16-le"))


def parse(data: bytes) -> Login7:
    if len(data) < FIXED_SIZE:
        raise ProtocolError("LOGIN7 shorter than its fixed part")
    (length, version, packet_size, _prog, pid, _conn, _flags1, _flags2, _type_flags, flags3,
     _tz, _lcid) = FIXED.unpack_from(data, 0)
    if length > len(data) or length < FIXED_SIZE:
        raise ProtocolError(f"LOGIN7 length {length} for a message of {len(data)} bytes")
    body = data[:length]
    pairs = struct.unpack_from("<" + "HH" * 9, body, 36)
    values: dict[str, str] = {}
    login = Login7(tds_version=version, packet_size=packet_size, client_pid=pid)
    for index, name in enumerate(_FIELDS):
        offset, count = pairs[2 * index], pairs[2 * index + 1]
        if name == "extension":
            extension = (offset, count)
            continue
        size = count * 2
        if count and (offset < FIXED_SIZE or offset + size > length):
            raise ProtocolError(f"LOGIN7 {name} outside the message")
        raw = body[offset:offset + size] if count else b""
        values[name] = decode_password(raw) if name == "password" else raw.decode("utf-16-le", "replace")
        if count > 256 and name != "password":
            raise ProtocolError(f"LOGIN7 {name} too long")
    # ClientID (6 bytes) at 72, then SSPI (offset, length) at 78
    sspi_offset, sspi_length = struct.unpack_from("<HH", body, 78)
    if sspi_length and sspi_offset + sspi_length > length:
        raise ProtocolError("LOGIN7 SSPI outside the message")
    login.sspi = sspi_length > 0
    for name, value in values.items():
        setattr(login, name, value)
    if flags3 & OPTION3_EXTENSION:
        offset, size = extension
        if size < 4 or offset < FIXED_SIZE or offset + 4 > length:
            raise ProtocolError("LOGIN7 extension outside the message")
        (features_at,) = struct.unpack_from("<I", body, offset)
        login.features = parse_features(body, features_at, length)
    return login


def parse_features(body: bytes, position: int, end: int) -> dict[int, bytes]:
    features: dict[int, bytes] = {}
    if position < FIXED_SIZE or position >= end:
        raise ProtocolError("LOGIN7 feature extension outside the message")
    while True:
        if position >= end:
            raise ProtocolError("LOGIN7 feature extension without its terminator")
        feature = body[position]
        if feature == FEATURE_TERMINATOR:
            return features
        if position + 5 > end:
            raise ProtocolError("truncated LOGIN7 feature")
        (size,) = struct.unpack_from("<I", body, position + 1)
        if position + 5 + size > end:
            raise ProtocolError("LOGIN7 feature outside the message")
        features[feature] = body[position + 5:position + 5 + size]
        position += 5 + size
        if len(features) > 64:
            raise ProtocolError("too many LOGIN7 features")


def build(login: Login7) -> bytes:
    """A LOGIN7 message as a client writes it (for tests and the fuzzer)."""
    # The password's place holds no text: it is encoded from `login.password` below.
    strings = [login.host, login.user, "", login.app, login.server, "", "odata-emulator-tests",
               login.language, login.database]
    body = bytearray()
    pairs = []
    position = FIXED_SIZE
    for name, text in zip(_FIELDS, strings):
        if name == "password":
            raw = encode_password(login.password)
        elif name == "extension":
            pairs += [0, 0]
            continue
        else:
            raw = text.encode("utf-16-le")
        pairs += [position, len(raw) // 2]
        body += raw
        position += len(raw)
    features_at = 0
    if login.features:
        extension_at = position
        position += 4
        features_at = position
        feature_bytes = b"".join(bytes((f,)) + struct.pack("<I", len(d)) + d for f, d in login.features.items()) + b"\xff"
        pairs[10:12] = [extension_at, 4]
        body += struct.pack("<I", features_at) + feature_bytes
        position += len(feature_bytes)
    flags3 = OPTION3_EXTENSION if login.features else 0
    fixed = FIXED.pack(FIXED_SIZE + len(body), login.tds_version, login.packet_size, 7, login.client_pid, 0,
                       0xE0, 0x03, 0x00, flags3, 0, 0x409)
    fixed += struct.pack("<" + "HH" * 9, *pairs)
    fixed += b"\x00" * 6 + struct.pack("<HHHHHHI", 0, 0, 0, 0, 0, 0, 0)
    assert len(fixed) == FIXED_SIZE, len(fixed)
    return fixed + bytes(body)


def response(*, database: str, packet_size: int, program: str, version: tuple[int, int, int],
             features: dict[int, bytes], server: str) -> bytes:
    """ENVCHANGE (database, collation, language, packet size), the INFO messages SQL Server sends
    with them, LOGINACK, FEATUREEXTACK (when the client sent feature extensions), DONE."""
    from .types import COLLATION

    parts = [
        tokens.envchange(tokens.ENV_DATABASE, database, "master"),
        tokens.message(5701, 2, 0, f"Changed database context to '{database}'.", server, info=True),
        tokens.envchange_bytes(tokens.ENV_COLLATION, COLLATION),
        tokens.envchange(tokens.ENV_LANGUAGE, "us_english"),
        tokens.message(5703, 1, 0, "Changed language setting to us_english.", server, info=True),
        tokens.loginack(TDS_74, program, version),
        tokens.envchange(tokens.ENV_PACKET_SIZE, str(packet_size), str(packet_size)),
    ]
    if features:
        parts.append(tokens.featureextack(()))
    parts.append(tokens.done(tokens.DONE_FINAL))
    return b"".join(parts)
