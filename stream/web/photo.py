"""An uploaded photo -> the side-by-side PNG, the 16-bit depth PNG and the PLY point cloud.

Exactly what ``--source photo.jpg --output side.png --depth-output depth.png --pointcloud
cloud.ply --headless`` makes: the app's own run (``stream.runtime.run.run``) with a copy of the
server's settings pointed at the upload's folder, so the page's result is the CLI's result
(same composition, colours, overlay, normalisation, export writers and sidecar). Blocking:
the route runs it in the uploads' executor.
"""

from __future__ import annotations

from pathlib import Path

from stream.config.settings import ProbeSettings, Settings
from stream.core.protocols import Estimator
from stream.web.store import Entry, Stored, download_name

# result name (in URLs and in the entry's folder) -> the download name's ending
PHOTO_RESULTS = {
    "side-by-side.png": "-depth.png",
    "depth16.png": "-depth16.png",
    "depth16.png.json": "-depth16.png.json",
    "cloud.ply": ".ply",
}


def photo_settings(settings: Settings, source: Path, folder: Path) -> Settings:
    """The server's settings for one photo: headless, file mode, outputs in ``folder``, no probes, no progress bar."""
    export = settings.export.model_copy(update={"depth_output": folder / "depth16.png", "pointcloud": folder / "cloud.ply"})
    return settings.for_one_file(source, folder / "side-by-side.png", max_frames=None, export=export, probe=ProbeSettings())


def process_photo(settings: Settings, entry: Entry, source: Path, client_name: str | None,
                  estimator: Estimator) -> dict[str, Stored]:
    """Run the app on the photo; the results, named for download after the client's file."""
    from stream.runtime.run import run

    run(photo_settings(settings, source, entry.folder), estimator)
    source.unlink(missing_ok=True)  # the upload itself is not offered back
    return {name: Stored(entry.path(name), download_name(client_name, ending, "photo"))
            for name, ending in PHOTO_RESULTS.items() if entry.path(name).is_file()}
