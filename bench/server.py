"""A fast local list server for the benchmarks: Intercom's list shapes, pre-rendered.

It answers ``GET /contacts`` (cursor pages), ``GET /contacts/{id}``, ``POST
/companies/list`` (page numbers) and ``GET /ping`` from records encoded once at start,
so that what is measured is the client, not the server. ``--latency`` adds a fixed delay
to every answer, like a distant API. Loopback only.

    python bench/server.py --port 8900 --contacts 50000 --companies 10000 --latency 20
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from waitress import serve

NOW = 1_720_000_000


def contact(number: int) -> dict[str, Any]:
    contact_id = f"{number:024x}"
    return {
        "type": "contact", "id": contact_id, "workspace_id": "bench",
        "external_id": f"ext-{number}", "role": "user", "email": f"person{number}@example.com",
        "email_domain": "example.com",
        "phone": None, "name": f"Person {number}", "avatar": None, "owner_id": None,
        "social_profiles": {"type": "list", "data": []}, "has_hard_bounced": False,
        "marked_email_as_spam": False, "unsubscribed_from_emails": False,
        "created_at": NOW - number, "updated_at": NOW - number, "signed_up_at": NOW - number,
        "last_seen_at": NOW, "last_replied_at": None, "last_contacted_at": None,
        "last_email_opened_at": None, "last_email_clicked_at": None, "language_override": None,
        "browser": "chrome", "browser_version": "126.0", "browser_language": "en", "os": "macOS",
        "custom_attributes": {"plan_tier": "pro", "seats": number % 50},
        "tags": {"type": "list", "data": [], "url": f"/contacts/{contact_id}/tags",
                 "total_count": 0, "has_more": False},
        "notes": {"type": "list", "data": [], "url": f"/contacts/{contact_id}/notes",
                  "total_count": 0, "has_more": False},
        "companies": {"type": "list", "data": [], "url": f"/contacts/{contact_id}/companies",
                      "total_count": 0, "has_more": False},
        "location": {"type": "location", "country": "Ireland", "region": "Dublin",
                     "city": "Dublin"},
    }  # fmt: skip


def company(number: int) -> dict[str, Any]:
    return {
        "type": "company", "id": f"c{number:023x}", "company_id": f"co-{number}", "app_id": "bench",
        "name": f"Company {number}", "remote_created_at": NOW, "created_at": NOW, "updated_at": NOW,
        "monthly_spend": number % 1000, "session_count": 0, "user_count": 3, "size": 10,
        "website": f"https://co{number}.example", "industry": "Software", "plan": {},
        "custom_attributes": {}, "tags": {"type": "tag.list", "tags": []},
        "segments": {"type": "segment.list", "segments": []},
    }  # fmt: skip


class ListServer:
    def __init__(self, contacts: int, companies: int, latency: float) -> None:
        self.contacts = [json.dumps(contact(n)).encode() for n in range(contacts)]
        self.by_id = {f"{n:024x}": body for n, body in enumerate(self.contacts)}
        self.companies = [json.dumps(company(n)).encode() for n in range(companies)]
        self.latency = latency

    def __call__(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        if self.latency:
            time.sleep(self.latency)
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if method == "GET" and path == "/contacts":
            body = self._contacts(int(query.get("per_page", 50)), query.get("starting_after"))
        elif method == "GET" and path.startswith("/contacts/"):
            body = self.by_id.get(path.rsplit("/", 1)[1], b'{"type": "error.list", "errors": []}')
        elif method == "POST" and path == "/companies/list":
            body = self._companies(int(query.get("page", 1)), int(query.get("per_page", 15)))
        else:
            body = b"{}"
        reset = str(int(time.time()) + 10)
        start("200 OK", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
            ("X-RateLimit-Limit", "100000"), ("X-RateLimit-Remaining", "99999"),
            ("X-RateLimit-Reset", reset),
        ])  # fmt: skip
        return [body]

    def _contacts(self, per_page: int, cursor: str | None) -> bytes:
        start = int(cursor) if cursor else 0
        chunk = self.contacts[start : start + per_page]
        total = len(self.contacts)
        pages: dict[str, Any] = {
            "type": "pages", "page": start // per_page + 1, "per_page": per_page,
            "total_pages": math.ceil(total / per_page),
        }  # fmt: skip
        if start + per_page < total:
            pages["next"] = {"per_page": per_page, "starting_after": str(start + per_page)}
        head = json.dumps({"type": "list", "total_count": total, "pages": pages}).encode()
        return head[:-1] + b', "data": [' + b",".join(chunk) + b"]}"

    def _companies(self, page: int, per_page: int) -> bytes:
        chunk = self.companies[(page - 1) * per_page : page * per_page]
        total = len(self.companies)
        pages = {"type": "pages", "page": page, "per_page": per_page,
                 "total_pages": math.ceil(total / per_page)}  # fmt: skip
        head = json.dumps({"type": "list", "total_count": total, "pages": pages}).encode()
        return head[:-1] + b', "data": [' + b",".join(chunk) + b"]}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--companies", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="milliseconds")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    app = ListServer(args.contacts, args.companies, args.latency / 1000)
    serve(app, host="127.0.0.1", port=args.port, threads=16, ident="bench", _quiet=True)


if __name__ == "__main__":
    main()
