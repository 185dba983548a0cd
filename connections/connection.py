"""A configured connection to one Intercom workspace, and where it comes from.

Both connection types of connector.yaml end up here: an Access Token typed in by a
person, or the token an OAuth 2.0 authorization produced. Either way the API sees a
Bearer token; what differs is how it was obtained (see connections/oauth2.py).
Secrets are held in ``Secret`` so that no repr, str or log line can show them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from intercom_connector.runtime.errors import ConnectionConfigError

#: the API host of each Intercom region (spec `servers`)
REGION_BASE_URLS = {
    "us": "https://api.intercom.io",
    "eu": "https://api.eu.intercom.io",
    "au": "https://api.au.intercom.io",
}
DEFAULT_REGION = "us"
DEFAULT_API_VERSION = "2.16"
KINDS = ("access_token", "oauth2")

#: environment variables a connection can be read from (DESIGN.md contract)
ENV_TOKEN = "INTERCOM_ACCESS_TOKEN"
ENV_REGION = "INTERCOM_REGION"
ENV_BASE_URL = "INTERCOM_BASE_URL"
ENV_VERSION = "INTERCOM_VERSION"


class Secret:
    """A credential: compares and reveals on request, prints as asterisks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def is_loopback_host(host: str) -> bool:
    """True for localhost and addresses in 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(value: str) -> str:
    """A usable API base URL (https, or http on loopback only), without a trailing slash."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ConnectionConfigError(f"Base URL {value!r} is not a URL: {exc}") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise ConnectionConfigError(
            f"Base URL {value!r} must be an absolute http(s) URL such as https://api.intercom.io"
        )
    if url.scheme == "http" and not is_loopback_host(url.host):
        raise ConnectionConfigError(
            f"Base URL {value!r} is not https: the token would travel in clear text. "
            "Plain http is accepted only for a loopback address (127.0.0.1, ::1, localhost)."
        )
    if url.query or url.fragment:
        raise ConnectionConfigError(f"Base URL {value!r} must not have a query or fragment")
    return str(url).rstrip("/")


@dataclass(frozen=True, repr=False)
class Connection:
    """Everything the client needs to talk to one workspace."""

    kind: str
    access_token: Secret | None
    region: str = DEFAULT_REGION
    api_version: str = DEFAULT_API_VERSION
    base_url: str | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    #: attempts in all for one request, and the time after which no retry starts
    max_attempts: int = 4
    max_retry_seconds: float = 120.0

    @property
    def api_base(self) -> str:
        """The API host every request of this connection goes to."""
        return self.base_url or REGION_BASE_URLS[self.region]

    def __repr__(self) -> str:
        return (
            f"Connection(kind={self.kind!r}, region={self.region!r}, api_base={self.api_base!r}, "
            f"api_version={self.api_version!r}, access_token={self.access_token!r})"
        )

    def bearer_token(self) -> str:
        """The token to send; ConnectionConfigError when the connection has none yet."""
        if not self.access_token:
            if self.kind == "oauth2":
                raise ConnectionConfigError(
                    "This OAuth 2.0 connection has not been authorized yet: complete the "
                    "login (intercom-connector connect oauth2) so that it holds a token."
                )
            raise ConnectionConfigError("The connection has no Access Token.")
        return self.access_token.reveal()


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConnectionConfigError(f"Connection field {key!r} must be text")
    return value


def _bounded(data: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = data.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConnectionConfigError(f"Connection field {key!r} must be a whole number") from None
    if not low <= number <= high:
        raise ConnectionConfigError(f"Connection field {key!r} must be from {low} to {high}")
    return number


def connection_from_mapping(data: Mapping[str, Any]) -> Connection:
    """A Connection from a mapping such as a connection file or a host's stored fields.

    Keys: ``type`` (access_token or oauth2), ``access_token``, ``client_id``,
    ``client_secret``, ``region``, ``api_version``, ``base_url``. An OAuth 2.0
    connection carries the token its authorization produced in ``access_token``.
    """
    kind = data.get("type", "access_token")
    if kind not in KINDS:
        raise ConnectionConfigError(
            f"Connection type {kind!r} is not known; use one of: {', '.join(KINDS)}"
        )
    known = {"type", "name", "access_token", "client_id", "client_secret"} | {
        "region",
        "api_version",
        "base_url",
        "max_attempts",
        "max_retry_seconds",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConnectionConfigError(
            f"Connection has unknown fields {', '.join(unknown)}; "
            f"the fields are: {', '.join(sorted(known))}"
        )
    region = (_text(data, "region") or DEFAULT_REGION).lower()
    if region not in REGION_BASE_URLS:
        raise ConnectionConfigError(
            f"Region {region!r} is not an Intercom region; use one of: "
            f"{', '.join(REGION_BASE_URLS)}"
        )
    base_url = _text(data, "base_url")
    token = _text(data, "access_token")
    secret = _text(data, "client_secret")
    if kind == "access_token" and not token:
        raise ConnectionConfigError("An access_token connection needs its Access Token")
    if kind == "oauth2" and not _text(data, "client_id"):
        raise ConnectionConfigError("An oauth2 connection needs its Client ID")
    return Connection(
        max_attempts=_bounded(data, "max_attempts", 4, 1, 10),
        max_retry_seconds=_bounded(data, "max_retry_seconds", 120, 0, 3600),
        kind=kind,
        access_token=Secret(token) if token else None,
        region=region,
        api_version=_text(data, "api_version") or DEFAULT_API_VERSION,
        base_url=check_base_url(base_url) if base_url else None,
        client_id=_text(data, "client_id"),
        client_secret=Secret(secret) if secret else None,
    )


def connection_from_env(env: Mapping[str, str]) -> Connection | None:
    """The connection the environment describes, or None when it holds no token."""
    token = env.get(ENV_TOKEN)
    if not token:
        return None
    return connection_from_mapping(
        {
            "type": "access_token",
            "access_token": token,
            "region": env.get(ENV_REGION),
            "base_url": env.get(ENV_BASE_URL),
            "api_version": env.get(ENV_VERSION),
        }
    )
