"""Reading the URL a served subprocess announces (`intercom-connector ui`, `sandbox serve`,
`trigger listen`): with port 0 the server picks its own port, which no other test can take."""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time

import pytest


class Stderr:
    """A subprocess's stderr, read in a thread so that it never fills its pipe."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        stream = process.stderr
        assert stream is not None
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line)
            self._new.put(line)

    def url(self, pattern: str = r"^(http://\S+)", seconds: float = 30) -> str:
        """The first group of ``pattern`` in the first line that has it, within ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self._new.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None and not self._reader.is_alive():
                    break
                continue
            if found := re.search(pattern, line):
                return found.group(1)
        self.process.kill()
        pytest.fail(f"{self.process.args} announced no URL: {''.join(self.lines)}")

    def text(self, seconds: float = 30) -> str:
        """All the process wrote on stderr, once it has ended (within ``seconds``)."""
        self.process.wait(timeout=seconds)
        self._reader.join(timeout=seconds)
        return "".join(self.lines)


def read_url(process: subprocess.Popen[str], pattern: str = r"^(http://\S+)") -> str:
    """The URL the process prints on stderr (the first group of ``pattern``), within 30 s."""
    return Stderr(process).url(pattern)
