"""The page in a real browser: Debian's Chromium, headless, driven by Selenium through chromedriver.

Two real ``--serve`` apps run as subprocesses (random weights): one on the synthetic scene,
one on ``--source browser``. One browser session visits both: it sees the live picture
change, clicks the depth to probe a point and reads the probe back, then sends a fake
webcam (a generated .y4m) and sees the picture and its depth come back. With
``DEPTH_STREAM_SCREENSHOT=docs/web.png`` the first page is saved for the README.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.media import read_video

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "") if p and Path(p).exists()), None)
CHROMEDRIVER = next((p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "") if p and Path(p).exists()), None)
WAIT_S = 30.0
SCREENSHOT_LIMIT = 300_000

pytestmark = pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                                reason="no Chromium found (apt-get install chromium chromium-driver; .ci/run does)")


class Served:
    """``python run_stream.py ... --serve 127.0.0.1:0`` in a subprocess; its URL read from the startup line."""

    def __init__(self, model: Path, source: str, *extra: str) -> None:
        command = [sys.executable, str(ROOT / "run_stream.py"), "--source", source, "--mode", "live", "--fps", "15",
                   "--model", str(model), "--engine", "onnxruntime", "--precision", "fp32", "--threads", "1",
                   "--serve", "127.0.0.1:0", "--set", "capture.width=320", "--set", "capture.height=240", *extra]
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


CAMERA_FPS = 25


def fake_camera(path: Path, width: int = 320, height: int = 240, frames: int = 50) -> Path:
    """A .y4m clip for Chromium's fake webcam at ``CAMERA_FPS``: a green picture with a bright bar moving across it."""
    header = f"YUV4MPEG2 W{width} H{height} F{CAMERA_FPS}:1 Ip A1:1 C420jpeg\n".encode()
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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console, for a failure's message
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def picture_of(driver: Any) -> np.ndarray:
    png = driver.find_element("id", "view").screenshot_as_png
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def until(driver: Any, check: Any, what: str | Callable[[Any], str], seconds: float = WAIT_S) -> Any:
    """Wait for ``check``; on a timeout, say what was awaited (``what`` may read the page to explain why)."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:  # the live page rebuilds its lists every frame: an element read as it is replaced is read again
        return WebDriverWait(driver, seconds, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: check(d))
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

    webcam_placeholder_rate_and_phone_size(browser, apps["browser"].wait_url())


def webcam_placeholder_rate_and_phone_size(browser: Any, url: str) -> None:
    """Before the camera: a placeholder with its Start button in view, no broken image. Then the fake camera's
    frames come back as depth, never sent faster than the camera makes them; on a phone the picture fills the
    width and carries no overlay (the counters are listed below it), while at 1280x800 it does."""
    browser.get(url)
    start = until(browser, lambda d: d.find_element("id", "view-start-camera").is_displayed()
                  and d.find_element("id", "view-start-camera"), "the placeholder's Start camera button")
    assert "press Start camera" in browser.find_element("id", "view-placeholder").text
    assert not browser.find_element("id", "view").is_displayed()  # no broken-image icon
    assert start.rect["y"] + start.rect["height"] <= browser.execute_script("return window.innerHeight")  # above the fold
    start.click()
    until(browser, lambda d: "frames taken" in d.find_element("id", "camera-status").text, "the server taking frames")
    until(browser, lambda d: frames_shown(d) >= 3, "depth from the webcam")
    assert not browser.find_element("id", "view-placeholder").is_displayed()
    picture = picture_of(browser)
    half = picture.shape[1] // 2
    left = picture[:, :half].reshape(-1, 3).astype(int)
    green = np.count_nonzero((left[:, 1] > 140) & (left[:, 0] < 90) & (left[:, 2] < 90)) / len(left)
    assert green > 0.4, f"the fake camera's green picture is not what came back ({green:.0%} green)"
    assert picture[:, half:].std() > 1.0  # and its depth beside it
    assert overlay_panel(picture) > 0.2, "at 1280x800 the picture carries the overlay"

    before, started = camera_received(url), time.monotonic()
    time.sleep(4.0)
    rate = (camera_received(url) - before) / (time.monotonic() - started)
    assert 0 < rate <= CAMERA_FPS * 1.2, f"{rate:.1f} frames a second reached the server from a {CAMERA_FPS} fps camera"

    browser.set_window_size(390, 844)
    try:
        until(browser, lambda d: d.execute_script("return document.getElementById('view').getBoundingClientRect().width "
                                                  "=== document.documentElement.clientWidth"), "the picture at full width")
        shown = frames_shown(browser)
        until(browser, lambda d: frames_shown(d) >= shown + 3, "newer frames at the phone size")
        assert overlay_panel(picture_of(browser)) < 0.02, "the phone's picture carries the overlay"
    finally:
        browser.set_window_size(1280, 800)


def camera_received(url: str) -> int:
    with urllib.request.urlopen(url + "api/status", timeout=WAIT_S) as response:
        return int(json.load(response)["camera"]["received"])


def overlay_panel(picture: np.ndarray) -> float:
    """The dark share of the top-left corner of the camera half: the overlay's darkened panel (the camera is green and white)."""
    height, width = picture.shape[:2]
    corner = picture[: height * 3 // 10, : width * 2 // 10].reshape(-1, 3).astype(int)
    return float(np.count_nonzero(corner.max(axis=1) < 120) / len(corner))


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


def test_every_upload_is_followed_across_a_reload_and_the_server_stopping(random_onnx: Path, browser: Any, tmp_path: Path) -> None:
    """Two videos picked back to back both reach their downloads, through a reload mid-job; a second tab over
    ``serve.max_viewers`` gets a placeholder saying why; then the server stops mid-job: the page says so once,
    stops asking, and offers to reconnect, which works once a server answers at the same address again."""
    from tests.media import make_video

    app = Served(random_onnx, "synthetic:320x240", "--set", "serve.max_viewers=1")
    try:
        url = app.wait_url()
        browser.get(url)
        until(browser, lambda d: frames_shown(d) >= 1, "the live picture")
        clips = [make_video(tmp_path / name, 160, 120, 24, fps=12) for name in ("first clip.mp4", "second.mp4")]
        for clip in clips:
            browser.find_element("id", "video-input").send_keys(str(clip))
            until(browser, lambda d, name=clip.name: job_rows(d).get(name, "sending") not in ("sending",),
                  lambda d: f"the upload of a clip to be accepted ({job_rows(d)})")
        assert any(state in ("queued", "running") for state in job_rows(browser).values()), job_rows(browser)

        browser.refresh()  # mid-job: both rows come back from this tab's session and the server's list
        until(browser, lambda d: set(job_rows(d)) == {"first clip.mp4", "second.mp4"}, lambda d: f"both rows after the reload ({job_rows(d)})")
        until(browser, lambda d: frames_shown(d) >= 1, "the live picture after the reload")  # this tab holds the one viewer place
        until(browser, lambda d: set(job_rows(d).values()) == {"done"}, lambda d: f"both videos done ({job_rows(d)})",
              seconds=3 * WAIT_S)  # two jobs beside the live pipeline on a shared machine
        links = [a.get_attribute("href") for a in browser.find_elements("css selector", "#video-jobs .job-links a")]
        assert len(links) == 2
        for link, expected in zip(links, ("first_clip-depth.mp4", "second-depth.mp4")):
            with urllib.request.urlopen(link, timeout=WAIT_S) as response:
                assert expected in response.headers["Content-Disposition"]
                (tmp_path / expected).write_bytes(response.read())
            frames, _, _, _ = read_video(tmp_path / expected)
            assert len(frames) == 24

        browser.switch_to.new_window("tab")  # one viewer more than serve.max_viewers=1
        browser.get(url)
        until(browser, lambda d: "too many viewers" in d.find_element("id", "view-placeholder").text, "the refused viewer's placeholder")
        assert not browser.find_element("id", "view").is_displayed()
        browser.close()
        browser.switch_to.window(browser.window_handles[0])

        long_clip = make_video(tmp_path / "long.mp4", 160, 120, 1500, fps=25)
        browser.find_element("id", "video-input").send_keys(str(long_clip))
        until(browser, lambda d: job_rows(d).get("long.mp4") == "running", lambda d: f"the long video running ({job_rows(d)})")
        browser.execute_script("window.fetches = 0; const real = window.fetch; "
                               "window.fetch = (...args) => { window.fetches += 1; return real(...args); };")
        assert app.stop() == 130
        message = until(browser, lambda d: "server has stopped" in d.find_element("id", "message").text
                        and d.find_element("id", "message").text, "the page saying the server stopped")
        assert "Videos it was processing or had queued were stopped" in message
        assert job_rows(browser)["long.mp4"] == "stopped"
        assert browser.find_element("id", "reconnect").is_displayed()
        asked = browser.execute_script("return window.fetches")
        time.sleep(1.5)
        assert browser.execute_script("return window.fetches") == asked  # polling stopped
        assert browser.find_element("id", "message").text == message
        assert "Failed to fetch" not in browser.find_element("tag name", "body").text

        browser.find_element("id", "reconnect").click()  # nothing listens yet
        until(browser, lambda d: "still does not answer" in d.find_element("id", "message").text, "the server still down")
        app = Served(random_onnx, "synthetic:320x240", "--serve", url.removeprefix("http://").rstrip("/"))
        assert app.wait_url() == url
        browser.find_element("id", "reconnect").click()
        until(browser, lambda d: frames_shown(d) >= 1, "the live picture after reconnecting")
        until(browser, lambda d: set(job_rows(d).values()) == {"gone"}, lambda d: f"the old jobs said gone ({job_rows(d)})")
        assert "no longer on the server" in browser.find_element("id", "video-jobs").text
    finally:
        app.stop()


def job_rows(driver: Any) -> dict[str, str]:
    """The page's video rows: file name -> state."""
    return driver.execute_script("const rows = {}; for (const li of document.querySelectorAll('#video-jobs li')) "
                                 "rows[li.querySelector('.job-name').textContent] = li.dataset.state; return rows;")
