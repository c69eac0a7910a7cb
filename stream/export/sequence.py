"""Depth of a video as files: a folder of 16-bit PNGs, or one ``.npz`` of raw float32 depth.

The folder: ``depth_000001.png``, ``depth_000002.png``… (numbered in the order written, so
``ffmpeg -i DIR/depth_%06d.png`` reads them), each renamed into place when complete, and
``DIR/depth.json`` mapping each file back to raw values (or, for a metric model, saying they
are millimetres), its source frame and timestamp.

The ``.npz``: ``depth`` (frames x H x W float32, the model's values: metres for a metric
model, with ``PATH.json`` saying so), ``pts``, ``seconds`` and ``frame`` (the source frame numbers). Frames go to a temporary raw file as they come
and are copied into the zip at the end, so memory stays at one frame however long the
video (the disk holds the depth twice until the end).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from stream.core.frames import DepthFrame, Normalised
from stream.core.modelinfo import MIDAS_SMALL, ModelInfo
from stream.core.staging import Staged
from stream.export.base import DepthFileSink
from stream.export.images import depth_png16
from stream.export.sidecar import raw_sidecar_text, sidecar_path, sidecar_text, values_text

CHUNK = 1 << 22


class PngFolderDepthSink(DepthFileSink):
    """``DIR/``: one 16-bit PNG per frame plus ``DIR/depth.json``; each PNG complete before it has its name."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.entries: list[dict[str, Any]] = []
        self.model: ModelInfo = MIDAS_SMALL

    def _write(self, item: DepthFrame, normalised: Normalised) -> None:
        self.path.mkdir(exist_ok=True)
        name = f"depth_{self.frames_written + 1:06d}.png"
        final = self.path / name
        data, entry = depth_png16(item, normalised, file=name)
        self.staged.path_for(final).write_bytes(data)
        self.staged.commit(final)
        self.entries.append(entry)
        self.model = item.model

    def _finish(self) -> None:
        storage = f"uint16 PNG per frame, {values_text(self.model)}"
        self.staged.path_for(sidecar_path(self.path, folder=True)).write_text(sidecar_text(self.entries, storage, self.model))


class NpzDepthSink(DepthFileSink):
    """``.npz``: every frame's raw float32 depth and timestamps, streamed to disk, zipped at the end."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.scratch = Staged()
        self.raw: BinaryIO | None = None
        self.shape: tuple[int, int] | None = None
        self.pts: list[int] = []
        self.seconds: list[float] = []
        self.frame_numbers: list[int] = []
        self.model: ModelInfo = MIDAS_SMALL

    def _write(self, item: DepthFrame, normalised: Normalised) -> None:
        depth = np.ascontiguousarray(item.depth, dtype="<f4")
        if self.raw is None:
            self.shape = (depth.shape[0], depth.shape[1])
            self.raw = open(self.scratch.path_for(self.path.with_suffix(".raw")), "wb")  # noqa: SIM115 - open across frames
        if depth.shape != self.shape:
            raise ValueError(f"frame size changed from {self.shape} to {depth.shape}")
        self.raw.write(depth.tobytes())
        frame = item.frame
        self.pts.append(-1 if frame.pts is None else int(frame.pts))
        self.seconds.append(float("nan") if frame.seconds is None else frame.seconds)
        self.frame_numbers.append(frame.index)
        self.model = item.model

    def _finish(self) -> None:
        assert self.raw is not None and self.shape is not None
        raw_path = Path(self.raw.name)
        self.raw.close()
        self.raw = None
        shape = (len(self.pts), *self.shape)
        with zipfile.ZipFile(self.staged.path_for(self.path), "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
            with archive.open("depth.npy", "w", force_zip64=True) as member, open(raw_path, "rb") as data:
                header = {"descr": "<f4", "fortran_order": False, "shape": shape}
                np.lib.format.write_array_header_2_0(member, header)
                while chunk := data.read(CHUNK):
                    member.write(chunk)
            for name, values in (("pts", np.asarray(self.pts, np.int64)), ("seconds", np.asarray(self.seconds)),
                                 ("frame", np.asarray(self.frame_numbers, np.int64))):
                with archive.open(f"{name}.npy", "w") as member:
                    np.lib.format.write_array(member, values)
        if self.model.is_metric:
            self.staged.path_for(sidecar_path(self.path)).write_text(raw_sidecar_text(self.model, "float32 NPZ 'depth'"))

    def _release(self) -> None:
        if self.raw is not None:
            self.raw.close()
            self.raw = None
        self.scratch.discard()

