"""Error types a user can cause or meet, each carrying the exit code the CLI returns.

Every message is one line that names the problem and the fix; ``run_stream.py`` prints
``error: <message>`` and exits with ``exit_code``.
"""

from __future__ import annotations


class DepthStreamError(Exception):
    """Base class: a failure we can explain to the user in one line."""

    exit_code: int = 1


class InputError(DepthStreamError):
    """Bad input the user can fix (a path, a flag, a config value): exit code 2."""

    exit_code = 2


class ConfigError(InputError):
    """config.yaml or a CLI flag holds an unknown key, a wrong type or an out-of-range value."""


class SourceError(InputError):
    """The video source cannot be opened or read (missing, not a video, no frames, truncated)."""


class ModelError(InputError):
    """A model or weights file is missing, corrupt or of the wrong shape."""


class OutputError(InputError):
    """The output video cannot be written where the user asked."""


class OutputWriteError(DepthStreamError):
    """Writing the output failed mid-run (disk full, file too large): what was written still plays."""


class DownloadError(DepthStreamError):
    """The official weights could not be fetched or verified (offline, HTTP error, bad hash)."""


class SourceLostError(DepthStreamError):
    """A live source stopped delivering frames and reconnecting did not bring it back."""


class StageError(DepthStreamError):
    """An unexpected exception inside one pipeline thread, named by its stage."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        self.stage = stage
        self.cause = cause
        detail = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        if isinstance(cause, DepthStreamError):
            # already a one-line explanation with its fix: just say where it happened
            super().__init__(f"{stage} stage: {detail}")
            self.exit_code = cause.exit_code
        else:
            super().__init__(f"{stage} stage failed: {type(cause).__name__}: {detail}")
