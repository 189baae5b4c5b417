"""One client connection's bytes: reading whole messages, writing replies in packets with
back-pressure, and TLS in both of its TDS forms.

- TDS 7.x: PRELOGIN in the clear, then the TLS handshake carried inside PRELOGIN (0x12) packets, then
  raw TLS records carrying TDS packets. "Login only" encryption drops TLS again right after LOGIN7.
- TDS 8.0 (strict): a TLS handshake first (the first byte is 0x16), then everything inside TLS.

TLS runs on `ssl.MemoryBIO` pairs, so both forms share one code path and the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from .errors import ProtocolError
from .packets import (
    HEADER_SIZE,
    MAX_MESSAGE_SIZE,
    MAX_PACKET_SIZE,
    STATUS_EOM,
    STATUS_IGNORE,
    STATUS_RESET,
    STATUS_RESET_SKIPTRAN,
    Header,
    Message,
    PacketType,
    header,
)

READ_SIZE = 65536
# The packet types a client sends, and the status bits it may set.
CLIENT_TYPES = frozenset({PacketType.SQL_BATCH, PacketType.RPC, PacketType.ATTENTION, PacketType.BULK_LOAD,
                          PacketType.FEDAUTH_TOKEN, PacketType.TRANSACTION_MANAGER, PacketType.LOGIN7,
                          PacketType.SSPI, PacketType.PRELOGIN})
STATUS_BITS = STATUS_EOM | STATUS_IGNORE | STATUS_RESET | STATUS_RESET_SKIPTRAN
# Once a packet has begun, the rest of it (and of its message) must arrive within this many seconds.
PACKET_TIMEOUT = 60.0
# The TLS handshake's own messages (a ClientHello with many extensions fits well within this).
MAX_HANDSHAKE_BYTES = 256 * 1024


class ClosedByPeer(Exception):
    """The client closed the connection (or it broke)."""


@dataclass(frozen=True)
class _Tls:
    """A TLS session over a pair of memory BIOs: records in from the socket, records out to it."""

    session: ssl.SSLObject
    incoming: ssl.MemoryBIO
    outgoing: ssl.MemoryBIO


class Channel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._plain = bytearray()  # bytes read (and decrypted) but not consumed yet
        self._tls: _Tls | None = None
        self.encrypted = False
        self.alpn: str | None = None

    # ------------------------------------------------------------------ reading

    async def _raw(self) -> bytes:
        try:
            data = await self.reader.read(READ_SIZE)
        except (ConnectionError, OSError) as exc:
            raise ClosedByPeer(str(exc)) from None
        if not data:
            raise ClosedByPeer("end of stream")
        return data

    async def _fill(self) -> None:
        tls = self._tls
        if tls is None:
            self._plain += await self._raw()
            return
        while True:
            try:
                data = tls.session.read(READ_SIZE)
            except ssl.SSLWantReadError:
                self._flush_tls()
                tls.incoming.write(await self._raw())
                continue
            except ssl.SSLZeroReturnError:
                raise ClosedByPeer("TLS closed") from None
            except ssl.SSLError as exc:
                raise ProtocolError(f"TLS: {exc}") from None
            self._flush_tls()
            if not data:
                raise ClosedByPeer("TLS closed")
            self._plain += data
            return

    async def read_exact(self, count: int) -> bytes:
        while len(self._plain) < count:
            await self._fill()
        return self._take(count)

    def _take(self, count: int) -> bytes:
        data = bytes(self._plain[:count])
        del self._plain[:count]
        return data

    async def peek_byte(self) -> int:
        while not self._plain:
            await self._fill()
        return self._plain[0]

    async def read_packet(self, *, first: bool = True, expected: frozenset[int] = CLIENT_TYPES) -> tuple[Header, bytes]:
        """One packet. The header may be waited for (an idle client); the rest has PACKET_TIMEOUT. A
        header that cannot be a client's (type, status bits, length) ends the connection at once."""
        if len(self._plain) >= HEADER_SIZE:  # already read: no timer, no task
            raw = self._take(HEADER_SIZE)
        else:
            raw = await (self.read_exact(HEADER_SIZE) if first else
                         asyncio.wait_for(self.read_exact(HEADER_SIZE), PACKET_TIMEOUT))
        head = Header.parse(raw)
        if head.type not in expected:
            raise ProtocolError(f"packet type {head.type:#x}")
        if head.status & ~STATUS_BITS:
            raise ProtocolError(f"packet status {head.status:#x}")
        if head.length < HEADER_SIZE or head.length > MAX_PACKET_SIZE + 1:
            raise ProtocolError(f"packet length {head.length}")
        size = head.length - HEADER_SIZE
        if len(self._plain) >= size:  # arrived with its header (the usual case): no timer, no task
            return head, self._take(size)
        try:
            payload = await asyncio.wait_for(self.read_exact(size), PACKET_TIMEOUT)
        except TimeoutError:
            raise ProtocolError("the packet did not arrive in time") from None
        return head, payload

    async def read_message(self, max_size: int | None = None,
                           expected: frozenset[int] = CLIENT_TYPES) -> Message:
        if max_size is None:
            max_size = MAX_MESSAGE_SIZE
        head, payload = await self.read_packet(expected=expected)
        kind, status = head.type, head.status
        if kind == PacketType.ATTENTION:
            return Message(kind, payload, status)
        parts, size, oversized = [payload], len(payload), False
        while not head.status & STATUS_EOM:
            try:
                head, payload = await self.read_packet(first=False)
            except TimeoutError:
                raise ProtocolError("the rest of the message did not arrive in time") from None
            if head.type != kind:
                if head.type == PacketType.ATTENTION:  # a cancel while the request was still being sent
                    return Message(kind, b"", status, ignored=True)
                raise ProtocolError(f"packet type {head.type:#x} inside a message of type {kind:#x}")
            size += len(payload)
            if size > max_size:
                oversized = True
            elif not oversized:
                parts.append(payload)
        ignored = bool(head.status & STATUS_IGNORE)
        return Message(kind, b"".join(parts), status, ignored=ignored, oversized=oversized)

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._tls is not None:
            try:
                self._tls.session.write(data)
            except ssl.SSLError as exc:
                raise ClosedByPeer(f"TLS: {exc}") from None
            self._flush_tls()
        else:
            self.writer.write(data)

    async def drain(self) -> None:
        if self.writer.is_closing():
            raise ClosedByPeer("closed")
        try:
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ClosedByPeer(str(exc)) from None

    def _flush_tls(self) -> None:
        pending = self._tls.outgoing.read() if self._tls is not None else b""
        if pending:
            self.writer.write(pending)

    # ------------------------------------------------------------------ TLS

    async def start_tls_in_prelogin(self, context: ssl.SSLContext, spid: int) -> None:
        """TDS 7.x: the handshake travels inside PRELOGIN packets, both ways."""
        tls = self._begin_tls(context)
        received = 0
        while True:
            try:
                tls.session.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            except ssl.SSLError as exc:
                raise ProtocolError(f"TLS handshake: {exc}") from None
            pending = tls.outgoing.read()
            if pending:
                self.writer.write(header(PacketType.PRELOGIN, STATUS_EOM, len(pending), spid) + pending)
                await self.drain()
            if done:
                break
            head, payload = await self._read_raw_packet()
            if head.type != PacketType.PRELOGIN:
                raise ProtocolError(f"packet type {head.type:#x} during the TLS handshake")
            received += len(payload)
            if received > MAX_HANDSHAKE_BYTES:
                raise ProtocolError("TLS handshake too long")
            tls.incoming.write(payload)
        if self._plain:  # TLS records sent right behind the handshake: they are the encrypted stream
            tls.incoming.write(bytes(self._plain))
            self._plain.clear()
        self._finish_tls(tls)

    async def _read_raw_packet(self) -> tuple[Header, bytes]:
        """A packet read from the socket itself (the handshake's PRELOGIN wrappers are clear text)."""
        async def exact(count: int) -> bytes:
            while len(self._plain) < count:
                self._plain += await self._raw()
            data = bytes(self._plain[:count])
            del self._plain[:count]
            return data

        try:
            head = Header.parse(await asyncio.wait_for(exact(HEADER_SIZE), PACKET_TIMEOUT))
            if head.length < HEADER_SIZE or head.length > MAX_PACKET_SIZE + 1:
                raise ProtocolError(f"packet length {head.length}")
            return head, await asyncio.wait_for(exact(head.length - HEADER_SIZE), PACKET_TIMEOUT)
        except TimeoutError:
            raise ProtocolError("the TLS handshake did not arrive in time") from None

    async def start_tls_direct(self, context: ssl.SSLContext) -> None:
        """TDS 8.0: a plain TLS handshake on the socket, before any TDS packet."""
        tls = self._begin_tls(context)
        if self._plain:  # the byte(s) peeked to tell TLS from PRELOGIN
            tls.incoming.write(bytes(self._plain))
            self._plain.clear()
        received = 0
        while True:
            try:
                tls.session.do_handshake()
                self._flush_tls()
                break
            except ssl.SSLWantReadError:
                self._flush_tls()
                await self.drain()
                try:
                    data = await asyncio.wait_for(self._raw(), PACKET_TIMEOUT)
                except TimeoutError:
                    raise ProtocolError("the TLS handshake did not arrive in time") from None
                received += len(data)
                if received > MAX_HANDSHAKE_BYTES:
                    raise ProtocolError("TLS handshake too long") from None
                tls.incoming.write(data)
            except ssl.SSLError as exc:
                raise ProtocolError(f"TLS handshake: {exc}") from None
        await self.drain()
        self._finish_tls(tls)

    def _begin_tls(self, context: ssl.SSLContext) -> _Tls:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = _Tls(context.wrap_bio(incoming, outgoing, server_side=True), incoming, outgoing)
        return self._tls

    def _finish_tls(self, tls: _Tls) -> None:
        self.encrypted = True
        self.alpn = tls.session.selected_alpn_protocol()
        # Application data that came with the last handshake flight stays in the incoming BIO and
        # is read by `_fill` like any other.

    def stop_tls(self) -> None:
        """Login-only encryption: back to clear text once LOGIN7 has been read."""
        self._tls = None
        self.encrypted = False

    # ------------------------------------------------------------------ closing

    async def close(self, grace: float = 5.0) -> None:
        """What is written still goes out (a login error, the last packets); a client that does not read
        it within `grace` seconds is cut off."""
        try:
            if not self.writer.is_closing():
                self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), grace)
        except (TimeoutError, ConnectionError, OSError, ssl.SSLError):
            self.abort()

    def abort(self) -> None:
        transport = self.writer.transport
        if transport is not None:
            transport.abort()
