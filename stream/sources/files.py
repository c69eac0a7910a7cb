"""A finite video file, local or served over HTTP(S): every frame once, in order, then the end.

Frames keep the stream's own ``pts``/``time_base``. A file cut short first delivers every
frame before the cut, then raises ``SourceError`` saying so (``truncation``); a file whose
decoder reported damage (``damage``) delivers every frame it could decode, then raises
``SourceError`` saying how many were damaged and when. A read that fails outright raises
``SourceError`` naming the frame. A file never reconnects.
"""

from __future__ import annotations

import av
import av.video.frame

from stream.core.errors import SourceError
from stream.core.frames import Closing, Frame
from stream.core.media import is_url
from stream.sources.av_open import DECODE_ERRORS, VideoInput, first_line
from stream.sources.base import SourceInfo, SourceKind, SourceOptions, frame_time_base
from stream.sources.picture import Picture, frame_count, stream_fps
from stream.sources.timeline import Timeline
from stream.sources.truncation import Declared, truncation


class FileSource(Closing):
    """Reads an opened ``VideoInput``; ``audio_path`` is the file or URL whose audio an output copies."""

    def __init__(self, video: VideoInput, target: str, name: str, options: SourceOptions) -> None:
        self.video: VideoInput | None = video
        self.name = name
        self.remote = is_url(target)
        self.read_timeout = options.read_timeout
        self._count = 0
        video.stream.thread_type = "AUTO"
        first = self._next()
        if first is None:
            why = f" ({video.damage.reason})" if video.damage.reason else ""
            raise SourceError(f"{name} contains no decodable video frames{why}; check --source")
        self._pending: av.video.frame.VideoFrame | None = first
        self.picture = Picture(first, name)
        stream = video.stream
        fps = stream_fps(stream)
        self.time_base = stream.time_base or frame_time_base(fps)
        self.timeline = Timeline(self.time_base, fps, name, wall_clock=False)
        self.declared = Declared.of(video.container, stream)
        audio = target if video.container.streams.audio else None
        self.info = SourceInfo(self.picture.width, self.picture.height, fps, frame_count(stream, video.duration, fps),
                               self.time_base, SourceKind.FILE, name, audio, self.picture.conversion)

    def _next(self) -> av.video.frame.VideoFrame | None:
        assert self.video is not None
        try:
            return self.video.next_frame()
        except av.error.ExitError:
            raise SourceError(f"reading {self.name} timed out after {self.read_timeout:g}s at frame {self._count}; "
                              "check --source") from None
        except DECODE_ERRORS as exc:
            fix = "check the network or download the file first" if self.remote else "re-copy or re-encode the file"
            raise SourceError(f"{self.name} is damaged or truncated: decoding failed at frame {self._count} "
                              f"({first_line(exc)}); {fix}") from None

    def read(self) -> Frame | None:
        if self.video is None:
            return None
        av_frame = self._pending if self._pending is not None else self._next()
        self._pending = None
        if av_frame is None:
            cut = truncation(self.declared, self.video.packets, self.video.packets_end, self._count, self.info.fps)
            if cut is not None:
                raise SourceError(f"{self.name} is truncated: {cut}, then the file ends; re-copy or re-encode it")
            if self.video.damage.frames:
                raise SourceError(f"{self.name}: {self.video.damage.describe()}; use an undamaged copy for a clean result")
            return None
        pts = self.timeline.stamp(av_frame.pts, av_frame.time_base, 0.0)
        frame = Frame(self.picture.image(av_frame), self._count, pts=pts, time_base=self.time_base)
        self._count += 1
        return frame

    def close(self) -> None:
        video, self.video = self.video, None
        if video is not None:
            video.close()
