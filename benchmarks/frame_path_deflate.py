"""The permessage-deflate stage of frame_path.py: the same frames, plain and compressed.

Receiving: the frames of one turn as the server writes them, plain (FrameReader alone) against
compressed as aiohttp's `--deflate` compresses them (level 1, one context for the connection, the
sync flush's tail removed, RSV1 set), through `FrameReader` with an `Inflater`: parse, inflate and
decode, one frame per read. Sending: each prompt framed by websocket-client, plain against
deflated as the client sends it (`Deflater`, then the frame with RSV1). Also the wire bytes per
frame both ways, to set the CPU against the bytes it saves.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

from websocket import ABNF

from rtbench.transports.deflate import TAIL, Deflater, Inflater, Negotiated
from rtbench.transports.ws_frames import MAX_MESSAGE_BYTES, FrameReader

__all__ = ["deflate_rows"]


def _server_frames(texts: list[str], compress: bool) -> list[bytes]:
    """A connection's frames of `texts` as the server writes them."""
    if not compress:
        return [ABNF(1, 0, 0, 0, ABNF.OPCODE_TEXT, 0, text.encode()).format() for text in texts]
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    frames = []
    for text in texts:
        payload = (compressor.compress(text.encode()) + compressor.flush(zlib.Z_SYNC_FLUSH)).removesuffix(TAIL)
        frames.append(ABNF(1, 1, 0, 0, ABNF.OPCODE_TEXT, 0, payload).format())
    return frames


def deflate_rows(
    texts: list[str], prompt: str, turns: int, runs: int, cpu_us_per_frame: Callable[[Callable[[], int], int], float]
) -> tuple[list[tuple[str, float, float]], str]:
    """(stage, plain µs/frame, deflate µs/frame) rows, and a line of wire bytes per frame."""
    n = turns * len(texts)
    plain, compressed = _server_frames(texts * turns, False), _server_frames(texts * turns, True)

    def receive(frames: list[bytes], inflate: bool) -> Callable[[], int]:
        def work() -> int:
            inflater = Inflater(Negotiated(), MAX_MESSAGE_BYTES) if inflate else None
            feed = FrameReader(inflater=inflater).feed
            for data in frames:
                feed(data)
            return n

        return work

    data = prompt.encode()

    def send(deflate: bool) -> Callable[[], int]:
        def work() -> int:
            deflater = Deflater(Negotiated()) if deflate else None
            for _ in range(turns):
                payload = data if deflater is None else deflater.deflate(data)
                ABNF(1, 1 if deflate else 0, 0, 0, ABNF.OPCODE_TEXT, 1, payload).format()
            return turns

        return work

    rows = [
        (
            "receive: parse (+ inflate) + decode, per frame",
            *(cpu_us_per_frame(receive(f, f is compressed), runs) for f in (plain, compressed)),
        ),
        (
            "send: (deflate +) frame and mask, per prompt",
            cpu_us_per_frame(send(False), runs),
            cpu_us_per_frame(send(True), runs),
        ),
    ]
    sent = Deflater(Negotiated())
    prompts_out = [len(sent.deflate(data)) + 6 for _ in range(turns)]
    bytes_line = (
        f"   wire bytes per received frame: plain {sum(map(len, plain)) / len(plain):.1f}, "
        f"deflate {sum(map(len, compressed)) / len(compressed):.1f}; per prompt sent: plain "
        f"{len(data) + 6}, deflate {sum(prompts_out) / len(prompts_out):.1f} (context kept over the turns)"
    )
    return rows, bytes_line
