"""A model file's ``ModelInfo``: the one place its metadata is read and bad metadata becomes a ``ModelError``.

Each engine reads the ONNX ``metadata_props`` through its own library while it loads the
model (ONNX Runtime's ``custom_metadata_map``, OpenVINO's ``rt_info["framework"]``) and hands
them to ``info_from_props``. ``read_info`` is for callers that have no engine yet (the
``auto`` decision's cache key, the int8 copy): it reads only the file's top-level protobuf
fields and skips the graph, without the ``onnx`` package: importing it and parsing 100 MB of
weights (about a second) at every start just to learn the model's name would be waste.
"""

from __future__ import annotations

import mmap
from collections.abc import Mapping
from pathlib import Path

from stream.core.errors import ModelError
from stream.core.modelinfo import ModelInfo

METADATA_FIELD = 14  # ModelProto.metadata_props (onnx.proto)
KEY, VALUE = 1, 2  # StringStringEntryProto.key, .value


def info_from_props(props: Mapping[str, str], model: Path) -> ModelInfo:
    """Our metadata read back (a file without it is relative MiDaS-style, named after the file); one-line error if bad."""
    try:
        return ModelInfo.from_metadata(props, Path(model).stem)
    except ValueError as exc:
        reason = " ".join(str(exc).split())
        raise ModelError(f"{model}: {reason}; re-export it with `python -m stream.model export` "
                         "or pass another --model") from None


def read_info(model: Path) -> ModelInfo:
    """The ``ModelInfo`` of an ONNX file without loading it into an engine."""
    return info_from_props(read_props(model), model)


def read_props(model: Path) -> dict[str, str]:
    """The file's ``metadata_props`` as a dict; empty when it has none or is not readable as ONNX (the engine says why)."""
    props: dict[str, str] = {}
    try:
        with open(model, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            for field, start, end in _fields(data, 0, len(data)):
                if field == METADATA_FIELD:
                    entry = {number: bytes(data[a:b]).decode() for number, a, b in _fields(data, start, end)}
                    props[entry.get(KEY, "")] = entry.get(VALUE, "")
    except (OSError, ValueError):  # unreadable, empty, not protobuf, or not UTF-8
        return {}
    return props


def _fields(data: mmap.mmap, pos: int, end: int) -> list[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited protobuf field in ``data[pos:end]``; others are skipped."""
    fields = []
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            fields.append((number, pos, pos + length))
            pos += length
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
    if pos != end:
        raise ValueError("truncated protobuf")
    return fields


def _varint(data: mmap.mmap, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated protobuf varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def write_props(source: Path, target: Path, props: Mapping[str, str]) -> Path:
    """A copy of ``source`` at ``target`` (may be the same file) whose metadata_props also hold ``props``.

    The one writer of ONNX metadata after export: an int8 copy that lost ours gets it back
    through here, and tests label hand-made models with it.
    """
    import onnx

    model = onnx.load(str(source))
    kept = [entry for entry in model.metadata_props if entry.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(target))
    return Path(target)
