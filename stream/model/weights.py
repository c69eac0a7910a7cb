"""The official MiDaS v2.1 small weights: download once, verify, cache; or read a local file.

The download streams to a temporary file in the cache folder (so the final rename is
atomic on the same filesystem), hashes while it streams, and only a file whose size and
SHA-256 match the published ones is ever renamed into place. Any failure removes the
temporary file and tells the user where to put the file by hand and about ``--weights``.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.request
from pathlib import Path

from stream.core.cache import CACHE_ENV, default_cache_dir, sha256_of
from stream.core.errors import DownloadError, ModelError
from stream.core.staging import writing

OFFICIAL_URL = "https://github.com/isl-org/MiDaS/releases/download/v2_1/midas_v21_small_256.pt"
OFFICIAL_SHA256 = "70d6b9c891758c67f974a6097fb0c608c7ee67fb81ac3e5588847d5596d56fca"
OFFICIAL_SIZE = 85761505
WEIGHTS_FILENAME = "midas_v21_small_256.pt"
log = logging.getLogger(__name__)
CHUNK = 1 << 20


def download_file(url: str, dest: Path, sha256: str, size: int | None, progress: bool = True, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``dest``; only a complete, verified file ever appears at ``dest``."""
    from tqdm import tqdm

    dest = Path(dest)
    hint = f"download it by hand from {url} to {dest}, or pass --weights PATH"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create cache folder {dest.parent} ({exc.strerror}); set model.cache_dir or {CACHE_ENV}, or pass --weights PATH") from None
    digest = hashlib.sha256()
    received = 0
    with writing(dest, suffix=".part") as tmp_name:
        try:
            with open(tmp_name, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                total = size or int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress, leave=False) as bar:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        bar.update(len(chunk))
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}; {hint}") from None
        except urllib.error.URLError as exc:
            raise DownloadError(f"cannot download {url}: {exc.reason} (offline?); {hint}") from None
        except (OSError, TimeoutError, http.client.HTTPException) as exc:
            raise DownloadError(f"cannot download {url}: {exc}; {hint}") from None
        if size is not None and received != size:
            raise DownloadError(f"download of {url} is incomplete or wrong: {received} bytes, expected {size}; the partial file was removed; retry, or {hint}")
        got = digest.hexdigest()
        if got != sha256:
            raise DownloadError(f"SHA-256 mismatch for {url}: got {got[:12]}..., expected {sha256[:12]}...; the file was removed; retry, or {hint}")
    return dest


def ensure_official_weights(
    cache_dir: Path | None = None,
    url: str = OFFICIAL_URL,
    sha256: str = OFFICIAL_SHA256,
    size: int | None = OFFICIAL_SIZE,
    progress: bool = True,
) -> Path:
    """The verified checkpoint in the cache, downloading it the first time."""
    target = Path(cache_dir or default_cache_dir()) / WEIGHTS_FILENAME
    if target.is_file() and (size is None or target.stat().st_size == size) and sha256_of(target) == sha256:
        return target
    log.info("downloading the official MiDaS v2.1 small weights (once) from %s to %s", url, target)
    return download_file(url, target, sha256, size, progress=progress)


def read_state_dict(path: Path):
    """A state dict from a ``.pt`` file: plain, or wrapped under "model" / "state_dict"."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}; pass --weights with an existing .pt file or omit it to download the official weights")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged pickle can fail in any way (KeyError, IndexError, struct.error, ...)
        text = str(exc)
        if "Weights only load failed" in text:
            reason = "it pickles Python objects other than tensors, which are not loaded for safety"
        else:
            reason = text.splitlines()[0][:120] if text else type(exc).__name__
        raise ModelError(f"{path} is not a readable PyTorch checkpoint ({reason}); re-download it or pass another --weights file") from None
    if isinstance(data, dict):
        for key in ("model", "state_dict"):
            if key in data and isinstance(data[key], dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not data:
        raise ModelError(f"{path} does not hold a state dict; pass a MiDaS v2.1 small .pt checkpoint")
    if all(isinstance(k, str) and k.startswith("module.") for k in data):
        data = {k.removeprefix("module."): v for k, v in data.items()}
    bad = next((k for k, v in data.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise ModelError(f"{path}: entry {bad!r} is not a tensor; pass a MiDaS v2.1 small .pt checkpoint")
    return data
