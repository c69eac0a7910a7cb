"""The one flag table every command line builds from (``depth-stream``, ``depth-stream batch``).

Each flag is declared once, in ``FLAGS``, with the config key it overrides: argparse and the
override table are both built from it, so a flag cannot be added to one and forgotten in the
other. In config, not in a frontend, so the two commands share it without importing each other.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream.config.settings import PROJECT_CONFIG, Settings, deep_merge, load_settings, parse_assignment, set_dotted
from stream.core.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from stream.engines.registry import engine_choices, precision_choices
from stream.export.registry import one_frame_formats, video_formats
from stream.model.registry import DEFAULT_MODEL, MODELS, model_choices


@dataclass(frozen=True)
class Flag:
    """One command-line flag and the config key it sets (``None``: not a config key)."""

    names: tuple[str, ...]
    key: str | None
    help: str | Callable[[], str]  # a callable: written when a parser is built (from the registries)
    type: Any = None
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None  # a callable: read when a parser is built
    const: Any = None  # a switch that sets ``key`` to this value
    metavar: str | None = None
    repeat: bool = False  # may be given several times; the key gets the list
    bare: Any = None  # the value when the flag is given without one (``--serve`` alone)

    def text(self) -> str:
        return self.help() if callable(self.help) else self.help

    def allowed(self) -> tuple[str, ...] | None:
        """The choices now (a registry's names are read when the parser is built, not at import)."""
        return self.choices() if callable(self.choices) else self.choices


def models_help() -> str:
    """Every registered model with its licence and what its numbers mean (``--help`` lists them)."""
    lines = (f"{spec.name} = {spec.title}, {spec.licence}, {spec.meaning}"
             for _, spec in MODELS.items())
    return f"the depth model (default {DEFAULT_MODEL}): " + "; ".join(lines)


def net_size_value(text: str) -> int | str:
    """``--net-size 192`` or ``--net-size auto`` (the range is checked with the rest of the settings)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size in pixels (e.g. 256) or auto, got {text!r}") from None


def probe_point(text: str) -> list[int]:
    """``--probe 320,240`` -> [320, 240] (whether it is inside the frame is checked once the source is open)."""
    parts = text.replace(" ", "").split(",")
    try:
        x, y = (int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y in source pixels (e.g. 320,240), got {text!r}") from None
    return [x, y]


FLAGS: tuple[Flag, ...] = (
    Flag(("--source",), "source", "webcam (0), video, image sequence (frames/%%04d.png), photo, folder/glob of photos, URL, 'synthetic[:WxH]', "
         "'browser' (the page's camera; with --serve)", metavar="S"),
    Flag(("--output",), "output", lambda: f"side-by-side out: video ({' '.join(VIDEO_EXTENSIONS)}); photo: or {' '.join(IMAGE_EXTENSIONS)}; "
         "photos: DIR/; or sent on as a live stream: udp://HOST:PORT, rtmp://HOST/APP/KEY, srt://HOST:PORT, "
         "- (standard output, MPEG-TS), a named pipe", metavar="PATH|URL|-"),
    Flag(("--model-name",), "model.name", models_help, choices=model_choices, metavar="NAME"),
    Flag(("--model",), "model.onnx", "run this ONNX depth model (NCHW float input; one exported by `python -m stream.model export` "
         "says which model it is)", Path, metavar="PATH.onnx"),
    Flag(("--weights",), "model.weights", "local checkpoint of the --model-name model (.pt/.pth; skips the download)", Path,
         metavar="PATH.pt"),
    Flag(("--headless",), "headless", "no window (servers, CI; combine with --output)", const=True),
    Flag(("--mode",), "mode", "auto: cameras and streams live, files every frame; live: newest frame wins; file: every frame",
         choices=("auto", "live", "file")),
    Flag(("--realtime",), "mode", "same as --mode live: play a file like a camera, dropping stale frames", const="live"),
    Flag(("--fps",), "capture.fps", "frame rate: requested from a webcam, of an image sequence (default 25)", float, metavar="N"),
    Flag(("--threads",), "model.threads", "engine threads, 0 = one per core (a file: shared out among model.streams engines)", int, metavar="N"),
    Flag(("--net-size",), "model.net_size", "network input, long side in pixels (default: the model's own); auto = in "
         "live mode, the largest that holds --target-fps on this CPU (measured once, cached)", net_size_value, metavar="N|auto"),
    Flag(("--target-fps",), "display.target_fps", "live depth rate --net-size auto holds (default 15)", float, metavar="N"),
    Flag(("--engine",), "model.engine", "auto = fastest measured on this CPU (cached)", choices=engine_choices),
    Flag(("--precision",), "model.precision", "auto = fastest within 0.01 of fp32; bf16 = OpenVINO", choices=precision_choices),
    Flag(("--colormap",), "display.colormap", "inferno, magma, plasma, viridis, turbo, jet or gray", metavar="NAME"),
    Flag(("--normalize",), "display.normalize", "depth colours: stable (aligned over time, no flicker), fixed (display.range, "
         "e.g. --set display.range=[0,1000]) or frame (each frame's own min-max)", choices=("stable", "fixed", "frame")),
    Flag(("--max-frames",), "max_frames", "stop after this many frames", int, metavar="N"),
    Flag(("--depth-output",), "export.depth_output", lambda: f"keep the depth: {' '.join(one_frame_formats())} (photo), "
         f"{' '.join(video_formats())} or DIR/ (video)",
         Path, metavar="PATH"),
    Flag(("--pointcloud",), "export.pointcloud", "write the photo's coloured point cloud (.ply)", Path, metavar="PATH.ply"),
    Flag(("--cache-dir",), "model.cache_dir", "where weights and exported models are cached", Path, metavar="DIR"),
    Flag(("--probe",), "probe.points", "write the depth at source pixel X,Y to a CSV, one row per frame (repeatable)",
         probe_point, metavar="X,Y", repeat=True),
    Flag(("--probe-csv",), "probe.csv", "the probe CSV (default: beside --output as NAME.probe.csv, else ./probe.csv)", Path,
         metavar="PATH"),
    Flag(("--serve",), "serve.address", "serve the live view to browsers at [HOST:]PORT (alone: 127.0.0.1:8080; "
         "0.0.0.0:PORT opens it to the network); no window", metavar="[HOST:]PORT", bare="127.0.0.1:8080"),
    Flag(("--serve-cert",), "serve.cert", "serve HTTPS with this certificate (PEM; with --serve-key)", Path, metavar="PEM"),
    Flag(("--serve-key",), "serve.key", "the certificate's private key (PEM)", Path, metavar="PEM"),
    Flag(("--serve-token",), "serve.token", "every page URL must carry ?token=TOKEN", metavar="TOKEN"),
    Flag(("-q", "--quiet"), "display.progress", "only errors (no progress bar, no summary)", const=False),
)


def add_flags(parser: argparse.ArgumentParser, flags: Sequence[Flag]) -> None:
    """``flags`` as arguments, then ``--config`` and ``--set`` (also used by ``depth-stream batch``)."""
    for flag in flags:
        where = f" [config: {flag.key}]" if flag.key else ""
        dest = flag.names[-1].lstrip("-").replace("-", "_")
        if flag.const is not None:
            parser.add_argument(*flag.names, dest=dest, action="store_const", const=flag.const, default=None,
                                help=flag.text() + where)
        elif flag.bare is not None:
            parser.add_argument(*flag.names, dest=dest, type=flag.type, metavar=flag.metavar, nargs="?", const=flag.bare,
                                help=flag.text() + where)
        else:
            parser.add_argument(*flag.names, dest=dest, type=flag.type, choices=flag.allowed(), metavar=flag.metavar,
                                action="append" if flag.repeat else "store", help=flag.text() + where)
    parser.add_argument("--config", type=Path, default=None, metavar="PATH",
                        help="YAML settings file (default: config.yaml in the project, else built-in defaults)")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                        help="set any config key")


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """Flags given on the command line as a nested override dict (``--set`` first, flags win)."""

    result: dict[str, Any] = {}
    for assignment in args.assignments:
        result = deep_merge(result, parse_assignment(assignment))
    for flag in FLAGS:
        value = getattr(args, flag.names[-1].lstrip("-").replace("-", "_"), None)  # a parser may take a subset of FLAGS
        if value is not None and flag.key is not None:
            set_dotted(result, flag.key, value)
    return result


def settings_from(args: argparse.Namespace) -> Settings:
    """``--config`` (else the project's config.yaml, else defaults) with the flags on top, validated."""

    config = args.config if args.config is not None else (PROJECT_CONFIG if PROJECT_CONFIG.is_file() else None)
    return load_settings(config, overrides_from(args))
