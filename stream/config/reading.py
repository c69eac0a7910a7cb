"""Reading a config's bytes and YAML so that no file or ``--set`` value can crash, hang or exhaust the reader.

A config is a few kilobytes of UTF-8 YAML holding a mapping a few levels deep; anything far
from that is refused in one line naming where it came from, before it costs memory or time:
a path that is no regular file (``/dev/zero``, a FIFO: never read, they may never end), more
than ``MAX_BYTES``, text that is not UTF-8 (UTF-16, Latin-1, binary: named, with the fix),
nesting deeper than ``MAX_DEPTH`` (PyYAML's composer recurses once per level), an integer
longer than ``MAX_DIGITS`` (Python's ``int`` refuses 4300 digits with a ``ValueError``),
and YAML aliases (``*name``): a few lines of them expand to billions of values once
validated ("billion laughs"), and a config needs none.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from stream.core.errors import ConfigError

MAX_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_DIGITS = 64
SHOWN = 60  # characters of a value a message shows


def shorten(value: Any, limit: int = SHOWN) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message never prints a huge value."""
    return clip(repr(value), limit)


def clip(text: str, limit: int = SHOWN) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def path_kind(mode: int) -> str:
    """What a path that is not a regular file is, in words."""
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def read_config_text(path: Path) -> str:
    """The config file's text: a regular file of at most ``MAX_BYTES``, UTF-8 (a UTF-8 byte-order mark is dropped)."""
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"config file {path} is {path_kind(mode)}, not a YAML file; pass --config with a YAML file")
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}; pass --config with an existing YAML file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_BYTES // 1024} KB, far more than any config; "
                          "pass --config with the YAML settings file")
    return decode(data, path)


def decode(data: bytes, path: Path) -> str:
    """UTF-8 text, or one line saying what the bytes are instead and to save the file as UTF-8."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"config file {path} is UTF-16 text; save it as UTF-8")
    if b"\x00" in data:
        raise ConfigError(f"config file {path} is a binary file, not YAML text; pass --config with a YAML file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {path} is not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}: Latin-1 "
                          "or another 8-bit encoding?); save it as UTF-8") from None


class TooComplex(Exception):
    """The YAML goes beyond what a config needs (an alias, deep nesting, a huge number): the reason, in words."""


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases, nesting at most ``MAX_DEPTH`` deep, integers of at most ``MAX_DIGITS``."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise TooComplex(f"uses a YAML alias (*{event.anchor[:SHOWN]}) at line {event.start_mark.line + 1}; "
                             "aliases are not supported in settings: write the value out")
        if self.depth >= MAX_DEPTH:
            raise TooComplex(f"nests deeper than {MAX_DEPTH} levels at line {self.peek_event().start_mark.line + 1}; "
                             "settings are a few levels deep")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """Values Python cannot make (a huge integer, 2001-13-45 as a date) are YAML errors at their line, not crashes."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int" and len(node.value) > MAX_DIGITS:
            raise TooComplex(f"has a {len(node.value)}-digit number at line {node.start_mark.line + 1}; "
                             f"numbers in settings have at most {MAX_DIGITS} digits")
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(None, None, shorten(str(exc)), node.start_mark) from None


def parse_yaml(text: str, origin: str) -> Any:
    """``text`` as YAML through ``BoundedLoader``; beyond its bounds, one ``ConfigError`` naming ``origin``.

    Syntax errors stay ``yaml.YAMLError`` for the caller (a file says "not valid YAML", ``--set`` takes the text).
    """
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    except TooComplex as exc:
        raise ConfigError(f"{origin} {exc}") from None
    except RecursionError:  # the scanner and parser do not recurse, but a bound missed must still be one line
        raise ConfigError(f"{origin} nests too deeply; settings are a few levels deep") from None
    finally:
        loader.dispose()
