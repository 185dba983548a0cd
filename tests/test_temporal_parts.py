"""The Temporal host's parts that need no server: the payload codec and its key rotation,
what `runs show` redacts, and the cluster options."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os

import pytest
from temporal_support import skip_without_temporal

from intercom_connector.runtime.errors import ConnectionConfigError, InputValidationError


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_sealed_payloads_open_with_the_key_and_after_a_rotation_with_the_old_one() -> None:
    skip_without_temporal()
    from temporalio.api.common.v1 import Payload

    from intercom_connector.hosts.temporal.codec import codec_from_env

    old, new = key(), key()
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"ada@example.com"}')
    before = codec_from_env({"INTERCOM_TEMPORAL_KEY": old})
    assert before is not None
    sealed = asyncio.run(before.encode([plain]))[0]
    assert b"ada@example.com" not in sealed.SerializeToString()
    rotated = codec_from_env({"INTERCOM_TEMPORAL_KEY": new, "INTERCOM_TEMPORAL_OLD_KEYS": old})
    assert rotated is not None
    assert asyncio.run(rotated.decode([sealed])) == [plain]
    assert asyncio.run(rotated.decode([plain])) == [plain]  # written before encryption
    newer = codec_from_env({"INTERCOM_TEMPORAL_KEY": new})
    assert newer is not None
    with pytest.raises(ConnectionConfigError, match="neither INTERCOM_TEMPORAL_KEY nor"):
        asyncio.run(newer.decode([sealed]))
    assert codec_from_env({}) is None  # off by default


def test_a_key_that_is_not_32_bytes_of_base64_is_refused_without_showing_it() -> None:
    skip_without_temporal()
    from intercom_connector.hosts.temporal.codec import codec_from_env

    with pytest.raises(ConnectionConfigError) as refused:
        codec_from_env({"INTERCOM_TEMPORAL_KEY": "short-and-secret"})
    assert "32 random bytes in base64" in str(refused.value)
    assert "short-and-secret" not in str(refused.value)


def test_runs_show_redacts_secret_inputs_and_secret_looking_fields() -> None:
    skip_without_temporal()
    from intercom_connector.hosts.temporal.runs import REDACTED, redact

    step = {
        "inputs": {"email": "ada@example.com", "client_secret": "s3", "api_token": "t0"},
        "output": {"data": [{"access_token": "t1", "name": "Ada"}]},
    }
    shown = redact(step, frozenset({"client_secret"}))
    assert shown["inputs"] == {"email": "ada@example.com", "client_secret": REDACTED,
                               "api_token": REDACTED}  # fmt: skip
    assert shown["output"]["data"] == [{"access_token": REDACTED, "name": "Ada"}]


def test_the_cluster_is_host_and_port_from_the_option_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from intercom_connector.hosts.temporal.cluster import cluster_of

    options = argparse.Namespace(temporal=None, namespace="ns", task_queue="q")
    monkeypatch.delenv("INTERCOM_TEMPORAL_ADDRESS", raising=False)
    with pytest.raises(InputValidationError, match="INTERCOM_TEMPORAL_ADDRESS"):
        cluster_of(options, "runs")
    monkeypatch.setenv("INTERCOM_TEMPORAL_ADDRESS", "10.0.0.5:7233")
    assert cluster_of(options, "runs").address == "10.0.0.5:7233"
    options.temporal = "127.0.0.1:7000"  # the option wins
    assert cluster_of(options, "runs").address == "127.0.0.1:7000"
    for wrong in ("127.0.0.1", "host:port", ":7233", "h:70000"):
        options.temporal = wrong
        with pytest.raises(InputValidationError, match="expected HOST:PORT"):
            cluster_of(options, "runs")
