"""The size a picture declares in its header, read without decoding it (PNG, JPEG, BMP, TIFF, WebP).

A decoder allocates what the header declares before it reads a pixel: an 875 KB PNG that
declares 30000x30000 makes OpenCV ask for 2.7 GB, and a 65000x65000 JPEG header raises in
OpenCV itself. Reading the declared size first lets the photo source refuse such a file in
one line before anything is allocated. Only the few bytes each format keeps its size in
are read (a JPEG's segments are skipped by their lengths), so a huge file costs nothing.
OpenCV has no header-only call, and Pillow is not a dependency; these are the formats the
app reads as photos (``stream.core.media.IMAGE_SIGNATURES``).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from stream.core.media import image_suffix

MAX_JPEG_SEGMENTS = 10_000  # a real header has a few dozen; garbage must not loop for long
MAX_STRAY_BYTES = 65_536  # bytes skipped looking for a JPEG marker before the header counts as damaged
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame: baseline, progressive, lossless...


def declared_size(handle: BinaryIO) -> tuple[str, int, int] | None:
    """(extension, width, height) the picture in ``handle`` (seekable, binary) declares; None if its first bytes
    are no known picture, or its header is cut or damaged before the size."""
    handle.seek(0)
    head = handle.read(32)
    suffix = image_suffix(head[:12])
    if suffix is None:
        return None
    try:
        size = _READERS[suffix](handle, head)
    except (struct.error, OSError, ValueError):
        return None
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return suffix, size[0], size[1]


def _png(_handle: BinaryIO, head: bytes) -> tuple[int, int] | None:
    if head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def _bmp(_handle: BinaryIO, head: bytes) -> tuple[int, int] | None:
    (header_size,) = struct.unpack("<I", head[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sides
        width, height = struct.unpack("<HH", head[18:22])
        return width, height
    width, height = struct.unpack("<ii", head[18:26])
    return width, abs(height)  # a negative height is a top-down picture


def _tiff(handle: BinaryIO, head: bytes) -> tuple[int, int] | None:
    order = "<" if head[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", head[4:8])
    handle.seek(offset)
    (count,) = struct.unpack(order + "H", handle.read(2))
    entries = handle.read(12 * count)
    sides: dict[int, int] = {}
    for start in range(0, len(entries) - 11, 12):
        tag, kind = struct.unpack(order + "HH", entries[start:start + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG, held in the entry itself
            value = entries[start + 8:start + 12]
            sides[tag] = struct.unpack(order + "H", value[:2])[0] if kind == 3 else struct.unpack(order + "I", value)[0]
    if 256 not in sides or 257 not in sides:
        return None
    return sides[256], sides[257]


def _webp(_handle: BinaryIO, head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":  # lossy: the key frame's start code, then 14-bit sides
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and head[20] == 0x2F:  # lossless: 14 bits each, minus one
        (bits,) = struct.unpack("<I", head[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: the canvas, 24 bits each, minus one
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg(handle: BinaryIO, _head: bytes) -> tuple[int, int] | None:
    """Walk the segments from SOI to the first start-of-frame; None at the image data (SOS) or the end."""
    handle.seek(2)
    for _ in range(MAX_JPEG_SEGMENTS):
        marker = _next_marker(handle)
        if marker is None:
            return None
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
            continue
        if marker in (0xD9, 0xDA):  # the end, or the image data, before any size
            return None
        (length,) = struct.unpack(">H", handle.read(2))
        if marker in _SOF_MARKERS:
            _precision, height, width = struct.unpack(">BHH", handle.read(5))
            return width, height
        if length < 2:
            return None
        handle.seek(length - 2, 1)
    return None


def _next_marker(handle: BinaryIO) -> int | None:
    """The next marker's code, past stray and fill bytes (decoders skip them too); None at the end, or after
    ``MAX_STRAY_BYTES`` of them (a file of zeros after its signature must not be walked byte by byte)."""
    for _ in range(MAX_STRAY_BYTES):
        byte = handle.read(1)
        if not byte:
            return None
        if byte != b"\xff":
            continue
        while byte == b"\xff":
            byte = handle.read(1)
        if byte and byte != b"\x00":  # FF 00 is a stuffed byte in data, not a marker
            return byte[0]
    return None


_READERS = {".png": _png, ".jpg": _jpeg, ".bmp": _bmp, ".tif": _tiff, ".webp": _webp}
