"""The report in a real browser: headless Chromium, driven over the DevTools protocol on
--remote-debugging-pipe with nothing but the standard library.

Without Chromium the test skips, unless STRIATE_REQUIRE_BROWSER=1 (CI installs it and sets
that, so that a missing browser fails there instead of passing silently).
"""

import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium package
TIMEOUT_S = 60                        # for any one answer; a cold start takes a few seconds
IMAGES = """Array.from(document.images, image => {
    const box = image.getBoundingClientRect();
    return {alt: image.alt, complete: image.complete, natural: [image.naturalWidth,
            image.naturalHeight], rendered: [box.width, box.height]};
})"""


class Chromium:
    """Headless Chromium reading DevTools commands on its fd 3 and answering on its fd 4, each
    message one NUL-terminated JSON object; events that arrive meanwhile are kept in order."""

    def __init__(self, profile: Path):
        # Both ends above fd 10, so that bash's 3<& and 4>& cannot overwrite one another (bash,
        # not sh: dash redirects single-digit descriptors only).
        to_browser, self.commands = (high(fd) for fd in os.pipe())
        self.answers, from_browser = (high(fd) for fd in os.pipe())
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--no-default-browser-check", "--remote-debugging-pipe",
                 f"--user-data-dir={profile}", "about:blank"]
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}', CHROMIUM, *flags],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self.buffer, self.events, self.last_id = b"", [], 0

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive()
            if reply.get("id") == self.last_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, event: str) -> dict:
        while not any(seen["method"] == event for seen in self.events):
            self.events.append(self.receive())
        return next(seen for seen in self.events if seen["method"] == event)

    def receive(self) -> dict:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.answers], [], [], deadline - time.monotonic())
            assert ready, f"Chromium did not answer within {TIMEOUT_S} s"
            chunk = os.read(self.answers, 1 << 16)
            assert chunk, f"Chromium exited with status {self.process.poll()}"
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.process.wait(timeout=TIMEOUT_S)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            os.close(self.commands)
            os.close(self.answers)


def high(fd: int) -> int:
    copy = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return copy


def errors_in(events: list[dict]) -> list[dict]:
    """Console errors, uncaught exceptions, error log entries and failed loads."""
    def is_error(event):
        params = event.get("params", {})
        return (event["method"] in ("Runtime.exceptionThrown", "Network.loadingFailed") or
                event["method"] == "Runtime.consoleAPICalled" and
                params.get("type") in ("error", "assert") or
                event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error")
    return [event for event in events if is_error(event)]


def open_page(browser: Chromium, page: Path) -> str:
    """A new tab showing the file, loaded; its DevTools session id."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target,
                                                     "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Page", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send("Page.navigate", {"url": page.as_uri()}, session)
    browser.wait_for("Page.loadEventFired")
    return session


@pytest.fixture
def browser(tmp_path):
    if not CHROMIUM.exists():
        if os.environ.get("STRIATE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"STRIATE_REQUIRE_BROWSER=1 but there is no {CHROMIUM}")
        pytest.skip(f"no {CHROMIUM}: install Debian's chromium package to run this test")
    chromium = Chromium(tmp_path / "profile")
    yield chromium
    chromium.close()


def test_report_renders_in_chromium(cli, lenet_run, tmp_path, browser):
    report = tmp_path / "report.html"
    assert cli("report", lenet_run, "--out", report).code == 0
    session = open_page(browser, report)
    images = browser.send("Runtime.evaluate", {"expression": IMAGES, "returnByValue": True},
                          session)["result"]["value"]

    assert errors_in(browser.events) == []
    requested = {event["params"]["request"]["url"] for event in browser.events
                 if event["method"] == "Network.requestWillBeSent"}
    assert all(url == report.as_uri() or url.startswith("data:") for url in requested)
    assert len(images) == 8
    for image in images:
        assert image["complete"], image["alt"]
        assert min(image["natural"]) > 0 and min(image["rendered"]) > 0, image


def test_report_of_two_runs_renders_in_chromium(cli, lenet_run, logreg_run, tmp_path, browser):
    report = tmp_path / "compare.html"
    assert cli("report", lenet_run, logreg_run, "--out", report).code == 0
    session = open_page(browser, report)
    images = browser.send("Runtime.evaluate", {"expression": IMAGES, "returnByValue": True},
                          session)["result"]["value"]
    heading = browser.send("Runtime.evaluate", {"expression": "document.querySelector('h1')"
                                                ".textContent", "returnByValue": True},
                           session)["result"]["value"]

    assert errors_in(browser.events) == []
    assert heading == "lenet vs logreg"
    assert [image["alt"] for image in images] == ["loss", "error", "lr"]
    for image in images:
        assert image["complete"] and min(image["natural"]) > 0 and min(image["rendered"]) > 0
