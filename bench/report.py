"""Render bench/results.json as the tables of bench/README.md (between its markers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
BEGIN = "<!-- BEGIN RESULTS -->\n"
END = "<!-- END RESULTS -->"


def _x(value: float) -> str:
    return f"{value:.2f}x"


def tables(results: dict[str, Any]) -> str:
    lines = [
        f"Measured on {results['date']}: {results['machine']}. Server on core 1, each "
        "client in its own process on core 0.",
        "",
        "**1. Fetch All contacts** (seconds; ratios against the bare httpx loop and, at "
        "20 ms, against the floor = pages x measured round trip)",
        "",
        "| contacts | per page | latency | floor | bare httpx | connector (shim) | shim / bare "
        "| shim / floor | CLI NDJSON | CLI / bare | SDK 5.0.1 | SDK / shim |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["fetch_all"]:
        floor = row["floor"]
        bare, shim, cli, sdk = row["bare"], row["shim"], row["cli"], row["sdk"]
        to_floor = _x(shim / floor) if row["latency_ms"] else "-"
        lines.append(
            f"| {row['contacts']:,} | {row['per_page']} | {row['latency_ms']} ms | {floor:.3f} "
            f"| {bare:.3f} | {shim:.3f} | {_x(shim / bare)} | {to_floor} | {cli:.3f} "
            f"| {_x(cli / bare)} | {sdk:.2f} | {_x(sdk / shim)} |"
        )
    companies = results["companies"]
    shim = results["shim"]
    cold = results["cold_start"]
    memory = results["memory"]
    overhead = shim["shim"] - shim["direct"]
    lines += [
        "",
        "**2. Fetch All of 10,000 companies, 50 a page, 20 ms latency**: sequential "
        f"{companies['sequential']:.2f} s, side by side {companies['concurrent']:.2f} s: "
        f"**{companies['sequential'] / companies['concurrent']:.1f}x faster** (the list server "
        "sends `X-RateLimit-Remaining` but never limits; a limited run is in "
        "tests/test_reliability.py).",
        "",
        f"**3. Shim overhead**: `invoke()` of Get Contact {shim['shim'] * 1e6:.0f} us vs the "
        f"client directly {shim['direct'] * 1e6:.0f} us: {overhead * 1e6:.0f} us, "
        f"**{overhead / shim['rtt'] * 100:.0f}% of one loopback round trip** "
        f"({shim['rtt'] * 1e6:.0f} us).",
        "",
        f"**4. Cold start**: `intercom-connector run get_contact` {cold['ours']:.3f} s; "
        f"`python -c 'import httpx'` {cold['httpx_import']:.3f} s; the SDK's first call "
        f"{cold['sdk']:.3f} s ({_x(cold['ours'] / cold['httpx_import'])} and "
        f"{_x(cold['ours'] / cold['sdk'])}).",
        "",
        f"**5. Peak memory of the NDJSON Fetch All** (whole CLI process): 5,000 records "
        f"{memory['5000'] / 1024:.1f} MiB, 100,000 records {memory['100000'] / 1024:.1f} MiB: "
        f"**{_x(memory['100000'] / memory['5000'])}**.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    results = json.loads((BENCH / "results.json").read_text())
    readme = BENCH / "README.md"
    text = readme.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + BEGIN + tables(results) + END + tail)


if __name__ == "__main__":
    main()
