"""A model's official weights: download once, verify, cache; or read a local file.

The download streams to a temporary file in the cache folder (so the final rename is
atomic on the same filesystem), hashes while it streams, and only a verified file is ever
renamed into place. Verified means: the published size and SHA-256 where the model has them
(MiDaS); otherwise (Depth Anything publishes no digest) a strict load against the model's
architecture, so a wrong file never lands in the cache, and its SHA-256 is printed for the
user to pin (``model.sha256``), after which it is required too. Any failure removes the
temporary file and tells the user where to put the file by hand and about ``--weights``.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from stream.core.cache import CACHE_ENV, default_cache_dir, sha256_of
from stream.core.errors import DownloadError, ModelError
from stream.core.staging import writing
from stream.model.registry import DEFAULT_MODEL, MODELS

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def download_file(url: str, dest: Path, sha256: str | None, size: int | None, progress: bool = True, timeout: float = 30.0,
                  verify: Callable[[Path], None] | None = None, pinned: bool = False) -> Path:
    """Fetch ``url`` to ``dest``; only a complete, verified file ever appears at ``dest``.

    ``sha256``/``size``: required digest and length, None to skip; ``pinned``: the digest is
    the user's ``model.sha256`` (the message says so). ``verify(path)`` runs on the complete
    temporary file before the rename and raises ``DownloadError`` to refuse it.
    """
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
        if sha256 is not None and got != sha256.lower():
            if pinned:
                raise DownloadError(f"{url} has SHA-256 {got}, not the {sha256} that model.sha256 pins; the file was removed; "
                                    f"correct model.sha256, or pass --weights PATH")
            raise DownloadError(f"SHA-256 mismatch for {url}: got {got}, expected {sha256}; the file was removed; retry, or {hint}")
        if verify is not None:
            verify(tmp_name)
    if sha256 is None:
        log.info("%s", sha256_line(dest, got))
    return dest


def sha256_line(path: Path, digest: str) -> str:
    """The one line that tells a user the digest of an unpinned download and how to pin it."""
    return f"sha256 of {Path(path).name}: {digest}; pin it with model.sha256"


def ensure_weights(name: str = DEFAULT_MODEL, cache_dir: Path | None = None, progress: bool = True,
                   sha256: str | None = None, url: str | None = None) -> Path:
    """Model ``name``'s checkpoint in the cache (named ``spec.filename``), downloading it the first time.

    ``sha256``: the user's pin (``model.sha256``); it replaces the published digest and must
    match. A cached file that fails the digest is fetched again. Without any digest (Depth
    Anything, unpinned) the cached file is trusted: it was strictly loaded before it was
    renamed into place, and a file put there by hand is checked when it is loaded.
    ``url``: another address for the same file (a mirror; the tests' local server).
    """
    spec = MODELS.get(name)
    url = url or spec.url
    expected = sha256 or spec.sha256
    size = spec.size if sha256 is None else None
    target = Path(cache_dir or default_cache_dir()) / spec.filename
    if target.is_file():
        if expected is None:
            return target
        if (size is None or target.stat().st_size == size) and sha256_of(target) == expected.lower():
            return target
        if sha256 is not None:
            log.warning("%s does not have the SHA-256 that model.sha256 pins; downloading it again", target)
    log.info("downloading the official %s weights (once) from %s to %s", spec.title, url, target)
    verify = None if spec.sha256 is not None else strict_load_check(name, url)
    return download_file(url, target, expected, size, progress=progress, verify=verify, pinned=sha256 is not None)


def strict_load_check(name: str, url: str) -> Callable[[Path], None]:
    """A ``verify`` for ``download_file``: the file must load strictly into model ``name``'s network."""

    def verify(path: Path) -> None:
        from stream.model.checkpoint import check_checkpoint_file  # torch only when a download needs checking

        try:
            check_checkpoint_file(path, name, source=url)
        except ModelError as exc:
            raise DownloadError(f"{exc}; the download was removed, nothing was cached") from None

    return verify
