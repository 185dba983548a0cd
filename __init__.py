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
inputs. Triggers: ``events, state = poll(key, connection, inputs, state)`` for a polling
one, ``receive_webhook(key, headers, body, inputs)`` for a delivery of Intercom's.
Every error is an ``intercom_connector.ConnectorError``; the classes of its tree
(``InputValidationError``, ``NotFoundError``, ...) are importable from here too.
"""

from intercom_connector.runtime import errors
from intercom_connector.runtime.connection import Connection, Secret
from intercom_connector.runtime.errors import (
    AuthenticationError,
    BusyError,
    ConnectionConfigError,
    ConnectorError,
    InputValidationError,
    IntercomAPIError,
    ManifestError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    WebhookRefusal,
)
from intercom_connector.runtime.manifest import load_manifest
from intercom_connector.runtime.shim import Connector, data_source, invoke, poll, receive_webhook
from intercom_connector.runtime.triggers import ReplayGuard

__all__ = [
    "AuthenticationError",
    "BusyError",
    "Connection",
    "ConnectionConfigError",
    "Connector",
    "ConnectorError",
    "InputValidationError",
    "IntercomAPIError",
    "ManifestError",
    "NotFoundError",
    "RateLimitError",
    "ReplayGuard",
    "Secret",
    "ServerError",
    "TransportError",
    "WebhookRefusal",
    "data_source",
    "errors",
    "invoke",
    "load_manifest",
    "poll",
    "receive_webhook",
]
__version__ = "0.1.0"
