"""``intercom-connector worker``: runs the connector's workflows and activities.

Start as many as you like, on any machines, against the same cluster and task queue: Temporal
hands each one work. A worker registers what every module of this package lists in its
``WORKFLOWS`` and ``ACTIVITIES``. Activities reach Intercom through ``connector_for(name)``:
a connection NAME, resolved here as ``run`` resolves ``--connection`` (a saved connection of
this machine), or without a name from this machine's ``INTERCOM_*`` settings; so a workflow
never carries a token. Ctrl-C or SIGTERM stops taking work and lets running activities finish
(up to ``--drain SECONDS``) before the worker exits.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from intercom_connector.hosts.temporal.cluster import Cluster, connect
from intercom_connector.hosts.temporal.commands import DEFAULT_CONCURRENCY, DEFAULT_DRAIN
from intercom_connector.runtime.shim import Connector


def registered() -> tuple[list[type], list[Callable[..., Any]], list[Callable[..., Any]]]:
    """The workflows, activities and rate-limited activities every module of this package
    lists (``WORKFLOWS``, ``ACTIVITIES``, ``RATE_LIMITED_ACTIVITIES``)."""
    import intercom_connector.hosts.temporal as package

    workflows: list[type] = []
    activities: list[Callable[..., Any]] = []
    limited: list[Callable[..., Any]] = []
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        workflows.extend(getattr(module, "WORKFLOWS", ()))
        activities.extend(getattr(module, "ACTIVITIES", ()))
        limited.extend(getattr(module, "RATE_LIMITED_ACTIVITIES", ()))
    return workflows, activities, limited


class _Connections:
    """One Connector per connection name, for the worker's life (their clients reused)."""

    def __init__(self) -> None:
        self.config_dir: str | None = None
        self._made: dict[str | None, Connector] = {}
        self._lock = threading.Lock()

    def get(self, name: str | None) -> Connector:
        with self._lock:
            connector = self._made.get(name)
            if connector is None:
                from intercom_connector.hosts.cli import resolve_connection

                connection, transport = resolve_connection(name, self.config_dir)
                connector = self._made[name] = Connector(connection, transport=transport)
            return connector

    def close(self) -> None:
        with self._lock:
            for connector in self._made.values():
                connector.close()
            self._made.clear()


_connections = _Connections()


def use_config_dir(config_dir: str | None) -> None:
    """Where this worker's saved connections live (``--config-dir``)."""
    _connections.config_dir = config_dir


def connector_for(name: str | None) -> Connector:
    """The connector of connection ``name`` on this worker (None: this machine's
    ``INTERCOM_*`` settings), as ``run --connection NAME`` would use it."""
    return _connections.get(name)


#: a workflow's next task waits this long for the worker that ran its last one (which
#: keeps its state in memory) before any worker takes it: after a worker dies, its flows and
#: bulk runs go on elsewhere this soon (the SDK's default, 10 s, stalled a bulk run's
#: every row for most of a rate-limit window)
STICKY = timedelta(seconds=1)


async def run_worker(
    cluster: Cluster,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    drain: float = DEFAULT_DRAIN,
    rate_limit: int | None = None,
    ready: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Work for ``cluster`` until ``stop`` is set (or SIGINT/SIGTERM), then drain.

    ``rate_limit``: the workspace's requests a 10-second window; the bulk rows' task queue
    (``rows_queue``) then dispatches their activities to all its workers together no faster
    than ``bulk.PACE`` times that on average (bulk.py: each request keeps to the window
    Intercom reports). The workers' own queue (workflows, flow steps) has no such limit: a
    rate-limited queue dispatches each task some 40 ms late and no activity eagerly."""
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from intercom_connector.hosts.temporal.bulk import rows_queue, task_queue_rate

    client = await connect(cluster)
    workflows, activities, limited = registered()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    # the connector's modules are deterministic code and data: imported once, not per run
    restrictions = SandboxRestrictions.default.with_passthrough_modules("intercom_connector")
    with ThreadPoolExecutor(2 * concurrency, thread_name_prefix="activity") as executor:
        worker = Worker(
            client,
            task_queue=cluster.task_queue,
            workflows=workflows,
            activities=activities,
            activity_executor=executor,
            max_concurrent_activities=concurrency,
            workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
            graceful_shutdown_timeout=timedelta(seconds=drain),
            sticky_queue_schedule_to_start_timeout=STICKY,
        )
        rows = Worker(
            client,
            task_queue=rows_queue(cluster.task_queue),
            activities=limited,
            activity_executor=executor,
            max_concurrent_activities=concurrency,
            graceful_shutdown_timeout=timedelta(seconds=drain),
            max_task_queue_activities_per_second=task_queue_rate(rate_limit)
            if rate_limit
            else None,
        )
        async with worker, rows:
            if ready is not None:
                ready()
            await stop.wait()
            print(
                "stopping: no new work taken; running activities finish first",
                file=sys.stderr,
                flush=True,
            )
    _connections.close()
