"""The CLI's option values, checked as argparse reads them: one validator per kind of value.

A wrong value is argparse's one-line usage error (exit 2) naming the option; every
command takes its ports, counts, seconds and URLs through these, so that ``--port 70000``
is refused alike everywhere rather than wrapped round to port 4464 by one command and a
traceback in another. ``cannot_listen`` is the one message for a port that cannot be had.
"""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Callable

import httpx

from intercom_connector.runtime.connection import secret_url_problem, shown_url
from intercom_connector.runtime.errors import ConnectionConfigError, echoed

#: the highest TCP port
MAX_PORT = 65535


def whole(low: int, high: int | None = None, what: str = "a whole number") -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` (to ``high``)."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = low - 1
        if number < low or (high is not None and number > high):
            span = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise argparse.ArgumentTypeError(f"expected {what} {span}, got {echoed(text)}")
        return number

    return parse


#: a TCP port to listen on; 0 lets the system pick a free one
port = whole(0, MAX_PORT, "a TCP port (0: any free one)")
#: a count of at least one (events, records, requests)
positive = whole(1)
#: the longest wait an option may ask for (a year): longer is no wait a person means, and
#: past about 2**33 seconds the waits themselves fail (threading's TIMEOUT_MAX)
MAX_SECONDS = 365 * 24 * 3600


def seconds(text: str) -> float:
    """An argparse type: a number of seconds above 0, at most MAX_SECONDS."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected a number of seconds above 0 and at most {MAX_SECONDS:,} (a year), "
            f"got {echoed(text)}"
        )
    return value


def host_name(text: str) -> str:
    """An argparse type: a name a request's Host header may give, as it gives it: a DNS name
    or an address, with a port or without (``mcp.example.com``, ``mcp.example.com:8443``,
    ``10.0.0.5``, ``[fd00::5]:8443``; a bare IPv6 address is put in brackets)."""
    name, port = text.strip().lower(), ""
    if name.startswith("["):
        name, _, rest = name[1:].partition("]")
        if rest:
            port = rest.removeprefix(":") if rest.startswith(":") else "bad"
    elif name.count(":") == 1:
        name, port = name.split(":")
        port = port or "none"
    if port and not (port.isdigit() and 0 < int(port) <= MAX_PORT):
        raise argparse.ArgumentTypeError(f"expected a port from 1 to {MAX_PORT} in {echoed(text)}")
    if ":" in name:
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{echoed(text)} is not an IPv6 address") from None
        name = f"[{name}]"
    elif not name or not all(part and part.replace("-", "").isalnum() for part in name.split(".")):
        raise argparse.ArgumentTypeError(
            f"expected a host name (letters, digits, dots, hyphens), got {echoed(text)}"
        )
    return f"{name}:{port}" if port else name


def secret_url(text: str) -> str:
    """An argparse type: a URL a secret may be sent to (https, or http on loopback; no
    user info), as runtime/connection.py's ``secret_url_problem`` rules."""
    shown = echoed(shown_url(text), 100)
    try:
        problem = secret_url_problem(httpx.URL(text))
    except httpx.InvalidURL:
        problem = "is not a valid URL"
    if problem:
        raise argparse.ArgumentTypeError(f"{shown} {problem}")
    return text


def cannot_listen(what: str, host: str, number: int, error: OSError) -> ConnectionConfigError:
    """The one-line error for a port that cannot be listened on (in use, not allowed)."""
    reason = error.strerror or str(error)
    return ConnectionConfigError(
        f"cannot {what} on {host}:{number}: {reason}; choose another port with --port "
        "(0: any free one)"
    )
