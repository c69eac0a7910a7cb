"""The probe CSV: one row per frame with the depth at each ``--probe`` point.

Rows go to a hidden ``.<name>.*.part`` file beside the final one, flushed row by row, and
the file is renamed to its final name when the sink closes. Closing happens on every
way out the app controls (end of file, ``q``, Ctrl-C, SIGTERM, a stage error), so a long
live run stopped with Ctrl-C keeps every row; only a hard kill (``kill -9``, power cut)
leaves the ``.part`` file, whose rows are whole and readable, never a truncated
``probe.csv`` that looks complete.

Columns: ``frame``, ``pts_seconds``, then per point ``xX_yY_m`` (metres from the camera) for
a metric model, or ``xX_yY_norm`` (the 0..1 depth shown in colour) and ``xX_yY_raw`` (the
model's relative value) for a relative one. The depth frames say which (``DepthFrame.model``),
so the header is written with the first row.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from stream.core.errors import ConfigError, OutputError, OutputWriteError
from stream.core.frames import Closing, DepthFrame, Normalised
from stream.core.modelinfo import MIDAS_SMALL, ModelInfo
from stream.core.staging import check_writable_folder, temporary_for
from stream.sinks.paths import same_file
from stream.view.probe import Point, read_probes

DEFAULT_NAME = "probe.csv"


def probe_csv_path(points: Sequence[Sequence[int]], csv_path: Path | None, output: Path | None) -> Path | None:
    """Where the rows go: ``--probe-csv``, else beside ``--output`` (``out.probe.csv``), else ./probe.csv."""
    if not points:
        if csv_path is not None:
            raise ConfigError(f"--probe-csv {csv_path} was given without a point; add --probe X,Y (source pixels)")
        return None
    if csv_path is not None:
        return Path(csv_path)
    if output is not None:
        output = Path(output)
        if output.is_dir() or not output.suffix:
            return output / DEFAULT_NAME
        return output.with_name(f"{output.stem}.probe.csv")
    return Path(DEFAULT_NAME)


def check_probe_csv(path: Path, inputs: Sequence[str | Path | None]) -> None:
    """Before any work: the CSV can be made where asked and is none of the inputs."""
    if path.is_dir():
        raise OutputError(f"--probe-csv {path} is a folder; give a file name such as {path / DEFAULT_NAME}")
    folder = path.parent
    check_writable_folder(folder, "--probe-csv")
    for given in inputs:
        if given is not None and same_file(path, given):
            raise OutputError(f"the probe CSV {path} is the same file as {given}; pass another --probe-csv")
    try:
        temporary_for(path, suffix=".part").unlink()
    except OSError as exc:
        raise OutputError(f"cannot write the probe CSV in {folder} ({exc.strerror}); pass another --probe-csv") from None


def header(points: Sequence[Point], model: ModelInfo = MIDAS_SMALL) -> list[str]:
    names = [f"x{x}_y{y}" for x, y in points]
    kinds = ("m",) if model.is_metric else ("norm", "raw")
    return ["frame", "pts_seconds", *(f"{name}_{kind}" for name in names for kind in kinds)]


class ProbeCsvSink(Closing):
    """A ``DepthSink``: the depth at each point, one row per frame: metres, or normalised (0..1) and raw."""

    def __init__(self, path: Path, points: Sequence[Sequence[int]]) -> None:
        self.path = Path(path)
        self.points: list[Point] = list(dict.fromkeys((int(p[0]), int(p[1])) for p in points))
        self.rows = 0
        self._part = temporary_for(self.path, suffix=".part")
        self._file: TextIO | None = open(self._part, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._writer = csv.writer(self._file)
        self._headed = False

    def write_depth(self, item: DepthFrame, normalised: Normalised) -> None:
        metric = item.model.is_metric
        if not self._headed:
            self._write(header(self.points, item.model))
            self._headed = True
        seconds = item.frame.seconds
        row: list[str | int] = [item.frame.index, "" if seconds is None else f"{seconds:.6f}"]
        for reading in read_probes(item.depth, normalised.index, self.points):
            if metric:
                row += [""] if reading is None else [f"{reading[1]:.7g}"]
            else:
                row += ["", ""] if reading is None else [f"{reading[0]:.6f}", f"{reading[1]:.7g}"]
        self._write(row)
        self.rows += 1

    def _write(self, row: Sequence[str | int]) -> None:
        if self._file is None:
            return
        try:
            self._writer.writerow(row)
            self._file.flush()  # a hard kill keeps every row so far in the .part file
        except OSError as exc:
            raise OutputWriteError(f"cannot write the probe CSV {self.path} ({exc.strerror}); free space or pass another --probe-csv") from None

    def close(self) -> None:
        """Rename the rows into place; with no row at all (nothing ran), leave no file."""
        if self._file is None:
            return
        handle, self._file = self._file, None
        try:
            handle.close()
            if self.rows == 0:
                self._part.unlink(missing_ok=True)
                return
            os.replace(self._part, self.path)
        except OSError as exc:
            raise OutputWriteError(f"cannot finish the probe CSV {self.path} ({exc.strerror}); its rows are in {self._part}") from None
