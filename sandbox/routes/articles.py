"""The help center: articles (drafts unless published; HTML or Markdown bodies) and the
collections they are in, both paged by number, the most recently updated first."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from intercom_connector.sandbox import records
from intercom_connector.sandbox.api import ApiError, Request, Routes, id_number, paging
from intercom_connector.sandbox.store import Record, Store, dumps

ARTICLE_PAGE_MAX = 250
HELP_CENTER = "https://help.sandbox.example/en"
STATES = ("published", "draft")

route = Routes()
_LIST_ITEM = re.compile(r"^\s*[-*]\s+")


def markdown_html(text: str) -> str:
    """The HTML of a little Markdown: # headings, - lists, **bold**, *italic*, paragraphs."""

    def inline(line: str) -> str:
        line = html.escape(line.strip(), quote=False)
        line = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", line)
        return re.sub(r"\*(.+?)\*", r"<i>\1</i>", line)

    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        heading = re.match(r"(#{1,6})\s+(.*)", lines[0])
        if heading and len(lines) == 1:
            level = len(heading.group(1))
            blocks.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif all(_LIST_ITEM.match(line) for line in lines):
            items = "".join(f"<li>{inline(_LIST_ITEM.sub('', line))}</li>" for line in lines)
            blocks.append(f"<ul>{items}</ul>")
        else:
            blocks.append(f"<p>{'<br>'.join(inline(line) for line in lines)}</p>")
    return "".join(blocks)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _url(article: Record) -> str | None:
    if article["state"] != "published":
        return None
    return f"{HELP_CENTER}/articles/{article['id']}-{_slug(article['title'])}"


def _find(db: Any, article_id: str) -> Record:
    found = Store.one(db, "SELECT body FROM articles WHERE id = ?", id_number(article_id))
    if found is None:
        raise ApiError(404, "not_found", "Resource Not Found")
    return found


def _save(db: Any, article: Record) -> Record:
    article["url"] = _url(article)
    db.execute(
        "UPDATE articles SET updated_at = ?, body = ? WHERE id = ?",
        (article["updated_at"], dumps(article), int(article["id"])),
    )
    return article


def _text(body: Record, key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, "parameter_invalid", f"{key} must be a string", key)
    return value


def _number(body: Record, key: str) -> int | None:
    """An id given as a number (or, on an update, as text of digits)."""
    value = body.get(key)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ApiError(400, "parameter_invalid", f"{key} must be an integer", key)
    return value


def _apply(db: Any, article: Record, body: Record) -> Record:
    """Changes from a create or update request, checked as Intercom checks them."""
    for key in ("title", "description"):
        if key in body:
            article[key] = _text(body, key)
    content, markdown = _text(body, "body"), _text(body, "body_markdown")
    if content is not None and markdown is not None:
        message = "body and body_markdown are mutually exclusive; give one"
        raise ApiError(400, "parameter_invalid", message, "body_markdown")
    if markdown is not None:
        article["body"], article["body_markdown"] = markdown_html(markdown), markdown
    elif content is not None:
        article["body"], article["body_markdown"] = content, None
    author = _number(body, "author_id")
    if author is not None:
        if not Store.scalar(db, "SELECT 1 FROM admins WHERE id = ?", str(author)):
            message = "author_id must be a teammate of the workspace"
            raise ApiError(400, "parameter_invalid", message, "author_id")
        article["author_id"] = author
    if "state" in body:
        if body["state"] not in STATES:
            raise ApiError(400, "parameter_invalid", "state must be published or draft", "state")
        article["state"] = body["state"]
    parent = _number(body, "parent_id")
    if parent is not None:
        if body.get("parent_type", "collection") != "collection":
            message = "parent_type must be collection (the sandbox has no sections)"
            raise ApiError(400, "parameter_invalid", message, "parent_type")
        if not Store.scalar(db, "SELECT 1 FROM collections WHERE id = ?", parent):
            raise ApiError(404, "collection_not_found", "Collection not found", "parent_id")
        article["parent_ids"] = [parent]
    return article


def new_article(db: Any, body: Record, now: int, article_id: int | None = None) -> Record:
    """A new article (a draft unless the body says published); its id the next one, or
    ``article_id`` (the demo workspace's)."""
    if not isinstance(body.get("title"), str) or not body["title"].strip():
        raise ApiError(400, "parameter_not_found", "title is required", "title")
    if body.get("author_id") is None:
        message = "author_id must be in the main body or default locale translated_content object"
        raise ApiError(400, "parameter_not_found", message, "author_id")
    cursor = db.execute(
        "INSERT INTO articles (id, updated_at, body) VALUES (?, ?, '{}')", (article_id, now)
    )
    article: Record = {
        "type": "article",
        "id": str(cursor.lastrowid),
        "workspace_id": records.WORKSPACE_ID,
        "title": "",
        "description": None,
        "body": None,
        "body_markdown": None,
        "author_id": 0,
        "state": "draft",
        "created_at": now,
        "updated_at": now,
        "has_unpublished_changes": False,
        "url": None,
        "parent_ids": [],
        "default_locale": "en",
    }
    return _save(db, _apply(db, article, body))


def _articles_page(db: Any, request: Request) -> Record:
    page = request.integer("page", 1, 1, 10**6)
    per_page = request.integer("per_page", 50, 1, ARTICLE_PAGE_MAX)
    total = Store.scalar(db, "SELECT COUNT(*) FROM articles")
    articles = Store.many(
        db, "SELECT body FROM articles ORDER BY updated_at DESC, id DESC LIMIT ? OFFSET ?",
        per_page, (page - 1) * per_page,
    )  # fmt: skip
    return {
        "type": "list",
        "pages": paging(page, per_page, total, None),
        "total_count": total,
        "data": articles,
    }


@route("GET", "/articles")
def list_articles(db: Any, request: Request) -> Record:
    return _articles_page(db, request)


@route("POST", "/articles")
def create_article(db: Any, request: Request) -> Record:
    return new_article(db, request.json_object(), request.now())


@route("GET", "/articles/search")
def search_articles(db: Any, request: Request) -> Record:
    phrase = (request.arg("phrase") or "").lower()
    state = request.arg("state") or "all"
    if state not in (*STATES, "all"):
        raise ApiError(400, "parameter_invalid", "state must be published, draft or all", "state")
    found = []
    for article in Store.many(db, "SELECT body FROM articles ORDER BY updated_at DESC, id DESC"):
        text = " ".join(str(article.get(k) or "") for k in ("title", "description", "body"))
        if phrase in text.lower() and state in ("all", article["state"]):
            found.append(article)
    return {
        "type": "list",
        "total_count": len(found),
        "data": {"articles": found, "highlights": []},
        "pages": paging(1, max(1, len(found)), len(found), None),
    }


@route("GET", "/articles/{article_id}")
def get_article(db: Any, request: Request, article_id: str) -> Record:
    return _find(db, article_id)


@route("PUT", "/articles/{article_id}")
def update_article(db: Any, request: Request, article_id: str) -> Record:
    article = _apply(db, _find(db, article_id), request.json_object())
    article["updated_at"] = request.now()
    return _save(db, article)


@route("DELETE", "/articles/{article_id}")
def delete_article(db: Any, request: Request, article_id: str) -> Record:
    article = _find(db, article_id)
    db.execute("DELETE FROM articles WHERE id = ?", (int(article["id"]),))
    return {"id": article["id"], "object": "article", "deleted": True}


def new_collection(collection_id: int, name: str, description: str, order: int, now: int) -> Record:
    return {
        "type": "collection",
        "id": str(collection_id),
        "workspace_id": records.WORKSPACE_ID,
        "name": name,
        "description": description,
        "created_at": now,
        "updated_at": now,
        "url": f"{HELP_CENTER}/collections/{collection_id}-{_slug(name)}",
        "icon": "book-bookmark",
        "order": order,
        "default_locale": "en",
        "parent_id": None,
        "help_center_id": 1,
    }


@route("GET", "/help_center/collections")
def list_collections(db: Any, request: Request) -> Record:
    page = request.integer("page", 1, 1, 10**6)
    per_page = request.integer("per_page", 50, 1, ARTICLE_PAGE_MAX)
    total = Store.scalar(db, "SELECT COUNT(*) FROM collections")
    rows = db.execute(
        "SELECT body FROM collections ORDER BY json_extract(body, '$.updated_at') DESC, id "
        "LIMIT ? OFFSET ?",
        (per_page, (page - 1) * per_page),
    ).fetchall()
    return {
        "type": "list",
        "data": [json.loads(body) for (body,) in rows],
        "total_count": total,
        "pages": paging(page, per_page, total, None),
    }
