"""A configured connection to one Intercom workspace, and where it comes from.

Both connection types of connector.yaml end up here: an Access Token typed in by a
person, or the token an OAuth 2.0 authorization produced. Either way the API sees a
Bearer token; what differs is how it was obtained (see connections/oauth2.py).
Secrets are held in ``Secret`` so that no repr, str or log line can show them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from intercom_connector.runtime.errors import ConnectionConfigError, cut, echoed
from intercom_connector.runtime.frozen import frozen
from intercom_connector.runtime.inputs import CoercionProblem, coerce, is_absent, problem_text
from intercom_connector.runtime.manifest import InputSpec, load_manifest
from intercom_connector.runtime.quick_schema import schema_errors
from intercom_connector.runtime.syntax import syntax_error_text

#: the field an authorized OAuth 2.0 connection keeps its token in, as an Access Token has it
TOKEN_FIELD = "access_token"

#: environment variables a connection can be read from (a contract: docs/connections.md)
ENV_TOKEN = "INTERCOM_ACCESS_TOKEN"
ENV_REGION = "INTERCOM_REGION"
ENV_BASE_URL = "INTERCOM_BASE_URL"
ENV_VERSION = "INTERCOM_VERSION"
ENV_SETTINGS = (ENV_TOKEN, ENV_REGION, ENV_BASE_URL, ENV_VERSION)

#: what a token or secret may hold: it travels in an HTTP header or form, one line of ASCII
_SECRET_TEXT = re.compile(r"[\x20-\x7e]+")


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


#: the user info of a URL (``//user:password@``), up to the last ``@`` before the path
_USER_INFO = re.compile(r"//[^/?#]*@")
#: a URL's query, up to its fragment
_QUERY = re.compile(r"\?[^#]*")


def shown_url(url: str) -> str:
    """``url`` fit to show in a message: any ``user:password@`` replaced by ``***@`` and
    its query by ``?***`` (either may hold a password or a token)."""
    return _QUERY.sub("?***", _USER_INFO.sub("//***@", url), count=1)


def secret_url_problem(url: httpx.URL) -> str | None:
    """What makes ``url`` unfit to carry a secret or a token, or None: the Base URL rule.

    One rule for every URL a token, client secret or authorization code is sent to (the
    API base, OAuth 2.0's authorize and token URLs, a next-page link, a Raw Request URL):
    absolute http(s); https, or plain http on a loopback address only; and no user info,
    whose password every log line and error message would show.
    """
    if url.scheme not in ("https", "http") or not url.host:
        return "must be an absolute http(s) URL such as https://api.intercom.io"
    if url.userinfo:
        return (
            "must not hold a user name or password (user:password@...): it would be "
            "printed with the URL; give credentials as the connection's fields"
        )
    if url.scheme == "http" and not is_loopback_host(url.host):
        return (
            "is not https: the secret would travel in clear text. Plain http is accepted "
            "only for a loopback address (127.0.0.1, ::1, localhost)"
        )
    return None


def check_secret_url(value: str, label: str) -> httpx.URL:
    """``value`` as a URL a secret may be sent to; ConnectionConfigError naming ``label``
    (and the URL, its user info left out) otherwise."""
    shown = echoed(shown_url(value), 100)
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        reason = cut(shown_url(str(exc)))
        raise ConnectionConfigError(f"{label} {shown} is not a URL: {reason}") from None
    problem = secret_url_problem(url)
    if problem:
        raise ConnectionConfigError(f"{label} {shown} {problem}")
    return url


def field_label(key: str, kind: str = TOKEN_FIELD) -> str:
    """A connection field's label, as connector.yaml gives it: messages name fields as a
    person sees them, and no label is written twice (once in the manifest, once here)."""
    return load_manifest().connections[kind].input(key).label


def check_base_url(value: str) -> str:
    """A usable API base URL (the rule of ``secret_url_problem``, and no query or
    fragment), without a trailing slash."""
    label = field_label("base_url")
    url = check_secret_url(value, label)
    if url.query or url.fragment:
        shown = echoed(shown_url(value), 100)
        raise ConnectionConfigError(f"{label} {shown} must not have a query or fragment")
    return str(url).rstrip("/")


def region_base_url(region: str) -> str:
    """The API host of an Intercom region, as the manifest's Region options give it."""
    for spec in load_manifest().connections[TOKEN_FIELD].inputs:
        for option in spec.options:
            if spec.key == "region" and option.value == region and option.base_url:
                return option.base_url
    raise ConnectionConfigError(f"{field_label('region')} {region!r} has no API host")


@frozen(repr=False)
class Connection:
    """Everything the client needs to talk to one workspace.

    ``values`` holds the fields connector.yaml declares for the connection type ``kind``
    (defaults filled, secrets wrapped in ``Secret``), and an OAuth 2.0 connection's token.
    """

    kind: str
    values: Mapping[str, Any]

    def get(self, key: str) -> Any:
        """One field's value (a ``Secret`` for a secret field); None when not set."""
        return self.values.get(key)

    @property
    def api_base(self) -> str:
        """The API host every request of this connection goes to."""
        return str(self.get("base_url") or region_base_url(self.get("region")))

    @property
    def api_version(self) -> str:
        return str(self.get("api_version"))

    @property
    def max_attempts(self) -> int:
        """Attempts in all for one request."""
        return int(self.get("max_attempts"))

    @property
    def max_retry_seconds(self) -> float:
        """The time after which no retry starts."""
        return float(self.get("max_retry_seconds"))

    def fields(self, *, reveal: bool = False) -> dict[str, Any]:
        """The fields to store (``reveal``: secrets in clear, for the owner-only file) or to
        show (secrets as asterisks)."""
        shown = {"type": self.kind}
        for key, value in self.values.items():
            if isinstance(value, Secret):
                value = value.reveal() if reveal else str(value)
            shown[key] = value
        return shown

    def __repr__(self) -> str:
        return f"Connection({self.fields()!r})"

    def bearer_token(self) -> str:
        """The token to send; ConnectionConfigError when the connection has none yet."""
        token = self.get(TOKEN_FIELD)
        if not token:
            if self.kind == "oauth2":
                raise ConnectionConfigError(
                    "This OAuth 2.0 connection has not been authorized yet: complete the "
                    "login (intercom-connector connect oauth2) so that it holds a token."
                )
            raise ConnectionConfigError(f"The connection has no {field_label(TOKEN_FIELD)}.")
        return str(token.reveal())


def secret_fields() -> frozenset[str]:
    """The connection fields that hold secrets (password inputs of connector.yaml)."""
    connections = load_manifest().connections.values()
    return frozenset(spec.key for kind in connections for spec in kind.inputs if spec.secret)


def _checked_secret(spec: InputSpec, value: Any) -> str:
    """A token or secret fit to send; the message names the field, never the value."""
    where = f"{spec.label} ({spec.key})"
    if not isinstance(value, str):
        raise ConnectionConfigError(f"{where}: expected text (the value is secret, not shown)")
    if value != value.strip():
        raise ConnectionConfigError(
            f"{where}: starts or ends with a space or line break; give it without them"
        )
    if not _SECRET_TEXT.fullmatch(value):
        raise ConnectionConfigError(
            f"{where}: contains a line break, control character or non-ASCII character, "
            "which no Intercom credential has; copy it again"
        )
    return value


def _checked(spec: InputSpec, raw: Any) -> Any:
    """One connection field, coerced and checked like any input (message by label)."""
    try:
        value = coerce(spec.type, raw)
    except CoercionProblem as exc:
        raise ConnectionConfigError(f"{spec.label} ({spec.key}): {exc}") from None
    if spec.secret:
        return _checked_secret(spec, value)
    for error in schema_errors(spec.json_schema(), value):
        raise ConnectionConfigError(
            f"{spec.label} ({spec.key}): {problem_text(error, spec.pattern_hint)}"
        )
    return value


def connection_from_mapping(data: Mapping[str, Any]) -> Connection:
    """A Connection from a mapping such as a connection file or a host's stored fields.

    The fields are those connector.yaml declares for the connection ``type``
    (access_token or oauth2), with their defaults and checks. An OAuth 2.0 connection
    also carries the token its authorization produced, in ``access_token``.
    """
    connections = load_manifest().connections
    kind = data.get("type", TOKEN_FIELD)
    if not isinstance(kind, str) or kind not in connections:
        raise ConnectionConfigError(
            f"Connection type {kind!r} is not known; use one of: {', '.join(connections)}"
        )
    specs = {spec.key: spec for spec in connections[kind].inputs}
    known = {"type", "name", TOKEN_FIELD, *specs}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConnectionConfigError(
            f"Connection has unknown fields {', '.join(unknown)}; "
            f"the fields are: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for key, spec in specs.items():
        if not is_absent(data.get(key)):
            values[key] = _checked(spec, data[key])
        elif spec.has_default:
            values[key] = spec.default
        elif spec.required:
            raise ConnectionConfigError(f"The {kind} connection needs its {spec.label} ({key})")
    token = data.get(TOKEN_FIELD)
    if not is_absent(token) and TOKEN_FIELD not in specs:
        # The token an authorization produced is checked as the Access Token input is.
        token_spec = connections[TOKEN_FIELD].input(TOKEN_FIELD)
        specs[TOKEN_FIELD] = token_spec
        values[TOKEN_FIELD] = _checked(token_spec, token)
    if values.get("base_url"):
        values["base_url"] = check_base_url(values["base_url"])
    for key, value in list(values.items()):
        if specs[key].secret:
            values[key] = Secret(value)
    return Connection(kind=kind, values=values)


def require_private_file(path: Path, what: str) -> None:
    """Refuse a file holding secrets that group or others may read or change."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConnectionConfigError(
            f"{what} {path} holds secrets but others may read it (mode {mode:04o}); "
            f"fix it with: chmod 600 {path}"
        )


def connection_from_file(path: str | os.PathLike[str]) -> Connection:
    """A Connection from a JSON or YAML connection file; one holding a secret must be private."""
    import yaml  # only for a connection file: a start from the environment never needs it

    from intercom_connector.runtime.yaml_text import load_yaml

    file = Path(path)
    text = ""
    try:
        text = file.read_text(encoding="utf-8")
        data = load_yaml(text)  # YAML is a superset of JSON
    except OSError as exc:
        raise ConnectionConfigError(f"cannot read connection file {file}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        # never the parser's own message: it quotes the line, which may be the token
        message = syntax_error_text(f"connection file {file}", exc, text)
        raise ConnectionConfigError(message) from None
    if not isinstance(data, Mapping):
        raise ConnectionConfigError(f"connection file {file} must hold an object")
    if any(not is_absent(data.get(key)) for key in secret_fields()):
        require_private_file(file, "connection file")
    return connection_from_mapping(data)


def connection_from_env(env: Mapping[str, str]) -> Connection | None:
    """The connection the environment describes, or None when it has no Intercom setting.

    Any one setting means Intercom is meant: without a token (or with an empty one) that is
    a ConnectionConfigError, never a silent fallback to the sandbox.
    """
    present = [name for name in ENV_SETTINGS if name in env]
    if not present:
        return None
    settings = " and ".join(present)
    token = env.get(ENV_TOKEN)
    if token is None:
        verb = "is" if len(present) == 1 else "are"
        raise ConnectionConfigError(
            f"{settings} {verb} set but {ENV_TOKEN} is not: set {ENV_TOKEN} too, "
            f"or unset {settings} to use the embedded sandbox"
        )
    if not token:
        raise ConnectionConfigError(
            f"{ENV_TOKEN} is set but empty: give it the {field_label(TOKEN_FIELD)}, "
            f"or unset {settings} to use the embedded sandbox"
        )
    return connection_from_mapping(
        {
            "type": "access_token",
            "access_token": token,
            "region": env.get(ENV_REGION),
            "base_url": env.get(ENV_BASE_URL),
            "api_version": env.get(ENV_VERSION),
        }
    )
