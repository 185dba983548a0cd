"""``python -m intercom_connector``: the same CLI as ``intercom-connector``."""

from intercom_connector.hosts.cli import main

raise SystemExit(main())
