"""One benchmark client run, in its own process: prints {"seconds", "records"} as JSON.

    python bench/clients.py KIND BASE_URL PER_PAGE [CPU]

KIND is one of:

- ``bare``: an httpx cursor loop keeping every record, the floor any client builds on;
- ``bare-ndjson``: the same loop writing each record as a JSON line (the CLI's work), to be
  timed from outside as a whole process;
- ``shim``: the connector as a flow calls it, ``Connector.invoke("list_contacts", ...)``;
- ``sdk``: the official ``python-intercom`` SDK, run with the SDK's own interpreter;
- ``companies`` / ``companies-sequential``: Fetch All of companies, pages side by side
  or one at a time;
- ``search`` / ``search-walk``: Fetch All of Search Contacts as a flow calls it (split into
  ranges of created_at), and the sequential walk of the same search; both also print a
  digest of the records' ids in order, to show they are the same.

Only the standard library is imported up front, so each kind loads only its own client.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

TOKEN = "bench-token"


def _bare_pages(base: str, per_page: int) -> Iterator[dict[str, Any]]:
    """A plain httpx cursor loop: each page of GET /contacts, decoded as httpx does."""
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        cursor = None
        while True:
            params: dict[str, Any] = {"per_page": per_page}
            if cursor:
                params["starting_after"] = cursor
            page: dict[str, Any] = client.get("/contacts", params=params).json()
            yield page
            cursor = (page["pages"].get("next") or {}).get("starting_after")
            if not cursor:
                return


def bare(base: str, per_page: int) -> int:
    records: list[dict[str, Any]] = []  # the same work as a Fetch All: keep every record
    for page in _bare_pages(base, per_page):
        records.extend(page["data"])
    return len(records)


def bare_ndjson(base: str, per_page: int) -> int:
    """The bare loop doing the CLI's work, as a script would: each record a JSON line in the
    file named by BENCH_NDJSON. Timed from outside, as a whole process, like the CLI."""
    count = 0
    with open(os.environ["BENCH_NDJSON"], "w") as out:
        for page in _bare_pages(base, per_page):
            for record in page["data"]:
                out.write(json.dumps(record) + "\n")
            count += len(page["data"])
    return count


def _connector(base: str, **options: Any) -> Any:
    from intercom_connector import Connector

    connection = {"type": "access_token", "access_token": TOKEN, "base_url": base}
    return Connector(connection, **options)


def shim(base: str, per_page: int) -> int:
    with _connector(base) as intercom:
        result = intercom.invoke("list_contacts", {"fetch_all": True, "per_page": per_page})
    return len(result["data"]["data"])


def companies(base: str, per_page: int, width: int = 8) -> int:
    with _connector(base, max_concurrency=width) as intercom:
        result = intercom.invoke("list_companies", {"fetch_all": True, "per_page": per_page})
    return len(result["data"]["data"])


SEARCH = {"field": "role", "operator": "=", "value": "user"}


def _digest(ids: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


def search(base: str, per_page: int) -> tuple[int, str]:
    with _connector(base) as intercom:
        inputs = {"json_query": SEARCH, "per_page": per_page, "fetch_all": True}
        result = intercom.invoke("search_contacts", inputs)
    ids = [record["id"] for record in result["data"]["data"]]
    return len(ids), _digest(ids)


def search_walk(base: str, per_page: int) -> tuple[int, str]:
    from intercom_connector.runtime.listing import RecordStream
    from intercom_connector.runtime.paging import search_walk as walk

    with _connector(base) as intercom:
        # the order a Fetch All given no sort asks for (README: Search ... with Fetch All)
        sort = {"field": "created_at", "order": "ascending"}
        body = {"query": SEARCH, "sort": sort, "pagination": {"per_page": per_page}}
        pages = walk(intercom.client, "/contacts/search", body)
        ids = [record["id"] for record in RecordStream(pages).envelope()["data"]]
    return len(ids), _digest(ids)


def sdk(base: str, per_page: int) -> int:
    from intercom import Intercom

    client = Intercom(token=TOKEN, base_url=base)
    return sum(1 for _ in client.contacts.list(per_page=per_page))


def prepare(kind: str) -> None:
    """Load what the client needs before the clock starts: a host has it loaded already."""
    import httpx  # noqa: F401

    if kind == "sdk":
        import intercom  # noqa: F401
    elif not kind.startswith("bare"):
        from intercom_connector import load_manifest

        load_manifest()


def main() -> None:
    kind, base, per_page = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if len(sys.argv) > 4:
        os.sched_setaffinity(0, {int(sys.argv[4])})
    run: Any = {
        "bare": bare,
        "bare-ndjson": bare_ndjson,
        "shim": shim,
        "sdk": sdk,
        "companies": companies,
        "companies-sequential": lambda b, p: companies(b, p, width=1),
        "search": search,
        "search-walk": search_walk,
    }[kind]
    prepare(kind)
    started = time.perf_counter()
    found = run(base, per_page)
    seconds = time.perf_counter() - started
    records, digest = found if isinstance(found, tuple) else (found, None)
    print(json.dumps({"seconds": seconds, "records": records, "digest": digest}))


if __name__ == "__main__":
    main()
