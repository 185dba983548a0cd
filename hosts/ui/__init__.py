"""The integration designer: ``intercom-connector ui``, a local web app that renders the
connector as a flow builder does, from the manifest alone, and runs what it designs with the
runtime ``flow run`` uses.

- ``designer.py``: connections (checked, saved, OAuth 2.0), data sources, the sandbox;
- ``runs.py``: flows checked, run and saved as the YAML ``flow run`` executes;
- ``server.py``: the WSGI app on loopback with its token, Host check and no CORS;
- ``static/``: the page, in plain HTML, CSS and JavaScript modules (no build step).
"""

from __future__ import annotations

import argparse
import sys
import webbrowser

from intercom_connector.hosts import options
from intercom_connector.hosts.ui.designer import Designer
from intercom_connector.hosts.ui.server import DesignerServer

__all__ = ["Designer", "DesignerServer", "serve"]


def serve(args: argparse.Namespace) -> int:
    """``intercom-connector ui``: serve until interrupted; print the URL, open a browser."""
    try:
        server = DesignerServer(Designer(args.config_dir), host=args.host, port=args.port)
    except OSError as exc:
        raise options.cannot_listen("serve the designer", args.host, args.port, exc) from None
    print(
        f"Intercom connector designer on {server.base_url}\n"
        f"Open this URL (it carries this run's token; keep it to yourself):\n{server.url}\n"
        "Ctrl-C stops it.",
        file=sys.stderr,
        flush=True,
    )
    if not args.no_browser and sys.stdin.isatty() and sys.stderr.isatty():
        webbrowser.open(server.url)
    try:
        server.run()
    finally:
        server.stop()
    return 0
