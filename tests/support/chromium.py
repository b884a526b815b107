"""Headless Chromium driven over the DevTools protocol, for tests that open report.html.

    with headless_chromium() as devtools:
        session = open_page(devtools, report.as_uri())
        state = devtools.evaluate("document.title", session)
        assert devtools.errors() == []

Chromium must be installed (CI's `.ci/run` installs Debian's `chromium`); without it the test
fails. Chromium runs in its own process group, killed by its PID when the block ends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import websocket

__all__ = ["DevTools", "headless_chromium", "open_page", "WINDOW_WIDTH"]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
)
STARTUP_TIMEOUT_S = 30.0
STEP_TIMEOUT_S = 30.0
WINDOW_WIDTH = 1280


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "chromium is not installed: the report's browser test needs it "
        "(apt-get install chromium; CI's .ci/run installs it)",
        pytrace=False,
    )


class DevTools:
    """A minimal Chrome DevTools Protocol client over one websocket: commands and events."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._next_id = 0

    def _receive(self, deadline: float) -> dict[str, Any]:
        self.ws.settimeout(max(0.05, deadline - time.monotonic()))
        return json.loads(self.ws.recv())

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                assert "error" not in reply, f"{method} failed: {reply['error']}"
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._receive(deadline))

    def evaluate(self, expression: str, session: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def errors(self) -> list[dict[str, Any]]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if (
                (method == "Runtime.consoleAPICalled" and params.get("type") == "error")
                or method == "Runtime.exceptionThrown"
                or (method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error")
            ):
                found.append(event)
        return found


def _devtools_port(profile: Path, process: subprocess.Popen[bytes]) -> tuple[int, str]:
    """The port and browser path Chromium writes to DevToolsActivePort once it listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"chromium exited with code {process.returncode} before listening", pytrace=False)
        with suppress(OSError, ValueError):
            port, path = marker.read_text().split("\n")[:2]
            return int(port), path
        time.sleep(0.05)
    pytest.fail(f"chromium wrote no {marker.name} within {STARTUP_TIMEOUT_S:.0f} s", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill Chromium by its PID, then whatever of its process group is left."""
    if process.poll() is None:
        process.kill()
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its own group (start_new_session): renderers, zygote


@contextmanager
def headless_chromium() -> Iterator[DevTools]:
    """Chromium with a fresh profile, and a DevTools client connected to the browser."""
    binary = _chromium()
    profile = Path(tempfile.mkdtemp(prefix="rtbench-chromium-"))
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    ws = None
    try:
        port, path = _devtools_port(profile, process)
        ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=STEP_TIMEOUT_S, suppress_origin=True)
        yield DevTools(ws)
    finally:
        if ws is not None:
            with suppress(Exception):
                ws.close()
        _stop(process)
        shutil.rmtree(profile, ignore_errors=True)


def open_page(devtools: DevTools, url: str) -> str:
    """Open `url` in a new tab with the Runtime, Log and Page domains on; return the session."""
    target = devtools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = devtools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Page"):
        devtools.send(f"{domain}.enable", session=session)
    devtools.send("Page.navigate", {"url": url}, session)
    devtools.wait_for("Page.loadEventFired")
    return session
