"""One client connection's bytes: an `asyncio.Protocol` that reads whole messages, writes replies in
packets with back-pressure, and speaks TLS in both of its TDS forms.

- TDS 7.x: PRELOGIN in the clear, then the TLS handshake carried inside PRELOGIN (0x12) packets, then
  raw TLS records carrying TDS packets. "Login only" encryption drops TLS again right after LOGIN7.
- TDS 8.0 (strict): a TLS handshake first (the first byte is 0x16), then everything inside TLS.

TLS runs on `ssl.MemoryBIO` pairs, so both forms share one code path and the event loop never blocks.

Bytes arrive in `data_received` (the event loop's callback for a readable socket), are decrypted there
when TLS is on, and wait in one buffer of clear bytes for the session, whose task reads its next
message from it itself: a request costs one wake-up of that task, no reader task or queue between the
socket and the session. While the session answers a request it `watch`es the channel: an ATTENTION
packet (the client's cancel) that arrives meanwhile is taken out of the buffer and reported at once,
and so is the end of the connection. A client that sends more than READ_AHEAD bytes that the session
has not read yet (requests sent without waiting for their answers) is not read from until the
session catches up: memory stays bounded and TCP pushes back on the client.
"""

from __future__ import annotations

import asyncio
import ssl
import struct
from collections.abc import Callable
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
    Message,
    PacketType,
    header,
)

READ_SIZE = 65536
# Clear bytes read ahead of the session before the socket is no longer read: several whole packets of
# the largest size, so that a packet always fits; a flood of requests waits in the client's socket.
READ_AHEAD = 256 * 1024
# The packet types a client sends, and the status bits it may set.
CLIENT_TYPES = frozenset({PacketType.SQL_BATCH, PacketType.RPC, PacketType.ATTENTION, PacketType.BULK_LOAD,
                          PacketType.FEDAUTH_TOKEN, PacketType.TRANSACTION_MANAGER, PacketType.LOGIN7,
                          PacketType.SSPI, PacketType.PRELOGIN})
STATUS_BITS = STATUS_EOM | STATUS_IGNORE | STATUS_RESET | STATUS_RESET_SKIPTRAN
# Once a packet has begun, the rest of it (and of its message) must arrive within this many seconds.
PACKET_TIMEOUT = 60.0
# The TLS handshake's own messages (a ClientHello with many extensions fits well within this).
MAX_HANDSHAKE_BYTES = 256 * 1024

_PACKET_HEAD = struct.Struct(">BBH")  # the header's type, status and length (header included)


class ClosedByPeer(Exception):
    """The client closed the connection (or it broke)."""


@dataclass(frozen=True)
class _Tls:
    """A TLS session over a pair of memory BIOs: records in from the socket, records out to it."""

    session: ssl.SSLObject
    incoming: ssl.MemoryBIO
    outgoing: ssl.MemoryBIO


class Channel(asyncio.Protocol):
    """`opened` is called with the channel once the connection is made (the server starts its session)."""

    def __init__(self, opened: Callable[[Channel], None] | None = None) -> None:
        self._opened = opened
        self.transport: asyncio.Transport | None = None
        self._plain = bytearray()  # bytes read (and decrypted) but not consumed yet; never replaced
        self._tls: _Tls | None = None  # set once a handshake is done: records are decrypted as they come
        self.encrypted = False
        self.alpn: str | None = None
        self._wanted = 0  # the reader waits until `_plain` holds this many bytes
        self._waiter: asyncio.Future | None = None
        self._ended: BaseException | None = None  # why no more bytes will come (raised once `_plain` runs out)
        self._reading_paused = False
        self._writing_paused = False
        self._drained: asyncio.Future | None = None
        self._lost: asyncio.Future | None = None
        self._watcher: Callable[[], None] | None = None  # told of an attention or the end, while answering
        self._scanned = 0  # `_plain` before this offset is whole packets the watcher has seen

    # ------------------------------------------------------------------ the protocol's callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._lost = asyncio.get_running_loop().create_future()
        if self._opened is not None:
            self._opened(self)

    def data_received(self, data: bytes) -> None:
        if self._tls is None:
            self._plain += data
        else:
            self._tls.incoming.write(data)
            self._decrypt()
        if self._watcher is not None:
            self._scan()
        if len(self._plain) > READ_AHEAD and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        if self._waiter is not None and (len(self._plain) >= self._wanted or self._ended is not None):
            self._wake()

    def eof_received(self) -> bool:
        self._end(ClosedByPeer("end of stream"))
        return True  # the answer being written still goes out; the session closes the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(ClosedByPeer(str(exc) if exc else "closed"))
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)  # `drain` sees the transport closing

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _end(self, reason: BaseException) -> None:
        if self._ended is None:
            self._ended = reason
            if self.transport is not None:  # nothing more is read (a broken TLS stream would pile up)
                self.transport.pause_reading()
        if self._watcher is not None:
            self._watcher()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _decrypt(self) -> None:
        """The TLS records received so far, as clear bytes in `_plain`."""
        tls = self._tls
        assert tls is not None
        try:
            while True:
                data = tls.session.read(READ_SIZE)
                if not data:
                    self._end(ClosedByPeer("TLS closed"))
                    break
                self._plain += data
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            self._end(ClosedByPeer("TLS closed"))
        except ssl.SSLError as exc:
            self._end(ProtocolError(f"TLS: {exc}"))
        self._flush_tls()

    # ------------------------------------------------------------------ attention while answering

    def watch(self, watcher: Callable[[], None] | None) -> None:
        """While a request is answered (`watcher` set): an ATTENTION packet that arrives, or is already
        read, is taken out of the stream and `watcher` called at once; so is the end of the connection
        or a packet header no client sends. `None` stops watching."""
        self._watcher = watcher
        self._scanned = 0
        if watcher is not None:
            if self._ended is not None:
                watcher()
            self._scan()

    def _scan(self) -> None:
        plain, offset = self._plain, self._scanned
        while offset + HEADER_SIZE <= len(plain):
            kind, _status, length = _PACKET_HEAD.unpack_from(plain, offset)
            if length < HEADER_SIZE or length > MAX_PACKET_SIZE + 1:  # the read that comes to it ends the session
                offset = len(plain) + MAX_PACKET_SIZE + 1  # nothing after it is scanned
                assert self._watcher is not None
                self._watcher()
                break
            if kind == PacketType.ATTENTION:
                if offset + length > len(plain):
                    break
                del plain[offset:offset + length]
                assert self._watcher is not None
                self._watcher()
                continue
            offset += length
        self._scanned = offset

    # ------------------------------------------------------------------ reading

    async def _wait_for(self, count: int) -> None:
        """Until `_plain` holds `count` bytes."""
        while len(self._plain) < count:
            if self._ended is not None:
                raise self._ended
            if self._reading_paused:  # what is buffered is not enough: read on
                self._resume_reading()
            self._wanted = count
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _take(self, count: int, skip: int = 0) -> bytes:
        """The next `count` bytes of the stream, consumed; the first `skip` of them left out."""
        plain = self._plain
        data = bytes(plain[skip:count])
        del plain[:count]
        self._scanned = max(0, self._scanned - count)
        if self._reading_paused and len(plain) <= READ_AHEAD // 2:
            self._resume_reading()
        return data

    def _resume_reading(self) -> None:
        self._reading_paused = False
        if self.transport is not None and self._ended is None:
            self.transport.resume_reading()

    async def peek_byte(self) -> int:
        await self._wait_for(1)
        return self._plain[0]

    async def read_packet(self, *, first: bool = True,
                          expected: frozenset[int] = CLIENT_TYPES) -> tuple[int, int, bytes]:
        """One packet: (type, status, payload). The header may be waited for (an idle client); the rest
        has PACKET_TIMEOUT. A header that cannot be a client's (type, status bits, length) ends the
        connection at once."""
        plain = self._plain
        if len(plain) < HEADER_SIZE:
            await (self._wait_for(HEADER_SIZE) if first else
                   asyncio.wait_for(self._wait_for(HEADER_SIZE), PACKET_TIMEOUT))
        kind, status, length = _PACKET_HEAD.unpack_from(plain)
        if kind not in expected:
            raise ProtocolError(f"packet type {kind:#x}")
        if status & ~STATUS_BITS:
            raise ProtocolError(f"packet status {status:#x}")
        if length < HEADER_SIZE or length > MAX_PACKET_SIZE + 1:
            raise ProtocolError(f"packet length {length}")
        if len(plain) < length:  # the usual packet arrives with its header: no timer
            try:
                await asyncio.wait_for(self._wait_for(length), PACKET_TIMEOUT)
            except TimeoutError:
                raise ProtocolError("the packet did not arrive in time") from None
        return kind, status, self._take(length, HEADER_SIZE)

    async def read_message(self, max_size: int | None = None,
                           expected: frozenset[int] = CLIENT_TYPES) -> Message:
        if max_size is None:
            max_size = MAX_MESSAGE_SIZE
        kind, status, payload = await self.read_packet(expected=expected)
        if kind == PacketType.ATTENTION or status & STATUS_EOM and not status & STATUS_IGNORE:
            return Message(kind, payload, status)  # an attention, or a request in one packet: most of them
        parts, size, oversized, last = [payload], len(payload), False, status
        while not last & STATUS_EOM:
            try:
                part_kind, last, payload = await self.read_packet(first=False)
            except TimeoutError:
                raise ProtocolError("the rest of the message did not arrive in time") from None
            if part_kind != kind:
                if part_kind == PacketType.ATTENTION:  # a cancel while the request was still being sent
                    return Message(kind, b"", status, ignored=True)
                raise ProtocolError(f"packet type {part_kind:#x} inside a message of type {kind:#x}")
            size += len(payload)
            if size > max_size:
                oversized = True
            elif not oversized:
                parts.append(payload)
        ignored = bool(last & STATUS_IGNORE)
        return Message(kind, b"".join(parts), status, ignored=ignored, oversized=oversized)

    # ------------------------------------------------------------------ writing

    @property
    def closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._tls is not None:
            try:
                self._tls.session.write(data)
            except ssl.SSLError as exc:
                raise ClosedByPeer(f"TLS: {exc}") from None
            self._flush_tls()
        else:
            assert self.transport is not None
            self.transport.write(data)

    async def drain(self) -> None:
        """Until the transport takes more (its buffer below the high-water mark)."""
        while True:
            if self.closing:
                raise ClosedByPeer("closed")
            if not self._writing_paused:
                return
            self._drained = asyncio.get_running_loop().create_future()
            try:
                await self._drained
            finally:
                self._drained = None

    def _flush_tls(self) -> None:
        pending = self._tls.outgoing.read() if self._tls is not None else b""
        if pending and self.transport is not None:
            self.transport.write(pending)

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
                self.write(header(PacketType.PRELOGIN, STATUS_EOM, len(pending), spid) + pending)
                await self.drain()
            if done:
                break
            kind, payload = await self._read_raw_packet()
            if kind != PacketType.PRELOGIN:
                raise ProtocolError(f"packet type {kind:#x} during the TLS handshake")
            received += len(payload)
            if received > MAX_HANDSHAKE_BYTES:
                raise ProtocolError("TLS handshake too long")
            tls.incoming.write(payload)
        self._finish_tls(tls)

    async def _read_raw_packet(self) -> tuple[int, bytes]:
        """A packet of the handshake (its PRELOGIN wrappers are clear text): (type, payload)."""
        try:
            await asyncio.wait_for(self._wait_for(HEADER_SIZE), PACKET_TIMEOUT)
            kind, _status, length = _PACKET_HEAD.unpack_from(self._plain)
            if length < HEADER_SIZE or length > MAX_PACKET_SIZE + 1:
                raise ProtocolError(f"packet length {length}")
            await asyncio.wait_for(self._wait_for(length), PACKET_TIMEOUT)
        except TimeoutError:
            raise ProtocolError("the TLS handshake did not arrive in time") from None
        return kind, self._take(length, HEADER_SIZE)

    async def start_tls_direct(self, context: ssl.SSLContext) -> None:
        """TDS 8.0: a plain TLS handshake on the socket, before any TDS packet."""
        tls = self._begin_tls(context)
        received = 0
        while True:
            if self._plain:  # the byte(s) peeked to tell TLS from PRELOGIN, then each flight
                received += len(self._plain)
                if received > MAX_HANDSHAKE_BYTES:
                    raise ProtocolError("TLS handshake too long")
                tls.incoming.write(self._take(len(self._plain)))
            try:
                tls.session.do_handshake()
                self._write_handshake(tls)
                self._finish_tls(tls)
                break
            except ssl.SSLWantReadError:
                self._write_handshake(tls)
                await self.drain()
                try:
                    await asyncio.wait_for(self._wait_for(1), PACKET_TIMEOUT)
                except TimeoutError:
                    raise ProtocolError("the TLS handshake did not arrive in time") from None
            except ssl.SSLError as exc:
                raise ProtocolError(f"TLS handshake: {exc}") from None
        await self.drain()

    def _write_handshake(self, tls: _Tls) -> None:
        pending = tls.outgoing.read()
        if pending and self.transport is not None:
            self.transport.write(pending)

    def _begin_tls(self, context: ssl.SSLContext) -> _Tls:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        return _Tls(context.wrap_bio(incoming, outgoing, server_side=True), incoming, outgoing)

    def _finish_tls(self, tls: _Tls) -> None:
        """From now on records are decrypted as they arrive. Those that came right behind the handshake
        (in the incoming BIO with its last flight, or read since) are the start of the encrypted stream."""
        if self._plain:
            tls.incoming.write(self._take(len(self._plain)))
        self._tls = tls
        self.encrypted = True
        self.alpn = tls.session.selected_alpn_protocol()
        self._decrypt()

    def stop_tls(self) -> None:
        """Login-only encryption: back to clear text once LOGIN7 has been read."""
        self._tls = None
        self.encrypted = False

    # ------------------------------------------------------------------ closing

    async def close(self, grace: float = 5.0) -> None:
        """What is written still goes out (a login error, the last packets); a client that does not read
        it within `grace` seconds is cut off."""
        if self.transport is None:
            return
        if not self.transport.is_closing():
            self.transport.close()
        if self._lost is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._lost), grace)
            except TimeoutError:
                self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
