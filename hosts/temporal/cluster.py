"""Which Temporal cluster a command uses, and a client connected to it.

Every command that works with Temporal takes the same three options (``add_cluster_options``):
``--temporal HOST:PORT`` (default ``$INTERCOM_TEMPORAL_ADDRESS``), ``--namespace`` (default
``default``) and ``--task-queue`` (default ``intercom-connector``). ``connect`` gives a client
with the payload codec (codec.py) applied when ``INTERCOM_TEMPORAL_KEY`` is set.
"""

from __future__ import annotations

import argparse
import gc
import os
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from intercom_connector.runtime.errors import (
    ConnectionConfigError,
    InputProblem,
    InputValidationError,
    TransportError,
)
from intercom_connector.runtime.frozen import frozen

if TYPE_CHECKING:
    from temporalio.client import Client

T = TypeVar("T")

ENV_ADDRESS = "INTERCOM_TEMPORAL_ADDRESS"
DEFAULT_NAMESPACE = "default"
DEFAULT_TASK_QUEUE = "intercom-connector"


@frozen  # not @dataclass: every command's parser loads this module (runtime/frozen.py)
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

    from intercom_connector.hosts.temporal.codec import data_converter

    try:
        return await Client.connect(
            cluster.address, namespace=cluster.namespace, data_converter=data_converter(os.environ)
        )
    except RuntimeError as exc:  # the SDK's core reports a failed connection so
        raise TransportError(
            f"cannot reach the Temporal cluster at {cluster.address}: {_first_line(exc)}"
        ) from None


def run_sync(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(work())`` for a command; the client and everything it holds are
    released before the command ends. An error leaves without its traceback's frames: left
    to the interpreter's exit, the SDK's native threads would release them mid-shutdown
    (a crash, not an error message)."""
    import asyncio  # not at import: every command's parser loads this module

    try:
        return asyncio.run(work())
    except BaseException as error:
        failed = _plain(error)
        failed.__traceback__ = None
        failed.__context__ = failed.__cause__ = None
    finally:
        gc.collect()
    raise failed


def _plain(error: BaseException) -> BaseException:
    """The error a person reads: Temporal's own ones in one line, with the exit status of
    their kind."""
    from temporalio.service import RPCError

    from intercom_connector.hosts.temporal.codec import ENCODING, ENV_KEY

    if isinstance(error, KeyError) and ENCODING.decode() in str(error):
        return ConnectionConfigError(
            f"these runs are encrypted: set {ENV_KEY} to the key the workers use to read them"
        )
    if isinstance(error, RPCError):
        return TransportError(f"the Temporal cluster refused the request: {_first_line(error)}")
    return error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
