"""What the designer's tests share: reading the URL `intercom-connector ui` prints."""

from __future__ import annotations

import queue
import subprocess
import threading
import time

import pytest


def read_url(process: subprocess.Popen[str]) -> str:
    """The URL `ui` prints on stderr, read within 30 seconds."""
    lines: queue.Queue[str] = queue.Queue()
    stderr = process.stderr
    assert stderr is not None
    threading.Thread(target=lambda: [lines.put(line) for line in stderr], daemon=True).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if line.startswith("http://"):
            return line.strip()
    process.kill()
    pytest.fail("`ui` printed no URL")
