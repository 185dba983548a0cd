"""Run every benchmark side by side and write the results table into bench/README.md.

    .venv/bin/python bench/run.py [--quick]

The list server runs on core 1 and every client on core 0 (2-core machines), each
client in its own process. The official SDK runs in its own virtual environment,
bench/.venv-sdk, created here on first use from bench/requirements-sdk.txt.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
def list_server(contacts: int, companies: int = 0, latency_ms: float = 0) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, str(BENCH / "server.py"), "--port", str(port), "--contacts", str(contacts),
         "--companies", str(companies), "--latency", str(latency_ms), "--cpu", str(SERVER_CPU)],
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
                    repeats = 1 if latency or quick else 3
                    row: dict[str, Any] = {
                        "contacts": contacts, "per_page": per_page, "latency_ms": latency,
                        "floor": -(-contacts // per_page) * round_trip,
                    }  # fmt: skip
                    for kind in ("bare", "shim", "sdk"):
                        result = median_run(partial(client_run, kind, url, per_page), repeats)
                        assert result["records"] == contacts, (kind, result)
                        row[kind] = result["seconds"]
                    cli = median_run(partial(cli_ndjson, url, per_page), repeats)
                    assert cli["records"] == contacts, cli
                    row["cli"] = cli["seconds"]
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


def cold_start() -> dict[str, float]:
    def timed(command: list[str], env: dict[str, str] | None = None) -> float:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env)
            runs.append(time.perf_counter() - started)
        return statistics.median(runs)

    with list_server(10) as url:
        env = {**os.environ, "INTERCOM_ACCESS_TOKEN": "bench-token", "INTERCOM_BASE_URL": url}
        contact_id = f"{3:024x}"
        ours = timed([CLI, "run", "get_contact", "-i", f"contact_id={contact_id}"], env)
        sdk_call = (
            "from intercom import Intercom; "
            f"Intercom(token='t', base_url='{url}').contacts.find(contact_id='{contact_id}')"
        )
        sdk = timed([sdk_python(), "-c", sdk_call])
    httpx_import = timed([PYTHON, "-c", "import httpx"])
    return {"ours": ours, "httpx_import": httpx_import, "sdk": sdk}


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
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(),
        "fetch_all": fetch_all_table(args.quick),
        "companies": companies_row(),
        "shim": shim_overhead(),
        "cold_start": cold_start(),
        "memory": memory(),
    }
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    from report import main as write_report  # bench/ is this script's folder

    write_report()


if __name__ == "__main__":
    main()
