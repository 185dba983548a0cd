"""``intercom-connector run ACTION --each FILE|-``: one run of an action per row of a file.

Rows are NDJSON (one JSON object of inputs a line) or CSV (a header row naming input
keys); a file ending in ``.csv`` is CSV, one ending in ``.ndjson``, ``.jsonl`` or ``.json``
is NDJSON, and otherwise (standard input too) a first line starting with ``{`` means
NDJSON. Rows are numbered from 1 in the order they come: the CSV header and blank lines
are not rows. Results go to stdout as NDJSON in the rows' order (runtime/bulk.py); a
progress line is drawn on stderr when it is a terminal.

The whole file is read and checked before the first row runs: a row that cannot be read
(not JSON, a key given twice, a quote never closed, more or fewer cells than the header
names, bytes that are not UTF-8) or a file that cannot be read to its end refuses the run,
every such row named by its number and line, and nothing is sent. A row is never merged
into another.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TextIO

import orjson

from intercom_connector.runtime.bulk import Result, Tally
from intercom_connector.runtime.errors import InputProblem, InputValidationError, echoed
from intercom_connector.runtime.manifest import ActionSpec
from intercom_connector.runtime.shim import Connector

_NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".json")
#: the unreadable rows named in the error, at most (then how many more)
_SHOWN_PROBLEMS = 10
#: standard input is kept in memory up to this size, then in a temporary file
_SPOOL_IN_MEMORY = 8 * 1024 * 1024


def _problem(where: str, problem: str) -> InputValidationError:
    error = InputValidationError("--each", [InputProblem("each", "--each", problem)])
    error.args = (f"--each {where}: {problem}",)
    return error


def _is_csv(path: str, first: bytes) -> bool:
    suffix = Path(path).suffix.lower() if path != "-" else ""
    if suffix == ".csv":
        return True
    if suffix in _NDJSON_SUFFIXES:
        return False
    return not first.lstrip(codecs.BOM_UTF8).lstrip().startswith(b"{")


class Rows:
    """The rows of a file (``-``: standard input), checked whole when made.

    Making it reads the file to its end: a file that cannot be read, a row that cannot be
    (each named with its row and line number), or a CSV header naming something that is
    not an input of ``action`` raises InputValidationError, before any row runs. Iterating
    reads the rows again, one at a time, as they are needed; ``count`` is how many there
    are. Close it (or use it in ``with``) to let go of the file.
    """

    def __init__(self, path: str, action: ActionSpec) -> None:
        self.where = "(standard input)" if path == "-" else path
        self._action = action
        self._source = _open(path, self.where)
        try:
            first = self._source.readline()
            self._source.seek(0)
            self._csv = _is_csv(path, first)
            _check_utf8(self.where, self._source)
            problems: list[str] = []
            self.count = 0
            for row in self._read(problems, checking=True):
                self.count += 1
                del row
            if problems:
                shown = "; ".join(problems[:_SHOWN_PROBLEMS])
                more = len(problems) - _SHOWN_PROBLEMS
                shown += f"; and {more} more" if more > 0 else ""
                rows = "1 row" if len(problems) == 1 else f"{len(problems)} rows"
                raise _problem(self.where, f"{rows} cannot be read, nothing was sent: {shown}")
            if self.count == 0:  # not an error (an export may be empty), but never silent
                print(f"note: --each {self.where}: no rows, nothing to run", file=sys.stderr)
        except OSError as exc:
            self.close()
            raise _problem(self.where, f"cannot be read to its end ({exc.strerror})") from None
        except BaseException:
            self.close()
            raise

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        self._source.seek(0)
        problems: list[str] = []
        for row in self._read(problems):
            if problems:  # changed since it was checked: stop rather than run a wrong row
                raise _problem(self.where, f"changed while the rows ran: {problems[0]}")
            yield row

    def _read(self, problems: list[str], checking: bool = False) -> Iterator[Mapping[str, Any]]:
        if self._csv:
            return _csv(self.where, self._source, self._action, problems)
        return _ndjson(self._source, problems, checking)

    def close(self) -> None:
        if self._source is not sys.stdin.buffer:
            self._source.close()

    def __enter__(self) -> Rows:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _open(path: str, where: str) -> IO[bytes]:
    """The file, readable again from its start (standard input is kept aside first)."""
    try:
        if path != "-":
            return open(path, "rb")  # closed by Rows.close
        kept = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - Rows.close
        shutil.copyfileobj(sys.stdin.buffer, kept)
        kept.seek(0)
        return kept
    except OSError as exc:
        raise _problem(where, f"cannot be read ({exc.strerror})") from None


def _check_utf8(where: str, source: IO[bytes]) -> None:
    """Refuse a file that is not UTF-8 text, naming its first line that is not."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    for line_number, line in enumerate(source, start=1):
        try:
            decoder.decode(line)
        except UnicodeDecodeError:
            raise _problem(
                where, f"line {line_number} is not UTF-8 text, nothing was sent: save it as UTF-8"
            ) from None
    source.seek(0)


def _ndjson(
    source: IO[bytes], problems: list[str], checking: bool = False
) -> Iterator[Mapping[str, Any]]:
    """The rows; ``checking`` (the pass before any row runs) also refuses a row that gives
    one key twice, which JSON parsers settle silently by keeping the last."""
    number = 0
    for line_number, line in enumerate(source, start=1):
        if line_number == 1:
            line = line.removeprefix(codecs.BOM_UTF8)  # as CSV's utf-8-sig: some editors write it
        if not line.strip():
            continue
        number += 1
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.append(f"row {number} (line {line_number}) is not valid JSON ({exc})")
            continue
        if not isinstance(row, dict):
            kind = type(row).__name__
            problems.append(f"row {number} (line {line_number}) is {kind}, not a JSON object")
            continue
        twice = _key_given_twice(line, row) if checking else None
        if twice is not None:
            problems.append(
                f"row {number} (line {line_number}) gives {echoed(twice)} twice: which one "
                "was meant cannot be told"
            )
            continue
        yield row


class _KeyTwice(Exception):
    pass


#: a key's closing quote and its colon; also matches an escaped quote before a colon in a
#: string, so that counting it never finds fewer keys than the line has
_KEY_END = re.compile(rb'"\s*:')


def _keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_keys(v) for v in value)
    return 0


def _key_given_twice(line: bytes, row: Mapping[str, Any]) -> str | None:
    """The first key an object of ``line`` (valid JSON, parsed as ``row``) gives twice, or
    None. Parsed again, slowly, only when the line may have more keys than ``row``."""
    ends = line.count(b'":')
    if b'" ' in line or b'"\t' in line or b'"\r' in line:  # spaced: count them all
        ends = len(_KEY_END.findall(line))
    if ends <= len(row) or ends <= _keys(row):
        return None

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in items:
            if key in found:
                raise _KeyTwice(key)
            found[key] = value
        return found

    try:
        json.loads(line, object_pairs_hook=pairs)
    except _KeyTwice as twice:
        return str(twice.args[0])
    return None


def _csv(
    where: str, source: IO[bytes], action: ActionSpec, problems: list[str]
) -> Iterator[Mapping[str, Any]]:
    text = io.TextIOWrapper(source, encoding="utf-8-sig", newline="")
    try:
        # strict: a quote never closed, or text after a closing quote, is an error, not a
        # cell that goes on over the rows after it
        reader = csv.reader(text, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise _problem(where, f"the header row is not CSV text ({exc})") from None
        if not header:
            return
        keys = _header_keys(where, header, action)
        number = 0
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                problems.append(_csv_problem(number, line, reader.line_num, exc))
                continue
            if not cells:
                continue
            number += 1
            if len(cells) != len(keys):
                lines = (
                    f"lines {line}-{reader.line_num}" if reader.line_num > line else f"line {line}"
                )
                problems.append(
                    f"row {number} ({lines}) has {len(cells)} cells, but the header names "
                    f"{len(keys)} inputs"
                )
                continue
            yield dict(zip(keys, cells, strict=True))
    finally:
        text.detach()  # the source stays open, to be read again


def _csv_problem(number: int, line: int, last: int, error: csv.Error) -> str:
    if "unexpected end of data" in str(error):
        return (
            f"row {number} (line {line}) opens a quote that is never closed: every line "
            "after it would be part of one cell"
        )
    return f"row {number} ({_lines(line, last)}) is not CSV text ({error})"


def _lines(first: int, last: int) -> str:
    return f"lines {first}-{last}" if last > first else f"line {first}"


def _header_keys(where: str, header: list[str], action: ActionSpec) -> list[str]:
    keys = [name.strip() for name in header]
    known = {spec.key for spec in action.value_inputs}
    unknown = [key for key in keys if key not in known]
    if unknown or len(set(keys)) != len(keys):
        problem = (
            f"the header names {', '.join(echoed(k) for k in unknown)}, not inputs of "
            f"{action.key}; its inputs are: {', '.join(sorted(known))}"
            if unknown
            else "the header names an input twice"
        )
        raise _problem(where, problem)
    return keys


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

    def __init__(self, count: int) -> None:
        self.progress = Progress(sys.stderr, count) if sys.stderr.isatty() else None
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

    A file with a row that cannot be read, a journal that cannot serve, or a CSV header
    naming no input, fails the run before anything is sent.
    """
    with Rows(path, action) as rows:
        out = ResultWriter(rows.count)
        results: Iterator[Result] = connector.bulk(
            action.key, rows, inputs=inputs, journal=journal, concurrency=concurrency
        )
        for result in results:
            out.write(result)
        return out.finish()
