"""A tiny YAML file whose nested aliases expand to a billion values ("billion laughs") is
refused, fast and without the memory, wherever YAML is read: one line naming the file."""

from __future__ import annotations

import itertools
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import yaml
from support import REPO, clean_env
from test_ui_server import client

from intercom_connector.hosts.ui.server import DesignerServer
from intercom_connector.runtime.connection import connection_from_file
from intercom_connector.runtime.errors import ConnectionConfigError, ManifestError
from intercom_connector.runtime.manifest import parse_manifest
from intercom_connector.runtime.syntax import TOO_DEEP
from intercom_connector.runtime.yaml_text import MAX_ALIAS_VALUES, load_yaml

LEVELS = "abcdefghi"


def bomb(top: str = "") -> str:
    """Nine levels of nine aliases each: 9**9 (387 million) strings, in about 400 bytes."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for before, name in itertools.pairwise(LEVELS):
        lines.append(f"{name}: &{name} [{', '.join([f'*{before}'] * 9)}]")
    return top + "\n".join(lines) + "\n"


def test_the_bomb_is_refused_by_the_one_loader_without_building_it() -> None:
    text = bomb()
    assert len(text) < 500
    tracemalloc.start()
    try:
        with pytest.raises(yaml.YAMLError, match=f"more than {MAX_ALIAS_VALUES:,} values"):
            load_yaml(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # bytes: what parsing 400 bytes takes, nothing expanded


def test_a_value_containing_itself_is_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="contains it"):
        load_yaml("steps: &s [*s]\n")


def test_anchors_as_people_use_them_still_load() -> None:
    text = (
        "shared: &shared {role: user, custom_attributes: {plan: gold}}\n"
        "first: *shared\n"
        "second: {<<: *shared, role: lead}\n"
        f"many: {[i for i in range(MAX_ALIAS_VALUES)]}\n"  # big, but written out: no alias
    )
    loaded = load_yaml(text)
    assert (
        loaded["first"]
        == loaded["shared"]
        == {"role": "user", "custom_attributes": {"plan": "gold"}}
    )
    assert loaded["second"]["role"] == "lead" and len(loaded["many"]) == MAX_ALIAS_VALUES
    # just past the bound: 101 repeats of a list of 100
    past = "a: &a [" + ", ".join(["1"] * 100) + "]\nb: [" + ", ".join(["*a"] * 101) + "]\n"
    with pytest.raises(yaml.YAMLError):
        load_yaml(past)


def run_limited(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with at most 1 GiB of address space: a bomb expanded would die of it."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "intercom_connector", *args],
        capture_output=True, text=True, env=clean_env(), input=stdin,
        timeout=120, cwd=REPO, preexec_fn=limit,
    )  # fmt: skip


def assert_refused(done: subprocess.CompletedProcess[str], where: str, code: int = 2) -> None:
    assert done.returncode == code, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1 and where in lines[0], done.stderr[-2000:]
    assert "aliases (*name) repeat more than" in lines[0]


def test_every_yaml_the_cli_reads_refuses_the_bomb(tmp_path: Path) -> None:
    file = tmp_path / "bomb.yaml"
    file.write_text(bomb())
    flow = tmp_path / "flow.yaml"
    flow.write_text(bomb("steps: []\n"))
    connection = tmp_path / "connection.yaml"
    connection.write_text(bomb("type: access_token\n"))
    connection.chmod(0o600)
    assert_refused(run_limited("run", "create_tag", "--inputs", str(file)), f"inputs file {file}")
    assert_refused(
        run_limited("run", "create_tag", "--inputs", "-", stdin=bomb()), "(standard input)"
    )
    assert_refused(run_limited("flow", "run", str(flow)), f"flow file {flow}")
    assert_refused(
        run_limited("run", "list_tags", "--connection", str(connection)),
        f"connection file {connection}",
        code=3,  # a connection that cannot be used, as any unreadable connection file
    )
    assert_refused(
        run_limited("trigger", "listen", "intercom_webhook", "--port", "0", "--inputs", str(file)),
        f"inputs file {file}",
    )


def test_the_python_api_and_the_manifest_refuse_the_bomb(tmp_path: Path) -> None:
    connection = tmp_path / "connection.yaml"
    connection.write_text(bomb("type: access_token\n"))
    connection.chmod(0o600)
    with pytest.raises(ConnectionConfigError, match="repeat more than"):
        connection_from_file(connection)
    with pytest.raises(ManifestError, match="repeat more than"):
        parse_manifest(bomb(), "mine.yaml")


def test_the_designers_load_refuses_the_bomb(tmp_path: Path) -> None:
    from intercom_connector.hosts.ui import Designer

    with DesignerServer(Designer(str(tmp_path / "config"))) as ui, client(ui) as owner:
        answer = owner.post("/api/flow/load", json={"yaml": bomb("steps: []\n"), "file": "b.yaml"})
    assert answer.status_code == 400
    message = answer.json()["error"]["message"]
    assert message.startswith("b.yaml: ") and "repeat more than" in message
    assert "\n" not in message


def test_no_other_yaml_loader_is_called_in_the_package() -> None:
    loaders = ("yaml.safe_load(", "yaml.load(", "yaml.full_load(", "yaml.unsafe_load(",
               "load_all(", "yaml.compose(", "yaml.parse(", "Loader(")  # fmt: skip
    for path in REPO.rglob("*.py"):
        parts = path.relative_to(REPO).parts
        if (parts[0] in ("tests", "build") or path.name == "yaml_text.py"
                or any(part.startswith(".") for part in parts)):  # fmt: skip
            # (.venv, a bench's own venv, caches: not the repository's code)
            continue
        text = path.read_text(encoding="utf-8")
        assert not any(loader in text for loader in loaders), f"{path}: use load_yaml"


def test_a_file_nested_too_deeply_to_read_is_one_line_naming_the_file(tmp_path: Path) -> None:
    """Thousands of ``[`` in an inputs file or a flow: the reader (which recurses a level a
    call) gives up with one line naming the file and the place, exit 2, not a traceback."""
    deep = "[" * 5_000 + "]" * 5_000
    inputs = tmp_path / "deep.json"
    inputs.write_text('{"name": ' + deep + "}")
    flow = tmp_path / "deep.yaml"
    flow.write_text(
        "name: deep\nsteps:\n  - id: a\n    action: create_tag\n    inputs:\n      name: " + deep
    )
    for done, where in (
        (run_limited("run", "create_tag", "--sandbox", "--inputs", str(inputs)), str(inputs)),
        (run_limited("flow", "run", str(flow), "--sandbox"), f"flow file {flow}: line 6"),
    ):
        assert done.returncode == 2, done.stderr[-2000:]
        assert done.stderr.count("\n") == 1 and where in done.stderr, done.stderr[-2000:]
        assert "nested too deeply" in done.stderr


def nested(levels: int) -> object:
    value: object = "x"
    for _ in range(levels):
        value = {"a": value}
    return value


def test_a_value_readable_but_too_deep_to_use_is_one_input_problem(tmp_path: Path) -> None:
    """A JSON inputs file (or a flow's event) 380 levels deep reads fine, but every check
    and encoder after the reader would walk it by recursion: refused as the input it is,
    from every way in (the CLI, a flow's mapping, the Python API), at the one bound."""
    import json

    from intercom_connector import Connector
    from intercom_connector.runtime.errors import InputValidationError
    from intercom_connector.runtime.inputs import MAX_NESTING

    inputs = tmp_path / "deep.json"
    inputs.write_text(json.dumps({"method": "POST", "url": "/tags", "data": nested(380)}))
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: deep\ntrigger: {key: intercom_webhook, inputs: {topics: [contact.user.created]}}\n"
        "steps:\n  - id: a\n    action: raw_request\n"
        "    inputs: {method: POST, url: /tags, data: '{{ trigger.data }}'}\n"
    )
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {"id": "1", "topic": "contact.user.created", "occurred_at": 1, "data": nested(380)}
        )
    )
    too_deep = f"Data (data): is nested too deeply (more than {MAX_NESTING} levels"
    for done in (
        run_limited("run", "raw_request", "--sandbox", "--inputs", str(inputs)),
        run_limited("flow", "run", str(flow), "--sandbox", "--event", str(event)),
    ):
        assert done.returncode == 2, done.stderr[-2000:]
        assert too_deep in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    with Connector(None) as intercom:
        with pytest.raises(InputValidationError, match="nested too deeply"):
            intercom.invoke("raw_request", {"method": "POST", "url": "/x", "data": nested(65)})
        holds_itself: list[object] = []
        holds_itself += [holds_itself, holds_itself]
        with pytest.raises(InputValidationError, match="nested too deeply"):
            intercom.invoke("raw_request", {"method": "POST", "url": "/x", "data": holds_itself})


def test_the_nesting_bound_is_exact() -> None:
    from intercom_connector.runtime.inputs import MAX_NESTING, nesting

    assert [nesting(value) for value in ("x", [], {}, [[1]], {"a": [{"b": 1}]})] == [0, 1, 1, 2, 3]
    assert nesting(nested(MAX_NESTING)) == MAX_NESTING
    assert nesting(nested(5_000)) == MAX_NESTING + 1  # counted no further than the bound


def test_a_saved_connections_file_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir(mode=0o700)
    saved = config / "connections.json"
    saved.write_text('{"work": ' + "[" * 100_000 + "]" * 100_000 + "}")
    saved.chmod(0o600)
    done = run_limited("--config-dir", str(config), "run", "list_tags", "--connection", "work")
    assert done.returncode == 3, done.stderr[-2000:]
    assert done.stderr == f"error: saved connections file {saved}: {TOO_DEEP}\n"
