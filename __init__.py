"""Intercom connector for low-code flow builders.

The Python API a host embeds::

    import intercom_connector

    result = intercom_connector.invoke(
        "get_contact",
        {"contact_id": "6657a1b2c3d4e5f6a7b8c9d0"},
        {"type": "access_token", "access_token": "...", "region": "eu"},
    )
    result["data"]["email"]

``Connector(connection)`` runs many actions over one reused HTTP client;
``load_manifest()`` gives the component, its connections and every action with its
inputs. Every error is an ``intercom_connector.ConnectorError``; the classes of its tree
(``InputValidationError``, ``NotFoundError``, ...) are importable from here too.
"""

from intercom_connector.runtime import errors
from intercom_connector.runtime.connection import Connection, Secret
from intercom_connector.runtime.errors import (
    AuthenticationError,
    ConnectionConfigError,
    ConnectorError,
    InputValidationError,
    IntercomAPIError,
    ManifestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
)
from intercom_connector.runtime.manifest import load_manifest
from intercom_connector.runtime.shim import Connector, data_source, invoke

__all__ = [
    "AuthenticationError",
    "Connection",
    "ConnectionConfigError",
    "Connector",
    "ConnectorError",
    "InputValidationError",
    "IntercomAPIError",
    "ManifestError",
    "NotFoundError",
    "RateLimitError",
    "Secret",
    "ServerError",
    "TransportError",
    "data_source",
    "errors",
    "invoke",
    "load_manifest",
]
__version__ = "0.1.0"
