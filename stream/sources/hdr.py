"""HDR video (BT.2100 HLG or PQ in BT.2020) -> SDR BT.709 pictures, before the picture or the model sees them.

Phones record HLG or HDR10 (PQ) by default; decoded as SDR it is washed out and grey. This
is the conversion FFmpeg users run (``zscale=t=linear:npl=100, zscale=p=bt709,
tonemap=hable:desat=0, zscale=t=bt709``), done on the 12-bit R'G'B' planes swscale gives, so a 10-bit
source keeps its 10 bits until the end:

1. the EOTF to display light, 1.0 = 100 nits (a 4096-entry table): PQ's absolute one; HLG's
   inverse OETF then BT.2100's OOTF (gamma 1.2 on the scene luminance, a 1000-nit display);
2. BT.2020 -> BT.709 primaries (a 3x3 matrix in linear light);
3. Hable's filmic curve (FFmpeg's ``tonemap`` filter) on each pixel's brightest component,
   the other two scaled by the same factor so hues stay; the peak is the stream's MaxCLL,
   else its mastering display's peak, else 1000 nits, as FFmpeg's filter decides;
4. BT.1886's inverse EOTF (gamma 1/2.4, zscale's BT.709 for display light) to 8 bits.

Hable, not BT.2390's EETF: FFmpeg's CPU tone mapper offers Hable (BT.2390 is in its GPU
filters only), so the curve can be checked against FFmpeg itself; it is one rational function
(cheap on a whole frame); and scaling by the brightest component keeps hues. Dynamic
metadata (Dolby Vision, HDR10+) is not read: such streams play as their HDR10/HLG base layer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import av.video.frame
import cv2
import numpy as np

REFERENCE_WHITE = 100.0  # nits that 1.0 stands for in linear light (zscale's npl=100)
HLG_DISPLAY_PEAK = 1000.0  # nits: BT.2100's reference display, and FFmpeg's peak for streams that declare none
BT2020_LUMA = (0.2627, 0.6780, 0.0593)
# Linear BT.2020 RGB -> linear BT.709 RGB (BT.2087), rows in BGR order: the app's pictures are BGR.
BT2020_TO_BT709_BGR = np.array([[-0.0182, -0.1006, 1.1187],
                                [-0.1246, 1.1329, -0.0083],
                                [1.6605, -0.5876, -0.0728]], np.float32)


class Transfer(enum.Enum):
    """The HDR transfer functions, by FFmpeg's AVColorTransferCharacteristic tag."""

    PQ = 16  # SMPTE ST 2084: HDR10, Dolby Vision's base layer
    HLG = 18  # ARIB STD-B67


@dataclass(frozen=True)
class HdrFormat:
    """What a frame's tags say about its HDR signal; ``peak`` in nits is the tone curve's white."""

    transfer: Transfer
    bits: int
    peak: float

    @classmethod
    def of(cls, frame: av.video.frame.VideoFrame, transfer: Transfer) -> HdrFormat:
        return cls(transfer, frame.format.components[0].bits, signal_peak(frame))

    def describe(self) -> str:
        return (f"HDR ({self.transfer.name}, BT.2020, {self.bits}-bit) converted to SDR BT.709 "
                f"(Hable tone map from {self.peak:g} nits)")


def hdr_transfer(frame: av.video.frame.VideoFrame) -> Transfer | None:
    """The frame's HDR transfer, or None for SDR (any other transfer, tagged or not)."""
    try:
        return Transfer(int(frame.color_trc))
    except ValueError:
        return None


def hdr_format(frame: av.video.frame.VideoFrame) -> HdrFormat | None:
    """The frame's HDR signal (transfer, bit depth, peak), or None for SDR."""
    transfer = hdr_transfer(frame)
    return HdrFormat.of(frame, transfer) if transfer is not None else None


def signal_peak(frame: av.video.frame.VideoFrame) -> float:
    """Peak brightness in nits: MaxCLL, else the mastering display's peak, else 1000 (FFmpeg's rule)."""
    data: Any = frame.side_data.get("CONTENT_LIGHT_LEVEL")
    if data is not None:
        max_cll = int(np.frombuffer(bytes(data), np.uint32, count=1)[0])
        if max_cll > 0:
            return float(max_cll)
    data = frame.side_data.get("MASTERING_DISPLAY_METADATA")
    if data is not None:
        fields = np.frombuffer(bytes(data), np.int32, count=22)  # 8 primaries/white rationals, min, max, has_*
        if fields[21] and fields[19] > 0 and fields[18] > 0:
            return float(fields[18]) / float(fields[19])
    return HLG_DISPLAY_PEAK


CODE_BITS = 12  # R'G'B' as swscale's gbrp12le: more than a 10-bit source has, and a 16 kB table stays in cache


def eotf_table(transfer: Transfer) -> np.ndarray:
    """12-bit code value -> linear light: PQ display light / 100 nits; HLG scene light 0..1 (OOTF after)."""
    signal = np.linspace(0.0, 1.0, 1 << CODE_BITS)
    if transfer is Transfer.PQ:
        m1, m2 = 2610 / 16384, 2523 / 4096 * 128
        c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        power = signal ** (1 / m2)
        light = 10000.0 / REFERENCE_WHITE * (np.maximum(power - c1, 0) / (c2 - c3 * power)) ** (1 / m1)
    else:
        a, b = 0.17883277, 0.28466892
        c = 0.5 - a * np.log(4 * a)
        light = np.where(signal <= 0.5, signal ** 2 / 3, (np.exp((signal - c) / a) + b) / 12)
    return light.astype(np.float32)


def hable(x: float) -> float:
    """John Hable's filmic curve with the constants of FFmpeg's ``tonemap`` filter."""
    a, b, c, d, e, f = HABLE
    return (x * (x * a + b * c) + d * e) / (x * (x * a + b) + d * f) - e / f


HABLE = (0.15, 0.50, 0.10, 0.20, 0.02, 0.30)
STRIP_PIXELS = 1 << 16  # ~34 rows of 1080p: a strip's dozen float32 planes stay in (L3) cache


class HdrToSdr:
    """12-bit BT.2020 R'G'B' planes (HLG or PQ) -> 8-bit BT.709 BGR, for one ``HdrFormat``.

    Every step is one pass over a float32 plane with an OpenCV kernel (SIMD, fused
    multiply-adds) or a numpy table lookup, written into buffers allocated once. The frame
    goes through in strips of ``STRIP_PIXELS``, so the ~25 passes work in cache, not memory.
    """

    def __init__(self, hdr: HdrFormat) -> None:
        self.hdr = hdr
        self._eotf = eotf_table(hdr.transfer)
        # hable(x) = x (A x + B) / (x (a x + b) + d f) with A = a (1 - e/f), B = b (c - e/f): its
        # constant terms cancel. A and B are divided by hable(peak) here, once.
        a, b, c, d, e, f = HABLE
        white = hable(hdr.peak / REFERENCE_WHITE)
        self._curve = (a * (1 - e / f) / white, b * (c - e / f) / white, a, b, d * f)
        self._work: np.ndarray = np.empty((0, 0, 0), np.float32)
        self._coded: np.ndarray = np.empty((0, 0, 0), np.uint8)

    def convert(self, red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
        """12-bit code planes (uint16, h x w each) -> (h, w, 3) uint8 BGR."""
        height, width = red.shape
        rows = max(1, STRIP_PIXELS // width)
        if self._work.shape[1:] != (rows, width):
            self._work = np.empty((11, rows, width), np.float32)
            self._coded = np.empty((3, rows, width), np.uint8)
        out = np.empty((height, width, 3), np.uint8)
        for top in range(0, height, rows):
            strip = slice(top, top + rows)
            self._convert(red[strip], green[strip], blue[strip], out[strip])
        return out

    def _convert(self, red: np.ndarray, green: np.ndarray, blue: np.ndarray, out: np.ndarray) -> None:
        work = self._work[:, :red.shape[0]]
        rgb = (work[0], work[1], work[2])
        bgr = (work[3], work[4], work[5])
        brightest, ootf, num, den = work[6], work[7], work[8], work[9]
        for codes, plane in zip((red, green, blue), rgb, strict=True):
            np.take(self._eotf, codes, out=plane, mode="clip")
        for row, plane in zip(BT2020_TO_BT709_BGR, bgr, strict=True):
            mix(rgb, row, plane)
        cv2.max(cv2.max(bgr[0], bgr[1], dst=brightest), bgr[2], dst=brightest)
        np.maximum(brightest, 1e-6, out=brightest)
        if self.hdr.transfer is Transfer.HLG:  # OOTF: display light = 1000 nits x Ys^0.2 x scene light
            np.maximum(mix(rgb, BT2020_LUMA, ootf), 1e-12, out=ootf)
            cv2.pow(ootf, 0.2, dst=ootf)
            cv2.multiply(ootf, HLG_DISPLAY_PEAK / REFERENCE_WHITE, dst=ootf)
            scale = self._tone_scale(cv2.multiply(ootf, brightest, dst=work[10]), num, den)
            cv2.multiply(scale, ootf, dst=scale)
        else:
            scale = self._tone_scale(brightest, num, den)
        coded = self._coded[:, :red.shape[0]]
        for channel, code in zip(bgr, coded, strict=True):  # (x * scale) ** (1 / 2.4); < 0 (out of gamut) to 0
            cv2.threshold(channel, 0, 0, cv2.THRESH_TOZERO, dst=channel)
            cv2.multiply(channel, scale, dst=channel)
            cv2.convertScaleAbs(cv2.pow(channel, 1 / 2.4, dst=channel), dst=code, alpha=255)  # > 1: 255
        cv2.merge(list(coded), dst=out)

    def _tone_scale(self, sig: np.ndarray, num: np.ndarray, den: np.ndarray) -> np.ndarray:
        """hable(sig) / hable(peak) / sig into ``num``: FFmpeg's factor for every component (sig >= 1e-6)."""
        num_a, num_b, den_a, den_b, den_c = self._curve
        np.add(cv2.multiply(sig, num_a, dst=num), num_b, out=num)
        np.add(cv2.multiply(sig, den_a, dst=den), den_b, out=den)
        cv2.multiply(den, sig, dst=den)
        np.add(den, den_c, out=den)
        return cv2.divide(num, den, dst=num)


def mix(planes: tuple[np.ndarray, np.ndarray, np.ndarray], weights: Any, out: np.ndarray) -> np.ndarray:
    """w0 * planes[0] + w1 * planes[1] + w2 * planes[2] into ``out`` (OpenCV's addWeighted is 4x slower on float32)."""
    cv2.multiply(planes[0], float(weights[0]), dst=out)
    cv2.scaleAdd(planes[1], float(weights[1]), out, dst=out)
    return cv2.scaleAdd(planes[2], float(weights[2]), out, dst=out)
