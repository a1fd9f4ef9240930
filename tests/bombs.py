"""Decompression bombs (small files whose headers declare 12000x12000 images), and what a process holds."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from pathlib import Path

from PIL import Image

SIDE = 12000


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def png_bomb(width: int = SIDE, height: int = SIDE) -> bytes:
    """A real, valid RGB PNG of one colour (~420 KB for 12000x12000): 432 MB once decoded."""
    row = b"\0" + b"\0" * (3 * width)  # filter byte, then black pixels
    deflate = zlib.compressobj(9)
    data = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def _small(fmt: str, **options) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(out, format=fmt, **options)
    return out.getvalue()


def jpeg_bomb(width: int = SIDE, height: int = SIDE) -> bytes:
    """A small JPEG whose frame header (SOF0) claims `width` x `height`."""
    data = bytearray(_small("JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_bomb(width: int = SIDE, height: int = SIDE) -> bytes:
    """A small GIF whose logical screen claims `width` x `height`."""
    data = bytearray(_small("GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def webp_bomb(width: int = SIDE, height: int = SIDE) -> bytes:
    """A small lossless WebP whose VP8L header claims `width` x `height` (at most 16384 a side)."""
    data = bytearray(_small("WEBP", lossless=True))
    at = data.index(b"VP8L") + 8
    assert data[at] == 0x2F
    bits = int.from_bytes(data[at + 1 : at + 5], "little")
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    data[at + 1 : at + 5] = bits.to_bytes(4, "little")
    return bytes(data)


def memory_mb(pid: int) -> dict[str, float]:
    """A process's resident memory now (VmRSS) and at its peak so far (VmHWM), in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return fields
