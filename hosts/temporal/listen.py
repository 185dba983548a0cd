"""A webhook deployment's listener: ``trigger listen KEY --temporal --deployment NAME``.

Each verified delivery starts the deployment's flow run with the workflow id
``NAME:<notification id>`` (deployments.py); the listener answers 2xx only once Temporal
has that run (started now, or by an earlier delivery of the same notification: a repeat, or
one that reached another replica), and 503 when Temporal could not be reached, so that
Intercom delivers it again. Any number of replicas may serve one deployment.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from intercom_connector.hosts.temporal.cluster import Cluster, connect
from intercom_connector.hosts.temporal.deployments import deployment_spec, start_event_run
from intercom_connector.runtime.errors import WebhookRefusal
from intercom_connector.runtime.triggers import Event

T = TypeVar("T")
#: how long one delivery waits for Temporal before it is answered 503
START_TIMEOUT = 20.0


class RunStarter:
    """Starts a deployment's runs from the listener's request threads (one event loop)."""

    def __init__(self, cluster: Cluster, deployment: str, trigger_key: str) -> None:
        self.cluster = cluster
        self.deployment = deployment
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.client = self._wait(connect(cluster), 60)
        self.spec = self._wait(deployment_spec(self.client, deployment), 60)
        trigger = self.spec["flow"].get("trigger") or {}
        if trigger.get("key") != trigger_key:
            self.close()
            from intercom_connector.runtime.errors import InputProblem, InputValidationError

            problem = f"runs on {trigger.get('key')}, not on {trigger_key}"
            raise InputValidationError(
                "trigger listen", [InputProblem("--deployment", deployment, problem)]
            )

    @property
    def trigger_inputs(self) -> dict[str, Any]:
        return dict(self.spec["flow"]["trigger"].get("inputs") or {})

    def _wait(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def start(self, events: Sequence[Event]) -> None:
        """A run for each event, or WebhookRefusal 503 (deliver it again)."""
        for event in events:
            try:
                self._wait(
                    start_event_run(self.client, self.cluster, self.spec, self.deployment, event),
                    START_TIMEOUT,
                )
            except Exception as error:
                raise WebhookRefusal(
                    503,
                    f"Temporal did not take the run of notification {event['id']} "
                    f"({type(error).__name__}): deliver it again",
                ) from None

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
