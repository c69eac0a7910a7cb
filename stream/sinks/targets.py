"""``--output`` text -> a file path or a stream target: the one reading of an output for the whole app.

A stream is sent on as it is made, for OBS, VLC, ffplay or another machine: ``udp://HOST:PORT``
(MPEG-TS), ``srt://`` (MPEG-TS, where the FFmpeg inside PyAV has SRT), ``rtmp://HOST/APP/KEY``
(FLV), ``-`` for standard output (MPEG-TS) and an existing named pipe (MPEG-TS). Anything else
is a path: ``out:1.mp4`` is a file of that name, never an FFmpeg protocol. The text of a stream
is kept as given (a ``Path`` would turn ``udp://`` into ``udp:/``), so messages quote it exactly.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from stream.core.errors import OutputError
from stream.core.media import is_url
from stream.sinks.protocols import has_output_protocol

STDOUT = "stdout"
FIFO = "fifo"
PIPE = "pipe"  # FFmpeg's ``pipe:N`` spelling: only ``pipe:`` / ``pipe:1`` (standard output) is taken
#: scheme -> the container sent over it
CONTAINERS = {"udp": "mpegts", "srt": "mpegts", "rtmp": "flv", "rtmps": "flv", STDOUT: "mpegts", FIFO: "mpegts"}
#: where a receiver holds a connection: its going away ends the run (UDP has no receiver to lose)
CONNECTED = frozenset({"srt", "rtmp", "rtmps", STDOUT, FIFO})


@dataclass(frozen=True)
class StreamTarget:
    """An ``--output`` that is sent, not written to a file: ``text`` as the user gave it, and its ``scheme``."""

    text: str
    scheme: str

    def __str__(self) -> str:
        return self.text

    @property
    def container(self) -> str:
        return CONTAINERS[self.scheme]

    @property
    def connected(self) -> bool:
        return self.scheme in CONNECTED

    @property
    def label(self) -> str:
        """How messages name it: ``standard output``, ``the named pipe X``, or the URL as given."""
        if self.scheme == STDOUT:
            return "standard output"
        if self.scheme == FIFO:
            return f"the named pipe {self.text}"
        return self.text


def forms() -> str:
    """The stream outputs this FFmpeg can send, for messages."""
    srt = "srt://HOST:PORT, " if has_output_protocol("srt") else ""
    return f"udp://HOST:PORT, rtmp://HOST/APP/KEY, {srt}- (standard output), a named pipe (mkfifo) or a video file"


def is_fifo(path: Path) -> bool:
    try:
        return stat.S_ISFIFO(path.stat().st_mode)
    except OSError:
        return False


def parse_output(value: str | PathLike[str]) -> Path | StreamTarget:
    """``-``, ``pipe:1``, a URL or an existing named pipe -> ``StreamTarget``; anything else -> its ``Path``.

    Whether a stream can be sent is ``check_stream_target``'s to say, before any work.
    """
    text = os.fspath(value)
    if text in ("-", "pipe:", "pipe:1"):
        return StreamTarget(text, STDOUT)
    if text.startswith("pipe:"):
        return StreamTarget(text, PIPE)
    if is_url(text):
        return StreamTarget(text, text.split("://", 1)[0].lower())
    path = Path(text.removeprefix("file://"))
    return StreamTarget(text, FIFO) if is_fifo(path) else path


def output_file(output: Path | StreamTarget | None) -> Path | None:
    """The output's path if it is a file (or a folder of photos), None if it is a stream or absent."""
    return output if isinstance(output, Path) else None


def check_stream_target(target: StreamTarget) -> None:
    """One line naming the target as given and the fix, before the source opens or the model loads."""
    text, scheme = target.text, target.scheme
    if scheme == PIPE:
        raise OutputError(f"--output {text}: standard output is written as --output - (MPEG-TS); "
                          f"for a file of that name give ./{text}")
    if scheme not in CONTAINERS:
        raise OutputError(f"--output {text}: {scheme}:// is not a stream this app sends; use {forms()}")
    if scheme in (STDOUT, FIFO):
        return
    if not has_output_protocol(scheme):
        raise OutputError(f"--output {text}: the FFmpeg inside PyAV here was built without {scheme}; send "
                          "udp://HOST:PORT or rtmp://HOST/APP/KEY instead, or install a PyAV built with it")
    host_port = text.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0]
    host, _, port = host_port.rpartition(":")
    if scheme in ("udp", "srt") and (not host or not port.isdigit()):
        raise OutputError(f"--output {text}: give the receiver as {scheme}://HOST:PORT (e.g. {scheme}://127.0.0.1:5000)")
    if scheme.startswith("rtmp") and not host_port:
        raise OutputError(f"--output {text}: give the server as {scheme}://HOST[:PORT]/APP/KEY")
