"""Which output protocols the FFmpeg inside PyAV was built with (``srt`` is often missing).

PyAV opens an output's connection only when the header is written, after the first frame,
so an unknown protocol would fail after the model has loaded. FFmpeg lists its protocols
(``avio_enum_protocols``) but PyAV does not expose that list; it is read here from PyAV's
own libavformat through ctypes. Where that library cannot be found, nothing is claimed
(``has_output_protocol`` answers True and FFmpeg says what it lacks when it is asked).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _libavformat() -> ctypes.CDLL | None:
    """PyAV's bundled libavformat (wheels keep it beside the package), else the system's."""
    import av

    package = Path(av.__file__).parent
    patterns = ("*avformat*.so*", "*avformat*.dylib", "avformat*.dll")
    places = (package, package / ".dylibs", package.parent / "av.libs")
    candidates = sorted(str(path) for place in places for pattern in patterns for path in place.glob(pattern))
    system = ctypes.util.find_library("avformat")
    for candidate in [*candidates, *([system] if system else [])]:
        try:
            return ctypes.CDLL(candidate)
        except OSError:
            continue
    return None


@functools.cache
def output_protocols() -> frozenset[str] | None:
    """The names of the protocols FFmpeg can write to, or None if they cannot be read here."""
    library = _libavformat()
    if library is None:
        return None
    enum = library.avio_enum_protocols
    enum.restype = ctypes.c_char_p
    enum.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
    cursor = ctypes.c_void_p(None)
    names: set[str] = set()
    while (name := enum(ctypes.byref(cursor), 1)) is not None:
        names.add(name.decode())
    log.debug("FFmpeg output protocols: %s", " ".join(sorted(names)))
    return frozenset(names)


def has_output_protocol(name: str) -> bool:
    """Whether FFmpeg can send over ``name`` (True when that cannot be known here)."""
    protocols = output_protocols()
    return protocols is None or name in protocols
