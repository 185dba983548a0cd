"""``connect oauth2`` as a person meets it: the page the browser shows, and a clean terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import REPO

from intercom_connector.sandbox import Sandbox, ServerHandle, serve

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-client-secret"


@pytest.fixture(scope="module")
def served() -> Iterator[ServerHandle]:
    with serve(Sandbox(":memory:")) as server:
        yield server


def log_in(
    served: ServerHandle, config: Path, secret: str, tamper: str = ""
) -> tuple[subprocess.CompletedProcess[str], httpx.Response]:
    """Run ``connect oauth2``; a browser opens the URL it prints (``tamper`` changes it
    first) and follows the redirects to the CLI's listener. Returns the CLI's outcome and
    the page the browser ends on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTERCOM_", "PYTHONWARN"))}
    command = [
        sys.executable, "-m", "intercom_connector", "--config-dir", str(config),
        "connect", "oauth2", "--client-id", CLIENT_ID, "--base-url", served.url,
        "--name", "sbx", "--no-browser", "--timeout", "30",
    ]  # fmt: skip
    login = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**env, "INTERCOM_CLIENT_SECRET": secret}, cwd=REPO,
    )  # fmt: skip
    assert login.stderr is not None
    printed, pages = [], []
    for line in login.stderr:
        printed.append(line)
        if line.startswith(served.url + "/oauth?"):
            url = line.strip()
            url = url.replace("&state=", "&state=forged") if tamper == "state" else url + tamper

            def browse(url: str = url) -> None:
                pages.append(httpx.get(url, follow_redirects=True, timeout=60))

            browser = threading.Thread(target=browse)
            browser.start()
            break
    out, rest = login.communicate(timeout=60)
    browser.join(timeout=60)
    done = subprocess.CompletedProcess(command, login.returncode, out, "".join(printed) + rest)
    assert pages, done.stderr
    return done, pages[0]


@pytest.mark.parametrize(
    ("secret", "tamper", "exit_code", "title", "reason"),
    [
        (CLIENT_SECRET, "", 0, "Intercom connection saved", "Connected to Intercom, and saved"),
        (
            CLIENT_SECRET, "&sandbox_deny=1", 3, "Intercom denied the authorization",
            "did not authorize the app (access_denied)",
        ),
        (
            CLIENT_SECRET, "state", 3, "The Intercom connection was not made",
            "state does not match the one sent",
        ),
        (
            "not-the-secret", "", 3, "The Intercom connection was not made",
            "Check the Client ID and Client Secret",
        ),
    ],
    ids=["approved", "denied", "forged-state", "wrong-secret"],
)  # fmt: skip
def test_the_callback_page_tells_how_the_login_ended(
    served: ServerHandle,
    tmp_path: Path,
    secret: str,
    tamper: str,
    exit_code: int,
    title: str,
    reason: str,
) -> None:
    done, page = log_in(served, tmp_path / "config", secret, tamper)
    assert done.returncode == exit_code, done.stderr
    assert page.status_code == (200 if exit_code == 0 else 400)
    assert f"<h1>{title}</h1>" in page.text
    assert reason in page.text.replace("&#x27;", "'")
    assert "authorized: you can close this tab" not in page.text
    assert secret not in page.text + done.stderr + done.stdout
    saved = tmp_path / "config" / "connections.json"
    assert saved.is_file() == (exit_code == 0)


def test_no_dependency_warning_reaches_the_terminal(served: ServerHandle, tmp_path: Path) -> None:
    done, _ = log_in(served, tmp_path / "config", CLIENT_SECRET)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "site-packages" not in done.stderr
