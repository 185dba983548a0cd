"""One action run once per row, side by side, as fast as Intercom's rate limit allows.

``Connector.bulk(action_key, rows)`` (and ``intercom-connector run ACTION --each FILE``)
runs an action for every row of inputs and gives one result per row, in the rows' order:
``{"row": N, "data": ...}`` or ``{"row": N, "error": {"type", "message", "exit_code"}}``.
Rows are numbered from 1. A bad row is one result among the others; the rest still run.

The calls share one client, and so its rate-limit window (runtime/client.py): as many go
out side by side as the window has room for, never more than ``concurrency``.

A **journal** (an append-only file of JSON lines) makes a run resumable. As a row's request
starts to be written to its connection the journal says so (not before: a row waiting for
room in the rate-limit window has not been sent, see ``client.when_writing``); once its
result is known the journal holds it. A run
started again with the same journal re-emits the results of the rows that succeeded (and
of those whose outcome is unknown) without sending anything, and runs the others. A row
whose request went out but whose answer never came (the process was killed, the network
dropped) is run again only when that cannot repeat a write: an update, an upsert with its
key, or a create that Intercom refuses to repeat for the same unique value (a contact's
email or external ID: the 409 then names what the lost attempt made, see
``IntercomClient.create``). Any other create is reported with its outcome unknown instead,
so that it is checked in Intercom rather than made twice.

A journal that cannot be written (a full disk, a read-only folder) stops the run with
StorageError naming it (exit 5): no row is sent that the journal could not record.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from intercom_connector.runtime.client import when_writing
from intercom_connector.runtime.errors import (
    BAD_PATH_ERRNOS,
    AuthenticationError,
    ConnectionConfigError,
    ConnectorError,
    InputProblem,
    InputValidationError,
    StorageError,
    TransportError,
)

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 64
#: results held back at most, per call side by side, while an earlier row is still running
_AHEAD = 4
#: exit statuses from the least serious failure to the most (0 when every row succeeded)
SEVERITY = (0, 2, 4, 5, 3, 1)
_JOURNAL_KIND = "intercom-connector bulk journal"

Result = dict[str, Any]
Row = Mapping[str, Any] | ConnectorError


def error_json(error: BaseException) -> dict[str, Any]:
    """A row's error as its result line carries it."""
    body: dict[str, Any] = {
        "type": type(error).__name__,
        "message": str(error),
        "exit_code": getattr(error, "exit_code", 1),
    }
    if getattr(error, "outcome_unknown", False):
        body["outcome_unknown"] = True
    return body


class Tally:
    """Rows done and failed so far, and the exit status they add up to: 0 when every row
    succeeded, else that of the most serious failure -- a bug of ours (1), then a
    connection or authentication failure (3), then Intercom unavailable or an outcome
    unknown (5), then Intercom refusing a row (4), then bad input (2)."""

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0
        self.exit_code = 0

    def add(self, result: Result) -> None:
        self.done += 1
        if "error" not in result:
            return
        self.failed += 1
        code = result["error"].get("exit_code", 1)
        code = code if code in SEVERITY else 1
        if SEVERITY.index(code) > SEVERITY.index(self.exit_code):
            self.exit_code = code


def digest(inputs: Mapping[str, Any]) -> str:
    """What identifies a row's inputs in the journal (never the inputs themselves)."""
    text = orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(text).hexdigest()[:16]


class JournalError(InputValidationError):
    """A journal file that cannot be used for this run: bad input, nothing is sent."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        message = f"journal {path}: {problem}"
        super().__init__("--journal", [InputProblem("journal", "--journal", message)])
        self.args = (message,)


class Journal:
    """The append-only record of one bulk run's rows: sent, and finished with a result.

    Each line is written with one ``write`` as soon as it is known, so a run killed at any
    point leaves every line before it whole (a line cut short at the end is removed, with
    a note; any other line that is not the journal's refuses the file). Only a digest of
    each row's inputs is kept, never the inputs; results are kept whole, so the file is
    private to its owner. A write that fails raises
    StorageError, and every write after it too: a line after a torn one would be lost.
    """

    def __init__(self, path: str | os.PathLike[str], action: str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        #: row -> (what an earlier run left: "sent" or "result", input digest, offset, length)
        self._earlier: dict[int, tuple[str, str, int, int]] = {}
        #: row -> the unix time an earlier run first sent it
        self._first_sent: dict[int, float] = {}
        #: the write that failed, once one did: the journal takes no line more
        self._broken: StorageError | None = None
        try:
            try:
                self._fd = os.open(
                    self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600
                )
                new = True
            except FileExistsError:
                self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
                new = False
        except OSError as exc:
            if exc.errno in BAD_PATH_ERRNOS:
                raise JournalError(path, f"cannot be opened ({exc.strerror})") from None
            raise StorageError.of(f"journal {path}", "cannot be written", exc) from None
        try:
            if not new and os.fstat(self._fd).st_size == 0:
                # never taken for a new journal: the rows it recorded would be sent again
                raise JournalError(
                    path, "is empty, not a journal of a run; delete it to start over"
                )
            self._read(action)
        except BaseException:
            os.close(self._fd)
            raise

    def _read(self, action: str) -> None:
        with open(self._fd, "rb", closefd=False) as text:
            text.seek(0)
            offset = 0
            unreadable = None  # the first line that is no journal line, and its number
            last = b"\n"
            for number, line in enumerate(text, start=1):
                entry = _entry(line)
                if number == 1:
                    self._check_header(entry, action)
                elif entry is None or not isinstance(entry.get("row"), int):
                    if not line.endswith(b"\n"):  # the last line, cut short by a kill
                        log.warning(
                            "journal %s: its last line was cut short (a run stopped while "
                            "writing it); removed: that row runs as if it had no line",
                            self.path,
                        )
                        os.ftruncate(self._fd, offset)  # what comes next starts a line
                        break
                    unreadable = unreadable or number
                else:
                    kind = "result" if "result" in entry else "sent"
                    at = entry.get("at")
                    if kind == "sent" and isinstance(at, int | float):
                        row = entry["row"]
                        self._first_sent[row] = min(at, self._first_sent.get(row, at))
                    self._earlier[entry["row"]] = (
                        kind,
                        str(entry.get("inputs")),
                        offset,
                        len(line),
                    )
                offset += len(line)
                last = line
        if unreadable is not None:
            # Damaged, or edited by hand: the row it recorded, sent or done, cannot be told,
            # and running on would send that row again.
            raise JournalError(
                self.path,
                f"line {unreadable} is not a line of the journal (damaged, or edited by "
                "hand): delete that line to go on (its row runs again), or use a new journal",
            )
        if offset == 0:
            self._append({"journal": _JOURNAL_KIND, "version": 1, "action": action})
        elif not last.endswith(b"\n"):  # a whole line whose newline alone was cut: kept
            self._write(b"\n")

    def _check_header(self, entry: dict[str, Any] | None, action: str) -> None:
        if entry is None or entry.get("journal") != _JOURNAL_KIND:
            raise JournalError(self.path, "is not a journal of intercom-connector's bulk runs")
        if entry.get("action") != action:
            raise JournalError(
                self.path,
                f"was written for {entry.get('action')}, not {action}: use another journal file",
            )

    def earlier(self, row: int) -> tuple[str, str, Result | None] | None:
        """What an earlier run left for ``row``: ("sent" | "result", input digest, result)."""
        found = self._earlier.get(row)
        if found is None:
            return None
        kind, inputs, offset, length = found
        result = None
        if kind == "result":
            entry = _entry(os.pread(self._fd, length, offset))
            result = entry.get("result") if entry else None
        return kind, inputs, result

    def first_sent(self, row: int) -> float | None:
        """The unix time at which an earlier run first sent ``row`` (None: never, or unknown)."""
        return self._first_sent.get(row)

    def sent(self, row: int, inputs: str) -> None:
        self._append({"row": row, "inputs": inputs, "sent": True, "at": time.time()})

    def finished(self, row: int, inputs: str, result: Result) -> None:
        self._append({"row": row, "inputs": inputs, "result": result})

    def _append(self, entry: Mapping[str, Any]) -> None:
        self._write(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE))

    def _write(self, line: bytes) -> None:
        with self._lock:
            if self._broken is not None:
                raise self._broken
            try:
                left = memoryview(line)
                while left:  # a write short of the whole line: the disk filling up
                    written = os.write(self._fd, left)
                    if not written:
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    left = left[written:]
            except OSError as exc:
                self._broken = StorageError.of(f"journal {self.path}", "cannot be written", exc)
                raise self._broken from None

    def close(self) -> None:
        os.close(self._fd)


def _entry(line: bytes) -> dict[str, Any] | None:
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) else None


class _Stop:
    """Set once the connection itself failed: later rows are not sent."""

    def __init__(self) -> None:
        self.error: ConnectorError | None = None
        self.row = 0


def run_rows(
    rows: Iterable[Row],
    *,
    check: Callable[[Mapping[str, Any]], None],
    call: Callable[[Mapping[str, Any], float | None], Any],
    inputs: Mapping[str, Any] | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    journal: Journal | None = None,
    repeatable: Callable[[Mapping[str, Any]], bool] = lambda given: False,
) -> Iterator[Result]:
    """Every row's result, in the rows' order, while later rows run side by side.

    ``check(inputs)`` raises for inputs that are not valid (nothing is sent for them);
    ``call(inputs, since)`` runs the action and returns its data (``since``: the unix time
    an earlier run first sent the row, its answer lost). ``inputs`` are merged under every
    row. ``repeatable(inputs)``: sending that row again cannot make a second write (an
    update, an upsert, a create Intercom refuses to repeat), so when an earlier run lost its
    answer it is run again rather than reported unknown.
    """
    width = max(1, min(MAX_CONCURRENCY, concurrency))
    base = dict(inputs or {})
    stop = _Stop()

    def run(number: int, given: Mapping[str, Any], key: str, since: float | None) -> Result:
        try:
            if stop.error is not None:
                raise _not_sent(stop)
            check(given)
            if journal is None:
                result: Result = {"row": number, "data": call(given, since)}
            else:
                with when_writing(functools.partial(journal.sent, number, key)):
                    result = {"row": number, "data": call(given, since)}
        except StorageError:
            raise  # the journal cannot record: the run stops (nothing more is sent)
        except ConnectorError as error:
            if isinstance(error, AuthenticationError | ConnectionConfigError) and not stop.error:
                stop.error, stop.row = error, number
            result = {"row": number, "error": error_json(error)}
        except Exception as error:  # a bug of ours: reported for its row, the rest run
            result = {"row": number, "error": error_json(error)}
        if journal is not None:
            journal.finished(number, key, result)
        return result

    pool = ThreadPoolExecutor(max_workers=width, thread_name_prefix="bulk")
    pending: deque[Future[Result]] = deque()
    try:
        for number, row in enumerate(rows, start=1):
            pending.append(_schedule(pool, run, number, row, base, journal, repeatable))
            while len(pending) > width * _AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _schedule(
    pool: ThreadPoolExecutor,
    run: Callable[[int, Mapping[str, Any], str, float | None], Result],
    number: int,
    row: Row,
    base: Mapping[str, Any],
    journal: Journal | None,
    repeatable: Callable[[Mapping[str, Any]], bool],
) -> Future[Result]:
    """The future result of one row: run now, or known already (a bad row, an earlier run)."""
    try:
        given = merge_row(number, row, base)
    except ConnectorError as error:
        return _known({"row": number, "error": error_json(error)})
    key = digest(given)
    earlier = journal.earlier(number) if journal is not None else None
    if earlier is not None and journal is not None:
        kind, inputs, result = earlier
        if inputs != key:
            problem = (
                f"row {number} was run with other inputs when the journal was written: the "
                "rows changed since, so this journal belongs to another run; use a new one"
            )
            return _known({"row": number, "error": error_json(JournalError(journal.path, problem))})
        if result is not None and "data" in result:
            return _known(result)  # done in an earlier run: not sent again
        lost = kind == "sent" or (result is not None and result["error"].get("outcome_unknown"))
        if lost and not repeatable(given):
            if result is not None:
                return _known(result)  # reported unknown by an earlier run: still unknown
            unknown = _lost(number)
            journal.finished(number, key, unknown)
            return _known(unknown)
        if lost:
            return pool.submit(run, number, given, key, journal.first_sent(number))
    return pool.submit(run, number, given, key, None)


def merge_row(number: int, row: Row, base: Mapping[str, Any]) -> dict[str, Any]:
    """Row ``number``'s inputs over ``base`` (an empty cell leaves the value of ``base``);
    the row's ConnectorError when it could not be read, or is not a mapping of inputs."""
    if isinstance(row, ConnectorError):
        raise row
    if not isinstance(row, Mapping):
        problem = f"must be a mapping of input keys to values, not {type(row).__name__}"
        raise InputValidationError(f"row {number}", [InputProblem("row", "row", problem)])
    return {**base, **{key: value for key, value in row.items() if not _absent(value)}}


def _absent(value: Any) -> bool:
    # an empty cell leaves the value of --input (or the default) in place
    return value is None or value == ""


def _known(result: Result) -> Future[Result]:
    done: Future[Result] = Future()
    done.set_result(result)
    return done


def _lost(number: int) -> Result:
    error = unknown_outcome(number, "an earlier run sent this request", " (without this journal)")
    return {"row": number, "error": error_json(error)}


def unknown_outcome(number: int, who: str, advice: str = "") -> TransportError:
    """Row ``number``'s error when ``who`` sent it (or may have) but its answer was lost."""
    error = TransportError(
        f"row {number}: {who} but stopped before its answer came: its outcome is unknown, "
        "so it was not sent again. Check in Intercom whether it was done before running "
        f"this row again{advice}."
    )
    error.outcome_unknown = True
    return error


def _not_sent(stop: _Stop) -> ConnectorError:
    return ConnectionConfigError(f"not sent: the connection failed on row {stop.row}: {stop.error}")
