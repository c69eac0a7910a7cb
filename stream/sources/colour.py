"""YUV -> BGR with the source's own matrix and range, not swscale's one default.

PyAV's ``to_ndarray(format="bgr24")`` follows a frame's colour tags, but converts an
untagged frame (many encoders write no tags) as BT.601 (swscale's default); HD
video is BT.709 by convention, so its saturated colours came out 20+ levels off. Here a
frame is converted as tagged (BT.709 / BT.601 / BT.2020 / SMPTE 240M / FCC); untagged, as
BT.709 when HD (height >= 720 or width >= 1280) and BT.601 below, as players do; full range
(``yuvj*`` formats or a ``pc``/JPEG range tag, e.g. MJPEG) is honoured. One cached
``VideoReformatter`` keeps its swscale context: ~0.4 ms a 1280x720 frame, as fast as
``to_ndarray``. HDR frames (HLG or PQ) go through ``hdr`` instead: 12-bit R'G'B' planes
from swscale, then tone mapped to SDR BT.709.
"""

from __future__ import annotations

import av.video.frame
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, VideoReformatter

from stream.sources.hdr import HdrFormat, HdrToSdr, hdr_transfer

# FFmpeg's AVColorSpace tag -> swscale's matrix.
TAGGED_MATRICES = {
    1: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,  # BT.470 BG
    6: Colorspace.ITU601,  # SMPTE 170M
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,  # non-constant luminance
    10: Colorspace.BT2020,  # constant luminance: swscale has only the one BT.2020 matrix
}
FULL_RANGE_TAG = 2  # AVCOL_RANGE_JPEG


def source_matrix(colorspace_tag: int, width: int, height: int) -> Colorspace:
    """The matrix a frame was encoded with: its tag, else by size (HD -> BT.709, SD -> BT.601)."""
    tagged = TAGGED_MATRICES.get(int(colorspace_tag))
    if tagged is not None:
        return tagged
    return Colorspace.ITU709 if height >= 720 or width >= 1280 else Colorspace.ITU601


def source_range(range_tag: int, pixel_format: str) -> ColorRange:
    """Full (JPEG) range when tagged so or a ``yuvj*`` format; otherwise limited (MPEG) range."""
    if int(range_tag) == FULL_RANGE_TAG or pixel_format.startswith("yuvj"):
        return ColorRange.JPEG
    return ColorRange.MPEG


class BGRConverter:
    """Decoded PyAV frames -> BGR uint8 arrays, each with its own matrix and range; HDR tone mapped to SDR.

    The tone mapper (``hdr``) is built at the first HDR frame, its peak read from that frame's
    metadata (which a stream may repeat on keyframes only), and again only if the stream
    changes its transfer mid-way.
    """

    def __init__(self) -> None:
        self._reformatter = VideoReformatter()
        self._tone_mapper: HdrToSdr | None = None

    def convert(self, frame: av.video.frame.VideoFrame) -> np.ndarray:
        if frame.format.name == "bgr24":
            return frame.to_ndarray()
        transfer = hdr_transfer(frame)
        if transfer is None:
            self._tone_mapper = None
            return self._reformat(frame, "bgr24").to_ndarray()
        if self._tone_mapper is None or self._tone_mapper.hdr.transfer is not transfer:
            self._tone_mapper = HdrToSdr(HdrFormat.of(frame, transfer))
        planar = self._reformat(frame, "gbrp12le")
        green, blue, red = (np.frombuffer(memoryview(plane), np.uint16).reshape(planar.height, -1)[:, :planar.width]
                            for plane in planar.planes)
        return self._tone_mapper.convert(red, green, blue)

    def _reformat(self, frame: av.video.frame.VideoFrame, pixel_format: str) -> av.video.frame.VideoFrame:
        return self._reformatter.reformat(
            frame, format=pixel_format,
            src_colorspace=source_matrix(frame.colorspace, frame.width, frame.height),
            src_color_range=source_range(frame.color_range, frame.format.name),
        )
