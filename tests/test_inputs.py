"""Input types as a person meets them: what a form value becomes, and what is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from support import REPO, Recorder, body_of

from intercom_connector import Connector
from intercom_connector.runtime.errors import InputValidationError

CONTACT = {"type": "contact", "id": "6657a1b2c3d4e5f6a7b8c9d0"}


@pytest.mark.parametrize(
    "value", [1_709_283_600_000, "1709283600000", " 1709283600000 ", 1_709_283_600_000.0]
)
def test_a_timestamp_in_milliseconds_is_refused_with_the_seconds_to_give(
    value: object, recorder: Recorder, connector: Connector
) -> None:
    with pytest.raises(InputValidationError) as excinfo:
        connector.invoke("create_contact", {"email": "a@example.com", "signed_up_at": value})
    assert (
        "Signed Up At (signed_up_at): 1709283600000 looks like milliseconds; "
        "give unix seconds: 1709283600"
    ) in str(excinfo.value)
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        (1_709_283_600, 1_709_283_600),
        ("1709283600", 1_709_283_600),
        (999_999_999_999, 999_999_999_999),  # the largest number still read as seconds
        ("2024-03-01T09:00:00Z", 1_709_283_600),
    ],
)
def test_seconds_and_dates_are_still_accepted(
    value: object, sent: int, recorder: Recorder, connector: Connector
) -> None:
    recorder.on("POST", "/contacts", CONTACT)
    connector.invoke("create_contact", {"email": "a@example.com", "signed_up_at": value})
    assert body_of(recorder.last)["signed_up_at"] == sent


def test_milliseconds_through_the_cli_are_a_bad_input() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env["INTERCOM_ACCESS_TOKEN"] = "unused-token"
    env["INTERCOM_BASE_URL"] = "http://127.0.0.1:9"  # never reached: refused before sending
    done = subprocess.run(
        [sys.executable, "-m", "intercom_connector", "run", "update_contact", "--inputs", "-"],
        input=json.dumps({"contact_id": "x", "last_seen_at": 1_709_283_600_123}),
        capture_output=True, text=True, env=env, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Last Seen At (last_seen_at): 1709283600123 looks like milliseconds; " in done.stderr
    assert "give unix seconds: 1709283600" in done.stderr
    assert "Traceback" not in done.stderr
