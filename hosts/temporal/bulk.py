"""Bulk runs on Temporal: ``run ACTION --each FILE --temporal HOST:PORT``.

The rows are spread over every worker of the task queue as ONE workflow, ``IntercomBulk``
(its id ``bulk-ACTION-...`` is printed on stderr), and the results come back as NDJSON in
the rows' order with the exit status of the in-process run (runtime/bulk.py).

How a run is laid out, and why (a workflow's history must stay small: Temporal warns past
10,240 events and refuses past 51,200 events or 50 MB):

- The command reads the rows, checks each (a bad row is its result at once, nothing is
  sent for it) and sends them to the workflow in signals of ``CHUNK_ROWS`` rows: no single
  payload grows with the file.
- The workflow runs each chunk as a child workflow, ``IntercomBulkChunk`` (id
  ``BULK-ID/N``, N from 0), ``CHILDREN`` side by side (so that one chunk's last rows do not
  leave the workers idle), sharing ``--concurrency``: that many rows in flight at most in
  the whole run. A child runs one activity per row: one row per activity is what lets
  Temporal say which row a dead worker held, so the rows it finished are never sent again.
  A child's history holds its rows and their results only: a few hundred events.
- The parent's history grows by a few events and one chunk's results per chunk; once it
  passes ``PARENT_EVENTS`` events or ``PARENT_BYTES`` bytes, it continues as new (its state
  carried over, the chunks not yet run with it): a run of any length keeps bounded
  histories.
- The command reads each child's result in turn (``BULK-ID/0``, ``/1``, ...), so results
  flow out while later chunks run.

Rows survive a worker's death: each row's activity heartbeats; when a worker dies, its
rows time out (``HEARTBEAT``) and Temporal gives them to another worker, or, for a write
that cannot be sent twice safely, reports the row's outcome unknown. The rule is the
in-process journal's: a row is sent again only when that cannot repeat a write (an
update, an upsert with its key, or a create whose ``unique_by`` value Intercom refuses to
make twice: a 409 then names what the lost attempt made). Any other create whose worker
died after taking it fails its row "outcome unknown": check it in Intercom, it was never
sent twice.

The rate limit is shared by every worker, in two ways:

- Each window, as Intercom reports it (``X-RateLimit-Remaining``, ``-Reset``): a worker sends
  while the window has room, as in-process calls do (runtime/client.py), and keeps room for
  the other workers' requests it cannot see (``IntercomClient.leave_room``: twice the run's
  ``--concurrency``, what the others may have in flight and answered within one round trip);
  a report older than a round trip is checked by one request alone. So a window is used
  nearly whole, as fast as the workers can send, and adding workers never provokes a 429.
  Dispatching the rows at an even pace instead (the window's limit spread over its 10
  seconds) was measured: a worker's death or a slow moment left part of a window unused for
  good, and no run could come within 0.9x of the limit.
- The rows' activities go to a task queue of their own (``rows_queue``: the workers' queue
  and ``-bulk-rows``), which the Temporal server dispatches to all the workers together at
  most ``PACE`` times the workspace's average rate (``--rate-limit``/10 a second:
  ``max_task_queue_activities_per_second``): a bound on any burst, whatever runs at once.
  The rows have a queue of their own because a rate-limited task queue costs every task it
  dispatches: the server matches its tasks to waiting workers some 40 ms late, and the SDK
  then starts no activity eagerly; on the workers' own queue that was 80 ms added to every
  step of every flow.

The workflow carries the connection's NAME (``--connection NAME``, else the worker's
``INTERCOM_*`` settings), never a token; rows and results are customer data, kept in the
histories (encrypted when the payload codec is on).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from intercom_connector.hosts.temporal.flows import HEARTBEAT, TASK_TIMEOUT, _heartbeating
    from intercom_connector.hosts.temporal.worker import connector_for
    from intercom_connector.runtime.bulk import (
        Result,
        Tally,
        error_json,
        merge_row,
        unknown_outcome,
    )
    from intercom_connector.runtime.connection import connection_from_env
    from intercom_connector.runtime.errors import (
        AuthenticationError,
        ConnectionConfigError,
        ConnectorError,
        InputProblem,
        InputValidationError,
        TransportError,
    )

#: rows a child workflow runs (and a signal carries)
CHUNK_ROWS = 100
#: child workflows running side by side, sharing the run's --concurrency
CHILDREN = 2
#: the parent continues as new past this many events, or this many bytes of history
PARENT_EVENTS = 2_000
PARENT_BYTES = 8_000_000
#: one row's call at most, its own retries and rate-limit waits included
ROW_TIME = timedelta(minutes=10)
#: the rows' task queue dispatches at most this many times the workspace's average rate
PACE = 2.0
WINDOW_SECONDS = 10.0

WORKFLOW = "IntercomBulk"
CHUNK_WORKFLOW = "IntercomBulkChunk"
ROW_ACTIVITY = "intercom_bulk_row"
_STOPPING = (AuthenticationError.__name__, ConnectionConfigError.__name__)


@dataclass
class RowTask:
    """One row as its activity gets it: the connection by name, never a secret."""

    action: str
    connection: str | None
    row: int
    inputs: dict[str, Any]
    repeatable: bool
    #: requests the other workers of the run may have in flight unseen (leave_room)
    room: int = 0


@dataclass
class Chunk:
    """Rows in order: ``{"row", "inputs", "repeatable"}`` to run, or ``{"row", "result"}``
    already known (a bad row)."""

    index: int
    rows: list[dict[str, Any]]


@dataclass
class ChunkTask:
    action: str
    connection: str | None
    #: this chunk's rows in flight at most (its share of the run's)
    in_flight: int
    chunk: Chunk
    #: set when the connection failed on an earlier row: nothing is sent
    stopped: str | None = None
    #: requests the other workers of the run may have in flight unseen (leave_room)
    room: int = 0


@dataclass
class ChunkDone:
    results: list[dict[str, Any]]
    stopped: str | None = None


@dataclass
class BulkPlan:
    """A bulk run's state: what it starts with, and what a continued run carries over."""

    action: str
    connection: str | None
    #: rows in flight at most in the whole run (--concurrency)
    in_flight: int
    chunk_rows: int = CHUNK_ROWS
    next_chunk: int = 0
    #: how many chunks in all, once the command said so
    chunks: int | None = None
    waiting: list[Chunk] = field(default_factory=list)
    stopped: str | None = None
    rows: int = 0
    failed: int = 0
    exit_code: int = 0


# -- the row's activity ---------------------------------------------------------------------


@activity.defn(name=ROW_ACTIVITY)
def run_row(task: RowTask) -> dict[str, Any]:
    """Run one row as ``run`` would; its result, an error being a result too. A later
    attempt (its worker died) runs only a repeatable row, as ``Connector.resend``."""
    info = activity.info()
    if info.attempt > 1 and not task.repeatable:  # the workflow forbids it; never resend
        return {"row": task.row, "error": error_json(_unknown(task.row))}
    try:
        connector = connector_for(task.connection)
        connector.client.leave_room(task.room)
        if info.attempt > 1:  # the first attempt was sent at the earliest when scheduled
            since = info.scheduled_time.timestamp()
            done = _heartbeating(lambda: connector.resend(task.action, task.inputs, since))
        else:
            done = _heartbeating(lambda: connector.invoke(task.action, task.inputs))
    except ConnectorError as error:
        return {"row": task.row, "error": error_json(error)}
    return {"row": task.row, "data": done["data"]}


def _unknown(row: int) -> TransportError:
    return unknown_outcome(row, "a worker took this row (and may have sent it)")


# -- the workflows ---------------------------------------------------------------------------


@workflow.defn(name=CHUNK_WORKFLOW)
class BulkChunk:
    """One chunk of rows: an activity per row, ``in_flight`` at most; results in row order."""

    def __init__(self) -> None:
        self._running = 0
        self._stopped: str | None = None

    @workflow.run
    async def run(self, task: ChunkTask) -> ChunkDone:
        rows = task.chunk.rows
        results: list[dict[str, Any]] = [row.get("result", {}) for row in rows]
        self._stopped = task.stopped
        started: list[asyncio.Task[None]] = []
        for at, row in enumerate(rows):
            if "result" in row:
                continue
            await workflow.wait_condition(lambda: self._running < task.in_flight)
            if self._stopped is not None:
                results[at] = _not_sent(row["row"], self._stopped)
                continue
            self._running += 1
            started.append(asyncio.create_task(self._one(task, row, results, at)))
        await asyncio.gather(*started)
        return ChunkDone(results, self._stopped)

    async def _one(
        self, task: ChunkTask, row: dict[str, Any], results: list[dict[str, Any]], at: int
    ) -> None:
        try:
            results[at] = result = await _run_one(task, row)
        finally:
            self._running -= 1
        error = result.get("error")
        if error and error.get("type") in _STOPPING and self._stopped is None:
            self._stopped = f"the connection failed on row {row['row']}: {error['message']}"


async def _run_one(task: ChunkTask, row: dict[str, Any]) -> dict[str, Any]:
    repeatable = bool(row["repeatable"])
    try:
        return await workflow.execute_activity(
            run_row,
            RowTask(task.action, task.connection, row["row"], row["inputs"], repeatable, task.room),
            task_queue=rows_queue(workflow.info().task_queue),
            start_to_close_timeout=ROW_TIME,
            heartbeat_timeout=HEARTBEAT,
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1),
                maximum_interval=timedelta(seconds=10),
                maximum_attempts=10 if repeatable else 1,
            ),
        )
    except ActivityError as failure:
        if repeatable:  # retried until the attempts ran out: never made twice, but not done
            cause = failure.cause or failure
            error = TransportError(f"row {row['row']}: no worker could run it ({cause})")
            return {"row": row["row"], "error": error_json(error)}
        return {"row": row["row"], "error": error_json(_unknown(row["row"]))}


def _not_sent(row: int, why: str) -> dict[str, Any]:
    return {"row": row, "error": error_json(ConnectionConfigError(f"not sent: {why}"))}


@workflow.defn(name=WORKFLOW)
class BulkRun:
    """A whole bulk run: chunks arrive by signal, run as child workflows a few at a time."""

    def __init__(self) -> None:
        self._waiting: dict[int, Chunk] = {}
        self._chunks: int | None = None
        self._running = 0
        self._tally = Tally()

    @workflow.signal(name="rows")
    def rows(self, chunk: Chunk) -> None:
        self._waiting[chunk.index] = chunk

    @workflow.signal(name="end")
    def end(self, chunks: int) -> None:
        self._chunks = chunks

    @workflow.run
    async def run(self, plan: BulkPlan) -> dict[str, int]:
        for chunk in plan.waiting:
            self._waiting.setdefault(chunk.index, chunk)
        if plan.chunks is not None:
            self._chunks = plan.chunks
        tally = self._tally
        tally.done, tally.failed, tally.exit_code = plan.rows, plan.failed, plan.exit_code
        tasks: list[asyncio.Task[None]] = []
        while True:
            await workflow.wait_condition(lambda: self._over(plan) or self._can_start(plan))
            if self._running == 0 and self._chunks == plan.next_chunk:
                break
            if self._running == 0 and _too_long():
                workflow.continue_as_new(
                    replace(
                        plan,
                        chunks=self._chunks,
                        waiting=sorted(self._waiting.values(), key=lambda chunk: chunk.index),
                        rows=tally.done,
                        failed=tally.failed,
                        exit_code=tally.exit_code,
                    )
                )
            chunk = self._waiting.pop(plan.next_chunk)
            plan.next_chunk += 1
            self._running += 1
            tasks.append(asyncio.create_task(self._one(plan, chunk)))
        await asyncio.gather(*tasks)
        return {"rows": tally.done, "failed": tally.failed, "exit_code": tally.exit_code}

    def _over(self, plan: BulkPlan) -> bool:
        """Nothing runs, and every chunk ran (or the history is long: continue as new)."""
        return self._running == 0 and (self._chunks == plan.next_chunk or _too_long())

    def _can_start(self, plan: BulkPlan) -> bool:
        ready = plan.next_chunk in self._waiting
        return ready and self._running < _side_by_side(plan) and not _too_long()

    async def _one(self, plan: BulkPlan, chunk: Chunk) -> None:
        try:
            done = await workflow.execute_child_workflow(
                BulkChunk.run,
                ChunkTask(
                    plan.action,
                    plan.connection,
                    plan.in_flight // _side_by_side(plan),
                    chunk,
                    plan.stopped,
                    room=2 * plan.in_flight,
                ),
                id=child_id(workflow.info().workflow_id, chunk.index),
                task_timeout=TASK_TIMEOUT,
            )
        finally:
            self._running -= 1
        for result in done.results:
            self._tally.add(result)
        if done.stopped and plan.stopped is None:
            plan.stopped = done.stopped


def _side_by_side(plan: BulkPlan) -> int:
    """Chunks running at once: ``CHILDREN``, fewer when --concurrency is smaller (each
    runs its share of the rows in flight, one at least)."""
    return max(1, min(CHILDREN, plan.in_flight))


def _too_long() -> bool:
    """The parent's history is long enough to continue as new."""
    info = workflow.info()
    return (
        info.get_current_history_length() > PARENT_EVENTS
        or info.get_current_history_size() > PARENT_BYTES
        or info.is_continue_as_new_suggested()
    )


def child_id(workflow_id: str, index: int) -> str:
    return f"{workflow_id}/{index}"


WORKFLOWS = [BulkRun, BulkChunk]
#: run_row is not here: a worker registers it on ``rows_queue`` alone (worker.py)
ACTIVITIES: list[Any] = []
RATE_LIMITED_ACTIVITIES = [run_row]


def rows_queue(task_queue: str) -> str:
    """The task queue of the rows' activities of bulk runs on ``task_queue``: the one with
    the workspace's rate limit (every worker of ``task_queue`` also works for it)."""
    return f"{task_queue}-bulk-rows"


def task_queue_rate(limit: int) -> float:
    """Activities a second the task queue dispatches for a workspace limit of ``limit``
    requests a 10-second window."""
    return limit / WINDOW_SECONDS * PACE


# -- the command's side ----------------------------------------------------------------------


def prepared_rows(
    action: str,
    rows: Iterable[Mapping[str, Any] | ConnectorError],
    inputs: Mapping[str, Any],
) -> Iterator[dict[str, Any]]:
    """Each row as a chunk carries it: its inputs to run, or its result when it is bad (a
    row that cannot be read, or whose inputs are not valid: nothing is sent for it)."""
    from intercom_connector.runtime.shim import Connector, validate

    checker = Connector(None)  # the manifest's rules only: no connection is used
    spec = checker_action(action)
    for number, row in enumerate(rows, start=1):
        try:
            given = merge_row(number, row, inputs)
            validate(spec, given)
        except ConnectorError as error:
            yield {"row": number, "result": {"row": number, "error": error_json(error)}}
            continue
        yield {"row": number, "inputs": given, "repeatable": checker.repeatable(action, given)}


def checker_action(key: str) -> Any:
    from intercom_connector.runtime.manifest import load_manifest

    return load_manifest().actions[key]


def run_each_on_temporal(args: Any, action: Any, inputs: Mapping[str, Any]) -> int:
    """``run ACTION --each FILE --temporal ...``: the exit status, as the in-process run's."""
    from intercom_connector.hosts.each import ResultWriter, Rows
    from intercom_connector.hosts.temporal.cluster import cluster_of, connect
    from intercom_connector.hosts.temporal.commands import require_temporal

    cluster = cluster_of(args, "run")
    for given, why in (
        (args.each is None, "goes with --each FILE: a bulk run is what runs on Temporal"),
        (args.journal is not None, "replaces --journal: the workflow's history keeps the rows"),
        (args.sandbox, "cannot use --sandbox: the workers resolve the connection"),
    ):
        if given:
            raise InputValidationError("run", [InputProblem("--temporal", "--temporal", why)])
    require_temporal("run")

    async def main(rows: Iterable[dict[str, Any]], out: ResultWriter) -> None:
        client = await connect(cluster)
        await run_bulk(
            client,
            action=action.key,
            connection=args.connection,
            rows=rows,
            task_queue=cluster.task_queue,
            in_flight=args.concurrency,
            emit=out.write,
        )

    with Rows(args.each, action) as read:  # a file with a row that cannot be read: exit 2
        out = ResultWriter(read.count)
        asyncio.run(main(prepared_rows(action.key, read, inputs), out))
    return out.finish()  # the process leaves at once after it (hosts/cli.py main)


async def run_bulk(
    client: Any,
    *,
    action: str,
    connection: str | None,
    rows: Iterable[dict[str, Any]],
    task_queue: str,
    in_flight: int,
    emit: Callable[[Result], None],
    workflow_id: str | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, int]:
    """Send ``rows`` (from ``prepared_rows``) to a new bulk workflow and hand each result to
    ``emit`` in the rows' order; the workflow's summary."""
    bulk_id = workflow_id or f"bulk-{action}-{uuid.uuid4().hex[:12]}"
    plan = BulkPlan(action, connection, in_flight, chunk_rows=chunk_rows)
    sent = _Sent()
    chunks = _chunks(rows, chunk_rows)
    first = next(chunks, None)
    handle = await client.start_workflow(
        WORKFLOW,
        plan,
        id=bulk_id,
        task_queue=task_queue,
        start_signal="rows" if first is not None else "end",
        start_signal_args=[first] if first is not None else [0],
        task_timeout=TASK_TIMEOUT,
    )
    print(f"bulk run {bulk_id} on Temporal (task queue {task_queue})", file=sys.stderr)
    sent.count = 1 if first is not None else 0
    sent.over = first is None

    async def send() -> None:
        for chunk in chunks:
            await handle.signal("rows", chunk)
            sent.count += 1
            sent.changed.set()
        if first is not None:
            await handle.signal("end", sent.count)
        sent.over = True
        sent.changed.set()

    async def collect() -> None:
        index = 0
        while True:
            while index >= sent.count and not sent.over:
                sent.changed.clear()
                await sent.changed.wait()
            if index >= sent.count:
                return
            done = await _child_result(client, handle, child_id(bulk_id, index))
            for result in done.results:
                emit(_laid_out(result))
            index += 1

    await _both(send(), collect())
    summary: dict[str, int] = await handle.result()
    return summary


def _laid_out(result: dict[str, Any]) -> Result:
    """A result with its keys in the in-process run's order (a history's JSON sorts them)."""
    if "error" not in result:
        return {"row": result["row"], "data": result.get("data")}
    error = result["error"]
    order = ("type", "message", "exit_code", "outcome_unknown")
    return {"row": result["row"], "error": {key: error[key] for key in order if key in error}}


class _Sent:
    def __init__(self) -> None:
        self.count = 0
        self.over = False
        self.changed = asyncio.Event()


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[Chunk]:
    batch: list[dict[str, Any]] = []
    index = 0
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield Chunk(index, batch)
            batch, index = [], index + 1
    if batch:
        yield Chunk(index, batch)


async def _both(first: Awaitable[None], second: Awaitable[None]) -> None:
    tasks = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def _child_result(client: Any, parent: Any, child: str) -> ChunkDone:
    """The result of chunk workflow ``child``, waiting until the parent has started it."""
    from temporalio.service import RPCError, RPCStatusCode

    handle = client.get_workflow_handle(child, result_type=ChunkDone)
    while True:
        try:
            done: ChunkDone = await handle.result()
            return done
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        description = await parent.describe()
        if description.status is not None and description.status.name not in (
            "RUNNING",
            "CONTINUED_AS_NEW",
        ):
            await parent.result()  # the parent failed: its error says why
        await asyncio.sleep(0.2)


def learned_rate_limit(env: Mapping[str, str] = os.environ) -> int | None:
    """The workspace's requests a 10-second window for a worker given no ``--rate-limit``:
    ``INTERCOM_RATE_LIMIT``, else the ``X-RateLimit-Limit`` Intercom answers this worker's
    ``INTERCOM_*`` connection with (one ``GET /me``); None when neither says."""
    text = env.get("INTERCOM_RATE_LIMIT", "").strip()
    if text:
        if not text.isdigit() or int(text) < 1:
            raise ConnectionConfigError(
                f"INTERCOM_RATE_LIMIT must be a whole number of requests, not {text!r}"
            )
        return int(text)
    if connection_from_env(env) is None:
        return None
    try:
        answer = connector_for(None).client.send("GET", "/me")
    except ConnectorError as error:
        print(f"note: the workspace's rate limit is not known ({error})", file=sys.stderr)
        return None
    limit = answer.headers.get("X-RateLimit-Limit", "")
    return int(limit) if limit.isdigit() and int(limit) > 0 else None
