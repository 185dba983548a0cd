"""The CLI's connection commands: ``connect access-token|oauth2`` and ``connections ...``.

Secrets are never taken as command-line arguments (other users can read those): a
token or client secret is typed at a prompt that does not echo, or read from standard
input when it is not a terminal, or (client secret) from ``INTERCOM_CLIENT_SECRET``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from intercom_connector.connections.saved import SavedConnections, check_name, redacted
from intercom_connector.hosts import options
from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.connection import (
    TOKEN_FIELD,
    Connection,
    check_base_url,
    connection_from_mapping,
)
from intercom_connector.runtime.errors import (
    AuthenticationError,
    ConnectionConfigError,
    ConnectorError,
)
from intercom_connector.runtime.manifest import ConnectionSpec, InputSpec, load_manifest

ENV_CLIENT_SECRET = "INTERCOM_CLIENT_SECRET"


def _kind(key: str) -> ConnectionSpec:
    return load_manifest().connections[key]


def _given_fields(args: argparse.Namespace, kind: str) -> dict[str, Any]:
    """The connection fields given as options (every non-secret field of the type)."""
    fields: dict[str, Any] = {"type": kind}
    for spec in _kind(kind).inputs:
        if not spec.secret:
            fields[spec.key] = getattr(args, spec.key)
    return fields


def _prompt_label(kind: str, key: str) -> str:
    return _kind(kind).input(key).label


def _secret(prompt: str, env_var: str | None = None) -> str:
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    import getpass

    terminal = sys.stdin.isatty()
    value = getpass.getpass(f"{prompt}: ") if terminal else sys.stdin.readline().strip()
    if not value:
        where = f" (or set {env_var})" if env_var else ""
        raise ConnectionConfigError(f"No {prompt} given{where}")
    return value


def _saved(args: argparse.Namespace) -> SavedConnections:
    return SavedConnections(args.config_dir)


def _saved_for_new(args: argparse.Namespace) -> SavedConnections:
    """The store to save ``--name`` in, once replacing a connection of that name is agreed.

    On a terminal the person is asked; otherwise only ``--force`` replaces one. Asked
    before any secret is, so that nobody types a token for nothing.
    """
    check_name(args.name)
    saved = _saved(args)
    if args.force or args.name not in saved.names():
        return saved
    if not sys.stdin.isatty():
        raise ConnectionConfigError(
            f"A connection named {args.name!r} is saved already: give --force to replace it, "
            "or another --name"
        )
    print(f"Replace the saved connection {args.name!r}? [y/N] ", end="", file=sys.stderr)
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise ConnectionConfigError(f"Kept the saved connection {args.name!r}; nothing was saved")
    return saved


def _me(connection: Connection) -> dict[str, Any]:
    """Intercom's /me for a connection not saved yet; a refused token is not saved."""
    try:
        with IntercomClient(connection) as client:
            me: dict[str, Any] = client.request("GET", "/me")
    except AuthenticationError as exc:
        raise ConnectionConfigError(
            f"{exc}; the token was not saved (a token works only on its own region's host; "
            f"this one was tried on {connection.api_base}, region {connection.get('region')})"
        ) from None
    return me


def _workspace(me: dict[str, Any]) -> str:
    app = me.get("app") or {}
    return f"workspace {app.get('name')!r} ({app.get('id_code')}), region {app.get('region')}"


def _done(message: str) -> int:
    print(message, file=sys.stderr)
    return 0


def cmd_connect_access_token(args: argparse.Namespace) -> int:
    saved = _saved_for_new(args)
    fields = _given_fields(args, "access_token")
    fields[TOKEN_FIELD] = _secret(_prompt_label("access_token", TOKEN_FIELD))
    connection = connection_from_mapping(fields)
    me = _me(connection)
    saved.save(args.name, fields)
    return _done(
        f"Saved connection {args.name!r} (access_token): {_workspace(me)}, "
        f"via {connection.api_base}."
    )


def cmd_connect_oauth2(args: argparse.Namespace) -> int:
    # only this command needs them (and they take a while to import): not every start does
    import webbrowser

    from intercom_connector.connections.oauth2 import (
        CallbackListener,
        complete_authorization,
        start_authorization,
    )

    saved = _saved_for_new(args)
    secret = _secret(_prompt_label("oauth2", "client_secret"), ENV_CLIENT_SECRET)
    # refused before the browser is involved: what could not be saved afterwards
    connection_from_mapping({**_given_fields(args, "oauth2"), "client_secret": secret})
    base = check_base_url(args.base_url) if args.base_url else None
    authorize_url = args.authorize_url or (f"{base}/oauth" if base else None)
    token_url = args.token_url or (f"{base}/auth/eagle/token" if base else None)
    try:
        listener = CallbackListener(args.port)
    except OSError as exc:
        raise options.cannot_listen("wait for the redirect", "127.0.0.1", args.port, exc) from None
    try:
        pending = start_authorization(
            args.client_id, listener.redirect_uri, authorize_url=authorize_url, token_url=token_url
        )
        print(
            f"Authorize the app in Intercom: open this URL in a browser\n{pending.url}\n"
            f"(waiting for the redirect to {listener.redirect_uri}; the app must list it "
            "among its redirect URLs)",
            file=sys.stderr,
            flush=True,
        )
        if not args.no_browser and sys.stdin.isatty():
            webbrowser.open(pending.url)
        callback = listener.wait(args.timeout)
        try:  # the browser waits for the outcome: its page says what happened
            connection = complete_authorization(
                pending,
                callback,
                secret,
                region=args.region,
                base_url=base,
                api_version=args.api_version,
            )
            saved.save(args.name, connection.fields(reveal=True))
        except ConnectorError as exc:
            listener.finish(False, str(exc))
            raise
        listener.finish(True, f"Connected to Intercom, and saved as {args.name!r}.")
    finally:
        listener.close()
    region = connection.get("region")
    return _done(f"Saved connection {args.name!r} (oauth2, region {region}).")


def cmd_connections_list(args: argparse.Namespace) -> int:
    names = _saved(args).names()
    if not names:
        return _done(
            "No saved connections yet; save one with: intercom-connector connect access-token"
        )
    for name, fields in sorted(names.items()):
        connection = connection_from_mapping(fields)
        region = connection.get("region")
        print(f"{name}\t{connection.kind}\t{region}\t{connection.api_base}")
    return 0


def cmd_connections_show(args: argparse.Namespace) -> int:
    fields = _saved(args).fields(args.name)
    json.dump(redacted(fields), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


def cmd_connections_remove(args: argparse.Namespace) -> int:
    _saved(args).remove(args.name)
    return _done(f"Removed connection {args.name!r}.")


def cmd_connections_test(args: argparse.Namespace) -> int:
    connection = connection_from_mapping(_saved(args).fields(args.name))
    try:
        with IntercomClient(connection) as client:
            me: Any = client.request("GET", "/me")
    except AuthenticationError:
        print(
            f"hint: a token only works on its own region's host; this connection uses "
            f"{connection.api_base} (region {connection.get('region')}). Check the region.",
            file=sys.stderr,
        )
        raise
    app = me.get("app") or {}
    print(
        f"Connection {args.name!r} works: workspace {app.get('name')!r} ({app.get('id_code')}), "
        f"region {app.get('region')}, as {me.get('email')} via {connection.api_base}"
    )
    return 0


def _field_option(parser: argparse.ArgumentParser, spec: InputSpec) -> None:
    """``--api-version`` and so on: one option per connection field, as the manifest has it."""
    default = f" (default: {spec.default})" if spec.has_default else ""
    parser.add_argument(
        f"--{spec.key.replace('_', '-')}",
        dest=spec.key,
        required=spec.required,
        choices=[option.value for option in spec.options] or None,
        help=f"{spec.label}: {spec.comments}{default}",
    )


def add_login_commands(commands: Any) -> None:
    """Register ``connect`` and ``connections`` on the CLI's subcommands."""
    connect = commands.add_parser("connect", help="create and save a connection")
    kinds = connect.add_subparsers(dest="kind", metavar="TYPE", parser_class=type(connect))
    kinds.required = True

    token = kinds.add_parser(
        "access-token",
        help=f"save an {_prompt_label('access_token', TOKEN_FIELD)} (asked without echo)",
    )
    oauth = kinds.add_parser("oauth2", help="log in with OAuth 2.0 through a browser")
    for parser, kind in ((token, "access_token"), (oauth, "oauth2")):
        parser.add_argument("--name", default="default", help="save it as (default: default)")
        for spec in _kind(kind).inputs:
            if not spec.secret:  # secrets are asked for, never taken from the command line
                _field_option(parser, spec)
        parser.add_argument(
            "--force", action="store_true", help="replace a saved connection of that name"
        )
    token.set_defaults(handler=cmd_connect_access_token)
    oauth.add_argument(
        "--port", type=options.port, default=0, help="callback port on 127.0.0.1 (0: any)"
    )
    oauth.add_argument(
        "--authorize-url", type=options.secret_url, help="override Intercom's authorize URL"
    )
    oauth.add_argument("--token-url", type=options.secret_url, help="override Intercom's token URL")
    oauth.add_argument("--timeout", type=options.seconds, default=300.0, help="seconds to wait")
    oauth.add_argument("--no-browser", action="store_true", help="only print the URL")
    oauth.set_defaults(handler=cmd_connect_oauth2)

    saved = commands.add_parser("connections", help="list, show, test or remove saved ones")
    actions = saved.add_subparsers(dest="what", metavar="COMMAND", parser_class=type(saved))
    actions.required = True
    actions.add_parser("list", help="names, types and regions").set_defaults(
        handler=cmd_connections_list
    )
    for name, handler, text in (
        ("show", cmd_connections_show, "one connection, secrets redacted"),
        ("remove", cmd_connections_remove, "forget a connection"),
        ("test", cmd_connections_test, "call Intercom's /me with it"),
    ):
        command = actions.add_parser(name, help=text)
        command.add_argument("name", metavar="NAME")
        command.set_defaults(handler=handler)
