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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from intercom_connector.runtime.shim import (
        Connector,
        data_source,
        invoke,
        poll,
        receive_webhook,
    )
    from intercom_connector.runtime.triggers import ReplayGuard

#: where the names of ``__all__`` live, looked up in this order: each is imported on first
#: use, so that a process that needs one part (the command line's ``run``) does not pay for
#: the rest at start-up
_HOMES = ("errors", "connection", "manifest", "shim", "triggers")


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    for home in _HOMES:
        module = importlib.import_module(f"{__name__}.runtime.{home}")
        if name == home:
            value: Any = module
        elif hasattr(module, name):
            value = getattr(module, name)
        else:
            continue
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")  # pragma: no cover


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
