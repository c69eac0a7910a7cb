"""config.yaml and flags: the shipped file, every kind of mistake, and flags over file values.

Each mistake must give one line that names the key, from ``load_settings`` and from the
CLI alike (exit code 2, stderr ``error: ...``), before anything else happens.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from stream import launch
from stream.cli import main as cli
from stream.config.flags import net_size_value
from stream.config.settings import Settings, load_settings
from stream.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "config.yaml"

# (name, YAML text, what the one-line message must contain)
BAD_FILES = [
    ("unknown-top-level", "sorce: clip.mp4\n", ["'sorce'", "unknown key", "source"]),
    ("unknown-nested", "capture:\n  queue_sise: 3\n", ["'capture.queue_sise'", "unknown key", "queue_size"]),
    ("wrong-type", "capture:\n  queue_size: many\n", ["'capture.queue_size'", "integer", "many"]),
    ("queue-zero", "capture:\n  queue_size: 0\n", ["'capture.queue_size'", "greater than or equal to 1"]),
    ("crf-range", "video:\n  crf: 99\n", ["'video.crf'", "51", "99"]),
    ("net-size-too-small", "model:\n  net_size: 10\n", ["'model.net_size'", "14..2048", "10"]),
    ("unknown-model", "model:\n  name: depth-anything-v2-large\n", ["'model.name'", "unknown model 'depth-anything-v2-large'",
                                                                       "midas-small, depth-anything-v2-small"]),
    ("sha256-not-hex", "model:\n  sha256: abc\n", ["'model.sha256'", "abc"]),
    ("bad-colormap", "display:\n  colormap: rainbow\n", ["'display.colormap'", "rainbow", "inferno"]),
    ("bad-precision", "model:\n  precision: fp16\n", ["'model.precision'", "fp16"]),
    ("section-not-mapping", "capture: 3\n", ["'capture'"]),
    ("invalid-yaml", "capture:\n  queue_size: [1,\n", ["not valid YAML", "line"]),
    ("yaml-list", "- source\n- output\n", ["mapping"]),
    ("old-realtime", "realtime: true\n", ["'realtime' was replaced by 'mode'", "mode: live"]),
    ("bad-mode", "mode: sometimes\n", ["'mode'", "sometimes", "'auto'"]),
    ("max-width-range", "video:\n  max_width: 10\n", ["'video.max_width'", "64"]),
]


@pytest.fixture(autouse=True)
def no_model(monkeypatch) -> None:
    """A config mistake must stop the run before the model is looked for (no download here)."""
    from stream.model import weights

    def reached(*_args, **_kwargs):
        raise AssertionError("a bad config reached the model download")

    monkeypatch.setattr(weights, "ensure_weights", reached)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def run_cli(capsys, *argv: str) -> tuple[int, list[str]]:
    code = launch.main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


def test_shipped_config_loads_and_matches_defaults() -> None:
    settings = load_settings(SHIPPED)
    assert settings == Settings()
    assert settings.source == "0" and settings.model.onnx is None and settings.model.weights is None
    assert settings.model.precision == "auto" and settings.model.engine == "auto" and settings.model.net_size is None
    assert settings.capture.queue_size == 4 and settings.display.colormap == "inferno"
    assert settings.video.crf == 23 and settings.video.codec == "libx264"


def test_empty_file_means_defaults(tmp_path) -> None:
    assert load_settings(write(tmp_path, "empty", "")) == Settings()
    assert load_settings(write(tmp_path, "comments", "# nothing set\n")) == Settings()


def test_file_values_are_used(tmp_path) -> None:
    path = write(tmp_path, "custom", "source: 1\nmodel:\n  precision: int8\ncapture:\n  queue_size: 7\nvideo:\n  crf: 30\n")
    settings = load_settings(path)
    assert settings.source == "1"  # a webcam index written as a number
    assert settings.model.precision == "int8" and settings.capture.queue_size == 7 and settings.video.crf == 30
    assert settings.capture.width == 640  # untouched keys keep their defaults


@pytest.mark.parametrize("name,text,expected", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_file_is_one_line_naming_the_key(tmp_path, name, text, expected) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.mark.parametrize("name,text,expected", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_bad_file_through_cli_exits_2(tmp_path, capsys, name, text, expected) -> None:
    path = write(tmp_path, name, text)
    code, err = run_cli(capsys, "--config", str(path), "--source", "synthetic", "--headless", "--max-frames", "1")
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ")
    assert expected[0] in err[0]


def test_missing_config_file(tmp_path, capsys) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as err:
        load_settings(missing)
    assert str(missing) in str(err.value) and "not found" in str(err.value) and "\n" not in str(err.value)
    code, lines = run_cli(capsys, "--config", str(missing), "--source", "synthetic", "--headless")
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and str(missing) in lines[0]


def settings_from_cli(*argv: str) -> Settings:
    args = cli.build_parser().parse_args(list(argv))
    return load_settings(SHIPPED, cli.overrides_from(args))


def test_flags_override_file_values(tmp_path) -> None:
    path = write(tmp_path, "file", "model:\n  threads: 1\n  precision: fp32\ncapture:\n  queue_size: 6\n  width: 320\n")
    args = cli.build_parser().parse_args(
        ["--threads", "3", "--precision", "int8", "--set", "capture.queue_size=2", "--colormap", "gray", "--source", "clip.mp4", "--max-frames", "5"]
    )
    settings = load_settings(path, cli.overrides_from(args))
    assert settings.model.threads == 3 and settings.model.precision == "int8"
    assert settings.capture.queue_size == 2
    assert settings.capture.width == 320  # a file value no flag touched survives
    assert settings.display.colormap == "gray" and settings.source == "clip.mp4" and settings.max_frames == 5


def test_set_parses_values_as_yaml() -> None:
    settings = settings_from_cli("--set", "display.overlay=false", "--set", "capture.fps=12.5", "--set", "model.cache_dir=/tmp/x y")
    assert settings.display.overlay is False and settings.capture.fps == 12.5
    assert settings.model.cache_dir == Path("/tmp/x y")


def test_named_flag_wins_over_set() -> None:
    assert settings_from_cli("--set", "model.threads=1", "--threads", "4").model.threads == 4


def test_absent_flags_do_not_override(tmp_path) -> None:
    path = write(tmp_path, "file", "headless: true\nmodel:\n  threads: 5\n")
    settings = load_settings(path, cli.overrides_from(cli.build_parser().parse_args([])))
    assert settings.headless is True and settings.model.threads == 5


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--set", "capture.queue_sise=2"], "'capture.queue_sise'"),
        (["--set", "capture.queue_size=0"], "'capture.queue_size'"),
        (["--threads", "-1"], "'model.threads'"),
        (["--colormap", "rainbow"], "'display.colormap'"),
        (["--set", "nonsense=1"], "'nonsense'"),
        (["--set", "capture.queue_size"], "KEY=VALUE"),
    ],
    ids=["unknown-key", "out-of-range", "negative-threads", "colormap", "unknown-top-level", "set-without-equals"],
)
def test_bad_flag_is_one_line_exit_2(capsys, argv, expected) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_cli(*argv)
    assert "\n" not in str(err.value) and expected in str(err.value)
    code, lines = run_cli(capsys, "--source", "synthetic", "--headless", "--max-frames", "1", *argv)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]


def test_bad_flag_names_the_command_line_not_the_file(capsys) -> None:
    code, lines = run_cli(capsys, "--source", "synthetic", "--headless", "--set", "video.crf=99")
    assert code == 2 and "command line" in lines[0] and "config.yaml" not in lines[0]


def test_set_without_equals_shows_an_example() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_cli("--set", "capture.queue_size")
    assert "'capture.queue_size'" in str(err.value) and "--set capture.queue_size=3" in str(err.value)


def test_every_flag_sets_a_real_config_key() -> None:
    """The one flag table: each flag's key exists in the settings and a value given to it lands there."""
    samples = {str: "x", Path: Path("x.mp4"), int: 3, float: 12.5, cli.probe_point: "3,4", net_size_value: "auto"}
    for flag in cli.FLAGS:
        if flag.key is None:
            continue
        node: object = Settings()
        for part in flag.key.split("."):
            assert hasattr(node, part), f"{flag.names} -> unknown key {flag.key}"
            node = getattr(node, part)
        if flag.const is not None:
            argv = [flag.names[0]]
            expected = flag.const
        else:
            allowed = flag.allowed()
            value = allowed[-1] if allowed else samples[flag.type or str]
            value = "Magma" if flag.key == "display.colormap" else value
            value = "127.0.0.1:9000" if flag.key == "serve.address" else value
            value = "x.mp4" if flag.key == "output" else value  # text: a file, or a stream URL kept as given
            argv, expected = [flag.names[0], str(value)], value
        expected = {"output": Path("x.mp4"), "display.colormap": "magma", "probe.points": [(3, 4)]}.get(flag.key, expected)
        settings = load_settings(SHIPPED, cli.overrides_from(cli.build_parser().parse_args(argv)))
        got: object = settings
        for part in flag.key.split("."):
            got = getattr(got, part)
        assert got == expected, (flag.names, got, expected)


@pytest.mark.parametrize("given", ["Inferno", "INFERNO", " inferno "])
def test_colormap_names_are_case_insensitive(given) -> None:
    assert load_settings(SHIPPED, {"display": {"colormap": given}}).display.colormap == "inferno"


def test_realtime_flag_is_mode_live() -> None:
    assert load_settings(SHIPPED, cli.overrides_from(cli.build_parser().parse_args(["--realtime"]))).mode == "live"


def test_one_file_inside_another_tool_never_serves_or_draws_its_own_bar(tmp_path) -> None:
    """An upload or a batch runs each file with the user's settings, but the web server and the bar are the tool's."""
    base = load_settings(SHIPPED, {"serve": {"address": "127.0.0.1:8080"}, "mode": "live", "display": {"colormap": "gray"}})
    one = base.for_one_file(tmp_path / "in.mp4", tmp_path / "out.mp4", max_frames=None)
    assert one.serve.address is None and one.headless and one.mode == "file" and not one.display.progress
    assert one.source == str(tmp_path / "in.mp4") and one.output == tmp_path / "out.mp4"
    assert one.display.colormap == "gray" and base.serve.address == "127.0.0.1:8080"  # the rest is the user's, the base untouched


# issue 23 item 2: files that crashed, hung or exhausted the reader (name, bytes, what the one line must say)
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcde", "bcdef")) + "source: *f\n"
HOSTILE_FILES = [
    ("binary", bytes(range(256)) * 8, ["binary"]),
    ("utf-16", "source: clip.mp4\n".encode("utf-16"), ["UTF-16", "save it as UTF-8"]),
    ("latin-1", "display:\n  window_title: café\n".encode("latin-1"), ["not UTF-8", "Latin-1", "save it as UTF-8"]),
    ("nested", b"source: " + b"[" * 50_000, ["nests deeper than"]),
    ("huge-integer", b"max_frames: " + b"9" * 5001 + b"\n", ["5001-digit number"]),
    ("billion-laughs", LAUGHS.encode(), ["alias (*", "write the value out"]),
    ("too-large", b"# " + b"x" * (2 << 20) + b"\n", ["larger than"]),
    ("bad-date", b"source: 2001-13-45\n", ["not valid YAML", "line 1"]),
]


@pytest.mark.parametrize("name,data,expected", HOSTILE_FILES, ids=[case[0] for case in HOSTILE_FILES])
def test_hostile_config_file_is_one_short_line_naming_it(tmp_path, capsys, name, data, expected) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and len(message) < 300 + len(str(path))
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    code, lines = run_cli(capsys, "--config", str(path), "--source", "synthetic", "--headless", "--max-frames", "1")
    assert code == 2 and len(lines) == 1 and lines[0] == f"error: {message}"


def run_limited(*argv: str) -> subprocess.CompletedProcess:
    """The CLI in a child under a 2 GB address-space limit: a reader that never stops fails fast instead of eating memory."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    return subprocess.run([sys.executable, "run_stream.py", *argv], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, preexec_fn=limit)


def test_config_that_is_no_regular_file_is_never_read(tmp_path) -> None:
    """``/dev/zero`` read until memory ran out; a FIFO blocks its reader forever. Neither is read at all."""
    fifo = tmp_path / "settings.fifo"
    os.mkfifo(fifo)
    for path, kind in (("/dev/zero", "a character device"), (str(fifo), "a FIFO"), (str(tmp_path), "a folder")):
        done = run_limited("--config", path, "--source", "synthetic", "--headless", "--max-frames", "1")
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
        assert path in lines[0] and kind in lines[0]


@pytest.mark.parametrize("key,value,expected", [("capture.fps", "[" * 50_000, "nests deeper than"),
                                                ("max_frames", "9" * 5001, "5001-digit number"),
                                                ("probe.points", "[&a [1, 2], *a]", "alias (*a)")],
                         ids=["nested", "huge-integer", "alias"])
def test_set_value_beyond_bounds_is_one_line_naming_it(capsys, key, value, expected) -> None:
    argv = ["--set", f"{key}={value}"]
    with pytest.raises(ConfigError) as err:
        settings_from_cli(*argv)
    assert f"--set '{key}'" in str(err.value) and expected in str(err.value) and "\n" not in str(err.value)
    code, lines = run_cli(capsys, "--source", "synthetic", "--headless", *argv)
    assert code == 2 and len(lines) == 1 and expected in lines[0]


def test_message_never_prints_a_huge_value() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_cli("--set", f"capture.fps={'x' * 100_000}")
    assert "'capture.fps'" in str(err.value) and len(str(err.value)) < 400
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"source": list(range(100_000))})
    assert "'source'" in str(err.value) and len(str(err.value)) < 400
    for argv in (["--set", f"{'k' * 100_000}=1"], ["--set", f"model.name={'m' * 100_000}"],
                 ["--set", f"video.codec={'c' * 100_000}"], ["--set", "model=3", "--set", f"model.{'k' * 100_000}=1"]):
        with pytest.raises(ConfigError) as err:
            settings_from_cli(*argv)
        assert len(str(err.value)) < 600, str(err.value)[:200]


# issue 23 item 6: settings checked late or not at all
@pytest.mark.parametrize("assignment,key,expected", [
    ("video.codec=aac", "video.codec", "aac encodes audio, not video"),
    ("video.codec=png", "video.codec", "png cannot write yuv420p"),
    ("video.codec=libx246", "video.codec", "no encoder 'libx246'"),
    ("video.preset=bogus", "video.preset", "libx264 has no preset 'bogus'"),
], ids=["audio-codec", "rgb-only-codec", "misspelt-codec", "unknown-preset"])
def test_video_settings_are_checked_with_the_config_before_the_model(capsys, random_onnx, tmp_path, assignment, key,
                                                                     expected) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_cli("--set", assignment)
    assert f"'{key}'" in str(err.value) and expected in str(err.value) and "libx264" in str(err.value)
    code, lines = run_cli(capsys, "--source", "synthetic:64x48", "--headless", "--max-frames", "2", "--model", str(random_onnx),
                          "--output", str(tmp_path / "out.mp4"), "--set", assignment)
    assert code == 2 and len(lines) == 1 and expected in lines[0] and "--output" not in lines[0], lines
    assert not (tmp_path / "out.mp4").exists()


def test_presets_are_checked_for_the_encoders_that_take_them_only() -> None:
    video = load_settings(None, {"video": {"codec": "libx265", "preset": "veryfast"}}).video
    assert (video.codec, video.preset) == ("libx265", "veryfast")
    assert load_settings(None, {"video": {"codec": "mpeg4", "preset": "anything"}}).video.codec == "mpeg4"  # no presets there
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"video": {"codec": "libx265", "preset": "quick"}})
    assert "'video.preset'" in str(err.value) and "libx265 has no preset 'quick'" in str(err.value)


@pytest.mark.parametrize("argv,key", [(["--set", "max_frames=true"], "max_frames"), (["--set", "video.crf=false"], "video.crf"),
                                      (["--set", "capture.fps=true"], "capture.fps"), (["--set", "probe.points=[[true, 0]]"],
                                                                                      "probe.points.0.0")],
                         ids=["max-frames", "crf", "fps", "probe"])
def test_a_boolean_is_no_number(argv, key) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_cli(*argv)
    assert f"'{key}'" in str(err.value)


def test_a_boolean_is_no_number_in_a_file_either(tmp_path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "bool-crf", "video:\n  crf: false\n"))
    assert "'video.crf'" in str(err.value) and "False" in str(err.value)


def test_cache_dir_that_is_a_file_is_refused_with_the_config(tmp_path, capsys) -> None:
    afile = tmp_path / "cache"
    afile.write_text("not a folder")
    for given in (afile, afile / "inside"):
        with pytest.raises(ConfigError) as err:
            settings_from_cli("--cache-dir", str(given))
        assert "'model.cache_dir'" in str(err.value) and f"{afile} is not a folder" in str(err.value)
    code, lines = run_cli(capsys, "--source", "synthetic", "--headless", "--cache-dir", str(afile))
    assert code == 2 and len(lines) == 1 and "model.cache_dir" in lines[0]
    assert settings_from_cli("--cache-dir", str(tmp_path / "new" / "cache")).model.cache_dir == tmp_path / "new" / "cache"


@pytest.mark.parametrize("argv", [["--set", "model=3", "--model", "x.onnx"], ["--set", "model=3", "--set", "model.engine=auto"]],
                         ids=["beside-a-flag", "beside-a-set"])
def test_a_section_given_a_value_and_a_key_is_refused(argv) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_cli(*argv)
    assert "model is given a value (3)" in str(err.value) and "section" in str(err.value)
