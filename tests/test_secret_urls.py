"""Every URL a token, client secret or code is sent to follows the Base URL rule (https, or
plain http on loopback only; no ``user:password@``), and no message ever shows a password."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest
from support import TOKEN, LoopbackIntercom, Recorder, run_cli

from intercom_connector import Connector
from intercom_connector.connections.oauth2 import (
    PendingAuthorization,
    exchange_code,
    start_authorization,
)
from intercom_connector.hosts.ui.designer import Designer
from intercom_connector.runtime.errors import ConnectionConfigError, InputValidationError

PASSWORD = "Pa55w0rdXYZ"
CLEAR = ["http://auth.example.com/token", "http://10.0.0.7/token", "ftp://api.intercom.io/x"]


@pytest.mark.parametrize("url", CLEAR)
def test_connect_oauth2_refuses_a_token_url_in_clear_text(url: str) -> None:
    for option in ("--token-url", "--authorize-url"):
        done = run_cli(
            "connect", "oauth2", "--client-id", "abc", option, url, "--no-browser",
            env={"INTERCOM_CLIENT_SECRET": "s3cret-value"}, timeout=30,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        error = done.stderr.splitlines()[-1]
        assert error.startswith("error: ") and option in error, done.stderr
        assert "s3cret-value" not in done.stdout + done.stderr


@pytest.mark.parametrize("url", CLEAR)
def test_the_python_api_refuses_oauth_urls_in_clear_text(url: str) -> None:
    loopback = "http://127.0.0.1:9/callback"
    with pytest.raises(ConnectionConfigError, match="token_url"):
        start_authorization("abc", loopback, token_url=url)
    with pytest.raises(ConnectionConfigError, match="authorize_url"):
        start_authorization("abc", loopback, authorize_url=url)
    with pytest.raises(ConnectionConfigError, match="redirect_uri"):
        start_authorization("abc", url)


def test_the_secret_is_never_posted_to_a_token_url_in_clear_text(
    recorder: Recorder, loopback: LoopbackIntercom
) -> None:
    recorder.on("POST", "/token", {"token": "t"})
    made_elsewhere = PendingAuthorization(
        url="https://app.intercom.com/oauth",
        state="s",
        client_id="abc",
        redirect_uri="http://127.0.0.1:9/callback",
        token_url="http://auth.example.com/token",
    )
    with pytest.raises(ConnectionConfigError, match="clear text"):
        exchange_code(made_elsewhere, "code", "s3cret")
    on_loopback = replace(made_elsewhere, token_url=f"{loopback.url}/token")
    assert exchange_code(on_loopback, "code", "s3cret") == "t"
    assert [request.url.path for request in recorder.requests] == ["/token"]


def test_the_designer_refuses_a_login_whose_urls_are_in_clear_text(tmp_path: object) -> None:
    designer = Designer(str(tmp_path))
    fields = {"client_id": "abc", "client_secret": "s3cret", "base_url": "http://10.0.0.7"}
    with pytest.raises(ConnectionConfigError, match=r"Base URL .* clear text"):
        designer.start_login("work", fields, "http://127.0.0.1:8760")
    fields["base_url"] = "https://api.intercom.io"
    with pytest.raises(ConnectionConfigError, match="redirect_uri"):
        designer.start_login("work", fields, "http://192.0.2.1:8760")


def test_the_sandbox_refuses_a_webhook_url_that_is_not_a_url_or_holds_a_password() -> None:
    for url, shown in (
        ("http://127.0.0.1:notaport/", "is not a valid URL"),
        (f"http://me:{PASSWORD}@127.0.0.1:9/", "user name or password"),
        ("http://192.0.2.1:9/", "clear text"),
    ):
        done = run_cli("sandbox", "serve", "--port", "0", "--webhook-url", url, timeout=30)
        assert done.returncode == 2, done.stderr
        assert shown in done.stderr and "--webhook-url" in done.stderr
        assert PASSWORD not in done.stderr


# -- user info --------------------------------------------------------------------------


def test_a_base_url_with_a_password_is_refused_and_never_printed(
    recorder: Recorder, loopback: LoopbackIntercom
) -> None:
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    url = loopback.url.replace("http://", f"http://admin:{PASSWORD}@")
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": url}
    done = run_cli("run", "list_tags", "--verbose", env=env)
    assert done.returncode == 3, done.stderr
    assert "Base URL 'http://***@127.0.0.1:" in done.stderr
    assert "must not hold a user name or password" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert recorder.requests == []
    with pytest.raises(ConnectionConfigError) as refused:
        Connector({"type": "access_token", "access_token": TOKEN, "base_url": url})
    assert PASSWORD not in str(refused.value)


def test_a_raw_request_url_with_a_password_is_refused_and_never_printed(
    recorder: Recorder, loopback: LoopbackIntercom
) -> None:
    env = {"INTERCOM_ACCESS_TOKEN": TOKEN, "INTERCOM_BASE_URL": loopback.url}
    own = loopback.url.replace("http://", f"http://admin:{PASSWORD}@") + "/tags"
    for url in (own, f"//admin:{PASSWORD}@api.intercom.io/tags"):
        done = run_cli("run", "raw_request", "-i", "method=GET", "-i", f"url={url}", env=env)
        assert done.returncode == 2, done.stderr
        assert "URL (url): must not hold a user name or password" in done.stderr
        assert PASSWORD not in done.stdout + done.stderr
    assert recorder.requests == []


def test_a_raw_request_refusal_names_no_password_in_python(recorder: Recorder) -> None:
    with (
        Connector(
            {"type": "access_token", "access_token": TOKEN},
            transport=httpx.MockTransport(recorder),
        ) as intercom,
        pytest.raises(InputValidationError) as refused,
    ):
        intercom.invoke(
            "raw_request",
            {"method": "GET", "url": f"https://me:{PASSWORD}@api.intercom.io/tags"},
        )
    assert PASSWORD not in str(refused.value)
    assert recorder.requests == []


def test_a_connection_built_by_hand_meets_the_base_url_rule_too(recorder: Recorder) -> None:
    """``Connection`` is exported: one made without connection_from_mapping (which checks the
    Base URL) still never sends its token in clear text, nor to a URL holding a password."""
    from intercom_connector import Connection, Secret

    recorder.on("GET", "/tags", {"type": "list", "data": []})
    fields = {"access_token": Secret(TOKEN), "region": "us", "api_version": "2.11"}
    fields |= {"max_attempts": 1, "max_retry_seconds": 1}
    for url, problem in (
        ("http://192.0.2.1", "clear text"),
        (f"https://me:{PASSWORD}@api.intercom.io", "user name or password"),
    ):
        made = Connection(kind="access_token", values={**fields, "base_url": url})
        with (
            pytest.raises(ConnectionConfigError, match=problem) as refused,
            Connector(made, transport=httpx.MockTransport(recorder)) as intercom,
        ):
            intercom.invoke("list_tags", {})
        assert PASSWORD not in str(refused.value)
    assert recorder.requests == []
    loopback = Connection(kind="access_token", values={**fields, "base_url": "http://[::1]:9"})
    with Connector(loopback, transport=httpx.MockTransport(recorder)) as intercom:
        assert intercom.invoke("list_tags", {}) is not None
    assert [request.url.path for request in recorder.requests] == ["/tags"]


def test_a_refused_url_never_shows_its_query_which_may_hold_a_token() -> None:
    """A URL refused (a Base URL with a query, a token URL in clear text) is named in the
    message with its query as ``?***``: a query is where a key or token is put."""
    with pytest.raises(ConnectionConfigError) as refused:
        Connector({"type": "access_token", "access_token": TOKEN,
                   "base_url": f"https://api.intercom.io/?access_token={PASSWORD}"})  # fmt: skip
    assert "'https://api.intercom.io/?***' must not have a query" in str(refused.value)
    with pytest.raises(ConnectionConfigError) as clear:
        start_authorization(
            "abc", "http://127.0.0.1:9/callback", token_url=f"http://10.0.0.7/t?key={PASSWORD}"
        )
    assert "'http://10.0.0.7/t?***'" in str(clear.value) and PASSWORD not in str(clear.value)
    done = run_cli(
        "connect", "oauth2", "--client-id", "abc", "--no-browser",
        "--token-url", f"http://10.0.0.7/t?key={PASSWORD}#part",
        env={"INTERCOM_CLIENT_SECRET": "s3cret-value"}, timeout=30,
    )  # fmt: skip
    assert done.returncode == 2 and "http://10.0.0.7/t?***#part" in done.stderr, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
