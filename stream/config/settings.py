"""Typed settings: config.yaml defaults, merged with CLI flags, validated in one place.

pydantic does the validation (types, ranges, unknown keys) so every mistake is caught
before any thread starts; ``load_settings`` turns its report into one line naming the key.
Numbers are strict (``StrictInt``, ``StrictFloat``): ``true`` is no frame count and ``false``
no quality, though Python counts booleans as integers.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError, ValidationInfo, field_validator, model_validator

from stream.config.reading import clip, parse_yaml, read_config_text, shorten
from stream.core.errors import ConfigError
from stream.engines.registry import engine_choices, precision_choices
from stream.model.registry import DEFAULT_MODEL, model_choices
from stream.sinks.encoder import DEFAULT_CODEC, encoder_problem, preset_problem
from stream.sinks.targets import StreamTarget, parse_output
from stream.sources.base import DEFAULT_MAX_PIXELS, MAX_DECODABLE_PIXELS
from stream.view.render import COLORMAPS

PROJECT_CONFIG = Path(__file__).resolve().parents[2] / "config.yaml"  # the repository's, when run from a checkout
NET_SIZES = (14, 2048)  # model.net_size's range: one ViT patch .. far above any trained size
BROWSER_SOURCE = "browser"  # --source browser: the page's camera (needs --serve)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelSettings(Section):
    name: str | None = None  # a registered model (stream.model.MODELS); None: midas-small, or what --model's file says
    onnx: Path | None = None
    weights: Path | None = None
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")  # pin the downloaded checkpoint
    cache_dir: Path | None = None
    engine: str = "auto"  # "auto" or a registered engine (stream.engines.registry.ENGINES)
    precision: str = "auto"
    threads: StrictInt = Field(0, ge=0, le=256)
    streams: StrictInt = Field(0, ge=0, le=64)
    # None: the model's own default (ModelInfo.net_size); "auto": live mode picks the largest size that holds
    # display.target_fps on this CPU (stream.engines.adaptive), files keep the model's own
    net_size: int | Literal["auto"] | None = None

    @field_validator("net_size", mode="before")
    @classmethod
    def size_or_auto(cls, value: Any) -> Any:
        """A whole number of pixels in range, or ``auto``: one message for both (a union would report each member)."""
        if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
            return None if value is None else "auto"
        size = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.strip().isdigit():
            size = int(value)
        if size is None or not NET_SIZES[0] <= size <= NET_SIZES[1]:
            raise ValueError(f"expected a size in pixels, {NET_SIZES[0]}..{NET_SIZES[1]}, or auto")
        return size

    def fixed_net_size(self) -> int | None:
        """The size every engine but live mode's is built with: ``auto`` leaves the model's own."""
        return None if self.net_size == "auto" else self.net_size

    @field_validator("cache_dir")
    @classmethod
    def cache_folder(cls, value: Path | None) -> Path | None:
        """A folder, or one that can be made: a file on the way is refused now, not as a traceback when caching."""
        if value is None:
            return None
        for part in (value, *value.parents):
            if part.exists():
                if not part.is_dir():
                    raise ValueError(f"{part} is not a folder; choose another folder for the cache (--cache-dir)")
                break
        return value

    @field_validator("name")
    @classmethod
    def known_model(cls, value: str | None) -> str | None:
        if value is None:
            return None
        choices = model_choices()  # read now: a model registered after import counts
        if value not in choices:
            raise ValueError(f"unknown model {value!r}; choose one of {', '.join(choices)}")
        return value

    @property
    def chosen(self) -> str:
        """The model to build from weights: ``name``, else the default (``--model FILE`` says its own)."""
        return self.name or DEFAULT_MODEL

    @field_validator("engine")
    @classmethod
    def known_engine(cls, value: str) -> str:
        choices = engine_choices()  # read now: an engine registered after import counts
        if value not in choices:
            raise ValueError(f"unknown engine {value!r}; choose one of {', '.join(choices)}")
        return value

    @field_validator("precision")
    @classmethod
    def known_precision(cls, value: str) -> str:
        choices = precision_choices()  # the registered engines' precisions, read now
        if value not in choices:
            raise ValueError(f"unknown precision {value!r}; choose one of {', '.join(choices)}")
        return value


class CaptureSettings(Section):
    width: StrictInt | None = Field(640, ge=16, le=8192)
    height: StrictInt | None = Field(480, ge=16, le=8192)
    fps: StrictFloat | None = Field(None, gt=0, le=1000)
    queue_size: StrictInt = Field(4, ge=1, le=256)
    reconnect_attempts: StrictInt = Field(5, ge=0, le=100)
    reconnect_backoff: StrictFloat = Field(0.5, ge=0, le=60)
    read_timeout: StrictFloat = Field(10.0, gt=0, le=600)
    fourcc: str = "auto"  # the pixel format asked of a webcam (stream.sources.fourcc)

    @field_validator("fourcc")
    @classmethod
    def pixel_format(cls, value: str) -> str:
        if value.strip().lower() == "auto":
            return "auto"
        if len(value) != 4 or not value.isascii() or not value.isprintable():
            raise ValueError(f"capture.fourcc {value!r} is not 'auto' or a four-character code; "
                             "use e.g. MJPG (compressed: 720p/1080p at 30 fps) or YUYV (raw)")
        return value


class DisplaySettings(Section):
    colormap: str = "inferno"
    overlay: bool = True
    window_title: str = "depth stream"
    snapshot_dir: Path = Path("snapshots")
    progress: bool = True
    normalize: Literal["stable", "frame", "fixed"] = "stable"
    target_fps: StrictFloat = Field(15.0, gt=0, le=240)  # what model.net_size auto holds in live mode
    range: tuple[StrictFloat, StrictFloat] | None = Field(None, validate_default=True)

    @field_validator("colormap")
    @classmethod
    def known_colormap(cls, value: str) -> str:
        name = value.strip().lower()
        if name not in COLORMAPS:
            raise ValueError(f"unknown colormap {value!r}; choose one of {', '.join(COLORMAPS)}")
        return name

    @field_validator("range")
    @classmethod
    def usable_range(cls, value: tuple[float, float] | None, info: ValidationInfo) -> tuple[float, float] | None:
        """Checked here, not when the first frame arrives: ``fixed`` needs it, and lo < hi."""
        if value is None:
            if info.data.get("normalize") == "fixed":
                raise ValueError("display.normalize is fixed but display.range is not set; "
                                 "give [lo, hi] in model units, e.g. --set display.range=[0,1000]")
            return None
        lo, hi = value
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError("display.range must be [lo, hi], two finite numbers with lo < hi")
        return value


class OutputSettings(Section):
    codec: str = DEFAULT_CODEC
    crf: StrictInt = Field(23, ge=0, le=51)
    preset: str = "superfast"
    copy_audio: bool = True
    max_width: StrictInt = Field(3840, ge=64, le=16384)

    @field_validator("codec")
    @classmethod
    def usable_codec(cls, value: str) -> str:
        """A video encoder of this FFmpeg taking yuv420p: found now, not after the model loads (or as an --output fault)."""
        problem = encoder_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("preset")
    @classmethod
    def known_preset(cls, value: str, info: ValidationInfo) -> str:
        problem = preset_problem(info.data.get("codec", ""), value)
        if problem is not None:
            raise ValueError(problem)
        return value


class ProbeSettings(Section):
    points: list[tuple[StrictInt, StrictInt]] = Field(default_factory=list)  # source pixels; checked against the frame once it is open
    csv: Path | None = None


class ExportSettings(Section):
    depth_output: Path | None = None
    pointcloud: Path | None = None
    fov_deg: StrictFloat = Field(60.0, ge=1, le=179)
    drop_flying_pixels: bool = True
    pointcloud_step: StrictInt = Field(1, ge=1, le=64)


class ImageSettings(Section):
    format: Literal["keep", "png", "jpg", "webp", "bmp", "tiff"] = "keep"  # each output of a folder of photos
    # a photo, frame or synthetic scene declaring more pixels is refused before it is decoded (decompression bombs)
    max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, le=MAX_DECODABLE_PIXELS, strict=True)


class ServeSettings(Section):
    """The browser page (``--serve``): where it listens, who may use it, how frames are sent."""

    address: str | None = None  # "[HOST:]PORT"; None: no server
    cert: Path | None = None
    key: Path | None = None
    token: str | None = None
    max_viewers: StrictInt = Field(8, ge=1, le=1000)
    jpeg_quality: StrictInt = Field(80, ge=10, le=100)

    @field_validator("address")
    @classmethod
    def host_and_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from stream.config.address import parse_address

        host, port = parse_address(value)
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @field_validator("token")
    @classmethod
    def usable_token(cls, value: str | None) -> str | None:
        if value is not None and (not value or any(c.isspace() for c in value)):
            raise ValueError("serve.token must be a non-empty word without spaces (it goes in the URL as ?token=...)")
        return value


class UploadSettings(Section):
    """Photo and video uploads of the web page (``stream.web.uploads``)."""

    max_mb: StrictFloat = Field(200.0, gt=0, le=100_000)  # per file, enforced while the upload is read
    keep_minutes: StrictFloat = Field(30.0, gt=0, le=10_080)  # results are deleted after their download or this long
    max_queued: StrictInt = Field(4, ge=0, le=1000)  # videos waiting behind the one being processed
    folder: Path | None = None  # where the server makes its temporary folder (None: the system's temp folder)


class Settings(Section):
    source: str = "0"
    output: Path | StreamTarget | None = None  # a file, or a stream sent on (``stream.sinks.targets``)
    headless: bool = False
    mode: Literal["auto", "live", "file"] = "auto"
    max_frames: StrictInt | None = Field(None, ge=1)
    model: ModelSettings = ModelSettings()
    capture: CaptureSettings = CaptureSettings()
    display: DisplaySettings = DisplaySettings()
    video: OutputSettings = OutputSettings()
    probe: ProbeSettings = ProbeSettings()
    export: ExportSettings = ExportSettings()
    images: ImageSettings = ImageSettings()
    serve: ServeSettings = ServeSettings()
    uploads: UploadSettings = UploadSettings()

    @field_validator("source", mode="before")
    @classmethod
    def source_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("output", mode="before")
    @classmethod
    def output_as_given(cls, value: Any) -> Any:
        """Read once, from the text as given: ``udp://h:p`` stays a URL (a ``Path`` makes it ``udp:/h:p``)."""
        return parse_output(value) if isinstance(value, (str, os.PathLike)) else value

    @model_validator(mode="after")
    def browser_needs_the_page(self) -> Settings:
        if self.source == BROWSER_SOURCE and self.serve.address is None:
            raise ValueError("--source browser is the camera of the browser page: add --serve [HOST:]PORT and open the page")
        return self

    def for_one_file(self, source: Path, output: Path, **update: Any) -> Settings:
        """These settings for one file run inside another tool (an upload, a batch): headless, every
        frame, no progress bar of its own, no web server (the user's ``serve.address`` is the tool's,
        not each file's); ``update`` replaces whole sections or keys."""
        display = self.display.model_copy(update={"progress": False})
        serve = self.serve.model_copy(update={"address": None})
        return self.model_copy(update={"source": str(source), "output": output, "headless": True, "mode": "file",
                                       "display": display, "serve": serve, **update})


def describe_error(error: ValidationError, origin: str) -> str:
    """One line naming the first bad key, what is wrong, and how to fix it."""
    first = error.errors()[0]
    key = clip(".".join(str(part) for part in first["loc"])) or "(top level)"
    if first["type"] == "extra_forbidden" and key == "realtime":
        return f"{origin}: 'realtime' was replaced by 'mode' (auto, live or file; see README 'Modes'); use mode: live for realtime: true"
    if first["type"] == "extra_forbidden":
        parent: type[BaseModel] = Settings
        for part in first["loc"][:-1]:
            annotation = parent.model_fields[str(part)].annotation
            parent = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else parent
        valid = ", ".join(parent.model_fields)
        return f"{origin}: unknown key '{key}'; valid keys here: {valid}"
    message = clip(first["msg"].removeprefix("Value error, "), 300)  # a validator's message may quote the value
    if not first["loc"]:  # a rule across keys (``browser_needs_the_page``): its message names the fix
        return message
    got = first.get("input")
    got_text = "" if isinstance(got, dict) else f" (got {shorten(got)})"
    fix = "change that flag" if origin == "command line" else f"fix it in {origin}"
    return f"{origin}: bad value for '{key}': {message}{got_text}; {fix}"


def deep_merge(base: dict[str, Any], override: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``override`` over ``base``, section by section; a section given both a plain value and keys is refused."""
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            merged[key] = deep_merge(old, value, f"{prefix}{key}.")
        elif isinstance(value, dict) and old is not None and value:
            raise section_conflict(f"{prefix}{key}", old, f"{prefix}{key}.{next(iter(value))}")
        else:
            merged[key] = value
    return merged


def section_conflict(section: str, value: Any, key: str) -> ConfigError:
    """``--set model=3`` beside ``--model X`` (``model.onnx``): one line, rather than one of them dropped unseen."""
    section, key = clip(section), clip(key)
    return ConfigError(f"{section} is given a value ({shorten(value)}) and {key} is set too; {section} is a section "
                       f"of keys: set its keys instead (e.g. --set {key}=...)")


def read_yaml(path: Path) -> dict[str, Any]:
    """The config file as a mapping, read within ``stream.config.reading``'s bounds; any failure is one line naming it."""
    text = read_config_text(Path(path))
    try:
        data = parse_yaml(text, f"config file {path}")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{where}; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys (see README 'Configuration')")
    return data


def parse_assignment(text: str) -> dict[str, Any]:
    """``capture.queue_size=3`` -> {"capture": {"queue_size": 3}}: the value parsed as YAML (within its bounds), else the text."""
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, got {shorten(text)}; e.g. --set capture.queue_size=3")
    key, raw = text.split("=", 1)
    try:
        value = parse_yaml(raw, f"--set {shorten(key.strip())}") if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return set_dotted({}, key.strip(), value)


def set_dotted(tree: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set ``a.b.c`` in a nested dict (made as needed) and return the dict: the one place keys nest.

    A section already given a plain value (``--set model=3`` beside ``--model X``) is refused, not replaced
    unseen."""
    cursor = tree
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1], 1):
        child = cursor.get(part)
        if child is not None and not isinstance(child, dict):
            raise section_conflict(".".join(parts[:depth]), child, key)
        if child is None:
            child = cursor[part] = {}
        cursor = child
    cursor[parts[-1]] = value
    return tree


def load_settings(config_path: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """File values, then CLI overrides (nested dict, None values ignored), validated."""
    data = read_yaml(config_path) if config_path is not None else {}
    origin = str(config_path) if config_path is not None else "settings"
    try:
        Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, origin)) from None
    merged = deep_merge(data, overrides or {})
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, "command line")) from None
