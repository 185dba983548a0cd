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
        "20 ms, against the floor = pages x measured round trip; the CLI, a whole process, "
        "against the bare loop writing the same NDJSON as a whole process too)",
        "",
        "| contacts | per page | latency | floor | bare httpx | connector (shim) | shim / bare "
        "| shim / floor | CLI NDJSON | bare NDJSON, whole process | CLI / bare process "
        "| CLI / bare | SDK 5.0.1 | SDK / shim |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: |",
    ]
    for row in results["fetch_all"]:
        floor = row["floor"]
        bare, shim, cli, sdk = row["bare"], row["shim"], row["cli"], row["sdk"]
        process = row["bare_process"]
        to_floor = _x(shim / floor) if row["latency_ms"] else "-"
        lines.append(
            f"| {row['contacts']:,} | {row['per_page']} | {row['latency_ms']} ms | {floor:.3f} "
            f"| {bare:.3f} | {shim:.3f} | {_x(shim / bare)} | {to_floor} | {cli:.3f} "
            f"| {process:.3f} | {_x(cli / process)} | {_x(cli / bare)} | {sdk:.2f} "
            f"| {_x(sdk / shim)} |"
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
        f"**4. Cold start** (bytecode compiled, as an install has it; medians of nine "
        "rounds, the three taken in turn on the client's core): "
        f"`intercom-connector run get_contact` {cold['ours']:.3f} s; "
        f"`python -c 'import httpx'` {cold['httpx_import']:.3f} s; the SDK's first call "
        f"{cold['sdk']:.3f} s ({_x(cold['ours'] / cold['httpx_import'])} and "
        f"{_x(cold['ours'] / cold['sdk'])}).",
        "",
        f"**5. Peak memory of the NDJSON Fetch All** (whole CLI process): 5,000 records "
        f"{memory['5000'] / 1024:.1f} MiB, 100,000 records {memory['100000'] / 1024:.1f} MiB: "
        f"**{_x(memory['100000'] / memory['5000'])}**.",
        "",
    ]
    return "\n".join(lines + _new_sections(results) + _targets(results))


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _targets(results: dict[str, Any]) -> list[str]:
    """Every target, from this run's numbers (the analysis below the markers says why)."""
    rows = results["fetch_all"]
    shim_bare = [row["shim"] / row["bare"] for row in rows]
    cli_bare = [row["cli"] / row["bare_process"] for row in rows]
    slow = [row for row in rows if row["latency_ms"]]
    shim_floor = [row["shim"] / row["floor"] for row in slow]
    companies, shim, cold = results["companies"], results["shim"], results["cold_start"]
    memory, bulk, search = results["memory"], results["bulk"], results["search"]
    ceiling, unlimited = bulk["ceiling"], bulk["unlimited"]
    speedup = unlimited["one_at_a_time"] / unlimited["side_by_side"]
    big = [(b["contacts"], b["cli"] / b["floor"]) for b in results["big_pages"]]
    cold_ratio = cold["ours"] / cold["httpx_import"]
    exact = not ceiling["lost"] and not ceiling["duplicated"] and ceiling["in_order"]
    ceiling_met = ceiling["ideal"] / ceiling["seconds"] >= 0.9 and exact
    split_met = search["split"] / search["floor"] <= 0.35 and search["same_records_in_order"]
    lines = [
        "**Targets**, from this run:",
        "",
        "| target | this run | |",
        "| --- | --- | --- |",
        f"| Fetch All through the shim within 1.10x of the bare loop | {min(shim_bare):.2f}x to "
        f"{max(shim_bare):.2f}x | {_met(max(shim_bare) <= 1.10)} |",
        f"| Fetch All through the CLI (NDJSON) within 1.10x of the bare loop (each a whole "
        "process writing NDJSON) | "
        f"{min(cli_bare):.2f}x to {max(cli_bare):.2f}x | {_met(max(cli_bare) <= 1.10)} |",
        f"| at 20 ms, the shim within 1.10x of pages x round trip | {min(shim_floor):.2f}x to "
        f"{max(shim_floor):.2f}x | {_met(max(shim_floor) <= 1.10)} |",
        f"| companies side by side >= 4x faster than one page at a time | "
        f"{companies['sequential'] / companies['concurrent']:.1f}x | "
        f"{_met(companies['sequential'] / companies['concurrent'] >= 4)} |",
        f"| shim overhead <= 10% of a loopback round trip | "
        f"{(shim['shim'] - shim['direct']) / shim['rtt'] * 100:.0f}% | "
        f"{_met((shim['shim'] - shim['direct']) / shim['rtt'] <= 0.10)} |",
        f"| peak memory of NDJSON Fetch All, 100,000 vs 5,000 records <= 1.2x | "
        f"{memory['100000'] / memory['5000']:.2f}x | "
        f"{_met(memory['100000'] / memory['5000'] <= 1.2)} |",
        f"| bulk create at 500 requests / 10 s: >= 0.90x of the ceiling, 0 lost, 0 duplicated, "
        f"in order | {ceiling['ideal'] / ceiling['seconds']:.2f}x, {ceiling['lost']} lost, "
        f"{ceiling['duplicated']} duplicated, {'in order' if ceiling['in_order'] else 'NOT'} | "
        f"{_met(ceiling_met)} |",
        f"| bulk create without a limit >= 8x faster than one call at a time | {speedup:.1f}x | "
        f"{_met(speedup >= 8)} |",
    ]
    if "temporal" in bulk:  # bench/temporal_bulk.py
        from temporal_bulk import met

        on = bulk["temporal"]
        lines.append(
            f"| bulk on Temporal, 2 workers, one killed midway, 500 requests / 10 s: >= 0.90x "
            f"of the ceiling (the limit's rate), no 429, 0 lost, 0 duplicated | "
            f"{on['of_ceiling']:.2f}x "
            f"({on['of_burst_ideal']:.2f}x of the burst ideal), "
            f"{on['refused_429']} 429, {on['lost']} lost, {on['duplicated']} duplicated | "
            f"{_met(met(on))} |"
        )
    for run in bulk["faults"]:
        exact = run["done_once"] == run["done"] and not run["duplicated"] and not run["lost"]
        exact = exact and not run.get("wrong_answer")
        every = run["done"] == run["rows"]
        lines.append(
            f"| fault run (5xx, 429, drops, killed and restarted with its journal): every row "
            f"done exactly once, `{run['action']}` | {run['done']:,} of {run['rows']:,} done once, "
            f"{run['outcome_unknown']} outcome unknown, 0 twice: "
            f"{'yes' if exact and run['rerun_sent_nothing'] else 'NO'} | "
            f"{_met(exact and every and run['rerun_sent_nothing'])} |"
        )
    lines += [
        f"| Search Fetch All of {search['contacts']:,} at 20 ms <= 0.35x of pages x round trip, "
        f"the walk's records | {search['split'] / search['floor']:.2f}x, same records in order"
        f" | {_met(split_met)} |",
        f"| cold start of `run get_contact` within 1.5x of `import httpx` | {cold_ratio:.2f}x | "
        f"{_met(cold_ratio <= 1.5)} |",
    ]
    if "memory" in bulk:
        ratio = bulk["memory"]["100000"] / bulk["memory"]["5000"]
        lines.append(
            f"| bulk run memory, 100,000 vs 5,000 rows <= 1.2x | {ratio:.2f}x "
            f"| {_met(ratio <= 1.2)} |"
        )
    for contacts, ratio in big:
        lines.append(
            f"| CLI Fetch All of {contacts:,} records of about 1.8 KB at 20 ms within 1.10x of "
            f"pages x round trip | {ratio:.2f}x | {_met(ratio <= 1.10)} |"
        )
    lines.append("")
    return lines


def _new_sections(results: dict[str, Any]) -> list[str]:
    search, bulk = results["search"], results["bulk"]
    ceiling, unlimited = bulk["ceiling"], bulk["unlimited"]
    lines = [
        f"**6. Search Fetch All of {search['contacts']:,} matching contacts, "
        f"{search['per_page']} a page, 20 ms latency** (floor = pages x measured round trip "
        f"{search['floor']:.2f} s): split into ranges of created_at {search['split']:.2f} s, "
        f"**{_x(search['split'] / search['floor'])} of the floor**; the sequential walk "
        f"{search['walk']:.2f} s ({_x(search['walk'] / search['floor'])}). The same records in "
        "the same order: "
        f"{'yes' if search['same_records_in_order'] else 'NO'} (a digest of the ids in order).",
        "",
        "**7. CLI Fetch All of records of about 1.8 KB** (150 a page of "
        f"{results['big_pages'][0]['page_kb']:.0f} KB, 20 ms latency; seconds, and ratios to the "
        "floor = pages x measured round trip)",
        "",
        "| contacts | floor | CLI NDJSON (start-up included) | CLI / floor | shim | shim / floor "
        "| bare httpx | bare / floor | bare NDJSON, whole process | process / floor |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {big['contacts']:,} | {big['floor']:.2f} | {big['cli']:.2f} | "
            f"**{_x(big['cli'] / big['floor'])}** | {big['shim']:.2f} | "
            f"{_x(big['shim'] / big['floor'])} | {big['bare']:.2f} | "
            f"{_x(big['bare'] / big['floor'])} | {big['bare_process']:.2f} | "
            f"{_x(big['bare_process'] / big['floor'])} |"
            for big in results["big_pages"]
        ),
        "",
        *(
            f"At {big['contacts']:,} records the CLI reading a single page takes "
            f"{big['cli_one_page'] * 1000:.0f} ms as a whole process, "
            f"{(big['cli_one_page'] - big['round_trip']) * 1000:.0f} ms more than the round "
            f"trip: {100 * (big['cli_one_page'] - big['round_trip']) / big['floor']:.1f}% of "
            "this floor before any page beyond the first."
            for big in results["big_pages"][:1]
            if "cli_one_page" in big
        ),
        "",
        f"**8. Bulk create of {ceiling['rows']:,} contacts at 20 ms** (`run create_contact "
        "--each`, default concurrency):",
        "",
        f"- limited to {ceiling['limit']} requests a 10-second window: {ceiling['seconds']:.2f} s "
        f"from the first request to the last answer; the ideal client (each window's "
        f"{ceiling['limit']} sent the instant it opens) {ceiling['ideal']:.2f} s: "
        f"**{_x(ceiling['ideal'] / ceiling['seconds'])} of the ceiling**; "
        f"{ceiling['refused_429']} answers 429, {ceiling['lost']} lost, "
        f"{ceiling['duplicated']} duplicated, results in the rows' order: "
        f"{'yes' if ceiling['in_order'] else 'NO'}.",
        f"- no limit: side by side {unlimited['side_by_side']:.2f} s, one call at a time "
        f"{unlimited['one_at_a_time']:.2f} s: "
        f"**{unlimited['one_at_a_time'] / unlimited['side_by_side']:.1f}x faster**.",
    ]
    if "memory" in bulk:
        memory = bulk["memory"]
        lines.append(
            f"- peak memory (whole CLI process): 5,000 rows {memory['5000'] / 1024:.1f} MiB, "
            f"100,000 rows {memory['100000'] / 1024:.1f} MiB: "
            f"**{_x(memory['100000'] / memory['5000'])}**."
        )
    for run in bulk["faults"]:
        faults = ", ".join(f"{count} {kind}" for kind, count in sorted(run["faults"].items()))
        lines.append(
            f"- faults ({faults}), `{run['action']}` of {run['rows']:,} rows with a journal, "
            f"killed after {run['killed_at']:,} results and started again ({run['runs']} runs): "
            f"**{run['done']:,} rows done, each once** ({run['done_once']:,} in the journal), "
            f"{run['outcome_unknown']} outcome unknown (of which the server had made "
            f"{run['unknown_made']}), {run['duplicated']} duplicated, {run['lost']} lost; a "
            f"further run sent nothing: {'yes' if run['rerun_sent_nothing'] else 'NO'}."
        )
        if run.get("sent_again_409"):
            lines[-1] = lines[-1][:-1] + (
                f"; {run['sent_again_409']} creates whose answer was lost were sent again and "
                "answered 409 (the server, like Intercom, keeps one user per email), each "
                "settled as the contact the 409 named: every row's answer the contact made "
                f"for its email: {'yes' if not run['wrong_answer'] else 'NO'}."
            )
    lines.append("")
    return lines


def main() -> None:
    results = json.loads((BENCH / "results.json").read_text())
    readme = BENCH / "README.md"
    text = readme.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + BEGIN + tables(results) + END + tail)


if __name__ == "__main__":
    main()
