"""Packet framing: replies cut at the negotiated size, messages read whole from packets, and the
malformed framings (bad lengths, mixed types, a cancel mid-message) refused."""

from __future__ import annotations

import asyncio
import struct

import pytest

from odata_emulator.tds.channel import Channel, ClosedByPeer
from odata_emulator.tds.errors import ProtocolError
from odata_emulator.tds.packets import (
    HEADER_SIZE,
    STATUS_EOM,
    STATUS_IGNORE,
    STATUS_RESET,
    Header,
    PacketType,
    header,
    packetize,
)


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


class _Writer:
    def __init__(self) -> None:
        self.data = bytearray()
        self.transport = None

    def write(self, data) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    async def drain(self) -> None:
        return None


def channel_with(data: bytes, eof: bool = True) -> Channel:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return Channel(reader, _Writer())


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
    wire = struct.pack(">BBHHBB", 0x01, 1, length, 0, 1, 0) + b"x" * 16
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
