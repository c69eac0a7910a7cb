"""The page in a real browser: Debian's Chromium, headless, driven by Selenium through chromedriver.

Two real ``--serve`` apps run as subprocesses (random weights): one on the synthetic scene,
one on ``--source browser``. One browser session visits both: it sees the live picture
change, clicks the depth to probe a point and reads the probe back, then sends a fake
webcam (a generated .y4m) and sees the picture and its depth come back. With
``DEPTH_STREAM_SCREENSHOT=docs/web.png`` the first page is saved for the README.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "") if p and Path(p).exists()), None)
CHROMEDRIVER = next((p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "") if p and Path(p).exists()), None)
WAIT_S = 30.0
SCREENSHOT_LIMIT = 300_000

pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                reason="no Chromium found (apt-get install chromium chromium-driver; .ci/run does)")


class Served:
    """``python run_stream.py ... --serve 127.0.0.1:0`` in a subprocess; its URL read from the startup line."""

    def __init__(self, model: Path, source: str) -> None:
        command = [sys.executable, str(ROOT / "run_stream.py"), "--source", source, "--mode", "live", "--fps", "15",
                   "--model", str(model), "--engine", "onnxruntime", "--precision", "fp32", "--threads", "1",
                   "--serve", "127.0.0.1:0", "--set", "capture.width=320", "--set", "capture.height=240"]
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.url: str | None = None
        self._found = threading.Event()
        threading.Thread(target=self._read, name="served-stderr", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            match = re.search(r"serving the live view at (\S+)", line)
            if match:
                self.url = match.group(1)
                self._found.set()
        self._found.set()

    def wait_url(self) -> str:
        self._found.wait(WAIT_S)
        assert self.url is not None, "".join(self.lines)
        return self.url

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def fake_camera(path: Path, width: int = 320, height: int = 240, frames: int = 20) -> Path:
    """A .y4m clip for Chromium's fake webcam: a green picture with a bright bar moving across it."""
    header = f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode()
    with path.open("wb") as out:
        out.write(header)
        for i in range(frames):
            bgr = np.zeros((height, width, 3), np.uint8)
            bgr[:] = (40, 180, 40)
            x = (i * width // frames)
            bgr[:, x:x + width // 8] = (250, 250, 250)
            yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
            out.write(b"FRAME\n" + yuv.tobytes())
    return path


@pytest.fixture(scope="module")
def apps(random_onnx: Path) -> Iterator[dict[str, Served]]:
    served = {"synthetic": Served(random_onnx, "synthetic:320x240"), "browser": Served(random_onnx, "browser")}
    try:
        for app in served.values():
            app.wait_url()
        yield served
    finally:
        codes = {name: app.stop() for name, app in served.items()}
    assert codes == {"synthetic": 130, "browser": 130}, codes  # Ctrl-C: a clean stop, as the CLI promises


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    folder = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,800", f"--user-data-dir={folder / 'profile'}",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={fake_camera(folder / 'camera.y4m')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def picture_of(driver: Any) -> np.ndarray:
    png = driver.find_element("id", "view").screenshot_as_png
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def until(driver: Any, check: Any, what: str | Callable[[Any], str]) -> Any:
    """Wait for ``check``; on a timeout, say what was awaited (``what`` may read the page to explain why)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.1).until(lambda d: check(d))
    except TimeoutException:
        raise AssertionError(f"waiting for {what(driver) if callable(what) else what}") from None


def frames_shown(driver: Any) -> int:
    return int(driver.find_element("id", "view").get_attribute("data-frames") or 0)


def test_live_view_probe_photo_upload_and_webcam(apps: dict[str, Served], browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get(apps["synthetic"].wait_url())
    until(browser, lambda d: frames_shown(d) >= 3, "the live picture")
    first = picture_of(browser)
    shown = frames_shown(browser)
    until(browser, lambda d: frames_shown(d) >= shown + 3, "newer frames")
    assert np.abs(picture_of(browser).astype(int) - first.astype(int)).mean() > 0.5  # the scene moves
    until(browser, lambda d: "fps" in d.find_element("id", "depth-fps").text, "the depth rate beside the picture")
    assert "relative inverse depth" in browser.find_element("id", "model").text  # which model, and what its numbers are
    models = [e.get_attribute("textContent") for e in browser.find_elements("css selector", "#models li")]
    assert [m.split(":")[0] for m in models] == ["midas-small", "depth-anything-v2-small", "depth-anything-v2-small-indoor",
                                                 "depth-anything-v2-small-outdoor"]
    assert all(("Apache-2.0" in m) == m.startswith("depth-anything") for m in models) and "metres, 0 to 80 m" in models[3]

    view = browser.find_element("id", "view")
    ActionChains(browser).move_to_element_with_offset(view, view.size["width"] // 4, 0).click().perform()  # depth half
    probe = until(browser, lambda d: [e.text for e in d.find_elements("css selector", "#probes li") if "depth" in e.text],
                  lambda d: f"the probe reading (page says {d.find_element('id', 'message').text!r}, "
                            f"probes {[e.text for e in d.find_elements('css selector', '#probes li')]})")
    assert re.search(r"\(\d+, \d+\) depth 0\.\d{3} raw", probe[0])
    save_screenshot(browser)

    upload_a_photo(browser, tmp_path)

    browser.get(apps["browser"].wait_url())
    until(browser, lambda d: d.find_element("id", "camera").is_displayed(), "the camera panel")
    browser.find_element("id", "camera-start").click()
    until(browser, lambda d: "frames taken" in d.find_element("id", "camera-status").text, "the server taking frames")
    until(browser, lambda d: frames_shown(d) >= 3, "depth from the webcam")
    picture = picture_of(browser)
    half = picture.shape[1] // 2
    left = picture[:, :half].reshape(-1, 3).astype(int)
    green = np.count_nonzero((left[:, 1] > 140) & (left[:, 0] < 90) & (left[:, 2] < 90)) / len(left)
    assert green > 0.4, f"the fake camera's green picture is not what came back ({green:.0%} green)"
    assert picture[:, half:].std() > 1.0  # and its depth beside it


def upload_a_photo(driver: Any, folder: Path) -> None:
    """The article's use: pick a photo, get its side-by-side and downloads back; a text file named .png is refused in the page."""
    not_a_photo = folder / "notes.png"
    not_a_photo.write_text("not a picture")
    driver.find_element("id", "photo-input").send_keys(str(not_a_photo))
    until(driver, lambda d: "not a picture" in d.find_element("id", "photo-error").text, "the refusal of a text file")

    photo = np.zeros((120, 160, 3), np.uint8)
    photo[:, :80] = (30, 30, 200)
    cv2.circle(photo, (110, 60), 30, (240, 240, 240), -1)
    path = folder / "photo.jpg"
    cv2.imwrite(str(path), photo)
    driver.find_element("id", "photo-input").send_keys(str(path))
    until(driver, lambda d: d.execute_script("const i = document.getElementById('photo-result'); "
                                              "return i.complete && i.naturalWidth;") == 320, "the side-by-side result")
    assert driver.find_element("id", "photo-error").text == ""
    links = [a.text for a in driver.find_elements("css selector", "#photo-downloads a")]
    assert links == ["side-by-side PNG", "16-bit depth PNG", "point cloud (PLY)"]


def save_screenshot(driver: Any) -> None:
    """The page for the README, once, when asked (``DEPTH_STREAM_SCREENSHOT=docs/web.png``), kept under 300 KB."""
    target = os.environ.get("DEPTH_STREAM_SCREENSHOT")
    if not target:
        return
    image = cv2.imdecode(np.frombuffer(driver.get_screenshot_as_png(), np.uint8), cv2.IMREAD_COLOR)
    while True:
        ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if ok and len(data) < SCREENSHOT_LIMIT:
            break
        image = cv2.resize(image, (image.shape[1] * 4 // 5, image.shape[0] * 4 // 5), interpolation=cv2.INTER_AREA)
    path = ROOT / target if not Path(target).is_absolute() else Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.tobytes())
