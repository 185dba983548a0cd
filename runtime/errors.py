"""The connector's one exception tree.

Every error the connector raises is a ``ConnectorError``::

    ConnectorError
    ├── ManifestError            connector.yaml (or a schema) is broken: a bug of ours
    ├── InputValidationError     one or more inputs are wrong; lists every problem, by label
    │   └── InputRefusal         one value cannot be sent (named by key; the shim adds labels)
    ├── ConnectionConfigError    the connection is incomplete or unusable (no token, bad URL)
    ├── IntercomAPIError         Intercom answered with an error (status, code, message, request id)
    │   ├── AuthenticationError  401 / 403
    │   ├── NotFoundError        404 (and 410 for a merged contact)
    │   ├── RateLimitError       429, still refused after the retries
    │   └── ServerError          5xx, still failing after the retries
    ├── TransportError           the network failed or timed out (no answer from Intercom)

Messages are written for a person deciding what to do next. No message, repr or
log line ever carries a secret: errors are built from statuses, codes and Intercom's
own messages, never from request headers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class ConnectorError(Exception):
    """Base of every error the connector raises."""

    #: exit status of the CLI for this kind of error (see DESIGN.md)
    exit_code = 1
    #: a write may have reached Intercom but its answer was lost: it must not be repeated
    #: blindly (a second create could make a second record)
    outcome_unknown = False


class ManifestError(ConnectorError):
    """The manifest or one of the packaged schemas is invalid."""


@dataclass(frozen=True)
class InputProblem:
    """One thing wrong with one input."""

    key: str
    label: str
    problem: str

    def __str__(self) -> str:
        if self.label == self.key:  # e.g. "--inputs": naming it twice says nothing more
            return f"{self.label}: {self.problem}"
        return f"{self.label} ({self.key}): {self.problem}"


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
        where = f" on {method} {path}" if method else ""
        what = f"{status} {code}" if code else str(status)
        text = f"Intercom answered {what}{where}: {message}"
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


class ServerError(IntercomAPIError):
    """Intercom kept failing (5xx) after the retries allowed."""

    exit_code = 5


class TransportError(ConnectorError):
    """No usable answer: connection refused or dropped, DNS failure, timeout."""

    exit_code = 5


def error_class_for_status(status: int) -> type[IntercomAPIError]:
    """The one table from HTTP status to exception class."""
    if status in (401, 403):
        return AuthenticationError
    if status in (404, 410):
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return IntercomAPIError
