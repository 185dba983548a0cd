"""The CLI's Temporal commands: ``worker`` (and, registered here too, the commands that
start, deploy and list runs on a cluster). This module imports no Temporal code: the
``temporal`` extra is needed only when one of them runs (``require_temporal``)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

from intercom_connector.hosts.temporal.cluster import add_cluster_options, cluster_of
from intercom_connector.runtime.errors import InputProblem, InputValidationError

#: activities running side by side in one worker, at most (default of --concurrency)
DEFAULT_CONCURRENCY = 32
#: how long a stopping worker lets its running activities finish (default of --drain)
DEFAULT_DRAIN = 60.0


def require_temporal(command: str) -> None:
    """A clear error (exit 2) when the ``temporal`` extra is not installed."""
    if importlib.util.find_spec("temporalio") is None:
        problem = "needs the temporal extra: pip install 'intercom-connector[temporal]'"
        raise InputValidationError(command, [InputProblem("--temporal", "--temporal", problem)])


def cmd_worker(args: argparse.Namespace) -> int:
    cluster = cluster_of(args, "worker")
    require_temporal("worker")
    from intercom_connector.hosts.temporal.worker import run_worker, use_config_dir

    use_config_dir(args.config_dir)

    def announce() -> None:
        print(
            f"worker on {cluster.address} (namespace {cluster.namespace}, task queue "
            f"{cluster.task_queue}); Ctrl-C stops it once running steps finish.",
            file=sys.stderr,
            flush=True,
        )

    asyncio.run(run_worker(cluster, concurrency=args.concurrency, drain=args.drain, ready=announce))
    return 0


def add_temporal_commands(commands: Any, whole: Callable[..., Any], seconds: Any) -> None:
    """Register ``worker`` on the CLI's subcommands."""
    worker = commands.add_parser(
        "worker", help="run flows, deployments and bulk runs for a Temporal cluster"
    )
    add_cluster_options(worker)
    worker.add_argument(
        "--concurrency",
        type=whole(1, 1000),
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"activities run side by side at most (default {DEFAULT_CONCURRENCY})",
    )
    worker.add_argument(
        "--drain",
        type=seconds,
        default=DEFAULT_DRAIN,
        metavar="SECONDS",
        help="on Ctrl-C or SIGTERM, how long running activities may take to finish "
        f"(default {DEFAULT_DRAIN:g})",
    )
    worker.set_defaults(handler=cmd_worker)
