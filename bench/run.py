"""Run every benchmark side by side and write the results table into bench/README.md.

    .venv/bin/python bench/run.py [--quick]

The list server runs on core 1 and every client on core 0 (2-core machines), each
client in its own process. The official SDK runs in its own virtual environment,
bench/.venv-sdk, created here on first use from bench/requirements-sdk.txt.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
SDK_VENV = BENCH / ".venv-sdk"
SERVER_CPU, CLIENT_CPU = 1, 0
PYTHON = sys.executable
CLI = str(Path(PYTHON).with_name("intercom-connector"))


def sdk_python() -> str:
    python = SDK_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(SDK_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(BENCH / "requirements-sdk.txt")],
            check=True,
        )
    return str(python)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def list_server(
    contacts: int, companies: int = 0, latency_ms: float = 0, extra: Sequence[str] = ()
) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, str(BENCH / "server.py"), "--port", str(port), "--contacts", str(contacts),
         "--companies", str(companies), "--latency", str(latency_ms), "--cpu", str(SERVER_CPU),
         *extra],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{url}/ping", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait()


def client_run(kind: str, url: str, per_page: int) -> dict[str, Any]:
    python = sdk_python() if kind == "sdk" else PYTHON
    done = subprocess.run(
        [python, str(BENCH / "clients.py"), kind, url, str(per_page), str(CLIENT_CPU)],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def cli_ndjson(url: str, per_page: int) -> dict[str, Any]:
    """The CLI streaming NDJSON to a file: wall time of the whole process, peak RSS."""
    env = {**os.environ, "INTERCOM_ACCESS_TOKEN": "bench-token", "INTERCOM_BASE_URL": url}
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            ["taskset", "-c", str(CLIENT_CPU), CLI, "run", "list_contacts",
             "-i", "fetch_all=true", "-i", f"per_page={per_page}", "--output", "ndjson"],
            stdout=out, env=env,
        )  # fmt: skip
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        assert status == 0
        out.seek(0)
        records = sum(1 for _ in out)
    return {"seconds": seconds, "records": records, "peak_rss_kb": usage.ru_maxrss}


def bare_process(url: str, per_page: int) -> dict[str, Any]:
    """The bare loop writing NDJSON to a file, as a whole process (start-up included), timed
    as the CLI is: the same work, the same way."""
    with tempfile.NamedTemporaryFile() as out:
        env = {**os.environ, "BENCH_NDJSON": out.name}
        command = [PYTHON, str(BENCH / "clients.py"), "bare-ndjson", url, str(per_page)]
        started = time.perf_counter()
        subprocess.run(["taskset", "-c", str(CLIENT_CPU), *command], env=env, check=True,
                       stdout=subprocess.DEVNULL, cwd=REPO)  # fmt: skip
        seconds = time.perf_counter() - started
        records = sum(1 for _ in out)
    return {"seconds": seconds, "records": records}


def rtt(url: str, samples: int = 50) -> float:
    with httpx.Client() as client:
        client.get(f"{url}/ping")
        started = time.perf_counter()
        for _ in range(samples):
            client.get(f"{url}/ping")
    return (time.perf_counter() - started) / samples


def median_run(run: Any, repeats: int) -> dict[str, Any]:
    results = [run() for _ in range(repeats)]
    results.sort(key=lambda r: r["seconds"])
    return results[len(results) // 2]


def fetch_all_table(quick: bool) -> list[dict[str, Any]]:
    rows = []
    sizes = [10_000] if quick else [10_000, 50_000]
    for contacts in sizes:
        for latency in (0, 20):
            with list_server(contacts, latency_ms=latency) as url:
                round_trip = rtt(url, 10 if latency else 50)
                for per_page in (150, 50):
                    # the median of three, but for the runs of many seconds (50,000 at 20 ms,
                    # the SDK at 20 ms): those are long enough to be steady on their own
                    repeats = 1 if quick or (latency and contacts > 10_000) else 3
                    row: dict[str, Any] = {
                        "contacts": contacts, "per_page": per_page, "latency_ms": latency,
                        "floor": -(-contacts // per_page) * round_trip,
                    }  # fmt: skip
                    for kind in ("bare", "shim", "sdk"):
                        times = 1 if kind == "sdk" and latency else repeats
                        result = median_run(partial(client_run, kind, url, per_page), times)
                        assert result["records"] == contacts, (kind, result)
                        row[kind] = result["seconds"]
                    cli = median_run(partial(cli_ndjson, url, per_page), repeats)
                    assert cli["records"] == contacts, cli
                    row["cli"] = cli["seconds"]
                    process = median_run(partial(bare_process, url, per_page), repeats)
                    assert process["records"] == contacts, process
                    row["bare_process"] = process["seconds"]
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    return rows


def companies_row() -> dict[str, Any]:
    with list_server(100, companies=10_000, latency_ms=20) as url:
        sequential = client_run("companies-sequential", url, 50)
        concurrent = client_run("companies", url, 50)
    assert sequential["records"] == concurrent["records"] == 10_000
    return {"sequential": sequential["seconds"], "concurrent": concurrent["seconds"]}


def shim_overhead() -> dict[str, float]:
    """invoke() of a small action vs the client directly, in-process, vs one loopback RTT."""
    from intercom_connector import Connector

    body = json.dumps({"type": "contact", "id": "x" * 24}).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    connection = {"type": "access_token", "access_token": "t", "base_url": "http://127.0.0.1:1"}
    calls = 3_000
    with Connector(connection, transport=transport) as intercom:
        intercom.invoke("get_contact", {"contact_id": "abc"})
        started = time.perf_counter()
        for _ in range(calls):
            intercom.invoke("get_contact", {"contact_id": "abc"})
        via_shim = (time.perf_counter() - started) / calls
        client = intercom.client
        started = time.perf_counter()
        for _ in range(calls):
            client.request("GET", "/contacts/{id}", path_params={"id": "abc"})
        direct = (time.perf_counter() - started) / calls
    with list_server(10) as url:
        round_trip = rtt(url, 500)
    return {"shim": via_shim, "direct": direct, "rtt": round_trip}


def compile_bytecode() -> None:
    """An installed package has its bytecode compiled (pip does it at install time); a
    working copy may have none (PYTHONDONTWRITEBYTECODE), and every CLI start would then
    compile every module it imports."""
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", "-x", r"/(\.venv|bench|tests|build)/", str(REPO)],
        check=True, capture_output=True,
    )  # fmt: skip


def cold_start(rounds: int = 9) -> dict[str, float]:
    """Whole processes on the client's core, taken in turn (ours, `import httpx`, the SDK)
    round after round, so that a change in the machine's speed meets all three alike."""

    def once(command: list[str], env: dict[str, str] | None = None) -> float:
        started = time.perf_counter()
        subprocess.run(["taskset", "-c", str(CLIENT_CPU), *command], check=True,
                       capture_output=True, env=env)  # fmt: skip
        return time.perf_counter() - started

    runs: dict[str, list[float]] = {"ours": [], "httpx_import": [], "sdk": []}
    with list_server(10) as url:
        env = {**os.environ, "INTERCOM_ACCESS_TOKEN": "bench-token", "INTERCOM_BASE_URL": url}
        contact_id = f"{3:024x}"
        sdk_call = (
            "from intercom import Intercom; "
            f"Intercom(token='t', base_url='{url}').contacts.find(contact_id='{contact_id}')"
        )
        for _ in range(rounds):
            runs["ours"].append(
                once([CLI, "run", "get_contact", "-i", f"contact_id={contact_id}"], env)
            )
            runs["httpx_import"].append(once([PYTHON, "-c", "import httpx"]))
            runs["sdk"].append(once([sdk_python(), "-c", sdk_call]))
    return {kind: statistics.median(times) for kind, times in runs.items()}


def search_split(quick: bool) -> dict[str, Any]:
    """Fetch All of Search Contacts split into ranges vs the sequential walk, at 20 ms."""
    contacts, per_page = (10_000 if quick else 50_000), 150
    with list_server(contacts, latency_ms=20) as url:
        round_trip = rtt(url, 10)
        split = client_run("search", url, per_page)
        walk = client_run("search-walk", url, per_page)
    assert split["records"] == walk["records"] == contacts, (split, walk)
    assert split["digest"] == walk["digest"], "the split gave other records, or another order"
    return {
        "contacts": contacts, "per_page": per_page, "floor": -(-contacts // per_page) * round_trip,
        "split": split["seconds"], "walk": walk["seconds"], "same_records_in_order": True,
    }  # fmt: skip


def big_pages(contacts: int) -> dict[str, Any]:
    """CLI Fetch All of records of about 1.8 KB at 20 ms, vs pages x round trip."""
    per_page = 150
    with list_server(contacts, latency_ms=20, extra=["--big"]) as url:
        page = httpx.get(f"{url}/contacts", params={"per_page": per_page}, timeout=30).content
        round_trip = rtt(url, 10)
        cli = median_run(partial(cli_ndjson, url, per_page), 3)
        shim = client_run("shim", url, per_page)
        bare = client_run("bare", url, per_page)
        whole = bare_process(url, per_page)
        one_page = median_run(partial(cli_one_page, url, per_page), 5)
    assert cli["records"] == shim["records"] == bare["records"] == whole["records"] == contacts
    return {
        "contacts": contacts, "per_page": per_page, "page_kb": len(page) / 1000,
        "floor": -(-contacts // per_page) * round_trip, "round_trip": round_trip,
        "cli": cli["seconds"], "shim": shim["seconds"], "bare": bare["seconds"],
        "bare_process": whole["seconds"], "cli_one_page": one_page["seconds"],
    }  # fmt: skip


def cli_one_page(url: str, per_page: int) -> dict[str, Any]:
    """The CLI reading one page: its start-up, plus a round trip."""
    env = {**os.environ, "INTERCOM_ACCESS_TOKEN": "bench-token", "INTERCOM_BASE_URL": url}
    command = ["taskset", "-c", str(CLIENT_CPU), CLI, "run", "list_contacts",
               "-i", f"per_page={per_page}", "--output", "ndjson"]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return {"seconds": time.perf_counter() - started}


# -- bulk runs --------------------------------------------------------------------------


def rows_file(folder: Path, count: int, action: str) -> Path:
    path = folder / f"{action}-{count}.ndjson"
    with path.open("w") as out:
        for n in range(1, count + 1):
            row = {"email": f"bulk-{n}@example.com", "name": f"Bulk {n}"}
            if action == "create_company":
                row = {"company_id": f"co-{n}", "name": f"Company {n}"}
            out.write(json.dumps(row) + "\n")
    return path


def cli_each(
    url: str, action: str, rows: Path, *options: str, kill_after: int | None = None
) -> dict[str, Any]:
    """``run ACTION --each ROWS`` as its own process: time, peak memory, its results.
    ``kill_after``: killed (SIGKILL) once the journal holds that many results."""
    env = {**os.environ, "INTERCOM_ACCESS_TOKEN": "bench-token", "INTERCOM_BASE_URL": url}
    command = ["taskset", "-c", str(CLIENT_CPU), CLI, "run", action, "--each", str(rows), *options]
    journal = Path(options[options.index("--journal") + 1]) if kill_after is not None else None
    peak = 0
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=env)
        while True:
            pid, status, _ = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            # the child's own high-water mark: wait4's ru_maxrss also counts what this
            # (much bigger) process held when it forked the child
            peak = max(peak, _high_water_kb(process.pid))
            ended = journal.read_bytes().count(b'"result"') if journal and journal.exists() else 0
            if journal is not None and ended >= (kill_after or 0):
                process.send_signal(signal.SIGKILL)
                journal = None
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        out.seek(0)
        results = [json.loads(line) for line in out]
    return {"seconds": seconds, "peak_rss_kb": peak, "status": status, "results": results}


def _high_water_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def stats(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/bench/stats", timeout=30).json()  # type: ignore[no-any-return]


def in_order_and_done(results: list[dict[str, Any]], count: int) -> bool:
    return [r["row"] for r in results] == list(range(1, count + 1)) and all(
        "data" in r for r in results
    )


def bulk_ceiling(folder: Path, rows: int = 2_000, limit: int = 500) -> dict[str, Any]:
    """Creates at 20 ms against 500 requests a 10-second window, vs the ideal client: it
    sends each window's 500 the instant the window opens (windows aligned to the clock,
    as Intercom's are), so it ends one round trip after the last window it needs opens."""
    with list_server(1, latency_ms=20, extra=["--rate-limit", str(limit)]) as url:
        round_trip = rtt(url, 5)
        time.sleep(10 - time.time() % 10 + 0.05)  # a fresh window: the ping used some
        run = cli_each(url, "create_contact", rows_file(folder, rows, "create_contact"))
        seen = stats(url)
    first, last = seen["first_request"], seen["last_answer"]
    window = first - first % 10
    ideal = window + 10 * (-(-rows // limit) - 1) + round_trip - first
    created = seen["contacts_created"]
    return {
        "rows": rows, "limit": limit, "seconds": last - first, "ideal": ideal,
        "in_order": in_order_and_done(run["results"], rows),
        "lost": rows - len(created), "duplicated": sum(1 for n in created.values() if n > 1),
        "refused_429": seen["refused"].get("rate_limit_exceeded", 0),
    }  # fmt: skip


def bulk_unlimited(folder: Path, rows: int = 2_000) -> dict[str, Any]:
    """Side by side (default concurrency) vs one call at a time, at 20 ms, no limit."""
    path = rows_file(folder, rows, "create_contact")
    with list_server(1, latency_ms=20) as url:
        side = cli_each(url, "create_contact", path)
    with list_server(1, latency_ms=20) as url:
        one = cli_each(url, "create_contact", path, "--concurrency", "1")
    assert in_order_and_done(side["results"], rows) and in_order_and_done(one["results"], rows)
    return {"rows": rows, "side_by_side": side["seconds"], "one_at_a_time": one["seconds"]}


def bulk_memory(folder: Path) -> dict[str, int]:
    peaks = {}
    for rows in (5_000, 100_000):
        with list_server(1) as url:
            run = cli_each(url, "create_contact", rows_file(folder, rows, "create_contact"))
        assert in_order_and_done(run["results"], rows)
        peaks[rows] = run["peak_rss_kb"]
    return peaks


FAULTS = "error=0.05,limit=0.05,drop=0.02,seed=7"


def bulk_faults(folder: Path, action: str, rows: int = 2_000) -> dict[str, Any]:
    """Creates through 5xx, 429 and dropped connections, killed at a third and started
    again with its journal until it ends, then once more (which must send nothing)."""
    path = rows_file(folder, rows, action)
    journal = folder / f"{action}.journal"
    with list_server(1, latency_ms=2, extra=["--faults", FAULTS]) as url:
        options = ("--journal", str(journal))
        killed = cli_each(url, action, path, *options, kill_after=rows // 3)
        runs = [cli_each(url, action, path, *options)]
        while runs[-1]["status"] != 0 and len(runs) < 5 and not _only_unknown(runs[-1]):
            runs.append(cli_each(url, action, path, *options))
        before = stats(url)
        again = cli_each(url, action, path, *options)
        after = stats(url)
    results = runs[-1]["results"]
    done = [r for r in results if "data" in r]
    unknown = [r for r in results if "error" in r and r["error"].get("outcome_unknown")]
    made = before["companies_upserted" if action == "create_company" else "contacts_created"]
    # a contact row's answer must be the contact the server made for its email (for one
    # whose answer was lost: what the 409 to its second sending named)
    ids = before.get("contacts_made", {})
    wrong = [
        r
        for r in done
        if action == "create_contact" and ids.get(_key(r, action)) != r["data"]["id"]
    ]
    faults = dict(before["refused"])
    settled = faults.pop("conflict", 0)
    journaled: dict[int, int] = {}
    for line in journal.read_bytes().splitlines()[1:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the line the kill cut short
        if "data" in entry.get("result", {}):
            journaled[entry["row"]] = journaled.get(entry["row"], 0) + 1
    return {
        "action": action, "rows": rows, "killed_at": len(killed["results"]),
        "runs": 1 + len(runs), "in_order": [r["row"] for r in results] == list(range(1, rows + 1)),
        "done": len(done), "outcome_unknown": len(unknown),
        "done_once": sum(1 for n in journaled.values() if n == 1),
        "duplicated": sum(1 for n in made.values() if n > 1) if action == "create_contact" else 0,
        "lost": sum(1 for r in done if _key(r, action) not in made),
        "unknown_made": sum(1 for r in unknown if _row_key(r["row"], action) in made),
        "rerun_sent_nothing": after["last_answer"] == before["last_answer"]
        and again["results"] == results,
        "faults": faults, "sent_again_409": settled, "wrong_answer": len(wrong),
    }  # fmt: skip


def _only_unknown(run: dict[str, Any]) -> bool:
    errors = [r["error"] for r in run["results"] if "error" in r]
    return bool(errors) and all(e.get("outcome_unknown") for e in errors)


def _row_key(row: int, action: str) -> str:
    return f"co-{row}" if action == "create_company" else f"bulk-{row}@example.com"


def _key(result: dict[str, Any], action: str) -> str:
    data = result["data"]
    return str(data["company_id"] if action == "create_company" else data["email"])


def bulk(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        results: dict[str, Any] = {
            "ceiling": bulk_ceiling(folder),
            "unlimited": bulk_unlimited(folder),
            "faults": [bulk_faults(folder, kind) for kind in ("create_company", "create_contact")],
        }
        if not quick:
            results["memory"] = bulk_memory(folder)
    if importlib.util.find_spec("temporalio") is not None:  # the temporal extra
        from temporal_bulk import temporal_bulk  # bench/ is this script's folder

        results["temporal"] = temporal_bulk()
    return results


def memory() -> dict[str, int]:
    peaks = {}
    for contacts in (5_000, 100_000):
        with list_server(contacts) as url:
            peaks[contacts] = cli_ndjson(url, 150)["peak_rss_kb"]
    return peaks


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10,000 contacts only, one run each")
    args = parser.parse_args()
    compile_bytecode()
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(),
        "fetch_all": fetch_all_table(args.quick),
        "companies": companies_row(),
        "shim": shim_overhead(),
        "cold_start": cold_start(),
        "memory": memory(),
        "search": search_split(args.quick),
        "big_pages": [big_pages(n) for n in ([10_000] if args.quick else [10_000, 50_000])],
        "bulk": bulk(args.quick),
    }
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    from report import main as write_report  # bench/ is this script's folder

    write_report()


if __name__ == "__main__":
    main()
