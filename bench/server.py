"""A fast local Intercom for the benchmarks: Intercom's shapes, pre-rendered where it can.

It answers ``GET /contacts`` (cursor pages), ``GET /contacts/{id}``, ``POST
/contacts/search`` (the created_at ranges a split Fetch All asks for, by calendar day,
sorted by created_at), ``POST /contacts`` and ``POST /companies`` (creates, kept in
memory, counted per email and company_id; a second user with an email is a 409 naming the
first, as Intercom answers), ``POST /companies/list`` (page numbers),
``GET /ping`` and ``GET /bench/stats`` (what was created, and when the first and the last
request came). Listed records are encoded once at start, so that what is measured is the
client, not the server. ``--latency`` delays every answer like a distant API,
``--rate-limit`` refuses with 429 past N requests in a 10-second window aligned to the
clock (as Intercom's windows and the sandbox's are), ``--faults`` fails some requests on
purpose. Loopback only.

    python bench/server.py --port 8900 --contacts 50000 --latency 20 [--big]
        [--rate-limit 500] [--faults error=0.05,limit=0.05,drop=0.02,seed=1]
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import logging
import math
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from waitress import serve

NOW = 1_720_000_000
#: contacts are created this many seconds apart: 50,000 span about a year of days
SPACING = 600
DAY = 86_400


def contact(number: int, big: bool = False) -> dict[str, Any]:
    contact_id = f"{number:024x}"
    created = NOW - number * SPACING
    record = {
        "type": "contact", "id": contact_id, "workspace_id": "bench",
        "external_id": f"ext-{number}", "role": "user", "email": f"person{number}@example.com",
        "email_domain": "example.com",
        "phone": None, "name": f"Person {number}", "avatar": None, "owner_id": None,
        "social_profiles": {"type": "list", "data": []}, "has_hard_bounced": False,
        "marked_email_as_spam": False, "unsubscribed_from_emails": False,
        "created_at": created, "updated_at": created, "signed_up_at": created,
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
    if big:  # what a real workspace's contacts carry besides: about 1.8 KB a record
        record.update({
            "formatted_phone": "+353 1 555 0100", "utm_campaign": "spring-launch",
            "utm_medium": "email", "utm_source": "newsletter",
            "android_app_name": None, "android_app_version": None, "android_device": None,
            "android_os_version": None, "android_last_seen_at": None,
            "ios_app_name": "Example", "ios_app_version": "4.2.1",
            "ios_device": "iPhone15,2", "ios_os_version": "17.4",
            "ios_last_seen_at": NOW - 3_600,
        })  # fmt: skip
        record["custom_attributes"].update({
            "account_manager": "Morgan Example", "region": "EMEA", "signup_source": "webinar",
            "trial_ends": "2024-09-30",
        })  # fmt: skip
        record["social_profiles"]["data"] = [
            {"type": "social_profile", "name": "Twitter", "url": f"https://x.com/p{number}"},
        ]
    return record


def company(number: int) -> dict[str, Any]:
    return {
        "type": "company", "id": f"c{number:023x}", "company_id": f"co-{number}", "app_id": "bench",
        "name": f"Company {number}", "remote_created_at": NOW, "created_at": NOW, "updated_at": NOW,
        "monthly_spend": number % 1000, "session_count": 0, "user_count": 3, "size": 10,
        "website": f"https://co{number}.example", "industry": "Software", "plan": {},
        "custom_attributes": {}, "tags": {"type": "tag.list", "tags": []},
        "segments": {"type": "segment.list", "segments": []},
    }  # fmt: skip


class Refused(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        headers: list[tuple[str, str]] | None = None,
        message: str = "bench",
    ):
        super().__init__(code)
        self.status, self.code, self.headers, self.message = status, code, headers or [], message


class Dropped(Exception):
    """Fault mode: the connection goes away without a complete answer."""


class ListServer:
    def __init__(
        self,
        contacts: int,
        companies: int,
        latency: float,
        big: bool = False,
        rate_limit: int | None = None,
        faults: dict[str, float] | None = None,
    ) -> None:
        self.contacts = [json.dumps(contact(n, big)).encode() for n in range(contacts)]
        self.by_id = {f"{n:024x}": body for n, body in enumerate(self.contacts)}
        # newest first: created_at decreases with the number; days ascending for bisect
        self.days_ascending = [(NOW - n * SPACING) // DAY for n in reversed(range(contacts))]
        self.companies = [json.dumps(company(n)).encode() for n in range(companies)]
        self.latency = latency
        self.rate_limit = rate_limit
        self.faults = faults or {}
        self.chance = random.Random(self.faults.get("seed", 1))
        self.lock = threading.Lock()
        self.window_start = 0.0
        self.window_count = 0
        #: requests each 10-second window took, by the window's start (unix time)
        self.per_window: Counter[int] = Counter()
        #: requests being answered now, and the most at once
        self.in_flight = 0
        self.most_in_flight = 0
        self.created: Counter[str] = Counter()
        #: email -> id of the user made with it (Intercom keeps one user per email)
        self.made: dict[str, str] = {}
        self.companies_made: Counter[str] = Counter()
        self.first_request: float | None = None
        self.last_answer = 0.0
        self.refused = Counter[str]()

    def __call__(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if path in ("/bench/stats", "/ping"):  # (not the requests measured)
            if path == "/ping" and self.latency:  # the round trip the floor is made of
                time.sleep(self.latency)
            body = self._stats() if path == "/bench/stats" else b"{}"
            length = ("Content-Length", str(len(body)))
            start("200 OK", [("Content-Type", "application/json"), length])
            return [body]
        with self.lock:
            if self.first_request is None:
                self.first_request = time.time()
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return self._served(environ, start, path, method)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _served(
        self, environ: dict[str, Any], start: Callable[..., Any], path: str, method: str
    ) -> Iterable[bytes]:
        try:
            headers = self._window()
            drop = self._fault()
            if self.latency:
                time.sleep(self.latency)
            if drop == "before":
                raise Dropped
            body = self._route(environ, path, method)
            if drop == "after":
                raise Dropped
        except Refused as refusal:
            self.refused[refusal.code] += 1
            error = {
                "type": "error.list",
                "errors": [{"code": refusal.code, "message": refusal.message}],
            }
            return self._answer(start, refusal.status, json.dumps(error).encode(), refusal.headers)
        except Dropped:
            self.refused["dropped"] += 1
            start("200 OK", [("Content-Type", "application/json"), ("Content-Length", "4096")])
            return _cut_short()
        return self._answer(start, 200, body, headers)

    def _answer(
        self, start: Callable[..., Any], status: int, body: bytes, headers: list[tuple[str, str]]
    ) -> list[bytes]:
        with self.lock:
            self.last_answer = time.time()
        start(f"{status} {'OK' if status == 200 else 'Refused'}", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers,
        ])  # fmt: skip
        return [body]

    def _window(self) -> list[tuple[str, str]]:
        """Intercom's rate-limit headers; a 429 past the limit of the window."""
        limit = self.rate_limit
        with self.lock:
            now = time.time()
            start = now - now % 10
            if start != self.window_start:
                self.window_start, self.window_count = start, 0
            self.window_count += 1
            self.per_window[int(start)] += 1
            used = self.window_count
        reset = str(int(start + 10))
        if limit is None:
            return [("X-RateLimit-Limit", "100000"), ("X-RateLimit-Remaining", "99999"),
                    ("X-RateLimit-Reset", reset)]  # fmt: skip
        headers = [("X-RateLimit-Limit", str(limit)),
                   ("X-RateLimit-Remaining", str(max(0, limit - used))),
                   ("X-RateLimit-Reset", reset)]  # fmt: skip
        if used > limit:
            retry = str(max(1, math.ceil(start + 10 - now)))
            raise Refused(429, "rate_limit_exceeded", [*headers, ("Retry-After", retry)])
        return headers

    def _fault(self) -> str | None:
        """None, or when to drop the connection ("before" or "after" processing); raises
        a 5xx or a 429 Refused."""
        if not self.faults:
            return None
        with self.lock:
            draw, second = self.chance.random(), self.chance.random()
        for kind in ("drop", "error", "limit"):
            rate = self.faults.get(kind, 0.0)
            if draw < rate:
                if kind == "drop":
                    return "before" if second < 0.5 else "after"
                if kind == "error":
                    raise Refused(503 if second < 0.5 else 500, "service_unavailable")
                raise Refused(429, "rate_limit_exceeded", [("Retry-After", "1")])
            draw -= rate
        return None

    def _route(self, environ: dict[str, Any], path: str, method: str) -> bytes:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if method == "GET" and path == "/contacts":
            return self._contacts(int(query.get("per_page", 50)), query.get("starting_after"))
        if method == "GET" and path.startswith("/contacts/"):
            return self.by_id.get(path.rsplit("/", 1)[1], b'{"type": "error.list", "errors": []}')
        if method == "POST" and path == "/contacts/search":
            return self._search(_body(environ))
        if method == "POST" and path == "/contacts":
            return self._create_contact(_body(environ))
        if method == "POST" and path == "/companies":
            return self._create_company(_body(environ))
        if method == "POST" and path == "/companies/list":
            return self._companies(int(query.get("page", 1)), int(query.get("per_page", 15)))
        return b"{}"

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
        return _page(chunk, total, pages)

    def _search(self, body: dict[str, Any]) -> bytes:
        """The search a split Fetch All makes: role = user (every contact) and created_at
        bounds by calendar day (UTC), sorted by created_at."""
        low, high = _days(body["query"])
        total = len(self.contacts)
        # contacts are newest first: ascending days run from the last contact to the first
        first_day = bisect.bisect_left(self.days_ascending, low) if low is not None else 0
        end_day = bisect.bisect_left(self.days_ascending, high) if high is not None else total
        newest, oldest = total - end_day, total - first_day  # the matches: [newest, oldest)
        matches = max(0, oldest - newest)
        sort = body.get("sort") or {}
        ascending = sort.get("order") == "ascending"
        pagination = body.get("pagination") or {}
        per_page = int(pagination.get("per_page", 50))
        offset = int(pagination.get("starting_after") or 0)
        window = range(offset, min(offset + per_page, matches))
        if ascending:
            chunk = [self.contacts[oldest - 1 - i] for i in window]
        else:
            chunk = [self.contacts[newest + i] for i in window]
        pages: dict[str, Any] = {
            "type": "pages", "page": offset // per_page + 1, "per_page": per_page,
            "total_pages": math.ceil(matches / per_page),
        }  # fmt: skip
        if offset + per_page < matches:
            pages["next"] = {"per_page": per_page, "starting_after": str(offset + per_page)}
        return _page(chunk, matches, pages)

    def _create_contact(self, body: dict[str, Any]) -> bytes:
        """Made once per email, as Intercom does for users: a second create of the same email
        is a 409 naming the contact that has it (as Intercom words it)."""
        email, role = str(body.get("email")), body.get("role", "user")
        number = int(hashlib.sha1(email.encode()).hexdigest()[:12], 16)
        now = int(time.time())
        record = {**contact(number), "email": email, "role": role,
                  "created_at": now, "updated_at": now, "signed_up_at": now}  # fmt: skip
        with self.lock:
            existing = self.made.get(email) if role == "user" else None
            if existing is None:
                self.created[email] += 1
                encoded = json.dumps(record).encode()
                self.made[email], self.by_id[record["id"]] = record["id"], encoded
                return encoded
        message = f"A contact matching those details already exists with id={existing}"
        raise Refused(409, "conflict", message=message)

    def _create_company(self, body: dict[str, Any]) -> bytes:
        key = str(body.get("company_id"))
        with self.lock:
            self.companies_made[key] += 1  # an upsert: counted, made once
        number = int(hashlib.sha1(key.encode()).hexdigest()[:12], 16)
        return json.dumps({**company(number), "company_id": key, "name": body.get("name")}).encode()

    def _companies(self, page: int, per_page: int) -> bytes:
        chunk = self.companies[(page - 1) * per_page : page * per_page]
        total = len(self.companies)
        pages = {"type": "pages", "page": page, "per_page": per_page,
                 "total_pages": math.ceil(total / per_page)}  # fmt: skip
        return _page(chunk, total, pages)

    def _stats(self) -> bytes:
        with self.lock:
            return json.dumps({
                "contacts_created": dict(self.created), "contacts_made": dict(self.made),
                "companies_upserted": dict(self.companies_made),
                "first_request": self.first_request, "last_answer": self.last_answer,
                "refused": dict(self.refused),
                "per_window": [self.per_window[w] for w in sorted(self.per_window)],
                "most_in_flight": self.most_in_flight,
            }).encode()  # fmt: skip


def _page(chunk: list[bytes], total: int, pages: dict[str, Any]) -> bytes:
    """A list answer laid out as Intercom's: the records first, then the count and paging
    (so a client cannot read the next cursor before the whole page has arrived)."""
    tail = json.dumps({"total_count": total, "pages": pages}).encode()
    return b'{"type": "list", "data": [' + b",".join(chunk) + b"], " + tail[1:]


def _days(query: dict[str, Any]) -> tuple[int | None, int | None]:
    """The days [low, high) a query of role = user and created_at bounds matches."""
    low: int | None = None
    high: int | None = None
    items = query["value"] if query.get("operator") == "AND" else [query]
    for item in items:
        if item.get("operator") == "OR":  # created_at = t OR created_at > t: t's day on
            values = {part["value"] for part in item["value"]}
            (day,) = {value // DAY for value in values}
            low = day if low is None else max(low, day)
        elif item.get("field") == "created_at":
            day = item["value"] // DAY
            bounds = {"<": (None, day), ">": (day + 1, None), "=": (day, day + 1)}
            lower, upper = bounds[item["operator"]]
            if lower is not None:
                low = lower if low is None else max(low, lower)
            if upper is not None:
                high = upper if high is None else min(high, upper)
        elif item != {"field": "role", "operator": "=", "value": "user"}:
            raise Refused(400, "parameter_invalid")
    return low, high


def _body(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length)) if length else {}


def _cut_short() -> Iterable[bytes]:
    yield b"{"
    raise Dropped("bench fault mode: connection dropped")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--companies", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="milliseconds")
    parser.add_argument("--big", action="store_true", help="records of about 1.8 KB")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests a 10 s window")
    parser.add_argument("--faults", default="", help="error=F,limit=F,drop=F,seed=N")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    faults = {k: float(v) for k, v in (p.split("=") for p in args.faults.split(",") if p)}
    app = ListServer(
        args.contacts, args.companies, args.latency / 1000, args.big, args.rate_limit, faults
    )
    logging.getLogger("waitress").setLevel(logging.CRITICAL)  # dropped on purpose
    # a page in one write, not 18 KB at a time (waitress's default): the client is measured
    serve(app, host="127.0.0.1", port=args.port, threads=args.threads, ident="bench", _quiet=True,
          send_bytes=1 << 20)  # fmt: skip


if __name__ == "__main__":
    main()
