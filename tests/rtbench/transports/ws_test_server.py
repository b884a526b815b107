"""A small aiohttp WebSocket server for the transport tests, run as a subprocess.

It prints one JSON line with its ports, then serves until terminated:
- `/ws` answers text commands: `burst N` (N text frames "0".."N-1"), `peer` (the client's IP),
  `binary` (one binary frame), `close` (closes with code 4000 "bye"), `raw HEX [MS HEX]...`
  (writes those bytes to the socket as they are, pausing MS milliseconds between the pieces),
  `drop` (closes the TCP connection without a close frame); anything else is echoed. A pong
  from the client is answered with the text frame "pong DATA".
- `hang_port` accepts TCP connections and never answers (an upgrade that never completes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys

from aiohttp import WSMsgType, web


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(autoping=False)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.PONG:
            await ws.send_str(f"pong {msg.data.decode()}")
        if msg.type != WSMsgType.TEXT:
            continue
        command, _, argument = msg.data.partition(" ")
        if command == "raw":
            await write_raw(request, argument.split())
        elif command == "drop":
            assert request.transport is not None
            request.transport.close()
        elif command == "burst":
            for i in range(int(argument)):
                await ws.send_str(str(i))
        elif command == "peer":
            await ws.send_str(request.remote or "")
        elif command == "binary":
            await ws.send_bytes(b"\x00\x01\x02")
        elif command == "close":
            await ws.close(code=4000, message=b"bye")
        else:
            await ws.send_str(msg.data)
    return ws


async def write_raw(request: web.Request, pieces: list[str]) -> None:
    """Write hex `pieces` to the socket as they are; every other item is a pause in ms."""
    assert request.transport is not None
    for index, piece in enumerate(pieces):
        if index % 2:
            await asyncio.sleep(int(piece) / 1000)
        else:
            request.transport.write(bytes.fromhex(piece))


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the client gives up
    writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", default=None, help="serve TLS with this PEM cert (+ --key)")
    parser.add_argument("--key", default=None)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get("/ws", websocket)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    hang_server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = runner.addresses[0][1]
    hang_port = hang_server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port, "hang_port": hang_port}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
