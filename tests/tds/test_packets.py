"""Packet framing: replies cut at the negotiated size, messages read whole from packets, and the
malformed framings (bad lengths, mixed types, a cancel mid-message) refused; the channel's flow: an
attention seen while a request is answered, reading paused under a flood of requests, writes that
wait for the transport."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

import pytest

from odata_emulator.tds.channel import READ_AHEAD, Channel, ClosedByPeer
from odata_emulator.tds.errors import ProtocolError
from odata_emulator.tds.packets import (
    HEADER,
    HEADER_SIZE,
    STATUS_EOM,
    STATUS_IGNORE,
    STATUS_RESET,
    PacketType,
    header,
    packetize,
)


class Header(NamedTuple):
    """A packet's header, as the wire has it."""

    type: int
    status: int
    length: int
    spid: int
    packet_id: int
    window: int

    @classmethod
    def parse(cls, data: bytes) -> Header:
        return cls(*HEADER.unpack(data))


def split(data: bytes) -> list[tuple[Header, bytes]]:
    packets = []
    while data:
        head = Header.parse(data[:HEADER_SIZE])
        packets.append((head, data[HEADER_SIZE:head.length]))
        data = data[head.length:]
    return packets


def test_header_is_big_endian_with_the_header_in_its_length():
    assert header(0x04, STATUS_EOM, 10, spid=51, packet_id=3) == bytes((0x04, 0x01, 0x00, 18, 0x00, 51, 3, 0))


def test_a_reply_is_cut_at_the_packet_size_and_only_the_last_packet_is_eom():
    payload = bytes(range(256)) * 40  # 10240 bytes
    packets = split(packetize(PacketType.TABULAR_RESULT, payload, 4096, spid=7))
    assert [len(body) for _, body in packets] == [4088, 4088, 2064]
    assert [head.status for head, _ in packets] == [0, 0, STATUS_EOM]
    assert [head.packet_id for head, _ in packets] == [1, 2, 3]
    assert all(head.spid == 7 and head.type == PacketType.TABULAR_RESULT for head, _ in packets)
    assert b"".join(body for _, body in packets) == payload


def test_an_empty_reply_is_one_eom_packet():
    assert split(packetize(PacketType.TABULAR_RESULT, b"", 512)) == [(Header(4, 1, 8, 0, 1, 0), b"")]


def test_packet_ids_wrap_at_256():
    packets = split(packetize(PacketType.TABULAR_RESULT, bytes(504 * 300), 512, first_id=250))
    assert [head.packet_id for head, _ in packets][:8] == [250, 251, 252, 253, 254, 255, 0, 1]


class Transport(asyncio.Transport):
    """What the channel writes, and whether it reads (the event loop's socket transport, in memory)."""

    def __init__(self) -> None:
        super().__init__()
        self.data = bytearray()
        self.reading = True
        self.closed = False

    def write(self, data) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def connected_channel() -> tuple[Channel, Transport]:
    channel, transport = Channel(), Transport()
    channel.connection_made(transport)
    return channel, transport


def channel_with(data: bytes, eof: bool = True) -> Channel:
    channel, _transport = connected_channel()
    channel.data_received(data)
    if eof:
        channel.eof_received()
    return channel


async def test_a_message_is_read_from_its_packets():
    wire = (header(0x01, 0, 4) + b"abcd" + header(0x01, 0, 2) + b"ef" + header(0x01, STATUS_EOM | 0, 1) + b"g")
    message = await channel_with(wire).read_message()
    assert (message.type, message.data, message.ignored) == (0x01, b"abcdefg", False)


async def test_reset_connection_is_read_from_the_first_packet():
    message = await channel_with(header(0x01, STATUS_EOM | STATUS_RESET, 2) + b"hi").read_message()
    assert message.reset


async def test_a_message_ended_with_the_ignore_bit_is_marked_ignored():
    wire = header(0x01, 0, 2) + b"ab" + header(0x01, STATUS_EOM | STATUS_IGNORE, 0)
    message = await channel_with(wire).read_message()
    assert message.ignored


async def test_an_attention_between_the_packets_of_a_message_cancels_it():
    wire = header(0x01, 0, 2) + b"ab" + header(PacketType.ATTENTION, STATUS_EOM, 0)
    assert (await channel_with(wire).read_message()).ignored


@pytest.mark.parametrize("length", [0, 7, 40000, 65535])
async def test_a_packet_length_outside_the_limits_is_a_protocol_error(length):
    wire = HEADER.pack(0x01, 1, length, 0, 1, 0) + b"x" * 16
    with pytest.raises(ProtocolError, match="packet length"):
        await channel_with(wire).read_message()


async def test_packets_of_two_types_in_one_message_are_a_protocol_error():
    wire = header(0x01, 0, 2) + b"ab" + header(0x03, STATUS_EOM, 2) + b"cd"
    with pytest.raises(ProtocolError, match="inside a message"):
        await channel_with(wire).read_message()


async def test_a_message_past_the_limit_is_read_to_its_end_and_marked_oversized():
    wire = b"".join(header(0x01, 0, 1000) + bytes(1000) for _ in range(5)) + header(0x01, STATUS_EOM, 10) + bytes(10)
    channel = channel_with(wire + header(0x01, STATUS_EOM, 2) + b"ok")
    message = await channel.read_message(max_size=2500)
    assert message.oversized and len(message.data) <= 2500
    assert (await channel.read_message()).data == b"ok"  # the stream is still in step


async def test_a_truncated_packet_is_the_end_of_the_connection():
    with pytest.raises(ClosedByPeer):
        await channel_with(header(0x01, STATUS_EOM, 100) + b"short").read_message()


# ---------------------------------------------------------------------------- the channel: attention, flow


def request(text: str = "select 1", status: int = STATUS_EOM) -> bytes:
    payload = text.encode("utf-16-le")
    return header(PacketType.SQL_BATCH, status, len(payload)) + payload


ATTENTION = header(PacketType.ATTENTION, STATUS_EOM, 0)


async def answering(told: str) -> tuple[Channel, list[str]]:
    """A channel whose session has read a request and answers it, watching: `told` is added to the
    list each time the channel tells it of an attention or the end."""
    channel, _transport = connected_channel()
    channel.data_received(request())
    await channel.read_message()
    seen: list[str] = []
    channel.watch(lambda: seen.append(told))
    return channel, seen


async def test_an_attention_read_with_the_request_is_reported_once_the_answer_starts():
    channel, _transport = connected_channel()
    channel.data_received(request() + ATTENTION)
    message = await channel.read_message()
    assert message.data == "select 1".encode("utf-16-le")
    seen = []
    channel.watch(lambda: seen.append("attention"))
    assert seen == ["attention"]
    channel.watch(None)
    channel.data_received(request("select 2"))
    # the attention was taken out of the stream: the next message is the next request, not an idle attention
    assert (await channel.read_message()).data == "select 2".encode("utf-16-le")


async def test_an_attention_that_arrives_while_answering_is_reported_at_once_even_in_pieces():
    channel, seen = await answering("attention")
    assert seen == []
    channel.data_received(ATTENTION[:3])
    assert seen == []
    channel.data_received(ATTENTION[3:])
    assert seen == ["attention"]
    channel.watch(None)
    channel.data_received(ATTENTION)  # idle again: the session reads it and acknowledges it itself
    assert seen == ["attention"]
    assert (await channel.read_message()).type == PacketType.ATTENTION


async def test_requests_sent_ahead_are_read_in_order_and_an_attention_behind_them_is_still_seen():
    channel, _transport = connected_channel()
    channel.data_received(request("a") + request("b") + request("c", status=0))
    await channel.read_message()
    seen = []
    channel.watch(lambda: seen.append("attention"))
    channel.data_received(request("c", status=STATUS_EOM) + ATTENTION)
    assert seen == ["attention"]
    channel.watch(None)
    assert (await channel.read_message()).data == "b".encode("utf-16-le")
    assert (await channel.read_message()).data == "cc".encode("utf-16-le")


async def test_the_end_of_the_connection_while_answering_is_reported_and_ends_reading():
    channel, seen = await answering("gone")
    channel.connection_lost(None)
    assert seen == ["gone"]
    channel.watch(None)
    with pytest.raises(ClosedByPeer):
        await channel.read_message()


async def test_a_malformed_header_while_answering_stops_the_answer_and_then_the_connection():
    channel, seen = await answering("stop")
    channel.data_received(HEADER.pack(0x01, 1, 3, 0, 1, 0))  # a length shorter than the header
    assert seen == ["stop"]
    channel.watch(None)
    with pytest.raises(ProtocolError, match="packet length"):
        await channel.read_message()


async def test_a_flood_of_requests_stops_reading_until_the_session_catches_up():
    channel, transport = connected_channel()
    one = request("select 1")
    count = READ_AHEAD // len(one) + 10
    for _ in range(count):
        channel.data_received(one)
    assert not transport.reading  # the rest waits in the socket: TCP pushes back on the client
    read = 0
    while not transport.reading:
        await channel.read_message()
        read += 1
    assert 0 < read < count and len(channel._plain) <= READ_AHEAD
    for _ in range(count - read):
        assert (await channel.read_message()).data == "select 1".encode("utf-16-le")


async def test_a_reader_waiting_for_more_than_is_buffered_reads_on():
    channel, transport = connected_channel()
    channel.data_received(b"\x00" * 0)
    transport.pause_reading()
    channel._reading_paused = True  # as after a flood the session has worked through
    waiting = asyncio.ensure_future(channel.read_message())
    await asyncio.sleep(0)
    assert transport.reading
    channel.data_received(request())
    assert (await waiting).data == "select 1".encode("utf-16-le")


async def test_a_message_in_pieces_is_read_when_its_last_byte_arrives():
    channel, _transport = connected_channel()
    first = request("hello")
    waiting = asyncio.ensure_future(channel.read_message())
    for index in range(len(first) - 1):
        channel.data_received(first[index:index + 1])
        for _ in range(3):
            await asyncio.sleep(0)
        assert not waiting.done()
    channel.data_received(first[-1:] + request("world"))
    assert (await asyncio.wait_for(waiting, 5)).data == "hello".encode("utf-16-le")
    assert (await channel.read_message()).data == "world".encode("utf-16-le")


async def test_writes_wait_while_the_transport_is_full_and_fail_once_it_is_gone():
    channel, transport = connected_channel()
    channel.write(b"reply")
    await channel.drain()
    assert transport.data == b"reply"
    channel.pause_writing()
    draining = asyncio.ensure_future(channel.drain())
    await asyncio.sleep(0)
    assert not draining.done()
    channel.resume_writing()
    await draining
    channel.pause_writing()
    draining = asyncio.ensure_future(channel.drain())
    await asyncio.sleep(0)
    transport.closed = True
    channel.connection_lost(ConnectionResetError("reset"))
    with pytest.raises(ClosedByPeer):
        await draining
