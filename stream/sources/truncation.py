"""Is a file that ended cut short? Compare what its header declared with what its packets reached.

A copy cut short plays fine up to the cut, then simply ends; without this check a run would
"succeed" on half a video. Formats that declare neither a frame count nor a duration in a
header (MPEG-TS, NUT) cannot be checked and simply end.
"""

from __future__ import annotations

from dataclasses import dataclass

import av.container
import av.video.stream

# Containers whose header states the duration (rather than FFmpeg estimating it from the
# bytes present), so a file that ends well before it is cut short, not merely short.
DECLARED_DURATION_FORMATS = frozenset({"matroska", "webm", "mov", "mp4", "flv", "asf"})
# Declared frame counts and durations can be off by a frame or two (encoder delay, rounding).
TOLERANCE_FRAMES = 2


@dataclass(frozen=True)
class Declared:
    """What a container's header promised: a frame count (0 = none) and an end time in seconds."""

    frames: int = 0
    end: float | None = None

    @classmethod
    def of(cls, container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Declared:
        end = None
        if container.duration and set(container.format.name.split(",")) & DECLARED_DURATION_FORMATS:
            end = ((container.start_time or 0) + container.duration) / 1_000_000
        return cls(int(stream.frames or 0), end)


def truncation(declared: Declared, packets: int, reached: float | None, decoded: int, fps: float) -> str | None:
    """How a file that ended looks cut short, or None.

    ``packets`` video packets were read and any stream's packets reached ``reached`` seconds;
    ``decoded`` frames were delivered. A declared frame count is compared with the packets
    (not frames decoded: an edit list may legitimately hide some); where the header also
    declares a duration, it must be short too (an edit list may also trim the tail). Without
    a frame count, a header duration alone decides.
    """
    time_short = (declared.end is not None and reached is not None
                  and reached < declared.end - (TOLERANCE_FRAMES + 0.5) / fps)
    if declared.frames:
        if packets < declared.frames - TOLERANCE_FRAMES and (declared.end is None or time_short):
            return f"decoded {decoded} of {declared.frames} frames"
        return None
    if time_short:
        return f"decoded {decoded} frames ({reached:.2f}s of the {declared.end:.2f}s its header declares)"
    return None
