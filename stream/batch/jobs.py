"""Where each input's outputs go (the input tree mirrored under the output folder), checked before any work.

A job is one input file and the final names of everything it produces: the annotated
video (or image, for a photo), and where asked its depth file and probe CSV, side by side
with the same stem. Every check a user can fail is made here, before Ray starts: the
output folder is a folder we can write, it is not inside a folder being read, no two
inputs would write the same name, and no output is one of the inputs. What concerns one file
only (it is no regular file, an output name derived from it is too long for the file system)
is its problem, a failed row in the summary, not a stop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from stream.batch.inputs import InputFile, common_root
from stream.config.settings import Settings
from stream.core.errors import OutputError
from stream.core.names import abbreviated, name_limit, overlong
from stream.core.staging import check_writable_folder
from stream.runtime.plan import output_name, refuse_collisions

DEPTH_SUFFIXES = {("16bit", False): ".mkv", ("16bit", True): ".png", ("raw", False): ".npz", ("raw", True): ".npy"}


@dataclass(frozen=True)
class Job:
    """One input file and the final paths of its outputs."""

    input: Path
    key: str  # the input's path under the mirrored root: its name in the manifest and the summary
    photo: bool
    output: Path
    depth: Path | None
    probe_csv: Path | None
    size: int
    mtime_ns: int
    problem: str | None = None  # why it cannot be processed: it fails without reaching a worker

    def finals(self) -> list[Path]:
        """Every file the job may write under a final name (a 16-bit depth file brings its sidecar, a metric raw one too)."""
        extra = [self.depth, Path(f"{self.depth}.json")] if self.depth is not None else [self.depth]
        return [path for path in (self.output, *extra, self.probe_csv) if path is not None]


def prepare_output_dir(folder: Path, specs: list[str]) -> Path:
    """The output folder, absolute, created if missing and proven writable; refused inside a folder being read."""
    folder = folder.expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--output-dir {folder} is a file; give a folder (it is created if missing)")
    real = folder.resolve()
    for spec in specs:
        given = Path(spec).expanduser()
        if given.is_dir() and (real == given.resolve() or given.resolve() in real.parents):
            raise OutputError(f"--output-dir {folder} is inside the input folder {spec}; a rerun would read the outputs as inputs, "
                              "so choose an output folder outside it")
    check_writable_folder(folder, "--output-dir", create=True)
    return folder


def plan_jobs(inputs: list[InputFile], folder: Path, settings: Settings, ext: str, depth: str | None) -> list[Job]:
    """One job per input, its outputs mirroring the input tree under ``folder``; collisions are refused."""
    root = common_root(inputs)
    jobs = []
    for item in inputs:
        relative = item.path.relative_to(root)
        target = folder / relative.parent
        output = target / output_name(item.path, settings.images.format, None if item.photo else ext)
        depth_path = target / f"{output.stem}.depth{DEPTH_SUFFIXES[depth, item.photo]}" if depth is not None else None
        csv_path = target / f"{output.stem}.probe.csv" if settings.probe.points else None
        key = relative.as_posix()
        job = Job(item.path, key, item.photo, output, depth_path, csv_path, 0, 0, item.problem and f"{key}: {item.problem}")
        if job.problem is None:
            try:
                stat = item.path.stat()
            except OSError as exc:  # gone (or changed) since it was found
                job = replace(job, problem=f"{key}: cannot be read ({exc.strerror})")
            else:
                job = replace(job, size=stat.st_size, mtime_ns=stat.st_mtime_ns, problem=name_problem(job))
        jobs.append(job)
    # no output overwrites an input, and no two inputs write the same file (a.mov and a.mp4 -> a.mp4)
    refuse_collisions([(job.key, job.input, job.finals()) for job in jobs if job.problem is None],
                      same_fix="rename one of them or process them in separate batches", input_fix="choose another --output-dir")
    return jobs


def name_problem(job: Job) -> str | None:
    """A final name derived from the input that the file system would refuse (over 255 bytes), said before any work."""
    for path in job.finals():
        size = overlong(path)
        if size is not None:
            return (f"{job.key}: its output {abbreviated(path.name)} would be a {size}-byte name, over the file system's limit of "
                    f"{name_limit(path.parent)} bytes per name; rename the input shorter")
    return None


def settings_for(base: Settings, job: Job, workdir: Path) -> Settings:
    """The single run's settings for one job: headless, every frame, outputs named as the finals but inside ``workdir``."""
    export = base.export.model_copy(update={"depth_output": workdir / job.depth.name if job.depth is not None else None,
                                            "pointcloud": None})
    probe = base.probe.model_copy(update={"csv": workdir / job.probe_csv.name if job.probe_csv is not None else None})
    return base.for_one_file(job.input, workdir / job.output.name, export=export, probe=probe)
