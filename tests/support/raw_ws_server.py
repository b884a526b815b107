"""A WebSocket server that writes raw bytes, and records every frame the client sends back.

    with RawWebSocketServer() as server:
        server.script = frame_bytes            # written right after the upgrade, as they are
        server.extensions = "permessage-deflate"  # a Sec-WebSocket-Extensions answer (None: none)
        connect a client to server.url ...
        record = server.wait_for_client()      # the client's frames (unmasked) and whether it closed TCP

For testing a client's protocol conformance (RFC 6455): the server does the opening handshake by
hand, then writes `script` as it is (frames no WebSocket library would send: masked, reserved
bits or opcodes, bad close codes, invalid UTF-8), then reads the client's frames until the client
closes the TCP connection (or `CLIENT_WAIT_S` passes). It runs on an asyncio loop in a thread of
the test process.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field

from support.loop_thread import LoopThreadServer

__all__ = ["ClientRecord", "RawWebSocketServer", "CLIENT_WAIT_S"]

#: How long the server waits for the client to end the connection.
CLIENT_WAIT_S = 5.0
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class ClientRecord:
    """What one client did after the script was written."""

    #: The client's frames, in order: (opcode, unmasked payload).
    frames: list[tuple[int, bytes]] = field(default_factory=list)
    #: Whether every client frame was masked, as RFC 6455 requires.
    all_masked: bool = True
    #: Whether the client closed the TCP connection (rather than the wait running out).
    closed_tcp: bool = False

    @property
    def close_codes(self) -> list[int | None]:
        """The status code of each close frame the client sent (None for one without a code)."""
        return [int.from_bytes(p[:2], "big") if len(p) >= 2 else None for op, p in self.frames if op == 8]


class RawWebSocketServer(LoopThreadServer):
    """The server; a context manager listening on a free 127.0.0.1 port while open."""

    def __init__(self) -> None:
        super().__init__()
        #: The bytes written to each client right after the upgrade.
        self.script = b""
        #: The Sec-WebSocket-Extensions header of the upgrade answer, whatever the client offered.
        self.extensions: str | None = None
        #: The last upgrade request's Sec-WebSocket-Extensions header (None: there was none).
        self.offered: str | None = None
        self._records: asyncio.Queue[ClientRecord] | None = None
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/raw"

    def wait_for_client(self, timeout: float = CLIENT_WAIT_S + 5) -> ClientRecord:
        """The record of the next client to finish."""
        assert self._records is not None
        record: ClientRecord = self.run(self._records.get(), timeout)
        return record

    async def _start(self) -> None:
        self._records = asyncio.Queue()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        record = ClientRecord()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            offered = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n") if b"extensions:" in line.lower()]
            self.offered = offered[0].decode() if offered else None
            extensions = b"" if self.extensions is None else f"Sec-WebSocket-Extensions: {self.extensions}\r\n".encode()
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept + b"\r\n" + extensions + b"\r\n" + self.script
            )
            await writer.drain()
            await asyncio.wait_for(self._read_client(reader, record), CLIENT_WAIT_S)
            record.closed_tcp = True
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            assert self._records is not None
            await self._records.put(record)

    @staticmethod
    async def _read_client(reader: asyncio.StreamReader, record: ClientRecord) -> None:
        """Read the client's frames until it closes the connection."""
        while True:
            try:
                head = await reader.readexactly(2)
            except asyncio.IncompleteReadError:
                return  # the client closed the connection
            length = head[1] & 0x7F
            if length == 126:
                length = int.from_bytes(await reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await reader.readexactly(8), "big")
            masked = bool(head[1] & 0x80)
            record.all_masked &= masked
            mask = await reader.readexactly(4) if masked else b"\0\0\0\0"
            payload = await reader.readexactly(length)
            record.frames.append((head[0] & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(payload))))
