"""``intercom-connector run ACTION --each FILE|-``: one run of an action per row of a file.

Rows are NDJSON (one JSON object of inputs a line) or CSV (a header row naming input
keys); a file ending in ``.csv`` is CSV, one ending in ``.ndjson``, ``.jsonl`` or ``.json``
is NDJSON, and otherwise (standard input too) a first line starting with ``{`` means
NDJSON. Rows are numbered from 1 in the order they come: the CSV header and blank lines
are not rows. Results go to stdout as NDJSON in the rows' order (runtime/bulk.py); a
progress line is drawn on stderr when it is a terminal.
"""

from __future__ import annotations

import codecs
import csv
import io
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TextIO

import orjson

from intercom_connector.runtime.bulk import Result, Tally
from intercom_connector.runtime.errors import (
    ConnectorError,
    InputProblem,
    InputValidationError,
)
from intercom_connector.runtime.manifest import ActionSpec
from intercom_connector.runtime.shim import Connector

_NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".json")


def _problem(where: str, problem: str) -> InputValidationError:
    error = InputValidationError("--each", [InputProblem("each", "--each", problem)])
    error.args = (f"--each {where}: {problem}",)
    return error


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # closed by read_rows once the rows are read
    except OSError as exc:
        raise _problem(path, f"cannot be read ({exc.strerror})") from None


def _is_csv(path: str, first: bytes) -> bool:
    suffix = Path(path).suffix.lower() if path != "-" else ""
    if suffix == ".csv":
        return True
    if suffix in _NDJSON_SUFFIXES:
        return False
    return not first.lstrip(codecs.BOM_UTF8).lstrip().startswith(b"{")


def read_rows(path: str, action: ActionSpec) -> Iterator[Mapping[str, Any] | ConnectorError]:
    """The rows of ``path`` (``-``: standard input), read as they are needed.

    A row that cannot be read is a ConnectorError in its place (its run reports it); a CSV
    header naming something that is not an input of ``action`` fails the whole file before
    any row runs.
    """
    source = _open(path)
    where = "(standard input)" if path == "-" else path
    lines = iter(source)
    first = next(lines, b"")
    try:
        if _is_csv(path, first):
            yield from _csv(where, first, lines, action)
        else:
            yield from _ndjson(where, first, lines)
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _ndjson(where: str, first: bytes, lines: Iterator[bytes]) -> Iterator[Any]:
    for line_number, line in enumerate(_chain(first, lines), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield _problem(f"{where}, line {line_number}", f"not valid JSON ({exc})")
            continue
        if not isinstance(row, dict):
            kind = type(row).__name__
            yield _problem(f"{where}, line {line_number}", f"a row is a JSON object, not {kind}")
            continue
        yield row


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


def _csv(where: str, first: bytes, lines: Iterator[bytes], action: ActionSpec) -> Iterator[Any]:
    stream = io.BufferedReader(_Lines(_chain(first, lines)))
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _problem(where, f"not CSV text ({exc})") from None
    if not header:
        return
    keys = [name.strip() for name in header]
    known = {spec.key for spec in action.value_inputs}
    unknown = [key for key in keys if key not in known]
    if unknown or len(set(keys)) != len(keys):
        problem = (
            f"the header names {', '.join(repr(k) for k in unknown)}, not inputs of "
            f"{action.key}; its inputs are: {', '.join(sorted(known))}"
            if unknown
            else "the header names an input twice"
        )
        raise _problem(where, problem)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            yield _problem(f"{where}, line {reader.line_num}", f"not CSV text ({exc})")
            continue
        if not cells:
            continue
        if len(cells) > len(keys):
            yield _problem(
                f"{where}, line {reader.line_num}",
                f"{len(cells)} cells, but the header names {len(keys)} inputs",
            )
            continue
        yield dict(zip(keys, cells, strict=False))


class _Lines(io.RawIOBase):
    """Lines of bytes as a readable binary stream, for ``csv`` through a text wrapper."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = iter(lines)
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            chunk = next(self._lines, None)
            if chunk is None:
                return 0
            self._left = chunk
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


def count_rows(path: str) -> int | None:
    """How many rows a regular file holds (for the time left), or None when unknown."""
    if path == "-" or not Path(path).is_file():
        return None
    try:
        with open(path, "rb") as source:
            first = source.readline()
            if _is_csv(path, first):
                text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
                return sum(1 for cells in csv.reader(text) if cells)
            return int(bool(first.strip())) + sum(1 for line in source if line.strip())
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


class Progress:
    """``1,234 rows done, 5 failed, 48/s, 0:41 left`` redrawn in place, 10 times a second."""

    def __init__(self, out: TextIO, total: int | None) -> None:
        self.out = out
        self.total = total
        self.started = time.monotonic()
        self.shown = 0.0

    def update(self, tally: Tally) -> None:
        now = time.monotonic()
        if now - self.shown < 0.1:
            return
        self.shown = now
        rate = tally.done / max(now - self.started, 1e-6)
        line = f"\r{tally.done:,} rows done, {tally.failed:,} failed, {rate:,.0f}/s"
        if self.total is not None and rate > 0:
            left = max(0, self.total - tally.done) / rate
            line += f", {int(left) // 60}:{int(left) % 60:02d} left"
        self.out.write(line + " ")
        self.out.flush()

    def finish(self, tally: Tally) -> None:
        elapsed = time.monotonic() - self.started
        self.out.write(
            f"\r{tally.done:,} rows, {tally.failed:,} failed, in {elapsed:.1f} s" + " " * 12 + "\n"
        )
        self.out.flush()


class ResultWriter:
    """Results written to stdout as NDJSON as they come, tallied into the exit status, with
    the progress line on stderr when it is a terminal."""

    def __init__(self, path: str) -> None:
        self.progress = Progress(sys.stderr, count_rows(path)) if sys.stderr.isatty() else None
        self.tally = Tally()

    def write(self, result: Result) -> None:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_APPEND_NEWLINE))
        sys.stdout.buffer.flush()
        self.tally.add(result)
        if self.progress is not None:
            self.progress.update(self.tally)

    def finish(self) -> int:
        """The exit status of the rows written."""
        if self.progress is not None:
            self.progress.finish(self.tally)
        return self.tally.exit_code


def run_each(
    connector: Connector,
    action: ActionSpec,
    path: str,
    inputs: Mapping[str, Any],
    *,
    journal: str | None,
    concurrency: int,
) -> int:
    """Run ``action`` once per row of ``path``; results on stdout; the exit status.

    A journal that cannot serve, or a CSV header naming no input, fails the run before
    anything is sent.
    """
    out = ResultWriter(path)
    results: Iterator[Result] = connector.bulk(
        action.key,
        read_rows(path, action),
        inputs=inputs,
        journal=journal,
        concurrency=concurrency,
    )
    for result in results:
        out.write(result)
    return out.finish()
