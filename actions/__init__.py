"""Action handlers, one module per Intercom resource.

A handler is a small function named after its action key. It receives the shared
IntercomClient and the action's validated inputs as keyword arguments (absent optional
inputs as None), sends the request(s) of ../intercom-api-reference.md and returns the
JSON-serialisable result. Handlers never validate inputs, build clients or catch HTTP
errors: the shim and the client own that.
"""

from typing import Any

#: seed: "Default is 15". Intercom's own per-page defaults disagree with each other
#: (spec quirk 7), so a page size is always sent.
DEFAULT_PER_PAGE = 15


def present(**fields: Any) -> dict[str, Any]:
    """The fields that were given: an input left empty is not sent (never sent as null)."""
    return {key: value for key, value in fields.items() if value is not None}
