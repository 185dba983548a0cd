"""The CLI's Temporal commands: ``worker`` (and, registered here too, the commands that
start, deploy and list runs on a cluster). This module imports no Temporal code: the
``temporal`` extra is needed only when one of them runs (``require_temporal``)."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from typing import Any

from intercom_connector.hosts.temporal.cluster import add_cluster_options, cluster_of, run_sync
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
    import asyncio  # not at import: every command's parser loads this module

    cluster = cluster_of(args, "worker")
    require_temporal("worker")
    from intercom_connector.hosts.temporal.worker import run_worker, use_config_dir

    use_config_dir(args.config_dir)
    from intercom_connector.hosts.temporal.bulk import learned_rate_limit

    rate_limit = args.rate_limit or learned_rate_limit()

    def announce() -> None:
        print(
            f"worker on {cluster.address} (namespace {cluster.namespace}, task queue "
            f"{cluster.task_queue}); Ctrl-C stops it once running steps finish.",
            file=sys.stderr,
            flush=True,
        )
        if rate_limit:
            print(
                f"the task queue sends Intercom at most {rate_limit} requests a 10 s window "
                "(all its workers together)",
                file=sys.stderr,
                flush=True,
            )

    asyncio.run(
        run_worker(
            cluster,
            concurrency=args.concurrency,
            drain=args.drain,
            rate_limit=rate_limit,
            ready=announce,
        )
    )
    return 0


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
DEFAULT_EVERY = 60.0


def _deployment_name(text: str) -> str:
    if not _NAME.match(text):
        raise argparse.ArgumentTypeError(
            f"expected a name of letters, digits, '_', '-' or '.', got {text!r}"
        )
    return text


def cmd_deploy(args: argparse.Namespace) -> int:
    from intercom_connector.hosts.flow import load_flow

    flow = load_flow(args.file)
    cluster = cluster_of(args, "deploy")
    require_temporal("deploy")
    from intercom_connector.hosts.temporal import deployments
    from intercom_connector.hosts.temporal.cluster import connect
    from intercom_connector.hosts.temporal.runs import connection_name

    deployments.deployable(flow)  # before the cluster is reached: a flow without a trigger
    connection = connection_name(args, "deploy", flow.connection)
    name = args.name or deployments.name_from(flow.name)
    every = args.every or DEFAULT_EVERY

    async def go() -> str:
        client = await connect(cluster)
        return await deployments.deploy(
            client, cluster, name=name, flow=flow, connection=connection, every=every
        )

    how = run_sync(go)
    assert flow.trigger is not None  # deployable said so
    print(f"deployed {name}: {flow.name!r} on {flow.trigger.key} ({how})")
    return 0


def cmd_undeploy(args: argparse.Namespace) -> int:
    cluster = cluster_of(args, "undeploy")
    require_temporal("undeploy")
    from intercom_connector.hosts.temporal import deployments
    from intercom_connector.hosts.temporal.cluster import connect

    async def go() -> None:
        await deployments.undeploy(await connect(cluster), args.name)

    run_sync(go)
    print(f"undeployed {args.name}; its runs stay listed (runs --deployment {args.name})")
    return 0


def cmd_deployments(args: argparse.Namespace) -> int:
    import orjson

    cluster = cluster_of(args, "deployments")
    require_temporal("deployments")
    from intercom_connector.hosts.temporal import deployments
    from intercom_connector.hosts.temporal.cluster import connect
    from intercom_connector.hosts.temporal.runs import print_table

    async def go() -> list[dict[str, Any]]:
        return await deployments.list_deployments(await connect(cluster))

    found = run_sync(go)
    if args.json:
        sys.stdout.write(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_table(found, ["name", "flow", "trigger", "connection", "last_run", "failures"])
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    cluster_of(args, "runs")
    require_temporal("runs")
    from intercom_connector.hosts.temporal.runs import cmd_runs as run

    return run(args)


def add_temporal_commands(commands: Any) -> None:
    """Register ``worker``, ``deploy``, ``undeploy``, ``deployments`` and ``runs``."""
    from intercom_connector.hosts.options import seconds, whole

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
    worker.add_argument(
        "--rate-limit",
        type=whole(1, 1_000_000),
        metavar="N",
        help="the workspace's requests a 10-second window, shared by every worker of the "
        "task queue (default: $INTERCOM_RATE_LIMIT, else what Intercom reports to this "
        "worker's INTERCOM_* connection)",
    )
    worker.set_defaults(handler=cmd_worker)

    deploy = commands.add_parser("deploy", help="run a flow on its trigger on a Temporal cluster")
    deploy.add_argument("file", metavar="FLOW", help="the flow file (with a trigger:)")
    add_cluster_options(deploy)
    deploy.add_argument(
        "--connection",
        "-c",
        metavar="NAME",
        help="the saved connection the workers use (default: their INTERCOM_* settings)",
    )
    deploy.add_argument(
        "--name", type=_deployment_name, help="the deployment's name (default: the flow's)"
    )
    deploy.add_argument(
        "--every",
        type=seconds,
        metavar="SECONDS",
        help=f"a polling trigger: check every SECONDS (default {DEFAULT_EVERY:g})",
    )
    deploy.set_defaults(handler=cmd_deploy)

    undeploy = commands.add_parser("undeploy", help="stop a deployment (its runs stay listed)")
    undeploy.add_argument("name", metavar="NAME", type=_deployment_name)
    add_cluster_options(undeploy)
    undeploy.set_defaults(handler=cmd_undeploy)

    listing = commands.add_parser("deployments", help="list the deployments of a cluster")
    add_cluster_options(listing)
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.set_defaults(handler=cmd_deployments)

    runs = commands.add_parser("runs", help="flow runs on a Temporal cluster: list, show, retry")
    add_cluster_options(runs)
    runs.add_argument("--deployment", metavar="NAME", help="only this deployment's runs")
    runs.add_argument("--failed", action="store_true", help="only the runs that failed")
    runs.add_argument(
        "--limit", type=whole(1), default=50, metavar="N", help="the newest N runs (default 50)"
    )
    runs.add_argument("--json", action="store_true", help="as JSON")
    runs.set_defaults(handler=cmd_runs, runs_command=None)
    which = runs.add_subparsers(dest="runs_command", metavar="COMMAND", parser_class=type(runs))
    show = which.add_parser("show", help="a run's steps: inputs and outputs (secrets redacted)")
    retry = which.add_parser("retry", help="run a failed run again from its failed step")
    for parser in (show, retry):
        parser.add_argument("id", metavar="ID", help="the run's id (see `runs`)")
        add_cluster_options(parser)
    retry.add_argument("--no-wait", action="store_true", help="print the new run's id only")
