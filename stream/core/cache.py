"""Where downloaded weights, exported models and engine decisions are kept, and the one file hash.

In core because every layer that caches (the model files, the int8 copies, the engine choice)
names the same folder and keys it by the same SHA-256.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CACHE_ENV = "DEPTH_STREAM_CACHE"
CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """$DEPTH_STREAM_CACHE, else $XDG_CACHE_HOME/depth-stream, else ~/.cache/depth-stream."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "depth-stream"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
