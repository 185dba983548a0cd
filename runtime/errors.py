"""The connector's one exception tree.

Every error the connector raises is a ``ConnectorError``::

    ConnectorError
    ├── ManifestError            connector.yaml (or a schema) is broken: a bug of ours
    ├── InputValidationError     one or more inputs are wrong; lists every problem, by label
    │   └── InputRefusal         one value cannot be sent (named by key; the shim adds labels)
    ├── ResultTooLargeError      a Fetch All gathers more records than its caller takes at once
    ├── ConnectionConfigError    the connection is incomplete or unusable (no token, bad URL)
    ├── IntercomAPIError         Intercom answered with an error (status, code, message, request id)
    │   ├── AuthenticationError  401 / 403
    │   ├── NotFoundError        404 (and 410 for a merged contact)
    │   ├── RateLimitError       429, still refused after the retries
    │   ├── BusyError            400 scroll_exists: an earlier scroll still open (a minute)
    │   └── ServerError          5xx, still failing after the retries
    ├── TransportError           the network failed or timed out (no answer from Intercom)
    ├── StorageError             a file the connector keeps (state, journal, ...) cannot be written
    └── WebhookRefusal           a webhook delivery is refused: a bad signature (401) or body (400)

Messages are written for a person deciding what to do next. No message, repr or
log line ever carries a secret: errors are built from statuses, codes and Intercom's
own messages, never from request headers.
"""

from __future__ import annotations

import errno
import json
from collections.abc import Iterable

from intercom_connector.runtime.frozen import frozen

#: the most characters of a person's value that a message repeats: enough to recognise
#: it, never a 10,000-character input printed whole
ECHO_LIMIT = 60


def cut(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters (``...`` at the end when cut): the one place a
    message shortens what it repeats of a person's input or of an answer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def echoed(value: object, limit: int = ECHO_LIMIT) -> str:
    """``value`` as a message repeats it: text quoted, anything else as JSON, ``cut``."""
    return cut(repr(value) if isinstance(value, str) else json.dumps(value, default=str), limit)


class ConnectorError(Exception):
    """Base of every error the connector raises."""

    #: exit status of the CLI for this kind of error (docs/errors.md)
    exit_code = 1
    #: a write may have reached Intercom but its answer was lost: it must not be repeated
    #: blindly (a second create could make a second record)
    outcome_unknown = False


class ManifestError(ConnectorError):
    """The manifest or one of the packaged schemas is invalid."""


@frozen
class InputProblem:
    """One thing wrong with one input."""

    key: str
    label: str
    problem: str

    def __str__(self) -> str:
        if self.label == self.key:  # e.g. "--inputs": naming it twice says nothing more
            return f"{self.label}: {self.problem}"
        return f"{self.label} ({cut(self.key)}): {self.problem}"  # a key a person typed


class InputValidationError(ConnectorError):
    """Inputs failed coercion or validation; ``problems`` lists every one of them."""

    exit_code = 2

    def __init__(self, action_label: str, problems: Iterable[InputProblem]) -> None:
        self.action_label = action_label
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        noun = "input is" if count == 1 else "inputs are"
        super().__init__(f"{action_label}: {count} {noun} not valid:\n{lines}")


class InputRefusal(InputValidationError):
    """A value that cannot be sent (a handler's refusal, or a request the client cannot
    build or write), named by input key: labels live only in the manifest. Nothing was sent.

    ``key`` is None when the value is not an input's. ``problem`` may name other inputs as
    ``{key}``; the shim re-raises the refusal naming every input by its label.
    """

    def __init__(self, key: str | None, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__("this action", [InputProblem(key or "request", key or "request", problem)])


class ResultTooLargeError(ConnectorError):
    """A Fetch All passed the number of records its caller takes in one result.

    Gathering stopped there (what was read is dropped): page instead, or stream the
    records (``Connector.stream``).
    """

    exit_code = 2

    def __init__(self, limit: int, what: str = "the result") -> None:
        self.limit = limit
        super().__init__(f"{what} gives more than {limit:,} records: page through them instead")


class ConnectionConfigError(ConnectorError):
    """The connection cannot be used as configured."""

    exit_code = 3


class IntercomAPIError(ConnectorError):
    """Intercom refused the request."""

    exit_code = 4

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        request_id: str | None = None,
        *,
        method: str = "",
        path: str = "",
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.method = method
        self.path = path
        self.attempts = attempts
        where = f" on {method} {cut(path, 2 * ECHO_LIMIT)}" if method else ""  # ids are inputs
        what = f"{status} {code}" if code else str(status)
        text = f"Intercom answered {what}{where}: {cut(message, 4 * ECHO_LIMIT)}"
        if attempts > 1:
            text += f" (after {attempts} attempts)"
        if request_id:
            text += f" [request id {request_id}]"
        super().__init__(text)


class AuthenticationError(IntercomAPIError):
    """Intercom did not accept the credentials (401) or forbids the call (403)."""

    exit_code = 3


class NotFoundError(IntercomAPIError):
    """The object does not exist (404) or was merged into another (410)."""


class RateLimitError(IntercomAPIError):
    """Intercom kept answering 429 after the retries allowed."""

    exit_code = 5


class BusyError(IntercomAPIError):
    """Intercom cannot serve it for now: the app's scroll (one at a time) is still open,
    left by a reading that stopped half way; Intercom closes it after a minute."""

    exit_code = 5


class ServerError(IntercomAPIError):
    """Intercom kept failing (5xx) after the retries allowed."""

    exit_code = 5


class TransportError(ConnectorError):
    """No usable answer: connection refused or dropped, DNS failure, timeout."""

    exit_code = 5


class StorageError(ConnectorError):
    """A file the connector keeps for itself (a poll's state, a bulk journal, a dead-letter
    file) cannot be written or read: a full disk, a read-only folder, no permission. Not
    bad input, and not Intercom's fault: the same exit status as an Intercom unavailable
    (5), something outside to set right before trying again. The message names the file."""

    exit_code = 5

    def __init__(self, what: str, problem: str) -> None:
        self.what = what  # the file, as the user knows it: "journal x.journal", "--state s.json"
        super().__init__(f"{what}: {problem}")

    @classmethod
    def of(cls, what: str, doing: str, exc: OSError) -> StorageError:
        """``what`` (the file): ``doing`` (e.g. "cannot be written") failed with ``exc``."""
        return cls(what, f"{doing} ({exc.strerror or type(exc).__name__})")


#: what an OSError says of a path that names no usable place: bad input, not a store failing
BAD_PATH_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG})


class WebhookRefusal(ConnectorError):
    """A delivery to a webhook trigger that is refused: ``status`` is the HTTP answer to
    give, 401 (no or a wrong signature: not from Intercom, or altered) or 400 (the signed
    body is not a notification)."""

    exit_code = 2

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def error_class_for_status(status: int, code: str | None = None) -> type[IntercomAPIError]:
    """The one table from HTTP status (and Intercom's code) to exception class."""
    if code == "scroll_exists":
        return BusyError
    if status in (401, 403):
        return AuthenticationError
    if status in (404, 410):
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return IntercomAPIError
