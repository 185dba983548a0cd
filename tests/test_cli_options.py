"""Option values every command checks alike (hosts/options.py): ports, counts, a port that
is taken; and messages that never repeat a huge input whole."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from support import run_cli

#: each command that listens, with what it needs besides ``--port``
LISTENERS = {
    "trigger listen": [
        "trigger",
        "listen",
        "intercom_webhook",
        "-i",
        "topics=contact.user.created",
    ],
    "connect oauth2": ["connect", "oauth2", "--client-id", "abc", "--no-browser"],
    "sandbox serve": ["sandbox", "serve"],
    "ui": ["ui", "--no-browser"],
    "mcp --http": ["mcp", "--http", "--sandbox"],
}


def env_for(tmp_path: Path) -> dict[str, str]:
    return {
        "INTERCOM_CLIENT_SECRET": "s3cret-value",
        "INTERCOM_SANDBOX_DIR": str(tmp_path / "sandbox"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }


@pytest.mark.parametrize("command", list(LISTENERS))
@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_every_port_option_takes_0_to_65535_only(command: str, port: str, tmp_path: Path) -> None:
    done = run_cli(*LISTENERS[command], "--port", port, env=env_for(tmp_path), timeout=60)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    error = done.stderr.splitlines()[-1]
    assert error.endswith(f"argument --port: expected a TCP port (0: any free one) from 0 to "
                          f"65535, got '{port}'"), done.stderr  # fmt: skip


@pytest.mark.parametrize("command", list(LISTENERS))
def test_a_port_in_use_is_one_line_for_every_command(command: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(*LISTENERS[command], "--port", str(port), env=env_for(tmp_path), timeout=60)
    assert done.returncode == 3, done.stderr
    lines = [line for line in done.stderr.splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot ")
    assert lines[0].endswith(
        f" on 127.0.0.1:{port}: Address already in use; choose another port with --port "
        "(0: any free one)"
    )


@pytest.mark.parametrize("count", ["0", "-3", "two"])
def test_max_events_takes_a_positive_number_only(count: str, tmp_path: Path) -> None:
    args = ["trigger", "listen", "intercom_webhook", "--port", "0", "--max-events", count]
    done = run_cli(*args, env=env_for(tmp_path), timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].endswith(
        f"argument --max-events: expected a whole number of at least 1, got '{count}'"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["trigger", "listen", "intercom_webhook", "--port", "0", "--grace", "1e300"],
        ["mcp", "--http", "--port", "0", "--read-timeout", "1e300"],
        ["connect", "oauth2", "--client-id", "abc", "--no-browser", "--timeout", "1e300"],
        ["trigger", "poll", "new_or_updated_contacts", "--state", "s.json", "--every", "1e300"],
    ],
    ids=lambda args: args[-2],
)
def test_seconds_past_a_year_are_refused_not_a_traceback_later(
    args: list[str], tmp_path: Path
) -> None:
    """A wait of 1e300 seconds was taken, then failed as a traceback when waited on (at
    SIGTERM for --grace, at once for --timeout): it is refused as it is read."""
    done = run_cli(*args, env=env_for(tmp_path), timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].endswith(
        f"argument {args[-2]}: expected a number of seconds above 0 and at most 31,536,000 "
        "(a year), got '1e300'"
    )


def test_a_webhook_url_must_be_a_url(tmp_path: Path) -> None:
    args = ["sandbox", "serve", "--port", "0", "--webhook-url", "127.0.0.1:8080"]
    done = run_cli(*args, env=env_for(tmp_path), timeout=60)
    assert done.returncode == 2, done.stderr
    assert "argument --webhook-url: '127.0.0.1:8080' must be an absolute http(s) URL" in (
        done.stderr
    )


# -- echoed values --------------------------------------------------------------------------

HUGE = "x" * 10_000


@pytest.mark.parametrize(
    "args",
    [
        ["run", "create_contact", "-i", f"role={HUGE}"],
        ["run", "get_contact", "-i", f"contact_id={HUGE}"],
        ["run", "list_contacts", "-i", f"per_page={HUGE}"],
        ["run", "create_tag", "-i", HUGE],
        ["run", "create_tag", "-i", f"{HUGE}=1"],
        ["run", HUGE],
        ["describe", HUGE],  # takes no connection: the last --sandbox is dropped
        ["data-source", HUGE],
        ["trigger", "listen", HUGE, "--port", "0"],
        ["run", "raw_request", "-i", "method=GET", "-i", f"url={HUGE}"],
        ["run", "raw_request", "-i", "method=GET", "-i", f"url=https://{HUGE}.com/"],
        ["run", "list_tags", "--output", HUGE],  # argparse's invalid choice
        [HUGE, "run"],  # argparse's invalid command
        ["docs", HUGE],  # argparse's unrecognized argument
        ["run", "list_tags", "--connection", HUGE],  # a name too long to be a file's
        ["mcp", "--connection", HUGE],
        ["--config-dir", HUGE, "connections", "list"],
        ["connections", "show", HUGE],
        ["connect", "access-token", "--name", HUGE, "--region", "eu"],
    ],
    ids=lambda args: " ".join(a[:24] for a in args),
)
def test_an_error_never_repeats_a_huge_input_whole(args: list[str], tmp_path: Path) -> None:
    takes_sandbox = args[0] in ("run", "data-source", "trigger") and "--connection" not in args
    sandbox = ["--sandbox"] if takes_sandbox else []
    done = run_cli(*args, *sandbox, env=env_for(tmp_path), timeout=60)
    assert done.returncode in (2, 3, 4), done.stderr[:2000]
    assert "Traceback" not in done.stderr
    # argparse's errors come after the usage lines
    assert done.stderr.startswith(("error: ", "usage: ")), done.stderr[:2000]
    assert "x" * 250 not in done.stderr and len(done.stderr) < 2_500, done.stderr[:3000]
    assert "x" * 20 + "..." in done.stderr  # cut, and shown to be cut


def test_a_file_never_has_a_huge_value_repeated_whole(tmp_path: Path) -> None:
    """Values written in a file (a CSV header, a flow's step, action and reference) are
    cut in errors as the command line's are."""
    (tmp_path / "rows.csv").write_text(f"email,{HUGE}\nada@example.com,1\n")
    flow = (
        f"name: x\nsteps:\n  - id: a\n    action: {HUGE}\n  - id: b\n    action: get_contact\n"
        f"    inputs: {{contact_id: '{{{{ steps.{HUGE}.id }}}}'}}\n  - id: {HUGE}\n"
        "    action: list_tags\n"
    )
    (tmp_path / "flow.yaml").write_text(flow)
    for args in (["run", "create_contact", "--each", "rows.csv"], ["flow", "run", "flow.yaml"]):
        done = run_cli(*args, "--sandbox", env=env_for(tmp_path), timeout=60, cwd=tmp_path)
        assert done.returncode == 2, done.stderr[:2000]
        assert "Traceback" not in done.stderr
        assert "x" * 250 not in done.stderr and len(done.stderr) < 2_500, done.stderr[:3000]
        assert "x" * 20 + "..." in done.stderr


# -- a repeated input -----------------------------------------------------------------------


def test_an_input_given_twice_is_refused_naming_it(tmp_path: Path) -> None:
    args = ["run", "create_tag", "-i", "name=first", "-i", "name=second", "--sandbox"]
    done = run_cli(*args, env=env_for(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "--input (name): is given twice" in done.stderr
    assert done.stdout == ""
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text("name: first\n")
    file_then_option = run_cli(
        "run", "create_tag", "--inputs", str(inputs), "-i", "name=second", "--sandbox",
        env=env_for(tmp_path),
    )  # fmt: skip
    assert file_then_option.returncode == 0, file_then_option.stderr  # the option wins
    assert '"name": "second"' in file_then_option.stdout


def test_a_key_written_twice_in_an_inputs_file_is_refused(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"name": "first",\n "name": "second"}')
    done = run_cli("run", "create_tag", "--inputs", str(inputs), "--sandbox", env=env_for(tmp_path))
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: inputs file {inputs}: line 2, column 2: this key is given a second time in "
        "the same mapping\n"
    )


# -- describe, help and an empty event --------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "heading", "output"),
    [
        ("select_tag", "Select Tag (select_tag)", 'Output: {"result": Choices}'),
        ("intercom_webhook", "Intercom Webhook (intercom_webhook)", "(webhook trigger)"),
        ("new_or_updated_contacts", "(new_or_updated_contacts)", "(polling trigger)"),
        ("create_tag", "Create Tag (create_tag)", 'Output: {"data": Tag}'),
    ],
)
def test_describe_tells_of_actions_data_sources_and_triggers(
    key: str, heading: str, output: str
) -> None:
    done = run_cli("describe", key)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].endswith(heading)
    assert any(line.startswith(output) or output in line for line in lines if "Output" in line)
    assert any(line.startswith("  ") for line in lines[2:]), done.stdout  # its inputs


def test_each_trigger_command_shows_an_example_of_its_own_kind() -> None:
    listen = run_cli("trigger", "listen", "--help").stdout
    poll = run_cli("trigger", "poll", "--help").stdout
    assert "webhook trigger key, e.g. intercom_webhook" in " ".join(listen.split())
    assert "polling trigger key, e.g. new_or_updated_contacts" in " ".join(poll.split())


def test_data_source_explains_its_input_option() -> None:
    shown = " ".join(run_cli("data-source", "--help").stdout.split())
    assert "--input KEY=VALUE, -i KEY=VALUE one input" in shown


def test_an_empty_event_on_standard_input_is_called_empty(tmp_path: Path) -> None:
    flow = str(Path(__file__).parent.parent / "examples" / "support-triage.yaml")
    done = run_cli(
        "flow", "run", flow, "--event", "-", "--sandbox", stdin="", env=env_for(tmp_path)
    )
    assert done.returncode == 2, done.stderr
    assert "--event: the event (standard input) is empty" in done.stderr
    assert "give its event with" not in done.stderr


# -- a data source without a connection --------------------------------------------------------


def test_a_data_source_without_a_connection_says_connect_first(tmp_path: Path) -> None:
    done = run_cli("data-source", "select_tag", env=env_for(tmp_path))
    assert done.returncode == 3, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("error: Connect first: ") and "--sandbox" in done.stderr
    assert "embedded sandbox" not in done.stderr.split("give --sandbox")[0]  # no note: no answer
    chosen = run_cli("data-source", "select_tag", "--sandbox", env=env_for(tmp_path))
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.startswith('{\n  "result": [')


def test_the_docs_name_the_commands_that_fall_back_to_the_sandbox_as_they_do() -> None:
    """The README and docs/connections.md said ``data-source`` uses the embedded sandbox
    given no connection; it answers Connect first (the test above). Each sentence that
    lists the commands falling back to the sandbox says so of data sources."""
    root = Path(__file__).resolve().parent.parent
    for page in ("README.md", "docs/connections.md"):
        text = " ".join((root / page).read_text().split())
        falls_back = text.split("embedded sandbox")[0].rsplit("Given no", 1)[-1]
        if page == "README.md":
            assert "`data-source`" not in falls_back, page
        after = text.split("embedded sandbox", 1)[1][:400]
        assert "`data-source`" in after and '"Connect first"' in after, page


def test_every_host_follows_the_one_rule(tmp_path: Path) -> None:
    import intercom_connector
    from intercom_connector.hosts.cli import CONNECT_FIRST
    from intercom_connector.hosts.mcp import Tools
    from intercom_connector.hosts.ui import Designer
    from intercom_connector.runtime.errors import ConnectionConfigError
    from intercom_connector.sandbox import Sandbox

    with pytest.raises(ConnectionConfigError, match=r"^Connect first"):
        intercom_connector.data_source("select_tag", {}, None)
    sandbox = Sandbox(tmp_path / "sandbox")
    fallback = {"type": "access_token", "access_token": sandbox.token, "base_url": sandbox.base_url}
    with intercom_connector.Connector(fallback, transport=sandbox.transport()) as connector:
        tools = Tools(connector, connect_first=CONNECT_FIRST)
        refused = tools.call("select_tag", {})
        assert refused.is_error and refused.content[0].text == CONNECT_FIRST  # type: ignore[union-attr]
        assert not tools.call("list_tags", {}).is_error  # actions still run on the sandbox
        assert not Tools(connector).call("select_tag", {}).is_error  # mcp --sandbox: chosen
    designer = Designer(str(tmp_path / "config"), str(tmp_path / "sandbox"))
    with pytest.raises(ConnectionConfigError, match=r"^Connect first"):
        designer.data_source("select_tag", None, {})
    assert designer.data_source("select_tag", "", {})["result"]  # the sandbox, chosen
