"""Help center articles: creating and changing one (the rest are requests declared in
connector.yaml). Intercom takes the author's and the collection's ids as numbers, and a
body in HTML (``body``) or in Markdown (``body_markdown``)."""

from __future__ import annotations

from typing import Any

from intercom_connector.runtime.client import IntercomClient
from intercom_connector.runtime.operations import Request, given


def _content(body: str | None, body_format: str) -> dict[str, str]:
    if body is None:
        return {}
    return {"body_markdown": body} if body_format == "markdown" else {"body": body}


def _number(value: str | None) -> int | None:
    return None if value is None else int(value)  # the manifest's pattern: digits only


def _fields(
    title: str | None,
    description: str | None,
    body: str | None,
    body_format: str,
    author_id: str | None,
    state: str | None,
) -> dict[str, Any]:
    return {
        **given(title=title, description=description),
        **_content(body, body_format),
        **given(author_id=_number(author_id), state=state),
    }


def create_article(
    client: IntercomClient,
    *,
    title: str,
    description: str | None,
    body: str | None,
    body_format: str,
    author_id: str,
    state: str,
    collection_id: str | None,
) -> Request:
    """POST /articles, in a collection when one is given."""
    article = _fields(title, description, body, body_format, author_id, state)
    if collection_id is not None:
        article.update(parent_id=_number(collection_id), parent_type="collection")
    return Request("POST", "/articles", body=article)


def update_article(
    client: IntercomClient,
    *,
    article_id: str,
    title: str | None,
    description: str | None,
    body: str | None,
    body_format: str,
    author_id: str | None,
    state: str | None,
    collection_id: str | None,
) -> Request:
    """PUT /articles/{id} with what was given (an update names the collection as text)."""
    article = _fields(title, description, body, body_format, author_id, state)
    if collection_id is not None:
        article.update(parent_id=collection_id, parent_type="collection")
    return Request(
        "PUT", "/articles/{article_id}", path_params={"article_id": article_id}, body=article
    )
