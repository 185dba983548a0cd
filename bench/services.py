"""The HTTP services under load (issue 21): ``mcp --http --stateless`` and ``trigger listen``.

    .venv/bin/python bench/services.py            # about 4 minutes
    .venv/bin/python bench/services.py --quick    # fewer calls: a check that it works

Writes bench/results-services.json and prints it. What is measured:

- **MCP load**: 50 clients at once, 100 tool calls each (``get_contact``), each call its
  own POST with a bearer token, on the sandbox: errors, median and 99th percentile.
- **MCP memory**: the server's resident memory after 5,000 calls and after 50,000
  (target: at most 1.2 times).
- **MCP overhead**: one call at a time, the median of a tool call over HTTP against the
  median of ``Connector.invoke`` of the same action on the same sandbox (target: 2 ms).
- **Listener at 1,000 deliveries a second for 30 s**, each signed: every delivery answered
  2xx is in the output exactly once; resident memory at 10 s and at 30 s.
- **Listener throughput**: signed deliveries as fast as 8 senders send them, the listener
  pinned to one core (target: 2,000 a second).

The sandbox and the clients run in this process; each service in its own, pinned to core 1
where the machine has two (the clients on core 0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from service_support import (  # noqa: E402
    TOKENS,
    WEBHOOK_SECRET,
    environment,
    notification,
    signed,
)

from intercom_connector import Connector  # noqa: E402
from intercom_connector.sandbox import Sandbox, ServerHandle  # noqa: E402

SANDBOX_TOKEN = "bench-token-00000000"
PIN = os.cpu_count() and os.cpu_count() >= 2  # type: ignore[operator]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start(args: list[str], env: dict[str, str], errlog: Path, **popen: Any) -> tuple[Any, str]:
    command = [sys.executable, "-m", "intercom_connector", *args]
    if PIN:
        command = ["taskset", "-c", "1", *command]
    with errlog.open("w") as errors:
        process = subprocess.Popen(command, stderr=errors, env=env, cwd=REPO, **popen)
    deadline = time.monotonic() + 60
    while not (found := re.search(r"http://[\d.]+:(\d+)(/\w*)", errlog.read_text())):
        assert process.poll() is None and time.monotonic() < deadline, errlog.read_text()
        time.sleep(0.05)
    return process, f"http://127.0.0.1:{found.group(1)}{found.group(2)}"


def stop(process: Any) -> int:
    process.terminate()
    return int(process.wait(timeout=120))


def mcp_call(client: httpx.Client, url: str, contact_id: str) -> tuple[float, bool]:
    arguments = {"contact_id": contact_id}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "get_contact", "arguments": arguments}}  # fmt: skip
    headers = {"Authorization": f"Bearer {TOKENS[0]}", "Accept": "application/json"}
    started = time.perf_counter()
    try:
        answer = client.post(url, json=message, headers=headers, timeout=60)
        ok = answer.status_code == 200 and not answer.json()["result"].get("isError")
    except httpx.HTTPError:
        ok = False
    return time.perf_counter() - started, ok


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def mcp_bench(folder: Path, quick: bool) -> dict[str, Any]:
    sandbox = ServerHandle(Sandbox(":memory:", token=SANDBOX_TOKEN).app, "127.0.0.1", 0, 16)
    connection = folder / "connection.json"
    fields = {"type": "access_token", "access_token": SANDBOX_TOKEN, "base_url": sandbox.url}
    connection.write_text(json.dumps(fields))
    connection.chmod(0o600)
    with Connector(fields) as connector:
        contact_id = connector.invoke("list_contacts", {"per_page": 1})["data"]["data"][0]["id"]
        invoke = []
        for _ in range(300 if quick else 2_000):
            started = time.perf_counter()
            connector.invoke("get_contact", {"contact_id": contact_id})
            invoke.append(time.perf_counter() - started)
    args = ["mcp", "--connection", str(connection), "--http", "--stateless", "--port", "0",
            "--host", "127.0.0.1", "--token-env", "MCP_TOKENS", "--max-calls", "200"]  # fmt: skip
    env = environment(MCP_TOKENS=",".join(TOKENS))
    process, url = start(args, env, folder / "mcp.txt")
    try:
        with httpx.Client() as client:
            for _ in range(50):
                mcp_call(client, url, contact_id)  # warm
            rounds = 300 if quick else 2_000
            http = [mcp_call(client, url, contact_id)[0] for _ in range(rounds)]
        clients, each = (50, 20) if quick else (50, 100)

        def one_client(_: int) -> list[tuple[float, bool]]:
            with httpx.Client() as client:
                return [mcp_call(client, url, contact_id) for _ in range(each)]

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = [r for rs in pool.map(one_client, range(clients)) for r in rs]
        took = time.perf_counter() - started
        latencies = [t for t, _ in results]

        def calls(count: int) -> None:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _: one_client(0), range(count // each)))

        total = len(results)
        calls(5_000 - total)
        at_5k = rss_kb(process.pid)
        calls(5_000 if quick else 45_000)
        at_50k = rss_kb(process.pid)
        status = stop(process)
    finally:
        if process.poll() is None:
            process.kill()
        sandbox.stop()
    overhead = statistics.median(http) - statistics.median(invoke)
    return {
        "load": {
            "clients": clients,
            "calls_each": each,
            "errors": sum(not ok for _, ok in results),
            "median_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
            "calls_per_s": round(len(results) / took),
        },
        "memory_kb": {
            "after_5000": at_5k,
            f"after_{10_000 if quick else 50_000}": at_50k,
            "ratio": round(at_50k / at_5k, 3),
        },
        "overhead": {
            "invoke_median_ms": round(statistics.median(invoke) * 1000, 3),
            "http_median_ms": round(statistics.median(http) * 1000, 3),
            "overhead_ms": round(overhead * 1000, 3),
        },
        "exit_status": status,
    }


def send_paced(url: str, rate: int, seconds: float, senders: int = 8) -> list[str]:
    """Deliveries at ``rate`` a second in all for ``seconds``: the ids answered 2xx."""
    answered: list[list[str]] = [[] for _ in range(senders)]

    def sender(index: int) -> None:
        interval = senders / rate
        begin = time.monotonic()
        with httpx.Client() as client:
            n = 0
            while (now := time.monotonic()) - begin < seconds:
                wait = begin + n * interval - now
                if wait > 0:
                    time.sleep(wait)
                delivery_id = f"notif_{index}_{n}"
                body = notification(delivery_id)
                try:
                    if client.post(url, content=body, headers=signed(body)).is_success:
                        answered[index].append(delivery_id)
                except httpx.HTTPError:
                    pass
                n += 1

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [i for ids in answered for i in ids]


def listener_bench(folder: Path, quick: bool) -> dict[str, Any]:
    args = ["trigger", "listen", "intercom_webhook", "--port", "0",
            "-i", "topics=contact.user.created"]  # fmt: skip
    env = environment(INTERCOM_CLIENT_SECRET=WEBHOOK_SECRET)
    out = folder / "events.ndjson"
    seconds = 10 if quick else 30
    with out.open("wb") as stdout:
        process, url = start(args, env, folder / "listen.txt", stdout=stdout)
        try:
            memory: list[int] = []
            sampler = threading.Timer(seconds / 3, lambda: memory.append(rss_kb(process.pid)))
            sampler.start()
            answered = send_paced(url, 1_000, seconds)
            memory.append(rss_kb(process.pid))
            status = stop(process)
        finally:
            if process.poll() is None:
                process.kill()
    given = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    paced = {
        "rate": 1_000,
        "seconds": seconds,
        "answered_2xx": len(answered),
        "in_output": len(given),
        "each_exactly_once": sorted(given) == sorted(answered),
        "memory_kb": memory,
        "exit_status": status,
    }
    with (folder / "fast.ndjson").open("wb") as stdout:
        process, url = start(args, env, folder / "fast.txt", stdout=stdout)
        try:
            begin = time.monotonic()
            fast = send_paced(url, 1_000_000, 5 if quick else 10)
            took = time.monotonic() - begin
            stop(process)
        finally:
            if process.poll() is None:
                process.kill()
    return {"paced": paced, "throughput_per_s": round(len(fast) / took)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls: check it works")
    quick = parser.parse_args().quick
    if PIN:
        os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as folder:
        results = {
            "quick": quick,
            "mcp": mcp_bench(Path(folder), quick),
            "listener": listener_bench(Path(folder), quick),
        }
    (REPO / "bench" / "results-services.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
