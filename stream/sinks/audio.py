"""The source's sound in the output: its packets copied untouched, up to the video's end."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)


class AudioCopy:
    """Copies the first audio stream of ``url`` into an output container, packet for packet.

    Built with ``AudioCopy.open`` (None when there is nothing to copy); ``pump(until)`` muxes
    the packets that start before ``until`` seconds, so sound never runs past the video.
    """

    def __init__(self, source: Any, stream: Any, url: str) -> None:
        self.source = source
        self.url = url
        self.stream = stream
        self.output: Any = None
        self.packets_written = 0
        self._packets: Iterator[Any] | None = source.demux(stream)
        self._pending: Any = None

    @classmethod
    def open(cls, url: str) -> AudioCopy | None:
        """The source's first audio stream, or None (logged) if it has none or cannot be read."""
        import av

        try:
            source = av.open(str(url), mode="r")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            log.warning("not copying audio from %s: %s", url, exc)
            return None
        if not source.streams.audio:
            source.close()
            return None
        return cls(source, source.streams.audio[0], url)

    @property
    def codec_name(self) -> str:
        codec = self.stream.codec_context.codec
        return getattr(codec, "canonical_name", None) or codec.name

    def add_to(self, container: Any) -> None:
        """Add the output stream (same codec and parameters) to a container not yet started."""
        self.output = container.add_stream_from_template(self.stream)

    def pump(self, until: float, mux: Callable[[Any], None]) -> None:
        """Mux source packets that start before ``until`` seconds, untouched."""
        import av

        while self._packets is not None:
            packet = self._pending
            if packet is None:
                try:
                    packet = next(self._packets, None)
                except (av.error.FFmpegError, OSError, ValueError) as exc:
                    log.warning("stopped copying audio from %s: %s", self.url, exc)
                    packet = None
                if packet is None:
                    self._packets = None
                    return
                if packet.dts is None or packet.size == 0:
                    continue
            start = packet.pts if packet.pts is not None else packet.dts
            if float(start * packet.time_base) >= until:
                self._pending = packet
                return
            self._pending = None
            packet.stream = self.output
            mux(packet)
            self.packets_written += 1

    def close(self) -> None:
        self._packets = None
        self.source.close()
