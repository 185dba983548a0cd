"""Which Temporal cluster a command uses, and a client connected to it.

Every command that works with Temporal takes the same three options (``add_cluster_options``):
``--temporal HOST:PORT`` (default ``$INTERCOM_TEMPORAL_ADDRESS``), ``--namespace`` (default
``default``) and ``--task-queue`` (default ``intercom-connector``). ``connect`` gives a client
with the payload codec (codec.py) applied when ``INTERCOM_TEMPORAL_KEY`` is set.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from intercom_connector.runtime.errors import InputProblem, InputValidationError, TransportError

if TYPE_CHECKING:
    from temporalio.client import Client

ENV_ADDRESS = "INTERCOM_TEMPORAL_ADDRESS"
DEFAULT_NAMESPACE = "default"
DEFAULT_TASK_QUEUE = "intercom-connector"


@dataclass(frozen=True)
class Cluster:
    """Where the work goes: a Temporal frontend, a namespace, a task queue."""

    address: str
    namespace: str = DEFAULT_NAMESPACE
    task_queue: str = DEFAULT_TASK_QUEUE


def add_cluster_options(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    """``--temporal``, ``--namespace``, ``--task-queue``. ``optional``: the command runs
    in-process unless ``--temporal`` is given (alone, it takes the environment's address)."""
    if optional:
        parser.add_argument(
            "--temporal",
            metavar="HOST:PORT",
            nargs="?",
            const="",
            help=f"run on a Temporal cluster (its frontend; alone: ${ENV_ADDRESS}); see `worker`",
        )
    else:
        parser.add_argument(
            "--temporal",
            metavar="HOST:PORT",
            help=f"the Temporal cluster's frontend (default ${ENV_ADDRESS})",
        )
    parser.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"Temporal namespace (default {DEFAULT_NAMESPACE})",
    )
    parser.add_argument(
        "--task-queue",
        default=DEFAULT_TASK_QUEUE,
        metavar="NAME",
        help=f"the workers' task queue (default {DEFAULT_TASK_QUEUE})",
    )


def cluster_of(args: argparse.Namespace, command: str) -> Cluster:
    """The cluster the options name; a clear error (exit 2) when there is none or it is
    not HOST:PORT."""
    address = (getattr(args, "temporal", None) or os.environ.get(ENV_ADDRESS, "")).strip()
    if not address:
        problem = f"give the Temporal cluster as --temporal HOST:PORT or set {ENV_ADDRESS}"
        raise InputValidationError(command, [InputProblem("--temporal", "--temporal", problem)])
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        problem = f"expected HOST:PORT (e.g. 127.0.0.1:7233), got {address!r}"
        raise InputValidationError(command, [InputProblem("--temporal", "--temporal", problem)])
    return Cluster(address, args.namespace, args.task_queue)


async def connect(cluster: Cluster) -> Client:
    """A ``temporalio.client.Client`` for ``cluster``, payloads through the codec (if any).

    TransportError (exit 5) when the cluster cannot be reached.
    """
    from temporalio.client import Client
    from temporalio.converter import DataConverter

    from intercom_connector.hosts.temporal.codec import codec_from_env

    codec = codec_from_env(os.environ)
    converter = DataConverter.default
    if codec is not None:
        converter = dataclasses.replace(converter, payload_codec=codec)
    try:
        return await Client.connect(
            cluster.address, namespace=cluster.namespace, data_converter=converter
        )
    except RuntimeError as exc:  # the SDK's core reports a failed connection so
        raise TransportError(
            f"cannot reach the Temporal cluster at {cluster.address}: {_first_line(exc)}"
        ) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
