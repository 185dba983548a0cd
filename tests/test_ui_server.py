"""The integration designer's server (`intercom-connector ui`) over real loopback HTTP:
its security (token, Host check, no CORS), connections with write-only secrets, data sources,
flows run and saved as `flow run` reads them. The browser side is tests/test_ui_browser.py."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from designer_support import read_url
from support import REPO, TOKEN, LoopbackIntercom, Recorder, run_cli

from intercom_connector.connections.saved import SavedConnections
from intercom_connector.hosts.docs import manifest_json
from intercom_connector.hosts.flow import parse_flow
from intercom_connector.hosts.ui import Designer, DesignerServer
from intercom_connector.hosts.ui.server import TOKEN_HEADER
from intercom_connector.runtime.errors import ManifestError
from intercom_connector.runtime.manifest import _package_file, load_manifest, parse_manifest
from intercom_connector.sandbox import Sandbox, ServerHandle, serve

CLIENT_SECRET = "ui-client-secret-5e4d3c2b1a"

# -- the palette's groups: every operation names the resource it acts on ------------------


def test_every_operation_names_a_declared_resource() -> None:
    manifest = load_manifest()
    assert manifest.resources, "the manifest declares no resources"
    operations = [
        *manifest.actions.values(),
        *manifest.data_sources.values(),
        *manifest.triggers.values(),
    ]
    unnamed = [op.key for op in operations if op.resource not in manifest.resources]
    assert not unnamed, f"operations with no declared resource (a palette group): {unnamed}"


def test_the_export_gives_the_groups_in_order_and_each_operation_its_group() -> None:
    manifest = load_manifest()
    exported = manifest_json(manifest)
    assert [r["key"] for r in exported["resources"]] == list(manifest.resources)
    assert all(r["label"] for r in exported["resources"])
    for kind in ("actions", "data_sources", "triggers"):
        for entry in exported[kind]:
            assert entry["resource"] == getattr(manifest, kind)[entry["key"]].resource


def test_an_undeclared_resource_is_refused_at_load() -> None:
    text = _package_file("connector.yaml").read_text(encoding="utf-8")
    broken = text.replace("resource: tags", "resource: labels", 1)
    with pytest.raises(ManifestError, match=r"resource: 'labels' is not in resources \(contacts"):
        parse_manifest(broken)


# -- the server, in-process on a loopback port ---------------------------------------------


@pytest.fixture(scope="module")
def intercom() -> Iterator[ServerHandle]:
    """A sandbox served over loopback HTTP: what a saved connection points at."""
    sandbox = Sandbox(":memory:", token=TOKEN, oauth_clients={"ui-app": CLIENT_SECRET})
    with serve(sandbox) as server:
        yield server


@pytest.fixture
def ui(tmp_path: Path) -> Iterator[DesignerServer]:
    designer = Designer(str(tmp_path / "config"), str(tmp_path / "sandbox"))
    with DesignerServer(designer, port=0) as server:
        yield server


def client(server: DesignerServer, token: str | None = "own") -> httpx.Client:
    headers = {TOKEN_HEADER: server.app.token if token == "own" else token} if token else {}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=30)


def saved_fields(intercom: ServerHandle, token: str = TOKEN) -> dict[str, Any]:
    return {"access_token": token, "base_url": intercom.url}


def test_the_cli_prints_the_url_with_its_token_and_serves_the_designer(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env["INTERCOM_SANDBOX_DIR"] = str(tmp_path / "sandbox")
    command = [sys.executable, "-m", "intercom_connector", "--config-dir", str(tmp_path)]
    process = subprocess.Popen(
        [*command, "ui", "--port", "0", "--no-browser"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = read_url(process)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_\-]{40,}", url)
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and '<script type="module"' in page.text
        base, token = url.split("/?token=")
        exported = httpx.get(f"{base}/api/manifest", params={"token": token}, timeout=10).json()
        assert [a["key"] for a in exported["actions"]] == list(load_manifest().actions)
        assert httpx.get(f"{base}/api/manifest", timeout=10).status_code == 403
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait(timeout=10)


def test_the_cli_starts_without_loading_the_designer() -> None:
    code = "import sys, intercom_connector.hosts.cli; print(sorted(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "'intercom_connector.hosts.cli'" in done.stdout, done.stderr
    assert "'intercom_connector.hosts.ui'" not in done.stdout


def test_a_busy_port_is_one_line_and_exit_3(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "intercom_connector", "--config-dir", str(tmp_path), "ui",
             "--port", str(port), "--no-browser"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    assert done.returncode == 3
    assert done.stderr.startswith(f"error: cannot serve the designer on 127.0.0.1:{port}")
    assert len(done.stderr.strip().splitlines()) == 1


def test_it_serves_loopback_addresses_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        DesignerServer(Designer(str(tmp_path)), host="0.0.0.0")
    done = subprocess.run(
        [sys.executable, "-m", "intercom_connector", "ui", "--host", "0.0.0.0", "--no-browser"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "invalid choice: '0.0.0.0'" in done.stderr


# -- security: the token, the Host header, no CORS -----------------------------------------


def test_a_call_without_the_token_is_refused(ui: DesignerServer) -> None:
    with client(ui, token=None) as anonymous:
        for method, path in (("GET", "/api/manifest"), ("GET", "/api/connections")):
            answer = anonymous.request(method, path)
            assert answer.status_code == 403
            assert "needs the designer's token" in answer.json()["error"]["message"]
        refused = anonymous.post("/api/connections/remove", json={"name": "x"})
        assert refused.status_code == 403
    with client(ui, token="not-" + ui.app.token) as wrong:
        assert wrong.get("/api/connections").status_code == 403
    with client(ui) as owner:
        assert owner.get("/api/connections").status_code == 200


def test_a_state_changing_call_needs_the_token_in_its_header(
    ui: DesignerServer, intercom: ServerHandle
) -> None:
    """A token in the URL (which a page could put in a form's action) does not do for a POST."""
    body = {"name": "work", "type": "access_token", "fields": saved_fields(intercom)}
    with client(ui, token=None) as anonymous:
        answer = anonymous.post("/api/connections", params={"token": ui.app.token}, json=body)
        assert answer.status_code == 403
        assert anonymous.get("/api/connections", params={"token": ui.app.token}).json() == {
            "connections": []
        }


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "127.0.0.1:1", "localhost", "127.0.0.1.nip.io:{port}"]
)
def test_a_request_under_another_host_name_is_refused(ui: DesignerServer, host: str) -> None:
    """DNS rebinding: evil.example's page, resolved to 127.0.0.1, still says Host: evil.example."""
    with client(ui) as owner:
        answer = owner.get("/api/connections", headers={"Host": host.format(port=ui.port)})
        assert answer.status_code == 403
        assert "is not this server" in answer.json()["error"]["message"]
        page = owner.get("/", headers={"Host": host.format(port=ui.port)})
        assert page.status_code == 403 and "<script" not in page.text


def test_each_name_of_this_server_is_accepted(ui: DesignerServer) -> None:
    with client(ui) as owner:
        for host in (f"127.0.0.1:{ui.port}", f"localhost:{ui.port}", f"[::1]:{ui.port}"):
            assert owner.get("/api/info", headers={"Host": host}).status_code == 200


def test_no_cors_and_calls_from_another_site_are_refused(ui: DesignerServer) -> None:
    with client(ui) as owner:
        preflight = owner.options(
            "/api/connections",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 405
        answers = [
            preflight,
            owner.get("/api/manifest", headers={"Origin": "https://evil.example"}),
            owner.post(
                "/api/connections/remove", json={}, headers={"Sec-Fetch-Site": "cross-site"}
            ),
            owner.get("/"),
            owner.get("/static/app.js"),
        ]
        for answer in answers:
            assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
        assert answers[1].status_code == 403 and answers[2].status_code == 403
        # Only this page's own calls (same-origin) and typed URLs (none) are served: a page
        # of a sibling host (same-site, such as another port's) is refused too.
        for site, status in (("same-site", 403), ("same-origin", 200), ("none", 200)):
            answer = owner.get("/api/connections", headers={"Sec-Fetch-Site": site})
            assert answer.status_code == status, site
        page = answers[3]
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["Referrer-Policy"] == "no-referrer"  # the page's URL holds the token


# -- connections: checked against /me, secrets write-only ----------------------------------


def test_an_access_token_is_checked_against_me_before_it_is_saved(
    ui: DesignerServer, intercom: ServerHandle
) -> None:
    with client(ui) as owner:
        checked = owner.post(
            "/api/connections/check",
            json={"type": "access_token", "fields": saved_fields(intercom)},
        )
        assert checked.status_code == 200
        workspace = checked.json()["workspace"]
        assert (workspace["name"], workspace["region"]) == ("Sandbox Workspace", "US")
        assert owner.get("/api/connections").json() == {"connections": []}  # nothing saved yet
        refused = owner.post(
            "/api/connections",
            json={"name": "work", "type": "access_token", "fields": saved_fields(intercom, "nope")},
        )
        assert refused.status_code == 409  # exit status 3: authentication
        message = refused.json()["error"]["message"]
        assert message.startswith("Intercom answered 401 unauthorized on GET /me")
        assert "\n" not in message
        assert owner.get("/api/connections").json() == {"connections": []}


def test_secrets_never_come_back_to_the_browser(
    ui: DesignerServer, intercom: ServerHandle, tmp_path: Path
) -> None:
    body = {"name": "work", "type": "access_token", "fields": saved_fields(intercom)}
    with client(ui) as owner:
        saved = owner.post("/api/connections", json=body)
        assert saved.status_code == 200, saved.text
        listed = owner.get("/api/connections")
        tested = owner.post("/api/connections/test", json={"name": "work"})
        again = owner.post("/api/connections", json=body)
        stored = tmp_path / "config" / "connections.json"
        assert json.loads(stored.read_text())["work"]["access_token"] == TOKEN  # saved for real
        removed = owner.post("/api/connections/remove", json={"name": "work"})
        assert removed.status_code == 200
        assert owner.get("/api/connections").json() == {"connections": []}
    for answer in (saved, listed, tested, again):
        assert TOKEN not in answer.text
    (work,) = listed.json()["connections"]
    assert work["secrets"] == ["access_token"]
    assert work["fields"]["base_url"] == intercom.url
    assert tested.json()["workspace"]["name"] == "Sandbox Workspace"
    assert again.status_code == 409 and "exists already" in again.json()["error"]["message"]
    assert json.loads(stored.read_text()) == {}  # removed
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


def test_an_oauth_callback_that_matches_no_login_saves_nothing(
    ui: DesignerServer, intercom: ServerHandle
) -> None:
    fields = {"client_id": "ui-app", "client_secret": CLIENT_SECRET, "base_url": intercom.url}
    with client(ui) as owner:
        started = owner.post("/api/oauth/start", json={"name": "app", "fields": fields}).json()
        assert started["url"].startswith(f"{intercom.url}/oauth?")
        assert started["redirect_uri"] == f"{ui.base_url}/oauth/callback"
        forged = owner.get("/oauth/callback", params={"code": "x", "state": "forged"})
        assert "does not match a login started here" in forged.text
        assert 'data-status="failed"' in forged.text
        status = owner.get("/api/oauth/status", params={"login": started["login"]}).json()
        assert status["status"] == "pending"
        assert owner.get("/api/connections").json() == {"connections": []}


# -- data sources, runs, YAML ---------------------------------------------------------------


def test_a_dropdown_is_filled_from_its_data_source_and_searches_as_you_type(
    ui: DesignerServer,
) -> None:
    with client(ui) as owner:
        sandbox = {"connection": ""}  # the page sends the chosen one: "" is the sandbox
        tags = owner.post(
            "/api/data-source", json={"key": "select_tag", "inputs": {"limit": 50}, **sandbox}
        )
        assert [choice["label"] for choice in tags.json()["result"]][:2] == ["VIP", "Beta tester"]
        found = owner.post(
            "/api/data-source",
            json={"key": "select_contact", "inputs": {"query": "ada", "limit": 5}, **sandbox},
        ).json()["result"]
        assert found and all("ada" in choice["label"].lower() for choice in found)


def test_every_input_is_checked_before_anything_is_sent(
    ui: DesignerServer, tmp_path: Path, loopback: LoopbackIntercom, recorder: Recorder
) -> None:
    SavedConnections(tmp_path / "config").save(
        "recorded", {"type": "access_token", "access_token": TOKEN, "base_url": loopback.url}
    )
    flow = {
        "name": "Broken",
        "steps": [
            {"id": "contact", "action": "create_contact", "inputs": {"phone": "+1 555"}},
            {"id": "page", "action": "list_contacts", "inputs": {"per_page": 500, "page": 2,
                                                                 "fetch_all": True}},
            {"id": "read", "action": "get_contact",
             "inputs": {"contact_id": "{{ steps.contact.data.id }}"}},
        ],
    }  # fmt: skip
    with client(ui) as owner:
        answer = owner.post("/api/flow/run", json={"flow": flow, "connection": "recorded"})
    problems = {(p["step"], p["label"], p["problem"]) for p in answer.json()["problems"]}
    assert problems == {
        ("contact", "Role / External ID / Email", "give at least one of Role, External ID, Email"),
        ("page", "Per Page", "must be at most 150; got 500"),
        ("page", "Fetch All / Page", "give only one of Fetch All, Page"),
    }
    assert recorder.requests == []  # a mapped input (step read) counts as given


def test_a_run_gives_each_step_its_status_time_and_output(ui: DesignerServer) -> None:
    flow = {
        "name": "Tag",
        "steps": [
            {"id": "tag", "action": "create_tag", "inputs": {"name": "From the designer"}},
            {"id": "again", "action": "update_tag",
             "inputs": {"tag_id": "{{ steps.tag.data.id }}", "name": "Renamed"}},
            {"id": "missing", "action": "get_contact", "inputs": {"contact_id": "nope"}},
            {"id": "never", "action": "list_tags"},
        ],
    }  # fmt: skip
    with client(ui) as owner:
        answer = owner.post("/api/flow/run", json={"flow": flow}).json()
    assert answer["ok"] is False
    tag, again, missing, never = answer["steps"]
    assert (tag["status"], again["status"], missing["status"], never["status"]) == (
        "ok", "ok", "failed", "skipped",
    )  # fmt: skip
    assert again["output"]["data"] == {"type": "tag", "id": tag["output"]["data"]["id"],
                                       "name": "Renamed"}  # fmt: skip
    assert all(isinstance(s["seconds"], float) for s in (tag, again, missing))
    assert missing["error"]["exit_code"] == 4
    assert missing["error"]["message"].startswith("Intercom answered 404")


def test_a_step_runs_alone_on_the_last_outputs_of_the_steps_it_maps(ui: DesignerServer) -> None:
    flow = {
        "name": "Tag",
        "steps": [
            {"id": "tag", "action": "create_tag", "inputs": {"name": "Solo"}},
            # it cannot run (no such path in step tag's output): running another step alone
            # must not touch it
            {"id": "broken", "action": "get_contact",
             "inputs": {"contact_id": "{{ steps.tag.data.nosuch }}"}},
            {"id": "rename", "action": "update_tag",
             "inputs": {"tag_id": "{{ steps.tag.data.id }}", "name": "Solo again"}},
            {"id": "tags", "action": "list_tags"},
        ],
    }  # fmt: skip
    with client(ui) as owner:
        alone = owner.post("/api/flow/run", json={"flow": flow, "step": "rename"}).json()
        listed = owner.post("/api/flow/run", json={"flow": flow, "step": "tags"}).json()
        first = owner.post("/api/flow/run", json={"flow": flow, "step": "tag"}).json()
        outputs = {"tag": first["steps"][0]["output"], "tags": listed["steps"][0]["output"]}
        again = owner.post(
            "/api/flow/run", json={"flow": flow, "step": "rename", "outputs": outputs}
        ).json()
    # Mapping an output that no run gave: the problem is at this step's own input, and says
    # which step to run first.
    (problem,) = alone["problems"]
    assert (problem["step"], problem["key"], problem["label"]) == ("rename", "tag_id", "Tag ID")
    assert problem["problem"].startswith(
        "takes the output of step 'tag', which has not run yet: run step 'tag' first"
    )
    # Mapping nothing from earlier steps: it runs alone, whatever the steps before it hold.
    assert [(s["id"], s["status"]) for s in listed["steps"]] == [("tags", "ok")]
    assert [(s["id"], s["status"]) for s in first["steps"]] == [("tag", "ok")]
    (renamed,) = again["steps"]
    assert (renamed["id"], renamed["status"]) == ("rename", "ok")
    assert renamed["output"]["data"] == {
        "type": "tag", "id": outputs["tag"]["data"]["id"], "name": "Solo again",
    }  # fmt: skip


def test_intercom_not_finding_an_id_marks_that_input(ui: DesignerServer) -> None:
    flow = {
        "name": "Tag a contact",
        "steps": [
            {"id": "contact", "action": "create_contact", "inputs": {"email": "nf@example.com"}},
            {"id": "attach", "action": "attach_tag_to_contact",
             "inputs": {"contact_id": "{{ steps.contact.data.id }}", "tag_id": "999999"}},
        ],
    }  # fmt: skip
    lost = {"name": "Read", "steps": [{"id": "read", "action": "get_contact",
                                       "inputs": {"contact_id": "nope"}}]}  # fmt: skip
    nobody = {
        "name": "Tag nobody",
        "steps": [{"id": "attach", "action": "attach_tag_to_contact",
                   "inputs": {"contact_id": "nope", "tag_id": "1"}}],
    }  # fmt: skip
    with client(ui) as owner:
        tagged = owner.post("/api/flow/run", json={"flow": flow}).json()
        read = owner.post("/api/flow/run", json={"flow": lost}).json()
        untagged = owner.post("/api/flow/run", json={"flow": nobody}).json()
    attach = tagged["steps"][1]
    assert attach["status"] == "failed" and attach["error"]["exit_code"] == 4
    ((key, label),) = [(p["key"], p["label"]) for p in attach["error"]["problems"]]
    assert (key, label) == ("tag_id", "Tag ID")  # not the contact, which exists
    (problem,) = read["steps"][0]["error"]["problems"]
    assert (problem["key"], problem["label"]) == ("contact_id", "Contact ID")
    assert problem["problem"].startswith("Intercom has no such record on this connection")
    # Intercom names a contact a "User": that message marks Contact ID, not the tag's.
    (problem,) = untagged["steps"][0]["error"]["problems"]
    assert problem["key"] == "contact_id"


def test_a_flow_with_a_trigger_runs_on_a_test_event_and_never_without_one(
    ui: DesignerServer,
) -> None:
    trigger = {"key": "new_or_updated_contacts", "inputs": {}}
    flow = {
        "name": "Greet",
        "trigger": trigger,
        "steps": [{"id": "read", "action": "get_contact",
                   "inputs": {"contact_id": "{{ trigger.data.id }}"}}],
    }  # fmt: skip
    made = {"name": "Make", "steps": [{"id": "new", "action": "create_contact",
                                       "inputs": {"email": "trig.test@example.com"}}]}  # fmt: skip
    with client(ui) as owner:
        refused = owner.post("/api/flow/run", json={"flow": flow}).json()
        owner.post("/api/flow/run", json={"flow": made}).raise_for_status()
        latest = owner.post("/api/trigger/event", json={"trigger": trigger}).json()
        ran = owner.post("/api/flow/run", json={"flow": flow, "event": latest["event"]}).json()
        hook = {"key": "intercom_webhook", "inputs": {"topics": ["contact.user.created"]}}
        sample = owner.post("/api/trigger/event", json={"trigger": hook}).json()
    (problem,) = refused["problems"]
    assert (problem["step"], problem["key"]) == ("read", "contact_id")
    assert "no test event is given" in problem["problem"]
    assert latest["source"] == "latest" and latest["event"]["topic"] == "contact.created"
    assert latest["event"]["data"]["email"] == "trig.test@example.com"  # a real event
    assert ran["ok"] is True
    assert ran["steps"][0]["output"]["data"]["email"] == "trig.test@example.com"
    event = sample["event"]
    assert sample["source"] == "sample" and event["topic"] == "contact.user.created"
    assert isinstance(event["occurred_at"], int) and isinstance(event["data"], dict)
    webhook_flow = {**flow, "trigger": hook}
    with client(ui) as owner:  # the sample is an event the flow runner takes
        answer = owner.post("/api/flow/run", json={"flow": webhook_flow, "event": event})
    assert answer.status_code == 200 and answer.json()["steps"][0]["status"] == "failed"


def test_the_yaml_saved_is_what_flow_run_reads_and_a_hand_written_one_loads(
    ui: DesignerServer,
) -> None:
    flow = {
        "name": "Round trip",
        "steps": [
            {"id": "contact", "action": "create_contact",
             "inputs": {"role": "user", "signed_up_at": 1709285400,
                        "custom_attributes": {"plan_tier": "gold"}}},
            {"id": "read", "action": "get_contact",
             "inputs": {"contact_id": "{{ steps.contact.data.id }}"}},
            {"id": "tags", "action": "list_tags", "inputs": {}},
        ],
    }  # fmt: skip
    with client(ui) as owner:
        text = owner.post("/api/flow/yaml", json=flow).json()["yaml"]
        assert yaml.safe_load(text) == {
            **flow,
            "steps": [*flow["steps"][:2], {"id": "tags", "action": "list_tags"}],
        }
        assert (
            parse_flow(yaml.safe_load(text), "saved").steps[1].inputs == flow["steps"][1]["inputs"]
        )
        loaded = owner.post("/api/flow/load", json={"yaml": text, "file": "a.yaml"}).json()["flow"]
        assert loaded == {**flow, "steps": [*flow["steps"][:2], {**flow["steps"][2]}]}
        example = (REPO / "examples" / "onboard-customer.yaml").read_text()
        by_hand = owner.post("/api/flow/load", json={"yaml": example, "file": "x.yaml"}).json()
        assert [s["id"] for s in by_hand["flow"]["steps"]][:3] == ["company", "contact",
                                                                   "attach_company"]  # fmt: skip
        broken = owner.post("/api/flow/load", json={"yaml": "steps: [", "file": "bad.yaml"})
        assert broken.status_code == 400
        assert broken.json()["error"]["message"].startswith("bad.yaml: ")


def test_the_flow_keeps_its_connection_and_flow_run_runs_it_there(
    ui: DesignerServer, tmp_path: Path, intercom: ServerHandle
) -> None:
    config = tmp_path / "config"  # the designer's (the ui fixture's) saved connections
    SavedConnections(config).save("work", {"type": "access_token", **saved_fields(intercom)})
    flow = {
        "name": "Tag at work",
        "connection": "work",
        "steps": [{"id": "tag", "action": "create_tag", "inputs": {"name": "Saved with work"}}],
    }
    with client(ui) as owner:
        text = owner.post("/api/flow/yaml", json=flow).json()["yaml"]
        loaded = owner.post("/api/flow/load", json={"yaml": text, "file": "w.yaml"}).json()
    assert yaml.safe_load(text)["connection"] == "work"
    assert loaded["flow"]["connection"] == "work"
    saved = tmp_path / "work.yaml"
    saved.write_text(text)
    # The saved file runs where the designer ran it: no --connection needed, and not on
    # the environment's token (the flow names its connection) or the sandbox.
    done = run_cli("--config-dir", str(config), "flow", "run", str(saved), "--json",
                   env={"INTERCOM_ACCESS_TOKEN": "not-this-one"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    made = json.loads(done.stdout)["tag"]["data"]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    there = httpx.get(f"{intercom.url}/tags", headers=headers, timeout=10).json()["data"]
    assert made["id"] in [tag["id"] for tag in there]
    # --sandbox on the command line still wins.
    elsewhere = run_cli("--config-dir", str(config), "flow", "run", str(saved), "--sandbox",
                        "--json", env={"INTERCOM_SANDBOX_DIR": str(tmp_path / "sbx")})  # fmt: skip
    assert elsewhere.returncode == 0, elsewhere.stderr
    after = httpx.get(f"{intercom.url}/tags", headers=headers, timeout=10).json()["data"]
    assert after == there  # nothing more made at work
    with client(ui) as owner:
        bad = owner.post("/api/flow/run", json={"flow": {**flow, "connection": 7}})
    assert bad.status_code == 400


def test_a_relative_config_dir_is_given_to_the_page_whole(tmp_path: Path) -> None:
    """Save YAML's command names the designer's --config-dir: as an absolute path, so that
    it runs in the folder the file was saved to, not only where `ui` was started."""
    (tmp_path / "started-here").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERCOM_")}
    env["INTERCOM_SANDBOX_DIR"] = str(tmp_path / "sandbox")
    process = subprocess.Popen(
        [sys.executable, "-m", "intercom_connector", "--config-dir", "mine", "ui", "--port", "0",
         "--no-browser"],
        cwd=tmp_path / "started-here", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        base, token = read_url(process, r"^(http://\S+/\?token=\S+)").split("/?token=")
        info = httpx.get(f"{base}/api/info", headers={TOKEN_HEADER: token}, timeout=30).json()
        assert info["config_dir"] == str((tmp_path / "started-here" / "mine").resolve())
    finally:
        process.terminate()
        process.wait(timeout=10)
