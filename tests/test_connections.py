"""Connections: the OAuth 2.0 dance over real loopback HTTP, regions, saved connections."""

from __future__ import annotations

import json
import os
import select
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from support import REPO, TOKEN, LoopbackIntercom, Recorder, run_cli

from intercom_connector import Connector
from intercom_connector.connections.oauth2 import (
    PendingAuthorization,
    complete_authorization,
    start_authorization,
)
from intercom_connector.connections.saved import SavedConnections
from intercom_connector.runtime.errors import (
    AuthenticationError,
    ConnectionConfigError,
    InputValidationError,
)
from intercom_connector.sandbox import Sandbox, ServerHandle, serve

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-client-secret"
CALLBACK = "http://127.0.0.1:9/callback"  # never contacted: the test reads the redirect


@pytest.fixture(scope="module")
def served() -> Iterator[ServerHandle]:
    with serve(Sandbox(":memory:")) as server:
        yield server


def begin(server: ServerHandle) -> PendingAuthorization:
    return start_authorization(
        CLIENT_ID,
        CALLBACK,
        authorize_url=f"{server.url}/oauth",
        token_url=f"{server.url}/auth/eagle/token",
    )


def consent(pending: PendingAuthorization, extra: str = "") -> str:
    """What a person's browser does on Intercom's page: approve, get redirected."""
    answer = httpx.get(pending.url + extra, follow_redirects=False)
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_authorization_url_for_intercom() -> None:
    pending = start_authorization("my-app", "https://flows.example/callback")
    url = urlsplit(pending.url)
    assert (url.scheme, url.netloc, url.path) == ("https", "app.intercom.com", "/oauth")
    query = parse_qs(url.query)
    assert query["client_id"] == ["my-app"]
    assert query["redirect_uri"] == ["https://flows.example/callback"]
    assert query["state"] == [pending.state] and len(pending.state) >= 43
    assert pending.token_url == "https://api.intercom.io/auth/eagle/token"
    assert start_authorization("my-app", "https://x.example/cb").state != pending.state


def test_the_whole_dance_gives_a_working_connection(served: ServerHandle) -> None:
    pending = begin(served)
    callback = consent(pending)
    assert callback.startswith(CALLBACK + "?code=")
    connection = complete_authorization(pending, callback, CLIENT_SECRET, base_url=served.url)
    assert connection.kind == "oauth2" and connection.get("client_id") == CLIENT_ID
    with Connector(connection) as intercom:
        tags = intercom.invoke("list_tags")["data"]["data"]
    assert len(tags) == 5
    token = connection.bearer_token()
    assert token not in repr(connection) and CLIENT_SECRET not in repr(connection)


def test_a_code_is_good_once(served: ServerHandle) -> None:
    pending = begin(served)
    callback = consent(pending)
    complete_authorization(pending, callback, CLIENT_SECRET, base_url=served.url)
    with pytest.raises(AuthenticationError, match="invalid_grant"):
        complete_authorization(pending, callback, CLIENT_SECRET, base_url=served.url)


def test_wrong_state_is_refused_before_any_exchange(served: ServerHandle) -> None:
    pending = begin(served)
    callback = consent(pending).replace(pending.state, "forged")
    with pytest.raises(ConnectionConfigError, match="state does not match"):
        complete_authorization(pending, callback, CLIENT_SECRET)


def test_denied_consent(served: ServerHandle) -> None:
    pending = begin(served)
    callback = consent(pending, "&sandbox_deny=1")
    with pytest.raises(ConnectionConfigError, match=r"did not authorize the app \(access_denied\)"):
        complete_authorization(pending, callback, CLIENT_SECRET)


def test_invalid_code(served: ServerHandle) -> None:
    pending = begin(served)
    callback = f"{CALLBACK}?code=not-a-code&state={pending.state}"
    with pytest.raises(AuthenticationError, match="invalid_grant") as excinfo:
        complete_authorization(pending, callback, CLIENT_SECRET)
    assert excinfo.value.exit_code == 3


def test_bad_client_secret_never_echoes_it(served: ServerHandle) -> None:
    pending = begin(served)
    callback = consent(pending)
    wrong = "wrong-secret-5c1d"
    with pytest.raises(AuthenticationError, match="invalid_client") as excinfo:
        complete_authorization(pending, callback, wrong)
    assert wrong not in str(excinfo.value) and wrong not in repr(excinfo.value)


@pytest.mark.parametrize(
    ("region", "absolute", "accepted"),
    [
        ("eu", "https://api.eu.intercom.io/admins", True),
        ("eu", "https://api.intercom.io/admins", False),
        ("au", "https://api.au.intercom.io/admins", True),
        ("au", "https://api.eu.intercom.io/admins", False),
    ],
)
def test_region_applies_to_raw_request(
    region: str, absolute: str, accepted: bool, recorder: Recorder
) -> None:
    recorder.on("GET", "/admins", {"type": "admin.list", "admins": []})
    connection = {
        "type": "oauth2", "client_id": "c", "client_secret": "s", "access_token": "t",
        "region": region,
    }  # fmt: skip
    with Connector(connection, transport=httpx.MockTransport(recorder)) as connector:
        connector.invoke("raw_request", {"url": "/admins", "method": "GET"})
        assert recorder.last.url.host == f"api.{region}.intercom.io"
        if accepted:
            connector.invoke("raw_request", {"url": absolute, "method": "GET"})
            assert len(recorder.requests) == 2
        else:
            with pytest.raises(InputValidationError, match="not this connection's API host"):
                connector.invoke("raw_request", {"url": absolute, "method": "GET"})
            assert len(recorder.requests) == 1


def test_redirects_are_not_followed(recorder: Recorder, connector: Connector) -> None:
    recorder.on("GET", "/admins", None, status=302, headers={"Location": "https://evil.example/"})
    with pytest.raises(Exception, match="302"):
        connector.invoke("raw_request", {"url": "/admins", "method": "GET"})
    assert [r.url.host for r in recorder.requests] == ["api.intercom.io"]


def test_an_oauth_connection_without_a_token_yet() -> None:
    connection = {"type": "oauth2", "client_id": "c", "client_secret": "s"}
    with pytest.raises(ConnectionConfigError, match="has not been authorized yet"):
        Connector(connection).invoke("list_tags")


# -- saved connections ------------------------------------------------------------------


def test_saved_connections_file_is_private(tmp_path: Path) -> None:
    saved = SavedConnections(tmp_path / "config")
    saved.save("work", {"type": "access_token", "access_token": "tok", "region": "eu"})
    assert stat.S_IMODE(saved.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.dir.stat().st_mode) == 0o700
    assert saved.get("work").api_base == "https://api.eu.intercom.io"
    saved.path.chmod(0o644)
    with pytest.raises(ConnectionConfigError, match=r"mode 0644.*chmod 600"):
        saved.get("work")


def test_unusable_connections_are_not_saved(tmp_path: Path) -> None:
    saved = SavedConnections(tmp_path)
    with pytest.raises(
        ConnectionConfigError, match=r"Region \(region\): must be one of us, eu, au"
    ):
        saved.save("x", {"type": "access_token", "access_token": "t", "region": "mars"})
    with pytest.raises(ConnectionConfigError, match="must be letters"):
        saved.save("../evil", {"type": "access_token", "access_token": "t"})
    assert not saved.path.exists()


def cli(
    config: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli("--config-dir", str(config), *args, stdin=stdin, env=env, timeout=120)


def test_cli_login_with_oauth2_then_use_test_show_and_remove(
    served: ServerHandle, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    command = [
        sys.executable, "-m", "intercom_connector", "--config-dir", str(config),
        "connect", "oauth2", "--client-id", CLIENT_ID, "--base-url", served.url,
        "--name", "sbx", "--no-browser", "--timeout", "60",
    ]  # fmt: skip
    env = {**os.environ, "INTERCOM_CLIENT_SECRET": CLIENT_SECRET}
    login = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=REPO,
    )  # fmt: skip
    assert login.stderr is not None
    printed = []
    for line in login.stderr:
        printed.append(line)
        if line.startswith(served.url + "/oauth?"):
            # the person's browser: approve, then follow the redirect to the CLI's listener
            browser = threading.Thread(
                target=httpx.get, args=(line.strip(),), kwargs={"follow_redirects": True}
            )
            browser.start()
            break
    rest = login.communicate(timeout=60)[1]
    browser.join(timeout=10)
    assert login.returncode == 0, "".join(printed) + rest
    assert "Saved connection 'sbx' (oauth2, region us)." in rest
    assert stat.S_IMODE((config / "connections.json").stat().st_mode) == 0o600

    listed = cli(config, "connections", "list")
    assert listed.stdout.split("\t")[:3] == ["sbx", "oauth2", "us"]
    shown = json.loads(cli(config, "connections", "show", "sbx").stdout)
    assert shown["access_token"] == "********" and shown["client_secret"] == "********"
    assert shown["client_id"] == CLIENT_ID
    tested = cli(config, "connections", "test", "sbx")
    assert tested.returncode == 0, tested.stderr
    assert "works: workspace 'Sandbox Workspace'" in tested.stdout and "region US" in tested.stdout
    ran = cli(config, "run", "list_tags", "--connection", "sbx")
    assert ran.returncode == 0 and len(json.loads(ran.stdout)["data"]["data"]) >= 5
    assert cli(config, "connections", "remove", "sbx").returncode == 0
    gone = cli(config, "run", "list_tags", "--connection", "sbx")
    assert gone.returncode == 3
    assert "'sbx' is neither a connection file nor a saved connection" in gone.stderr


def test_cli_connections_test_gives_a_wrong_region_hint(
    served: ServerHandle, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    # saved through the Python API, which does not ask Intercom (connect would refuse it)
    wrong = {"type": "access_token", "access_token": "not-the-token", "base_url": served.url}
    SavedConnections(config).save("wrong", wrong)
    tested = cli(config, "connections", "test", "wrong")
    assert tested.returncode == 3
    assert "401 unauthorized" in tested.stderr and "Check the region" in tested.stderr
    (config / "connections.json").chmod(0o640)
    refused = cli(config, "connections", "list")
    assert refused.returncode == 3 and "chmod 600" in refused.stderr


# -- connect access-token: checked with Intercom, asks before replacing ------------------


def connect(config: Path, served: ServerHandle, token: str, *extra: str) -> CompletedProcess[str]:
    args = ["connect", "access-token", "--name", "work", "--base-url", served.url, *extra]
    return cli(config, *args, stdin=token + "\n")


def saved_token(config: Path, name: str = "work") -> str:
    return str(json.loads((config / "connections.json").read_text())[name]["access_token"])


def test_connect_checks_the_token_with_intercom_and_names_the_workspace(
    served: ServerHandle, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    done = connect(config, served, "sandbox-token")
    assert done.returncode == 0, done.stderr
    assert "Saved connection 'work' (access_token): workspace 'Sandbox Workspace'" in done.stderr
    assert "region US" in done.stderr and served.url in done.stderr
    assert saved_token(config) == "sandbox-token"


def test_connect_does_not_save_a_token_intercom_refuses(
    served: ServerHandle, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    done = connect(config, served, "not-the-token-3e1f")
    assert done.returncode == 3
    assert "401 unauthorized" in done.stderr and "the token was not saved" in done.stderr
    assert "not-the-token-3e1f" not in done.stdout + done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not (config / "connections.json").exists()


def test_a_saved_connections_file_that_cannot_be_written_is_one_line_exit_5(
    served: ServerHandle, tmp_path: Path
) -> None:
    """A full disk (no file may grow past 64 bytes): one line naming the file, not bad
    input, and the file saved before is whole."""
    config = tmp_path / "config"
    assert connect(config, served, "sandbox-token").returncode == 0
    before = (config / "connections.json").read_text()
    args = ["--config-dir", str(config), "connect", "access-token", "--name", "other",
            "--base-url", served.url]  # fmt: skip
    done = run_cli(*args, stdin="sandbox-token\n", file_size_limit=64)
    assert done.returncode == 5
    assert done.stderr.strip() == (
        f"error: saved connections file {config / 'connections.json'}: cannot be written "
        "(File too large)"
    )
    assert (config / "connections.json").read_text() == before
    assert sorted(p.name for p in config.iterdir()) == ["connections.json"]


def test_connect_replaces_a_saved_name_only_with_force_when_not_on_a_terminal(
    served: ServerHandle, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    SavedConnections(config).save(
        "work", {"type": "access_token", "access_token": "first-token", "base_url": served.url}
    )
    refused = connect(config, served, "sandbox-token")
    assert refused.returncode == 3
    assert "'work' is saved already: give --force to replace it" in refused.stderr
    assert saved_token(config) == "first-token"
    forced = connect(config, served, "sandbox-token", "--force")
    assert forced.returncode == 0, forced.stderr
    assert saved_token(config) == "sandbox-token"


def on_a_terminal(command: list[str], answers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
    """Run ``command`` with a pseudo-terminal as stdin; type each answer once its prompt shows.

    Returns the exit status and stderr. Bounded: the command is killed after 60 s.
    """
    master, slave = os.openpty()
    process = subprocess.Popen(
        command, stdin=slave, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")},
        start_new_session=True,  # no controlling terminal: getpass reads the pty on stdin
    )  # fmt: skip
    os.close(slave)
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + 60
    try:
        for prompt, answer in answers:
            while prompt not in seen:
                ready, _, _ = select.select([process.stderr], [], [], 1.0)
                assert time.monotonic() < deadline, f"no prompt {prompt!r}; got {seen!r}"
                if ready:
                    chunk = os.read(process.stderr.fileno(), 4096)
                    assert chunk, f"exited before prompting {prompt!r}; got {seen!r}"
                    seen += chunk
            os.write(master, answer)
        rest = process.communicate(timeout=max(1.0, deadline - time.monotonic()))[1]
        seen += rest
        status = process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
        process.stderr.close()
    return status, seen.decode()


@pytest.mark.parametrize(("answer", "replaced"), [(b"n\n", False), (b"y\n", True)])
def test_connect_asks_on_a_terminal_before_replacing(
    answer: bytes, replaced: bool, served: ServerHandle, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    SavedConnections(config).save(
        "work", {"type": "access_token", "access_token": "first-token", "base_url": served.url}
    )
    command = [
        sys.executable, "-m", "intercom_connector", "--config-dir", str(config),
        "connect", "access-token", "--name", "work", "--base-url", served.url,
    ]  # fmt: skip
    answers = [(b"Replace the saved connection 'work'? [y/N]", answer)]
    if replaced:
        answers.append((b"Access Token:", b"sandbox-token\n"))
    status, stderr = on_a_terminal(command, answers)
    if replaced:
        assert status == 0, stderr
        assert saved_token(config) == "sandbox-token"
    else:
        assert status == 3 and "Kept the saved connection 'work'; nothing was saved" in stderr
        assert "Access Token" not in stderr  # not asked for a token it would not save
        assert saved_token(config) == "first-token"


def test_connect_oauth2_does_not_replace_a_saved_name_either(
    served: ServerHandle, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    SavedConnections(config).save("default", {"type": "access_token", "access_token": "tok"})
    args = ["connect", "oauth2", "--client-id", CLIENT_ID, "--base-url", served.url]
    done = cli(config, *args, "--no-browser", env={"INTERCOM_CLIENT_SECRET": CLIENT_SECRET})
    assert done.returncode == 3 and "give --force to replace it" in done.stderr
    assert "Authorize the app" not in done.stderr
    assert saved_token(config, "default") == "tok"


def test_connections_list_says_when_there_are_none(tmp_path: Path) -> None:
    done = cli(tmp_path / "config", "connections", "list")
    assert done.returncode == 0 and done.stdout == ""
    assert "No saved connections yet" in done.stderr


# -- where saved connections are written ----------------------------------------------


def test_saving_never_writes_through_a_planted_temporary_file(
    served: ServerHandle, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    (config / "connections.tmp").symlink_to(victim)
    done = connect(config, served, "sandbox-token")
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "untouched\n"
    saved = config / "connections.json"
    assert not saved.is_symlink() and stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert saved_token(config) == "sandbox-token"
    assert sorted(p.name for p in config.iterdir()) == ["connections.json", "connections.tmp"]


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o1777], ids=oct)
@pytest.mark.parametrize("command", [["connections", "list"], ["connect", "access-token"]])
def test_a_config_folder_others_can_write_to_is_refused(
    mode: int, command: list[str], served: ServerHandle, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    config.chmod(mode)
    args = [*command, "--base-url", served.url] if command[0] == "connect" else command
    done = cli(config, *args, stdin="sandbox-token\n")
    assert done.returncode == 3
    assert f"can be written by others (mode {mode:04o}); fix it with: chmod 700 {config}" in (
        done.stderr
    )
    assert list(config.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_config_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir(mode=0o700)
    os.chown(config, 65534, 65534)
    done = cli(config, "connections", "list")
    assert done.returncode == 3 and f"config folder {config} belongs to another user" in (
        done.stderr
    )


# -- connection files, --connection values, the environment --------------------------


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=oct)
def test_a_connection_file_others_can_read_is_refused(
    mode: int, recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    path = tmp_path / "connection.yaml"
    path.write_text(f"access_token: {TOKEN}\nbase_url: {loopback.url}\n")
    path.chmod(mode)
    done = cli(tmp_path / "config", "run", "list_tags", "--connection", str(path))
    assert done.returncode == 3
    assert f"(mode {mode:04o}); fix it with: chmod 600 {path}" in done.stderr
    assert recorder.requests == [] and TOKEN not in done.stdout + done.stderr
    path.chmod(0o600)
    fixed = cli(tmp_path / "config", "run", "list_tags", "--connection", str(path))
    assert fixed.returncode == 0, fixed.stderr
    assert len(recorder.requests) == 1


def test_a_connection_file_without_a_secret_may_be_readable(tmp_path: Path) -> None:
    path = tmp_path / "connection.yaml"
    path.write_text("type: oauth2\nclient_id: my-app\nregion: eu\n")
    path.chmod(0o644)
    done = cli(tmp_path / "config", "run", "list_tags", "--connection", str(path))
    assert done.returncode == 3
    assert "needs its Client Secret (client_secret)" in done.stderr
    assert "chmod" not in done.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("missing.yaml", "connection file missing.yaml does not exist"),
        ("missing.json", "connection file missing.json does not exist"),
        ("conf/work.yml", "connection file conf/work.yml does not exist"),
        ("tests", "'tests' is neither a connection file nor a saved connection "
                  "(saved connections: none saved yet)"),
        ("tests/", "connection file tests/ is a folder, not a file"),
        ("work", "'work' is neither a connection file nor a saved connection "
                 "(saved connections: none saved yet)"),
    ],
)  # fmt: skip
def test_connection_value_that_is_neither_a_file_nor_saved(
    value: str, message: str, tmp_path: Path
) -> None:
    done = cli(tmp_path / "config", "run", "list_tags", "-c", value)
    assert done.returncode == 3
    assert done.stderr == f"error: {message}\n"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INTERCOM_BASE_URL": "http://127.0.0.1:9"},
         "INTERCOM_BASE_URL is set but INTERCOM_ACCESS_TOKEN is not"),
        ({"INTERCOM_REGION": "eu", "INTERCOM_VERSION": "2.15"},
         "INTERCOM_REGION and INTERCOM_VERSION are set but INTERCOM_ACCESS_TOKEN is not"),
        ({"INTERCOM_ACCESS_TOKEN": ""}, "INTERCOM_ACCESS_TOKEN is set but empty"),
        ({"INTERCOM_ACCESS_TOKEN": "", "INTERCOM_REGION": "eu"},
         "INTERCOM_ACCESS_TOKEN is set but empty"),
    ],
)  # fmt: skip
def test_partial_intercom_settings_never_fall_back_to_the_sandbox(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    sandbox = {"INTERCOM_SANDBOX_DIR": str(tmp_path / "sandbox")}
    done = cli(tmp_path / "config", "run", "list_tags", env={**env, **sandbox})
    assert done.returncode == 3, done.stderr
    assert message in done.stderr and "using the embedded sandbox" not in done.stderr
    assert done.stdout == ""
    # with no Intercom setting at all (the sandbox's own folder is not one), the sandbox
    fallback = cli(tmp_path / "config", "run", "list_tags", env=sandbox)
    assert fallback.returncode == 0 and "using the embedded sandbox" in fallback.stderr


# -- tokens and secrets that could not travel in a header -----------------------------


@pytest.mark.parametrize(
    "token",
    [TOKEN + "\n", TOKEN + "\r\n", "\n" + TOKEN, " " + TOKEN, TOKEN + "\t",
     TOKEN[:6] + "\r\nX-Injected: 1" + TOKEN[6:], TOKEN + "\x00", TOKEN + "\x7f", TOKEN + "é"],
)  # fmt: skip
def test_a_token_with_line_breaks_or_control_characters_is_refused_before_sending(
    token: str, recorder: Recorder, loopback: LoopbackIntercom, tmp_path: Path
) -> None:
    recorder.on("GET", "/tags", {"type": "list", "data": []})
    path = tmp_path / "connection.json"
    path.write_text(json.dumps({"access_token": token, "base_url": loopback.url}))
    path.chmod(0o600)
    env = {"INTERCOM_ACCESS_TOKEN": token, "INTERCOM_BASE_URL": loopback.url}
    if "\x00" not in token:  # an environment variable cannot hold NUL
        by_env = cli(tmp_path / "config", "run", "list_tags", env=env)
        assert by_env.returncode == 3 and "Access Token (access_token):" in by_env.stderr
        assert TOKEN not in by_env.stderr and len(by_env.stderr.splitlines()) == 1
    by_file = cli(tmp_path / "config", "run", "list_tags", "-c", str(path))
    assert by_file.returncode == 3 and "Access Token (access_token):" in by_file.stderr
    assert TOKEN not in by_file.stderr
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"access_token": TOKEN + "\n"}, "Access Token (access_token)"),
        ({"access_token": [TOKEN]}, "Access Token (access_token)"),
        ({"type": "oauth2", "client_id": "c", "client_secret": TOKEN + "\r"},
         "Client Secret (client_secret)"),
        ({"type": "oauth2", "client_id": "c", "client_secret": "s", "access_token": TOKEN + " "},
         "Access Token (access_token)"),
    ],
)  # fmt: skip
def test_secrets_are_checked_by_label_without_echoing_them(
    fields: dict[str, object], label: str
) -> None:
    with pytest.raises(ConnectionConfigError) as refused:
        Connector({"type": "access_token", **fields})
    assert str(refused.value).startswith(f"{label}: ")
    assert TOKEN not in str(refused.value) and TOKEN not in repr(refused.value)
