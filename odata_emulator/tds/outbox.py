"""A reply on its way out: tokens cut into packets of the negotiated size, written as they fill."""

from __future__ import annotations

from .channel import Channel
from .packets import HEADER_SIZE, STATUS_EOM, PacketType, header, packetize


class Outbox:
    """Tokens cut into packets of the negotiated size and written as they fill, with back-pressure."""

    def __init__(self, channel: Channel, packet_size: int, spid: int) -> None:
        self.channel = channel
        self.packet_size = packet_size
        self.spid = spid
        self.buffer = bytearray()
        self.packet_id = 1

    def add(self, data: bytes) -> None:
        self.buffer += data

    async def flush(self) -> None:
        """Write every full packet (keeping what the last one needs)."""
        room = self.packet_size - HEADER_SIZE
        if len(self.buffer) <= room:
            return
        count = (len(self.buffer) - 1) // room
        size = count * room
        self.channel.write(packetize(PacketType.TABULAR_RESULT, bytes(self.buffer[:size]), self.packet_size,
                                     self.spid, self.packet_id, last=False))
        del self.buffer[:size]
        self.packet_id = (self.packet_id + count) & 0xFF
        await self.channel.drain()

    async def end(self) -> None:
        """The rest of the message, its last packet marked EOM."""
        if len(self.buffer) <= self.packet_size - HEADER_SIZE:  # one packet (most replies): no slicing
            self.channel.write(header(PacketType.TABULAR_RESULT, STATUS_EOM, len(self.buffer), self.spid,
                                      self.packet_id) + self.buffer)
        else:
            self.channel.write(packetize(PacketType.TABULAR_RESULT, bytes(self.buffer), self.packet_size, self.spid,
                                         self.packet_id))
        self.buffer.clear()
        self.packet_id = 1
        await self.channel.drain()

