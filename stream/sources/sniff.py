"""What a photo file really is, judged before it is decoded: the one judgement the command line and the web share.

A path that is not a regular file (a folder, a named pipe, a device) is named as what it is
and never opened (a pipe would block, ``/dev/zero`` reads forever). A file whose first
bytes are a picture's must declare its size in its header (``stream.core.imageheader``),
and that size must stay within ``images.max_pixels``: a decompression bomb is refused in
one line before a byte of it is allocated. The photo source (``still.read_image``), the
image sequence and the web's photo upload all judge through here, so a file is accepted
or refused the same way everywhere; each refusal keeps its ``reason`` without the file's
name, for a frontend that names the file its own way (the page says "this file").
"""

from __future__ import annotations

from pathlib import Path

from stream.core.errors import SourceError
from stream.core.filekind import special_kind
from stream.core.imageheader import declared_size
from stream.core.media import image_suffix
from stream.sources.base import MAX_DECODABLE_PIXELS

IMAGE_FORMATS = "JPEG, PNG, WebP, BMP or TIFF"
FORMAT_NAMES = {".jpg": "JPEG", ".png": "PNG", ".webp": "WebP", ".bmp": "BMP", ".tif": "TIFF"}
LIMIT_KEY = "images.max_pixels"


class PictureError(SourceError):
    """A photo refused for what it is; ``reason`` says why without naming the file (``<name> <reason>; <fix>``)."""

    def __init__(self, name: str, reason: str, fix: str) -> None:
        super().__init__(f"{name} {reason}; {fix}")
        self.reason = reason


class NotAPicture(PictureError):
    """Its content is no picture the app reads, whatever its name."""


class DamagedPicture(PictureError):
    """A picture's signature, but a header or data the decoder cannot read (cut short, corrupt)."""


class TooManyPixels(PictureError):
    """It declares more pixels than ``images.max_pixels``: decoding it could exhaust the memory."""


def megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.4g} megapixel{'' if pixels == 1_000_000 else 's'}"


def check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    """``TooManyPixels`` when ``width`` x ``height`` passes ``max_pixels``: one line naming the size and the key."""
    pixels = width * height
    if pixels <= max_pixels:
        return
    if pixels <= MAX_DECODABLE_PIXELS:
        fix = f"raise {LIMIT_KEY} (e.g. --set {LIMIT_KEY}={pixels}) if this machine has the memory for it, or scale it down"
    else:
        fix = f"that is past the most {LIMIT_KEY} may be raised to ({megapixels(MAX_DECODABLE_PIXELS)}, OpenCV's cap); scale it down"
    raise TooManyPixels(name, f"declares {width}x{height} pixels ({megapixels(pixels)}), more than {LIMIT_KEY} "
                              f"({megapixels(max_pixels)})", fix)


def check_regular_file(path: Path, name: str) -> None:
    """A ``NotAPicture`` naming what ``path`` is when it is a folder, a pipe or a device (never opened to find out)."""
    kind = special_kind(path)
    if kind is not None:
        raise NotAPicture(name, f"is {kind}", "pass a photo file")


def check_picture(path: Path, max_pixels: int, name: str) -> str | None:
    """The picture's extension (``.jpg``) when its first bytes are a known picture's and its declared size fits;
    None when they are no known picture (FFmpeg may still read it); a ``PictureError`` otherwise."""
    check_regular_file(path, name)
    try:
        with path.open("rb") as handle:
            header = declared_size(handle)
            handle.seek(0)
            head = handle.read(12)
    except OSError as exc:
        raise SourceError(f"cannot read {name} ({exc.strerror}); check --source") from None
    suffix = image_suffix(head)
    if suffix is None:
        return None
    if header is None:
        raise DamagedPicture(name, f"is a damaged {FORMAT_NAMES[suffix]}: its header is cut short or declares no size",
                             "re-copy or re-save the file")
    _, width, height = header
    check_pixels(width, height, max_pixels, name)
    return suffix
