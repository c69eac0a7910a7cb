"""The desktop window as a frontend: probes, the ``p`` key's point cloud, and the main thread's loop.

The display worker hands composed frames to a one-slot mailbox; the main thread shows the
newest (``stream.gui.window``). The window opens in ``open``, before the source or the model,
so a machine without a display costs one line and no work.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from stream.config.settings import Settings
from stream.core.protocols import Estimator
from stream.export.snapshot import LatestCloud
from stream.gui.window import MailboxSink, Window
from stream.runtime.frontend import Frontend, Parts
from stream.view.probe import Probes


class WindowFrontend(Frontend):
    """A window on the screen; ``gui`` may be injected (tests use a fake HighGUI)."""

    def __init__(self, gui: Any = None) -> None:
        self.gui = gui
        self.window: Window | None = None
        self.mailbox: MailboxSink | None = None
        self.probes: Probes | None = None
        self.cloud: LatestCloud | None = None

    def open(self, settings: Settings, stack: ExitStack, cancel: threading.Event,
             make_estimator: Callable[[], Estimator]) -> None:
        export, display = settings.export, settings.display
        self.probes = Probes(settings.probe.points)
        self.cloud = LatestCloud(display.snapshot_dir, export.fov_deg, export.drop_flying_pixels, export.pointcloud_step)
        self.window = Window(display.window_title, display.snapshot_dir, gui=self.gui, probes=self.probes,
                             save_cloud=self.cloud.save)
        self.window.open()
        stack.callback(self.window.close)  # a failure before its loop runs still closes it

    def parts(self, settings: Settings, photo: bool) -> Parts:
        self.mailbox = MailboxSink()
        return Parts(sinks=[self.mailbox], depth_sinks=[self.cloud] if self.cloud else [], probes=self.probes)

    @property
    def has_foreground(self) -> bool:
        return True

    def foreground(self, running: Callable[[], bool], cancel: threading.Event, keep_open: bool) -> None:
        assert self.window is not None and self.mailbox is not None
        self.window.run(self.mailbox.mailbox, cancel, running)

    @property
    def replaced(self) -> int:
        return self.mailbox.replaced if self.mailbox is not None else 0
