"""Headless Chromium driven over the DevTools protocol, for the tests of the HTML report.

``Browser`` starts Debian's ``chromium`` with a fresh profile and ``--remote-debugging-port=0``, reads the
port it chose from ``DevToolsActivePort`` in the profile, and opens a page target over a websocket
(``websocket-client``). ``Page.load(url)`` turns on the Runtime, Log, Network and Page events first, so
everything the page does from its first byte is seen: console messages, uncaught exceptions, log entries,
every request (``requests``), JavaScript dialogs. Without Chromium the tests skip, unless
``TEST_REQUIRE_CHROMIUM=1`` (set by .ci/run), where they fail.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--remote-debugging-port=0", "--remote-allow-origins=*"]
PROBLEM_EVENTS = ("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded", "Page.javascriptDialogOpening")


def chromium_path() -> str:
    """The browser to run, or a skip (a failure when TEST_REQUIRE_CHROMIUM is set)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("TEST_REQUIRE_CHROMIUM"):
            pytest.fail("TEST_REQUIRE_CHROMIUM is set but chromium is not installed")
        pytest.skip("chromium is not installed (Debian: apt install chromium); CI installs it")
    return path


class Page:
    """One page target: send commands, collect every event."""

    def __init__(self, ws_url: str):
        import websocket  # websocket-client (the test extra)

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._id = 0

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one DevTools command; its result (events met meanwhile are kept)."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        """The first event named ``method`` (already seen, or arriving within ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        seen = next((e for e in self.events if e["method"] == method), None)
        while seen is None:
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    seen = message
        return seen

    def load(self, url: str) -> None:
        """Navigate with every event on, and wait for the load event (and a short settle for late events)."""
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")
        self.evaluate("new Promise(r => setTimeout(r, 300))", await_promise=True)

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self) -> list[dict[str, Any]]:
        """Console calls, uncaught exceptions, log entries and dialogs the page caused."""
        return [e for e in self.events if e["method"] in PROBLEM_EVENTS]

    def requests(self) -> list[str]:
        """Every URL the page asked for that is not the file itself or inline data."""
        urls = [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]
        return [u for u in urls if not u.startswith(("file:", "data:"))]

    def screenshot(self, width: int = 1100, height: int = 1400) -> bytes:
        """A PNG of the top of the page at this viewport size."""
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])

    def pdf(self) -> bytes:
        """The page printed as the browser's "Save as PDF" does, with the page's own @page rules (A4)."""
        result = self.send("Page.printToPDF", preferCSSPageSize=True, printBackground=True,
                           displayHeaderFooter=False)
        return base64.b64decode(result["data"])

    def close(self) -> None:
        self.ws.close()


class Browser:
    """A headless Chromium with its own throwaway profile; ``new_page()`` opens a page target."""

    def __init__(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="chromium-test-"))
        self.process = subprocess.Popen(
            [chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.port = self._port()

    def _port(self, timeout: float = 60) -> int:
        marker = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().splitlines()[0])
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}")
            time.sleep(0.1)
        raise TimeoutError("chromium did not open its DevTools port")

    def new_page(self) -> Page:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=30) as response:
            target = json.load(response)
        return Page(target["webSocketDebuggerUrl"])

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
